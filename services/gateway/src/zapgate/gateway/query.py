"""Every query parameter of the API takes one value: a repeated one is a 422, not a guess."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from litestar.enums import MediaType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send

from zapgate.gateway.errors import error_body


class SingleValuedQuery(ASGIMiddleware):
    """Refuses ``?after=a&after=b``: Litestar would keep one of them silently."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """422 naming the repeated parameter; anything else passes on."""
        raw = scope.get("query_string", b"")
        if raw:
            counts = Counter(key for key, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
            repeated = sorted(key for key, n in counts.items() if n > 1)
            if repeated:
                message = f"query parameter {repeated[0]!r} is given more than once; it takes one value"
                details = [
                    {"key": key, "message": "given more than once", "source": "query"} for key in repeated
                ]
                response = Response(
                    error_body("validation_error", message, details),
                    status_code=422,
                    media_type=MediaType.JSON,
                )
                request = scope["litestar_app"].request_class(scope=scope, receive=receive, send=send)
                await response.to_asgi_response(app=None, request=request)(scope, receive, send)
                return
        await next_app(scope, receive, send)
