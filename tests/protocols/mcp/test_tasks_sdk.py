"""Task-augmented calls driven by the official SDK client, in both eras."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import types
from mcp.client import Client, ClientExtension, ClientSession, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

from conftest import LiveServer
from protocols.mcp.test_tasks import load


async def test_2025_task_to_completion_with_the_sdk(tmp_path: Path) -> None:
    app = load(tmp_path)
    with LiveServer(app) as server:
        async with streamable_http_client(server.url + "/mcp") as (read, write, *_):
            dispatcher = JSONRPCDispatcher(read, write)
            async with ClientSession(dispatcher=dispatcher) as session:
                await session.initialize()
                raw = await dispatcher.send_raw_request("tools/call", {
                    "name": "slow_add", "arguments": {"a": 19, "b": 23, "seconds": 0.2},
                    "task": {"ttl": 60000}}, {})
                created = types.CreateTaskResult.model_validate(raw)
                task_id = created.task.task_id
                params = types.GetTaskPayloadRequestParams(task_id=task_id)
                result = await session.send_request(
                    types.GetTaskPayloadRequest(params=params), types.CallToolResult)
                status = await session.send_request(types.GetTaskRequest(
                    params=types.GetTaskRequestParams(task_id=task_id)), types.GetTaskResult)
    assert created.task.status == "working"
    assert result.structured_content == {"result": 42}
    assert result.meta["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
    assert status.status == "completed"


class CreatedTask(types.Result):
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class TaskIdParams(types.RequestParams):
    task_id: str


class GetTask(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param = "taskId"


class DetailedTask(types.Result):
    model_config = {"extra": "allow"}
    task_id: str
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


created_tasks: list[str] = []


async def resolve(created: CreatedTask, ctx: Any) -> types.CallToolResult:
    created_tasks.append(created.task_id)
    while True:
        task = await ctx.session.send_request(GetTask(params=TaskIdParams(
            task_id=created.task_id)), DetailedTask)
        if task.status == "completed":
            return types.CallToolResult.model_validate(task.result)
        assert task.status == "working", task
        await anyio.sleep(0.05)


class TasksExtension(ClientExtension):
    identifier = "io.modelcontextprotocol/tasks"

    def claims(self) -> list[ResultClaim]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=resolve)]


async def test_2026_task_extension_with_the_sdk(tmp_path: Path) -> None:
    app = load(tmp_path)
    created_tasks.clear()
    with LiveServer(app) as server:
        async with Client(server.url + "/mcp", mode="2026-07-28", cache=None,
                          extensions=[TasksExtension()]) as client:
            result = await client.call_tool("slow_add", {"a": 1, "b": 2, "seconds": 0.2})
            quick = await client.call_tool("quick", {})
    assert result.structured_content == {"result": 3}
    assert len(created_tasks) == 1, "the task-supporting tool ran as a task"
    assert quick.content[0].text == "quick", "a forbidden tool answers right away"
