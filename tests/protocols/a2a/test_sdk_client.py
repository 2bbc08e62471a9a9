"""A2A through the official a2a-sdk 1.3.0 client against a real server process.

``fastagentic run tests/apps/a2a_sdk_app.py`` runs in a subprocess (one per module, on SQLite);
each test talks to it with ``a2a.client`` in each of the four combinations the card offers:
JSON-RPC 1.0, HTTP+JSON 1.0, JSON-RPC 0.3 and HTTP+JSON 0.3.  The client is forced onto one
interface by handing its factory a copy of the card with only that interface (for 0.3 it then
uses its compat transports, which speak the 0.3 wire).  Tests pick an agent with
``message.metadata.skill``; each one uses its own tasks and contexts, so they do not depend on
one another.  What is checked is what an SDK user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.types import (
    AgentCard,
    AuthenticationInfo,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Message,
    MethodNotFoundError,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import A2AError
from conftest import LiveServer, ServerProcess, wait_for
from google.protobuf.json_format import MessageToDict, ParseDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "tests" / "apps" / "a2a_sdk_app.py"
# tests/apps/a2a_sdk_app.py: the gated agent's words before and after its gate
GATED_BEFORE = "a0 a1 a2 "
GATED_AFTER = "b0 b1 b2 "
SKILLS = {"echo", "words", "gated", "ticker", "ask", "reply", "whoami"}

SUBMITTED = TaskState.TASK_STATE_SUBMITTED
WORKING = TaskState.TASK_STATE_WORKING
COMPLETED = TaskState.TASK_STATE_COMPLETED
CANCELED = TaskState.TASK_STATE_CANCELED
INPUT_REQUIRED = TaskState.TASK_STATE_INPUT_REQUIRED

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Mode:
    binding: str  # "JSONRPC" | "HTTP+JSON"
    version: str  # "1.0" | "0.3"

    @property
    def id(self) -> str:
        return f"{'jsonrpc' if self.binding == 'JSONRPC' else 'rest'}-{self.version}"

    @property
    def rest03(self) -> bool:
        return self.binding == "HTTP+JSON" and self.version == "0.3"


MODES = [Mode("JSONRPC", "1.0"), Mode("HTTP+JSON", "1.0"), Mode("JSONRPC", "0.3"),
         Mode("HTTP+JSON", "0.3")]
modes = pytest.mark.parametrize("mode", MODES, ids=lambda m: m.id)


@dataclass
class Server:
    url: str
    signals: Path  # the app's $A2A_SDK_DIR

    def counter(self, task_id: str) -> int:
        """The ticker agent's side-effect counter for ``task_id`` (0 before its first step)."""
        path = self.signals / f"{task_id}.count"
        return int(path.read_text()) if path.exists() else 0

    def run(self, task_id: str) -> dict[str, Any]:
        """``GET /runs/{task_id}``: a task is a run."""
        response = httpx.get(f"{self.url}/runs/{task_id}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


def start_server(server_process: Callable[..., ServerProcess] | type[ServerProcess],
                 store: str, signals: Path, port: int | None = None) -> ServerProcess:
    # a run a failed test left going must not hold the shutdown for the default 10 s
    env = {"A2A_SDK_DIR": str(signals), "FASTAGENTIC_SHUTDOWN_GRACE": "1"}
    return server_process(APP, store, env=env, port=port).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("a2a-sdk")
    proc = start_server(ServerProcess, f"sqlite:///{root / 'runs.db'}", root)
    try:
        yield Server(proc.url, root)
    finally:
        proc.stop()


# the SDK client


def only(card: AgentCard, mode: Mode) -> AgentCard:
    """A copy of ``card`` offering only ``mode``'s interface, so the factory must use it."""
    copy = AgentCard()
    copy.CopyFrom(card)
    keep = [i for i in card.supported_interfaces
            if i.protocol_binding == mode.binding and i.protocol_version == mode.version]
    assert len(keep) == 1, f"the card offers {len(keep)} {mode} interfaces: " \
                           f"{MessageToDict(card).get('supportedInterfaces')}"
    del copy.supported_interfaces[:]
    copy.supported_interfaces.extend(keep)
    return copy


@contextlib.asynccontextmanager
async def sdk_client(url: str, mode: Mode, *, streaming: bool = True, polling: bool = False,
                     card_path: str | None = None
                     ) -> AsyncIterator[tuple[Client, list[httpx.Request]]]:
    """An a2a-sdk client on ``mode``'s interface of the card at ``url``, and the HTTP requests
    it sends (after the card)."""
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as plain:
        resolver = A2ACardResolver(plain, url, **({"agent_card_path": card_path}
                                                  if card_path else {}))
        card = await resolver.get_agent_card()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0),
                                 event_hooks={"request": [record]}) as http:
        config = ClientConfig(streaming=streaming, polling=polling, httpx_client=http,
                              supported_protocol_bindings=[mode.binding])
        client = ClientFactory(config).create(only(card, mode))
        try:
            yield client, sent
        finally:
            await client.close()


