"""The audit pipeline stage: one entry per invocation, on every transport, with its outcome.

Outermost of the governance stages, so it sees what the inner ones refuse.  The action is
``tool.call``, ``resource.read``, ``prompt.get`` or ``run.start`` (an agent run accepted); the
decision is

* ``allow``: it went through (for ``run.start``: the run was accepted; ``run_id`` is set);
* ``deny``: a governance stage refused it (authorization, policy, rate limit, quota, budget,
  authentication); ``reason`` is the refusal's message and ``context.error`` its code;
* ``error``: the user's code (or a lookup) failed: ``context.error`` is the error code or the
  exception's class name, and no message is kept (it may quote the input);
* ``input_required``: the call paused to ask its client or a human;
* ``cancelled``: the caller went away before the call finished.

What is kept of the arguments follows ``audit_arguments``: their names (default), a SHA-256
of their canonical JSON (the entries' encoding), or the full values.  Credentials are never
in the context: headers are not recorded at all.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from ..auth.base import InsufficientScope, Unauthenticated
from ..exceptions import (
    BudgetExceeded,
    FastAgenticError,
    Forbidden,
    InputRequired,
    NeedsClientInput,
    RateLimited,
)
from ..telemetry.redact import redact_value
from .chain import log_failure
from .entry import draft, head_of, in_order, jsonable

if TYPE_CHECKING:
    from ..core.context import UserContext
    from ..core.pipeline import Checks, Invocation
    from .log import AuditLog

ACTIONS = {"tool": "tool.call", "resource": "resource.read", "prompt": "prompt.get",
           "agent": "run.start"}
#: The context key naming what was invoked.
NAME_KEYS = {"tool": "tool", "resource": "resource", "prompt": "prompt", "agent": "endpoint"}
#: Refusals by governance (decision ``deny``), as opposed to failures (``error``).
DENIALS = (Forbidden, RateLimited, BudgetExceeded, Unauthenticated, InsufficientScope)


def describe(call: Invocation, arguments: str, **extra: Any) -> dict[str, Any]:
    """The entry's context for ``call`` (in canonical order): transport, what was invoked, the
    caller's scopes and roles, the arguments as ``arguments`` says (``names``, ``hash`` or
    ``full``), and ``extra``."""
    ctx = call.context
    kind = call.spec.kind
    context: dict[str, Any] = {"transport": ctx.transport,
                               NAME_KEYS.get(kind, kind): call.spec.name, **extra}
    if ctx.user.scopes:
        context["scopes"] = sorted(ctx.user.scopes)
    if ctx.user.roles:
        context["roles"] = sorted(ctx.user.roles)
    if arguments == "names":
        context["arguments"] = sorted(call.arguments.model_fields_set)
    else:
        values = in_order(jsonable(call.arguments.model_dump(mode="json")))
        if arguments == "full":  # personal data and secrets in them are redacted
            context["arguments"] = redact_value(values)
        else:
            context["arguments_sha256"] = hashlib.sha256(to_json(values)).hexdigest()
    return dict(sorted(context.items()))


def outcome(exc: BaseException) -> tuple[str, str | None, str | None]:
    """``(decision, reason, error code)`` for a call that raised ``exc``."""
    if isinstance(exc, DENIALS):
        return "deny", exc.message, exc.code
    if isinstance(exc, InputRequired | NeedsClientInput):
        return "input_required", None, None
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled", None, None
    if isinstance(exc, FastAgenticError):
        return "error", None, exc.code
    return "error", None, type(exc).__name__


def _run_id(call: Invocation, result: Any) -> tuple[str | None, bool | None]:
    """The run an invocation belongs to (a tool called inside a run) or accepted
    (``run.start``), and for the latter whether it was new (False: an idempotent replay)."""
    if call.spec.kind == "agent" and isinstance(result, tuple) and len(result) == 2:
        run, created = result
        return getattr(run, "id", None), bool(created)
    return call.context.run_id, None


class Heads:
    """The encoded heads (``audit.entry.head_of``) of allowed invocations' entries, by what was
    called, how, by whom and with which arguments named: a caller repeating a call costs a
    lookup, not a description and an encoding.  Only for ``audit_arguments="names"`` (the
    other settings put the values' hash or the values in the entry)."""

    LIMIT = 4096
    #: Argument name sets kept per call and caller (optional arguments make several).
    VARIANTS = 8

    def __init__(self) -> None:
        #: By call and caller: the caller (kept, so its id is not reused) and the heads by
        #: the set of argument names given.
        self._heads: dict[tuple[Any, ...], tuple[UserContext, list[tuple[frozenset[str],
                                                                          bytes]]]] = {}

    def allowed(self, call: Invocation, action: str, replayed: bool) -> bytes:
        ctx = call.context
        user = ctx.user
        named = call.arguments.model_fields_set
        key = (call.spec.kind, call.spec.name, ctx.transport, id(user), replayed)
        hit = self._heads.get(key)
        if hit is not None and hit[0] is user:
            for names, head in hit[1]:
                if names == named:
                    return head
        head = head_of(action, user, describe(call, "names", **(
            {"replayed": True} if replayed else {})), "allow")
        if hit is None or hit[0] is not user:
            if len(self._heads) >= self.LIMIT:
                self._heads.clear()
            hit = self._heads[key] = (user, [])
        if len(hit[1]) >= self.VARIANTS:
            del hit[1][0]
        hit[1].append((frozenset(named), head))
        return head


async def audit_stage(log: AuditLog, call: Invocation,
                      call_next: Callable[[Invocation], Awaitable[Any]],
                      checks: Checks | None = None) -> Any:
    """The stage (``checks``: the governance checks after it, run in this frame)."""
    action = ACTIONS.get(call.spec.kind) or f"{call.spec.kind}.call"
    log.running += 1  # the writer gathers a block while calls it will hold are running
    try:
        if checks is not None:
            call_next = checks.next_for(call, call_next)
        result = await call_next(call)
    except BaseException as exc:
        log.running -= 1
        if not isinstance(exc, Exception | asyncio.CancelledError):
            raise  # the process is going down (KeyboardInterrupt, SystemExit)
        decision, reason, code = outcome(exc)
        context = describe(call, log.arguments, **({"error": code} if code else {}))
        stored = log.append(draft(action, actor=call.context.user, decision=decision,
                                  reason=reason, context=context, run_id=call.context.run_id,
                                  ordered=True))
        if isinstance(exc, asyncio.CancelledError):
            # Awaiting would be cancelled too: it is stored with the next group.
            stored.add_done_callback(log_failure)
        else:
            await stored
        raise
    log.running -= 1
    run_id, created = _run_id(call, result) if call.spec.kind == "agent" \
        else (call.context.run_id, None)
    arguments = log.arguments
    if arguments == "names":
        head = log.heads.allowed(call, action, created is False)
    else:
        head = head_of(action, call.context.user, describe(
            call, arguments, **({"replayed": True} if created is False else {})), "allow")
    await log.append((head, None, run_id))
    return result
