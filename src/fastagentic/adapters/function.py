"""Adapter for plain Python: async functions and async generators.

* ``async def f(...) -> T``: emits through ``ctx`` (``ctx.token``, ``ctx.emit``); its return
  value is the output.
* ``async def f(...)`` that ``yield``s: ``str`` items are token events, ``Event`` items pass
  through, an ``Output`` item sets the output; otherwise the output is the streamed text.
* A sync function runs in a worker thread; its return value is the output.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel

from ..core.context import CallContext, RunContext
from ..core.events import Event, token
from ..core.pipeline import call_user_function
from ..core.signature import CallSignature
from ..exceptions import ClientInputUnavailable
from .base import BaseAdapter, Output


class FunctionAdapter(BaseAdapter):
    framework = "function"
    # A Python function cannot be suspended across processes: it runs again from the start,
    # and what it already did is recognised (events), remembered (ask answers) or answered
    # from the tool ledger (call_tool).
    replay = "from_start"

    def __init__(self, fn: Callable[..., Any], signature: CallSignature | None = None) -> None:
        self.fn = fn
        self.signature = signature or CallSignature.from_function(fn, model_name="Input")

    async def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Event | Output]:
        injections: dict[type, Any] = {RunContext: ctx, type(ctx.user): ctx.user}
        if any(issubclass(CallContext, kind) for kind in self.signature.injected.values()):
            injections[CallContext] = _call_context(ctx)
        kwargs = self.signature.kwargs(input, injections)
        if inspect.isasyncgenfunction(self.fn):
            output: Any = inspect.Parameter.empty
            async for item in self.fn(**kwargs):
                if isinstance(item, str):
                    if item:
                        yield token(item)
                elif isinstance(item, Event):
                    yield item
                elif isinstance(item, Output):
                    output = item.value
                else:
                    raise TypeError(
                        f"{self.fn.__qualname__} yielded {type(item).__name__}; yield str, "
                        "an Event or an Output"
                    )
            # Without an explicit Output, the answer is the run's streamed text (which includes
            # what an earlier attempt streamed before a crash).
            yield Output(ctx.streamed_text if output is inspect.Parameter.empty else output)
            return
        result = await call_user_function(self.fn, self.signature, input, injections)
        yield Output(result)


__all__ = ["FunctionAdapter"]


def _call_context(ctx: RunContext) -> CallContext:
    """A tool running as a run (an MCP task) still gets its CallContext: asking the user
    becomes the run's durable input request, answered by resume."""

    async def ask(requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        answers = {}
        for key, (method, params) in requests.items():
            if method != "elicitation/create":
                raise ClientInputUnavailable(
                    f"{method} cannot be asked from inside a run; only elicitation can")
            answer = await ctx.ask(params.get("message", ""), key=key,
                                   schema=params.get("requestedSchema"))
            answers[key] = {"action": "accept", "content": answer}
        return answers

    return CallContext(user=ctx.user, transport="run", kind="tool", name=ctx.endpoint,
                       run_id=ctx.run_id, ask=ask,
                       client_capabilities={"elicitation": {}})
