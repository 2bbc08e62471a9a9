"""fastmcp (PrefectHQ/fastmcp, from PyPI) for bench/mcp_tools_call.py.

Its ``FastMCP`` server with the same ``add`` tool, as its Streamable HTTP app
(``http_app(transport="streamable-http")``) at ``/mcp`` with ``json_response=True`` and stateful
sessions (the default).  fastmcp pins its own ``mcp``, so this runs from a separate venv
(``.cache/bench-fastmcp-venv``, which the script creates), never from the project's ``.venv``.

    .cache/bench-fastmcp-venv/bin/python -m uvicorn --app-dir bench/apps mcp_fastmcp:app
"""

from __future__ import annotations

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse

server = FastMCP("bench-mcp", version="1.0.0")


@server.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = server.http_app(path="/mcp", transport="streamable-http", json_response=True)
