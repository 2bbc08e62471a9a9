"""One error tree for fastagentic.

Failures derive from :class:`FastAgenticError` and carry an HTTP-ish ``status`` and a stable
machine ``code``; each protocol maps them to its wire format in one place.  Control-flow
signals (:class:`InputRequired`) are kept apart: they are not failures.
"""

from __future__ import annotations

from typing import Any


class FastAgenticError(Exception):
    """Base class of every fastagentic failure."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str = "", *, details: Any = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details


class ConfigurationError(FastAgenticError, ValueError):
    """The application or a definition is configured wrongly."""

    code = "configuration_error"


class MissingDependency(ConfigurationError, ImportError):
    """An optional dependency is not installed."""

    code = "missing_dependency"

    def __init__(self, message: str, extra: str | None = None) -> None:
        """``MissingDependency("redis", "redis")`` names the package and the extra; with one
        argument the message is used as it is (it carries its own install hint)."""
        if extra is not None:
            message = (f"{message} is not installed; install it with: "
                       f"pip install \"fastagentic[{extra}]\"")
        super().__init__(message)


class BadRequest(FastAgenticError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class InvalidInput(FastAgenticError):
    """The arguments do not match the declared schema."""

    status = 422
    code = "invalid_input"


class NotFound(FastAgenticError):
    """No such object."""

    status = 404
    code = "not_found"


class Conflict(FastAgenticError):
    """The operation is not allowed in the object's current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(FastAgenticError):
    """The request body exceeds the configured limit."""

    status = 413
    code = "payload_too_large"


class ToolError(FastAgenticError):
    """A tool reported a failure that its caller should see (not a server bug)."""

    status = 400
    code = "tool_error"


class MissingClientCapability(FastAgenticError):
    """The call needs a capability the client did not declare (MCP ``-32021``)."""

    status = 400
    code = "missing_client_capability"

    def __init__(self, required: dict[str, Any], message: str = "") -> None:
        super().__init__(message or "Missing required client capability", details=required)


class TaskRejected(FastAgenticError):
    """Raised by agent code that refuses a request: the run fails with code ``rejected`` (an
    A2A client sees the task ``rejected``)."""

    status = 422
    code = "rejected"


class StoreError(FastAgenticError):
    """The durable store failed."""

    status = 503
    code = "store_unavailable"


class LeaseLost(FastAgenticError):
    """This worker no longer holds the run's lease (another attempt took it over)."""

    status = 409
    code = "lease_lost"


class ClientInputUnavailable(FastAgenticError):
    """The call asked its client for input, but this transport cannot ask (REST)."""

    status = 409
    code = "client_input_unavailable"


class Forbidden(FastAgenticError):
    """The caller is known but may not do this (a missing role, a denied policy)."""

    status = 403
    code = "forbidden"


class PolicyDenied(Forbidden):
    """A policy (``before_run``, ``after_run``, ``on_checkpoint``) refused, with its reason."""

    code = "policy_denied"


class RateLimited(FastAgenticError):
    """Too many requests: ``retry_after`` seconds until the window has room; ``limit``,
    ``remaining`` and ``reset`` describe the window that refused (the RateLimit headers)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, limit: int | None = None,
                 remaining: int = 0, reset: float | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(0.0, retry_after)
        self.limit = limit
        self.remaining = remaining
        self.reset = reset if reset is not None else self.retry_after


class QuotaExceeded(RateLimited):
    """A quota (runs or tokens per period) is used up until ``retry_after`` seconds from now."""

    code = "quota_exceeded"


class BudgetExceeded(FastAgenticError):
    """A cost budget cannot cover the next model step (policy ``reject``)."""

    status = 402
    code = "budget_exceeded"


class NeedsClientInput(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside a call to answer with the client requests still to be made (MCP
    2026-07-28 multi round-trip); the call runs again once they are answered."""

    def __init__(self, requests: dict[str, dict[str, Any]]) -> None:
        super().__init__(f"waiting for the client: {', '.join(requests)}")
        self.requests = requests


class InputRequired(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside a run to pause it until a human (or client) answers.

    Not a failure: the run engine turns it into the ``input_required`` status and event.
    """

    def __init__(
        self,
        prompt: str,
        *,
        key: str,
        schema: dict[str, Any] | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(prompt)
        self.prompt = prompt
        self.key = key
        self.schema = schema
        self.details = details

    def to_request(self) -> dict[str, Any]:
        return {"key": self.key, "prompt": self.prompt, "schema": self.schema,
                "details": self.details}


__all__ = [
    "BadRequest",
    "ClientInputUnavailable",
    "ConfigurationError",
    "Conflict",
    "BudgetExceeded",
    "FastAgenticError",
    "Forbidden",
    "InputRequired",
    "InvalidInput",
    "LeaseLost",
    "MissingClientCapability",
    "MissingDependency",
    "NeedsClientInput",
    "NotFound",
    "PayloadTooLarge",
    "PolicyDenied",
    "QuotaExceeded",
    "RateLimited",
    "StoreError",
    "TaskRejected",
    "ToolError",
]