def user_message(text: str, *, skill: str | None = None, task_id: str | None = None,
                 context_id: str | None = None) -> Message:
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)],
                      task_id=task_id or "", context_id=context_id or "")
    if skill is not None:
        message.metadata.update({"skill": skill})
    return message


async def send(client: Client, message: Message, *, stop: Callable[[StreamResponse], bool]
               | None = None, timeout: float = 10.0, **configuration: Any
               ) -> list[StreamResponse]:
    """Everything ``send_message`` yields (until ``stop(event)``, if given)."""
    request = SendMessageRequest(message=message)
    if configuration:
        request.configuration.CopyFrom(SendMessageConfiguration(**configuration))
    return await collect(client.send_message(request), stop, timeout)


async def collect(stream: AsyncIterator[StreamResponse],
                  stop: Callable[[StreamResponse], bool] | None = None,
                  timeout: float = 10.0) -> list[StreamResponse]:
    events: list[StreamResponse] = []
    async with contextlib.aclosing(stream) as events_in:  # type: ignore[type-var]
        try:
            async with asyncio.timeout(timeout):
                async for event in events_in:
                    events.append(event)
                    if stop is not None and stop(event):
                        break
        except TimeoutError:
            raise AssertionError(f"the stream did not end in {timeout}s; got "
                                 f"{[describe(e) for e in events]}") from None
    return events


async def send_task(client: Client, message: Message, *, timeout: float = 10.0,
                    **configuration: Any) -> Task:
    """A non-streaming send that must answer with a Task."""
    events = await send(client, message, timeout=timeout, **configuration)
    assert [kind(e) for e in events] == ["task"], [describe(e) for e in events]
    return events[0].task


def kind(event: StreamResponse) -> str:
    return event.WhichOneof("payload") or ""


def state_of(event: StreamResponse) -> int | None:
    if kind(event) == "task":
        return event.task.status.state
    if kind(event) == "status_update":
        return event.status_update.status.state
    return None


def describe(event: StreamResponse) -> str:
    state = state_of(event)
    return kind(event) + (f"({TaskState.Name(state)})" if state is not None else "")


def text(parts: Any) -> str:
    return "".join(p.text for p in parts if p.WhichOneof("content") == "text")


def artifacts_text(task: Task) -> str:
    return "".join(text(a.parts) for a in task.artifacts)


def reassemble(events: list[StreamResponse], start: dict[str, str] | None = None
               ) -> dict[str, str]:
    """Each artifact's text after applying the artifact updates (``append`` adds parts)."""
    texts = dict(start or {})
    for event in events:
        if kind(event) == "artifact_update":
            update = event.artifact_update
            chunk = text(update.artifact.parts)
            key = update.artifact.artifact_id
            texts[key] = texts.get(key, "") + chunk if update.append else chunk
    return texts


def wire(sent: list[httpx.Request]) -> list[tuple[str, str, str, str]]:
    """(method, path, A2A-Version header, JSON-RPC method) of every request sent."""
    out = []
    for request in sent:
        rpc = ""
        if request.method == "POST" and request.content:
            with contextlib.suppress(ValueError):
                body = json.loads(request.content)
                rpc = body.get("method", "") if isinstance(body, dict) else ""
        out.append((request.method, request.url.path, request.headers.get("a2a-version", ""),
                    rpc))
    return out


