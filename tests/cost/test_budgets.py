"""Cost guards: budgets reserved before each model step, so concurrent runs cannot overshoot;
reject, pause and downgrade on exhaustion; usage aggregates; threshold alerts."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from conftest import running_client, wait_for
from pydantic import BaseModel
from starlette.requests import Request

from fastagentic import App, RunContext, UserContext
from fastagentic.auth.base import Unauthenticated
from fastagentic.core import events as ev

# One step: 1,000 input + 500 output tokens at $1 / $2 per million = $0.002.
PRICES = {"pricey": {"input": 1.0, "output": 2.0}, "cheap": {"input": 0.0, "output": 0.0}}
STEP_USD = 0.002

USERS = {
    "alice": UserContext(user="alice", tenant="acme"),
    "bob": UserContext(user="bob", tenant="acme"),
    "boss": UserContext(user="boss", tenant="acme", roles=frozenset({"admin"})),
    "eve": UserContext(user="eve", tenant="evil", roles=frozenset({"admin"})),
}


async def by_token(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token not in USERS:
        raise Unauthenticated("unknown token")
    return USERS[token]


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}"}


class Ask(BaseModel):
    question: str = "q"


def step_app(store: str, *, on_exhausted: str = "reject", usd: float = 5 * STEP_USD,
             per: str = "tenant", **budget: Any) -> tuple[App, dict[str, int]]:
    app = App(durable_store=store, model_prices=PRICES)
    app.require_auth(by_token)
    app.budget(usd, per=per, on_exhausted=on_exhausted, **budget)
    models: dict[str, int] = {}

    @app.agent_endpoint("/ask")
    async def ask(body: Ask, ctx: RunContext) -> str:
        model = await ctx.reserve_cost("pricey", input_tokens=1000, output_tokens=500)
        await asyncio.sleep(0.05)  # the model call: every run is in flight at once
        models[model] = models.get(model, 0) + 1
        await ctx.emit(ev.cost({"input": 1000, "output": 500}, model=model))
        return f"answered by {model}"

    return app, models


async def start_many(client: httpx.AsyncClient, n: int, who: str = "alice") -> list[str]:
    responses = await asyncio.gather(*(
        client.post("/ask", json={"question": str(i)},
                    headers={**auth(who), "Prefer": "respond-async"}) for i in range(n)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    return [r.json()["run_id"] for r in responses]


async def settled(client: httpx.AsyncClient, run_ids: list[str], who: str = "alice"
                  ) -> list[dict[str, Any]]:
    async def all_settled() -> list[dict[str, Any]] | None:
        runs = [(await client.get(f"/runs/{r}", headers=auth(who))).json() for r in run_ids]
        return runs if all(r["status"] not in ("queued", "running") for r in runs) else None

    return await wait_for(all_settled, timeout=20)


async def spent(client: httpx.AsyncClient) -> float:
    usage = (await client.get("/usage", headers=auth("alice"))).json()
    return usage["budgets"][0]["spent_usd"]


async def test_twenty_concurrent_runs_against_a_budget_for_five_reject(store_url: str) -> None:
    app, models = step_app(store_url)
    async with running_client(app) as client:
        runs = await settled(client, await start_many(client, 20))
        statuses = [r["status"] for r in runs]
        assert statuses.count("completed") == 5
        assert statuses.count("failed") == 15
        assert {r["error"]["code"] for r in runs if r["status"] == "failed"} == \
            {"budget_exceeded"}
        assert models == {"pricey": 5}
        assert await spent(client) == pytest.approx(5 * STEP_USD)
        # Spent: a new run of the tenant is refused up front, with the budget named.
        refused = await client.post("/ask", json={}, headers=auth("bob"))
        assert refused.status_code == 402
        assert refused.json()["code"] == "budget_exceeded"
        assert refused.json()["details"]["limit_usd"] == pytest.approx(5 * STEP_USD)
        # Another tenant has its own budget.
        other = await client.post("/ask", json={}, headers=auth("eve"))
        assert other.status_code == 200 and other.json()["status"] == "completed"


async def test_pause_then_raise_the_budget_and_resume(store_url: str) -> None:
    app, models = step_app(store_url, on_exhausted="pause")
    async with running_client(app) as client:
        runs = await settled(client, await start_many(client, 20))
        paused = [r for r in runs if r["status"] == "input_required"]
        assert sum(r["status"] == "completed" for r in runs) == 5
        assert len(paused) == 15
        request = paused[0]["input_request"]
        assert request["details"]["reason"] == "budget_exhausted"
        assert request["details"]["budget"] == "tenant"
        # Resuming without more budget pauses again (nothing ran, nothing was spent).
        again = await client.post(f"/runs/{paused[0]['run_id']}/resume", json="go",
                                  headers=auth("alice"))
        assert again.status_code == 200
        (rerun,) = await settled(client, [paused[0]["run_id"]])
        assert rerun["status"] == "input_required"
        assert rerun["input_request"]["key"] == "budget-2", "a new request, not the answered one"
        assert await spent(client) == pytest.approx(5 * STEP_USD)

        # Only an admin of the tenant may raise it.
        body = {"usd": 10 * STEP_USD}
        assert (await client.put("/budgets/tenant/acme", json=body,
                                 headers=auth("alice"))).status_code == 403
        assert (await client.put("/budgets/tenant/acme", json=body,
                                 headers=auth("eve"))).status_code == 404
        raised = await client.put("/budgets/tenant/acme", json=body, headers=auth("boss"))
        assert raised.status_code == 200, raised.text
        for run in paused:
            response = await client.post(f"/runs/{run['run_id']}/resume", json="go",
                                         headers=auth("alice"))
            assert response.status_code == 200, response.text
        runs = await settled(client, [r["run_id"] for r in paused])
        assert sum(r["status"] == "completed" for r in runs) == 5
        assert sum(r["status"] == "input_required" for r in runs) == 10
        assert models == {"pricey": 10}
        assert await spent(client) == pytest.approx(10 * STEP_USD)


async def test_downgrade_to_a_cheaper_model(store_url: str) -> None:
    app, models = step_app(store_url, on_exhausted="downgrade", downgrade_to="cheap")
    async with running_client(app) as client:
        runs = await settled(client, await start_many(client, 20))
        assert all(r["status"] == "completed" for r in runs)
        assert models == {"pricey": 5, "cheap": 15}
        assert sorted(r["output"] for r in runs).count("answered by cheap") == 15
        assert await spent(client) == pytest.approx(5 * STEP_USD)


async def test_per_run_budget_and_a_step_that_never_reports_gives_back(tmp_path) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'r.db'}", model_prices=PRICES)
    app.budget(2.5 * STEP_USD, per="run")

    @app.agent_endpoint("/loop")
    async def loop(body: Ask, ctx: RunContext) -> int:
        steps = 0
        while True:
            await ctx.reserve_cost("pricey", input_tokens=1000, output_tokens=500)
            if body.question == "crash" and steps == 0:
                raise RuntimeError("the model call failed")  # no cost event
            await ctx.emit(ev.cost({"input": 1000, "output": 500}, model="pricey"))
            steps += 1
            await ctx.checkpoint({"steps": steps})

    async with running_client(app) as client:
        first = (await client.post("/loop", json={})).json()
        second = (await client.post("/loop", json={})).json()
        assert first["status"] == second["status"] == "failed"
        assert first["error"]["code"] == "budget_exceeded"
        for run in (first, second):  # each run has its own: two steps fit, the third not
            record = (await client.get(f"/runs/{run['run_id']}")).json()
            assert record["usage"]["amount"]["usd"] == pytest.approx(2 * STEP_USD)
        crashed = (await client.post("/loop", json={"question": "crash"})).json()
        assert crashed["status"] == "failed" and crashed["error"]["code"] == "run_failed"
        from fastagentic.cost.budget import SPENT_NS

        async with app.running():
            key = f"run\x1f{crashed['run_id']}\x1f"
            assert await app.store.kv_get(SPENT_NS, key) == 0, "the reservation came back"


async def test_prices_usage_and_alerts(tmp_path, live_server) -> None:
    received: list[dict[str, Any]] = []
    hooked: list[dict[str, Any]] = []
    receiver = App()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append(await request.json())
        return {"ok": True}

    with live_server(receiver) as server:
        app, _ = step_app(f"sqlite:///{tmp_path / 'u.db'}", usd=4 * STEP_USD, per="user",
                          alerts=(0.5, 1.0))
        app.settings.budget_alert_webhook = server.url + "/hook"
        app.on_budget_alert(hooked.append)
        async with running_client(app) as client:
            for who in ("alice", "alice", "bob"):
                done = (await client.post("/ask", json={}, headers=auth(who))).json()
                assert done["status"] == "completed"
                events = (await client.get(f"/runs/{done['run_id']}/events",
                                           headers=auth(who))).text
                assert '"usd":0.002' in events.replace(" ", ""), "the override priced it"
            mine = (await client.get("/usage", headers=auth("alice"))).json()
            assert mine["usage"]["usd"] == pytest.approx(2 * STEP_USD)
            assert mine["usage"]["tokens"] == {"input": 2000, "output": 1000}
            assert mine["tenant_usage"]["usd"] == pytest.approx(3 * STEP_USD)
            assert mine["budgets"][0]["spent_usd"] == pytest.approx(2 * STEP_USD)
            # Someone else's figures: admins of the tenant only.
            assert (await client.get("/usage?user=acme/bob",
                                     headers=auth("alice"))).status_code == 403
            bobs = (await client.get("/usage?user=acme/bob", headers=auth("boss"))).json()
            assert bobs["usage"]["usd"] == pytest.approx(STEP_USD)
            assert (await client.get("/usage?tenant=acme",
                                     headers=auth("eve"))).status_code == 404
            assert (await client.get("/usage?from=yesterday",
                                     headers=auth("alice"))).status_code == 400
            # alice crossed 50% once (at 2 of 4 steps): one alert, hook and webhook alike.
            await wait_for(lambda: len(received) == 1)
            assert [a["threshold"] for a in hooked] == [0.5]
            assert received[0]["type"] == "budget.alert"
            assert received[0]["subject"] == "acme/alice" and received[0]["threshold"] == 0.5


async def test_several_budgets_of_one_kind_are_raised_by_name() -> None:
    app, _ = step_app("memory://", usd=STEP_USD, per="user", period="day")
    app.budget(10 * STEP_USD, per="user", period="month")
    async with running_client(app) as client:
        ambiguous = await client.put("/budgets/user/acme/alice", json={"usd": 1.0},
                                     headers=auth("boss"))
        assert ambiguous.status_code == 404
        assert "user/day" in ambiguous.json()["message"]
        assert "user/month" in ambiguous.json()["message"]
        raised = await client.put("/budgets/user/acme/alice?budget=user/day",
                                  json={"usd": 1.0}, headers=auth("boss"))
        assert raised.status_code == 200 and raised.json()["budget"] == "user/day"
        limits = {b["budget"]: b["limit_usd"] for b in
                  (await client.get("/usage", headers=auth("alice"))).json()["budgets"]}
        assert limits == {"user/day": 1.0, "user/month": pytest.approx(10 * STEP_USD)}
        bobs = {b["budget"]: b["limit_usd"] for b in
                (await client.get("/usage", headers=auth("bob"))).json()["budgets"]}
        assert bobs["user/day"] == pytest.approx(STEP_USD), "only alice's was raised"
