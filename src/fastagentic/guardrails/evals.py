"""Evaluators: scores for what the models and agents produced, computed off the caller's path.

``add_evaluator(app, evaluator)`` runs ``await evaluator.evaluate(event)`` on ``on_llm_end``
(each model response) and ``on_response`` (each result and run output).  It never blocks and
never fails anything: the hook only schedules the evaluation as a task of its own and
returns, so a slow judge model adds no latency and an evaluator's error is only logged.  The
choice has a cost: an evaluation can end after the response was sent, so its scores cannot
be a run event or change the response (use a guardrail for that).

The scores (the dict ``evaluate`` returns; None: nothing to record) become an
:class:`Evaluation`, which is

* logged (``fastagentic.evals``, INFO),
* given to ``on_result`` (a function or coroutine function: store it, forward it to your
  eval platform),
* traced: an ``evaluate <name>`` span, child of the span that was current at the hook
  (the run's, the call's), with a ``gen_ai.evaluation.result`` event per score as the
  OpenTelemetry GenAI conventions describe (numbers are ``gen_ai.evaluation.score.value``,
  strings ``gen_ai.evaluation.score.label``, booleans both; an ``explanation`` string in
  the scores is each event's ``gen_ai.evaluation.explanation``).

Each evaluation has ``timeout`` seconds; at most ``max_pending`` run at once (more are
dropped and counted, so a stuck evaluator cannot pile up memory).  The event an evaluator
gets is a copy of the hook's event (its ``data`` dict copied, the values shared), taken when
the hook fires: add evaluators after guardrails to score what the guardrails let through.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from ..core.lifecycle import HookEvent
from ..exceptions import ConfigurationError

logger = logging.getLogger("fastagentic.evals")

#: The hook points an evaluator may run on.
EVALUATED = ("on_llm_end", "on_response")


class Evaluator:
    """Override :meth:`evaluate` (or pass a coroutine function to ``add_evaluator``)."""

    #: How the evaluator is named in evaluations, logs and spans (default: the class name).
    name: str | None = None

    async def evaluate(self, event: HookEvent) -> dict[str, Any] | None:
        """Scores for ``event`` (``event.data["response"]`` on ``on_llm_end``,
        ``event.data["result"]`` on ``on_response``), or None."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The scores an evaluator gave to one hook event (``error``: why there are none)."""

    evaluator: str
    hook: str
    transport: str
    target: str
    run_id: str | None
    scores: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration: float = 0.0


class Evaluations:
    """One evaluator on one App (what :func:`add_evaluator` returns): the hook that schedules
    it, and the evaluations still running."""

    def __init__(self, app: Any, evaluator: Any, name: str,
                 on_result: Callable[[Evaluation], Any] | None, timeout: float,
                 max_pending: int) -> None:
        self.app = app
        self.evaluator = evaluator
        self.name = name
        self.on_result = on_result
        self.timeout = timeout
        self.max_pending = max_pending
        #: The evaluations running now.
        self.pending: set[asyncio.Task[None]] = set()
        #: Evaluations not started because ``max_pending`` were running.
        self.dropped = 0

    def __call__(self, event: HookEvent) -> None:
        """The hook: schedule the evaluation and return at once."""
        if len(self.pending) >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning("evaluator %s: %d evaluations running, %d dropped so far",
                               self.name, len(self.pending), self.dropped)
            return
        copy = HookEvent(event.hook, event.transport, event.target, event.user,
                         event.run_id, dict(event.data))
        task = asyncio.get_running_loop().create_task(self._evaluate(copy))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def wait(self, timeout: float | None = None) -> None:
        """Wait for the evaluations running now (before a shutdown; tests)."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)

    async def _evaluate(self, event: HookEvent) -> None:
        tracer = self._tracer()
        started = time.monotonic()
        with tracer.start_as_current_span(f"evaluate {self.name}", attributes={
                "fastagentic.evaluator": self.name, "fastagentic.hook": event.hook,
                "fastagentic.target": event.target,
                **({"fastagentic.run_id": event.run_id} if event.run_id else {})}) as span:
            scores: dict[str, Any] | None = None
            error: str | None = None
            try:
                found = await asyncio.wait_for(self.evaluator.evaluate(event), self.timeout)
                if found is not None and not isinstance(found, dict):
                    raise TypeError(f"evaluate returned {type(found).__name__}, not a dict")
                scores = found
            except TimeoutError:
                error = f"timed out after {self.timeout:g}s"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("evaluator %s failed on %s of %s", self.name, event.hook,
                               event.target, exc_info=True)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
                span.set_attribute("error.type", error.split(":")[0])
            elif scores is None:
                return
            else:
                _score_events(span, scores, _response_id(event))
        evaluation = Evaluation(self.name, event.hook, event.transport, event.target,
                                event.run_id, scores or {}, error,
                                time.monotonic() - started)
        if error is None:
            logger.info("evaluation %s of %s (%s): %s", self.name, event.target, event.hook,
                        scores, extra={"evaluation": {
                            "evaluator": self.name, "hook": event.hook,
                            "target": event.target, "run_id": event.run_id,
                            "scores": scores}})
        else:
            logger.warning("evaluation %s of %s (%s) has no scores: %s", self.name,
                           event.target, event.hook, error)
        if self.on_result is not None:
            try:
                outcome = self.on_result(evaluation)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("on_result of evaluator %s failed", self.name)

    def _tracer(self) -> trace.Tracer:
        """The App's tracer when ``configure_otel`` gave it one, else the global one."""
        watcher = getattr(self.app, "_fastagentic_tracing", None)
        tracer = getattr(watcher, "tracer", None)
        return tracer if tracer is not None else trace.get_tracer("fastagentic.evals")


