"""PydanticAI agents (``pydantic-ai-slim`` 2.x) as fastagentic runs.

``@agent_endpoint("/chat", runnable=PydanticAIAdapter(agent))`` over a function whose signature
is the endpoint's input (its body is not called).  The agent itself is not changed: what the
adapter needs is passed per run.

* **Events**: text deltas (the first chunk is in ``PartStartEvent``) → ``token``; each graph
  node → ``node_start``/``node_end`` (``model_request``, ``call_tools``); tool calls and returns
  → ``tool_call``/``tool_result`` with PydanticAI's call ids; each model response → ``cost``
  (tokens, and the price from ``genai-prices`` when it knows the model).
* **Durability**: the conversation (message history) is checkpointed after every model
  response (before its tools run, so the tool call ids are pinned) and after every tool step;
  a resumed run continues from there.
* **Exactly-once tools**: tool calls go through the tool ledger by (run, tool call id); a call
  that completed before a crash is answered from the ledger and the tool is not run again.
* **Approvals**: tools declared ``requires_approval=True`` pause the run (``input_required``,
  one ``approve`` per call); the answer approves or denies the call and the run goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from ..core import events as ev
from ..core.context import RunContext
from ..exceptions import MissingDependency
from .base import BaseAdapter, Output
from .pricing import cost_event

try:
    from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ToolDenied
    from pydantic_ai.capabilities import AbstractCapability
    from pydantic_ai.messages import (
        FunctionToolCallEvent,
        FunctionToolResultEvent,
        ModelMessagesTypeAdapter,
        ModelResponse,
        PartDeltaEvent,
        PartStartEvent,
        TextPart,
        TextPartDelta,
        ToolCallPart,
    )
    from pydantic_ai.models import Model, infer_model
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency(
        'PydanticAIAdapter needs PydanticAI: pip install "fastagentic[pydanticai]"') from exc


def _text_of(input: BaseModel) -> str:
    """The prompt: the input's one text field, or the input as JSON."""
    data = input.model_dump(mode="json")
    texts = [v for v in data.values() if isinstance(v, str)]
    if len(data) == 1 and len(texts) == 1:
        return texts[0]
    return input.model_dump_json()


@dataclasses.dataclass
class _Ledger(AbstractCapability[Any]):
    """Tool execution through fastagentic's tool ledger, by PydanticAI's tool call id."""

    ctx: RunContext = dataclasses.field(repr=False)

    async def wrap_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any,
                                handler: Any) -> Any:
        return await self.ctx.once(f"pydantic-ai:{call.tool_call_id}", call.tool_name,
                                   lambda: handler(args), arguments=call.args_as_dict())


@dataclasses.dataclass
class _Observe(AbstractCapability[Any]):
    """Each model request shown to the ``on_llm_start``/``on_llm_end`` hooks (which may
    rewrite the messages sent, or the response) and to telemetry (one step per request)."""

    ctx: RunContext = dataclasses.field(repr=False)
    _step: Any = dataclasses.field(default=None, repr=False)

    async def before_model_request(self, ctx: Any, request_context: Any) -> Any:
        model = request_context.model
        self._step = step = await self.ctx.llm_start(
            model.model_name,
            lambda: ModelMessagesTypeAdapter.dump_python(request_context.messages, mode="json"),
            system=getattr(model, "system", None))
        if not step.hooked:
            return request_context
        return dataclasses.replace(
            request_context, messages=ModelMessagesTypeAdapter.validate_python(step.messages))

    async def after_model_request(self, ctx: Any, *, request_context: Any, response: Any
                                  ) -> Any:
        step, self._step = self._step, None
        if step is None:
            return response
        usage = response.usage
        return await step.end(response=response, model=response.model_name,
                              input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)

    async def on_model_request_error(self, ctx: Any, *, request_context: Any, error: Exception
                                     ) -> Any:
        step, self._step = self._step, None
        if step is not None:
            await step.end(error=error)
        raise error


@dataclasses.dataclass
class _Budget(AbstractCapability[Any]):
    """Each model request reserves its estimated cost first (``ctx.reserve_cost``), and runs
    on the cheaper model a ``downgrade`` budget names when that is what the budget allows."""

    ctx: RunContext = dataclasses.field(repr=False)

    async def before_model_request(self, ctx: Any, request_context: Any) -> Any:
        model = request_context.model
        settings = request_context.model_settings or {}
        # ~4 characters a token: an estimate of the prompt's size before it is sent.
        prompt_tokens = len(to_json(request_context.messages, fallback=repr)) // 4 + 1
        chosen = await self.ctx.reserve_cost(
            model, input_tokens=prompt_tokens, output_tokens=settings.get("max_tokens"),
            model_name=model.model_name)
        if chosen is model:
            return request_context
        return dataclasses.replace(
            request_context, model=chosen if isinstance(chosen, Model) else infer_model(chosen))


