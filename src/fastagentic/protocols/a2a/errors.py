"""A2A errors: one type, rendered per binding (JSON-RPC error, HTTP+JSON google.rpc.Status).

Codes, reasons and HTTP statuses follow the 1.0.1 table; 0.3 clients get the codes 0.3
defines (-32001..-32007), and the generic internal error for the newer ones.
"""

from __future__ import annotations

from typing import Any

from ...auth.base import InsufficientScope, Unauthenticated
from ...exceptions import (
    BadRequest,
    BudgetExceeded,
    Conflict,
    FastAgenticError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
)
from ..errors import rate_limit_headers
from ..jsonrpc import (  # the standard codes, shared with MCP
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    rate_limit_data,
)

DOMAIN = "a2a-protocol.org"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# code: (reason, http status, gRPC status name, default message)
CODES: dict[int, tuple[str, int, str, str]] = {
    -32700: ("PARSE_ERROR", 400, "INVALID_ARGUMENT", "Parse error"),
    -32600: ("INVALID_REQUEST", 400, "INVALID_ARGUMENT", "Invalid request"),
    -32601: ("METHOD_NOT_FOUND", 404, "NOT_FOUND", "Method not found"),
    -32602: ("INVALID_PARAMS", 400, "INVALID_ARGUMENT", "Invalid parameters"),
    -32603: ("INTERNAL_ERROR", 500, "INTERNAL", "Internal error"),
    -32001: ("TASK_NOT_FOUND", 404, "NOT_FOUND", "Task not found"),
    -32002: ("TASK_NOT_CANCELABLE", 400, "FAILED_PRECONDITION", "Task cannot be canceled"),
    -32003: ("PUSH_NOTIFICATION_NOT_SUPPORTED", 400, "FAILED_PRECONDITION",
             "Push notifications are not supported"),
    -32004: ("UNSUPPORTED_OPERATION", 400, "FAILED_PRECONDITION",
             "This operation is not supported"),
    -32005: ("CONTENT_TYPE_NOT_SUPPORTED", 400, "INVALID_ARGUMENT",
             "Incompatible content types"),
    -32006: ("INVALID_AGENT_RESPONSE", 500, "INTERNAL", "Invalid agent response"),
    -32007: ("EXTENDED_AGENT_CARD_NOT_CONFIGURED", 400, "FAILED_PRECONDITION",
             "The extended agent card is not configured"),
    -32008: ("EXTENSION_SUPPORT_REQUIRED", 400, "FAILED_PRECONDITION",
             "Extension support required"),
    -32009: ("VERSION_NOT_SUPPORTED", 400, "FAILED_PRECONDITION", "Version not supported"),
    # Not A2A codes: the transport's own refusals (authentication), kept distinct.
    -32010: ("UNAUTHENTICATED", 401, "UNAUTHENTICATED", "Authentication required"),
    -32011: ("PERMISSION_DENIED", 403, "PERMISSION_DENIED", "Permission denied"),
    -32012: ("PAYLOAD_TOO_LARGE", 413, "INVALID_ARGUMENT", "Request too large"),
    # Rate limits and quotas (the same codes as over MCP); metadata.retryAfter in seconds.
    RATE_LIMITED: ("RATE_LIMITED", 429, "RESOURCE_EXHAUSTED", "Rate limit exceeded"),
    QUOTA_EXCEEDED: ("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
}
V03_CODES = frozenset(range(-32007, -32000)) | {PARSE_ERROR, INVALID_REQUEST,
                                                 METHOD_NOT_FOUND, INVALID_PARAMS,
                                                 INTERNAL_ERROR}

TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005
EXTENDED_CARD_NOT_CONFIGURED = -32007
VERSION_NOT_SUPPORTED = -32009


class A2AError(Exception):
    def __init__(self, code: int, message: str | None = None, *,
                 metadata: dict[str, Any] | None = None,
                 violations: list[dict[str, str]] | None = None,
                 http_status: int | None = None, headers: dict[str, str] | None = None,
                 ) -> None:
        reason, status, grpc, default = CODES[code]
        super().__init__(message or default)
        self.code = code
        self.message = message or default
        self.reason = reason
        self.http_status = http_status or status
        self.grpc_status = grpc
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}
        self.violations = violations or []
        self.headers = headers or {}

    def details(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"@type": ERROR_INFO, "reason": self.reason,
                                      "domain": DOMAIN, "metadata": self.metadata}]
        if self.violations:
            out.append({"@type": BAD_REQUEST, "fieldViolations": self.violations})
        return out

    def jsonrpc(self, version: str) -> dict[str, Any]:
        if version == "1.0":
            return {"code": self.code, "message": self.message, "data": self.details()}
        code = self.code if self.code in V03_CODES else INTERNAL_ERROR
        out: dict[str, Any] = {"code": code, "message": self.message}
        if self.violations:
            out["data"] = {"fieldViolations": self.violations}
        return out

    def status_body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_status, "status": self.grpc_status,
                          "message": self.message, "details": self.details()}}


def invalid_params(message: str, *, field: str | None = None, details: Any = None
                   ) -> A2AError:
    violations = []
    if field:
        violations.append({"field": field, "description": message})
    for item in details or ():
        if isinstance(item, dict):
            loc = item.get("loc") or item.get("field") or ""
            if isinstance(loc, list | tuple):
                loc = ".".join(str(p) for p in loc)
            loc = str(loc).removeprefix("body.")  # REST's name for the arguments
            violations.append({"field": str(loc),
                               "description": str(item.get("msg") or item.get("message")
                                                  or item)})
    return A2AError(INVALID_PARAMS, message, violations=violations)


def task_not_found(task_id: Any) -> A2AError:
    return A2AError(TASK_NOT_FOUND, f"task {task_id!r} not found", metadata={"taskId": task_id})


def from_exception(exc: Exception) -> A2AError:
    """Any failure as an A2A error (never a bare 500 with a traceback)."""
    if isinstance(exc, A2AError):
        return exc
    if isinstance(exc, Unauthenticated):
        return A2AError(-32010, exc.message)
    if isinstance(exc, InsufficientScope):
        return A2AError(-32011, exc.message)
    if isinstance(exc, PayloadTooLarge):
        return A2AError(-32012, exc.message)
    if isinstance(exc, RateLimited):
        data = rate_limit_data(exc)
        return A2AError(QUOTA_EXCEEDED if isinstance(exc, QuotaExceeded) else RATE_LIMITED,
                        exc.message, headers=rate_limit_headers(exc),
                        metadata={k: data[k] for k in ("retryAfter", "limit", "remaining",
                                                       "reset") if data[k] is not None})
    if isinstance(exc, Forbidden | BudgetExceeded):  # policy denials, spent budgets
        return A2AError(-32011, exc.message, metadata={"code": exc.code},
                        http_status=exc.status)
    if isinstance(exc, InvalidInput):
        return invalid_params(exc.message, details=exc.details)
    if isinstance(exc, BadRequest):
        return A2AError(INVALID_PARAMS, exc.message)
    if isinstance(exc, NotFound):
        return A2AError(TASK_NOT_FOUND, exc.message)
    if isinstance(exc, Conflict):
        return A2AError(UNSUPPORTED_OPERATION, exc.message)
    if isinstance(exc, FastAgenticError):
        return A2AError(INTERNAL_ERROR, exc.message)
    return A2AError(INTERNAL_ERROR, "internal error")
