"""An app for MCP task tests."""

import asyncio

from fastagentic import App, CallContext, tool
from fastagentic.exceptions import ToolError

app = App(title="tasks", version="0.0.1")


@tool(task_support="optional")
async def slow_add(a: int, b: int, seconds: float = 0.0) -> int:
    """Adds, slowly."""
    await asyncio.sleep(seconds)
    return a + b


@tool(task_support="required")
async def must_be_task() -> str:
    """Only runs as a task."""
    return "ran as a task"


@tool(task_support="optional")
async def breaks() -> str:
    """Fails as a tool."""
    raise ToolError("it broke")


@tool(task_support="optional")
async def confirm(item: str, ctx: CallContext) -> str:
    """Asks before acting."""
    reply = await ctx.elicit(f"Really {item}?", {"type": "object", "properties": {
        "ok": {"type": "boolean"}}, "required": ["ok"]}, key="ok")
    return "done" if (reply.get("content") or {}).get("ok") else "skipped"


@tool
def quick() -> str:
    """Never a task."""
    return "quick"
