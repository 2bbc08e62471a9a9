"""The official MCP Python SDK (``mcp`` 2.x) for bench/mcp_tools_call.py.

Its high-level ``MCPServer`` with the same ``add`` tool, as the SDK's Streamable HTTP Starlette
app at ``/mcp`` with ``json_response=True`` and stateful sessions (the default).  The SDK routes
on ``MCP-Protocol-Version``: a handshake revision (2025-11-25) goes through ``initialize`` and
the session manager; 2026-07-28 goes to its sessionless single-exchange handler, on the same app.

    python -m uvicorn --app-dir bench/apps mcp_official:app
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

server = MCPServer("bench-mcp", version="1.0.0", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = server.streamable_http_app(json_response=True)
