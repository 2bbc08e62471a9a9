"""A test app for crash tests of the framework adapters: a multi-step agent, written once for
PydanticAI (``/pydanticai``) and once for LangGraph (``/langgraph``).

Each of ``steps`` model turns asks for two tool calls at once: ``charge(step)``, which is quick,
and ``notify(step)``, which first waits ``notify_delay`` seconds.  Then the model answers
``"charged <steps> times"``.  Every real execution of a tool appends ``<run_id> <tool> <step>``
to the file named by ``ADAPTER_SIDE_EFFECTS``, so a test can count them; a process killed
while ``notify`` waits leaves a completed ``charge`` behind it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.config import get_config
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from fastagentic import App
from fastagentic.adapters.langgraph import LangGraphAdapter
from fastagentic.adapters.pydanticai import PydanticAIAdapter
from fastagentic.testing.langchain import ScriptedChatModel

app = App(title="Adapter steps", version="1.0.0")

STEPS = 3
NOTIFY_DELAY = float(os.environ.get("ADAPTER_NOTIFY_DELAY", "0.6"))


def record(run_id: str, tool_name: str, step: int) -> None:
    path = os.environ.get("ADAPTER_SIDE_EFFECTS", ".fastagentic/adapter-side-effects.txt")
    with open(path, "a") as f:
        f.write(f"{run_id} {tool_name} {step}\n")
        f.flush()
        os.fsync(f.fileno())


# PydanticAI ----------------------------------------------------------------------------------


async def pydanticai_script(messages: list[Any], info: AgentInfo):  # noqa: ANN201
    done = sum(isinstance(p, ToolReturnPart) for m in messages for p in getattr(m, "parts", ()))
    step = done // 2 + 1
    if step <= STEPS:
        yield {0: DeltaToolCall(name="charge", json_args=f'{{"step": {step}}}',
                                tool_call_id=f"charge-{step}"),
               1: DeltaToolCall(name="notify", json_args=f'{{"step": {step}}}',
                                tool_call_id=f"notify-{step}")}
        return
    for word in ("charged ", f"{STEPS} ", "times"):
        yield word


agent: Agent[str, str] = Agent(FunctionModel(stream_function=pydanticai_script,
                                             model_name="steps-script"), deps_type=str)


@agent.tool
async def charge(ctx: RunContext[str], step: int) -> str:
    """Charge for one step."""
    record(ctx.deps, "charge", step)
    return f"charged {step}"


@agent.tool
async def notify(ctx: RunContext[str], step: int) -> str:
    """Tell someone, slowly."""
    await asyncio.sleep(NOTIFY_DELAY)
    record(ctx.deps, "notify", step)
    return f"notified {step}"


@app.agent_endpoint("/pydanticai", runnable=PydanticAIAdapter(
    agent, deps_factory=lambda input, ctx: ctx.run_id))
async def pydanticai(message: str) -> str:
    """The PydanticAI agent."""


# LangGraph -----------------------------------------------------------------------------------


def langgraph_script(messages: list[Any]) -> Any:
    step = sum(isinstance(m, ToolMessage) for m in messages) // 2 + 1
    if step <= STEPS:
        return [{"name": "lg_charge", "args": {"step": step}, "id": f"charge-{step}"},
                {"name": "lg_notify", "args": {"step": step}, "id": f"notify-{step}"}]
    return f"charged {STEPS} times"


model = ScriptedChatModel(respond=langgraph_script, model_name="steps-script")


@tool
async def lg_charge(step: int) -> str:
    """Charge for one step."""
    record(get_config()["configurable"]["thread_id"], "charge", step)
    return f"charged {step}"


@tool
async def lg_notify(step: int) -> str:
    """Tell someone, slowly."""
    await asyncio.sleep(NOTIFY_DELAY)
    record(get_config()["configurable"]["thread_id"], "notify", step)
    return f"notified {step}"


async def call_model(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("agent", call_model)
builder.add_node("tools", ToolNode([lg_charge, lg_notify]))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition)
builder.add_edge("tools", "agent")


@app.agent_endpoint("/langgraph", runnable=LangGraphAdapter(builder))
async def langgraph(message: str) -> str:
    """The LangGraph graph."""
