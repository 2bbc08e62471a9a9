"""MCP sessions live in the store: two server processes on one SQLite file serve one session."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import QUICKSTART

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def send(client: httpx.AsyncClient, base: str, method: str,
               params: dict[str, Any] | None = None, session: str | None = None,
               msg_id: int | None = 1) -> httpx.Response:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        message["id"] = msg_id
    if params is not None:
        message["params"] = params
    headers = dict(HEADERS)
    if session is not None:
        headers["Mcp-Session-Id"] = session
    return await client.post(base + "/mcp", content=json.dumps(message).encode(),
                             headers=headers)


async def test_a_session_is_served_by_any_process_and_ends_everywhere(server_process,
                                                                      tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    a = server_process(QUICKSTART, store).start()
    b = server_process(QUICKSTART, store).start()
    assert a.port != b.port

    async with httpx.AsyncClient(timeout=10) as client:
        init = await send(client, a.url, "initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "two-processes", "version": "0"}})
        assert init.status_code == 200
        session = init.headers["mcp-session-id"]
        note = await send(client, a.url, "notifications/initialized", session=session,
                          msg_id=None)
        assert note.status_code == 202

        for step, base in enumerate((b.url, a.url, b.url)):
            added = await send(client, base, "tools/call", {
                "name": "add", "arguments": {"a": step, "b": 10}}, session, msg_id=10 + step)
            assert added.status_code == 200, (base, added.text)
            assert added.json()["result"]["structuredContent"] == {"result": step + 10}

            read = await send(client, base, "resources/read",
                              {"uri": "docs://quickstart/runs"}, session, msg_id=20 + step)
            assert read.status_code == 200, (base, read.text)
            (content,) = read.json()["result"]["contents"]
            assert content["text"].startswith("# Runs")

        # An agent tool call on B runs (and completes) there, for the session made on A.
        chat = await send(client, b.url, "tools/call", {
            "name": "chat", "arguments": {"message": "what is 4 + 5?"}}, session, msg_id=30)
        assert chat.status_code == 200
        result = chat.json()["result"]
        assert result["isError"] is False
        assert result["content"][0]["text"] == "Let me think. 4 + 5 = 9. "
        run_id = result["_meta"]["io.fastagentic/run_id"]
        assert (await client.get(f"{a.url}/runs/{run_id}")).json()["status"] == "completed"

        # Ending the session on B ends it on A too, once A's short cache expires.
        deleted = await client.delete(b.url + "/mcp", headers={"Mcp-Session-Id": session})
        assert deleted.status_code == 200
        ended_at = time.monotonic()
        assert (await send(client, b.url, "ping", session=session)).status_code == 404

        deadline = ended_at + 3.0
        while True:
            status = (await send(client, a.url, "ping", session=session)).status_code
            if status == 404:
                break
            assert status == 200, status
            assert time.monotonic() < deadline, "A still serves a session deleted on B"
            await asyncio.sleep(0.05)
        assert time.monotonic() - ended_at < 1.6  # the cache lasts 1 s

        # Polling A while it still had the session cached did not bring it back.
        assert (await send(client, a.url, "ping", session=session)).status_code == 404
        assert (await send(client, b.url, "ping", session=session)).status_code == 404
        gone = await client.delete(a.url + "/mcp", headers={"Mcp-Session-Id": session})
        assert gone.status_code == 404