def expect_error(mode: Mode, error: type[Exception]) -> Any:
    """``pytest.raises`` for the A2A error ``error`` as the SDK surfaces it in ``mode``.

    The SDK's 0.3 REST client only types an error whose body carries ``type``; otherwise a 404
    becomes MethodNotFoundError("Resource not found") and any other status a generic
    A2AClientError("HTTP Error <status>").
    """
    if mode.rest03:
        generic = MethodNotFoundError if error is TaskNotFoundError else A2AClientError
        return pytest.raises((error, generic))
    return pytest.raises(error)


# send


@modes
@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_send_completes_a_task_with_the_answer_as_artifact(server, mode, streaming):
    async with sdk_client(server.url, mode, streaming=streaming) as (client, sent):
        message = user_message("hello", skill="echo")
        events = await send(client, message)

    # the client really spoke ``mode``
    method = "POST"
    if mode.binding == "JSONRPC":
        rpc = {("1.0", False): "SendMessage", ("1.0", True): "SendStreamingMessage",
               ("0.3", False): "message/send", ("0.3", True): "message/stream"}
        assert wire(sent) == [(method, "/a2a", mode.version, rpc[mode.version, streaming])]
    else:
        prefix = "/a2a" if mode.version == "1.0" else "/a2a/v1"
        path = f"{prefix}/message:{'stream' if streaming else 'send'}"
        assert wire(sent) == [(method, path, mode.version, "")]

    first = events[0]
    assert kind(first) == "task", [describe(e) for e in events]
    task_id, context_id = first.task.id, first.task.context_id
    assert task_id.startswith("run_") and context_id
    if not streaming:
        assert len(events) == 1
        task = first.task
        assert task.status.state == COMPLETED
        assert artifacts_text(task) == "echo: hello"
        return

    # task, statusUpdate WORKING, artifactUpdate(s), statusUpdate COMPLETED
    kinds = [kind(e) for e in events]
    assert first.task.status.state in (SUBMITTED, WORKING), describe(first)
    assert kinds[1] == "status_update" and state_of(events[1]) == WORKING, \
        [describe(e) for e in events]
    assert kinds[-1] == "status_update" and state_of(events[-1]) == COMPLETED, \
        [describe(e) for e in events]
    middle = kinds[2:-1]
    assert middle and set(middle) == {"artifact_update"}, [describe(e) for e in events]
    for event in events[1:]:
        payload = getattr(event, kind(event))
        assert (payload.task_id, payload.context_id) == (task_id, context_id)
    assert list(reassemble(events).values()) == ["echo: hello"]


@modes
@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_streamed_tokens_arrive_as_artifact_chunks(server, mode, streaming):
    words = "one two three four five"
    expected = "one two three four five "
    async with sdk_client(server.url, mode, streaming=streaming) as (client, _):
        events = await send(client, user_message(words, skill="words"))
        task_id = events[0].task.id
        stored = await client.get_task(GetTaskRequest(id=task_id))

    assert server.run(task_id)["output"] == expected
    assert stored.status.state == COMPLETED
    assert stored.artifacts, "the stored task has no artifact"
    for artifact in stored.artifacts:  # the merged chunks (and the output, if separate)
        assert text(artifact.parts) == expected, MessageToDict(stored)
    if not streaming:
        assert [kind(e) for e in events] == ["task"]
        assert events[0].task.status.state == COMPLETED
        return

    assert state_of(events[-1]) == COMPLETED, [describe(e) for e in events]
    chunks: dict[str, list[Any]] = {}
    for event in events:
        if kind(event) == "artifact_update":
            chunks.setdefault(event.artifact_update.artifact.artifact_id, []).append(
                event.artifact_update)
    streamed = [c for c in chunks.values() if len(c) > 1]
    assert len(streamed) == 1, f"no artifact came in chunks: {chunks}"
    updates = streamed[0]
    assert not updates[0].append, "the first chunk must not append"
    assert all(u.append for u in updates[1:]), "later chunks must append"
    assert updates[-1].last_chunk, "the last chunk must say lastChunk"
    assert not any(u.last_chunk for u in updates[:-1])
    assert "".join(text(u.artifact.parts) for u in updates) == expected
    assert set(reassemble(events).values()) == {expected}


