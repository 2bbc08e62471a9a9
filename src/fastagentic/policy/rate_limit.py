"""Rate limits: burst and sustained windows per user, tenant or endpoint (or for everyone), on
every transport, counted in this process or in Redis shared by every replica.

    app.rate_limit("10/second;100/minute", per="user")           # burst and sustained
    app.rate_limit("5/second", per="global", endpoints=["search"], in_runs=True)
    App(rate_limit_store="redis://127.0.0.1:6379/0")              # FASTAGENTIC_RATE_LIMIT_STORE

One pipeline stage checks every call (REST, SSE, WebSocket, MCP, A2A), so a limit means the
same thing whichever way a caller comes in.  A refused call raises
:class:`~fastagentic.exceptions.RateLimited` (HTTP 429 with ``Retry-After`` and
``RateLimit-*`` headers; the JSON-RPC error ``-32029`` over MCP and A2A) and is written to
the audit log as ``rate.limit``.  Tool calls a run makes count only for rules with
``in_runs=True``; they wait for room in the window instead of failing the run.  The
counting itself (in blocks for busy keys) is :mod:`fastagentic.policy.permits`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import limits
from limits.aio import strategies

from ..core.pipeline import Invocation
from ..exceptions import ConfigurationError, RateLimited
from .permits import Permits

#: What a rule counts by: the caller, the caller's tenant (a caller without a tenant counts
#: as its own), the definition called, a combination, or everyone together.
PER = ("user", "tenant", "endpoint", "user+endpoint", "tenant+endpoint", "global")
#: ``limits`` strategies.  The sliding-window counter is the default: two counters per key
#: and one atomic script per hit, whatever the limit; the moving window is exact but keeps
#: one entry per hit; the fixed window is cheapest and lets a burst straddle two windows.
STRATEGIES = tuple(strategies.STRATEGIES)
DEFAULT_STRATEGY = "sliding-window-counter"
#: The longest a tool call inside a run waits for room before the run fails with it.
MAX_RUN_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """One ``app.rate_limit(...)``: its windows (shortest first), what it counts by and which
    calls it applies to."""

    name: str
    windows: tuple[limits.RateLimitItem, ...]
    per: str
    endpoints: frozenset[str] | None
    strategy: str
    in_runs: bool

    def applies(self, call: Invocation) -> bool:
        if call.context.transport == "run" and not self.in_runs:
            return False
        return self.endpoints is None or call.spec.name in self.endpoints

    def identifiers(self, call: Invocation) -> tuple[str, ...]:
        """The key's parts: the rule's name, then only the principal and the definition's
        kind and name (never request data)."""
        user = call.context.user
        parts = [self.name]
        if "user" in self.per:
            parts.append("u:" + user.principal_key)
        elif "tenant" in self.per:
            parts.append("t:" + user.tenant if user.tenant else "u:" + user.principal_key)
        if "endpoint" in self.per:
            parts.append(f"{call.spec.kind}:{call.spec.name}")
        return tuple(parts)


def make_rule(limit: str, *, per: str, endpoints: Iterable[str] | None, name: str | None,
              strategy: str, in_runs: bool) -> RateLimitRule:
    if per not in PER:
        raise ConfigurationError(f"rate limit per={per!r}: use one of {', '.join(PER)}")
    if strategy not in STRATEGIES:
        raise ConfigurationError(
            f"rate limit strategy={strategy!r}: use one of {', '.join(STRATEGIES)}")
    try:
        windows = limits.parse_many(limit)
    except ValueError:
        raise ConfigurationError(
            f"rate limit {limit!r}: write it like '10/second' or '10/second;100/minute'"
        ) from None
    if any(w.amount < 1 for w in windows):
        raise ConfigurationError(f"rate limit {limit!r}: every window must allow at least 1")
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    scope = frozenset(endpoints) if endpoints is not None else None
    if scope is not None and not scope:
        raise ConfigurationError("rate limit endpoints=[]: name at least one definition")
    if name is None:
        name = f"{per}:" + ",".join(f"{w.amount}per{w.get_expiry()}s" for w in windows) + \
            (f":{','.join(sorted(scope))}" if scope else "")
    if not name or "/" in name:
        raise ConfigurationError(f"rate limit name {name!r}: non-empty, without '/'")
    ordered = tuple(sorted(windows, key=lambda w: (w.get_expiry(), w.amount)))
    return RateLimitRule(name, ordered, per, scope, strategy, in_runs)


class RateLimits:
    """The rules and the stage that enforces them (``app.rate_limits``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[RateLimitRule] = []
        self.permits: Permits | None = None
        self._by_call: dict[tuple[str, str, bool], tuple[RateLimitRule, ...]] = {}
        #: By call and caller: the caller (kept, so its id is not reused), the permits'
        #: generation and the states of every window that applies (``Permits.states``).
        self._held: dict[tuple[str, str, int], tuple[Any, int, list[Any]]] = {}

    def add(self, limit: str, *, per: str = "user", endpoints: Iterable[str] | None = None,
            name: str | None = None, strategy: str = DEFAULT_STRATEGY,
            in_runs: bool = False) -> RateLimitRule:
        rule = make_rule(limit, per=per, endpoints=endpoints, name=name, strategy=strategy,
                         in_runs=in_runs)
        if any(r.name == rule.name for r in self.rules):
            raise ConfigurationError(f"a rate limit named {rule.name!r} exists: pass name=")
        self.rules.append(rule)
        self._by_call.clear()
        self._held.clear()
        return rule

    # lifecycle (App.running)

    def open(self) -> None:
        """Check that every rule's ``endpoints`` name registered definitions, and make the
        counters (a Redis client connects at its first hit, on the serving event loop)."""
        known = {name for kind in ("tool", "resource", "prompt", "agent")
                 for name in self.app.registry._table(kind)}
        for rule in self.rules:
            unknown = sorted((rule.endpoints or frozenset()) - known)
            if unknown:
                raise ConfigurationError(
                    f"rate limit {rule.name!r}: no definition named {', '.join(unknown)}")
        if self.permits is None:
            self.permits = Permits(self.app.settings.rate_limit_store)
        self.permits.open()

    async def close(self) -> None:
        """Close the counters' connections; the next run of the app opens new ones."""
        permits, self.permits = self.permits, None
        if permits is not None:
            await permits.close()

    # the stage

    def _rules_for(self, call: Invocation) -> tuple[RateLimitRule, ...]:
        key = (call.spec.kind, call.spec.name, call.context.transport == "run")
        rules = self._by_call.get(key)
        if rules is None:
            rules = self._by_call[key] = tuple(r for r in self.rules if r.applies(call))
        return rules

    def fast(self, call: Invocation) -> bool:
        """A caller repeating a call takes its permits from the blocks held here: a lookup and
        a count per window (``core.pipeline.Checks``).  False, with nothing taken, when the
        stage must count it."""
        ctx = call.context
        if ctx.transport == "run":
            return False
        user = ctx.user
        held = self._held.get((call.spec.kind, call.spec.name, id(user)))
        permits = self.permits
        if held is None or held[0] is not user or permits is None \
                or held[1] != permits.generation:
            return False
        now = time.monotonic()
        states = held[2]
        for state in states:
            if state.left <= 0 or now >= state.until:
                return False
        for state in states:
            state.left -= 1
            if state.left <= state.refill_left or now >= state.refill_at:
                permits.refill(state)  # the next block, taken ahead in the background
        return True

    async def stage(self, call: Invocation, call_next: Callable[[Invocation], Awaitable[Any]]
                    ) -> Any:
        if self.fast(call):
            return await call_next(call)
        ctx = call.context
        rules = self._rules_for(call)
        if rules:
            if ctx.transport == "run":
                await self._wait_for_room(call, rules)
            else:
                refused = await self._hit(call, rules)
                if refused is not None:
                    raise await self._refuse(call, *refused)
                self._hold(call, rules)
        return await call_next(call)

    def _hold(self, call: Invocation, rules: tuple[RateLimitRule, ...]) -> None:
        """Keep the states of the windows ``call`` was just counted in, for the next call."""
        permits = self.permits
        if permits is None:
            return
        states = permits.states([(window, rule.identifiers(call)) for rule in rules
                                 for window in rule.windows])
        if states is not None:
            if len(self._held) >= 4096:
                self._held.clear()
            user = call.context.user
            self._held[(call.spec.kind, call.spec.name, id(user))] = (
                user, permits.generation, states)

    async def _hit(self, call: Invocation, rules: tuple[RateLimitRule, ...]
                   ) -> tuple[RateLimitRule, limits.RateLimitItem, float] | None:
        """Count the call in every window, shortest first, and stop at the first that is
        full (a call refused by a burst window does not use up the sustained one).  Returns
        the refusing (rule, window, seconds until it has room), or None."""
        permits = self.permits
        if permits is None:
            raise ConfigurationError("the app is not running (serve it, or use app.running())")
        for rule in rules:
            ids = rule.identifiers(call)
            for window in rule.windows:
                wait = await permits.take(rule.strategy, window, ids)
                if wait is not None:
                    return rule, window, wait
        return None

    async def _wait_for_room(self, call: Invocation, rules: tuple[RateLimitRule, ...]
                             ) -> None:
        """A tool call inside a run is throttled: it waits until the window has room."""
        deadline = time.monotonic() + MAX_RUN_WAIT
        while True:
            refused = await self._hit(call, rules)
            if refused is None:
                return
            wait = max(refused[2], 0.01)
            if time.monotonic() + wait > deadline:
                raise await self._refuse(call, *refused)
            await asyncio.sleep(wait)

    async def _refuse(self, call: Invocation, rule: RateLimitRule,
                      window: limits.RateLimitItem, retry_after: float) -> RateLimited:
        ctx = call.context
        await self.app.audit.record(
            "rate.limit", actor=ctx.user, decision="deny",
            reason=f"{rule.name}: {window}", run_id=ctx.run_id,
            context={"rule": rule.name, "limit": str(window), "per": rule.per,
                     "kind": call.spec.kind, "endpoint": call.spec.name,
                     "transport": ctx.transport})
        return RateLimited(
            f"rate limit exceeded: {window} ({rule.per}); retry in {retry_after:.1f}s",
            retry_after=retry_after, limit=window.amount, remaining=0, reset=retry_after,
            details={"rule": rule.name, "limit": str(window), "per": rule.per,
                     "retry_after": round(retry_after, 3)})


__all__ = ["PER", "STRATEGIES", "RateLimitRule", "RateLimits"]
