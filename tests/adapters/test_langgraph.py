"""LangGraphAdapter: a LangGraph graph (offline, ScriptedChatModel) served as fastagentic runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import running_client, wait_for

pytest.importorskip("langgraph")

from langchain_core.tools import tool  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.types import interrupt  # noqa: E402

from fastagentic import App  # noqa: E402
from fastagentic.adapters.langgraph import LangGraphAdapter  # noqa: E402
from fastagentic.testing.langchain import ScriptedChatModel  # noqa: E402

V10 = {"A2A-Version": "1.0"}


def billing_graph(charges: list[int], *, approval: bool = False,
                  script: list[Any] | None = None, delay: float = 0.0) -> StateGraph:
    """agent → tools (charge) → agent → [approve] → end."""
    model = ScriptedChatModel(script=script or [
        [{"name": "charge", "args": {"amount": 5}, "id": "call_1"}],
        "Done: charged 5",
    ], model_name="scripted-billing", delay=delay)

    @tool
    async def charge(amount: int) -> str:
        """Charge the customer's card."""
        charges.append(amount)
        return f"charged {amount}"

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def approve(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Send the receipt?", "amount": 5})
        return {"messages": [{"role": "user", "content": f"receipt: {answer}"}]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([charge]))
    builder.add_edge(START, "agent")
    if approval:
        builder.add_node("approve", approve)
        builder.add_conditional_edges("agent", tools_condition, {"tools": "tools",
                                                                  END: "approve"})
        builder.add_edge("approve", END)
    else:
        builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    return r.json()["events"]


async def test_a_run_streams_nodes_tokens_tools_costs_and_checkpoints():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=LangGraphAdapter(billing_graph(charges)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/billing", json={"message": "charge me"})).json()
        events = await events_of(client, answer["run_id"])
    for e in events:
        print(e)
    assert answer["status"] == "completed", answer
    assert answer["output"] == "Done: charged 5"
    assert charges == [5]
