"""Quotas: how many runs, or how many model tokens, a user or tenant may use per period.

    app.quota(runs=100, per="user", period="day")
    app.quota(tokens=1_000_000, per="tenant", period="month")

Counters live in the app's durable store (``kv_add``, atomic, so replicas sharing the store
never overshoot together) under a key that holds the period's start: a new period starts at
zero.  Periods are UTC calendar units (``minute``, ``hour``, ``day``, ``week`` from Monday,
``month`` from the 1st) or a number of seconds counted from the Unix epoch.

* A runs quota is counted when a run is accepted, on any transport (tool calls made as runs,
  MCP tasks, A2A messages and runs delegated by other runs included).  A run that is not
  accepted after all (refused further in, or the replay of an ``Idempotency-Key`` that names
  an existing run) is given back; a replay is let through even when the quota is used up.
* A tokens quota is charged by the run engine for every ``cost`` event
  (:meth:`Quotas.charge_tokens`); while it is used up, new runs are refused.  A run already
  going is not stopped (budgets do that).

A refused run raises :class:`~fastagentic.exceptions.QuotaExceeded` (429 ``quota_exceeded``,
``retry_after`` = seconds until the period ends) and is audited as ``quota.exceeded``.
``GET /quotas`` shows callers their own usage.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.context import UserContext
from ..core.pipeline import Invocation
from ..exceptions import ConfigurationError, QuotaExceeded
from ..protocols.http import json_response, user_of

NAMESPACE = "fastagentic.quota"
PER = ("user", "tenant", "global")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_MONTH = 31 * 86400


@dataclass(frozen=True, slots=True)
class Period:
    """A quota period: a UTC calendar unit, or ``seconds`` from the Unix epoch."""

    name: str
    seconds: float

    @classmethod
    def parse(cls, period: str | float | timedelta) -> Period:
        if isinstance(period, timedelta):
            period = period.total_seconds()
        if isinstance(period, str):
            if period == "month":
                return cls("month", _MONTH)
            if period in _UNITS:
                return cls(period, _UNITS[period])
            raise ConfigurationError(
                f"quota period {period!r}: use minute, hour, day, week, month or seconds")
        if isinstance(period, bool) or not isinstance(period, int | float) or period <= 0:
            raise ConfigurationError(f"quota period {period!r} must be positive seconds")
        return cls(f"{period:g}s", float(period))

    def bounds(self, now: float) -> tuple[float, float]:
        """The (start, end) of the period that holds ``now``, as Unix times."""
        if self.name == "month":
            day = datetime.fromtimestamp(now, UTC)
            start = datetime(day.year, day.month, 1, tzinfo=UTC)
            days = calendar.monthrange(day.year, day.month)[1]
            return start.timestamp(), (start + timedelta(days=days)).timestamp()
        if self.name == "week":
            day = datetime.fromtimestamp(now, UTC)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(
                days=day.weekday())
            return start.timestamp(), start.timestamp() + self.seconds
        start = now - now % self.seconds
        return start, start + self.seconds

    @property
    def ttl(self) -> float:
        """How long a counter is kept: past any period's end, whenever it was created."""
        return self.seconds + 60.0


@dataclass(frozen=True, slots=True)
class QuotaRule:
    """One ``app.quota(...)``: ``limit`` runs or tokens per ``per`` per ``period``."""

    name: str
    kind: str  # "runs" | "tokens"
    limit: int
    per: str
    period: Period
    endpoints: frozenset[str] | None = None

    def applies_to(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def key(self, user: UserContext, start: float) -> str:
        if self.per == "user":
            scope = "u:" + user.principal_key
        elif self.per == "tenant":  # a caller without a tenant counts as its own
            scope = "t:" + user.tenant if user.tenant else "u:" + user.principal_key
        else:
            scope = "*"
        return f"{self.name}|{scope}|{int(start)}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "limit": self.limit,
                               "per": self.per, "period": self.period.name}
        if self.endpoints is not None:
            out["endpoints"] = sorted(self.endpoints)
        return out


def make_rule(*, runs: int | None, tokens: int | None, per: str,
              period: str | float | timedelta, endpoints: Iterable[str] | None,
              name: str | None) -> QuotaRule:
    if (runs is None) == (tokens is None):
        raise ConfigurationError("app.quota(...) takes one of runs= or tokens=")
    kind, limit = ("runs", runs) if runs is not None else ("tokens", tokens)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigurationError(f"quota {kind}={limit!r} must be a non-negative integer")
    if per not in PER:
        raise ConfigurationError(f"quota per={per!r}: use one of {', '.join(PER)}")
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    scope = frozenset(endpoints) if endpoints is not None else None
    if scope is not None and kind == "tokens":
        raise ConfigurationError("a tokens quota counts every run's tokens: no endpoints=")
    if scope is not None and not scope:
        raise ConfigurationError("quota endpoints=[]: name at least one agent endpoint")
    parsed = Period.parse(period)
    if name is None:
        name = f"{kind}:{per}:{parsed.name}" + (f":{','.join(sorted(scope))}" if scope else "")
    if not name or "|" in name:
        raise ConfigurationError(f"quota name {name!r}: non-empty, without '|'")
    return QuotaRule(name, kind, limit, per, parsed, scope)  # type: ignore[arg-type]


