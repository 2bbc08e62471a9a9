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
    "A2AClient": ".client",
    "A2AError": ".client",
    "AgentRegistry": ".registry",
    "DelegationResult": ".registry",
    "Envelope": ".envelope",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module, __name__), name)


__all__ = ["A2AClient", "A2AError", "A2AInfo", "AgentRegistry", "DelegationResult", "Envelope",
           "Reply", "Skill", "TaskRejected"]
