"""The PydanticAI adapter reserves each model request's cost by itself: concurrent runs cannot
pass a budget, and a ``downgrade`` budget switches the request to the cheaper model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from conftest import running_client, wait_for  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

from fastagentic import App  # noqa: E402
from fastagentic.adapters.pydanticai import PydanticAIAdapter  # noqa: E402

PRICES = {"pricey": {"input": 100.0, "output": 100.0}, "cheap": {"input": 0.0, "output": 0.0}}


def model(name: str, calls: list[str]) -> FunctionModel:
    async def script(messages: list[Any], info: AgentInfo):  # noqa: ANN202
        calls.append(name)
        await asyncio.sleep(0.05)
        yield f"from {name}"

    return FunctionModel(stream_function=script, model_name=name)


async def runs_of(client: Any, n: int) -> list[dict[str, Any]]:
    started = await asyncio.gather(*(client.post(
        "/chat", json={"message": f"hello {i}"}, headers={"Prefer": "respond-async"})
        for i in range(n)))
    ids = [r.json()["run_id"] for r in started]

    async def done() -> list[dict[str, Any]] | None:
        runs = [(await client.get(f"/runs/{i}")).json() for i in ids]
        return runs if all(r["status"] in ("completed", "failed") for r in runs) else None

    return await wait_for(done, timeout=20)


@pytest.mark.parametrize("policy", ["reject", "downgrade"])
async def test_concurrent_pydanticai_runs_stay_within_the_budget(policy: str) -> None:
    calls: list[str] = []
    cheap = model("cheap", calls)
    agent: Agent[None, str] = Agent(model("pricey", calls))
    app = App(durable_store="memory://", model_prices=PRICES)

    @app.agent_endpoint("/chat", runnable=PydanticAIAdapter(agent))
    async def chat(message: str) -> str: ...

    # The adapter's estimate of one request: its prompt (~4 characters a token, here under
    # 100 tokens) and 1,024 output tokens (the budget's estimate_output_tokens).
    estimate = app.prices.usd("pricey", {"input": 100, "output": 1024})
    budget = 3.5 * estimate
    app.budget(budget, per="tenant", on_exhausted=policy,
               downgrade_to=cheap if policy == "downgrade" else None)
    async with running_client(app) as client:
        runs = await runs_of(client, 12)
        usage = (await client.get("/usage")).json()

    pricey = calls.count("pricey")
    assert pricey == 3, calls  # 3.5 estimates: 3 requests fit, whatever the timing
    assert usage["budgets"][0]["spent_usd"] <= budget
    if policy == "reject":
        assert sum(r["status"] == "completed" for r in runs) == pricey
        failed = [r for r in runs if r["status"] == "failed"]
        assert failed and {r["error"]["code"] for r in failed} == {"budget_exceeded"}
    else:
        assert all(r["status"] == "completed" for r in runs)
        assert calls.count("cheap") == 12 - pricey
        outputs = sorted(r["output"] for r in runs)
        assert outputs.count("from cheap") == 12 - pricey