@modes
@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_a_reply_is_a_message_not_a_task(server, mode, streaming):
    async with sdk_client(server.url, mode, streaming=streaming) as (client, _):
        events = await send(client, user_message("hi", skill="reply"))
    assert [kind(e) for e in events] == ["message"], [describe(e) for e in events]
    message = events[0].message
    assert message.role == Role.ROLE_AGENT
    assert text(message.parts) == "reply: hi"
    assert message.message_id


# input-required and contexts


@modes
@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_input_required_round_trip(server, mode, streaming):
    async with sdk_client(server.url, mode, streaming=streaming) as (client, _):
        first = await send(client, user_message("refund please", skill="ask"))
        assert kind(first[0]) == "task", [describe(e) for e in first]
        task_id = first[0].task.id
        last = first[-1]
        assert state_of(last) == INPUT_REQUIRED, [describe(e) for e in first]
        status = last.task.status if kind(last) == "task" else last.status_update.status
        assert status.message.role == Role.ROLE_AGENT
        assert text(status.message.parts) == "Which order?"
        if not streaming:
            assert len(first) == 1

        second = await send(client, user_message("42", task_id=task_id))
        assert state_of(second[-1]) == COMPLETED, [describe(e) for e in second]
        if streaming:
            assert "order 42" in reassemble(second).values(), [describe(e) for e in second]
        else:
            assert [kind(e) for e in second] == ["task"]
            assert second[0].task.id == task_id
            assert artifacts_text(second[0].task) == "order 42"
        done = await client.get_task(GetTaskRequest(id=task_id))
    assert done.status.state == COMPLETED
    assert artifacts_text(done) == "order 42"
    assert server.run(task_id)["status"] == "completed"


@modes
async def test_get_task_with_history_length(server, mode):
    async with sdk_client(server.url, mode, streaming=False) as (client, _):
        question = user_message("refund please", skill="ask")
        task = await send_task(client, question)
        answer = user_message("77", task_id=task.id)
        done = await send_task(client, answer)
        assert done.status.state == COMPLETED

        full = await client.get_task(GetTaskRequest(id=task.id))
        one = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
        two = await client.get_task(GetTaskRequest(id=task.id, history_length=2))
        with expect_error(mode, TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="run_" + "0" * 32))

    assert (full.id, full.context_id) == (task.id, task.context_id)
    assert full.status.state == COMPLETED and artifacts_text(full) == "order 77"
    history = [(m.role, text(m.parts)) for m in full.history]
    users = [m for m in full.history if m.role == Role.ROLE_USER]
    assert [m.message_id for m in users] == [question.message_id, answer.message_id], history
    assert [text(m.parts) for m in users] == ["refund please", "77"]
    assert (Role.ROLE_AGENT, "Which order?") in history, "the prompt is not in the history"
    asked_at = history.index((Role.ROLE_AGENT, "Which order?"))
    assert history.index((Role.ROLE_USER, "refund please")) < asked_at \
        < history.index((Role.ROLE_USER, "77")), history
    assert [MessageToDict(m) for m in one.history] == [MessageToDict(full.history[-1])]
    assert [MessageToDict(m) for m in two.history] == [MessageToDict(m)
                                                       for m in full.history[-2:]]


