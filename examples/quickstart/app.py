"""The fastagentic quickstart: tools, a resource, a prompt and two agent endpoints.

Runs offline: the "agent" here is plain Python that streams its answer token by token,
calls a tool on the way, and (for refunds) pauses for a human approval.

    fastagentic run examples/quickstart/app.py
"""

from __future__ import annotations

import asyncio
import re
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, Field

from fastagentic import App, Example, RunContext, agent_endpoint, prompt, resource, tool

app = App(
    title="Quickstart",
    version="1.0.0",
    description="A small offline agent service built with fastagentic.",
)


@tool(examples=[Example({"a": 2, "b": 3}, output=5)])
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Priority(str, Enum):
    low = "low"
    normal = "normal"
    urgent = "urgent"


class Ticket(BaseModel):
    subject: Annotated[str, Field(min_length=3, max_length=200)]
    body: str = ""
    customer_tier: Annotated[int, Field(ge=1, le=3)] = 1


class Triage(BaseModel):
    priority: Priority
    queue: str
    reasons: list[str]


@tool(
    title="Triage a support ticket",
    examples=[Example({"subject": "Site is down", "body": "outage since 9am",
                       "customer_tier": 3})],
)
async def triage_ticket(ticket: Ticket) -> Triage:
    """Route a ticket to a queue with a priority, explaining why."""
    text = f"{ticket.subject} {ticket.body}".lower()
    reasons = []
    priority = Priority.normal
    if any(word in text for word in ("down", "outage", "breach")):
        priority = Priority.urgent
        reasons.append("mentions an outage or breach")
    if ticket.customer_tier == 3:
        reasons.append("enterprise customer")
        if priority is Priority.normal:
            priority = Priority.urgent
    queue = "billing" if re.search(r"refund|invoice|charge", text) else "support"
    return Triage(priority=priority, queue=queue, reasons=reasons or ["no urgency signals"])


@resource("docs://quickstart/{topic}", mime_type="text/markdown")
def docs(topic: str) -> str:
    """Short documentation pages by topic."""
    pages = {
        "tools": "# Tools\nPOST /tools/{name} with the arguments as JSON.",
        "runs": "# Runs\nEvery agent call is a durable run: GET /runs/{run_id}/events.",
    }
    return pages.get(topic, f"# {topic}\nNo page yet.")


@prompt(title="Summarize a ticket")
def summarize(subject: str, tone: str = "neutral") -> str:
    """A prompt template for summarizing a ticket."""
    return f"Summarize the support ticket '{subject}' in two sentences, in a {tone} tone."


class ChatIn(BaseModel):
    message: str


@agent_endpoint("/chat", mcp_tool="chat",
                description="Answers a message, streaming token by token.",
                examples=[Example({"message": "what is 2 + 3?"})])
async def chat(body: ChatIn, ctx: RunContext):
    """An offline 'agent': it finds numbers in the message, adds them with a tool, and streams."""
    numbers = [int(n) for n in re.findall(r"-?\d+", body.message)][:2]
    yield "Let me think. "
    if len(numbers) == 2:
        total = await ctx.call_tool("add", {"a": numbers[0], "b": numbers[1]})
        answer = f"{numbers[0]} + {numbers[1]} = {total}."
    else:
        answer = f"You said: {body.message}"
    for word in answer.split(" "):
        await asyncio.sleep(0.01)  # a model would stream at its own pace
        yield word + " "


class RefundIn(BaseModel):
    order_id: str
    amount: Annotated[float, Field(gt=0)]


class RefundOut(BaseModel):
    order_id: str
    refunded: bool
    note: str


@agent_endpoint("/refund", description="Refunds an order after a human approves it.")
async def refund(request: RefundIn, ctx: RunContext) -> RefundOut:
    await ctx.token(f"Refund of {request.amount:.2f} for order {request.order_id} ")
    await ctx.checkpoint({"stage": "awaiting approval"})
    approved = await ctx.approve(
        f"Approve a refund of {request.amount:.2f} for order {request.order_id}?",
        details=request.model_dump())
    if not approved:
        await ctx.token("was declined.")
        return RefundOut(order_id=request.order_id, refunded=False, note="declined by reviewer")
    await ctx.token("was approved and issued.")
    return RefundOut(order_id=request.order_id, refunded=True, note="approved")
