"""The tamper-evident audit log: append-only, hash-chained entries in the store.

``app.audit`` records (``App(audit=True)``); ``verify(store)`` checks the chain,
``entries(store, Filter(...))`` reads it back.  Names are imported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AuditLog": "fastagentic.audit.log",
    "verify": "fastagentic.audit.integrity",
    "Verification": "fastagentic.audit.integrity",
    "Problem": "fastagentic.audit.integrity",
    "entries": "fastagentic.audit.reader",
    "Filter": "fastagentic.audit.reader",
}

__all__ = ["AuditLog", "Filter", "Problem", "Verification", "entries", "verify"]

if TYPE_CHECKING:
    from .integrity import Problem, Verification, verify
    from .log import AuditLog
    from .reader import Filter, entries


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastagentic.audit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
