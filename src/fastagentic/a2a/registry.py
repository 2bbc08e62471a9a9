"""The agents a run can delegate to: this app's agent endpoints and external A2A agents.

``await registry.delegate(ctx, "billing", "refund order 42")`` (what ``ctx.delegate`` calls):

* an **internal** agent (an agent endpoint of this app, by A2A skill id or endpoint name) runs
  in process, through the pipeline with the caller's identity, as a task of its own (run id =
  task id, so it is visible at ``/runs`` and over A2A);
* an **external** agent (``registry.add_remote(name, url)``, its card resolved on first use and
  cached) is called with :class:`~fastagentic.a2a.client.A2AClient` over streaming.

Cancelling the caller cancels the task it is waiting for.  Either way the delegated task's
events appear in the caller's run as nested events (their data
carries ``"delegate": {"agent", "task_id", "seq"}``), bracketed by ``node_start`` /
``node_end`` events of node ``delegate:<agent>``, and the answer is a
:class:`DelegationResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ..core import events as ev
from ..core import runs as rs
from ..core.context import CallContext, RunContext
from ..core.pipeline import Invocation
from ..exceptions import ConfigurationError, Conflict, NotFound
from ..protocols.a2a import wire
from ..protocols.a2a.errors import A2AError as ServerA2AError
from .client import (
    A2AClient,
    InvalidAgentResponseError,
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
    error_from_jsonrpc,
    fetch_card,
    parts_text,
    user_message,
)

if TYPE_CHECKING:
    from ..app import App
    from ..core.specs import AgentSpec

#: Child event types re-emitted in the caller's run (lifecycle events are not).
NESTED = frozenset({ev.TOKEN, ev.NODE_START, ev.NODE_END, ev.TOOL_CALL, ev.TOOL_RESULT,
                    ev.COST})
SETTLE = frozenset({ev.DONE, ev.INPUT_REQUIRED})
HISTORY_CAP = 200
MAX_REATTACH = 3
STATES = {
    wire.COMPLETED: "completed", wire.FAILED: "failed", wire.CANCELED: "canceled",
    wire.REJECTED: "rejected", wire.INPUT_REQUIRED: "input_required",
    wire.AUTH_REQUIRED: "input_required",
}
#: States a delegation ends in (anything else means the task was still working).
SETTLED = frozenset(STATES.values())


@dataclass(slots=True)
class DelegationResult:
    """What a delegated task came to.

    ``state``: ``completed``, ``failed``, ``canceled``, ``rejected`` or ``input_required``
    (answer with ``delegate(..., task_id=result.task_id)``).  ``output``: an internal agent's
    output (JSON); an external agent's artifact text, or the value of its one data part.
    ``message``: the status message (the question, the failure) or a direct reply.
    """

    agent: str
    task_id: str | None
    context_id: str | None
    state: str
    output: Any = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "completed"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DelegationResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class RemoteAgent:
    """An external A2A agent: where it is and how to call it."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    binding: str | None = None
    card: dict[str, Any] | None = None
    card_url: str | None = None


def short_state(state: str) -> str:
    """``TASK_STATE_INPUT_REQUIRED`` -> ``input_required`` (``working`` when not settled)."""
    return STATES.get(state, "working")


def _nested(type_: str, data: Mapping[str, Any], info: dict[str, Any]) -> ev.Event:
    inner = data.get("delegate")
    delegate = {**info, "delegate": inner} if isinstance(inner, dict) else info
    return ev.Event(type_, {**data, "delegate": delegate})


def output_of(parts: list[dict[str, Any]], artifacts: list[dict[str, Any]] | None = None) -> Any:
    """An external agent's output: the value of its one data part, else its text (an
    artifact's chunks joined as they came, artifacts one per line); None when neither.

    A fastagentic agent's ``result`` artifact (its run's output) is its output on its own, so
    an agent answers the same whether it runs in process or behind A2A.
    """
    if artifacts:
        result = [a for a in artifacts if a.get("artifactId") == wire.RESULT_ARTIFACT]
        if result:
            artifacts = result
            parts = [p for a in result for p in a.get("parts") or ()]
    data = [p["data"] for p in parts if "data" in p]
    if len(data) == 1:
        return data[0]
    if artifacts is not None:
        texts = [parts_text(a.get("parts")) for a in artifacts]
        text = "\n".join(t for t in texts if t)
    else:
        text = parts_text(parts, "\n")
    return text or None


