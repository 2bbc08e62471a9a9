"""The one place that maps fastagentic errors to HTTP responses."""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..auth.base import InsufficientScope, Unauthenticated, challenge
from ..exceptions import FastAgenticError, InvalidInput, RateLimited
from .http import json_response

logger = logging.getLogger("fastagentic.http")


def error_body(exc: FastAgenticError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, InvalidInput) and isinstance(exc.details, list):
        body["detail"] = exc.details  # FastAPI's shape: a list of {loc, msg, type}
    else:
        body["detail"] = exc.message
        if exc.details is not None:
            body["details"] = exc.details
    return body


def rate_limit_headers(exc: RateLimited) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up) and the ``RateLimit-Limit``,
    ``RateLimit-Remaining`` and ``RateLimit-Reset`` fields of the window that refused."""
    wait = str(max(1, math.ceil(exc.retry_after)))
    headers = {"Retry-After": wait, "RateLimit-Remaining": str(exc.remaining),
               "RateLimit-Reset": str(max(1, math.ceil(exc.reset)))}
    if exc.limit is not None:
        headers["RateLimit-Limit"] = str(exc.limit)
    return headers


async def handle_fastagentic_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FastAgenticError)
    if exc.status >= 500:
        logger.error("%s %s: %s", request.method, request.url.path, exc.message)
    headers = rate_limit_headers(exc) if isinstance(exc, RateLimited) else None
    if isinstance(exc, InsufficientScope | Unauthenticated):  # RFC 6750 challenge
        error = "insufficient_scope" if isinstance(exc, InsufficientScope) else None
        headers = {"WWW-Authenticate": challenge(str(request.base_url), "", error,
                                                 getattr(exc, "scopes", ()))}
    return json_response(error_body(exc), status=exc.status, headers=headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("%s %s failed", request.method, request.url.path)
    return json_response(
        {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}",
         "detail": "internal server error"},
        status=500,
    )
