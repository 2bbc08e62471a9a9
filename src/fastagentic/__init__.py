"""fastagentic: the deployment layer for agentic applications.

Public names are imported lazily, so ``import fastagentic`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "App": "fastagentic.app",
    "tool": "fastagentic.decorators",
    "resource": "fastagentic.decorators",
    "prompt": "fastagentic.decorators",
    "agent_endpoint": "fastagentic.decorators",
    "RunContext": "fastagentic.core.context",
    "CallContext": "fastagentic.core.context",
    "UserContext": "fastagentic.core.context",
    "current_user": "fastagentic.core.context",
    "Approval": "fastagentic.core.context",
    "Event": "fastagentic.core.events",
    "RunEvent": "fastagentic.core.events",
    "Example": "fastagentic.core.specs",
    "BaseAdapter": "fastagentic.adapters.base",
    "FunctionAdapter": "fastagentic.adapters.function",
    "Output": "fastagentic.adapters.base",
    "Settings": "fastagentic.settings",
    "events": "fastagentic.core.events",
    "exceptions": "fastagentic.exceptions",
    "content": "fastagentic.content",
    "HookEvent": "fastagentic.core.lifecycle",
    "Reject": "fastagentic.core.lifecycle",
}

__all__ = [
    "App",
    "Approval",
    "BaseAdapter",
    "CallContext",
    "Event",
    "Example",
    "FunctionAdapter",
    "HookEvent",
    "Output",
    "Reject",
    "RunContext",
    "RunEvent",
    "Settings",
    "UserContext",
    "__version__",
    "agent_endpoint",
    "content",
    "current_user",
    "events",
    "exceptions",
    "prompt",
    "resource",
    "tool",
]

if TYPE_CHECKING:
    from . import content, exceptions
    from .adapters.base import BaseAdapter, Output
    from .adapters.function import FunctionAdapter
    from .app import App
    from .core import events
    from .core.context import Approval, CallContext, RunContext, UserContext, current_user
    from .core.events import Event, RunEvent
    from .core.lifecycle import HookEvent, Reject
    from .core.specs import Example
    from .decorators import agent_endpoint, prompt, resource, tool
    from .settings import Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastagentic' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if name in ("events", "exceptions", "content") else getattr(mod, name)
    globals()[name] = value
    return value
