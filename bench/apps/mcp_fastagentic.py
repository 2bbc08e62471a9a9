"""fastagentic for bench/mcp_tools_call.py: an App with the ``add`` tool, served at ``/mcp``.

Both MCP revisions on the one endpoint: 2025-11-25 (``initialize``, then ``Mcp-Session-Id``)
and 2026-07-28 (sessionless, routing headers and the ``_meta`` envelope).  The script runs it
with ``FASTAGENTIC_DURABLE_STORE=memory://``, so sessions live in the in-memory store.

    FASTAGENTIC_DURABLE_STORE=memory:// python -m uvicorn --app-dir bench/apps mcp_fastagentic:app
"""

from __future__ import annotations

from fastagentic import App, tool

app = App(title="bench-mcp", version="1.0.0")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