def _score_events(span: Any, scores: dict[str, Any], response_id: str | None) -> None:
    explanation = scores.get("explanation")
    for key, value in scores.items():
        if key == "explanation":
            continue
        attributes: dict[str, Any] = {"gen_ai.evaluation.name": str(key)}
        if isinstance(value, bool):
            attributes["gen_ai.evaluation.score.value"] = float(value)
            attributes["gen_ai.evaluation.score.label"] = str(value).lower()
        elif isinstance(value, (int, float)):
            attributes["gen_ai.evaluation.score.value"] = float(value)
        elif isinstance(value, str):
            attributes["gen_ai.evaluation.score.label"] = value
        else:
            continue
        if isinstance(explanation, str):
            attributes["gen_ai.evaluation.explanation"] = explanation
        if response_id:
            attributes["gen_ai.response.id"] = response_id
        span.add_event("gen_ai.evaluation.result", attributes)


def _response_id(event: HookEvent) -> str | None:
    response = event.data.get("response")
    found = response.get("provider_response_id") if isinstance(response, dict) else \
        getattr(response, "provider_response_id", None)
    return found if isinstance(found, str) else None


class _Function:
    def __init__(self, fn: Callable[[HookEvent], Awaitable[dict[str, Any] | None]]) -> None:
        self.evaluate = fn


def add_evaluator(app: Any, evaluator: Evaluator | Callable[[HookEvent], Awaitable[Any]], *,
                  on: Iterable[str] = EVALUATED,
                  on_result: Callable[[Evaluation], Any] | None = None,
                  timeout: float = 30.0, max_pending: int = 100) -> Evaluations:
    """Run ``evaluator`` (an :class:`Evaluator`, or a coroutine function of the event) on
    ``app``'s ``on`` hook points (``on_llm_end``, ``on_response``), off the caller's path."""
    if isinstance(on, str):
        on = (on,)
    points = list(dict.fromkeys(on))
    for point in points:
        if point not in EVALUATED:
            raise ConfigurationError(
                f"an evaluator runs on {' and '.join(EVALUATED)}, not {point!r}")
    if not points:
        raise ConfigurationError("add_evaluator: on= names no hook point")
    if isinstance(evaluator, Evaluator):
        name = evaluator.name or type(evaluator).__name__
    elif inspect.iscoroutinefunction(evaluator):
        name = getattr(evaluator, "__name__", "evaluator")
        evaluator = _Function(evaluator)
    else:
        raise ConfigurationError(
            f"{evaluator!r} is not an evaluator: subclass fastagentic.guardrails.Evaluator "
            "or pass an async function of the event")
    if timeout <= 0 or max_pending < 1:
        raise ConfigurationError("add_evaluator: timeout must be > 0 and max_pending >= 1")
    evaluations = Evaluations(app, evaluator, name, on_result, timeout, max_pending)
    for point in points:
        app.add_hook(point, evaluations)
    return evaluations

__all__ = ["EVALUATED", "Evaluation", "Evaluations", "Evaluator", "add_evaluator"]
