"""A test app: a long, checkpointed token stream (crash and cancel tests), a run that fails,
and a short one that completes.

The stream's text is ``expected_text(n)``; progress is checkpointed every ``every`` tokens with
``{"i": tokens emitted so far}`` and a resumed run continues from ``ctx.state["i"]``.  The
checkpoint comes right after a token, so on resume the first event the code produces is the
first token after the checkpoint (the engine matches it against what was recorded).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from fastagentic import App, Output, RunContext, agent_endpoint

app = App(title="Slow stream", version="1.0.0")


def token_text(i: int) -> str:
    return f"w{i} "


def expected_text(n: int) -> str:
    return "".join(token_text(i) for i in range(n))


class StreamIn(BaseModel):
    tokens: int = 400
    delay: float = 0.005
    every: int = 20


@agent_endpoint("/stream", description="Streams a long answer, checkpointing its progress.")
async def stream(body: StreamIn, ctx: RunContext):
    """Yields ``tokens`` tokens; the output is the full text."""
    start = (ctx.state or {}).get("i", 0)
    for i in range(start, body.tokens):
        await asyncio.sleep(body.delay)
        yield token_text(i)
        if (i + 1) % body.every == 0 and i + 1 < body.tokens:
            await ctx.checkpoint({"i": i + 1})
    yield Output(expected_text(body.tokens))


@agent_endpoint("/streamed", description="Like /stream; its output is the streamed text.")
async def streamed(body: StreamIn, ctx: RunContext):
    """The output is whatever the adapter collects from the yielded text."""
    start = (ctx.state or {}).get("i", 0)
    for i in range(start, body.tokens):
        await asyncio.sleep(body.delay)
        yield token_text(i)
        if (i + 1) % body.every == 0 and i + 1 < body.tokens:
            await ctx.checkpoint({"i": i + 1})


class FailIn(BaseModel):
    reason: str = "boom"


@agent_endpoint("/fail", description="Emits a token, then fails.")
async def fail(body: FailIn, ctx: RunContext):
    """Always fails after its first token."""
    yield "about to fail "
    raise RuntimeError(body.reason)


class EchoIn(BaseModel):
    message: str


@agent_endpoint("/echo", description="Echoes the message word by word.")
async def echo(body: EchoIn, ctx: RunContext):
    """Completes quickly."""
    for word in body.message.split():
        yield word + " "
