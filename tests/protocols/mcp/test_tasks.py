"""MCP tasks are runs: both eras on the wire, visible over REST, alive across a crash."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import ROOT, running_client

TASKS_APP = ROOT / "tests" / "apps" / "mcp_tasks.py"
EXT = "io.modelcontextprotocol/tasks"
ACCEPT = "application/json, text/event-stream"


def load(tmp_path: Path) -> Any:
    import importlib.util
    import sys

    name = f"mcp_tasks_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(name, TASKS_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.app.settings.durable_store = f"sqlite:///{tmp_path / 'runs.db'}"
    return module.app


class Legacy:
    """A 2025-11-25 session spoken to with raw JSON-RPC."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.session = ""
        self.next_id = 0

    async def start(self) -> Legacy:
        reply = await self.client.post("/mcp", headers={"Accept": ACCEPT}, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "clientInfo": {"name": "t", "version": "1"},
                "capabilities": {"tasks": {}}}})
        self.session = reply.headers["mcp-session-id"]
        assert reply.json()["result"]["capabilities"]["tasks"]["requests"] == {
            "tools": {"call": {}}}
        return self

    async def rpc(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        reply = await self.client.post("/mcp", json={
            "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params},
            headers={"Accept": "application/json", "Mcp-Session-Id": self.session,
                     "MCP-Protocol-Version": "2025-11-25"})
        return reply.json()


def modern_call(method: str, declared: bool = True, **params: Any) -> tuple[dict, dict]:
    caps: dict[str, Any] = {"extensions": {EXT: {}}} if declared else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {
        **params, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                            "io.modelcontextprotocol/clientCapabilities": caps}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method,
               "Accept": "application/json"}
    name = params.get("name") or params.get("taskId")
    if name:
        headers["Mcp-Name"] = name
    return body, headers


async def poll(get: Any, until: set[str], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task = await get()
        if task["status"] in until:
            return task
        assert time.monotonic() < deadline, f"task stuck in {task['status']}"
        await asyncio.sleep(0.02)


async def test_2025_task_lifecycle_and_rest_view(tmp_path: Path) -> None:
    app = load(tmp_path)
    async with running_client(app) as client:
        mcp = await Legacy(client).start()
        tools = {t["name"]: t for t in (await mcp.rpc("tools/list"))["result"]["tools"]}
        assert tools["slow_add"]["execution"] == {"taskSupport": "optional"}
        assert tools["quick"]["execution"] == {"taskSupport": "forbidden"}
        created = (await mcp.rpc("tools/call", name="slow_add", arguments={"a": 2, "b": 3},
                                 task={"ttl": 60000}))["result"]["task"]
        assert created["status"] == "working" and created["ttl"] == 60000
        task_id = created["taskId"]
        # The task is a run, visible over REST.
        run = (await client.get(f"/runs/{task_id}")).json()
        assert run["endpoint"] == "tool:slow_add"
        result = (await mcp.rpc("tasks/result", taskId=task_id))["result"]
        assert result["structuredContent"] == {"result": 5}
        assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
        done = (await mcp.rpc("tasks/get", taskId=task_id))["result"]
        assert done["status"] == "completed" and done["createdAt"].endswith("Z")
        listed = (await mcp.rpc("tasks/list"))["result"]["tasks"]
        assert [t["taskId"] for t in listed] == [task_id]
        assert (await client.get(f"/runs/{task_id}")).json()["status"] == "completed"
        # Terminal tasks cannot be cancelled; unknown tasks are -32602.
        assert (await mcp.rpc("tasks/cancel", taskId=task_id))["error"]["code"] == -32602
        assert (await mcp.rpc("tasks/get", taskId="run_nope"))["error"]["code"] == -32602
        # Task support is enforced.
        forbidden = await mcp.rpc("tools/call", name="quick", arguments={}, task={})
        assert forbidden["error"]["code"] == -32601
        required = await mcp.rpc("tools/call", name="must_be_task", arguments={})
        assert required["error"]["code"] == -32601
        # A tool error makes a failed task (2025-11-25), with the isError result.
        broke = (await mcp.rpc("tools/call", name="breaks", arguments={},
                               task={}))["result"]["task"]["taskId"]
        failed = (await mcp.rpc("tasks/result", taskId=broke))["result"]
        assert failed["isError"] is True and failed["content"][0]["text"] == "it broke"
        assert (await mcp.rpc("tasks/get", taskId=broke))["result"]["status"] == "failed"


async def test_2025_cancel_stops_the_task(tmp_path: Path) -> None:
    app = load(tmp_path)
    async with running_client(app) as client:
        mcp = await Legacy(client).start()
        task_id = (await mcp.rpc("tools/call", name="slow_add", task={},
                                 arguments={"a": 1, "b": 1, "seconds": 30}))[
            "result"]["task"]["taskId"]
        cancelled = (await mcp.rpc("tasks/cancel", taskId=task_id))["result"]
        assert cancelled["status"] == "cancelled"
        assert (await client.get(f"/runs/{task_id}")).json()["status"] == "cancelled"


async def test_2026_extension_tasks(tmp_path: Path) -> None:
    app = load(tmp_path)
    async with running_client(app) as client:
        async def call(method: str, declared: bool = True, **params: Any) -> httpx.Response:
            body, headers = modern_call(method, declared, **params)
            return await client.post("/mcp", json=body, headers=headers)

        discover = (await call("server/discover")).json()["result"]
        assert EXT in discover["capabilities"]["extensions"]
        assert "tasks" not in discover["capabilities"]
        tools = (await call("tools/list")).json()["result"]["tools"]
        assert all("execution" not in t for t in tools)
        # Without the extension: plain calls, and required tools are refused with -32021.
        plain = (await call("tools/call", False, name="slow_add",
                            arguments={"a": 1, "b": 2})).json()["result"]
        assert plain["resultType"] == "complete" and plain["structuredContent"] == {"result": 3}
        refused = await call("tools/call", False, name="must_be_task", arguments={})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32021
        assert (await call("tasks/get", False, taskId="x")).json()["error"]["code"] == -32021
        # With it: task-supporting tools become tasks (flat result).
        created = (await call("tools/call", name="slow_add",
                              arguments={"a": 4, "b": 5})).json()["result"]
        assert created["resultType"] == "task" and "task" not in created
        assert set(created) >= {"taskId", "status", "createdAt", "ttlMs", "pollIntervalMs"}

        async def get(task_id: str) -> dict[str, Any]:
            return (await call("tasks/get", taskId=task_id)).json()["result"]

        done = await poll(lambda: get(created["taskId"]), {"completed"})
        assert done["resultType"] == "complete"
        assert done["result"]["structuredContent"] == {"result": 9}
        # A tool error is a completed task whose result is an error.
        broke = (await call("tools/call", name="breaks", arguments={})).json()["result"]
        errored = await poll(lambda: get(broke["taskId"]), {"completed", "failed"})
        assert errored["status"] == "completed" and errored["result"]["isError"] is True
        # Input: the task waits, tasks/update answers, the run resumes.
        asking = (await call("tools/call", name="confirm",
                             arguments={"item": "delete"})).json()["result"]
        waiting = await poll(lambda: get(asking["taskId"]), {"input_required"})
        assert list(waiting["inputRequests"]) == ["ok"]
        assert waiting["inputRequests"]["ok"]["method"] == "elicitation/create"
        ack = (await call("tasks/update", taskId=asking["taskId"],
                          inputResponses={"ok": {"action": "accept",
                                                 "content": {"ok": True}}})).json()["result"]
        assert ack == {"resultType": "complete", "_meta": ack["_meta"]}
        finished = await poll(lambda: get(asking["taskId"]), {"completed"})
        assert finished["result"]["content"][0]["text"] == "done"
        # Cancel is an idempotent ack; tasks/result and tasks/list do not exist here.
        slow = (await call("tools/call", name="slow_add",
                           arguments={"a": 1, "b": 1, "seconds": 30})).json()["result"]
        assert (await call("tasks/cancel", taskId=slow["taskId"])).json()["result"][
            "resultType"] == "complete"
        assert (await get(slow["taskId"]))["status"] == "cancelled"
        assert (await call("tasks/cancel", taskId=slow["taskId"])).status_code == 200
        assert (await call("tasks/list")).status_code == 404


async def test_a_task_survives_a_server_crash(tmp_path: Path, server_process: Any) -> None:
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    env = {"FASTAGENTIC_LEASE_TTL": "1"}
    first = server_process(TASKS_APP, store, env=env).start()
    async with httpx.AsyncClient(base_url=first.url) as client:
        mcp = await Legacy(client).start()
        task_id = (await mcp.rpc("tools/call", name="slow_add", task={},
                                 arguments={"a": 20, "b": 22, "seconds": 1.5}))[
            "result"]["task"]["taskId"]
    first.kill()
    second = server_process(TASKS_APP, store, env=env, port=first.port).start()
    async with httpx.AsyncClient(base_url=second.url) as client:
        mcp = await Legacy(client).start()  # a new session: the task belongs to the caller
        result = (await mcp.rpc("tasks/result", taskId=task_id))["result"]
        assert result["structuredContent"] == {"result": 42}
        run = (await client.get(f"/runs/{task_id}")).json()
        assert run["status"] == "completed" and run["attempt"] == 2
    second.stop()


async def test_2025_status_notifications_reach_the_session_stream(tmp_path: Path,
                                                                  live_server: Any) -> None:
    app = load(tmp_path)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            mcp = await Legacy(client).start()
            async with client.stream("GET", "/mcp", headers={
                    "Accept": "text/event-stream", "Mcp-Session-Id": mcp.session}) as stream:
                task_id = (await mcp.rpc("tools/call", name="confirm", task={},
                                         arguments={"item": "x"}))["result"]["task"]["taskId"]
                statuses = []
                async for line in stream.aiter_lines():
                    if line.startswith("data:") and "tasks/status" in line:
                        import json

                        params = json.loads(line[5:])["params"]
                        assert params["taskId"] == task_id
                        statuses.append(params["status"])
                        if params["status"] == "input_required":
                            await client.post(f"/runs/{task_id}/resume",
                                              json={"ok": True})
                        if params["status"] == "completed":
                            break
    assert statuses == ["input_required", "working", "completed"]