@modes
async def test_context_id_continuity(server, mode):
    async with sdk_client(server.url, mode, streaming=False) as (client, _):
        asking = await send_task(client, user_message("refund please", skill="ask"))
        context_id = asking.context_id
        assert context_id, "the server must return a contextId"
        assert asking.status.state == INPUT_REQUIRED

        # a follow-up naming only the task keeps the task's context
        followed = await send_task(client, user_message("9", task_id=asking.id))
        assert (followed.id, followed.context_id) == (asking.id, context_id)
        assert followed.status.state == COMPLETED

        # a new message naming only the context starts a new task in that context
        message = user_message("again", skill="whoami", context_id=context_id)
        fresh = await send_task(client, message)
        assert fresh.id != asking.id
        assert fresh.context_id == context_id
        assert fresh.status.state == COMPLETED
        data = [MessageToDict(p)["data"] for a in fresh.artifacts for p in a.parts
                if p.WhichOneof("content") == "data"]
        assert data == [{"task_id": fresh.id, "context_id": context_id, "skill": "whoami",
                         "message_id": message.message_id, "text": "again"}]

        # a contextId the client chose is kept
        mine = f"ctx-{uuid.uuid4().hex}"
        chosen = await send_task(client, user_message("x", skill="echo", context_id=mine))
        assert chosen.context_id == mine


# list (1.0)


@modes
async def test_list_tasks_filters_by_context_and_pages(server, mode):
    context, other = f"list-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    async with sdk_client(server.url, mode, streaming=False) as (client, _):
        if mode.version == "0.3":
            # 0.3 has no tasks/list: the SDK's compat transports refuse before sending
            with pytest.raises(NotImplementedError):
                await client.list_tasks(ListTasksRequest(context_id=context))
            return  # (0.3 JSON-RPC has no tasks/list; the 1.0 modes below cover ListTasks)
        ids = []
        for n in range(3):
            task = await send_task(client, user_message(f"n{n}", skill="echo", context_id=context))
            ids.append(task.id)
        outside = await send_task(client, user_message("elsewhere", skill="echo",
                                                       context_id=other))

        everything = await client.list_tasks(ListTasksRequest(context_id=context))
        page1 = await client.list_tasks(ListTasksRequest(context_id=context, page_size=2))
        page2 = await client.list_tasks(ListTasksRequest(
            context_id=context, page_size=2, page_token=page1.next_page_token))
        with_artifacts = await client.list_tasks(ListTasksRequest(context_id=context,
                                                                  include_artifacts=True))
        elsewhere = await client.list_tasks(ListTasksRequest(context_id=other))

    assert sorted(t.id for t in everything.tasks) == sorted(ids)
    assert everything.total_size == 3 and everything.next_page_token == ""
    assert {t.context_id for t in everything.tasks} == {context}
    assert all(t.status.state == COMPLETED for t in everything.tasks)
    assert not any(t.artifacts for t in everything.tasks), "artifacts need includeArtifacts"

    assert len(page1.tasks) == 2 and page1.page_size == 2 and page1.total_size == 3
    assert page1.next_page_token
    assert len(page2.tasks) == 1 and page2.total_size == 3 and page2.next_page_token == ""
    paged = [t.id for t in [*page1.tasks, *page2.tasks]]
    assert sorted(paged) == sorted(ids)
    stamps = [(t.status.timestamp.seconds, t.status.timestamp.nanos)
              for t in [*page1.tasks, *page2.tasks]]
    assert stamps == sorted(stamps, reverse=True), "newest status first"

    assert {t.id: artifacts_text(t) for t in with_artifacts.tasks} == {
        ids[n]: f"echo: n{n}" for n in range(3)}
    assert [t.id for t in elsewhere.tasks] == [outside.id] and elsewhere.total_size == 1


# cancel


async def start_ticker(client: Client) -> Task:
    """A long-running task: the stream is dropped after its first event (the Task)."""
    events = await send(client, user_message("tick", skill="ticker"), stop=lambda e: True)
    assert [kind(e) for e in events] == ["task"], [describe(e) for e in events]
    assert events[0].task.status.state in (SUBMITTED, WORKING)
    return events[0].task


