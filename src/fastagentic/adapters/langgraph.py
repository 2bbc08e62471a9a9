"""LangGraph graphs (``langgraph`` 1.2) as fastagentic runs.

``@agent_endpoint("/flow", runnable=LangGraphAdapter(builder_or_graph))`` over a function whose
signature is the endpoint's input.  The graph is not changed by the user: the adapter compiles
it (or re-compiles a compiled graph) with a checkpoint saver on fastagentic's store.

* **Events**: every task → ``node_start``/``node_end`` (with the task id and, inside a
  subgraph, its ``namespace``); chat model chunks → ``token``; ToolNode calls →
  ``tool_call``/``tool_result`` with the model's tool call ids; each model response's usage →
  ``cost`` (priced by genai-prices when it knows the model); each super-step → ``checkpoint``.
* **Durability**: LangGraph's own checkpoints (every super-step, plus the writes of each
  finished task) are kept in the store by :class:`StoreSaver`; a resumed run continues from
  the last super-step the run's event log recorded.
* **Interrupts**: ``interrupt(value)`` pauses the run (``input_required``, one question per
  interrupt); the answers resume the graph with ``Command(resume=...)``.
* **Exactly-once tools**: calls executed by a ``ToolNode`` go through the tool ledger by
  (run, tool call id); a call that completed before a crash is answered from the ledger.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from ..core import events as ev
from ..core.context import RunContext
from ..exceptions import MissingDependency
from .base import BaseAdapter, Output
from .pricing import langchain_cost_event

try:
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ToolMessage,
        message_to_dict,
        messages_from_dict,
    )
    from langgraph.checkpoint.base import (
        WRITES_IDX_MAP,
        BaseCheckpointSaver,
        ChannelVersions,
        CheckpointMetadata,
        CheckpointTuple,
        get_checkpoint_id,
        get_checkpoint_metadata,
    )
    from langgraph.checkpoint.base import Checkpoint as GraphCheckpoint
    from langgraph.config import get_stream_writer
    from langgraph.graph.state import CompiledStateGraph, StateGraph
    from langgraph.prebuilt import ToolNode
    from langgraph.types import Command

    from .langchain import event_json
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency(
        'LangGraphAdapter needs LangGraph: pip install "fastagentic[langgraph]"') from exc

from .budget import with_budget  # noqa: E402 - after the framework check

# kv namespaces of the saver: checkpoints, channel values (one per channel version) and the
# writes of finished tasks.  Keys start with the thread id, then the checkpoint namespace.
_CHECKPOINTS = "langgraph.checkpoints"
_BLOBS = "langgraph.blobs"
_WRITES = "langgraph.writes"
_SEP = "\x1f"
# Marks custom stream items the ledger wrapper writes (tool calls, in stream order).
_MARKER = "__fastagentic__"

_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "fastagentic_langgraph_run", default=None)


def _key(*parts: str) -> str:
    return _SEP.join(parts)


class StoreSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpoint saver on fastagentic's store (any backend).

    Checkpoints, channel values and pending writes are small documents in the store's
    key-value space.  Each record carries a *mark* (increasing in the order records were
    written), so a run can be rewound to the records that existed when its event log last
    recorded a checkpoint (:meth:`arewind`).
    """

    def __init__(self, store: Any, *, serde: Any = None) -> None:
        super().__init__(serde=serde)
        self.store = store
        self._last_mark = 0
        # Checkpoints persisted by this process, for threads whose runs execute here.
        self._watched: dict[str, dict[str, asyncio.Future[int]]] = {}

    # marks

    def _mark(self) -> int:
        self._last_mark = max(time.time_ns(), self._last_mark + 1)
        return self._last_mark

    def watch(self, thread_id: str) -> None:
        """Remember when this thread's root checkpoints are persisted (:meth:`persisted`)."""
        self._watched.setdefault(thread_id, {})

    def unwatch(self, thread_id: str) -> None:
        self._watched.pop(thread_id, None)

    def _future(self, thread_id: str, checkpoint_id: str) -> asyncio.Future[int] | None:
        watched = self._watched.get(thread_id)
        if watched is None:
            return None
        future = watched.get(checkpoint_id)
        if future is None:
            future = watched[checkpoint_id] = asyncio.get_running_loop().create_future()
        return future

    async def persisted(self, thread_id: str, checkpoint_id: str, timeout: float = 60.0) -> int:
        """Wait until the root checkpoint ``checkpoint_id`` is in the store; returns its mark.

        LangGraph announces a checkpoint on its stream before its background write has
        finished: the run's own checkpoint must not get ahead of the graph's."""
        future = self._future(thread_id, checkpoint_id)
        if future is not None:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        doc = await self.store.kv_get(_CHECKPOINTS, _key(thread_id, "", checkpoint_id))
        if doc is None:
            raise LookupError(f"checkpoint {checkpoint_id} of thread {thread_id} is not stored")
        return int(doc["mark"])

    def last_mark(self) -> int:
        return self._last_mark

    async def arewind(self, thread_id: str, mark: int | None) -> int:
        """Delete the thread's records written after ``mark`` (all of them for None): what an
        attempt wrote after the run's last recorded checkpoint.  Returns how many went."""
        removed = 0
        highest = 0
        for namespace in (_CHECKPOINTS, _BLOBS, _WRITES):
            if mark is None:
                removed += await self.store.kv_delete_prefix(namespace, thread_id + _SEP)
                continue
            for key, doc in await self.store.kv_list(namespace, thread_id + _SEP):
                if int(doc["mark"]) > mark:
                    removed += await self.store.kv_delete(namespace, key)
                else:
                    highest = max(highest, int(doc["mark"]))
        # Records written from now on sort after every record kept (even if this machine's
        # clock is behind the one that wrote them).
        self._last_mark = max(self._last_mark, highest)
        watched = self._watched.get(thread_id)
        if watched is not None:
            watched.clear()
        return removed

    # serialization

    def _dump(self, value: Any) -> list[str]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, base64.b64encode(data).decode("ascii")]

    def _load(self, typed: list[str]) -> Any:
        return self.serde.loads_typed((typed[0], base64.b64decode(typed[1])))

    # reading

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            doc = await self.store.kv_get(_CHECKPOINTS, _key(thread_id, ns, checkpoint_id))
        else:
            latest = await self.store.kv_list(_CHECKPOINTS, _key(thread_id, ns, ""), limit=1,
                                              reverse=True)
            doc = latest[0][1] if latest else None
        if doc is None:
            return None
        return await self._tuple(thread_id, ns, doc)

    async def _tuple(self, thread_id: str, ns: str, doc: dict[str, Any]) -> CheckpointTuple:
        checkpoint_id = doc["id"]
        checkpoint = self._load(doc["checkpoint"])
        values = {}
        for channel, version in checkpoint["channel_versions"].items():
            blob = await self.store.kv_get(_BLOBS, _key(thread_id, ns, channel, str(version)))
            if blob is not None and blob["value"] is not None:
                values[channel] = self._load(blob["value"])
        checkpoint["channel_values"] = values
        writes = await self.store.kv_list(_WRITES, _key(thread_id, ns, checkpoint_id, ""))
        pending = [w for _, w in writes]
        pending.sort(key=lambda w: (w["task_path"], w["task_id"], w["idx"]))
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=self._load(doc["metadata"]),
            parent_config=_config(thread_id, ns, doc["parent"]) if doc["parent"] else None,
            pending_writes=[(w["task_id"], w["channel"], self._load(w["value"]))
                            for w in pending],
        )

    async def alist(self, config: Any, *, filter: dict[str, Any] | None = None,
                    before: Any = None, limit: int | None = None
                    ) -> AsyncIterator[CheckpointTuple]:
        if config is not None:
            thread_id = str(config["configurable"]["thread_id"])
            ns = config["configurable"].get("checkpoint_ns")
            prefix = _key(thread_id, ns, "") if ns is not None else thread_id + _SEP
            wanted_id = get_checkpoint_id(config)
        else:
            prefix, wanted_id = "", None
        before_id = get_checkpoint_id(before) if before else None
        docs = [doc for _, doc in await self.store.kv_list(_CHECKPOINTS, prefix)]
        docs.sort(key=lambda d: d["id"], reverse=True)  # newest first, across namespaces
        for doc in docs:
            if wanted_id and doc["id"] != wanted_id:
                continue
            if before_id and doc["id"] >= before_id:
                continue
            if filter:
                metadata = self._load(doc["metadata"])
                if not all(metadata.get(k) == v for k, v in filter.items()):
                    continue
            if limit is not None:
                if limit <= 0:
                    return
                limit -= 1
            yield await self._tuple(doc["thread_id"], doc["ns"], doc)

    # writing

    async def aput(self, config: Any, checkpoint: GraphCheckpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> Any:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        stored = dict(checkpoint)
        values = stored.pop("channel_values", {}) or {}
        mark = self._mark()
        for channel, version in new_versions.items():
            value = self._dump(values[channel]) if channel in values else None
            await self.store.kv_put(_BLOBS, _key(thread_id, ns, channel, str(version)),
                                    {"value": value, "mark": mark})
        await self.store.kv_put(_CHECKPOINTS, _key(thread_id, ns, checkpoint["id"]), {
            "id": checkpoint["id"], "thread_id": thread_id, "ns": ns,
            "parent": configurable.get("checkpoint_id"),
            "checkpoint": self._dump(stored),
            "metadata": self._dump(get_checkpoint_metadata(config, metadata)),
            "mark": mark,
        })
        if ns == "":
            future = self._future(thread_id, checkpoint["id"])
            if future is not None and not future.done():
                future.set_result(mark)
        return _config(thread_id, ns, checkpoint["id"])

    async def aput_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = configurable["checkpoint_id"]
        mark = self._mark()
        for index, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, index)
            key = _key(thread_id, ns, checkpoint_id, task_id, f"{idx:+012d}")
            # Special channels (errors, interrupts, resume values) are replaced; a task's
            # regular writes are kept as first written.
            if idx >= 0 and await self.store.kv_get(_WRITES, key) is not None:
                continue
            await self.store.kv_put(_WRITES, key, {
                "task_id": task_id, "task_path": task_path, "idx": idx, "channel": channel,
                "value": self._dump(value), "mark": mark})

    async def adelete_thread(self, thread_id: str) -> None:
        for namespace in (_CHECKPOINTS, _BLOBS, _WRITES):
            await self.store.kv_delete_prefix(namespace, str(thread_id) + _SEP)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        source, target = str(source_thread_id) + _SEP, str(target_thread_id) + _SEP
        for namespace in (_CHECKPOINTS, _BLOBS, _WRITES):
            for key, doc in await self.store.kv_list(namespace, source):
                if namespace == _CHECKPOINTS:
                    doc = {**doc, "thread_id": str(target_thread_id)}
                await self.store.kv_put(namespace, target + key[len(source):], doc)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: each namespace of each thread keeps only its latest checkpoint
        (with its channel values and writes); ``delete``: the threads are removed."""
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}")
        for thread_id in thread_ids:
            prefix = str(thread_id) + _SEP
            if strategy == "delete":
                await self.adelete_thread(thread_id)
                continue
            latest: dict[str, dict[str, Any]] = {}
            for _, doc in await self.store.kv_list(_CHECKPOINTS, prefix):
                if doc["ns"] not in latest or doc["id"] > latest[doc["ns"]]["id"]:
                    latest[doc["ns"]] = doc
            keep = {_key(str(thread_id), ns, doc["id"]) for ns, doc in latest.items()}
            blobs = {_key(str(thread_id), ns, channel, str(version))
                     for ns, doc in latest.items()
                     for channel, version in self._load(doc["checkpoint"])
                     ["channel_versions"].items()}
            for key, _ in await self.store.kv_list(_CHECKPOINTS, prefix):
                if key not in keep:
                    await self.store.kv_delete(_CHECKPOINTS, key)
            for key, _ in await self.store.kv_list(_BLOBS, prefix):
                if key not in blobs:
                    await self.store.kv_delete(_BLOBS, key)
            for key, _ in await self.store.kv_list(_WRITES, prefix):
                if _SEP.join(key.split(_SEP)[:3]) not in keep:
                    await self.store.kv_delete(_WRITES, key)

    def get_next_version(self, current: str | None, channel: None) -> str:
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{time.time_ns():020}"

    # The sync API is not supported: graphs under fastagentic run on the event loop.

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        raise NotImplementedError("StoreSaver is asynchronous: use aget_tuple / aget_state")

    def list(self, config: Any, **kwargs: Any) -> Iterator[CheckpointTuple]:
        raise NotImplementedError("StoreSaver is asynchronous: use alist / aget_state_history")

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        raise NotImplementedError("StoreSaver is asynchronous: use astream / ainvoke")

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        raise NotImplementedError("StoreSaver is asynchronous: use astream / ainvoke")


def _config(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                             "checkpoint_id": checkpoint_id}}


# exactly-once tool calls ---------------------------------------------------------------------


async def ledger_tool_call(request: Any, execute: Callable[[Any], Any]) -> Any:
    """A ``ToolNode(awrap_tool_call=...)`` wrapper: inside a fastagentic run, the call goes
    through the tool ledger by its tool call id (a call completed before a crash is answered
    from the ledger) and is reported as ``tool_call``/``tool_result``.  Outside a run it just
    calls the tool.  :class:`LangGraphAdapter` installs it on the graph's ToolNodes itself."""
    return await _through_ledger(request, execute, None)


