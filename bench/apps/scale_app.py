"""The app of bench/scale.py: ``/sleep`` is a trivial I/O-bound run (it awaits ``ms``
milliseconds); ``/tick`` emits ``count`` tokens ``every_ms`` apart (after ``delay_ms``), each
carrying the time it was made, so a client can measure delivery latency across processes."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from fastagentic import App, RunContext, agent_endpoint

app = App(title="scale bench")


class SleepIn(BaseModel):
    ms: int = 50


class TickIn(BaseModel):
    count: int = 20
    every_ms: int = 100
    #: Before the first token: time for every client to open its stream.
    delay_ms: int = 0


@agent_endpoint("/sleep")
async def sleep(body: SleepIn, ctx: RunContext) -> int:
    await asyncio.sleep(body.ms / 1000)
    return body.ms


@agent_endpoint("/tick")
async def tick(body: TickIn, ctx: RunContext) -> int:
    await asyncio.sleep(body.delay_ms / 1000)
    for _ in range(body.count):
        await asyncio.sleep(body.every_ms / 1000)
        await ctx.token(repr(time.time()))
    return body.count
