"""LangChain runnables (``langchain-core`` 1.7) as fastagentic runs.

``@agent_endpoint("/ask", runnable=LangChainAdapter(chain))`` over a function whose signature
is the endpoint's input (its body is not called).  The runnable is not changed: tools found in
it are wrapped in a copy.

* **Events** (from ``astream_events(version="v2")``): chat model chunks → ``token`` (never the
  chains' own stream chunks, which repeat them); each top-level step → ``node_start`` /
  ``node_end``; tool runs → ``tool_call`` / ``tool_result`` with the tool call id; each chat
  model response's usage → ``cost`` (priced by genai-prices when it knows the model); each
  finished step of a sequence → ``checkpoint``.
* **Durability**: a ``RunnableSequence`` runs one step at a time; after each step its output
  is checkpointed (LangChain's serialization, restricted to messages, documents and prompt
  values), and a resumed run continues with the next step.  Any other runnable runs again from
  its start (this adapter's ``replay`` is then ``"from_start"``).
* **Exactly-once tools**: tools wrapped by :func:`ledger_tool` (the adapter wraps the tools
  that are parts of the runnable itself) go through the tool ledger by (run, step, tool call
  id): a call that completed is answered from the ledger when its step runs again.  Tools your
  own functions call must be wrapped by you (``lookup = ledger_tool(lookup)``).

Run ids and message ids that LangChain makes afresh on every execution are kept out of the
events, so a resumed step repeats the events its first attempt recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from ..core import events as ev
from ..core.context import RunContext, to_jsonable
from ..exceptions import MissingDependency
from .base import BaseAdapter, Output
from .pricing import langchain_cost_event

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
    from langchain_core.load import dumpd, load
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        HumanMessage,
        HumanMessageChunk,
        SystemMessage,
        SystemMessageChunk,
        ToolMessage,
        ToolMessageChunk,
    )
    from langchain_core.prompt_values import (
        ChatPromptValue,
        ChatPromptValueConcrete,
        PromptValue,
        StringPromptValue,
    )
    from langchain_core.runnables import Runnable, RunnablePassthrough, RunnableSequence
    from langchain_core.runnables.base import RunnableEachBase
    from langchain_core.tools import BaseTool, ToolException
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency("langchain-core (for LangChainAdapter)", "langchain") from exc

from .budget import with_budget  # noqa: E402 - after the framework check

#: What a checkpoint may restore: values, never runnables or models (their constructors could
#: reach the network).  Extend per adapter with ``serializable=``.
SERIALIZABLE: tuple[type, ...] = (
    AIMessage, AIMessageChunk, HumanMessage, HumanMessageChunk, SystemMessage,
    SystemMessageChunk, ToolMessage, ToolMessageChunk, Document, ChatPromptValue,
    ChatPromptValueConcrete, StringPromptValue,
)

_LEDGER_TAG = "fastagentic:ledger"
_ENDS = ("on_chain_end", "on_prompt_end", "on_parser_end", "on_retriever_end",
         "on_chat_model_end", "on_llm_end", "on_tool_end")
_STARTS = ("on_chain_start", "on_prompt_start", "on_parser_start", "on_retriever_start",
           "on_chat_model_start", "on_llm_start", "on_tool_start")


# the run in progress -------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    input: Any
    tool_call_id: str | None
    config: Any


@dataclass
class _Run:
    """One execution of the adapter's stream: what ledger-wrapped tools need from it."""

    ctx: RunContext
    loop: asyncio.AbstractEventLoop
    step: int | None = None
    calls: dict[uuid.UUID, _Call] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def ledger_key(self, name: str, call: _Call) -> str:
        """(step, tool call id) when the call has one; else (step, name, arguments, how many
        such calls came before in this step) — the same on every execution of the step."""
        step = "" if self.step is None else str(self.step)
        if call.tool_call_id:
            return f"langchain:{step}:{call.tool_call_id}"
        digest = hashlib.sha256(to_json(call.input, fallback=repr)).hexdigest()[:16]
        base = f"{step}:{name}-{digest}"
        self.counts[base] = self.counts.get(base, 0) + 1
        return f"langchain:{base}-{self.counts[base]}"


_current: contextvars.ContextVar[_Run | None] = contextvars.ContextVar(
    "fastagentic_langchain_run", default=None)


