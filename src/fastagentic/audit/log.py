"""``app.audit``: the tamper-evident audit log of an App.

Off by default (``App(audit=True)`` or ``FASTAGENTIC_AUDIT=1`` turns it on).  When on, every
invocation on every transport is recorded by :meth:`AuditLog.stage` (see ``audit.stage``), and
governance code records its own decisions::

    await app.audit.record("policy.block", actor=user, decision="deny", reason="...",
                           context={"policy": "no-refunds"}, run_id=run_id)

Entries are hash-chained (``audit.entry``) and stored in the app's store (``audit.chain``);
``fastagentic audit verify`` checks the chain and ``fastagentic audit export`` writes it out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from ..core.context import UserContext
from ..telemetry.redact import redact_value
from .chain import ChainWriter
from .entry import Draft, draft
from .stage import Heads, audit_stage

if TYPE_CHECKING:
    from ..core.pipeline import Checks, Invocation


class AuditLog:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._writer: ChainWriter | None = None
        #: The encoded heads of the stage's entries, by call and caller (``audit.stage``).
        self.heads = Heads()
        #: Invocations in the audit stage that have not queued their entry yet.
        self.running = 0

    @property
    def enabled(self) -> bool:
        return bool(self.app.settings.audit)

    @property
    def arguments(self) -> str:
        """What entries keep of call arguments: ``names``, ``hash`` or ``full``."""
        return self.app.settings.audit_arguments

    def _chain(self) -> ChainWriter:
        store = self.app.store
        if self._writer is None or self._writer.store is not store:
            self._writer = ChainWriter(store, running=lambda: self.running)
        return self._writer

    async def record(self, action: str, *, actor: UserContext | None = None,
                     decision: str = "allow", reason: str | None = None,
                     context: Mapping[str, Any] | None = None,
                     run_id: str | None = None) -> dict[str, Any] | None:
        """Append an entry and return it once it is stored (None while audit is off).

        ``actor`` None means fastagentic itself (no caller).  ``context`` is kept for good:
        what looks like personal data or a secret in it (emails, card numbers, tokens, ...;
        ``telemetry.redact``) is redacted before it is hashed and stored.
        """
        if not self.enabled:
            return None
        if context:
            context = redact_value(context)
        stored = await self.append(draft(action, actor=actor, decision=decision, reason=reason,
                                         context=context, run_id=run_id))
        return from_json(stored)  # type: ignore[no-any-return]

    def append(self, body: Draft) -> asyncio.Future[bytes]:
        """Queue a drafted entry (``audit.entry.draft``); await the result for the stored
        entry's JSON."""
        writer = self._writer
        if writer is None or writer.store is not self.app._store:
            writer = self._chain()
        return writer.submit(body)

    @property
    def stage(self) -> Callable[[Invocation, Callable[[Invocation], Awaitable[Any]]],
                                Awaitable[Any]]:
        """The pipeline stage recording every invocation (installed when audit is on)."""
        return partial(audit_stage, self)

    def stage_with(self, checks: Checks) -> Callable[[Invocation, Callable[
            [Invocation], Awaitable[Any]]], Awaitable[Any]]:
        """The stage, running ``checks`` (the governance checks after it) in its own frame
        (``core.pipeline.combine``)."""
        return partial(audit_stage, self, checks=checks)

    async def drain(self) -> None:
        """Wait for queued entries to be stored (the App does this before closing the
        store)."""
        if self._writer is not None:
            await self._writer.drain()
            self._writer = None

