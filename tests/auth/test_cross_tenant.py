"""Tenant isolation: with valid tokens of their own, callers of another tenant (and the same
user name in another tenant) cannot read, stream, resume, cancel or list a tenant's runs on
any transport.  Every attempt is "not found" (404, JSON-RPC unknown task, A2A TASK_NOT_FOUND),
never 403, and leaks nothing; the owner still sees her runs untouched."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import parse_sse
from websockets.asyncio.client import connect

from .issuer import Issuer

MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
A2A = {"A2A-Version": "1.0"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Caller:
    """One user with a token, talking REST, MCP (an initialized session) and A2A."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token
        self.headers = bearer(token)
        self.mcp_session: dict[str, str] | None = None

    async def mcp(self, method: str, **params: Any) -> dict[str, Any]:
        if self.mcp_session is None:
            init = await self.client.post("/mcp", headers={**MCP_HEADERS, **self.headers}, json={
                "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "isolation", "version": "1"}}})
            assert init.status_code == 200, init.text
            self.mcp_session = {**MCP_HEADERS, **self.headers,
                                "Mcp-Session-Id": init.headers["mcp-session-id"]}
        response = await self.client.post("/mcp", headers=self.mcp_session, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert response.status_code == 200, response.text
        return response.json()

    async def a2a(self, method: str, **params: Any) -> dict[str, Any]:
        response = await self.client.post("/a2a", headers={**A2A, **self.headers}, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert response.status_code == 200, response.text
        return response.json()


def a2a_message(text: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": f"m-{text}", "role": "ROLE_USER", "parts": [{"text": text}], **extra}


async def alices_runs(alice: Caller) -> dict[str, str]:
    """One waiting run per way of starting one: REST, MCP task, A2A task."""
    rest = await alice.client.post("/hold", json={"message": "rest"}, headers=alice.headers)
    assert rest.json()["status"] == "input_required", rest.text
    task = await alice.mcp("tools/call", name="hold", arguments={"message": "mcp"}, task={})
    a2a = await alice.a2a("SendMessage",
                          message=a2a_message("a2a", metadata={"skill": "hold"}))
    assert a2a["result"]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", a2a
    return {"rest": rest.json()["run_id"], "mcp": task["result"]["task"]["taskId"],
            "a2a": a2a["result"]["task"]["id"]}


async def answer(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
                 ) -> tuple[int, dict[str, Any] | None]:
    """Status and JSON body; a stream (which would never end) is not read."""
    async with client.stream(method, url, **kwargs) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, None
        return response.status_code, json.loads(await response.aread())


async def rest_attempts(intruder: Caller, run_id: str) -> None:
    client, headers = intruder.client, intruder.headers
    attempts = [
        ("GET", f"/runs/{run_id}", {"headers": headers}),
        ("GET", f"/runs/{run_id}/events", {"headers": {**headers, "Accept": "application/json"}}),
        ("GET", f"/runs/{run_id}/events", {"headers": headers}),
        ("GET", f"/runs/{run_id}/events", {"headers": {**headers, "Last-Event-ID": "1"}}),
        ("POST", f"/runs/{run_id}/resume", {"headers": headers, "json": "answer"}),
        ("POST", f"/runs/{run_id}/cancel", {"headers": headers}),
    ]
    for method, url, kwargs in attempts:
        status, body = await answer(client, method, url, **kwargs)
        assert status == 404 and body is not None, (method, url, status, body)
        assert body["code"] == "not_found"
        assert run_id in body["message"]  # names only what the caller sent
    listed = await client.get("/runs", headers=headers)
    assert run_id not in listed.text
    assert listed.json()["runs"] == []


async def websocket_attempts(base: str, intruder: Caller, run_id: str) -> None:
    ws_base = base.replace("http", "ws", 1)
    async with connect(f"{ws_base}/runs/{run_id}/ws?after=0",
                       additional_headers=intruder.headers) as ws:
        await ws.wait_closed()
    assert ws.close_code == 4404
    async with connect(f"{ws_base}/hold/ws", additional_headers=intruder.headers) as ws:
        for message in ({"type": "attach", "run_id": run_id, "after": 0},
                        {"type": "resume_from", "seq": 0}, {"type": "cancel"},
                        {"type": "resume", "input": "answer"}):
            await ws.send(json.dumps(message))
            ack = json.loads(await ws.recv())
            assert ack["ok"] is False, ack
            assert ack["error"]["status"] in (400, 404), ack  # 400: not attached to any run
            assert ack["error"]["status"] != 403


async def mcp_attempts(intruder: Caller, run_id: str) -> None:
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        answer = await intruder.mcp(method, taskId=run_id)
        assert "result" not in answer, (method, answer)
        assert answer["error"]["message"] == f"Unknown task: {run_id}", (method, answer)
    listed = await intruder.mcp("tasks/list")
    assert listed["result"]["tasks"] == []


async def a2a_attempts(intruder: Caller, run_id: str) -> None:
    for method, params in [("GetTask", {"id": run_id}), ("CancelTask", {"id": run_id}),
                           ("SubscribeToTask", {"id": run_id}),
                           ("SendMessage", {"message": a2a_message("x", taskId=run_id)})]:
        answer = await intruder.a2a(method, **params)
        assert answer.get("error", {}).get("code") == -32001, (method, answer)
        assert answer["error"]["data"][0]["reason"] == "TASK_NOT_FOUND"
    listed = await intruder.a2a("ListTasks")
    assert listed["result"]["tasks"] == [] and listed["result"]["totalSize"] == 0
    rest = await intruder.client.get(f"/a2a/tasks/{run_id}",
                                     headers={**A2A, **intruder.headers})
    assert rest.status_code == 404


@pytest.mark.parametrize("intruder", [{"sub": "bob", "tenant_id": "globex"},
                                      {"sub": "alice", "tenant_id": "globex"}],
                         ids=["other-user-other-tenant", "same-user-other-tenant"])
async def test_another_tenant_cannot_touch_a_tenants_runs(issuer: Issuer, served: Any,
                                                          intruder: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
        alice = Caller(client, issuer.token())
        other = Caller(client, issuer.token(**intruder))
        runs = await alices_runs(alice)
        for run_id in runs.values():
            await rest_attempts(other, run_id)
            await websocket_attempts(served.url, other, run_id)
            await mcp_attempts(other, run_id)
            await a2a_attempts(other, run_id)
        # The owner: every run still there, untouched (not cancelled, not answered) ...
        for run_id in runs.values():
            run = (await client.get(f"/runs/{run_id}", headers=alice.headers)).json()
            assert run["status"] == "input_required" and run["tenant"] == "acme", run
        mine = (await client.get("/runs", headers=alice.headers)).json()["runs"]
        assert set(runs.values()) <= {r["run_id"] for r in mine}
        # ... and reachable by her on each transport (so the refusals above can fail).
        events = await client.get(f"/runs/{runs['rest']}/events",
                                  headers={**alice.headers, "Accept": "application/json"})
        assert events.json()["events"][0]["type"] == "run_started"
        task = await alice.mcp("tasks/get", taskId=runs["mcp"])
        assert task["result"]["status"] == "input_required"
        got = await alice.a2a("GetTask", id=runs["a2a"])
        assert got["result"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        async with connect(served.url.replace("http", "ws", 1) + f"/runs/{runs['rest']}/ws",
                           additional_headers=alice.headers) as ws:
            assert json.loads(await ws.recv())["type"] == "run_started"
        # She answers her REST run: it finishes as her, and its tool call ran as her.
        resumed = await client.post(f"/runs/{runs['rest']}/resume", json="done",
                                    headers={**alice.headers, "Accept": "text/event-stream"})
        done = parse_sse(resumed.text)[-1]["data"]
        assert done["output"]["run_as"]["user"] == "alice"
        assert done["output"]["tool_saw"]["tenant"] == "acme"


async def test_a_legacy_sse_session_belongs_to_its_opener(issuer: Issuer, served: Any) -> None:
    """MCP 2024-11-05 (GET /sse + POST /messages): another caller's valid token cannot post
    into a session it does not own."""
    alice, bob = bearer(issuer.token()), bearer(issuer.token(sub="bob", tenant_id="globex"))
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, \
            client.stream("GET", "/sse", headers={**alice, "Accept": "text/event-stream"}
                          ) as stream:
        lines = stream.aiter_lines()
        while not (line := await anext(lines)).startswith("data:"):
            pass
        endpoint = line.removeprefix("data:").strip()
        assert endpoint.startswith("/messages?session_id=")
        hijack = await client.post(endpoint, json=ping, headers=bob)
        assert hijack.status_code == 404
        anonymous = await client.post(endpoint, json=ping)
        assert anonymous.status_code == 401
        own = await client.post(endpoint, json=ping, headers=alice)
        assert own.status_code == 202
        while not (line := await anext(lines)).startswith("data:"):
            pass
        assert json.loads(line.removeprefix("data:")) == {"jsonrpc": "2.0", "id": 1,
                                                          "result": {}}
