"""The audit log (being written: the audit helper replaces this file).

API the rest of the code calls — keep it:

    app.audit.enabled                       # App(audit=True) / FASTAGENTIC_AUDIT
    await app.audit.record(action, actor=user, decision="allow"|"deny"|"downgrade"|...,
                           reason=None, context={...}, run_id=None)
    app.audit.stage                         # pipeline stage (records invocations)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AuditLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def enabled(self) -> bool:
        return bool(self.app.settings.audit)

    async def record(self, action: str, *, actor: Any = None, decision: str = "allow",
                     reason: str | None = None, context: Mapping[str, Any] | None = None,
                     run_id: str | None = None) -> None:
        return None