async def _through_ledger(request: Any, execute: Callable[[Any], Any],
                          inner: Callable[..., Any] | None) -> Any:
    ctx = _current.get()

    async def run() -> Any:
        return await (inner(request, execute) if inner is not None else execute(request))

    if ctx is None:
        return await run()
    call = request.tool_call
    name, call_id = call["name"], call.get("id") or ""
    write = get_stream_writer()
    write({_MARKER: ev.TOOL_CALL, "tool": name, "args": call.get("args") or {},
           "call_id": call_id})
    ran = False

    async def once() -> Any:
        nonlocal ran
        ran = True
        return _dump_tool_result(await run())

    recorded = await ctx.once(f"langgraph:{call_id}", name, once,
                              arguments=call.get("args") or {})
    result = _load_tool_result(recorded)
    output = result.content if isinstance(result, ToolMessage) else recorded
    extra = {"replayed": True} if not ran else {}
    if isinstance(result, ToolMessage) and result.status == "error":
        extra["error"] = {"message": str(result.content)}
    write({_MARKER: ev.TOOL_RESULT, "tool": name, "output": output, "call_id": call_id,
           **extra})
    return result


def _dump_tool_result(result: Any) -> dict[str, Any]:
    if isinstance(result, ToolMessage):
        return {"message": message_to_dict(result)}
    kind, data = _SERDE.dumps_typed(result)  # a Command, or anything else a tool returns
    return {"typed": [kind, base64.b64encode(data).decode("ascii")]}