class Quotas:
    """The quota rules, their pipeline stage, the engine's token charge and ``GET /quotas``
    (``app.quotas``)."""

    def __init__(self, app: Any, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.rules: list[QuotaRule] = []
        #: The time periods are computed from (replace it to test period rollover).
        self.clock = clock
        self._by_endpoint: dict[str, tuple[list[QuotaRule], list[QuotaRule]]] = {}

    def add(self, *, runs: int | None = None, tokens: int | None = None, per: str = "user",
            period: str | float | timedelta = "day", endpoints: Iterable[str] | None = None,
            name: str | None = None) -> QuotaRule:
        rule = make_rule(runs=runs, tokens=tokens, per=per, period=period,
                         endpoints=endpoints, name=name)
        if any(r.name == rule.name for r in self.rules):
            raise ConfigurationError(f"a quota named {rule.name!r} exists: pass name=")
        self.rules.append(rule)
        self._by_endpoint.clear()
        return rule

    def _rules_for(self, endpoint: str) -> tuple[list[QuotaRule], list[QuotaRule]]:
        """(runs rules, tokens rules) that apply to runs of ``endpoint``."""
        found = self._by_endpoint.get(endpoint)
        if found is None:
            rules = [r for r in self.rules if r.applies_to(endpoint)]
            found = self._by_endpoint[endpoint] = (
                [r for r in rules if r.kind == "runs"], [r for r in rules if r.kind == "tokens"])
        return found

    # the stage: runs are counted when accepted

    async def stage(self, call: Invocation, call_next: Callable[[Invocation], Awaitable[Any]]
                    ) -> Any:
        if call.kind != "agent":
            return await call_next(call)
        runs, tokens = self._rules_for(call.spec.name)
        if not runs and not tokens:
            return await call_next(call)
        store = self.app.store
        user = call.context.user
        key = call.options.get("idempotency_key")
        marker = _replay_marker(user, key) if key is not None and runs else None
        if marker is not None and await store.kv_get(NAMESPACE, marker) is not None:
            return await call_next(call)  # the run exists and was counted when accepted
        now = self.clock()
        for rule in tokens:
            start, end = rule.period.bounds(now)
            used = await store.kv_get(NAMESPACE, rule.key(user, start)) or 0
            if used >= rule.limit:
                raise await self._refuse(call, rule, used, end - now)
        counted: list[str] = []
        try:
            for rule in runs:
                start, end = rule.period.bounds(now)
                counter = rule.key(user, start)
                if await store.kv_add(NAMESPACE, counter, 1, limit=rule.limit,
                                      ttl=rule.period.ttl) is None:
                    raise await self._refuse(call, rule, rule.limit, end - now)
                counted.append(counter)
            result = await call_next(call)
        except Exception:
            await self._give_back(counted)
            raise
        created = result[1] if isinstance(result, tuple) and len(result) == 2 else True
        if not created:
            await self._give_back(counted)
        elif marker is not None:
            ttl = max(r.period.ttl for r in runs)
            await store.kv_put(NAMESPACE, marker, result[0].id, ttl=ttl)
        return result

    async def _give_back(self, counters: list[str]) -> None:
        for counter in counters:
            await self.app.store.kv_add(NAMESPACE, counter, -1)

    async def _refuse(self, call: Invocation, rule: QuotaRule, used: int, retry_after: float
                      ) -> QuotaExceeded:
        ctx = call.context
        await self.app.audit.record(
            "quota.exceeded", actor=ctx.user, decision="deny",
            reason=f"{rule.name}: {used} of {rule.limit} {rule.kind} used",
            context={"quota": rule.name, "kind": rule.kind, "limit": rule.limit,
                     "per": rule.per, "period": rule.period.name, "endpoint": call.spec.name,
                     "transport": ctx.transport})
        return QuotaExceeded(
            f"{rule.kind} quota used up: {rule.limit} {rule.kind} per {rule.per} per "
            f"{rule.period.name}; it resets in {retry_after:.0f}s",
            retry_after=retry_after, limit=rule.limit, remaining=0, reset=retry_after,
            details={"quota": rule.name, "kind": rule.kind, "limit": rule.limit,
                     "used": used, "retry_after": round(retry_after, 3)})

    # the engine's hook: tokens are charged as runs report them

    async def charge_tokens(self, user: UserContext, tokens: int, run_id: str) -> None:
        """Add ``tokens`` a run used (one ``cost`` event of run ``run_id``) to the tokens
        quotas of its user."""
        if tokens <= 0:
            return
        now = self.clock()
        for rule in self.rules:
            if rule.kind == "tokens":
                start, _ = rule.period.bounds(now)
                await self.app.store.kv_add(NAMESPACE, rule.key(user, start), tokens,
                                            ttl=rule.period.ttl)

    # GET /quotas

    async def usage(self, user: UserContext) -> list[dict[str, Any]]:
        """Every quota as it stands for ``user``: limit, used, remaining and when it resets."""
        now = self.clock()
        out = []
        for rule in self.rules:
            start, end = rule.period.bounds(now)
            used = await self.app.store.kv_get(NAMESPACE, rule.key(user, start)) or 0
            out.append({**rule.describe(), "used": used,
                        "remaining": max(0, rule.limit - used),
                        "period_start": _iso(start), "resets_at": _iso(end),
                        "reset": max(0.0, round(end - now, 3))})
        return out

    async def endpoint(self, request: Request) -> Response:
        """``GET /quotas``: the caller's own usage of every quota."""
        return json_response({"quotas": await self.usage(user_of(request))})


def _replay_marker(user: UserContext, key: str) -> str:
    digest = hashlib.sha256(f"{user.principal_key}\0{key}".encode()).hexdigest()[:32]
    return f"accepted|{digest}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


__all__ = ["PER", "Period", "QuotaRule", "Quotas"]