@modes
async def test_return_immediately_answers_before_the_task_ends(server, mode):
    # ClientConfig(polling=True) sets returnImmediately (0.3: blocking false; the 0.3 REST
    # client sends "configuration": {}, where proto3 reads the missing bool as false)
    async with sdk_client(server.url, mode, streaming=False, polling=True) as (client, _):
        try:
            started = await send_task(client, user_message("tick", skill="ticker"), timeout=5)
        except AssertionError:
            raise AssertionError("a send asking to return immediately was still waiting for "
                                 "the task after 5 s") from None
        assert started.status.state in (SUBMITTED, WORKING)
        await wait_for(lambda: server.counter(started.id) >= 1, timeout=5)
        await client.cancel_task(CancelTaskRequest(id=started.id))


@modes
async def test_cancel_stops_the_run(server, mode):
    async with sdk_client(server.url, mode) as (client, _):
        task_id = (await start_ticker(client)).id
        await wait_for(lambda: server.counter(task_id) >= 3, timeout=5)

        canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.id == task_id
        assert canceled.status.state == CANCELED
        await wait_for(lambda: server.run(task_id)["status"] == "cancelled", timeout=5)
        stopped_at = server.counter(task_id)

        # another ticker is the clock: once it has made 20 steps, a live run would have too
        witness = await start_ticker(client)
        await wait_for(lambda: server.counter(witness.id) >= 20, timeout=5)
        assert server.counter(task_id) == stopped_at, "the canceled run kept running"
        await client.cancel_task(CancelTaskRequest(id=witness.id))

        assert (await client.get_task(GetTaskRequest(id=task_id))).status.state == CANCELED
        with expect_error(mode, TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task_id))


# subscribe


@modes
async def test_subscribe_after_a_dropped_stream_gets_the_snapshot_then_the_rest(server, mode):
    async with sdk_client(server.url, mode) as (client, _):
        # the first stream is dropped after its first artifact chunk
        dropped = await send(client, user_message("go", skill="gated"),
                             stop=lambda e: kind(e) == "artifact_update")
        assert kind(dropped[0]) == "task", [describe(e) for e in dropped]
        task_id = dropped[0].task.id
        # the agent streams the rest of its first words, unseen, then waits at its gate
        await wait_for(lambda: (server.signals / f"{task_id}.ready").exists(), timeout=5)

        events: list[StreamResponse] = []

        def open_gate_after_snapshot(event: StreamResponse) -> bool:
            events.append(event)
            if len(events) == 1:
                (server.signals / f"{task_id}.go").touch()
            return False

        await collect(client.subscribe(SubscribeToTaskRequest(id=task_id)),
                      open_gate_after_snapshot)
        stored = await client.get_task(GetTaskRequest(id=task_id))

    assert events, "the subscription yielded nothing"
    snapshot = events[0]
    assert kind(snapshot) == "task", [describe(e) for e in events]
    assert snapshot.task.id == task_id and snapshot.task.status.state == WORKING
    missed = {a.artifact_id: text(a.parts) for a in snapshot.task.artifacts}
    assert list(missed.values()) == [GATED_BEFORE], \
        f"the snapshot lacks what the dropped stream missed: {missed}"
    rest = events[1:]
    assert state_of(rest[-1]) == COMPLETED, [describe(e) for e in events]
    assert all(kind(e) == "artifact_update" or state_of(e) == WORKING for e in rest[:-1]), \
        [describe(e) for e in events]
    texts = reassemble(rest, start=missed)
    assert GATED_BEFORE + GATED_AFTER in texts.values(), texts
    assert set(texts.values()) == {GATED_BEFORE + GATED_AFTER}, texts
    assert stored.status.state == COMPLETED
    assert {text(a.parts) for a in stored.artifacts} == {GATED_BEFORE + GATED_AFTER}


