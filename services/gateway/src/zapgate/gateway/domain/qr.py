"""QR code images from a QR payload (pure: bytes in memory, no I/O)."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathImage


def png(value: str) -> bytes:
    """The payload as a PNG image."""
    buffer = io.BytesIO()
    qrcode.make(value, image_factory=PyPNGImage, box_size=8, border=4).save(buffer)
    return buffer.getvalue()


def svg(value: str) -> bytes:
    """The payload as an SVG image."""
    data: bytes = qrcode.make(value, image_factory=SvgPathImage).to_string()
    return data


def data_url(value: str) -> str:
    """The PNG as a ``data:`` URL, for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png(value)).decode()
