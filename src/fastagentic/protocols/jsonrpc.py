"""JSON-RPC 2.0: message parsing and the one place that maps errors to JSON-RPC codes.

Shared by the MCP and A2A views; transports hand raw bytes in and get dicts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json, to_json

from ..auth.base import InsufficientScope
from ..exceptions import (
    BadRequest,
    FastAgenticError,
    InvalidInput,
    MissingClientCapability,
    NotFound,
    QuotaExceeded,
    RateLimited,
)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MISSING_CAPABILITY = -32021
#: Server-defined: a rate limit or a quota refused the call (``data.retryAfter`` seconds).
RATE_LIMITED = -32029
QUOTA_EXCEEDED = -32030


class JsonRpcError(Exception):
    """An error with a JSON-RPC code (raised by handlers, encoded by transports)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(slots=True)
class Message:
    """One incoming JSON-RPC message."""

    method: str | None
    id: str | int | None
    params: dict[str, Any]
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def is_request(self) -> bool:
        return self.method is not None and self.id is not None

    @property
    def is_notification(self) -> bool:
        return self.method is not None and self.id is None

    @property
    def is_response(self) -> bool:
        return self.method is None


def parse(raw: bytes | str) -> Any:
    """Decode JSON; a syntax error is a JSON-RPC parse error."""
    try:
        return from_json(raw)
    except ValueError as exc:
        raise JsonRpcError(PARSE_ERROR, f"Parse error: {exc}") from None


def message_from(data: Any) -> Message:
    """Validate one decoded message (request, notification or response)."""
    if isinstance(data, list):
        raise JsonRpcError(INVALID_REQUEST, "Invalid Request: batches are not supported")
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object")
    msg_id = data.get("id")
    if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, str | int)):
        raise JsonRpcError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    method = data.get("method")
    if method is None:
        if "result" not in data and "error" not in data:
            raise JsonRpcError(INVALID_REQUEST, "Invalid Request: no method, result or error")
        return Message(None, msg_id, {}, data.get("result"), data.get("error"))
    if not isinstance(method, str):
        raise JsonRpcError(INVALID_REQUEST, "Invalid Request: method must be a string")
    params = data.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: params must be an object")
    return Message(method, msg_id, params)


def request_id_of(data: Any) -> str | int | None:
    """The id of a (possibly invalid) message, for the error response."""
    if isinstance(data, dict):
        msg_id = data.get("id")
        if isinstance(msg_id, str | int) and not isinstance(msg_id, bool):
            return msg_id
    return None


def result(msg_id: str | int | None, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "result": value}


def error(msg_id: str | int | None, exc: BaseException) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": to_error(exc).to_dict()}


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        out["params"] = params
    return out


def to_error(exc: BaseException) -> JsonRpcError:
    """Map any exception to a JSON-RPC error."""
    if isinstance(exc, JsonRpcError):
        return exc
    if isinstance(exc, MissingClientCapability):
        return JsonRpcError(MISSING_CAPABILITY, exc.message,
                            {"requiredCapabilities": exc.details})
    if isinstance(exc, RateLimited):
        return JsonRpcError(QUOTA_EXCEEDED if isinstance(exc, QuotaExceeded) else RATE_LIMITED,
                            exc.message, rate_limit_data(exc))
    if isinstance(exc, InvalidInput):
        return JsonRpcError(INVALID_PARAMS, f"Invalid params: {exc.message}", exc.details)
    if isinstance(exc, NotFound):
        return JsonRpcError(INVALID_PARAMS, exc.message)
    if isinstance(exc, BadRequest):
        return JsonRpcError(INVALID_REQUEST, exc.message)
    if isinstance(exc, InsufficientScope):  # the scopes a step-up must ask for
        return JsonRpcError(INVALID_REQUEST, exc.message,
                            {"code": exc.code, "scopes": exc.scopes})
    if isinstance(exc, FastAgenticError):
        return JsonRpcError(INTERNAL_ERROR if exc.status >= 500 else INVALID_REQUEST,
                            exc.message, {"code": exc.code})
    return JsonRpcError(INTERNAL_ERROR, "Internal error")


def rate_limit_data(exc: RateLimited) -> dict[str, Any]:
    """A refusal's ``data``: its code, ``retryAfter`` (whole seconds, rounded up), the window's
    ``limit``, ``remaining`` and ``reset`` (seconds), and its details."""
    data: dict[str, Any] = {"code": exc.code, "retryAfter": max(1, math.ceil(exc.retry_after)),
                            "limit": exc.limit, "remaining": exc.remaining,
                            "reset": max(1, math.ceil(exc.reset))}
    if exc.details is not None:
        data["details"] = exc.details
    return data


def dumps(message: Any) -> bytes:
    return to_json(message, fallback=repr, inf_nan_mode="strings")
