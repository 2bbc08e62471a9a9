"""A PydanticAI agent served by fastagentic, offline.

The model is PydanticAI's own ``FunctionModel`` with a small script instead of a provider, so
this runs without network or keys; swap in ``Agent("openai:gpt-5", ...)`` for a real one.

    fastagentic run examples/pydanticai_chat/app.py
    curl -s localhost:8000/chat -H 'content-type: application/json' \\
        -d '{"message": "what is the status of order 42?"}'
    # refunds need an approval: the run waits in input_required
    curl -s localhost:8000/refund -H 'content-type: application/json' \\
        -d '{"message": "refund order 42"}'
    curl -s localhost:8000/runs/<run_id>/resume -H 'content-type: application/json' \\
        -d '{"approved": true}'
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from fastagentic import App
from fastagentic.adapters.pydanticai import PydanticAIAdapter

ORDERS = {"42": "shipped on Monday", "7": "waiting for stock"}


def _prompt(messages: list[Any]) -> str:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


async def support_model(messages: list[Any], info: AgentInfo):  # noqa: ANN201
    """Looks the order up (or asks for a refund), then answers from the tool's result."""
    returned = [p for m in messages for p in getattr(m, "parts", ())
                if isinstance(p, ToolReturnPart)]
    if not returned:
        order = (re.findall(r"\d+", _prompt(messages)) or ["0"])[0]
        tool = "refund" if "refund" in _prompt(messages).lower() else "order_status"
        yield {0: DeltaToolCall(name=tool, json_args=f'{{"order_id": "{order}"}}',
                                tool_call_id=f"{tool}-{order}")}
        return
    for word in f"Here is what I found: {returned[-1].content}.".split(" "):
        yield word + " "


agent = Agent(FunctionModel(stream_function=support_model, model_name="support-script"),
              instructions="You answer questions about orders.")


@agent.tool_plain
def order_status(order_id: str) -> str:
    """The delivery status of an order."""
    return f"order {order_id} is {ORDERS.get(order_id, 'unknown')}"


@agent.tool_plain(requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order (a person approves it first)."""
    return f"order {order_id} was refunded"


app = App(title="PydanticAI support", version="1.0.0",
          description="A PydanticAI agent with tools and an approval, served by fastagentic.")


@app.agent_endpoint("/chat", mcp_tool="chat", runnable=PydanticAIAdapter(agent))
async def chat(message: str) -> str:
    """Questions about orders."""


@app.agent_endpoint("/refund", runnable=PydanticAIAdapter(agent))
async def refunds(message: str) -> str:
    """Refund requests (each refund waits for an approval)."""