class PydanticAIAdapter(BaseAdapter):
    framework = "pydantic-ai"
    replay = "from_checkpoint"

    def __init__(self, agent: Agent[Any, Any], *, deps: Any = None,
                 deps_factory: Callable[[BaseModel, RunContext], Any] | None = None,
                 model: Any = None,
                 prompt: Callable[[BaseModel], str] | None = None) -> None:
        if not isinstance(agent, Agent):
            raise TypeError(f"PydanticAIAdapter wraps a pydantic_ai.Agent, got {type(agent)!r}")
        self.agent = agent
        self.deps = deps
        self.deps_factory = deps_factory
        self.model = model
        self.prompt = prompt or _text_of

    async def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Any]:
        state = ctx.state if isinstance(ctx.state, dict) else {}
        deps = self.deps_factory(input, ctx) if self.deps_factory else self.deps
        while True:  # one agent run per round of approvals
            output = await self._run(input, ctx, state, deps)
            if not isinstance(output, DeferredToolRequests):
                yield Output(output)
                return
            if output.calls:
                raise NotImplementedError(
                    "tools executed outside the agent (CallDeferred) are not supported yet")
            state = {"messages": state["messages"], "approvals": [
                {"tool_call_id": p.tool_call_id, "tool_name": p.tool_name,
                 "args": p.args_as_dict()} for p in output.approvals]}
            await ctx.checkpoint(state, {"stage": "approval"})
            # ``approve`` pauses the run on the first unanswered call; the run resumes from
            # the checkpoint above, and the answers given are kept.

    async def _run(self, input: BaseModel, ctx: RunContext, state: dict[str, Any],
                   deps: Any) -> Any:
        """One agent run (from the checkpointed conversation, with the approvals answered);
        ``state["messages"]`` is updated to the conversation at its end."""
        history = ModelMessagesTypeAdapter.validate_python(state["messages"]) \
            if state.get("messages") else None
        deferred = None
        if state.get("approvals"):
            deferred = DeferredToolResults(approvals={
                call["tool_call_id"]: await self._approval(ctx, call)
                for call in state["approvals"]})
        # The conversation the run resumed with is checkpointed already: only longer ones are
        # new (a replay must not record its starting point again).
        known = len(history or ())
        output_type = [self.agent.output_type, DeferredToolRequests]
        async with self.agent.iter(
                None if history is not None else self.prompt(input),
                message_history=history, deferred_tool_results=deferred,
                output_type=output_type, deps=deps, model=self.model,
                capabilities=[_Ledger(ctx=ctx), *([_Budget(ctx=ctx)] if ctx.guards_cost
                                                  else []),
                              *([_Observe(ctx=ctx)] if ctx.observed else [])]) as run:
            async for node in run:
                if Agent.is_model_request_node(node):
                    if any(getattr(p, "part_kind", "") == "tool-return"
                           for p in node.request.parts):
                        # After a tool step: its returns are in this request (checkpoint B).
                        await self._checkpoint(ctx, [*run.all_messages(), node.request],
                                               "tools", known)
                    await ctx.emit(ev.node_start("model_request"))
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            token = _token_of(event)
                            if token:
                                await ctx.token(token)
                    response = run.all_messages()[-1] if run.all_messages() else None
                    await ctx.emit(ev.node_end("model_request"))
                    if isinstance(response, ModelResponse):
                        cost = cost_event(response.usage, response.model_name,
                                          response.provider_name)
                        if cost is not None:
                            await ctx.emit(cost)
                elif Agent.is_call_tools_node(node):
                    if not any(isinstance(p, ToolCallPart) for p in node.model_response.parts):
                        continue  # the final answer: nothing to run
                    # The response with the tool calls, before they run (checkpoint A).
                    await self._checkpoint(ctx, run.all_messages(), "model", known)
                    await ctx.emit(ev.node_start("call_tools"))
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            if isinstance(event, FunctionToolCallEvent):
                                part = event.part
                                await ctx.emit(ev.tool_call(part.tool_name, part.args_as_dict(),
                                                            part.tool_call_id))
                            elif isinstance(event, FunctionToolResultEvent):
                                part = event.part
                                await ctx.emit(ev.tool_result(
                                    getattr(part, "tool_name", ""),
                                    getattr(part, "content", None),
                                    getattr(part, "tool_call_id", None)))
                    await ctx.emit(ev.node_end("call_tools"))
            result = run.result
        assert result is not None
        state["messages"] = _dump(result.all_messages())
        return result.output

    async def _approval(self, ctx: RunContext, call: dict[str, Any]) -> Any:
        approved = await ctx.approve(
            f"Approve {call['tool_name']}({_args(call['args'])})?",
            key=f"approve-{call['tool_call_id']}", details=call)
        if approved:
            return True
        return ToolDenied("The user denied this tool call.")

    @staticmethod
    async def _checkpoint(ctx: RunContext, messages: list[Any], stage: str, known: int
                          ) -> None:
        if len(messages) <= known:
            return
        await ctx.checkpoint({"messages": _dump(messages)}, {"stage": stage})


def _dump(messages: list[Any]) -> Any:
    return ModelMessagesTypeAdapter.dump_python(messages, mode="json")


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _token_of(event: Any) -> str:
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return ""


__all__ = ["PydanticAIAdapter"]
