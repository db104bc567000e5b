"""A QR code drawn in the terminal: two rows of modules per line with half blocks."""

from __future__ import annotations

import qrcode

BOTH, TOP, BOTTOM, NONE = "\u2588", "\u2580", "\u2584", " "


def matrix(value: str, border: int = 2) -> list[list[bool]]:
    """The QR code of ``value``: True where a module is dark, with a quiet zone of ``border``."""
    code = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(value)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def draw(value: str, light_terminal: bool = False) -> str:
    """Lines of half blocks. A terminal draws a block in its text colour: on a dark terminal
    (the default) the blocks are the light modules, so the code shows dark on light as a
    scanner expects; ``light_terminal``: the blocks are the dark modules."""
    rows = [[cell == light_terminal for cell in row] for row in matrix(value)]
    if len(rows) % 2:
        rows.append([not light_terminal] * len(rows[0]))
    glyphs = {(True, True): BOTH, (True, False): TOP, (False, True): BOTTOM, (False, False): NONE}
    return "\n".join(
        "".join(glyphs[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
        for i in range(0, len(rows), 2)
    )
