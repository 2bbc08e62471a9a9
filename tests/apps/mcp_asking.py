"""An app whose tools and agents ask their MCP client for input."""

from pydantic import BaseModel

from fastagentic import App, CallContext, RunContext, agent_endpoint, tool

app = App(title="asking", version="0.0.1")


class Profile(BaseModel):
    name: str
    age: int


@tool
async def greet(ctx: CallContext) -> str:
    """Asks the user's name and age, then greets."""
    reply = await ctx.elicit("Who are you?", Profile)
    if reply["action"] != "accept":
        return f"No greeting ({reply['action']})"
    return f"Hello {reply['content']['name']}, {reply['content']['age']}!"


@tool
async def capital(country: str, ctx: CallContext) -> str:
    """Asks the client's model for a capital."""
    reply = await ctx.sample(f"What is the capital of {country}?", max_tokens=20)
    return f"model says: {reply['content']['text']}"


@tool
async def two_questions(ctx: CallContext) -> str:
    """Asks twice, one after the other."""
    first = await ctx.elicit("First?", {"type": "object",
                                        "properties": {"a": {"type": "string"}}})
    second = await ctx.elicit("Second?", {"type": "object",
                                          "properties": {"b": {"type": "string"}}})
    return f"{first['content']['a']}+{second['content']['b']}"


class RefundIn(BaseModel):
    order: str


@agent_endpoint("/refund", mcp_tool="refund")
async def refund(body: RefundIn, ctx: RunContext) -> str:
    """Refunds after a human approves (the approval is asked over MCP, durably)."""
    await ctx.token(f"refund {body.order} ")
    approved = await ctx.approve(f"Refund {body.order}?")
    return f"{body.order}: {'refunded' if approved else 'kept'}"


@tool
async def sign_in(ctx: CallContext) -> str:
    """Sends the user to a sign-in page."""
    reply = await ctx.elicit_url("Please sign in", "https://auth.example/sign-in")
    return f"sign-in {reply['action']}"
