"""OpenTelemetry traces: the span tree of a REST run and of MCP calls, one trace across A2A
delegation and worker processes, export over OTLP/HTTP to a receiver that decodes it, trace
context on push webhooks and outgoing A2A calls.

In-process Apps export to an ``InMemorySpanExporter`` (``configure_otel(span_processor=...)``);
subprocess servers and workers export over OTLP/HTTP to :class:`OtlpReceiver`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ROOT,
    LiveServer,
    load_app_file,
    parse_sse,
    poll,
    run_reaches,
    running_client,
    wait_for,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.a2a.client import A2AClient
from fastagentic.exceptions import ToolError
from fastagentic.telemetry import configure_otel

from .otlp_receiver import OtlpReceiver, ReceivedSpan

APPS = ROOT / "tests" / "apps"
TRACED_APP = Path(__file__).with_name("traced_app.py")
#: Personal data in the input: it must not reach any span.
EMAIL = "jane.doe@example.com"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"


class Ask(BaseModel):
    message: str


def traced(app: App) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    configure_otel(app, service_name="tests", span_processor=SimpleSpanProcessor(exporter))
    return exporter


class Tree:
    """Finished spans with their parent links."""

    def __init__(self, spans: Iterable[ReadableSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {s.context.span_id: s for s in self.spans}

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, (name, sorted(s.name for s in self.spans))
        return found[0]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self.by_id.get(span.parent.span_id) if span.parent is not None else None

    def chain(self, span: ReadableSpan, skip: tuple[str, ...] = ()) -> list[str]:
        """The names from ``span`` up to its root (names starting with ``skip`` left out)."""
        names = []
        current: ReadableSpan | None = span
        while current is not None:
            if not current.name.startswith(skip) or current is span:
                names.append(current.name)
            current = self.parent(current)
        return names


async def ended(exporter: InMemorySpanExporter, name: str) -> None:
    """Wait for the span ``name`` to end: a run's span ends when its task does, a moment after
    the run settled and answered."""
    await wait_for(lambda: any(s.name == name for s in exporter.get_finished_spans()))


def tree_has(exporter: InMemorySpanExporter, name: str) -> bool:
    return any(s.name == name for s in exporter.get_finished_spans())


def attribute_values(spans: Iterable[ReadableSpan]) -> list[str]:
    values = []
    for span in spans:
        values += [str(v) for v in (span.attributes or {}).values()]
        for event in span.events:
            values += [str(v) for v in (event.attributes or {}).values()]
    return values


def calc_app(tmp_path: Path) -> App:
    """A plain-function agent endpoint that calls the ``add`` tool."""
    app = App(title="calc", durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.tool
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @app.tool
    async def jam(reason: str) -> str:
        """Always fails."""
        raise ToolError(f"jammed: {reason}")

    @app.agent_endpoint("/calc", mcp_tool="calc")
    async def calc(body: Ask, ctx: RunContext) -> str:
        await ctx.token("thinking ")
        total = await ctx.call_tool("add", {"a": 2, "b": 3})
        await ctx.token("done")
        return f"{body.message}: {total}"

    return app


# (a) one REST run


async def test_a_rest_run_is_one_trace_from_the_request_to_the_tool_call(tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    exporter = traced(app)
    async with running_client(app) as client:
        response = await client.post("/calc", json={"message": f"mail {EMAIL}"},
                                     headers={"traceparent": TRACEPARENT})
        await ended(exporter, "run calc")
    run = response.json()
    assert response.status_code == 200 and run["status"] == "completed", run
    tree = Tree(exporter.get_finished_spans())

    tool = tree.one("execute_tool add")
    assert tree.chain(tool, skip=("store ",)) == ["execute_tool add", "run calc", "POST /calc"]
    server = tree.one("POST /calc")
    assert server.kind == SpanKind.SERVER
    # The caller's trace continues: same trace id, the caller's span is the parent.
    assert {s.context.trace_id for s in tree.spans} == {int(CALLER_TRACE, 16)}
    assert server.parent is not None and server.parent.span_id == int(CALLER_PARENT, 16)
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/calc"
    assert server.attributes["http.response.status_code"] == 200

    # The agent call the request was made for is described on the request's span.
    assert server.attributes["fastagentic.transport"] == "rest"
    assert server.attributes["fastagentic.kind"] == "agent"
    assert server.attributes["fastagentic.target"] == "/calc"
    assert server.attributes["enduser.id"] == "anonymous"
    assert not [s for s in tree.spans if s.name.startswith("agent ")]

    attempt = tree.one("run calc")
    assert attempt.attributes["fastagentic.run_id"] == run["run_id"]
    assert attempt.attributes["fastagentic.run.attempt"] == 1
    assert attempt.attributes["fastagentic.run.status"] == "completed"
    assert attempt.status.status_code == StatusCode.UNSET

    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "add"
    assert tool.attributes["gen_ai.tool.call.id"]
    assert tool.attributes["fastagentic.transport"] == "run"
    assert tool.attributes["fastagentic.run_id"] == run["run_id"]

    # Store operations inside the request and the run are spans too, with the store's system.
    stores = [s for s in tree.spans if s.name.startswith("store ")]
    assert {"store create_run", "store ledger_put"} <= {s.name for s in stores}
    assert {s.attributes["db.system"] for s in stores} == {"sqlite"}
    # The input never reaches a span.
    assert not [v for v in attribute_values(tree.spans) if EMAIL in v or "mail " in v]


async def test_a_sampled_out_request_records_nothing_that_it_starts(tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    exporter = InMemorySpanExporter()
    configure_otel(app, service_name="tests", sampler_ratio=0.0,
                   span_processor=SimpleSpanProcessor(exporter))
    unsampled = f"00-{CALLER_TRACE}-{CALLER_PARENT}-00"
    async with running_client(app) as client:
        # A new trace at ratio 0, and a caller's trace the caller did not sample.
        for headers in ({}, {"traceparent": unsampled}):
            response = await client.post("/calc", json={"message": "hi"}, headers=headers)
            assert response.status_code == 200 and response.json()["status"] == "completed"
            response = await client.post("/tools/add", json={"a": 1, "b": 2}, headers=headers)
            assert response.status_code == 200
        # The request, its run, the run's tool call and the store operations: none recorded.
        await asyncio.sleep(0.2)
        assert exporter.get_finished_spans() == ()
        # A caller's sampled trace is followed whatever the ratio: all of it is recorded.
        response = await client.post("/calc", json={"message": "hi"},
                                     headers={"traceparent": TRACEPARENT})
        await ended(exporter, "run calc")
    tree = Tree(exporter.get_finished_spans())
    assert tree.chain(tree.one("execute_tool add"), skip=("store ",)) == [
        "execute_tool add", "run calc", "POST /calc"]
    assert {s.context.trace_id for s in tree.spans} == {int(CALLER_TRACE, 16)}



async def test_a_pydanticai_run_has_genai_model_and_tool_spans(tmp_path: Path) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.test import TestModel

    from fastagentic.adapters.pydanticai import PydanticAIAdapter

    app = App(title="chat", durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    agent: Agent[None, str] = Agent(TestModel(model_name="test-model"))

    @agent.tool_plain
    def lookup(order: str) -> str:
        """Look an order up."""
        return "shipped"

    @app.agent_endpoint("/chat", runnable=PydanticAIAdapter(agent))
    async def chat(message: str) -> str: ...

    exporter = traced(app)
    async with running_client(app) as client:
        response = await client.post("/chat", json={"message": f"where is my order? {EMAIL}"})
        await ended(exporter, "run chat")
    run = response.json()
    assert run["status"] == "completed", run
    tree = Tree(exporter.get_finished_spans())

    models = tree.named("chat test-model")
    assert len(models) == 2  # the tool call, then the answer
    for model in models:
        assert tree.chain(model, skip=("node ", "store "))[1:] == ["run chat", "POST /chat"]
        assert model.attributes["gen_ai.operation.name"] == "chat"
        assert model.attributes["gen_ai.request.model"] == "test-model"
        assert model.attributes["gen_ai.usage.input_tokens"] > 0
    assert models[-1].attributes["gen_ai.usage.output_tokens"] > 0

    tool = tree.one("execute_tool lookup")
    assert tree.chain(tool, skip=("node ", "store "))[1:] == ["run chat", "POST /chat"]
    assert tool.attributes["gen_ai.tool.name"] == "lookup"
    assert tool.attributes["gen_ai.tool.call.id"]
    assert tool.attributes["fastagentic.run_id"] == run["run_id"]
    assert len({s.context.trace_id for s in tree.spans}) == 1
    assert not [v for v in attribute_values(tree.spans) if EMAIL in v]


async def test_a_failing_call_is_recorded_on_its_request_without_personal_data(
        tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    exporter = traced(app)
    async with running_client(app) as client:
        response = await client.post("/tools/jam", json={"reason": f"ask {EMAIL}"})
    assert response.status_code >= 400
    tree = Tree(exporter.get_finished_spans())
    (request,) = tree.spans
    assert request.name == "POST /tools/{name}"
    assert request.attributes["fastagentic.target"] == "jam"
    assert request.attributes["http.response.status_code"] == response.status_code
    assert request.attributes["error.type"] == "ToolError"
    (exception,) = [e for e in request.events if e.name == "exception"]
    assert exception.attributes["exception.type"].endswith("ToolError")
    assert exception.attributes["exception.message"] == "jammed: ask [REDACTED]"
    assert "ToolError: jammed: ask [REDACTED]" in exception.attributes["exception.stacktrace"]
    assert not [v for v in attribute_values(tree.spans) if EMAIL in v]


async def test_a_user_id_that_is_an_email_address_is_redacted(tmp_path: Path) -> None:
    from fastagentic.auth.base import Unauthenticated
    from fastagentic.core.context import UserContext

    async def bearer_is_the_user(token: str | None, headers: Any) -> UserContext:
        if not token:
            raise Unauthenticated("a bearer token naming the user is required")
        return UserContext(user=token, tenant="acme")

    app = calc_app(tmp_path)
    app.require_auth(bearer_is_the_user)
    exporter = traced(app)
    async with running_client(app) as client:
        response = await client.post("/calc", json={"message": "hi"},
                                     headers={"Authorization": f"Bearer {EMAIL}"})
        await ended(exporter, "run calc")
    assert response.json()["status"] == "completed", response.text
    tree = Tree(exporter.get_finished_spans())
    server, attempt = tree.one("POST /calc"), tree.one("run calc")
    assert server.attributes["enduser.id"] == attempt.attributes["enduser.id"] == "[REDACTED]"
    assert server.attributes["fastagentic.tenant"] == "acme"
    assert not [v for v in attribute_values(tree.spans) if EMAIL in v]


async def test_an_sse_response_counts_its_events_on_the_request_span(tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    exporter = traced(app)
    async with running_client(app) as client:
        response = await client.post("/calc/stream", json={"message": "hi"})
    frames = parse_sse(response.text)
    assert frames and frames[-1]["event"] == "done"
    server = Tree(exporter.get_finished_spans()).one("POST /calc/stream")
    assert server.attributes["http.route"] == "/calc/stream"
    assert server.attributes["fastagentic.sse.events"] == len(frames)


def test_a_websocket_connection_is_one_span_with_its_messages(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    app = calc_app(tmp_path)
    exporter = traced(app)
    frames = []
    with LiveServer(app) as server, \
            connect(server.url.replace("http", "ws", 1) + "/calc/ws") as ws:
        ws.send(json.dumps({"type": "start", "input": {"message": "hi"}}))
        while True:
            frames.append(json.loads(ws.recv(timeout=30)))
            if frames[-1]["type"] == "done":
                break
        poll(lambda: tree_has(exporter, "run calc"), timeout=10, what="the run's span")
    tree = Tree(exporter.get_finished_spans())
    span = tree.one("WEBSOCKET /calc/ws")
    assert span.kind == SpanKind.SERVER
    assert span.attributes["fastagentic.websocket.received"] == 1
    assert span.attributes["fastagentic.websocket.sent"] == len(frames)
    assert [e.name for e in span.events] == ["websocket.receive"]
    # The run started over the socket belongs to the connection's trace.
    attempt = tree.one("run calc")
    assert attempt.context.trace_id == span.context.trace_id
    assert "WEBSOCKET /calc/ws" in tree.chain(attempt)


# (b) MCP


async def test_mcp_tool_and_agent_tool_calls_are_spans_under_the_request(tmp_path: Path) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    app = calc_app(tmp_path)
    exporter = traced(app)
    with LiveServer(app) as server:
        async with streamable_http_client(server.url + "/mcp") as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            added = await session.call_tool("add", {"a": 2, "b": 3})
            answered = await session.call_tool("calc", {"message": "sum"})
        await ended(exporter, "run calc")
    assert added.is_error is False and answered.is_error is False
    tree = Tree(exporter.get_finished_spans())

    # The tools/call requests: each one span (the call it was made for described on it).
    calls = {s.attributes["fastagentic.target"]: s for s in tree.named("POST /mcp")
             if "fastagentic.target" in s.attributes}
    assert set(calls) == {"add", "/calc"}
    for request in calls.values():
        assert request.kind == SpanKind.SERVER and request.attributes["http.route"] == "/mcp"
        assert request.attributes["fastagentic.transport"] == "mcp"
    assert calls["add"].attributes["fastagentic.kind"] == "tool"
    assert calls["/calc"].attributes["fastagentic.kind"] == "agent"
    assert not tree.named("tool add")  # not a span of its own

    inner = tree.one("execute_tool add")
    assert tree.chain(inner, skip=("store ",)) == ["execute_tool add", "run calc", "POST /mcp"]
    assert tree.chain(inner)[-1] == "POST /mcp"
    root = tree.by_id[tree.one("run calc").parent.span_id]
    assert root is calls["/calc"]
    assert calls["add"].context.trace_id != inner.context.trace_id  # two requests


# (d) OTLP over HTTP, as configured in the seed


async def test_spans_are_exported_over_otlp_http_to_a_collector(tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    with OtlpReceiver() as receiver:
        seen = InMemorySpanExporter()  # to know when the run's span has ended
        watcher = configure_otel(app, service_name="support-triage",
                                 exporter_endpoint=receiver.url,
                                 headers={"Authorization": "Basic cGs6c2s="},
                                 span_processor=SimpleSpanProcessor(seen))
        async with running_client(app) as client:
            response = await client.post("/tools/add", json={"a": 1, "b": 2})
            assert response.json() == {"result": 3}
            assert (await client.post("/calc", json={"message": "x"})).status_code == 200
            await ended(seen, "run calc")
        assert watcher.force_flush()
        spans = await asyncio.to_thread(receiver.wait_for, lambda s: s if any(
            x.name == "execute_tool add" for x in s) else None)
        watcher.shutdown()
    assert receiver.exports and all(e.headers["authorization"] == "Basic cGs6c2s="
                                    for e in receiver.exports)
    assert all(e.headers["content-type"] == "application/x-protobuf" for e in receiver.exports)
    assert {s.service for s in spans} == {"support-triage"}
    assert {s.scope for s in spans} == {"fastagentic"}
    (server,) = [s for s in spans if s.name == "POST /tools/{name}"]
    assert server.kind == "SERVER" and server.parent_span_id == ""
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["fastagentic.kind"] == "tool"
    assert server.attributes["fastagentic.target"] == "add"
    (run_request,) = [s for s in spans if s.name == "POST /calc"]
    (attempt,) = [s for s in spans if s.name == "run calc"]
    (tool,) = [s for s in spans if s.name == "execute_tool add"]
    assert attempt.trace_id == run_request.trace_id == tool.trace_id != server.trace_id
    assert attempt.parent_span_id == run_request.span_id
    assert tool.parent_span_id == attempt.span_id and tool.kind == "INTERNAL"
    assert tool.attributes["gen_ai.tool.name"] == "add"


def test_without_the_sdk_configure_otel_names_the_extra() -> None:
    code = ("import sys; sys.modules['opentelemetry.sdk'] = None\n"
            "from fastagentic import App\nfrom fastagentic.telemetry import configure_otel\n"
            "try:\n    configure_otel(App(), service_name='x', "
            "exporter_endpoint='http://localhost:4318')\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingDependency "), done.stdout
    assert 'pip install "fastagentic[otel]"' in done.stdout


# (c) across processes


def traced_env(receiver: OtlpReceiver, app_file: Path, service: str, **extra: str
               ) -> dict[str, str]:
    return {"TRACED_APP": str(app_file), "OTEL_SERVICE_NAME": service,
            "FASTAGENTIC_OTEL_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50",
            **extra}


def spans_named(spans: list[ReceivedSpan], service: str, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == service and s.name == name]


async def test_a_run_delegated_over_a2a_to_another_process_is_one_trace(
        server_process: Any, tmp_path: Path) -> None:
    with OtlpReceiver() as receiver:
        worker = server_process(TRACED_APP, f"sqlite:///{tmp_path / 'worker.db'}",
                                env=traced_env(receiver, APPS / "a2a_worker.py", "worker"))
        worker.start()
        boss = server_process(TRACED_APP, f"sqlite:///{tmp_path / 'boss.db'}",
                              env=traced_env(receiver, APPS / "a2a_boss.py", "boss",
                                             A2A_WORKER_URL=worker.url))
        boss.start()
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(boss.url + "/boss",
                                         json={"agent": "translate", "text": "hello"},
                                         headers={"traceparent": TRACEPARENT})
        run = response.json()
        assert run["status"] == "completed", run
        assert run["output"]["result"]["output"] == "bonjour"

        def arrived(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
            done = spans_named(spans, "boss", "run boss") and \
                spans_named(spans, "worker", "run translate") and \
                spans_named(spans, "worker", "execute_tool glossary")
            return spans if done else None

        spans = await asyncio.to_thread(receiver.wait_for, arrived)
    boss_spans = [s for s in spans if s.service == "boss"]
    worker_spans = [s for s in spans if s.service == "worker"]
    # One trace: the caller's, through the boss, over A2A, into the worker's run and tool.
    assert {s.trace_id for s in boss_spans + worker_spans} == {CALLER_TRACE}
    (boss_run,) = spans_named(spans, "boss", "run boss")
    assert boss_run.attributes["fastagentic.run_id"] == run["run_id"]
    boss_ids = {s.span_id: s for s in boss_spans}

    def boss_chain(span_id: str) -> list[str]:
        names = []
        while span_id in boss_ids:
            names.append(boss_ids[span_id].name)
            span_id = boss_ids[span_id].parent_span_id
        return names

    # The worker's A2A requests (the card, the message) are children of the boss's run: the
    # context crossed over from inside it.
    a2a_requests = [s for s in worker_spans if s.kind == "SERVER"
                    and s.attributes.get("http.route", "").startswith("/a2a")]
    assert {s.attributes["http.request.method"] for s in a2a_requests} == {"GET", "POST"}
    for request in a2a_requests:
        assert boss_chain(request.parent_span_id)[-2:] == ["run boss", "POST /boss"]
    by_id = {s.span_id: s for s in worker_spans}
    (worker_run,) = spans_named(spans, "worker", "run translate")
    (tool,) = spans_named(spans, "worker", "execute_tool glossary")
    assert tool.parent_span_id == worker_run.span_id
    chain, current = [], worker_run
    while current.parent_span_id in by_id:
        current = by_id[current.parent_span_id]
        chain.append(current.name)
    assert chain[-1].startswith("POST /a2a") and "run boss" in boss_chain(current.parent_span_id)


async def test_a_run_executed_by_a_worker_process_continues_the_submitting_trace(
        worker_process: Any, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    api = load_app_file(APPS / "a2a_worker.py", store)
    api.settings.worker = False  # accepts runs; a worker process executes them
    exporter = traced(api)
    with OtlpReceiver() as receiver:
        worker = worker_process(TRACED_APP, store, env=traced_env(
            receiver, APPS / "a2a_worker.py", "worker", FASTAGENTIC_POLL_INTERVAL="0.1"))
        worker.start()
        async with running_client(api) as client:
            response = await client.post("/translate", json={"text": "thanks"},
                                         headers={"Prefer": "respond-async"})
            assert response.status_code == 202, response.text
            run_id = response.json()["run_id"]
            run = await run_reaches(client, run_id, "completed", timeout=30)
        assert run["output"] == "merci"

        def arrived(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
            done = spans_named(spans, "worker", "run translate") and \
                spans_named(spans, "worker", "execute_tool glossary")
            return spans if done else None

        spans = await asyncio.to_thread(receiver.wait_for, arrived)
    tree = Tree(exporter.get_finished_spans())
    submitted = tree.one("POST /translate")
    assert submitted.attributes["fastagentic.kind"] == "agent"
    assert not tree.named("run translate")  # not executed by the API process
    (attempt,) = spans_named(spans, "worker", "run translate")
    (tool,) = spans_named(spans, "worker", "execute_tool glossary")
    assert attempt.attributes["fastagentic.run_id"] == run_id
    # The worker's run span continues the trace stored with the run at submission.
    assert attempt.trace_id == f"{submitted.context.trace_id:032x}"
    assert attempt.parent_span_id == f"{submitted.context.span_id:016x}"
    assert tool.parent_span_id == attempt.span_id


# propagation on outgoing requests


async def test_push_webhooks_carry_the_trace_of_the_task(tmp_path: Path) -> None:
    from protocols.a2a.test_push_delivery import Receiver

    app = App(title="push", durable_store=f"sqlite:///{tmp_path / 'runs.db'}",
              a2a_push_allow_hosts=["127.0.0.1"])

    @app.agent_endpoint("/echo", default=True)
    async def echo(message: str) -> str:
        return "echo: " + message

    exporter = traced(app)
    async with Receiver() as hook, running_client(app) as client:
        response = await client.post("/a2a", headers={"A2A-Version": "1.0"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
                "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]},
                "configuration": {"taskPushNotificationConfig": {"url": hook.url()}}}})
        assert "result" in response.json(), response.text
        await wait_for(lambda: any(b'"TASK_STATE_COMPLETED"' in body
                                   for body in hook.delivered), timeout=20)
    request = Tree(exporter.get_finished_spans()).one("POST /a2a")
    for hit in hook.hits:
        version, trace_id, parent, flags = hit.headers["traceparent"].split("-")
        assert trace_id == f"{request.context.trace_id:032x}"
        assert version == "00" and int(flags, 16) & 1  # sampled


async def test_an_a2a_call_inside_a_span_carries_its_trace(tmp_path: Path) -> None:
    app = calc_app(tmp_path)
    exporter = traced(app)
    watcher = app.lifecycle.watchers[-1]
    async with app.running():
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a")
        async with http:
            client = await A2AClient.connect("http://a", httpx_client=http)
            with watcher.tracer.start_as_current_span("caller") as caller:
                await client.send("hi")
            await client.send("no span, no trace")
    tree = Tree(exporter.get_finished_spans())
    requests = [s for s in tree.spans if s.kind == SpanKind.SERVER]
    under = [s for s in requests if s.parent is not None
             and s.parent.span_id == caller.get_span_context().span_id]
    assert [s.name for s in under] == ["POST /a2a"]
    assert under[0].context.trace_id == caller.get_span_context().trace_id
    alone = [s for s in requests if s.name == "POST /a2a" and s.parent is None]
    assert len(alone) == 1 and alone[0].context.trace_id != caller.get_span_context().trace_id


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_probes_are_not_traced(tmp_path: Path, path: str) -> None:
    app = calc_app(tmp_path)
    exporter = traced(app)
    async with running_client(app) as client:
        assert (await client.get(path)).status_code == 200
    assert not [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
