"""MCP over stdio: the official SDK client, the raw wire, cancellation and the hybrid mode."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import QUICKSTART, ROOT, free_port, wait_for
from fastagentic.stores.sqlite import SQLiteStore

SLOW_APP = ROOT / "tests" / "apps" / "stdio_slow.py"
TIMEOUT = 20


def serve_args(app: Path, store: str, *extra: str) -> list[str]:
    return ["-m", "fastagentic", "mcp", "serve", str(app), "--store", store, *extra]


async def test_sdk_client_over_stdio() -> None:
    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT),
                                   args=serve_args(QUICKSTART, "memory://"))
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as s:
        init = await s.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "Quickstart"
        assert {t.name for t in (await s.list_tools()).tools} == {"add", "triage_ticket", "chat"}
        result = await s.call_tool("add", {"a": 2, "b": 3})
        assert result.structured_content == {"result": 5} and not result.is_error
        text = await s.read_resource("docs://quickstart/runs")
        assert "durable run" in text.contents[0].text
        progress: list[Any] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        chat = await s.call_tool("chat", {"message": "add 20 and 22"},
                                 progress_callback=on_progress)
        assert chat.content[0].text == "Let me think. 20 + 22 = 42. "
        assert progress[0] == "run_started" and progress[-1] == "done"
        assert "tool_result" in progress and "42. " in progress


class RawStdio:
    """The server as a subprocess spoken to line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, app: Path, store: str, *extra: str) -> RawStdio:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *serve_args(app, store, *extra), cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        return cls(proc)

    async def send(self, message: Any) -> None:
        line = message if isinstance(message, bytes) else json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        await self.proc.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
        assert line, "the server closed stdout"
        return json.loads(line)  # every stdout line is one JSON-RPC message

    async def until_id(self, msg_id: Any) -> dict[str, Any]:
        while True:
            message = await self.receive()
            if message.get("id") == msg_id and "method" not in message:
                return message

    async def close(self) -> tuple[bytes, bytes]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        out, err = await asyncio.wait_for(self.proc.communicate(), TIMEOUT)
        assert self.proc.returncode == 0
        return out, err


async def test_bad_lines_get_errors_and_the_server_keeps_serving() -> None:
    server = await RawStdio.start(QUICKSTART, "memory://", "--log-level", "info")
    await server.send(b"{not json")
    assert (await server.receive())["error"]["code"] == -32700
    await server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert (await server.receive())["error"]["code"] == -32600
    await server.send({"jsonrpc": "1.0", "id": 2, "method": "ping"})
    reply = await server.receive()
    assert reply["error"]["code"] == -32600 and reply["id"] == 2
    await server.send({"jsonrpc": "2.0", "id": 3, "method": "no/such"})
    assert (await server.receive())["error"]["code"] == -32601
    await server.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": [1]})
    assert (await server.receive())["error"]["code"] == -32602
    await server.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                       "params": {"name": "add", "arguments": {"a": 1, "b": 2}}})
    assert (await server.until_id(5))["result"]["structuredContent"] == {"result": 3}
    out, _ = await server.close()
    assert out == b"", "nothing but the answers on stdout"


async def test_cancelled_notification_stops_the_run(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    server = await RawStdio.start(SLOW_APP, f"sqlite:///{db}")
    await server.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}})
    assert (await server.until_id(1))["result"]["protocolVersion"] == "2025-11-25"
    await server.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "slow", "arguments": {"steps": 400}, "_meta": {"progressToken": "p"}}})
    while True:  # the run is under way once progress flows
        message = await server.receive()
        if message.get("method") == "notifications/progress" and "step 1" in str(message):
            break
    await server.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                       "params": {"requestId": 2, "reason": "user"}})
    await server.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    reply = await server.until_id(3)
    assert reply["result"] == {}
    store = SQLiteStore(f"sqlite:///{db}")
    await store.open()
    try:
        async def cancelled() -> bool:
            runs = await store.list_runs()
            return len(runs) == 1 and runs[0].status == "cancelled"

        await wait_for(cancelled, timeout=TIMEOUT)
    finally:
        await store.close()
    out, _ = await server.close()
    assert b'"id":2,"result"' not in out, "a cancelled request gets no response"


async def test_hybrid_serves_http_and_stdio_until_stdin_closes() -> None:
    port = free_port()
    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT), args=[
        "-m", "fastagentic", "run", str(QUICKSTART), "--store", "memory://", "--stdio",
        "--port", str(port)])
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as s:
        await s.initialize()
        assert (await s.call_tool("add", {"a": 2, "b": 5})).structured_content == {"result": 7}
        async with httpx.AsyncClient() as http:
            response = await http.post(f"http://127.0.0.1:{port}/tools/add",
                                       json={"a": 1, "b": 1})
            assert response.json() == {"result": 2}

    async def http_down() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/health/live", timeout=0.5)
        except httpx.TransportError:
            return True
        return False

    await wait_for(http_down, timeout=TIMEOUT)


async def test_both_eras_over_stdio() -> None:
    """The first request decides: ``server/discover`` with the envelope is 2026-07-28."""
    from mcp.client import Client

    for mode, version in (("auto", "2026-07-28"), ("2026-07-28", "2026-07-28"),
                          ("legacy", "2025-11-25")):
        params = StdioServerParameters(command=sys.executable, cwd=str(ROOT),
                                       args=serve_args(QUICKSTART, "memory://"))
        async with Client(params, mode=mode, cache=None) as client:
            assert client.protocol_version == version
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.structured_content == {"result": 5}
            text = await client.read_resource("docs://quickstart/tools")
            assert text.contents[0].mime_type == "text/markdown"


async def test_2026_requests_on_stdio_are_checked() -> None:
    server = await RawStdio.start(QUICKSTART, "memory://")
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    await server.send({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                       "params": {"_meta": meta}})
    discover = await server.until_id(1)
    assert discover["result"]["supportedVersions"] == ["2026-07-28"]
    assert discover["result"]["resultType"] == "complete"
    await server.send({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"_meta": meta}})
    assert (await server.until_id(2))["error"]["code"] == -32601, "ping is gone in 2026-07-28"
    await server.send({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}})
    assert (await server.until_id(3))["error"]["code"] == -32602, "the envelope is required"
    await server.send({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {
        "_meta": {**meta, "io.modelcontextprotocol/protocolVersion": "1999-01-01"}}})
    assert (await server.until_id(4))["error"]["code"] == -32022
    await server.close()


async def test_stdio_credentials_come_from_the_environment() -> None:
    import os

    app = ROOT / "tests" / "apps" / "mcp_auth.py"
    env = {**os.environ, "FASTAGENTIC_MCP_TOKEN": "good"}
    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT), env=env,
                                   args=serve_args(app, "memory://"))
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as s:
        await s.initialize()
        assert (await s.call_tool("whoami", {})).content[0].text == "alice@acme"

    refused = await asyncio.create_subprocess_exec(
        sys.executable, *serve_args(app, "memory://"), cwd=str(ROOT),
        env={k: v for k, v in os.environ.items() if k != "FASTAGENTIC_MCP_TOKEN"},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(refused.communicate(), TIMEOUT)
    assert refused.returncode == 2
    assert out == b"" and b"FASTAGENTIC_MCP_TOKEN" in err
