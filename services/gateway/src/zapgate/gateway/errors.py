"""One JSON shape for every error: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_500_INTERNAL_SERVER_ERROR

from zapgate.common.outages import dependency_away, describe
from zapgate.gateway.domain.quotas import QuotaExceeded

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    502: "provider_error",
    503: "unavailable",
    507: "storage_full",
}


class ApiError(HTTPException):
    """An error the API means to return, with a stable machine-readable code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, status_code=status_code, headers=headers)
        self.code = code
        self.details = details


def error_responses(*statuses: int, parameters: bool = True) -> dict[int, ResponseSpec]:
    """OpenAPI entries documenting the error shape for the given statuses.

    503 is always among them: every route reads the database (authentication does), so any
    of them can find a dependency away; 405 too (another method on the path), and 400 (a
    request that cannot be read: Litestar would otherwise document its own body for it); 429
    with 401, as failed authentication is limited; 422 on every route that takes a parameter.
    """
    from zapgate.gateway.schemas import ErrorBody

    documented = {*statuses, 400, 405, 503}
    if parameters:
        documented.add(422)  # a path or query parameter (or the body) that breaks its rule
    if 401 in documented:
        documented.add(429)  # too many failed authentications from the client's address
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=DESCRIPTIONS.get(status, CODES.get(status, "error").replace("_", " ")),
            generate_examples=False,
        )
        for status in sorted(documented)
    }


def public_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """Error entries of a public route that reads nothing (no 503): 405 and ``statuses``."""
    from zapgate.gateway.schemas import ErrorBody

    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=DESCRIPTIONS.get(status, CODES[status]),
            generate_examples=False,
        )
        for status in sorted({*statuses, 405})
    }


DESCRIPTIONS = {
    400: "a body that is not JSON, or a request that cannot be read",
    405: "the path does not take this method; the Allow header lists those it takes",
    502: "the payment provider refused the request (the details are in billing's log)",
    507: "the media store is full for every tenant; retry later (the tenant's quota was not charged)",
    403: "the key may not do this, or a tenant quota is reached (`quota_exceeded`: details name it)",
    503: "a dependency (database or message bus) is unavailable; retry after Retry-After",
    429: "too many failed authentications from this address, or a limit reached; retry after Retry-After",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error document."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _validation_details(extra: Any) -> list[dict[str, Any]] | None:
    if not isinstance(extra, list):
        return None
    details = []
    for item in extra:
        if isinstance(item, dict):
            details.append(
                {k: item[k] for k in ("key", "message", "source") if k in item and item[k] is not None}
            )
    return details or None


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Render any HTTPException in the common shape."""
    headers = dict(exc.headers or {})
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.code, exc.detail, exc.details), status_code=exc.status_code, headers=headers
        )
    if isinstance(exc, ValidationException):
        details = _validation_details(exc.extra)
        if details == [{"key": "data", "message": "'data'", "source": "body"}]:
            return Response(error_body("bad_request", "a JSON request body is required"), status_code=400)
        # A body that parsed but broke the schema is 422; one that did not parse stays 400.
        if details:
            return Response(
                error_body("validation_error", "request does not match the schema", details),
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
                headers=headers,
            )
        message = f"malformed request body: {exc.detail}" if exc.detail else "malformed request"
        return Response(error_body("bad_request", message), status_code=400, headers=headers)
    status = exc.status_code
    code = CODES.get(status, "error")
    message = exc.detail or code.replace("_", " ")
    return Response(error_body(code, message), status_code=status, headers=headers)


DEPENDENCY_MESSAGES = {
    "nats": "the message bus is unavailable; retry shortly",
    "database": "the database is unavailable; retry shortly",
}


def unavailable(message: str, dependency: str | None = None) -> ApiError:
    """503 with Retry-After: a dependency is away (named in ``details``), a retry will work."""
    details = {"dependency": dependency} if dependency else None
    return ApiError(503, "unavailable", message, details, headers={"Retry-After": "1"})


def quota_error(request: Request[Any, Any, Any], exc: QuotaExceeded) -> Response[Any]:
    """A tenant quota reached: 403 ``quota_exceeded`` naming the quota, its limit and the use."""
    message = f"the tenant's {exc.quota} quota is reached ({exc.used} of {exc.limit})"
    return Response(error_body("quota_exceeded", message, exc.details()), status_code=403)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Last resort: a lost dependency is a 503 naming it, to retry; anything else is a logged bug."""
    dependency = dependency_away(exc)
    if dependency is not None:
        log.warning(
            "%s unavailable on %s %s: %s", dependency, request.method, request.url.path, type(exc).__name__
        )
        return Response(
            error_body("unavailable", DEPENDENCY_MESSAGES[dependency], {"dependency": dependency}),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, describe(exc), exc_info=exc)
    return Response(
        error_body("internal_error", "internal error; it has been logged"),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
