"""A LangGraph workflow served by fastagentic, offline, with a human approval.

Refund requests go through a graph: the agent looks the order up with a tool, a person approves
the refund (LangGraph's ``interrupt``: the run waits in ``input_required``), and the refund tool
runs only after a yes.  The model is fastagentic's ``ScriptedChatModel`` (no network, no keys);
swap in any LangChain chat model (``init_chat_model("openai:gpt-5")``) for a real one.

    fastagentic run examples/langgraph_workflow/app.py
    curl -s localhost:8000/refund -H 'content-type: application/json' \\
        -d '{"message": "please refund order 42"}'
    # {"status": "input_required", "input_request": {"prompt": "Refund order 42 (49.0 EUR)?" ...
    curl -s localhost:8000/runs/<run_id>/resume -H 'content-type: application/json' -d '"yes"'
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from fastagentic import App
from fastagentic.adapters.langgraph import LangGraphAdapter
from fastagentic.testing.langchain import ScriptedChatModel

ORDERS = {"42": {"item": "kettle", "price": 49.0}, "7": {"item": "mug", "price": 12.5}}
REFUNDED: list[str] = []


@tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """An order's item and price."""
    order = ORDERS.get(order_id)
    return {"order_id": order_id, **order} if order else {"order_id": order_id, "error": "unknown"}


@tool
def refund_order(order_id: str, amount: float) -> str:
    """Refund an order (only after a person approved it)."""
    REFUNDED.append(order_id)
    return f"refunded {amount} EUR for order {order_id}"


def _order_id(messages: list[BaseMessage]) -> str:
    first = next((m for m in messages if isinstance(m, HumanMessage)), None)
    return (re.findall(r"\d+", str(first.content if first else "")) or ["0"])[0]


def support_script(messages: list[BaseMessage]) -> Any:
    """The scripted model: look the order up, then (approved) refund it, then answer."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    order_id = _order_id(messages)
    if not results:
        return [{"name": "lookup_order", "args": {"order_id": order_id}, "id": "lookup"}]
    last = results[-1]
    if last.name == "lookup_order":
        if "unknown" in str(last.content):
            return f"I could not find order {order_id}."
        price = ORDERS[order_id]["price"]
        return [{"name": "refund_order", "args": {"order_id": order_id, "amount": price},
                 "id": "refund"}]
    return f"Done: {last.content}."


model = ScriptedChatModel(respond=support_script, model_name="support-script")


async def agent(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "approve" if last.tool_calls[0]["name"] == "refund_order" else "tools"
    return END


def approve(state: MessagesState) -> dict[str, Any]:
    """A person decides; the graph waits here (the run is ``input_required``)."""
    call = state["messages"][-1].tool_calls[0]
    answer = interrupt({"question": f"Refund order {call['args']['order_id']} "
                                    f"({call['args']['amount']} EUR)?", "call": call})
    if str(answer).strip().lower() in ("yes", "y", "ok", "approve", "approved", "true"):
        return {}
    return {"messages": [
        ToolMessage(content="The refund was not approved.", tool_call_id=call["id"],
                    name=call["name"]),
        AIMessage(content="The refund was not approved, so nothing was refunded.")]}


def after_approval(state: MessagesState) -> str:
    return "tools" if isinstance(state["messages"][-1], AIMessage) and \
        state["messages"][-1].tool_calls else END


workflow = StateGraph(MessagesState)
workflow.add_node("agent", agent)
workflow.add_node("tools", ToolNode([lookup_order, refund_order]))
workflow.add_node("approve", approve)
workflow.add_edge(START, "agent")
workflow.add_conditional_edges("agent", route, ["tools", "approve", END])
workflow.add_conditional_edges("approve", after_approval, ["tools", END])
workflow.add_edge("tools", "agent")

app = App(title="LangGraph refunds", version="1.0.0",
          description="A LangGraph workflow with tools and a human approval, on fastagentic.")


@app.agent_endpoint("/refund", mcp_tool="refund", runnable=LangGraphAdapter(workflow))
async def refund(message: str) -> str:
    """Refund requests: looks the order up, waits for an approval, then refunds."""