def _load_tool_result(recorded: dict[str, Any]) -> Any:
    if "message" in recorded:
        return messages_from_dict([recorded["message"]])[0]
    kind, data = recorded["typed"]
    return _SERDE.loads_typed((kind, base64.b64decode(data)))


def _serde() -> Any:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer()


_SERDE = _serde()


def _install_ledger(graph: Any, seen: set[int] | None = None) -> int:
    """Route every ToolNode of ``graph`` (and of its subgraphs) through the tool ledger;
    returns how many were found.  A wrapper the user gave the ToolNode still runs, inside."""
    seen = seen if seen is not None else set()
    if id(graph) in seen:
        return 0
    seen.add(id(graph))
    count = 0
    for node in getattr(graph, "nodes", {}).values():
        bound = getattr(node, "bound", None)
        if isinstance(bound, ToolNode):
            if not hasattr(bound, "_awrap_tool_call"):  # pragma: no cover - a future langgraph
                raise MissingDependency(
                    "this langgraph version's ToolNode cannot be wrapped; pin langgraph<1.3 or "
                    "pass ToolNode(awrap_tool_call=fastagentic.adapters.langgraph."
                    "ledger_tool_call)")
            inner = bound._awrap_tool_call
            if inner is not ledger_tool_call and not getattr(inner, "_fastagentic", False):
                async def wrapper(request: Any, execute: Any, _inner: Any = inner) -> Any:
                    return await _through_ledger(request, execute, _inner)

                wrapper._fastagentic = True  # type: ignore[attr-defined]
                bound._awrap_tool_call = wrapper
            count += 1
        elif isinstance(bound, CompiledStateGraph):
            count += _install_ledger(bound, seen)
    return count


