"""2025-11-25 stream resumption: ``Last-Event-ID`` on any replica, from the durable store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from conftest import ROOT

SLOW_APP = ROOT / "tests" / "apps" / "stdio_slow.py"
ACCEPT = "application/json, text/event-stream"


async def initialize(client: httpx.AsyncClient) -> str:
    reply = await client.post("/mcp", headers={"Accept": ACCEPT}, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}})
    return reply.headers["mcp-session-id"]


def headers(session: str, **extra: str) -> dict[str, str]:
    return {"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25",
            **extra}


async def read_events(response: httpx.Response, limit: int | None = None
                      ) -> list[tuple[str, dict[str, Any] | None]]:
    """(id, message) per SSE event; the priming event has no message."""
    events: list[tuple[str, dict[str, Any] | None]] = []
    event_id, data = "", None
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and event_id:
            events.append((event_id, json.loads(data) if data else None))
            event_id, data = "", None
            if limit is not None and len(events) >= limit:
                break
    return events


async def test_a_dropped_stream_resumes_on_another_replica(tmp_path: Path,
                                                          server_process: Any) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    a = server_process(SLOW_APP, store).start()
    b = server_process(SLOW_APP, store).start()
    call = {"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": {
        "name": "slow", "arguments": {"steps": 30}, "_meta": {"progressToken": "p"}}}
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as client_a:
        session = await initialize(client_a)
        async with client_a.stream("POST", "/mcp", json=call, headers=headers(session)) as r:
            first = await read_events(r, limit=6)  # priming + a few progress notifications
    assert first[0][1] is None, "the stream opens with a priming event"
    last_id = first[-1][0]
    seen_progress = [m["params"]["progress"] for _, m in first if m]

    async with httpx.AsyncClient(base_url=b.url, timeout=30) as client_b:
        async with client_b.stream("GET", "/mcp",
                                   headers=headers(session, **{"Last-Event-ID": last_id})) as r:
            assert r.status_code == 200
            rest = await read_events(r)
        unknown = await client_b.get("/mcp", headers=headers(
            session, **{"Last-Event-ID": "nope:1"}))
    messages = [m for _, m in rest if m]
    progress = [m["params"]["progress"] for m in messages if m.get("method")]
    assert seen_progress + progress == list(range(1, len(seen_progress + progress) + 1)), \
        "no gap and no repeat across the reconnect"
    answer = messages[-1]
    assert answer["id"] == "call-1"
    assert answer["result"]["content"][0]["text"].startswith("step 0 step 1")
    assert unknown.status_code == 404
    a.stop()
    b.stop()