# push notifications


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.calls.append({"path": request.url.path, "headers": dict(request.headers),
                           "body": json.loads(body) if body else None})
        return Response(status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{name}", self.hook, methods=["POST"])])

    def to(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"] == f"/{name}"]


@pytest.fixture
def receiver() -> Any:
    hooks = Receiver()
    with LiveServer(hooks.app()) as live:
        hooks.url = live.url  # type: ignore[attr-defined]
        yield hooks


def delivered(call: dict[str, Any], mode: Mode) -> tuple[str, str, str, str]:
    """(kind, task id, state name or "", text) of one delivery.

    1.0 delivers a StreamResponse per event; for configs set over 0.3 the 0.3 spec's full Task
    (``kind: "task"``) is accepted too.
    """
    body = call["body"]
    if mode.version == "0.3" and isinstance(body, dict) and body.get("kind") == "task":
        state = {"submitted": "TASK_STATE_SUBMITTED", "working": "TASK_STATE_WORKING",
                 "completed": "TASK_STATE_COMPLETED", "input-required": "TASK_STATE_INPUT_REQUIRED",
                 "canceled": "TASK_STATE_CANCELED"}.get(body["status"]["state"], "?")
        parts = [p for a in body.get("artifacts") or [] for p in a.get("parts", [])]
        return "task", body["id"], state, "".join(p.get("text", "") for p in parts)
    event = ParseDict(body, StreamResponse())  # strict: an unknown field fails
    state = state_of(event)
    payload = getattr(event, kind(event))
    task_id = payload.id if kind(event) == "task" else payload.task_id
    if kind(event) == "task":
        content = artifacts_text(payload)
    elif kind(event) == "artifact_update":
        content = text(payload.artifact.parts)
    else:
        content = ""
    return kind(event), task_id, TaskState.Name(state) if state is not None else "", content


@modes
async def test_push_config_crud_and_delivery(server, mode, receiver):
    hook1, hook2 = f"{receiver.url}/hook1", f"{receiver.url}/hook2"
    async with sdk_client(server.url, mode, streaming=False) as (client, _):
        task = await send_task(client, user_message("refund please", skill="ask"))
        assert task.status.state == INPUT_REQUIRED

        created = await client.create_task_push_notification_config(TaskPushNotificationConfig(
            task_id=task.id, id="cfg-1", url=hook1, token="tok-1",
            authentication=AuthenticationInfo(scheme="Bearer", credentials="secret-1")))
        assert (created.task_id, created.id, created.url) == (task.id, "cfg-1", hook1)
        second = await client.create_task_push_notification_config(TaskPushNotificationConfig(
            task_id=task.id, id="cfg-2", url=hook2))
        assert (second.task_id, second.id, second.url) == (task.id, "cfg-2", hook2)

        got = await client.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-1"))
        assert (got.task_id, got.id, got.url, got.token) == (task.id, "cfg-1", hook1, "tok-1")
        assert got.authentication.scheme == "Bearer"

        deleted = False
        if mode.rest03:
            # the SDK's 0.3 REST client has no list or delete for push configs
            with pytest.raises(NotImplementedError):
                await client.list_task_push_notification_configs(
                    ListTaskPushNotificationConfigsRequest(task_id=task.id))
            with pytest.raises(NotImplementedError):
                await client.delete_task_push_notification_config(
                    DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-2"))
        else:
            listed = await client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id))
            assert sorted((c.id, c.url) for c in listed.configs) == [("cfg-1", hook1),
                                                                     ("cfg-2", hook2)]
            for _ in range(2):  # delete is idempotent
                await client.delete_task_push_notification_config(
                    DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-2"))
            deleted = True
            listed = await client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id))
            assert [c.id for c in listed.configs] == ["cfg-1"]
            with pytest.raises(A2AError):  # the SDK's server says TaskNotFound
                await client.get_task_push_notification_config(
                    GetTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-2"))

        done = await send_task(client, user_message("7", task_id=task.id))
        assert done.status.state == COMPLETED

    def completion_delivered() -> bool:
        return any(delivered(c, mode)[1:3] == (task.id, "TASK_STATE_COMPLETED")
                   for c in receiver.to("hook1"))

    await wait_for(completion_delivered, timeout=8)
    calls = receiver.to("hook1")
    assert {c["headers"].get("authorization") for c in calls} == {"Bearer secret-1"}
    events = [delivered(c, mode) for c in calls]
    assert {e[1] for e in events} == {task.id}, events
    assert any(e[3] == "order 7" for e in events), f"the answer was not delivered: {events}"
    if deleted:
        assert receiver.to("hook2") == [], "a deleted config still got deliveries"


@modes
async def test_push_config_given_with_the_message_gets_the_events(server, mode, receiver):
    hook = f"{receiver.url}/inline"
    config = TaskPushNotificationConfig(
        url=hook, authentication=AuthenticationInfo(scheme="Bearer", credentials="inline-cred"))
    async with sdk_client(server.url, mode, streaming=False) as (client, _):
        task = await send_task(client, user_message("pushed", skill="echo"),
                               task_push_notification_config=config)
    assert task.status.state == COMPLETED

    def completion_delivered() -> bool:
        return any(delivered(c, mode)[1:3] == (task.id, "TASK_STATE_COMPLETED")
                   for c in receiver.to("inline"))

    await wait_for(completion_delivered, timeout=8)
    calls = receiver.to("inline")
    assert {c["headers"].get("authorization") for c in calls} == {"Bearer inline-cred"}
    events = [delivered(c, mode) for c in calls]
    assert any(e[3] == "echo: pushed" for e in events), events


# restart


@modes
async def test_a_task_survives_a_server_restart(server_process, tmp_path, mode):
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    first = start_server(server_process, store, tmp_path)
    async with sdk_client(first.url, mode, streaming=False) as (client, _):
        task = await send_task(client, user_message("keep me", skill="echo"))
    assert task.status.state == COMPLETED
    first.stop()

    second = start_server(server_process, store, tmp_path, port=first.port)
    async with sdk_client(second.url, mode) as (client, _):
        again = await client.get_task(GetTaskRequest(id=task.id))
    assert (again.id, again.context_id) == (task.id, task.context_id)
    assert again.status.state == COMPLETED
    assert artifacts_text(again) == "echo: keep me"
    assert [text(m.parts) for m in again.history if m.role == Role.ROLE_USER] == ["keep me"]


# the card


async def test_the_sdk_reads_the_card_and_every_agent_is_a_skill(server):
    async with httpx.AsyncClient(timeout=10) as http:
        card = await A2ACardResolver(http, server.url).get_agent_card()
        legacy = await A2ACardResolver(http, server.url,
                                       agent_card_path="/.well-known/agent.json").get_agent_card()

    assert (card.name, card.version) == ("A2A SDK tests", "1.2.3")
    assert card.description == "Agents for the a2a-sdk tests."
    assert card.capabilities.streaming and card.capabilities.push_notifications
    interfaces = [(i.protocol_binding, i.protocol_version, i.url)
                  for i in card.supported_interfaces]
    assert interfaces == [(m.binding, m.version, server.url + "/a2a") for m in MODES]
    skills = {s.id: s for s in card.skills}
    assert set(skills) == SKILLS
    echo = skills["echo"]
    assert (echo.name, echo.description) == ("Echo", "Echoes the text back.")
    assert list(echo.tags) == ["test", "echo"] and list(echo.examples) == ["hello"]
    assert list(echo.input_modes) == ["text/plain"] and list(echo.output_modes) == ["text/plain"]
    assert skills["ask"].description == "Asks which order, then answers ``order <answer>``."

    # the 0.3 card, read by the SDK's legacy path, names the same agent and skills
    assert legacy.name == card.name
    assert {s.id for s in legacy.skills} == SKILLS
    assert {i.url for i in legacy.supported_interfaces} == {server.url + "/a2a"}
    assert {i.protocol_binding for i in legacy.supported_interfaces} == {"JSONRPC", "HTTP+JSON"}


@modes
async def test_a_skill_card_routes_to_its_skill(server, mode):
    base = server.url + "/a2a/words"
    async with httpx.AsyncClient(timeout=10) as http:
        card = await A2ACardResolver(http, base).get_agent_card()
    assert [s.id for s in card.skills] == ["words"]
    assert {i.url for i in card.supported_interfaces} == {base}
    async with sdk_client(base, mode, streaming=False) as (client, sent):
        task = await send_task(client, user_message("x y"))  # no skill named: the card's
    assert all(path.startswith("/a2a/words") for _, path, _, _ in wire(sent))
    assert task.status.state == COMPLETED
    assert artifacts_text(task) == "x y "
