"""A durable, multi-step agent whose every step has a side effect you can count.

``POST /steps`` with ``{"steps": n, "delay_ms": d}`` performs ``n`` steps.  Each step waits
``d`` milliseconds (the "thinking"), calls the tool ``charge(step)`` through the tool ledger and
then checkpoints ``{"steps_done": step + 1}``.  The run answers ``{"steps_done": n}``.

``charge`` is the side effect: every real execution appends one line ``<run_id> <step>`` to the
file named by ``DURABLE_EXAMPLE_SIDE_EFFECTS`` (default ``.fastagentic/durable-side-effects.log``)
with a single ``O_APPEND`` write followed by ``fsync``, so the line survives a SIGKILL that comes
right after.  Kill the process serving a run at any moment: after the lease expires another
worker resumes the run from its last checkpoint, calls whose result was recorded are answered
from the ledger, and the file shows each step charged once (a kill between the tool's write and
the ledger's can charge that one step again: the ledger records results, not intentions).

    fastagentic run examples/durable/app.py
    curl -s localhost:8000/steps -H 'content-type: application/json' \\
        -d '{"steps": 5, "delay_ms": 200}'
    # {"run_id": "run_…", "status": "completed", "output": {"steps_done": 5}}

With PostgreSQL or Redis and separate workers: see README.md next to this file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from fastagentic import App, CallContext, RunContext, agent_endpoint, tool

SIDE_EFFECTS_ENV = "DURABLE_EXAMPLE_SIDE_EFFECTS"
DEFAULT_SIDE_EFFECTS = ".fastagentic/durable-side-effects.log"

app = App(
    title="Durable steps",
    version="1.0.0",
    description="A checkpointed multi-step agent with a countable side effect per step.",
)


def side_effects_path() -> Path:
    """Where ``charge`` records its executions (read at each call, so it can be redirected)."""
    return Path(os.environ.get(SIDE_EFFECTS_ENV) or DEFAULT_SIDE_EFFECTS)


@tool
def charge(step: int, ctx: CallContext) -> int:
    """Charge one step: appends ``<run_id> <step>`` to the side-effect file and returns the step.

    Called outside a run (``POST /tools/charge``) the run id is written as ``-``.
    """
    path = side_effects_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = f"{ctx.run_id or '-'} {step}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write: concurrent runs' lines never interleave
        os.fsync(fd)
    finally:
        os.close(fd)
    return step


class StepsIn(BaseModel):
    steps: Annotated[int, Field(ge=0, le=10_000)]
    delay_ms: Annotated[int, Field(ge=0, le=60_000)] = 0


class StepsOut(BaseModel):
    steps_done: int


@agent_endpoint("/steps", description="Performs `steps` charged, checkpointed steps.")
async def steps(body: StepsIn, ctx: RunContext) -> StepsOut:
    """Step ``i``: wait, ``charge(i)`` through the ledger, checkpoint ``{"steps_done": i + 1}``.

    A resumed run starts at the last checkpoint's ``steps_done``.
    """
    done = (ctx.state or {}).get("steps_done", 0)
    for step in range(done, body.steps):
        await asyncio.sleep(body.delay_ms / 1000)
        await ctx.call_tool("charge", {"step": step})
        await ctx.checkpoint({"steps_done": step + 1})
    return StepsOut(steps_done=body.steps)
