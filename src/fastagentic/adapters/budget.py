"""Budgets for LangChain chat models (the LangChain and LangGraph adapters): a callback that
reserves each chat model call's estimated cost before the call starts.

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
        model = params.get("model") or params.get("model_name") or \
            metadata.get("ls_model_name")
        # ~4 characters a token: the prompt's size before it is sent.
        prompt_tokens = len(to_json(messages, fallback=repr)) // 4 + 1
        await self.ctx.reserve_cost(
            model, input_tokens=prompt_tokens, model_name=model, can_downgrade=False,
            output_tokens=params.get("max_tokens") or metadata.get("ls_max_tokens"))


def with_budget(config: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """``config`` with the budget callback added (when budgets apply)."""
    if not ctx.guards_cost:
        return config
    callbacks = config.get("callbacks")
    handler = BudgetCallback(ctx)
    if callbacks is None or isinstance(callbacks, list | tuple):
        return {**config, "callbacks": [*(callbacks or ()), handler]}
    manager = callbacks.copy()
    manager.add_handler(handler, inherit=True)
    return {**config, "callbacks": manager}
