"""Budgets: USD ceilings per run, user or tenant (optionally per day, month or N seconds).

Before each model step the adapter reserves the step's estimated cost against every budget
that applies (``ctx.reserve_cost``; the PydanticAI adapter does it by itself).  A reservation
is an atomic conditional add on a store counter (``kv_add(..., limit=...)``), so concurrent
runs, in one process or many, cannot together pass a budget.  When the step's ``cost`` event
arrives, the reservation is replaced by the actual amount; a step that never reports its cost
gives its reservation back when the attempt ends.

When a budget cannot cover a step, its ``on_exhausted`` policy decides:

* ``"reject"``: the step raises :class:`~fastagentic.exceptions.BudgetExceeded`; the run fails
  with ``budget_exceeded`` (and a new run is refused with 402 while the budget is spent);
* ``"pause"``: the run waits in ``input_required``; raise the budget (``PUT /budgets/...``
  or ``app.budgets.set_limit``) and resume it (``POST /runs/{id}/resume`` with any answer);
* ``"downgrade"``: the step runs on ``downgrade_to`` (a cheaper model) when the budget covers
  that, else the run is rejected.

The guarantee holds when the estimate bounds the step: the input is measured, the output is
estimated at ``estimate_output_tokens`` (set it to the step's ``max_tokens``).
"""

from __future__ import annotations

import asyncio
import calendar
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import BudgetExceeded, ConfigurationError, InputRequired
from .prices import NANO, to_nano, to_usd

if TYPE_CHECKING:
    from ..core.context import UserContext
    from ..core.runs import RunRecord

logger = logging.getLogger("fastagentic.cost")

SPENT_NS = "budget.spent"
LIMITS_NS = "budget.limits"
ALERTS_NS = "budget.alerts"
PERS = ("run", "user", "tenant")
ACTIONS = ("reject", "pause", "downgrade")
KEEP = 40 * 86400  # counters outlive their window (a month and some)


