"""The dashboard: ``/`` (its page) and ``/ui/*`` (its scripts and styles), static files shipped
in the package (``zapgate/gateway/ui``), nothing built at run time.

The page is served as the OpenAPI router's root: with the OpenAPI documents at the top level
(``/openapi.json``, ``/docs``), Litestar gives ``/`` to the default render plugin, so the page is
that plugin. The files carry no secret; the browser logs in with an API key and calls the API.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
ASSETS_PATH = "/ui"


@cache
def _page() -> bytes:
    return (UI_DIR / "index.html").read_bytes()


class DashboardPage(OpenAPIRenderPlugin):
    """``GET /``: the dashboard's page."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page (the OpenAPI schema is not used)."""
        return _page()


def assets_router() -> Router:
    """``/ui/*``: the dashboard's files, revalidated by the browser on each load (``no-cache``),
    so an upgraded gateway's files are picked up at once."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[UI_DIR],
        include_in_schema=False,
        cache_control=CacheControlHeader(no_cache=True),
        name="dashboard-assets",
    )
