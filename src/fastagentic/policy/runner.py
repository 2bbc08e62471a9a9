"""The run engine's governance: what happens at a run's cost events, model steps, checkpoints
and end, whatever transport started it (and for runs resumed by another process).

The engine (``core``) calls these through ``RunEngine.governance``; everything here is the
App's configuration: prices, budgets, quotas, usage, policies and the audit log.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ..cost.prices import Prices
from ..exceptions import PolicyDenied
from .base import CheckpointDraft, Decision, Policy, decide, overrides

if TYPE_CHECKING:
    from ..core.engine import RunSink
    from ..cost.budget import Hold


class RunGovernance:
    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def prices(self) -> Prices:
        return self.app.prices

    # cost

    @property
    def guards_cost(self) -> bool:
        budgets = self.app.budgets
        return budgets is not None and bool(budgets.budgets)

    def reprice(self, data: dict[str, Any]) -> dict[str, Any]:
        """A ``cost`` event's payload, at the deployment's price where it sets one."""
        return self.prices.reprice(data) if self.prices.overrides else data

    async def reserve(self, sink: RunSink, model: Any, model_name: str | None,
                      input_tokens: int, output_tokens: int | None,
                      answers: dict[str, Any], can_downgrade: bool = True) -> Any:
        budgets = self.app.budgets
        if budgets is None or not budgets.budgets:
            return model
        chosen, hold = await budgets.reserve(sink.run, model, model_name, input_tokens,
                                             output_tokens, answers, can_downgrade)
        if hold is not None:
            _holds(sink).append(hold)
        return chosen

    async def on_cost(self, sink: RunSink, data: dict[str, Any]) -> None:
        """A new ``cost`` event (not a replayed one): settle the step's reservation and add
        it to the usage counters and token quotas."""
        run = sink.run
        usd = (data.get("amount") or {}).get("usd")
        budgets = self.app.budgets
        if budgets is not None and budgets.budgets:
            holds = _holds(sink)
            hold = holds.popleft() if holds else None
            await budgets.settle(run, hold, float(usd) if isinstance(usd, int | float) else 0.0)
        await self.app.usage.record(run, data)
        quotas = self.app.quotas
        if quotas is not None:
            tokens = sum(v for v in (data.get("tokens") or {}).values() if isinstance(v, int))
            if tokens:
                from ..core.engine import RunEngine

                await quotas.charge_tokens(RunEngine.user_of(run), tokens, run.id)

    async def end_attempt(self, sink: RunSink) -> None:
        """The attempt is over: give back what its unfinished steps reserved."""
        holds = _holds(sink)
        while holds:
            await self.app.budgets.release(holds.popleft())

    # policies and audit

    def _policies(self, point: str) -> list[Policy]:
        return [p for p in self.app.policies if overrides(p, point)]

    async def on_checkpoint(self, sink: RunSink, state: Any, metadata: dict[str, Any]
                            ) -> tuple[Any, dict[str, Any]]:
        run = sink.run
        policies = self._policies("on_checkpoint")
        if policies:
            draft = CheckpointDraft(run_id=run.id, state=state, metadata=dict(metadata))
            decision, policy = await decide(policies, "on_checkpoint", run, draft,
                                            audit=self._blocked(sink, "on_checkpoint"))
            _raise_if_denied(decision, policy)
            state, metadata = draft.state, draft.metadata
        if self.app.audit.enabled:
            await self.app.audit.record(
                "checkpoint.write", actor=self._actor(sink), run_id=run.id,
                context={"endpoint": run.endpoint, "seq": sink.seq + 1,
                         "metadata_keys": sorted(metadata)})
        return state, metadata

    async def after_run(self, sink: RunSink, output: Any) -> Any:
        policies = self._policies("after_run")
        if not policies:
            return output
        decision, policy = await decide(policies, "after_run", sink.run, output,
                                        audit=self._blocked(sink, "after_run"))
        _raise_if_denied(decision, policy)
        return decision.changes.get("output", output)

    async def finished(self, sink: RunSink, status: str, error: dict[str, Any] | None
                       ) -> None:
        if self.app.audit.enabled:
            run = sink.run
            await self.app.audit.record(
                "run.finish", actor=self._actor(sink), run_id=run.id,
                decision="allow" if error is None else "error",
                reason=(error or {}).get("message"),
                context={"endpoint": run.endpoint, "status": status,
                         "error_code": (error or {}).get("code"), "usage": sink.usage})

    def _actor(self, sink: RunSink) -> Any:
        from ..core.engine import RunEngine

        return RunEngine.user_of(sink.run)

    def _blocked(self, sink: RunSink, point: str) -> Any:
        async def audit(policy: Policy, decision: Decision) -> None:
            await self.app.audit.record(
                "policy.block", actor=self._actor(sink), decision="deny",
                reason=decision.reason, run_id=sink.run.id,
                context={"point": point, "policy": policy.label,
                         "endpoint": sink.run.endpoint})
        return audit


def _holds(sink: RunSink) -> deque[Hold]:
    holds = getattr(sink, "holds", None)
    if holds is None:
        holds = sink.holds = deque()
    return holds


def _raise_if_denied(decision: Decision, policy: Policy | None) -> None:
    if not decision.allowed:
        label = policy.label if policy else "policy"
        raise PolicyDenied(f"{label}: {decision.reason}",
                           details={"policy": label, "reason": decision.reason})