@dataclass(frozen=True, slots=True)
class Budget:
    """``usd`` per ``per`` (run, user or tenant) per ``period`` (None: for ever; "day",
    "month", or a number of seconds)."""

    usd: float
    per: str = "tenant"
    period: str | int | None = None
    on_exhausted: str = "reject"
    downgrade_to: Any = None
    alerts: tuple[float, ...] = (0.8, 1.0)
    estimate_output_tokens: int = 1024
    name: str = ""

    def __post_init__(self) -> None:
        if self.per not in PERS:
            raise ConfigurationError(f"budget per= must be one of {PERS}, got {self.per!r}")
        if self.on_exhausted not in ACTIONS:
            raise ConfigurationError(
                f"budget on_exhausted= must be one of {ACTIONS}, got {self.on_exhausted!r}")
        if self.on_exhausted == "downgrade" and self.downgrade_to is None:
            raise ConfigurationError("on_exhausted='downgrade' needs downgrade_to=<model>")
        if self.usd < 0:
            raise ConfigurationError("a budget's usd must be >= 0")
        if not (self.period in (None, "day", "month") or (
                isinstance(self.period, int | float) and self.period > 0)):
            raise ConfigurationError("budget period= must be None, 'day', 'month' or seconds")

    @property
    def label(self) -> str:
        return self.name or f"{self.per}" + (f"/{self.period}" if self.period else "")

    def subject(self, run: RunRecord) -> str:
        if self.per == "run":
            return run.id
        if self.per == "user":
            return run.principal
        return run.tenant or "-"

    def window(self, now: float) -> tuple[str, float]:
        """The current window's name and when it ends."""
        if self.period is None:
            return "", float("inf")
        tm = time.gmtime(now)
        if self.period == "day":
            start = calendar.timegm((tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0, 0))
            return time.strftime("%Y-%m-%d", tm), start + 86400
        if self.period == "month":
            year, month = (tm.tm_year + tm.tm_mon // 12, tm.tm_mon % 12 + 1)
            return time.strftime("%Y-%m", tm), calendar.timegm((year, month, 1, 0, 0, 0))
        size = float(self.period)  # type: ignore[arg-type]
        index = int(now // size)
        return str(index), (index + 1) * size


@dataclass(slots=True)
class Hold:
    """One step's reservation: ``(key, nano)`` per budget."""

    parts: list[tuple[Budget, str, int]] = field(default_factory=list)


AlertHook = Callable[[dict[str, Any]], Any]


class Budgets:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.budgets: list[Budget] = []
        self.alert_hooks: list[AlertHook] = []

    def add(self, budget: Budget) -> Budget:
        self.budgets.append(budget)
        return budget

    @property
    def store(self) -> Any:
        return self.app.store

    # limits (raised or lowered at run time)

    def find(self, per: str, name: str | None = None) -> Budget:
        """The ``per`` budget (named ``name`` when there are several)."""
        matching = [b for b in self.budgets if b.per == per and name in (None, b.label)]
        if not matching:
            raise KeyError(f"no {per} budget" + (f" named {name!r}" if name else ""))
        if len(matching) > 1:
            raise KeyError(f"several {per} budgets: name one of "
                           f"{', '.join(b.label for b in matching)}")
        return matching[0]

    async def set_limit(self, per: str, subject: str, usd: float | None,
                        name: str | None = None) -> Budget:
        """Override one budget (``name`` it when several are ``per`` run, user or tenant) for
        one run, user (``tenant/user``) or tenant; None removes the override."""
        budget = self.find(per, name)
        key = f"{budget.label}\x1f{subject}"
        if usd is None:
            await self.store.kv_delete(LIMITS_NS, key)
        else:
            if usd < 0:
                raise ValueError("usd must be >= 0")
            await self.store.kv_put(LIMITS_NS, key, usd)
        return budget

    async def limit_usd(self, budget: Budget, subject: str) -> float:
        override = await self.store.kv_get(LIMITS_NS, f"{budget.label}\x1f{subject}")
        return float(override) if override is not None else budget.usd

    def counter_key(self, budget: Budget, subject: str, now: float) -> tuple[str, float]:
        """The store counter of ``budget`` for ``subject`` in the window of ``now``, and how
        long to keep it."""
        window, ends = budget.window(now)
        ttl = KEEP if ends == float("inf") else max(ends - now, 1.0) + KEEP
        return f"{budget.label}\x1f{subject}\x1f{window}", ttl

    # the pipeline: refuse new runs while a rejecting budget is spent

    async def stage(self, call: Any, call_next: Callable[[Any], Any]) -> Any:
        if call.kind == "agent":
            await self._refuse_if_spent(call.context.user)
        return await call_next(call)

    async def _refuse_if_spent(self, user: UserContext) -> None:
        from ..core.runs import RunRecord

        probe = RunRecord(id="", endpoint="", status="", input=None,
                          principal=user.principal_key, user=user.user, tenant=user.tenant)
        now = time.time()
        for budget in self.budgets:
            if budget.per == "run" or budget.on_exhausted != "reject":
                continue
            subject = budget.subject(probe)
            key, _ = self.counter_key(budget, subject, now)
            spent = int(await self.store.kv_get(SPENT_NS, key) or 0)
            limit = await self.limit_usd(budget, subject)
            if spent >= to_nano(limit):
                await self.app.audit.record(
                    "budget.reject", actor=user, decision="deny",
                    reason=f"{budget.label} budget of ${limit:g} is spent",
                    context={"budget": budget.label, "subject": subject})
                raise BudgetExceeded(f"the {budget.label} budget of ${limit:g} is spent",
                                     details=_detail(budget, subject, limit, spent))

    # model steps

    async def reserve(self, run: RunRecord, model: Any, model_name: str | None,
                      input_tokens: int, output_tokens: int | None,
                      answers: dict[str, Any], can_downgrade: bool = True
                      ) -> tuple[Any, Hold | None]:
        """Reserve one step's estimated cost against every budget; returns the model to run
        the step on and the hold (None when nothing needed reserving)."""
        prices = self.app.prices
        if not self.budgets:
            return model, None
        outputs = output_tokens if output_tokens is not None else max(
            b.estimate_output_tokens for b in self.budgets)
        estimate = prices.usd(model_name, {"input": input_tokens, "output": outputs})
        if not estimate:
            return model, None  # an unpriced model: budgets cannot guard it
        nano = to_nano(estimate)
        hold = Hold()
        now = time.time()
        for budget in self.budgets:
            subject = budget.subject(run)
            key, ttl = self.counter_key(budget, subject, now)
            limit = await self.limit_usd(budget, subject)
            if await self.store.kv_add(SPENT_NS, key, nano, limit=to_nano(limit),
                                       ttl=ttl) is None:
                await self.release(hold)
                return await self._exhausted(run, budget, subject, limit, model, model_name,
                                             input_tokens, output_tokens, answers,
                                             can_downgrade)
            hold.parts.append((budget, key, nano))
        return model, hold

    async def _exhausted(self, run: RunRecord, budget: Budget, subject: str, limit: float,
                         model: Any, model_name: str | None, input_tokens: int,
                         output_tokens: int | None, answers: dict[str, Any],
                         can_downgrade: bool) -> tuple[Any, Hold | None]:
        from ..core.engine import RunEngine

        actor = RunEngine.user_of(run)
        context = {"budget": budget.label, "subject": subject, "limit_usd": limit,
                   "model": model_name, "run_id": run.id}
        if budget.on_exhausted == "downgrade" and can_downgrade:
            target = budget.downgrade_to
            target_name = target if isinstance(target, str) else getattr(
                target, "model_name", None) or str(target)
            if target_name != model_name:
                await self.app.audit.record(
                    "budget.downgrade", actor=actor, decision="downgrade", run_id=run.id,
                    reason=f"{budget.label} budget of ${limit:g} cannot cover {model_name}",
                    context={**context, "downgrade_to": target_name})
                return await self.reserve(run, target, target_name, input_tokens,
                                          output_tokens, answers)
        if budget.on_exhausted == "pause":
            n = 1 + sum(1 for k in answers if k.startswith("budget-"))
            await self.app.audit.record(
                "budget.pause", actor=actor, decision="pause", run_id=run.id,
                reason=f"{budget.label} budget of ${limit:g} is spent", context=context)
            raise InputRequired(
                f"The {budget.label} budget of ${limit:g} is spent. Raise it, then resume "
                "this run (any answer).", key=f"budget-{n}",
                details={"reason": "budget_exhausted", **context})
        await self.app.audit.record(
            "budget.reject", actor=actor, decision="deny", run_id=run.id,
            reason=f"{budget.label} budget of ${limit:g} is spent", context=context)
        raise BudgetExceeded(f"the {budget.label} budget of ${limit:g} cannot cover the next "
                             "model step", details=_detail(budget, subject, limit, None))

    async def release(self, hold: Hold | None) -> None:
        for _, key, nano in (hold.parts if hold else ()):
            await self.store.kv_add(SPENT_NS, key, -nano)
        if hold:
            hold.parts.clear()

    async def settle(self, run: RunRecord, hold: Hold | None, usd: float) -> None:
        """A step cost ``usd``: replace its reservation (or, unreserved, just count it)."""
        actual = to_nano(usd)
        now = time.time()
        if hold is None:
            parts = []
            for budget in self.budgets:
                key, _ = self.counter_key(budget, budget.subject(run), now)
                parts.append((budget, key, 0))
        else:
            parts = list(hold.parts)
            hold.parts.clear()
        for budget, key, reserved in parts:
            _, ttl = self.counter_key(budget, budget.subject(run), now)
            spent = await self.store.kv_add(SPENT_NS, key, actual - reserved, ttl=ttl)
            if spent is not None and budget.alerts:
                await self._alerts(run, budget, key, spent)

    # alerts

    async def _alerts(self, run: RunRecord, budget: Budget, key: str, spent: int) -> None:
        subject = budget.subject(run)
        limit = await self.limit_usd(budget, subject)
        if limit <= 0:
            return
        for threshold in sorted(budget.alerts):
            if spent < threshold * limit * NANO:
                break
            if not await self.store.kv_put_new(ALERTS_NS, f"{key}\x1f{threshold}", time.time(),
                                               ttl=KEEP):
                continue  # already sent for this window
            alert = {"budget": budget.label, "per": budget.per, "subject": subject,
                     "threshold": threshold, "limit_usd": limit, "spent_usd": to_usd(spent),
                     "run_id": run.id, "tenant": run.tenant, "user": run.user,
                     "timestamp": time.time()}
            await self._send(alert)

    async def _send(self, alert: dict[str, Any]) -> None:
        for hook in self.alert_hooks:
            try:
                result = hook(alert)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("budget alert hook %r failed", hook)
        url = self.app.settings.budget_alert_webhook
        if url:
            self.app.spawn(_post(url, alert, self.app.settings.budget_alert_timeout))


async def _post(url: str, alert: dict[str, Any], timeout: float) -> None:
    import httpx

    delay = 0.5
    for attempt in range(4):
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, json={"type": "budget.alert", **alert})
            if response.status_code < 500:
                if response.status_code >= 400:
                    logger.warning("budget alert webhook %s answered %s", url,
                                   response.status_code)
                return
        except httpx.HTTPError as exc:
            logger.warning("budget alert webhook %s: %s (attempt %d)", url, exc, attempt + 1)
        await asyncio.sleep(delay)
        delay *= 2


def _detail(budget: Budget, subject: str, limit: float, spent: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"budget": budget.label, "per": budget.per, "subject": subject,
                           "limit_usd": limit}
    if spent is not None:
        out["spent_usd"] = to_usd(spent)
    return out