# the adapter ---------------------------------------------------------------------------------


class LangGraphAdapter(BaseAdapter):
    """Runs a LangGraph graph: a ``StateGraph`` (compiled here) or a compiled graph (compiled
    again from its builder with the store's saver, so the user's object is left as it is).

    ``input`` maps the endpoint's validated input to the graph's input (default: a graph with
    a ``messages`` channel gets the input's one text field as a user message, others the input
    as a dict); ``output`` maps the final state to the run's output (default: the last AI
    message's text when there are messages, else the state).
    """

    framework = "langgraph"
    replay = "from_checkpoint"

    def __init__(self, graph: Any, *,
                 input: Callable[[BaseModel], Any] | None = None,
                 output: Callable[[dict[str, Any]], Any] | None = None,
                 context: Callable[[BaseModel, RunContext], Any] | None = None,
                 config: dict[str, Any] | None = None,
                 recursion_limit: int = 50) -> None:
        if isinstance(graph, CompiledStateGraph):
            self.builder: StateGraph = graph.builder
            self._compile_options = {
                "interrupt_before": graph.interrupt_before_nodes or None,
                "interrupt_after": graph.interrupt_after_nodes or None,
                "name": graph.name,
            }
        elif isinstance(graph, StateGraph):
            self.builder = graph
            self._compile_options = {}
        else:
            raise TypeError(
                f"LangGraphAdapter wraps a langgraph StateGraph or compiled graph, got "
                f"{type(graph)!r}")
        self.input = input
        self.output = output
        self.context = context
        self.config = dict(config or {})
        self.recursion_limit = recursion_limit
        self._graphs: dict[int, tuple[Any, StoreSaver]] = {}

    def graph_for(self, store: Any) -> tuple[Any, StoreSaver]:
        """The graph compiled with a saver on ``store`` (one per store)."""
        cached = self._graphs.get(id(store))
        if cached is None or cached[1].store is not store:
            saver = StoreSaver(store)
            graph = self.builder.compile(checkpointer=saver, **self._compile_options)
            _install_ledger(graph)
            cached = self._graphs[id(store)] = (graph, saver)
        return cached

    def _graph_input(self, input: BaseModel, graph: Any) -> Any:
        if self.input is not None:
            return self.input(input)
        data = input.model_dump(mode="json")
        if "messages" in graph.builder.channels and "messages" not in data:
            texts = [v for v in data.values() if isinstance(v, str)]
            text = texts[0] if len(data) == 1 and texts else input.model_dump_json()
            return {"messages": [{"role": "user", "content": text}]}
        return data

    def _output(self, values: dict[str, Any]) -> Any:
        if self.output is not None:
            return self.output(values)
        messages = values.get("messages") if isinstance(values, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[-1], AIMessage):
            return messages[-1].text
        return event_json(values)

    async def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Any]:
        graph, saver = self.graph_for(ctx.store)
        thread = ctx.run_id
        config = {**self.config, "recursion_limit": self.recursion_limit,
                  "configurable": {**(self.config.get("configurable") or {}),
                                   "thread_id": thread}}
        state = ctx.state if isinstance(ctx.state, dict) else None
        saver.watch(thread)
        token = _current.set(ctx)
        try:
            # Back to what the event log recorded: a later attempt's records are dropped, so
            # the graph re-runs (and re-reports) exactly what the log does not hold.
            await saver.arewind(thread, state["mark"] if state else None)
            graph_input: Any = self._graph_input(input, graph) if state is None else None
            pending = state.get("interrupts") if state else None
            current = state["checkpoint_id"] if state else None
            kwargs: dict[str, Any] = {}
            if self.context is not None:
                kwargs["context"] = self.context(input, ctx)
            while True:
                if pending:
                    graph_input = Command(resume={
                        item["id"]: await self._answer(ctx, item) for item in pending})
                current = await self._run(graph, saver, graph_input, config, ctx, current,
                                          kwargs)
                snapshot = await graph.aget_state(config)
                if not snapshot.interrupts:
                    yield Output(self._output(snapshot.values))
                    return
                pending = [{"id": i.id, "value": event_json(i.value),
                            "schema": _schema(getattr(i, "response_schema", None))}
                           for i in snapshot.interrupts]
                current = snapshot.config["configurable"]["checkpoint_id"]
                await ctx.checkpoint(
                    {"checkpoint_id": current, "mark": saver.last_mark(),
                     "interrupts": pending},
                    {"stage": "interrupt", "interrupts": [i["id"] for i in pending]})
        finally:
            _current.reset(token)
            saver.unwatch(thread)

    async def _run(self, graph: Any, saver: StoreSaver, graph_input: Any, config: Any,
                   ctx: RunContext, current: str | None, kwargs: dict[str, Any]) -> str | None:
        """One ``astream`` of the graph, its stream mapped to events; returns the last root
        checkpoint."""
        announced: set[str] = set()  # tool calls the ledger wrapper reports itself
        async for part in graph.astream(
                graph_input, with_budget(config, ctx), stream_mode=["tasks", "messages", "custom", "checkpoints"],
                subgraphs=True, version="v2", durability="sync", **kwargs):
            kind, ns, data = part["type"], part["ns"], part["data"]
            if kind == "messages":
                message, metadata = data
                if type(message) is AIMessageChunk and not ns and not message.usage_metadata \
                        and isinstance(message.content, str):
                    # The hot path: a root graph's text chunk.
                    if message.content:
                        await ctx.emit(ev.Event(ev.TOKEN, {
                            "content": message.content,
                            "delta": {"node": metadata.get("langgraph_node")}}))
                    continue
                await self._message(ctx, ns, message, metadata, announced)
            elif kind == "tasks":
                namespace = _namespace(ns)
                extra = {"task_id": data["id"], **({"namespace": namespace} if namespace else {})}
                if "result" in data:
                    if data.get("error"):
                        extra["error"] = {"message": str(data["error"])}
                    if data.get("interrupts"):
                        extra["interrupts"] = [i["id"] for i in data["interrupts"]]
                    await ctx.emit(ev.node_end(data["name"], event_json(data["result"]),
                                               **extra))
                else:
                    await ctx.emit(ev.node_start(data["name"], **extra))
            elif kind == "custom":
                if isinstance(data, dict) and data.get(_MARKER):
                    payload = {k: v for k, v in data.items() if k != _MARKER}
                    announced.add(payload.get("call_id") or "")
                    await ctx.emit(ev.Event(data[_MARKER], event_json(payload)))
            elif kind == "checkpoints" and not ns:
                checkpoint_id = data["config"]["configurable"]["checkpoint_id"]
                if checkpoint_id == current:
                    continue  # the checkpoint the graph resumed from
                current = checkpoint_id
                metadata = data.get("metadata") or {}
                if metadata.get("source") == "input":
                    continue  # the input alone: a run that stops here starts over
                mark = await saver.persisted(ctx.run_id, checkpoint_id)
                await ctx.checkpoint(
                    {"checkpoint_id": checkpoint_id, "mark": mark},
                    {"stage": "step", "step": metadata.get("step"),
                     "next": list(data.get("next") or [])})
        return current

    async def _message(self, ctx: RunContext, ns: tuple[str, ...], message: BaseMessage,
                       metadata: dict[str, Any], announced: set[str]) -> None:
        if isinstance(message, ToolMessage):
            # A tool run outside a ToolNode (the ledger wrapper did not report it).
            if message.tool_call_id not in announced:
                extra = {"error": {"message": str(message.content)}} \
                    if message.status == "error" else {}
                await ctx.emit(ev.tool_result(message.name or "", event_json(message.content),
                                              message.tool_call_id, **extra))
            return
        if isinstance(message, AIMessage | AIMessageChunk):
            text = message.text
            if text:
                delta = {"node": metadata.get("langgraph_node")}
                namespace = _namespace(ns)
                if namespace:
                    delta["namespace"] = namespace
                await ctx.emit(ev.token(text, delta))
            cost = langchain_cost_event(message, metadata)
            if cost is not None:
                await ctx.emit(cost)

    @staticmethod
    async def _answer(ctx: RunContext, item: dict[str, Any]) -> Any:
        value = item["value"]
        return await ctx.ask(_prompt(value), key=f"interrupt-{item['id']}",
                             schema=item.get("schema"), details=value)


def _namespace(ns: tuple[str, ...]) -> list[str]:
    """A subgraph's path as node names (LangGraph's namespace elements are ``node:task``)."""
    return [part.split(":", 1)[0] for part in ns]


def _prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("question", "prompt", "message", "text"):
            if isinstance(value.get(key), str):
                return value[key]
    from pydantic_core import to_json

    return to_json(value, fallback=repr).decode()


def _schema(schema: Any) -> dict[str, Any] | None:
    if schema is None or isinstance(schema, dict):
        return schema
    from pydantic import TypeAdapter

    return TypeAdapter(schema).json_schema()


__all__ = ["LangGraphAdapter", "StoreSaver", "ledger_tool_call"]
