"""LangChain and LangGraph chat model calls reserve their cost before they start (a callback),
so concurrent runs cannot pass a budget; ``pause`` waits for more budget."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("langgraph")

from conftest import running_client, wait_for  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402

from fastagentic import App  # noqa: E402
from fastagentic.adapters.langchain import LangChainAdapter  # noqa: E402
from fastagentic.adapters.langgraph import LangGraphAdapter  # noqa: E402
from fastagentic.testing.langchain import ScriptedChatModel  # noqa: E402

PRICES = {"pricey": {"input": 100.0, "output": 100.0}}
# The callback's estimate of one call: a prompt under 100 tokens and 1,024 output tokens.
ESTIMATE = (100 + 1024) * 100.0 / 1_000_000


def chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("human", "{message}")])
    return prompt | ScriptedChatModel(respond=lambda m: "an answer", model_name="pricey",
                                      delay=0.01)


def graph() -> Any:
    model = ScriptedChatModel(respond=lambda m: "an answer", model_name="pricey", delay=0.01)

    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("call", call)
    builder.add_edge(START, "call")
    builder.add_edge("call", END)
    return builder.compile()


async def start(client: Any, n: int) -> list[dict[str, Any]]:
    started = await asyncio.gather(*(client.post(
        "/chat", json={"message": f"hello {i}"}, headers={"Prefer": "respond-async"})
        for i in range(n)))
    ids = [r.json()["run_id"] for r in started]

    async def settled() -> list[dict[str, Any]] | None:
        runs = [(await client.get(f"/runs/{i}")).json() for i in ids]
        return runs if all(r["status"] not in ("queued", "running") for r in runs) else None

    return await wait_for(settled, timeout=30)


@pytest.mark.parametrize("framework", ["langchain", "langgraph"])
@pytest.mark.parametrize("policy", ["reject", "pause"])
async def test_chat_model_calls_stay_within_the_budget(framework: str, policy: str) -> None:
    app = App(durable_store="memory://", model_prices=PRICES)
    runnable = LangChainAdapter(chain()) if framework == "langchain" else \
        LangGraphAdapter(graph())

    @app.agent_endpoint("/chat", runnable=runnable)
    async def chat(message: str) -> str: ...

    app.budget(3.5 * ESTIMATE, per="tenant", on_exhausted=policy)
    async with running_client(app) as client:
        runs = await start(client, 8)
        usage = (await client.get("/usage")).json()
    statuses = [r["status"] for r in runs]
    assert statuses.count("completed") == 3, runs
    other = "failed" if policy == "reject" else "input_required"
    assert statuses.count(other) == 5, runs
    if policy == "reject":
        assert {r["error"]["code"] for r in runs if r["error"]} == {"budget_exceeded"}
    assert 0 < usage["budgets"][0]["spent_usd"] <= 3.5 * ESTIMATE
    assert usage["usage"]["usd"] == pytest.approx(usage["budgets"][0]["spent_usd"])
