"""Small helpers shared by the HTTP views."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from starlette.requests import HTTPConnection
from starlette.responses import Response

from ..core.context import ANONYMOUS, UserContext
from ..exceptions import BadRequest

#: Authentication (when configured) puts the caller here; anonymous otherwise.
USER_SCOPE_KEY = "fastagentic.user"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Non-finite floats (echoed inputs like 1e999) become strings: the body stays valid JSON.
    return Response(to_json(data, fallback=repr, inf_nan_mode="strings"), status_code=status,
                    headers=headers,
                    media_type="application/json")


def user_of(conn: HTTPConnection) -> UserContext:
    return conn.scope.get(USER_SCOPE_KEY, ANONYMOUS)


def wants_sse(conn: HTTPConnection) -> bool:
    return "text/event-stream" in conn.headers.get("accept", "")


def int_param(value: str | None, name: str, *, default: int, minimum: int = 0,
              maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise BadRequest(f"{name} must be {bounds}, got {number}")
    return number

