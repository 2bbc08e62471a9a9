"""Policies: code that allows, denies (with a reason) or modifies runs at three points.

* ``before_run(start)``: a run is about to be accepted (any transport). ``modify(arguments=
  {...})`` replaces its arguments (validated again); ``deny(reason)`` refuses it with 403
  ``policy_denied``.
* ``after_run(run, output)``: a run produced its output. ``modify(output=...)`` replaces it;
  ``deny(reason)`` fails the run instead.
* ``on_checkpoint(run, checkpoint)``: a checkpoint is about to be written. ``modify(state=...,
  metadata=...)`` changes what is stored; ``deny(reason)`` fails the run without writing it.

Write a :class:`Policy` subclass (``app.add_policy(MyPolicy())``) or decorate plain functions
(``@app.before_run``, ``@app.after_run``, ``@app.on_checkpoint``).  Returning None allows.
Every denial is written to the audit log as ``policy.block``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.context import UserContext
from ..core.runs import RunRecord
from ..exceptions import ConfigurationError, InvalidInput, PolicyDenied


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy decided: allow, deny (``allowed=False`` with a ``reason``) or modify
    (``changes``: the values to use instead)."""

    allowed: bool = True
    reason: str | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)


ALLOW = Decision()


def allow() -> Decision:
    return ALLOW


def deny(reason: str) -> Decision:
    return Decision(allowed=False, reason=reason)


def modify(**changes: Any) -> Decision:
    return Decision(changes=changes)


@dataclass(slots=True)
class RunStart:
    """A run about to be accepted."""

    endpoint: str
    arguments: dict[str, Any]
    user: UserContext
    transport: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CheckpointDraft:
    """A checkpoint about to be written."""

    run_id: str
    state: Any
    metadata: dict[str, Any]


class Policy:
    """Override the points you need; each returns a :class:`Decision` or None (allow)."""

    #: Shown in audit entries and error messages.
    name: str = ""

    async def before_run(self, start: RunStart) -> Decision | None:
        return None

    async def after_run(self, run: RunRecord, output: Any) -> Decision | None:
        return None

    async def on_checkpoint(self, run: RunRecord, checkpoint: CheckpointDraft
                            ) -> Decision | None:
        return None

    @property
    def label(self) -> str:
        return self.name or type(self).__name__


POINTS = ("before_run", "after_run", "on_checkpoint")


class FunctionPolicy(Policy):
    """One function at one point (what ``@app.before_run`` and friends register)."""

    def __init__(self, point: str, fn: Callable[..., Any]) -> None:
        if point not in POINTS:
            raise ConfigurationError(f"unknown policy point {point!r}; use one of {POINTS}")
        self.point, self.fn = point, fn
        self.name = getattr(fn, "__name__", point)
        setattr(self, point, self._call)

    async def _call(self, *args: Any) -> Decision | None:
        result = self.fn(*args)
        return await result if inspect.isawaitable(result) else result


def overrides(policy: Policy, point: str) -> bool:
    """Whether ``policy`` does something at ``point`` (a FunctionPolicy sets its one point on
    the instance, so that too is not ``Policy``'s own no-op)."""
    return getattr(getattr(policy, point), "__func__", None) is not getattr(Policy, point)


def _checked(policy: Policy, point: str, decision: Any) -> Decision:
    if decision is None:
        return ALLOW
    if not isinstance(decision, Decision):
        raise ConfigurationError(
            f"policy {policy.label}.{point} returned {decision!r}: return allow(), "
            "deny(reason), modify(...) or None")
    return decision


async def decide(policies: list[Policy], point: str, *args: Any,
                 audit: Callable[[Policy, Decision], Awaitable[None]] | None = None,
                 ) -> tuple[Decision, Policy | None]:
    """Ask every policy with ``point``, in order.  Modifications accumulate (each policy sees
    the previous ones' changes through ``apply``); the first denial stops the walk."""
    changes: dict[str, Any] = {}
    for policy in policies:
        if not overrides(policy, point):
            continue
        decision = _checked(policy, point, await getattr(policy, point)(*args))
        if not decision.allowed:
            if audit is not None:
                await audit(policy, decision)
            return decision, policy
        if decision.changes:
            changes.update(decision.changes)
            args = _apply(point, args, decision.changes)
    return (Decision(changes=changes) if changes else ALLOW), None


def _apply(point: str, args: tuple[Any, ...], changes: Mapping[str, Any]) -> tuple[Any, ...]:
    if point == "before_run":
        start: RunStart = args[0]
        if "arguments" in changes:
            start.arguments = dict(changes["arguments"])
        return (start,)
    if point == "after_run":
        return (args[0], changes.get("output", args[1]))
    draft: CheckpointDraft = args[1]
    if "state" in changes:
        draft.state = changes["state"]
    if "metadata" in changes:
        draft.metadata = dict(changes["metadata"])
    return (args[0], draft)


class PolicyStage:
    """The pipeline stage that asks ``before_run`` of every policy before a run starts."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def stage(self, call: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if call.kind != "agent":
            return await call_next(call)
        ctx = call.context
        start = RunStart(endpoint=call.spec.name, arguments=call.arguments.model_dump(
            mode="json"), user=ctx.user, transport=ctx.transport, headers=ctx.headers)

        async def audit(policy: Policy, decision: Decision) -> None:
            await self.app.audit.record(
                "policy.block", actor=ctx.user, decision="deny", reason=decision.reason,
                context={"point": "before_run", "policy": policy.label,
                         "endpoint": call.spec.name, "transport": ctx.transport})

        decision, policy = await decide(self.app.policies, "before_run", start, audit=audit)
        if not decision.allowed:
            raise PolicyDenied(f"{policy.label if policy else 'policy'}: {decision.reason}",
                               details={"policy": policy.label if policy else None,
                                        "reason": decision.reason})
        if "arguments" in decision.changes:
            try:
                call.arguments = call.spec.signature.input_model.model_validate(start.arguments)
            except Exception as exc:
                raise InvalidInput(f"policy changed the arguments into invalid ones: {exc}"
                                   ) from None
        return await call_next(call)


def policy_stage(app: Any) -> PolicyStage | None:
    """The stage, when some policy has ``before_run``."""
    if any(overrides(p, "before_run") for p in app.policies):
        return PolicyStage(app)
    return None
