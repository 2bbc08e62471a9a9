"""``/metrics`` after real traffic on every transport: scraped before and after, parsed with
prometheus-client's own parser, and each counter moved by exactly what the traffic did.

REST, SSE, WebSocket, MCP (Streamable HTTP) and A2A (JSON-RPC) run against a live uvicorn
server; the queue-depth, pool and registry-isolation checks run in process.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, a2a_send, isolated_store_url, running_client, wait_for
from prometheus_client.parser import text_string_to_metric_families
from protocols.mcp.test_http_wire import initialize, post, rpc
from pydantic import BaseModel
from websockets.asyncio.client import connect

from fastagentic import App, RunContext
from fastagentic.core import events as ev
from fastagentic.core.lifecycle import HookEvent, Reject
from fastagentic.exceptions import ToolError
from fastagentic.telemetry.metrics import enable_metrics

TIMEOUT = 30.0


class Ask(BaseModel):
    message: str


class Scrape:
    """One scrape: sample values by (sample name, labels)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[sample.name, tuple(sorted(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float:
        return self.values.get((name, tuple(sorted(labels.items()))), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, tuple(sorted(labels.items()))) in self.values


async def scrape(client: httpx.AsyncClient) -> Scrape:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return Scrape(r.text)


def make_app(store: str = "memory://", *, metrics: bool = True, **settings: Any
             ) -> tuple[App, threading.Event]:
    """``chat`` (a node, a model call, its cost, a tool call, a token), ``approval`` (waits
    for an answer), ``slow`` (waits for the returned event); tools ``add``, ``nope``
    (refused by a hook) and ``broken`` (fails)."""
    app = App(title="metrics", durable_store=store, **settings)
    if metrics:
        enable_metrics(app)
    gate = threading.Event()

    @app.tool
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @app.tool
    async def nope() -> str:
        """Always refused."""
        return "never"

    @app.tool
    async def broken() -> str:
        """Always fails."""
        raise ToolError("broken on purpose")

    @app.hook("on_tool_call")
    def refuse_nope(event: HookEvent) -> None:
        if event.data["tool"] == "nope":
            raise Reject("nope is refused")

    @app.agent_endpoint("/chat", mcp_tool="chat")
    async def chat(body: Ask, ctx: RunContext) -> str:
        await ctx.emit(ev.node_start("plan"))
        step = await ctx.llm_start("test-model", [{"role": "user", "content": body.message}])
        await step.end(response="fine", model="test-model", input_tokens=7, output_tokens=3)
        await ctx.add_cost({"input": 7, "output": 3}, {"usd": 0.25}, "test-model")
        total = await ctx.call_tool("add", {"a": 2, "b": 3})
        await ctx.emit(ev.node_end("plan"))
        await ctx.token("done")
        return f"{body.message}: {total}"

    @app.agent_endpoint("/approval")
    async def approval(body: Ask, ctx: RunContext) -> str:
        ok = await ctx.approve(f"approve {body.message}?")
        return "approved" if ok else "declined"

    @app.agent_endpoint("/slow")
    async def slow(body: Ask, ctx: RunContext) -> str:
        released = await asyncio.get_running_loop().run_in_executor(None, gate.wait, TIMEOUT)
        return "released" if released else "timed out"

    return app, gate


async def quiet(client: httpx.AsyncClient) -> Scrape:
    """A scrape once no run executes and no stream is open (run and connection counters are
    written when they end, just after the client saw the end)."""
    async def settled() -> Scrape | None:
        s = await scrape(client)
        busy = [v for (name, _), v in s.values.items()
                if name in ("fastagentic_runs_active", "fastagentic_active_streams",
                            "fastagentic_leases_active") and v]
        return None if busy else s

    return await wait_for(settled, timeout=TIMEOUT)


async def settled_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        run = (await client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in ("completed", "failed", "cancelled") else None

    return await wait_for(done, timeout=TIMEOUT)


async def mcp_tool_call(client: httpx.AsyncClient, session: str, name: str,
                        arguments: dict[str, Any]) -> dict[str, Any]:
    r = await post(client, rpc("tools/call", {"name": name, "arguments": arguments}, 2),
                   session)
    assert r.status_code == 200, r.text
    body = r.text
    if r.headers["content-type"].startswith("text/event-stream"):
        body = [line[5:] for line in body.splitlines() if line.startswith("data:")][-1]
    return json.loads(body)["result"]


async def test_counters_move_by_the_traffic_on_every_transport(tmp_path: Path) -> None:
    app, _ = make_app(f"sqlite:///{tmp_path / 'runs.db'}")
    with LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            before = await quiet(client)

            # REST: two tool calls, a refused one, a failing one, a run, a miss.
            for a in (1, 2):
                assert (await client.post("/tools/add", json={"a": a, "b": 1})).status_code == 200
            assert (await client.post("/tools/nope", json={})).status_code == 403
            assert (await client.post("/tools/broken", json={})).status_code == 400
            rest_run = (await client.post("/chat", json={"message": "rest"})).json()
            assert rest_run["status"] == "completed", rest_run
            assert (await client.get("/no/such/path")).status_code == 404

            # SSE: a run streamed as it starts, then its log streamed again by id.
            async with client.stream("POST", "/chat/stream", json={"message": "sse"}) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                sse_run = r.headers["x-run-id"]
                async for _ in r.aiter_lines():
                    pass
            async with client.stream("GET", f"/runs/{sse_run}/events") as r:
                frames = [line async for line in r.aiter_lines() if line.startswith("event:")]
            assert frames[-1] == "event: done"

            # WebSocket: one run.
            ws_url = server.url.replace("http://", "ws://", 1) + "/chat/ws"
            async with connect(ws_url) as ws:
                await ws.send(json.dumps({"type": "start", "input": {"message": "ws"}}))
                while json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] != "done":
                    pass

            # MCP: a session, a tool call and an agent tool (a run).
            session = await initialize(client)
            added = await mcp_tool_call(client, session, "add", {"a": 4, "b": 4})
            assert added["isError"] is False and added["structuredContent"]["result"] == 8
            mcp_run = await mcp_tool_call(client, session, "chat", {"message": "mcp"})
            assert mcp_run["isError"] is False, mcp_run

            # A2A: the card, and one message to the chat skill (a run).
            assert (await client.get("/.well-known/agent-card.json")).status_code == 200
            sent = await client.post("/a2a/chat", headers={"A2A-Version": "1.0"},
                                     json=a2a_send("a2a"))
            a2a_task = sent.json()["result"]["task"]
            await settled_run(client, a2a_task["id"])

            after = await quiet(client)

    def moved(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    requests = "fastagentic_requests_total"
    # RED per route template and transport.
    assert moved(requests, transport="rest", route="/tools/{name}", method="POST",
                 status="200") == 2
    assert moved(requests, transport="rest", route="/tools/{name}", method="POST",
                 status="403") == 1
    assert moved(requests, transport="rest", route="/tools/{name}", method="POST",
                 status="400") == 1
    assert moved(requests, transport="rest", route="/chat", method="POST", status="200") == 1
    assert moved(requests, transport="rest", route="unmatched", method="GET", status="404") == 1
    assert moved(requests, transport="sse", route="/chat/stream", method="POST",
                 status="200") == 1
    assert moved(requests, transport="sse", route="/runs/{run_id}/events", method="GET",
                 status="200") == 1
    assert moved(requests, transport="websocket", route="/chat/ws", method="GET",
                 status="101") == 1
    # initialize and the two tool calls; the initialized notification is accepted (202).
    assert moved(requests, transport="mcp", route="/mcp", method="POST", status="200") == 3
    assert moved(requests, transport="mcp", route="/mcp", method="POST", status="202") == 1
    assert moved(requests, transport="a2a", route="/.well-known/agent-card.json",
                 method="GET", status="200") == 1
    assert moved(requests, transport="a2a", route="/a2a/{rest:path}", method="POST",
                 status="200") == 1
    duration = "fastagentic_request_duration_seconds_count"
    assert moved(duration, transport="rest", route="/tools/{name}") == 4
    assert moved(duration, transport="mcp", route="/mcp") == 4
    assert moved(duration, transport="websocket", route="/chat/ws") == 1
    # No raw path, run id or user id ever became a label value.
    labels = {value for (_, pairs) in after.values for _, value in pairs}
    assert not [value for value in labels if value.startswith("run_") or "/no/such" in value
                or sse_run in value or "anonymous" in value]

    # Pipeline invocations by transport and outcome.
    inv = "fastagentic_invocations_total"
    assert moved(inv, transport="rest", kind="tool", target="add", outcome="ok") == 2
    assert moved(inv, transport="rest", kind="tool", target="nope", outcome="rejected") == 1
    assert moved(inv, transport="rest", kind="tool", target="broken", outcome="error") == 1
    assert moved(inv, transport="mcp", kind="tool", target="add", outcome="ok") == 1
    for transport in ("rest", "sse", "websocket", "mcp", "a2a"):
        assert moved(inv, transport=transport, kind="agent", target="chat", outcome="ok") == 1, \
            transport
    # Each of the five runs called ``add`` once from inside the run.
    assert moved(inv, transport="run", kind="tool", target="add", outcome="ok") == 5
    assert moved("fastagentic_invocation_duration_seconds_count", transport="rest",
                 kind="tool", target="add") == 2

    # Runs, their model calls, tool calls, nodes, tokens and cost.
    assert moved("fastagentic_runs_total", endpoint="chat", status="completed") == 5
    assert moved("fastagentic_run_duration_seconds_count", endpoint="chat",
                 status="completed") == 5
    assert after.get("fastagentic_runs_active", endpoint="chat") == 0
    assert moved("fastagentic_llm_calls_total", model="test-model", outcome="ok") == 5
    assert moved("fastagentic_llm_call_duration_seconds_count", model="test-model") == 5
    assert moved("fastagentic_tool_calls_total", tool="add", outcome="ok") == 5
    assert moved("fastagentic_tool_call_duration_seconds_count", tool="add") == 5
    assert moved("fastagentic_node_duration_seconds_count", node="plan") == 5
    tokens = "fastagentic_tokens_total"
    assert moved(tokens, endpoint="chat", model="test-model", tenant="", kind="input") == 35
    assert moved(tokens, endpoint="chat", model="test-model", tenant="", kind="output") == 15
    assert moved("fastagentic_cost_usd_total", endpoint="chat", model="test-model",
                 tenant="") == pytest.approx(1.25)
    # Store operations were timed (every run was created and settled through the store).
    assert moved("fastagentic_store_operation_seconds_count", operation="create_run") >= 5
    assert moved("fastagentic_store_operation_seconds_count",
                 operation="append_and_update") >= 5
    assert after.get("fastagentic_leases_active") == 0
    assert after.get("fastagentic_runs_queued") == 0


async def test_open_streams_and_executing_runs_are_gauges(tmp_path: Path) -> None:
    app, gate = make_app(f"sqlite:///{tmp_path / 'runs.db'}")
    with LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            # A run waiting for an answer, followed over SSE: the stream stays open.
            waiting = (await client.post("/approval", json={"message": "refund"})).json()
            assert waiting["status"] == "input_required", waiting
            run_id = waiting["run_id"]
            async with client.stream("GET", f"/runs/{run_id}/events") as events:
                async def streams(transport: str, value: float) -> bool:
                    s = await scrape(client)
                    return s.get("fastagentic_active_streams", transport=transport) == value

                await wait_for(lambda: streams("sse", 1), timeout=TIMEOUT)
                async with connect(server.url.replace("http", "ws", 1) + f"/runs/{run_id}/ws"):
                    await wait_for(lambda: streams("websocket", 1), timeout=TIMEOUT)
                await wait_for(lambda: streams("websocket", 0), timeout=TIMEOUT)
                answered = await client.post(f"/runs/{run_id}/resume",
                                             json={"approved": True})
                assert answered.status_code == 200, answered.text
                async for _ in events.aiter_lines():
                    pass  # ends with the run's ``done``
            await wait_for(lambda: streams("sse", 0), timeout=TIMEOUT)
            assert (await settled_run(client, run_id))["output"] == "approved"

            # A run executing here holds a lease until it ends.
            started = (await client.post("/slow", json={"message": "x"},
                                         headers={"Prefer": "respond-async"})).json()

            async def executing() -> bool:
                s = await scrape(client)
                return s.get("fastagentic_leases_active") == 1 \
                    and s.get("fastagentic_runs_active", endpoint="slow") == 1

            await wait_for(executing, timeout=TIMEOUT)
            gate.set()
            assert (await settled_run(client, started["run_id"]))["output"] == "released"
            after = await quiet(client)
    assert after.get("fastagentic_runs_total", endpoint="approval",
                     status="input_required") == 1
    assert after.get("fastagentic_runs_total", endpoint="approval", status="completed") == 1
    assert after.get("fastagentic_runs_total", endpoint="slow", status="completed") == 1


async def test_queue_depth_counts_runs_waiting_for_a_worker() -> None:
    app, _ = make_app(worker=False)  # an API-only process: runs wait for a worker
    async with running_client(app) as client:
        assert (await scrape(client)).get("fastagentic_runs_queued") == 0
        for i in range(3):
            r = await client.post("/chat", json={"message": str(i)},
                                  headers={"Prefer": "respond-async"})
            assert r.status_code == 202, r.text
        s = await scrape(client)
        assert s.get("fastagentic_runs_queued") == 3
        assert s.get("fastagentic_leases_active") == 0


async def test_openmetrics_when_asked_and_public_when_auth_is_on() -> None:
    from fastagentic.auth.base import Unauthenticated
    from fastagentic.core.context import UserContext

    async def authenticate(token: str | None, headers: Any) -> UserContext:
        if token != "good":
            raise Unauthenticated("who are you?")
        return UserContext(user="alice")

    app, _ = make_app(metrics=False)
    app.require_auth(authenticate)  # metrics enabled after auth: /metrics is public still
    enable_metrics(app)
    async with running_client(app) as client:
        assert (await client.post("/tools/add", json={"a": 1, "b": 1})).status_code == 401
        r = await client.get("/metrics", headers={
            "Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        assert r.text.rstrip().endswith("# EOF")
        assert (await scrape(client)).has("fastagentic_leases_active")


async def test_durations_land_in_their_buckets_cumulatively() -> None:
    app, _ = make_app()

    @app.tool
    async def nap(seconds: float) -> float:
        """Sleeps."""
        await asyncio.sleep(seconds)
        return seconds

    async with running_client(app) as client:
        for seconds in (0.03, 0.03, 0.3):
            r = await client.post("/tools/nap", json={"seconds": seconds})
            assert r.status_code == 200, r.text
        seen = await scrape(client)
    labels = dict(transport="rest", kind="tool", target="nap")
    name = "fastagentic_invocation_duration_seconds"

    def bucket(le: str) -> float:
        return seen.get(name + "_bucket", le=le, **labels)

    # 30 ms: above 0.025, within 0.05; 300 ms: above 0.25, within 0.5.  Buckets count up.
    assert (bucket("0.025"), bucket("0.05"), bucket("0.25"), bucket("0.5"), bucket("+Inf")) \
        == (0, 2, 2, 3, 3)
    assert seen.get(name + "_count", **labels) == 3
    assert 0.36 <= seen.get(name + "_sum", **labels) < 1.0
    assert seen.has(name + "_created", **labels)
    route = dict(transport="rest", route="/tools/{name}")
    assert seen.get("fastagentic_request_duration_seconds_bucket", le="0.025", **route) == 0
    assert seen.get("fastagentic_request_duration_seconds_bucket", le="+Inf", **route) == 3
    assert seen.get("fastagentic_requests_total", method="POST", status="200",
                    **route) == 3


async def test_two_apps_in_one_process_keep_their_own_series() -> None:
    one, _ = make_app()
    two, _ = make_app()
    assert enable_metrics(one) is enable_metrics(one)  # once per App
    async with running_client(one) as a, running_client(two) as b:
        assert (await a.post("/tools/add", json={"a": 1, "b": 1})).status_code == 200
        seen_one, seen_two = await scrape(a), await scrape(b)
    key = dict(transport="rest", kind="tool", target="add", outcome="ok")
    assert seen_one.get("fastagentic_invocations_total", **key) == 1
    assert seen_two.get("fastagentic_invocations_total", **key) == 0


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_store_pool_connections(kind: str, tmp_path: Path) -> None:
    with isolated_store_url(kind, tmp_path) as url:
        if kind == "postgres":
            url += "&pool_min=2&pool_max=7"
        app, _ = make_app(url)
        async with running_client(app) as client:
            assert (await client.post("/tools/add", json={"a": 1, "b": 1})).status_code == 200
            s = await scrape(client)
    pool = "fastagentic_store_pool_connections"
    in_use, idle = s.get(pool, backend=kind, state="in_use"), s.get(pool, backend=kind,
                                                                       state="idle")
    if kind == "postgres":
        assert s.get(pool, backend=kind, state="max") == 7
        assert in_use + idle >= 2  # pool_min connections are open
    else:
        from fastagentic.stores.redis import RedisStore

        assert s.get(pool, backend=kind, state="max") == RedisStore.CONNECTIONS
        assert in_use + idle >= 1
    assert in_use >= 0 and idle >= 0
