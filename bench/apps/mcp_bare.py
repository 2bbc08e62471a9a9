"""The ceiling for bench/mcp_tools_call.py: ``tools/call`` of ``add`` on a bare Starlette route.

No MCP machinery: ``POST /mcp`` parses the JSON-RPC body, checks it is a ``tools/call`` of
``add``, calls the same sync ``add`` as the MCP servers do (in the thread pool, as all three
frameworks run a sync tool) and answers the same JSON-RPC result::

    {"jsonrpc": "2.0", "id": <id>, "result": {"content": [{"type": "text", "text": "5"}],
     "structuredContent": {"result": 5}, "isError": false}}

It ignores the session and protocol headers, so it answers either revision's request.

    python -m uvicorn --app-dir bench/apps mcp_bare:app
"""

from __future__ import annotations

import json

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def mcp(request: Request) -> Response:
    try:
        message = json.loads(await request.body())
        params = message["params"]
        if message.get("method") != "tools/call" or params.get("name") != "add":
            raise KeyError(message.get("method"))
        a, b = params["arguments"]["a"], params["arguments"]["b"]
        if type(a) is not int or type(b) is not int:
            raise TypeError("a and b must be integers")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return JSONResponse({"jsonrpc": "2.0", "id": None,
                             "error": {"code": -32600, "message": f"Invalid Request: {exc}"}},
                            status_code=400)
    value = await anyio.to_thread.run_sync(add, a, b)
    return JSONResponse({"jsonrpc": "2.0", "id": message.get("id"), "result": {
        "content": [{"type": "text", "text": str(value)}],
        "structuredContent": {"result": value}, "isError": False}})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/mcp", mcp, methods=["POST"]),
                        Route("/health", health, methods=["GET"])])
