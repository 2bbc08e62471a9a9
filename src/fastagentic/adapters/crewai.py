"""CrewAI crews (``crewai`` 1.15) as fastagentic runs.

``@agent_endpoint("/team", runnable=CrewAIAdapter(crew))`` over a function whose signature is
the endpoint's input (its body is not called); the input becomes the crew's kickoff inputs
(``{message}`` in a task description is the ``message`` field).  Every run works on its own
copy of the crew (or a crew from the factory given instead), run with ``akickoff``.

* **Events**: CrewAI's events of this run only (a stream sink scoped to the run's context:
  concurrent crews never see each other's events), ordered by ``emission_sequence`` and
  handed from CrewAI's threads to the event loop: each task and each agent execution →
  ``node_start``/``node_end``; stream chunks → ``token``; tool usage → ``tool_call``/
  ``tool_result``; each model response's usage → ``cost`` (priced by genai-prices when it
  knows the model).
* **Durability**: after each completed task its ``TaskOutput`` is checkpointed.  A resumed run
  rebuilds the crew, restores the completed tasks' outputs and kicks off the rest: completed
  tasks never run again.  The rebuilt crew carries the host's LLMs (``llm=`` puts one on every
  agent), never LLMs deserialized from a checkpoint.
* **Exactly-once tools**: every agent's tools are wrapped in a proxy whose calls go through
  the tool ledger, keyed by (task, position of the call in the task, tool, arguments).  A call
  that completed before a crash inside a task is answered from the ledger when the resumed task
  makes the same call at the same position; a call in flight at the crash runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import inspect
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, PrivateAttr, ValidationError

from ..core import events as ev
from ..core.context import RunContext, to_jsonable
from ..exceptions import MissingDependency
from .base import BaseAdapter, Output
from .pricing import Usage, cost_event

try:
    from crewai import Crew
    from crewai.events.stream_context import add_stream_sink
    from crewai.events.types.agent_events import (
        AgentExecutionCompletedEvent,
        AgentExecutionErrorEvent,
        AgentExecutionStartedEvent,
    )
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMStreamChunkEvent
    from crewai.events.types.task_events import (
        TaskCompletedEvent,
        TaskFailedEvent,
        TaskStartedEvent,
    )
    from crewai.events.types.tool_usage_events import (
        ToolUsageErrorEvent,
        ToolUsageFinishedEvent,
        ToolUsageStartedEvent,
    )
    from crewai.tasks.task_output import TaskOutput
    from crewai.tools import BaseTool
    from crewai.types.usage_metrics import UsageMetrics
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency(
        'CrewAIAdapter needs CrewAI: pip install "fastagentic[crewai]"') from exc

logger = logging.getLogger("fastagentic.adapters.crewai")

# The tool call CrewAI announced last in this context (set by the run's stream sink, read by
# the proxy tool CrewAI calls next in the same context): (call id, ledger key).
_CALL: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "fastagentic_crewai_call", default=None)


@dataclass(frozen=True, slots=True)
class _TaskDone:
    """A completed task: checkpointed by the run, in event order."""

    index: int
    name: str
    output: dict[str, Any]


def dump_task_output(output: TaskOutput) -> dict[str, Any]:
    """A ``TaskOutput`` as JSON data (its pydantic output by its own model's fields; values
    JSON cannot hold, such as a provider's raw message parts, by their ``repr``)."""
    data = output.model_dump(mode="json", exclude={"pydantic"}, fallback=repr)
    data["pydantic"] = output.pydantic.model_dump(mode="json", fallback=repr) \
        if isinstance(output.pydantic, BaseModel) else None
    return data


def load_task_output(data: dict[str, Any], task: Any) -> TaskOutput:
    """The ``TaskOutput`` of :func:`dump_task_output` (pydantic output by the task's model)."""
    fields = {k: v for k, v in data.items() if k != "pydantic"}
    try:
        output = TaskOutput.model_validate(fields)
    except ValidationError:  # a conversation stored with values JSON could not hold
        output = TaskOutput.model_validate({**fields, "messages": []})
    model = getattr(task, "output_pydantic", None)
    if data.get("pydantic") is not None and model is not None:
        output.pydantic = model.model_validate(data["pydantic"])
    return output


def _args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return to_jsonable(raw)
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {"input": raw}
        return parsed if isinstance(parsed, dict) else {"input": parsed}
    return {} if raw is None else {"input": to_jsonable(raw)}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Bridge:
    """One run's view of CrewAI's events.

    ``sink`` is called by CrewAI synchronously, in the thread and context that emits (the
    event loop's thread or one of CrewAI's worker threads).  It turns the events this adapter
    maps into fastagentic events at once and queues them; the run's task takes them on the
    event loop in ``emission_sequence`` order.
    """

    def __init__(self, ctx: RunContext, loop: asyncio.AbstractEventLoop, crew: Any) -> None:
        self.ctx = ctx
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.tasks = {str(task.id): index for index, task in enumerate(crew.tasks)}
        self.names = [task.name or f"task_{index}" for index, task in enumerate(crew.tasks)]
        self.roles = [getattr(task.agent, "role", None) for task in crew.tasks]
        self.current = 0  # the crew task that started last
        self._lock = threading.Lock()
        self._calls: dict[int, int] = {}  # task index -> tool calls announced in it
        self._started: dict[str, tuple[str, str]] = {}  # CrewAI event id -> (call id, tool)
        self.replayed: set[str] = set()  # call ids answered from the ledger
        self._buffer: deque[tuple[int, Any]] = deque()
        self._scheduled = False
        self.wake = asyncio.Event()
        self._warned = False
        #: Set when the run stops: CrewAI's threads may go on, but start no tool call.
        self.closed = False

    # CrewAI's side (any thread) -------------------------------------------------------------

    def sink(self, source: Any, event: Any) -> None:
        try:
            item = self._map(source, event)
        except Exception:  # never break the crew over a reporting problem
            logger.exception("could not map the CrewAI event %s", type(event).__name__)
            return
        if item is None:
            return
        self._buffer.append((event.emission_sequence or 0, item))
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # the run's loop is gone
                self.loop.call_soon_threadsafe(self.wake.set)

    def _index(self, task: Any = None, task_id: str | None = None) -> int:
        if task is not None:
            task_id = str(getattr(task, "id", ""))
        return self.tasks.get(task_id or "", self.current)

    def _map(self, source: Any, event: Any) -> Any:
        if isinstance(event, LLMStreamChunkEvent):
            index = self._index(task_id=event.task_id)
            return ev.token(event.chunk, {"node": self.names[index] if self.names else None,
                                          "agent": event.agent_role})
        if isinstance(event, LLMCallCompletedEvent):
            metrics = UsageMetrics.from_provider_dict(event.usage)
            if metrics is None:
                return None
            usage = Usage(input_tokens=metrics.prompt_tokens,
                          output_tokens=metrics.completion_tokens,
                          cache_read_tokens=metrics.cached_prompt_tokens,
                          cache_write_tokens=metrics.cache_creation_tokens)
            return cost_event(usage, event.model, getattr(source, "provider", None))
        if isinstance(event, ToolUsageStartedEvent):
            return self._tool_started(event)
        if isinstance(event, ToolUsageFinishedEvent | ToolUsageErrorEvent):
            call_id, tool = self._started.pop(event.started_event_id or "", (None, None))
            tool = tool or event.tool_name
            if isinstance(event, ToolUsageErrorEvent):
                return ev.tool_result(tool, None, call_id, error={"message": str(event.error)})
            extra: dict[str, Any] = {}
            if call_id in self.replayed:
                extra["replayed"] = True
            if event.from_cache:
                extra["from_cache"] = True
            return ev.tool_result(tool, to_jsonable(event.output), call_id, **extra)
        if isinstance(event, TaskStartedEvent | TaskCompletedEvent | TaskFailedEvent):
            return self._task(event)
        if isinstance(event, AgentExecutionStartedEvent | AgentExecutionCompletedEvent
                      | AgentExecutionErrorEvent):
            index = self._index(event.task)
            role = getattr(event.agent, "role", None)
            extra = {"kind": "agent", "agent": role, "task": self._name(index, event.task),
                     "task_index": index}
            if isinstance(event, AgentExecutionStartedEvent):
                return ev.node_start(role or "agent", **extra)
            if isinstance(event, AgentExecutionErrorEvent):
                return ev.node_end(role or "agent", None, error={"message": event.error},
                                   **extra)
            return ev.node_end(role or "agent", event.output, **extra)
        return None

    def _name(self, index: int, task: Any) -> str:
        if task is not None and str(getattr(task, "id", "")) not in self.tasks:
            return getattr(task, "name", None) or "task"  # not one of the crew's own tasks
        return self.names[index] if index < len(self.names) else "task"

    def _task(self, event: Any) -> Any:
        task = event.task
        known = task is not None and str(task.id) in self.tasks
        index = self._index(task, event.task_id)
        name = self._name(index, task)
        role = getattr(getattr(task, "agent", None), "role", None) or \
            (self.roles[index] if known else None)
        extra = {"kind": "task", "agent": role, "task_index": index}
        if isinstance(event, TaskStartedEvent):
            if known:
                self.current = index
            return ev.node_start(name, **extra)
        if isinstance(event, TaskFailedEvent):
            return ev.node_end(name, None, error={"message": event.error}, **extra)
        end = ev.node_end(name, event.output.raw, **extra)
        if not known:
            return end
        return [end, _TaskDone(index, name, dump_task_output(event.output))]

    def _tool_started(self, event: Any) -> Any:
        index = self._index(task_id=event.task_id)
        args = _args(event.tool_args)
        with self._lock:
            position = self._calls.get(index, 0)
            self._calls[index] = position + 1
        call_id = f"task{index}-call{position}-{event.tool_name}"
        self._started[event.event_id] = (call_id, event.tool_name)
        # The proxy tool CrewAI runs next, in this same context, keys the ledger by this.
        _CALL.set((call_id, f"crewai:{call_id}:{_digest(args)}"))
        return ev.tool_call(event.tool_name, args, call_id)

    # the event loop's side --------------------------------------------------------------------

    def drain(self) -> list[Any]:
        """What CrewAI reported since the last call, in emission order."""
        self._scheduled = False  # before reading: a later append schedules a new wake-up
        self.wake.clear()
        batch = []
        buffer = self._buffer
        while buffer:
            batch.append(buffer.popleft())
        batch.sort(key=lambda pair: pair[0])
        items: list[Any] = []
        for _, item in batch:
            if isinstance(item, list):
                items.extend(item)
            else:
                items.append(item)
        return items

    # tools (CrewAI's threads) ----------------------------------------------------------------

    def run_tool(self, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``tool`` through the run's tool ledger (from one of CrewAI's threads)."""
        if self.closed:
            raise RuntimeError("this run has stopped: the tool is not called")
        announced = _CALL.get()
        _CALL.set(None)
        if announced is None or threading.get_ident() == self.loop_thread:
            if not self._warned:
                self._warned = True
                logger.warning("CrewAI ran the tool %r on a path fastagentic does not key: "
                               "it runs without the tool ledger (at least once)", tool.name)
            return tool.run(*args, **kwargs)
        call_id, key = announced
        context = contextvars.copy_context()
        ran = False

        async def call() -> Any:
            nonlocal ran
            if self.closed:
                raise RuntimeError("this run has stopped: the tool is not called")
            ran = True
            return await asyncio.to_thread(context.run, tool.run, *args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(
            self.ctx.once(key, tool.name, call, arguments=kwargs or list(args)), self.loop)
        while True:
            try:
                result = future.result(timeout=1.0)
                break
            except TimeoutError:
                if self.loop.is_closed():
                    raise RuntimeError("the run's event loop stopped during a tool call") \
                        from None
        if not ran:
            self.replayed.add(call_id)
        return result


class _LedgerTool(BaseTool):
    """Stands in for one of an agent's tools: same name, description and arguments; its calls
    go through the run's tool ledger."""

    _inner: Any = PrivateAttr()
    _bridge: Any = PrivateAttr()

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        return self._bridge.run_tool(self._inner, args, kwargs)


def _proxy(tool: Any, bridge: _Bridge) -> Any:
    if isinstance(tool, _LedgerTool) or not isinstance(tool, BaseTool):
        return tool
    proxy = _LedgerTool(
        name=tool.name, description=tool.description, args_schema=tool.args_schema,
        result_schema=tool.result_schema, result_as_answer=tool.result_as_answer,
        max_usage_count=tool.max_usage_count, cache_function=tool.cache_function,
        tool_failure_policy=tool.tool_failure_policy)
    proxy._inner = tool
    proxy._bridge = bridge
    return proxy


class CrewAIAdapter(BaseAdapter):
    """Runs a CrewAI crew: ``crew`` is a ``crewai.Crew`` (copied for every run) or a factory
    returning a fresh one (called for every run, with the endpoint's input when it takes an
    argument).

    ``llm`` (an LLM, or a factory of one) is put on every agent of every run, including the
    manager of a hierarchical crew.  ``inputs`` maps the endpoint's validated input to the
    kickoff inputs (default: its fields); ``output`` maps the ``CrewOutput`` to the run's output
    (default: the last task's pydantic or JSON output when it has one, else the raw text).
    """

    framework = "crewai"
    replay = "from_checkpoint"

    def __init__(self, crew: Any, *, llm: Any = None,
                 inputs: Callable[[BaseModel], dict[str, Any]] | None = None,
                 output: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(crew, Crew) and not callable(crew):
            raise TypeError(
                f"CrewAIAdapter wraps a crewai.Crew or a factory of one, got {type(crew)!r}")
        self.crew = crew
        self.llm = llm
        self.inputs = inputs
        self.output = output

    def crew_for_run(self, input: BaseModel | None = None) -> Any:
        """A crew for one run: a copy of the wrapped crew, or a new one from the factory, with
        ``llm`` on every agent."""
        if isinstance(self.crew, Crew):
            crew = self.crew.copy()
        else:
            takes_input = bool(inspect.signature(self.crew).parameters)
            crew = self.crew(input) if takes_input else self.crew()
            if not isinstance(crew, Crew):
                raise TypeError(f"the crew factory returned {type(crew)!r}, not a crewai.Crew")
        if self.llm is not None:
            llm = self.llm() if callable(self.llm) and not hasattr(self.llm, "call") \
                else self.llm
            for agent in crew.agents:
                agent.llm = llm
            if crew.manager_agent is not None:
                crew.manager_agent.llm = llm
            if crew.process == "hierarchical" or crew.manager_llm is not None:
                crew.manager_llm = llm
            if crew.planning_llm is not None:
                crew.planning_llm = llm
        crew.stream = False  # this adapter streams CrewAI's events itself
        return crew

    def _inputs(self, input: BaseModel) -> dict[str, Any]:
        if self.inputs is not None:
            return self.inputs(input)
        return input.model_dump(mode="json")

    def _output(self, result: Any) -> Any:
        if self.output is not None:
            return self.output(result)
        if result.pydantic is not None:
            return result.pydantic
        if result.json_dict is not None:
            return result.json_dict
        return result.raw

    async def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Any]:
        crew = self.crew_for_run(input)
        state = ctx.state if isinstance(ctx.state, dict) else {}
        completed: dict[str, Any] = dict(state.get("tasks") or {})
        for key, data in completed.items():
            task = crew.tasks[int(key)]
            task.output = load_task_output(data, task)
        if completed:
            # CrewAI starts a crew marked as resumed at its first task without an output.
            crew.checkpoint_kickoff_event_id = f"fastagentic-{ctx.run_id}"
        loop = asyncio.get_running_loop()
        bridge = _Bridge(ctx, loop, crew)
        proxies: dict[int, Any] = {}

        def wrap(tools: list[Any]) -> list[Any]:
            return [proxies.setdefault(id(t), _proxy(t, bridge)) for t in tools]

        for agent in crew.agents:
            agent.tools = wrap(agent.tools or [])
        for task in crew.tasks:
            if task.tools:
                task.tools = wrap(task.tools)
        # The sink lives in the kickoff's own context: only this run's events reach it.
        context = contextvars.copy_context()
        context.run(add_stream_sink, bridge.sink)
        kickoff = asyncio.create_task(crew.akickoff(inputs=self._inputs(input)),
                                      context=context)
        kickoff.add_done_callback(lambda _: bridge.wake.set())
        try:
            while True:
                await bridge.wake.wait()
                finished = kickoff.done()
                for item in bridge.drain():
                    if isinstance(item, _TaskDone):
                        completed[str(item.index)] = item.output
                        await ctx.checkpoint(
                            {"tasks": dict(completed)},
                            {"stage": "task", "task": item.name, "task_index": item.index})
                    else:
                        await ctx.emit(item)
                if finished:  # CrewAI reports synchronously: nothing can come after this
                    break
            result = kickoff.result()
        finally:
            bridge.closed = True
            if not kickoff.done():
                # The run stops (cancelled, or its worker is shutting down): so does the crew.
                # A model or tool call already in one of CrewAI's threads cannot be stopped.
                kickoff.add_done_callback(_consume)
                kickoff.cancel()
        yield Output(self._output(result))


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = ["CrewAIAdapter", "dump_task_output", "load_task_output"]