class AgentRegistry:
    """Internal agents (read live from ``app.registry``) and external ones (``add_remote``).

    A name is looked up among this app's agent endpoints first (by A2A skill id, then by
    endpoint name), then among the external agents.
    """

    def __init__(self, app: App, *, timeout: float | httpx.Timeout = 60.0) -> None:
        self.app = app
        self.timeout = timeout
        self._remotes: dict[str, RemoteAgent] = {}
        self._clients: dict[str, tuple[asyncio.AbstractEventLoop, A2AClient]] = {}

    # what is known

    def internal(self, name: str) -> AgentSpec | None:
        agents = self.app.registry.agents
        for spec in agents.values():
            if spec.skill_id == name:
                return spec
        return agents.get(name)

    def remote(self, name: str) -> RemoteAgent | None:
        return self._remotes.get(name)

    def names(self) -> list[str]:
        """Every name ``delegate`` accepts: skill ids of this app's agents, then remote ones."""
        return [s.skill_id for s in self.app.registry.agents.values()] + list(self._remotes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.internal(name) is not None
                                          or name in self._remotes)

    def add_remote(self, name: str, url: str, headers: Mapping[str, str] | None = None,
                   binding: str | None = None) -> RemoteAgent:
        """Register an external agent by its base URL or card URL (fetched on first use)."""
        if self.internal(name) is not None:
            raise ConfigurationError(f"{name!r} already names an agent endpoint of this app")
        if name in self._remotes:
            raise ConfigurationError(f"a remote agent named {name!r} is already registered")
        remote = RemoteAgent(name, url, dict(headers or {}), binding)
        self._remotes[name] = remote
        return remote

    def remove_remote(self, name: str) -> None:
        self._remotes.pop(name, None)
        self._clients.pop(name, None)

    result_from_dict = staticmethod(DelegationResult.from_dict)

    # external agents' clients

    async def client(self, name: str) -> A2AClient:
        """The client of a remote agent (its card fetched once; one client per event loop)."""
        remote = self._remotes.get(name)
        if remote is None:
            raise NotFound(f"no remote agent named {name!r}")
        loop = asyncio.get_running_loop()
        cached = self._clients.get(name)
        if cached is not None and cached[0] is loop:
            return cached[1]
        if remote.card is None:
            async with httpx.AsyncClient() as http:
                remote.card, remote.card_url = await fetch_card(
                    http, remote.url, headers=remote.headers, timeout=self.timeout)
        client = A2AClient(remote.card, card_url=remote.card_url, headers=remote.headers,
                           binding=remote.binding, timeout=self.timeout)
        self._clients[name] = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close the clients made on this event loop (call when the app stops)."""
        loop = asyncio.get_running_loop()
        for name, (owner, client) in list(self._clients.items()):
            if owner is loop:
                del self._clients[name]
                await client.aclose()

    # delegating

    async def delegate(self, ctx: RunContext, agent: str, message: str | Mapping[str, Any], *,
                       context_id: str | None = None, task_id: str | None = None,
                       metadata: Mapping[str, Any] | None = None,
                       message_metadata: Mapping[str, Any] | None = None,
                       idempotency_key: str | None = None) -> DelegationResult:
        """Hand ``message`` (text, a dict of arguments, or a 1.0 Message dict) to ``agent``
        and wait until its task ends or asks for input.

        ``task_id`` answers a task that asked for input; ``metadata`` is the request's metadata
        (``ctx.a2a.metadata`` on the other side); ``idempotency_key`` makes a repeated call
        (a resumed run) attach to the task it started before (in process; over A2A it is sent
        as the ``Idempotency-Key`` header, which fastagentic servers honour).
        """
        spec = self.internal(agent)
        if spec is not None:
            return await self._internal(ctx, agent, spec, message, context_id, task_id,
                                        metadata, message_metadata, idempotency_key)
        if agent in self._remotes:
            return await self._external(ctx, agent, message, context_id, task_id, metadata,
                                        message_metadata, idempotency_key)
        known = ", ".join(self.names()) or "none"
        raise NotFound(f"no agent named {agent!r} to delegate to (known: {known})")

    # in process

    async def _internal(self, ctx: RunContext, agent: str, spec: AgentSpec,
                        message: str | Mapping[str, Any], context_id: str | None,
                        task_id: str | None, metadata: Mapping[str, Any] | None,
                        message_metadata: Mapping[str, Any] | None,
                        idempotency_key: str | None) -> DelegationResult:
        msg = user_message(message, metadata=message_metadata)
        try:
            if task_id is not None:
                run, after = await self._answer(ctx, spec, task_id, context_id, msg)
            else:
                run, after = await self._submit(ctx, spec, msg, context_id, metadata,
                                                idempotency_key), 0
        except ServerA2AError as exc:  # the same errors an A2A client would get
            raise error_from_jsonrpc({"code": exc.code, "message": exc.message}) from None
        return await self._follow(ctx, agent, run, after)

    async def _submit(self, ctx: RunContext, spec: AgentSpec, msg: dict[str, Any],
                      context_id: str | None, metadata: Mapping[str, Any] | None,
                      idempotency_key: str | None) -> rs.RunRecord:
        arguments = wire.message_to_arguments(spec, msg)
        labels: dict[str, Any] = {
            "a2a": {"context_id": context_id or wire.new_id(), "skill": spec.skill_id,
                    "message": msg, "metadata": dict(metadata or {}), "history": [msg]},
            "parent": {"run_id": ctx.run_id, "agent": ctx.endpoint},
        }
        trace = ctx.labels.get("trace")
        if trace:
            labels["trace"] = trace
        call = CallContext(user=ctx.user, transport="delegate", kind="agent", name=spec.name,
                           run_id=ctx.run_id)
        run: rs.RunRecord
        run, _ = await self.app.pipeline.invoke(Invocation(
            spec, arguments, call,
            options={"labels": labels, "idempotency_key": idempotency_key}))
        return run

    async def _answer(self, ctx: RunContext, spec: AgentSpec, task_id: str,
                      context_id: str | None, msg: dict[str, Any]
                      ) -> tuple[rs.RunRecord, int]:
        """Answer an internal task that asked for input (as an A2A follow-up would)."""
        engine = self.app.engine
        try:
            run = await engine.get(task_id, ctx.user)
        except NotFound:
            run = None
        if run is None or run.endpoint != spec.name:
            raise TaskNotFoundError(f"agent {spec.skill_id!r} has no task {task_id!r}")
        task_context = wire.context_of(run)
        if context_id is not None and context_id != task_context:
            raise InvalidParamsError(f"context {context_id!r} is not task {task_id}'s")
        if run.status != rs.INPUT_REQUIRED:
            raise UnsupportedOperationError(
                f"task {task_id} is {run.status}, not waiting for input")
        pending = run.pending or {}
        answer = wire.answer_from_message(pending, msg)
        prompt = wire.prompt_message(pending, task_id, task_context)

        def labels(current: dict[str, Any]) -> dict[str, Any]:
            info = dict(current.get("a2a") or {"context_id": task_context})
            info["history"] = [*(info.get("history") or ()), prompt, msg][-HISTORY_CAP:]
            info["message"] = msg
            return {**current, "a2a": info}

        try:
            resumed = await engine.resume(task_id, ctx.user, answer=answer, has_answer=True,
                                          labels=labels, run=run)
        except Conflict as exc:
            raise UnsupportedOperationError(exc.message) from None
        return resumed, run.last_seq

    async def _history(self, run_id: str, upto: int) -> list[ev.RunEvent]:
        """The task's events up to ``upto`` (what it did before the answer)."""
        events: list[ev.RunEvent] = []
        last = 0
        while last < upto:
            page = [e for e in await self.app.store.read_events(run_id, last, 1000)
                    if e.seq <= upto]
            if not page:
                break
            events.extend(page)
            last = page[-1].seq
        return events

    async def _follow(self, ctx: RunContext, agent: str, run: rs.RunRecord, after: int
                      ) -> DelegationResult:
        engine = self.app.engine
        view = wire.TaskView(run)
        if after:
            view.feed(await self._history(run.id, after))
        info = {"agent": agent, "task_id": run.id}
        await ctx.emit(ev.node_start(f"delegate:{agent}", delegate=dict(info)))
        try:
            async for batch in engine.follow(run.id, after, until=SETTLE):
                view.feed(batch)
                for event in batch:
                    if event.type in NESTED:
                        await ctx.emit(_nested(event.type, event.data,
                                               {**info, "seq": event.seq}))
            run = await engine.get(run.id)
            if run.status in rs.ACTIVE:  # the log ended early (it should not): wait it out
                run = await engine.wait_settled(run.id)
            view.run = run
            view.status, view.output, view.error = run.status, run.output, run.error
            view.pending = run.pending
            task = view.task()
            state = short_state(view.state)
            message = task["status"].get("message")
            if state == "completed" and wire.is_reply(run.output):
                message = wire.agent_message(wire.reply_parts(run.output), None,
                                             view.context_id)
            result = DelegationResult(
                agent=agent, task_id=run.id, context_id=view.context_id, state=state,
                output=run.output if state == "completed" else None,
                artifacts=task.get("artifacts", []), message=message, error=run.error)
        except asyncio.CancelledError:
            if engine.stop_reason(ctx.run_id) == "cancel":  # the caller was cancelled
                with contextlib.suppress(Exception):
                    await asyncio.shield(engine.cancel(run.id))
            raise
        except Exception as exc:
            await self._end(ctx, agent, info, "failed", None, _failure(exc))
            raise
        await self._end(ctx, agent, info, result.state, result.output, result.error)
        return result

    @staticmethod
    async def _end(ctx: RunContext, agent: str, info: dict[str, Any], state: str, output: Any,
                   error: dict[str, Any] | None) -> None:
        extra: dict[str, Any] = {"state": state, "delegate": {**info, "state": state}}
        if error is not None:
            extra["error"] = error
        await ctx.emit(ev.node_end(f"delegate:{agent}", output, **extra))

    # over A2A

    async def _external(self, ctx: RunContext, agent: str, message: str | Mapping[str, Any],
                        context_id: str | None, task_id: str | None,
                        metadata: Mapping[str, Any] | None,
                        message_metadata: Mapping[str, Any] | None,
                        idempotency_key: str | None) -> DelegationResult:
        client = await self.client(agent)
        trace = ctx.labels.get("trace")
        caller = {"user": ctx.user.user, "tenant": ctx.user.tenant, "run_id": ctx.run_id}
        request_metadata = {**(metadata or {}), "fastagentic.caller": caller}
        remote = _RemoteTask(agent, context_id, task_id)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        events: AsyncGenerator[dict[str, Any], None] = client.stream(
            message, context_id=context_id, task_id=task_id, metadata=request_metadata,
            message_metadata=message_metadata, trace=trace, headers=headers)
        try:
            for attempt in range(MAX_REATTACH + 1):
                async with aclosing(events) as stream:
                    async for item in stream:
                        for event in remote.feed(item):
                            await ctx.emit(event)
                if remote.settled or remote.task_id is None \
                        or attempt == MAX_REATTACH:
                    break
                # The stream ended before the task settled: read the task, then follow it.
                for event in remote.feed({"task": await client.get_task(remote.task_id,
                                                                        trace=trace)}):
                    await ctx.emit(event)
                if remote.settled:
                    break
                events = client.subscribe(remote.task_id, trace=trace)
            if not remote.started:
                raise InvalidAgentResponseError(f"agent {agent!r} answered no events")
            result = remote.result()
        except asyncio.CancelledError:
            if self.app.engine.stop_reason(ctx.run_id) == "cancel" and remote.task_id:
                with contextlib.suppress(Exception):  # the caller was cancelled: so is its task
                    await asyncio.wait_for(asyncio.shield(
                        client.cancel_task(remote.task_id, trace=trace)), 10)
            raise
        except Exception as exc:
            if remote.started:
                await self._end(ctx, agent, remote.info, "failed", None, _failure(exc))
            raise
        await self._end(ctx, agent, remote.info, result.state, result.output, result.error)
        return result


