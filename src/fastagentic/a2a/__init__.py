"""A2A for agent code: answer shapes (``Reply``), skills, the client and the agent registry.

The server side (agent cards, JSON-RPC and HTTP+JSON bindings for 1.0 and 0.3) is served by
every ``App``; see ``fastagentic.protocols.a2a``.
"""

from __future__ import annotations

from typing import Any

from ..core.context import A2AInfo
from ..core.specs import Skill
from ..exceptions import TaskRejected
from .types import Reply

_LAZY = {
    **{name: ".client" for name in (
        "A2AClient", "A2AError", "A2AHTTPError", "AgentCardError", "TaskNotFoundError",
        "TaskNotCancelableError", "PushNotificationNotSupportedError",
        "UnsupportedOperationError", "ContentTypeNotSupportedError",
        "InvalidAgentResponseError", "ExtendedAgentCardNotConfiguredError",
        "ExtensionSupportRequiredError", "VersionNotSupportedError", "InvalidParamsError",
        "MethodNotFoundError")},
    "AgentRegistry": ".registry",
    "DelegationResult": ".registry",
    "RemoteAgent": ".registry",
    "Envelope": ".envelope",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module, __name__), name)


__all__ = ["A2AInfo", "Reply", "Skill", "TaskRejected", *_LAZY]
