"""An app for stdio tests: a fast tool and a slow agent tool that can be cancelled."""

import asyncio

from fastagentic import App, RunContext, agent_endpoint, tool

app = App(title="stdio test app", version="0.0.1")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@agent_endpoint("/slow", mcp_tool="slow")
async def slow(steps: int, ctx: RunContext):
    """Streams one token per step, slowly."""
    for i in range(steps):
        yield f"step {i} "
        await asyncio.sleep(0.05)
