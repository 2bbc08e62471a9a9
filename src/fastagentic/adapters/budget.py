"""Budgets and observation for LangChain chat models (the LangChain and LangGraph adapters):
a callback that reserves each chat model call's estimated cost before the call starts, and
one that shows each call to the LLM hooks and telemetry.

A callback cannot swap the model a chain calls, so a ``downgrade`` budget that cannot cover
the call rejects it here (``budget_exceeded``); ``reject`` and ``pause`` work as everywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from ..core.context import RunContext

try:
    from langchain_core.callbacks import AsyncCallbackHandler
except ImportError as exc:  # pragma: no cover - exercised without the extra
    from ..exceptions import MissingDependency

    raise MissingDependency('LangChain budgets need langchain-core: pip install '
                            '"fastagentic[langchain]"') from exc


class BudgetCallback(AsyncCallbackHandler):
    raise_error = True  # a refusal must stop the call, not be logged and ignored
    # Not inline: LangChain awaits inline handlers one by one, and a refusal from one would
    # leave the others' coroutines never awaited; the concurrent ones are awaited all the same
    # before the model is called.
    run_inline = False
    # Only model starts matter: other events are not even dispatched to this handler (a sync
    # part of a chain would otherwise create coroutines of its no-op methods).
    ignore_chain = ignore_agent = ignore_retriever = ignore_retry = True
    ignore_custom_event = True

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any,
                                  metadata: dict[str, Any] | None = None, **kwargs: Any
                                  ) -> None:
        params = kwargs.get("invocation_params") or {}
        metadata = metadata or {}
        model = _model_of(params, metadata)
        # ~4 characters a token: the prompt's size before it is sent.
        prompt_tokens = len(to_json(messages, fallback=repr)) // 4 + 1
        await self.ctx.reserve_cost(
            model, input_tokens=prompt_tokens, model_name=model, can_downgrade=False,
            output_tokens=params.get("max_tokens") or metadata.get("ls_max_tokens"))


class ObserveCallback(AsyncCallbackHandler):
    """Each chat model call shown to the ``on_llm_start``/``on_llm_end`` hooks and to
    telemetry.  A callback cannot change what a chain sends or gets: hooks here observe or
    reject (a rejection stops the call)."""

    raise_error = True
    run_inline = False  # as BudgetCallback: a refusal leaves no handler's coroutine unawaited
    ignore_chain = ignore_agent = ignore_retriever = ignore_retry = True
    ignore_custom_event = True

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._steps: dict[Any, Any] = {}

    async def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any,
                                  metadata: dict[str, Any] | None = None, **kwargs: Any
                                  ) -> None:
        metadata = metadata or {}
        model = _model_of(kwargs.get("invocation_params") or {}, metadata)
        def sent() -> Any:
            batches = [[message.model_dump(mode="json") for message in batch]
                       for batch in messages]
            return batches[0] if len(batches) == 1 else batches

        self._steps[run_id] = await self.ctx.llm_start(model, sent,
                                                       system=metadata.get("ls_provider"))

    async def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        step = self._steps.pop(run_id, None)
        if step is None:
            return
        usage = _usage(response)
        await step.end(response=_text(response), model=usage.get("model"),
                       input_tokens=usage.get("input_tokens"),
                       output_tokens=usage.get("output_tokens"))

    async def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        step = self._steps.pop(run_id, None)
        if step is not None:
            await step.end(error=error)


def _model_of(params: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """The model a chat model call names (its invocation parameters, else LangSmith's)."""
    return params.get("model") or params.get("model_name") or metadata.get("ls_model_name")


def _text(response: Any) -> str:
    return "".join(getattr(g, "text", "") or "" for batch in response.generations
                   for g in batch)


def _usage(response: Any) -> dict[str, Any]:
    """Token counts and the model that answered, from the generations' usage metadata."""
    found: dict[str, Any] = {}
    for batch in response.generations:
        for generation in batch:
            message = getattr(generation, "message", None)
            usage = getattr(message, "usage_metadata", None) or {}
            for ours, theirs in (("input_tokens", "input_tokens"),
                                 ("output_tokens", "output_tokens")):
                if isinstance(usage.get(theirs), int):
                    found[ours] = found.get(ours, 0) + usage[theirs]
            meta = getattr(message, "response_metadata", None) or {}
            if meta.get("model_name") or meta.get("model"):
                found["model"] = meta.get("model_name") or meta.get("model")
    return found


def with_budget(config: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """``config`` with the budget callback (when budgets apply) and the observing one (when
    hooks or telemetry watch the run) added."""
    handlers = [*([BudgetCallback(ctx)] if ctx.guards_cost else []),
                *([ObserveCallback(ctx)] if ctx.observed else [])]
    if not handlers:
        return config
    callbacks = config.get("callbacks")
    if callbacks is None or isinstance(callbacks, list | tuple):
        return {**config, "callbacks": [*(callbacks or ()), *handlers]}
    manager = callbacks.copy()
    for handler in handlers:
        manager.add_handler(handler, inherit=True)
    return {**config, "callbacks": manager}
