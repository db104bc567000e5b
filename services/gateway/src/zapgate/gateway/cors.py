"""Cross-origin access: the browser origins named in ``ZAPGATE_CORS_ORIGINS`` and nobody else."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers
from litestar.enums import MediaType, ScopeType
from litestar.middleware import ASGIMiddleware, DefineMiddleware
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send

from zapgate.gateway.errors import error_body

# What a browser client sends and may read; keys travel in headers, never in cookies.
ALLOW_HEADERS = ["X-Api-Key", "Authorization", "Content-Type", "Idempotency-Key"]
EXPOSE_HEADERS = ["Retry-After", "Content-Disposition", "Allow"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class JsonCORSMiddleware(CORSMiddleware):
    """Litestar's CORS middleware, with a refused preflight answered in the API's error shape."""

    def _create_preflight_response(self, origin: str, request_headers: Headers) -> Response[Any]:
        response = super()._create_preflight_response(origin, request_headers)
        if (response.status_code or 0) < 400:
            return response
        message = f"{response.content} (allowed origins are set by ZAPGATE_CORS_ORIGINS)"
        return Response(
            error_body("cors_refused", message), status_code=response.status_code, media_type=MediaType.JSON
        )


def cors_middleware(origins: list[str]) -> DefineMiddleware | None:
    """The middleware for these origins; None when no origin is allowed (same origin only)."""
    if not origins:
        return None
    config = CORSConfig(
        allow_origins=origins,
        allow_methods=METHODS,  # type: ignore[arg-type]
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
    return DefineMiddleware(JsonCORSMiddleware, config=config)


def websocket_origin_allowed(headers: Headers, origins: list[str]) -> bool:
    """Whether a WebSocket handshake may proceed: no ``Origin`` (not a browser), the gateway's
    own origin, or one of ``ZAPGATE_CORS_ORIGINS``. Browsers do not apply CORS to WebSockets,
    so the server has to."""
    origin = headers.get("origin")
    if origin is None or origin in origins or "*" in origins:
        return True
    host = headers.get("host")
    return host is not None and origin.split("://", 1)[-1] == host


class AllowedMethods:
    """The methods each path of the app takes, for ``OPTIONS`` and ``Allow``.

    Litestar's own OPTIONS handler lists the methods of the first handler registered on a path
    (``GET`` went missing where ``POST`` came first), so the gateway answers OPTIONS itself.
    """

    def __init__(self, app: Litestar) -> None:
        self.routes: list[tuple[re.Pattern[str], str]] = []
        for route in app.routes:
            methods = sorted(getattr(route, "methods", ()))
            if not methods:
                continue  # a WebSocket route
            pattern = re.sub(
                r"\{[^}]+\}", "[^/]+", re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}")
            )
            self.routes.append((re.compile(pattern), ", ".join(methods)))

    def allow(self, path: str) -> str | None:
        """The ``Allow`` value of a path, or None when no route has it."""
        trimmed = path.rstrip("/") or "/"
        for pattern, methods in self.routes:
            if pattern.fullmatch(trimmed):
                return methods
        return None


class OptionsMiddleware(ASGIMiddleware):
    """Answers ``OPTIONS`` (a CORS preflight was answered before, by the CORS middleware)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._allowed: AllowedMethods | None = None

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Answer an OPTIONS request with the path's methods; pass anything else on."""
        if scope.get("method") != "OPTIONS":
            await next_app(scope, receive, send)
            return
        if self._allowed is None:
            self._allowed = AllowedMethods(scope["litestar_app"])
        allow = self._allowed.allow(scope["path"])
        if allow is None:
            response: Response[Any] = Response(
                error_body("not_found", f"no route {scope['path']}"),
                status_code=404,
                media_type=MediaType.JSON,
            )
        else:
            response = Response(None, status_code=204, headers={"Allow": allow}, media_type=MediaType.TEXT)
        request = scope["litestar_app"].request_class(scope=scope, receive=receive, send=send)
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)
