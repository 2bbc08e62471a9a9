"""Rate limits through the app: windows, what they count by, and how each transport refuses.

In-process (``httpx.ASGITransport``) unless a protocol client needs a socket; counters in
memory (the Redis storage is proven across two processes in ``test_rate_limit_redis``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from conftest import a2a_send, run_reaches, running_client, wait_for
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from fastagentic import App, RunContext
from fastagentic.exceptions import ConfigurationError
from policy.helpers import RawMcp, token_user

RATE_LIMITED = -32029


def make_app(**settings: Any) -> App:
    app = App(title="Limited", durable_store="memory://", **settings)

    @app.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.tool
    def mul(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    @app.agent_endpoint("/echo", mcp_tool="echo")
    async def echo(message: str) -> str:
        return f"echo: {message}"

    @app.agent_endpoint("/adder")
    async def adder(times: int, ctx: RunContext) -> int:
        total = 0
        for i in range(times):
            total = await ctx.call_tool("add", {"a": total, "b": i + 1})
        return total

    return app


def window_of(response: httpx.Response) -> str | None:
    """Which window refused (None: the call went through)."""
    if response.status_code == 200:
        return None
    assert response.status_code == 429, response.text
    return response.json()["details"]["limit"]


async def test_burst_and_sustained_windows_over_rest() -> None:
    app = make_app()
    app.rate_limit("2/second;3/minute", per="user")
    async with running_client(app) as client:
        async def add() -> httpx.Response:
            return await client.post("/tools/add", json={"a": 1, "b": 2})

        # The sliding windows are aligned to whole seconds, and a burst straddling a boundary
        # is weighed partly in the second before (2 calls at .99 count 1.98 at .01): start the
        # burst at the start of a second.
        await asyncio.sleep(1.01 - time.time() % 1)
        assert [(await add()).status_code for _ in range(2)] == [200, 200]
        burst = await add()
        assert window_of(burst) == "2 per 1 second"
        body = burst.json()
        assert body["code"] == "rate_limited"
        assert body["details"]["per"] == "user"
        assert burst.headers["Retry-After"] == "1"
        assert burst.headers["RateLimit-Limit"] == "2"
        assert burst.headers["RateLimit-Remaining"] == "0"
        assert burst.headers["RateLimit-Reset"] == "1"

        # Calls the burst window refuses do not use up the sustained one: once the second
        # rolls, a third call passes ...
        await wait_for(lambda: _passes(add), timeout=5, interval=0.05)
        # ... and then the minute is full, whatever the burst window says.
        refused = await wait_for(lambda: _refused_by(add, "3 per 1 minute"), timeout=5,
                                 interval=0.05)
        assert refused.headers["RateLimit-Limit"] == "3"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def _passes(call: Any) -> bool:
    return (await call()).status_code == 200


async def _refused_by(call: Any, window: str) -> httpx.Response | None:
    response = await call()
    return response if window_of(response) == window else None


# who calls what, and the JSON-RPC outcome (True: served, False: refused)
CASES: dict[str, list[tuple[str, str, bool]]] = {
    "user": [("alice@t1", "add", True), ("alice@t1", "mul", True),
             ("alice@t1", "add", False), ("bob@t1", "add", True), ("bob@t1", "mul", True),
             ("bob@t1", "mul", False)],
    "tenant": [("alice@t1", "add", True), ("bob@t1", "mul", True), ("bob@t1", "add", False),
               ("alice@t1", "add", False), ("carol@t2", "add", True),
               # without a tenant, a caller counts as its own tenant
               ("dave", "add", True), ("erin", "add", True)],
    "endpoint": [("alice@t1", "add", True), ("carol@t2", "add", True),
                 ("bob@t1", "add", False), ("bob@t1", "mul", True)],
    "user+endpoint": [("alice@t1", "add", True), ("alice@t1", "add", True),
                      ("alice@t1", "add", False), ("alice@t1", "mul", True),
                      ("bob@t1", "add", True)],
    "global": [("alice@t1", "add", True), ("carol@t2", "mul", True),
               ("bob@t1", "add", False), ("dave", "mul", False)],
}


@pytest.mark.parametrize("per", list(CASES))
async def test_what_a_rule_counts_by_over_mcp(per: str) -> None:
    app = make_app()
    app.require_auth(token_user)
    app.rate_limit("2/minute", per=per, name=f"by-{per.replace('+', '-')}")
    async with running_client(app) as client:
        mcp = RawMcp(client)
        outcomes = []
        for who, tool, _ in CASES[per]:
            status, answer = await mcp.call(tool, {"a": 2, "b": 3}, who)
            assert status == 200  # a JSON-RPC error rides on HTTP 200
            if "error" in answer:
                error = answer["error"]
                assert error["code"] == RATE_LIMITED, answer
                assert error["data"]["code"] == "rate_limited"
                assert error["data"]["retryAfter"] >= 1
                assert error["data"]["limit"] == 2 and error["data"]["remaining"] == 0
            outcomes.append("error" not in answer)
    assert outcomes == [ok for _, _, ok in CASES[per]]


async def test_endpoints_restrict_a_rule() -> None:
    app = make_app()
    app.rate_limit("1/minute", per="user", endpoints=["add"])
    async with running_client(app) as client:
        first = await client.post("/tools/add", json={"a": 1, "b": 1})
        second = await client.post("/tools/add", json={"a": 1, "b": 1})
        others = [await client.post("/tools/mul", json={"a": 2, "b": 2}) for _ in range(3)]
    assert (first.status_code, second.status_code) == (200, 429)
    assert [r.status_code for r in others] == [200, 200, 200]


async def test_mcp_refusal_seen_by_the_official_client(live_server: Any) -> None:
    app = make_app()
    app.rate_limit("1/minute", per="global")
    with live_server(app) as server:
        async with streamable_http_client(server.url + "/mcp") as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            served = await session.call_tool("add", {"a": 2, "b": 3})
            with pytest.raises(MCPError) as refused:
                await session.call_tool("add", {"a": 2, "b": 3})
    assert served.structured_content == {"result": 5}
    error = refused.value.error
    assert error.code == RATE_LIMITED
    assert error.data["code"] == "rate_limited"
    assert 1 <= error.data["retryAfter"] <= 60
    assert "rate limit exceeded" in error.message


async def test_a2a_jsonrpc_error_and_http_json_429() -> None:
    app = make_app()
    app.rate_limit("1/minute", per="user", endpoints=["echo"])
    v10 = {"A2A-Version": "1.0"}
    async with running_client(app) as client:
        served = await client.post("/a2a", headers=v10, json=a2a_send("hi"))
        rpc = await client.post("/a2a", headers=v10, json=a2a_send("again"))
        rest = await client.post("/a2a/message:send", headers=v10, json={"message": {
            "messageId": "m2", "role": "ROLE_USER", "parts": [{"text": "rest"}]}})
    assert "task" in served.json()["result"], served.text
    assert rpc.status_code == 200
    error = rpc.json()["error"]
    assert error["code"] == RATE_LIMITED
    info = error["data"][0]
    assert info["reason"] == "RATE_LIMITED"
    assert 1 <= int(info["metadata"]["retryAfter"]) <= 60
    assert rest.status_code == 429
    assert 1 <= int(rest.headers["Retry-After"]) <= 60
    assert rest.headers["RateLimit-Limit"] == "1"
    status = rest.json()["error"]
    assert (status["code"], status["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert status["details"][0]["reason"] == "RATE_LIMITED"


async def test_sse_and_websocket_run_starts_are_refused(live_server: Any) -> None:
    from websockets.asyncio.client import connect

    app = make_app()
    app.rate_limit("1/minute", per="user", endpoints=["echo"])
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            streamed = await client.post("/echo/stream", json={"message": "one"})
            refused = await client.post("/echo/stream", json={"message": "two"})
        async with connect(server.url.replace("http", "ws", 1) + "/echo/ws") as ws:
            await ws.send(json.dumps({"type": "start", "id": 7, "input": {"message": "x"}}))
            nack = json.loads(await ws.recv())
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert nack["type"] == "ack" and nack["ok"] is False and nack["id"] == 7
    assert nack["error"]["code"] == "rate_limited" and nack["error"]["status"] == 429
    assert nack["error"]["details"]["retry_after"] > 0


async def test_tool_calls_inside_runs_count_only_when_asked() -> None:
    app = make_app()
    app.rate_limit("1/minute", per="endpoint", endpoints=["add"])
    async with running_client(app) as client:
        run = (await client.post("/adder", json={"times": 3})).json()
        assert (run["status"], run["output"]) == ("completed", 6)
        direct = [await client.post("/tools/add", json={"a": 1, "b": 1}) for _ in range(2)]
    assert [r.status_code for r in direct] == [200, 429]


async def test_tool_calls_inside_runs_are_throttled_with_in_runs() -> None:
    app = make_app()
    app.rate_limit("1/second", per="endpoint", endpoints=["add"], in_runs=True)
    async with running_client(app) as client:
        started = time.monotonic()
        accepted = await client.post("/adder", json={"times": 3},
                                     headers={"Prefer": "respond-async"})
        run = await run_reaches(client, accepted.json()["run_id"], timeout=10)
        elapsed = time.monotonic() - started
        # The run's last call took this second's only slot.
        direct = await client.post("/tools/add", json={"a": 1, "b": 1})
    assert run["output"] == 6
    # three calls, one a second: the run waited across two window boundaries
    assert elapsed >= 1.0
    assert direct.status_code == 429


async def test_refusals_are_audited() -> None:
    app = make_app()
    app.rate_limit("1/minute", per="user", name="tight")
    recorded: list[tuple[str, dict[str, Any]]] = []

    async def record(action: str, **kwargs: Any) -> None:
        recorded.append((action, kwargs))

    app.audit.record = record  # type: ignore[method-assign]
    async with running_client(app) as client:
        await client.post("/tools/add", json={"a": 1, "b": 1})
        await client.post("/tools/add", json={"a": 1, "b": 1})
    denied = [(a, k) for a, k in recorded if a == "rate.limit"]
    assert len(denied) == 1
    action, entry = denied[0]
    assert entry["decision"] == "deny"
    assert entry["actor"].user == "anonymous"
    assert entry["context"]["rule"] == "tight"
    assert entry["context"]["endpoint"] == "add"
    assert entry["context"]["transport"] == "rest"


async def test_everything_off_installs_no_stage() -> None:
    app = make_app()
    assert app.pipeline._governance == []
    app.rate_limit("5/second")
    assert app.pipeline._governance == [app.rate_limits.stage]


async def test_an_unreachable_redis_is_a_503_not_a_500() -> None:
    app = make_app(rate_limit_store="redis://127.0.0.1:1/0")
    app.rate_limit("5/second")
    async with running_client(app) as client:
        response = await client.post("/tools/add", json={"a": 1, "b": 1})
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("lots",), {}, "write it like"),
    (("0/second",), {}, "at least 1"),
    (("5/second",), {"per": "ip"}, "per='ip'"),
    (("5/second",), {"strategy": "leaky-bucket"}, "strategy="),
    (("5/second",), {"endpoints": []}, "at least one"),
])
def test_configuration_errors(args: tuple[Any, ...], kwargs: dict[str, Any],
                              message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_app().rate_limit(*args, **kwargs)


async def test_unknown_endpoints_and_stores_fail_at_startup() -> None:
    app = make_app()
    app.rate_limit("5/second", endpoints=["nope"])
    with pytest.raises(ConfigurationError, match="no definition named nope"):
        async with app.running():
            pass
    other = make_app(rate_limit_store="mongodb://x")
    other.rate_limit("5/second")
    with pytest.raises(ConfigurationError, match="rate_limit_store"):
        async with other.running():
            pass


async def test_two_rules_with_one_name_are_refused() -> None:
    app = make_app()
    app.rate_limit("5/second", name="a")
    with pytest.raises(ConfigurationError, match="named 'a'"):
        app.rate_limit("9/second", name="a")