def _failure(exc: BaseException) -> dict[str, Any]:
    code = getattr(exc, "code", None)
    return {"code": code if code is not None else "delegation_failed",
            "message": str(getattr(exc, "message", "") or exc)}


class _RemoteTask:
    """A remote task as its StreamResponses reveal it, and the nested events they become."""

    def __init__(self, agent: str, context_id: str | None, task_id: str | None) -> None:
        self.agent = agent
        self.task_id = task_id
        self.context_id = context_id
        self.state = ""
        self.message: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.streamed: set[str] = set()
        self.seq = 0
        self.started = False

    @property
    def info(self) -> dict[str, Any]:
        return {"agent": self.agent, "task_id": self.task_id}

    @property
    def settled(self) -> bool:
        return short_state(self.state) in SETTLED

    def _tokens(self, parts: Any, artifact_id: str | None) -> list[ev.Event]:
        out = []
        for part in parts or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                info = {**self.info, "seq": self.seq}
                if artifact_id is not None:
                    info["artifact_id"] = artifact_id
                out.append(_nested(ev.TOKEN, ev.token(part["text"]).data, info))
        return out

    def _status(self, status: Any) -> None:
        if isinstance(status, dict):
            self.state = str(status.get("state", self.state))
            self.message = status.get("message")

    def feed(self, item: dict[str, Any]) -> list[ev.Event]:
        self.seq += 1
        out: list[ev.Event] = []
        if "task" in item:
            task = item["task"]
            self.task_id, self.context_id = task.get("id"), task.get("contextId")
            self._status(task.get("status"))
            for artifact in task.get("artifacts") or ():
                artifact_id = artifact.get("artifactId", "")
                if artifact_id not in self.streamed:
                    out.extend(self._tokens(artifact.get("parts"), artifact_id))
                    self.streamed.add(artifact_id)
                self.artifacts[artifact_id] = artifact
        elif "statusUpdate" in item:
            update = item["statusUpdate"]
            self.task_id = update.get("taskId", self.task_id)
            self.context_id = update.get("contextId", self.context_id)
            self._status(update.get("status"))
            out.append(self._progress(update))
        elif "artifactUpdate" in item:
            update = item["artifactUpdate"]
            artifact = dict(update.get("artifact") or {})
            artifact_id = artifact.get("artifactId", "")
            known = self.artifacts.get(artifact_id)
            if update.get("append") and known is not None:
                known["parts"] = [*(known.get("parts") or ()), *(artifact.get("parts") or ())]
            else:
                self.artifacts[artifact_id] = artifact
            self.streamed.add(artifact_id)
            out.extend(self._tokens(artifact.get("parts"), artifact_id))
        elif "message" in item:
            self.reply = item["message"]
            self.context_id = self.reply.get("contextId", self.context_id)
            self.state = wire.COMPLETED
            out.extend(self._tokens(self.reply.get("parts"), None))
        if not self.started and (self.task_id is not None or self.reply is not None):
            self.started = True
            out.insert(0, ev.node_start(f"delegate:{self.agent}", delegate=dict(self.info)))
        return out

    def _progress(self, update: dict[str, Any]) -> ev.Event:
        """A status update as a nested event: the remote's own event when it is a fastagentic
        agent (``metadata.fastagentic``), else a ``node_start`` naming the new state."""
        info = {**self.info, "seq": self.seq}
        inner = (update.get("metadata") or {}).get("fastagentic")
        if isinstance(inner, dict) and inner.get("type") in NESTED:
            own = {k: v for k, v in inner.items() if k != "type"}
            return _nested(str(inner["type"]), own, info)
        status = update.get("status") or {}
        state = str(status.get("state", "")).removeprefix("TASK_STATE_").lower()
        extra = {"message": status["message"]} if status.get("message") else {}
        progress = ev.node_start(f"{self.agent}:{state}", state=state, **extra)
        return _nested(ev.NODE_START, progress.data, info)

    def result(self) -> DelegationResult:
        state = short_state(self.state)
        artifacts = list(self.artifacts.values())
        if self.reply is not None:
            parts = self.reply.get("parts") or []
            output = output_of(parts)
            message: dict[str, Any] | None = self.reply
        else:
            output = output_of([p for a in artifacts for p in a.get("parts") or ()], artifacts)
            message = self.message
        error = None
        if state in ("failed", "rejected"):
            text = parts_text((message or {}).get("parts"), "\n")
            error = {"code": state, "message": text or f"the task was {state}"}
        return DelegationResult(agent=self.agent, task_id=self.task_id,
                                context_id=self.context_id, state=state,
                                output=output if state == "completed" else None,
                                artifacts=artifacts, message=message, error=error)


__all__ = ["AgentRegistry", "DelegationResult", "RemoteAgent", "output_of", "short_state"]