# exactly-once tools --------------------------------------------------------------------------


class _RecordedError(ToolException):
    """A tool call that completed with an error result (replayed as that result)."""


def _handle_recorded(error: ToolException) -> str:
    if isinstance(error, _RecordedError):
        return error.args[0]
    raise error


class LedgerTool(BaseTool):
    """``tool`` with its calls going through fastagentic's tool ledger inside a run.

    It has the tool's name, description and argument schema, so models and ``bind_tools`` see
    the same tool.  Outside a fastagentic run it just calls the tool."""

    tool: BaseTool

    def __init__(self, tool: BaseTool, **kwargs: Any) -> None:
        if not isinstance(tool, BaseTool):
            raise TypeError(f"ledger_tool wraps a langchain BaseTool, got {type(tool)!r}")
        super().__init__(
            tool=tool, name=tool.name, description=tool.description,
            args_schema=tool.args_schema, return_direct=tool.return_direct,
            response_format=tool.response_format, metadata=tool.metadata,
            extras=tool.extras, tags=[*(tool.tags or ()), _LEDGER_TAG],
            handle_tool_error=_handle_recorded, **kwargs)

    @property
    def tool_call_schema(self) -> Any:
        return self.tool.tool_call_schema

    def _to_args_and_kwargs(self, tool_input: Any, tool_call_id: str | None) -> Any:
        return (), {}  # the wrapped tool parses its input itself

    async def arun(self, tool_input: Any, *args: Any, run_id: uuid.UUID | None = None,
                   config: Any = None, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        run = _current.get()
        if run is None:
            return await self.tool.arun(tool_input, *args, run_id=run_id, config=config,
                                        tool_call_id=tool_call_id, **kwargs)
        run_id = run_id or uuid.uuid4()
        run.calls[run_id] = _Call(tool_input, tool_call_id, config)
        try:
            return await super().arun(tool_input, *args, run_id=run_id, config=config,
                                      tool_call_id=tool_call_id, **kwargs)
        finally:
            run.calls.pop(run_id, None)

    def run(self, tool_input: Any, *args: Any, run_id: uuid.UUID | None = None,
            config: Any = None, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        run = _current.get()
        if run is None:
            return self.tool.run(tool_input, *args, run_id=run_id, config=config,
                                 tool_call_id=tool_call_id, **kwargs)
        run_id = run_id or uuid.uuid4()
        run.calls[run_id] = _Call(tool_input, tool_call_id, config)
        try:
            return super().run(tool_input, *args, run_id=run_id, config=config,
                               tool_call_id=tool_call_id, **kwargs)
        finally:
            run.calls.pop(run_id, None)

    async def _arun(self, *, run_manager: Any = None) -> Any:
        run = _current.get()
        assert run is not None and run_manager is not None
        call = run.calls[run_manager.run_id]
        ran = False

        async def execute() -> dict[str, Any]:
            nonlocal ran
            ran = True
            return _record(await self.tool.arun(
                call.input, callbacks=run_manager.get_child(), config=call.config,
                tool_call_id=call.tool_call_id))

        recorded = await run.ctx.once(run.ledger_key(self.name, call), self.name, execute,
                                      arguments=call.input)
        if not ran:
            run.replayed.add(str(run_manager.run_id))
        return self._restore(recorded)

    def _run(self, *, run_manager: Any = None) -> Any:
        run = _current.get()
        assert run is not None and run_manager is not None
        if _on_a_loop():
            raise RuntimeError(f"{self.name}: call ledger tools with ainvoke in async code "
                               "(a blocking invoke on the event loop cannot reach the ledger)")
        call = run.calls[run_manager.run_id]
        ran = False

        def execute() -> dict[str, Any]:
            nonlocal ran
            ran = True
            return _record(self.tool.run(
                call.input, callbacks=run_manager.get_child(), config=call.config,
                tool_call_id=call.tool_call_id))

        key = run.ledger_key(self.name, call)
        recorded = asyncio.run_coroutine_threadsafe(
            run.ctx.once(key, self.name, lambda: asyncio.to_thread(execute),
                         arguments=call.input), run.loop).result()
        if not ran:
            run.replayed.add(str(run_manager.run_id))
        return self._restore(recorded)

    def _restore(self, recorded: dict[str, Any]) -> Any:
        if recorded.get("error"):
            raise _RecordedError(recorded["content"])
        if self.response_format == "content_and_artifact":
            return recorded["content"], recorded.get("artifact")
        return recorded["content"]


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _record(result: Any) -> dict[str, Any]:
    """A tool's result as the ledger keeps it (JSON)."""
    if isinstance(result, ToolMessage):
        record = {"content": to_jsonable(result.content)}
        if result.artifact is not None:
            record["artifact"] = to_jsonable(result.artifact)
        if result.status == "error":
            record["error"] = True
        return record
    return {"content": to_jsonable(result)}


def ledger_tool(tool: BaseTool) -> LedgerTool:
    """``tool``, its calls made exactly once per tool call id inside a fastagentic run (a call
    that completed is answered from the ledger when its step runs again)."""
    return tool if isinstance(tool, LedgerTool) else LedgerTool(tool)


def ledger_tools(tools: Iterable[BaseTool]) -> list[LedgerTool]:
    """:func:`ledger_tool` of each tool."""
    return [ledger_tool(t) for t in tools]


def _with_ledger(runnable: Any, seen: set[int] | None = None) -> Any:
    """A copy of ``runnable`` whose tools (its parts that are BaseTools, at any depth of
    sequences, parallels, bindings, ``.map()``, fallbacks) are ledger-wrapped; the runnable
    itself when it has none.  Tools called from inside functions are not reachable."""
    seen = seen if seen is not None else set()
    if isinstance(runnable, BaseTool):
        return ledger_tool(runnable)
    if not isinstance(runnable, BaseModel) or id(runnable) in seen:
        return runnable
    seen.add(id(runnable))
    changes: dict[str, Any] = {}
    for name in type(runnable).model_fields:
        value = getattr(runnable, name, None)
        if isinstance(value, Runnable):
            new = _with_ledger(value, seen)
        elif isinstance(value, list) and any(isinstance(v, Runnable) for v in value):
            new = [_with_ledger(v, seen) for v in value]
            new = value if all(a is b for a, b in zip(new, value, strict=True)) else new
        elif isinstance(value, dict) and any(isinstance(v, Runnable) for v in value.values()):
            new = {k: _with_ledger(v, seen) for k, v in value.items()}
            new = value if all(new[k] is v for k, v in value.items()) else new
        else:
            continue
        if new is not value:
            changes[name] = new
    return runnable.model_copy(update=changes) if changes else runnable


class _ToolStarts(BaseCallbackHandler):
    """Records each tool run's call id and raw input: ``astream_events`` leaves them out of
    ``on_tool_start``.  Called inline, before the event reaches the stream."""

    run_inline = True
    ignore_llm = ignore_chain = ignore_retriever = ignore_chat_model = True
    ignore_retry = ignore_custom_event = True

    def __init__(self) -> None:
        self.starts: dict[str, tuple[str | None, str]] = {}

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: uuid.UUID,
                      tool_call_id: str | None = None, **kwargs: Any) -> None:
        self.starts[str(run_id)] = (tool_call_id, input_str)


# the adapter ---------------------------------------------------------------------------------


class LangChainAdapter(BaseAdapter):
    """Runs a LangChain runnable (any ``Runnable``: an LCEL chain, a chat model, a retriever...).

    ``input`` maps the endpoint's validated input to the runnable's input (default: the
    input's one text field when it has exactly one field, else the input as a dict);
    ``output`` maps the runnable's output to the run's output (default: a message's text, a
    string, or the value as JSON).  ``config`` is passed to every execution (tags, metadata,
    callbacks, ``configurable``); ``serializable`` adds LangChain ``Serializable`` classes that
    checkpoints may restore.
    """

    framework = "langchain"

    def __init__(self, runnable: Any, *,
                 input: Callable[[BaseModel], Any] | None = None,
                 output: Callable[[Any], Any] | None = None,
                 config: Mapping[str, Any] | None = None,
                 serializable: Iterable[type] = ()) -> None:
        if not isinstance(runnable, Runnable):
            raise TypeError(f"LangChainAdapter wraps a langchain Runnable, got {type(runnable)!r}")
        self.runnable = _with_ledger(runnable)
        self.input = input
        self.output = output
        self.config = dict(config or {})
        self.serializable = (*SERIALIZABLE, *serializable)
        #: The top-level steps (checkpointed one by one), or None: runs as one piece.
        self.steps: list[Any] | None = list(self.runnable.steps) \
            if isinstance(self.runnable, RunnableSequence) else None
        self.replay = "from_checkpoint" if self.steps is not None else "from_start"

    def _input(self, input: BaseModel) -> Any:
        if self.input is not None:
            return self.input(input)
        data = input.model_dump(mode="json")
        if len(data) == 1:
            (value,) = data.values()
            if isinstance(value, str):
                return value
        return data

    def _output(self, value: Any) -> Any:
        if self.output is not None:
            return self.output(value)
        if isinstance(value, BaseMessage):
            return str(value.text)
        if isinstance(value, str):
            return str(value)  # (a TextAccessor is a str subclass)
        return event_json(value)

    async def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Any]:
        run = _Run(ctx, asyncio.get_running_loop())
        token = _current.set(run)
        try:
            if self.steps is None:
                value = await self._execute(self.runnable, self._input(input), run, None)
                yield Output(self._output(value))
                return
            state = ctx.state if isinstance(ctx.state, dict) else None
            if state is not None:
                start, value = int(state["next"]), self._load(state["value"])
            else:
                start, value = 0, self._input(input)
            for index in range(start, len(self.steps)):
                run.step, run.counts = index, {}
                value = await self._execute(self.steps[index], value, run, index)
                await self._checkpoint(ctx, index, value)
            yield Output(self._output(value))
        finally:
            _current.reset(token)

    async def _checkpoint(self, ctx: RunContext, index: int, value: Any) -> None:
        dumped = self._dump(value)
        if dumped is None:
            return  # not restorable: a resumed run starts from the checkpoint before
        await ctx.checkpoint({"next": index + 1, "value": dumped},
                             {"stage": "step", "step": index,
                              "node": self.steps[index].get_name()})  # type: ignore[index]

    def _dump(self, value: Any) -> Any:
        if isinstance(value, str):
            return str(value)
        try:
            dumped = dumpd(value)
            self._load(dumped)  # what cannot come back is not checkpointed
        except (ValueError, TypeError, KeyError, ImportError):
            return None
        return dumped

    def _load(self, dumped: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ``load`` is marked beta
            return load(dumped, allowed_objects=self.serializable)

    def _config(self, step: int | None) -> dict[str, Any]:
        config = dict(self.config)
        if step is not None:
            config["tags"] = [*config.get("tags", ()), f"seq:step:{step + 1}"]
        return config

    async def _execute(self, runnable: Any, value: Any, run: _Run, step: int | None) -> Any:
        """One ``astream_events`` of ``runnable`` (a step, or the whole runnable), its events
        mapped; returns the runnable's output."""
        ctx = run.ctx
        starts = _ToolStarts()
        config = self._config(step)
        callbacks = config.get("callbacks")
        if callbacks is None or isinstance(callbacks, list | tuple):
            config["callbacks"] = [*(callbacks or ()), starts]
        else:  # a callback manager: add ours to a copy
            manager = callbacks.copy()
            manager.add_handler(starts, inherit=True)
            config["callbacks"] = manager
        config = with_budget(config, ctx)
        step_name = runnable.get_name() if step is not None else None
        step_delta = {"node": step_name, "step": step}
        children: dict[str, str] = {}  # top-level runs (whole runnables) → their names
        indexes: dict[str, int] = {}
        ledger_runs: set[str] = set()
        call_ids: dict[str, str] = {}
        counts: dict[str, int] = {}
        output: Any = None
        finished = False
        if isinstance(runnable, RunnableEachBase):
            # (``.map()`` has no ``astream_events`` of its own: run it inside a sequence.)
            runnable = RunnableSequence(runnable, RunnablePassthrough())
        stream = runnable.astream_events(value, config, version="v2")
        async with contextlib.aclosing(stream):
            async for event in stream:
                kind = event["event"]
                parents = event["parent_ids"]
                if kind == "on_chat_model_stream" or kind == "on_llm_stream":
                    text = event["data"]["chunk"].text
                    if text:
                        if step is not None:
                            delta = step_delta
                        elif len(parents) > 1:
                            delta = {"node": children.get(parents[1])}
                        elif parents:
                            delta = {"node": event["name"]}
                        else:
                            delta = {}
                        await ctx.emit(ev.token(str(text), delta))
                    continue
                data = event["data"]
                top = step is None and len(parents) == 1  # a child of the whole runnable
                root = not parents  # a step of a sequence, or the whole runnable
                if kind in _STARTS:
                    if root and step is not None:
                        await ctx.emit(ev.node_start(step_name, step=step))
                    elif top:
                        index = indexes[event["run_id"]] = len(indexes)
                        children[event["run_id"]] = event["name"]
                        await ctx.emit(ev.node_start(event["name"], index=index))
                # What a run did is reported before its end (a node's end comes last).
                if kind == "on_chat_model_end":
                    cost = langchain_cost_event(data.get("output"), event["metadata"])
                    if cost is not None:
                        await ctx.emit(cost)
                elif kind.startswith("on_tool_"):
                    await self._tool_event(ctx, run, event, starts, ledger_runs, call_ids,
                                           counts)
                if kind in _ENDS:
                    if root:
                        output, finished = data.get("output"), True
                        if step is not None:
                            await ctx.emit(ev.node_end(step_name, event_json(output),
                                                       step=step))
                    elif top:
                        await ctx.emit(ev.node_end(event["name"], event_json(data.get("output")),
                                                   index=indexes.get(event["run_id"])))
        if not finished:
            raise RuntimeError(f"{runnable.get_name()} ended without an output")
        return output

    @staticmethod
    async def _tool_event(ctx: RunContext, run: _Run, event: Any, starts: _ToolStarts,
                          ledger_runs: set[str], call_ids: dict[str, str],
                          counts: dict[str, int]) -> None:
        run_id, kind, name = event["run_id"], event["event"], event["name"]
        if any(parent in ledger_runs for parent in event["parent_ids"]):
            return  # the wrapped tool inside a ledger wrapper: the wrapper reports the call
        if kind == "on_tool_start":
            if _LEDGER_TAG in event["tags"]:
                ledger_runs.add(run_id)
            call_id, input_str = starts.starts.pop(run_id, (None, ""))
            if not call_id:
                # No tool call id: a name that is the same on every execution (LangChain's run
                # ids are not).
                counts[name] = counts.get(name, 0) + 1
                prefix = "" if run.step is None else f"step{run.step}."
                call_id = f"{prefix}{name}#{counts[name]}"
            call_ids[run_id] = call_id
            args = event["data"].get("input") or {}
            if not args and input_str:
                args = {"input": input_str}
            await ctx.emit(ev.tool_call(name, event_json(args), call_id))
            return
        call_id = call_ids.pop(run_id, None)
        ledger_runs.discard(run_id)
        extra: dict[str, Any] = {"replayed": True} if run_id in run.replayed else {}
        run.replayed.discard(run_id)
        if kind == "on_tool_error":
            extra["error"] = {"message": str(event["data"].get("error"))}
            await ctx.emit(ev.tool_result(name, None, call_id, **extra))
            return
        result = event["data"].get("output")
        if isinstance(result, ToolMessage):
            call_id = call_id or result.tool_call_id
            if result.status == "error":
                extra["error"] = {"message": str(result.content)}
            result = result.content
        await ctx.emit(ev.tool_result(name, event_json(result), call_id, **extra))


def event_json(value: Any) -> Any:
    """LangChain values as JSON for events (also LangGraph's state): messages without their
    ids (new on every execution), documents as text and metadata, prompt values as their
    messages."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, BaseMessage):
        data: dict[str, Any] = {"type": value.type, "content": event_json(value.content)}
        for name in ("name", "tool_calls", "tool_call_id", "status"):
            item = getattr(value, name, None)
            if item:
                data[name] = to_jsonable(item)
        return data
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": to_jsonable(value.metadata)}
    if isinstance(value, ChatPromptValue):
        return [event_json(m) for m in value.messages]
    if isinstance(value, PromptValue):
        return value.to_string()
    if isinstance(value, dict):
        return {str(k): event_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [event_json(v) for v in value]
    return to_jsonable(value)


__all__ = ["SERIALIZABLE", "LangChainAdapter", "LedgerTool", "ledger_tool", "ledger_tools"]
