"""The same audit entries whichever transport a call comes in on: runs started over REST, SSE,
WebSocket, MCP and A2A; tools, resources and prompts over MCP stdio; a tool that pauses to ask
its MCP client (2026-07-28 multi round trip) is ``input_required``, then ``allow`` once
answered."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import QUICKSTART, ROOT, a2a_send, load_app_file
from mcp import types
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel
from websockets.sync.client import connect

from fastagentic import App, RunContext

from .helpers import read_url


class EchoIn(BaseModel):
    message: str


async def test_runs_started_on_every_transport(tmp_path: Path, live_server: Any) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    app = App(durable_store=url, audit=True)

    @app.agent_endpoint("/echo", mcp_tool="echo")
    async def echo(body: EchoIn, ctx: RunContext) -> str:
        return body.message

    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            assert (await http.post("/echo", json={"message": "rest"})).status_code in \
                (200, 202)
            streamed = await http.post("/echo/stream", json={"message": "sse"})
            assert streamed.status_code == 200
            with connect(server.url.replace("http", "ws", 1) + "/echo/ws") as ws:
                ws.send(json.dumps({"type": "start", "input": {"message": "ws"}}))
                assert "run_id" in json.loads(ws.recv(timeout=30))
            async with streamable_http_client(server.url + "/mcp") as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                assert not (await session.call_tool("echo", {"message": "mcp"})).is_error
            a2a = await http.post("/a2a", headers={"A2A-Version": "1.0"},
                                  json=a2a_send("a2a"))
            assert "result" in a2a.json(), a2a.text
    entries, report = await read_url(url)
    starts = [e for e in entries if e["action"] == "run.start"]
    assert [e["context"]["transport"] for e in starts] == \
        ["rest", "sse", "websocket", "mcp", "a2a"]
    assert all(e["decision"] == "allow" and e["run_id"].startswith("run_") for e in starts)
    assert len({e["run_id"] for e in starts}) == 5
    assert report.ok


async def test_a_tool_asking_its_client_is_input_required_then_allowed(
        tmp_path: Path, live_server: Any) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    app = load_app_file(ROOT / "tests" / "apps" / "mcp_asking.py", url)
    app.settings.audit = True

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Ada", "age": 36})

    with live_server(app) as server:
        async with Client(server.url + "/mcp", mode="2026-07-28", cache=None,
                          elicitation_callback=elicit) as client:
            result = await client.call_tool("greet", {})
    assert result.content[0].text == "Hello Ada, 36!"
    entries, _ = await read_url(url)
    assert [(e["action"], e["context"]["tool"], e["decision"]) for e in entries] == [
        ("tool.call", "greet", "input_required"), ("tool.call", "greet", "allow")]


async def test_tools_resources_and_prompts_over_mcp_stdio(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    params = StdioServerParameters(
        command=sys.executable, cwd=str(ROOT), env={**os.environ, "FASTAGENTIC_AUDIT": "1"},
        args=["-m", "fastagentic", "mcp", "serve", str(QUICKSTART), "--store", url])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.call_tool("add", {"a": 2, "b": 3})).structured_content == \
            {"result": 5}
        await session.read_resource("docs://quickstart/runs")
        await session.get_prompt("summarize", {"subject": "refund"})
    entries, report = await read_url(url)
    assert [(e["action"], e["context"]["transport"], e["decision"]) for e in entries] == [
        ("tool.call", "mcp-stdio", "allow"), ("resource.read", "mcp-stdio", "allow"),
        ("prompt.get", "mcp-stdio", "allow")]
    assert (entries[1]["context"]["resource"], entries[1]["context"]["arguments"]) == \
        ("docs", ["topic"])
    assert entries[2]["context"]["prompt"] == "summarize"
    assert report.ok
