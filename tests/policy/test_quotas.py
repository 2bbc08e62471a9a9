"""Quotas through the app: runs and tokens per user/tenant per period, kept in the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import a2a_send, running_client

from fastagentic import App, RunContext
from fastagentic.core import events
from fastagentic.core.context import ANONYMOUS, UserContext
from fastagentic.exceptions import ConfigurationError
from fastagentic.policy.quotas import Period
from policy.helpers import RawMcp, token_user

QUOTA_EXCEEDED = -32030
DAY = 86400


def make_app(store: str = "memory://") -> App:
    app = App(title="Quotas", durable_store=store)

    @app.agent_endpoint("/echo", mcp_tool="echo")
    async def echo(message: str) -> str:
        return f"echo: {message}"

    @app.agent_endpoint("/model", mcp_tool="model")
    async def model(prompt: str, ctx: RunContext) -> str:
        """Pretends to call a model that reports its usage."""
        await ctx.emit(events.cost({"input": 30, "output": 20}, model="test-model"))
        return "done"

    @app.tool
    def add(a: int, b: int) -> int:
        return a + b

    return app


async def start(client: httpx.AsyncClient, path: str = "/echo", **headers: str
                ) -> httpx.Response:
    return await client.post(path, json={"message": "hi"}, headers=headers)


def assert_quota_refusal(response: httpx.Response, kind: str, limit: int,
                         max_wait: float) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert body["details"]["kind"] == kind
    assert 1 <= int(response.headers["Retry-After"]) <= max_wait
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"


async def test_runs_quota_is_enforced_and_kept_in_the_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    app = make_app(store)
    app.quota(runs=2, per="user", period="day")
    async with running_client(app) as client:
        served = [await start(client) for _ in range(2)]
        refused = await start(client)
        tools = await client.post("/tools/add", json={"a": 1, "b": 2})  # not a run
    assert [r.status_code for r in served] == [200, 200]
    assert_quota_refusal(refused, "runs", 2, DAY)

    again = make_app(store)  # another process on the same store sees the count
    again.quota(runs=2, per="user", period="day")
    async with running_client(again) as client:
        refused = await start(client)
        usage = (await client.get("/quotas")).json()["quotas"]
    assert tools.status_code == 200
    assert_quota_refusal(refused, "runs", 2, DAY)
    assert len(usage) == 1
    assert usage[0]["kind"] == "runs" and usage[0]["period"] == "day"
    assert (usage[0]["limit"], usage[0]["used"], usage[0]["remaining"]) == (2, 2, 0)
    assert usage[0]["resets_at"].endswith("T00:00:00Z")
    assert 0 < usage[0]["reset"] <= DAY


async def test_the_period_rolls_over() -> None:
    app = make_app()
    app.quota(runs=1, per="user", period=60)
    now = [1_000_020.0]  # a period (multiple of 60 s since the epoch) starts here
    app.quotas.clock = lambda: now[0]
    async with running_client(app) as client:
        first = await start(client)
        now[0] += 30
        refused = await start(client)
        now[0] += 30  # the next period
        second = await start(client)
        refused_again = await start(client)
    assert first.status_code == 200
    assert_quota_refusal(refused, "runs", 1, 30)
    assert refused.headers["Retry-After"] == "30"
    assert refused.json()["details"]["retry_after"] == 30
    assert second.status_code == 200
    assert refused_again.headers["Retry-After"] == "60"


async def test_idempotent_replays_are_not_counted_twice() -> None:
    app = make_app()
    app.quota(runs=1, per="user", period="day")
    async with running_client(app) as client:
        first = await start(client, **{"Idempotency-Key": "order-1"})
        replay = await start(client, **{"Idempotency-Key": "order-1"})
        other = await start(client, **{"Idempotency-Key": "order-2"})
        usage = (await client.get("/quotas")).json()["quotas"][0]
    assert first.status_code == 200
    assert replay.status_code == 200  # the quota is used up, and the replay still answers
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["run_id"] == first.json()["run_id"]
    assert_quota_refusal(other, "runs", 1, DAY)
    assert usage["used"] == 1


async def test_concurrent_replays_count_once(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'runs.db'}")  # its writes yield: requests interleave
    app.quota(runs=5, per="user", period="day")
    async with running_client(app) as client:
        responses = await asyncio.gather(*(
            start(client, **{"Idempotency-Key": "same"}) for _ in range(5)))
        usage = (await client.get("/quotas")).json()["quotas"][0]
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.json()["run_id"] for r in responses}) == 1
    assert usage["used"] == 1


async def test_a_run_refused_further_in_is_given_back() -> None:
    from fastagentic.exceptions import Forbidden

    app = make_app()
    app.quota(runs=1, per="user", period="day")

    @app.use
    async def no_secrets(call: Any, call_next: Any) -> Any:
        if call.kind == "agent" and call.arguments.message == "secret":
            raise Forbidden("not that")
        return await call_next(call)

    async with running_client(app) as client:
        blocked = await client.post("/echo", json={"message": "secret"})
        usage = (await client.get("/quotas")).json()["quotas"][0]
        served = await start(client)
    assert blocked.status_code == 403
    assert usage["used"] == 0
    assert served.status_code == 200


async def test_concurrent_starts_never_overshoot() -> None:
    app = make_app()
    app.quota(runs=5, per="global", period="hour")
    async with running_client(app) as client:
        responses = await asyncio.gather(*(
            start(client, Prefer="respond-async") for _ in range(20)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(202) == 5, statuses
    assert statuses.count(429) == 15, statuses


async def test_runs_count_on_every_transport(live_server: Any) -> None:
    from websockets.asyncio.client import connect

    app = make_app()
    app.quota(runs=3, per="user", period="day")
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            rest = await start(client)
            async with connect(server.url.replace("http", "ws", 1) + "/echo/ws") as ws:
                await ws.send(json.dumps({"type": "start", "input": {"message": "ws"}}))
                ack = json.loads(await ws.recv())
            a2a = await client.post("/a2a", headers={"A2A-Version": "1.0"},
                                    json=a2a_send("a2a"))
            status, refused = await RawMcp(client).call("echo", {"message": "mcp"})
    assert rest.status_code == 200
    assert ack["ok"] is True
    assert "task" in a2a.json()["result"], a2a.text
    assert status == 200
    error = refused["error"]
    assert error["code"] == QUOTA_EXCEEDED
    assert error["data"]["code"] == "quota_exceeded"
    assert 1 <= error["data"]["retryAfter"] <= DAY


async def test_tokens_quota_charged_by_the_engine_hook() -> None:
    app = make_app()
    app.require_auth(token_user)
    app.quota(tokens=100, per="tenant", period="month")
    alice, carol = UserContext("alice", tenant="t1"), UserContext("carol", tenant="t2")
    async with running_client(app) as client:
        mcp = RawMcp(client)
        await app.quotas.charge_tokens(alice, 60, "run-1")
        _, served = await mcp.call("echo", {"message": "a"}, "bob@t1")  # 60 < 100
        await app.quotas.charge_tokens(UserContext("bob", tenant="t1"), 40, "run-2")
        _, refused = await mcp.call("echo", {"message": "b"}, "alice@t1")
        _, other_tenant = await mcp.call("echo", {"message": "c"}, "carol@t2")
        usage = {who.tenant: (await app.quotas.usage(who))[0] for who in (alice, carol)}
    assert "result" in served, served
    error = refused["error"]
    assert error["code"] == QUOTA_EXCEEDED
    assert error["data"]["details"]["kind"] == "tokens"
    assert error["data"]["details"]["used"] == 100
    assert "result" in other_tenant, other_tenant
    assert (usage["t1"]["used"], usage["t1"]["remaining"]) == (100, 0)
    assert (usage["t2"]["used"], usage["t2"]["remaining"]) == (0, 100)
    assert usage["t1"]["resets_at"][8:] == "01T00:00:00Z"  # the first of next month


async def test_tokens_of_a_real_run_are_charged_and_enforced() -> None:
    app = make_app()
    app.quota(tokens=80, per="user", period="day")
    async with running_client(app) as client:
        first = await client.post("/model", json={"prompt": "x"})
        after_one = (await client.get("/quotas")).json()["quotas"][0]
        second = await client.post("/model", json={"prompt": "y"})
        refused = await client.post("/model", json={"prompt": "z"})
    assert first.json()["status"] == "completed"
    assert after_one["used"] == 50  # 30 input + 20 output tokens
    assert second.json()["status"] == "completed"  # 50 < 80 when it started
    assert_quota_refusal(refused, "tokens", 80, DAY)
    assert refused.json()["details"]["used"] == 100


async def test_quota_refusals_are_audited() -> None:
    app = make_app()
    app.quota(runs=0, per="user", period="day", name="none-allowed")
    recorded: list[tuple[str, dict[str, Any]]] = []

    async def record(action: str, **kwargs: Any) -> None:
        recorded.append((action, kwargs))

    app.audit.record = record  # type: ignore[method-assign]
    async with running_client(app) as client:
        refused = await start(client)
    assert refused.status_code == 429
    entries = [k for a, k in recorded if a == "quota.exceeded"]
    assert len(entries) == 1
    assert entries[0]["decision"] == "deny"
    assert entries[0]["actor"] == ANONYMOUS
    assert entries[0]["context"]["quota"] == "none-allowed"
    assert entries[0]["context"]["endpoint"] == "echo"


async def test_endpoints_restrict_a_runs_quota() -> None:
    app = make_app()
    app.quota(runs=1, per="user", period="day", endpoints=["echo"])
    async with running_client(app) as client:
        echoes = [await start(client) for _ in range(2)]
        models = [await client.post("/model", json={"prompt": "x"}) for _ in range(2)]
    assert [r.status_code for r in echoes] == [200, 429]
    assert [r.status_code for r in models] == [200, 200]


def test_calendar_periods() -> None:
    # 2026-03-18 (a Wednesday) 13:45:10 UTC
    now = 1773841510.0
    assert Period.parse("day").bounds(now) == (1773792000.0, 1773878400.0)
    assert Period.parse("week").bounds(now) == (1773619200.0, 1774224000.0)  # Mon 16th
    assert Period.parse("month").bounds(now) == (1772323200.0, 1775001600.0)  # Mar 1, Apr 1
    assert Period.parse("hour").bounds(now) == (1773838800.0, 1773842400.0)
    assert Period.parse(90).bounds(now) == (now - now % 90, now - now % 90 + 90)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "one of runs= or tokens="),
    ({"runs": 1, "tokens": 1}, "one of runs= or tokens="),
    ({"runs": -1}, "non-negative"),
    ({"runs": 1, "per": "endpoint"}, "per='endpoint'"),
    ({"runs": 1, "period": "fortnight"}, "quota period"),
    ({"runs": 1, "period": 0}, "positive"),
    ({"tokens": 5, "endpoints": ["echo"]}, "no endpoints"),
])
def test_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_app().quota(**kwargs)
