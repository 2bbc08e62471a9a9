"""Push notifications end to end: a real server over A2A JSON-RPC 1.0, a real webhook receiver."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from conftest import wait_for

from .test_push_delivery import Receiver
from .test_push_ssrf import BLOCKED

APP = '''
import os

from fastagentic import App, RunContext, agent_endpoint

allow = [h for h in os.environ.get("PUSH_E2E_ALLOW", "").split(",") if h]
app = App(title="push e2e", version="1.0.0", a2a_push_allow_hosts=allow)


@agent_endpoint("/echo", default=True)
async def echo(message: str, ctx: RunContext) -> str:
    if message == "wait":
        return "got " + str(await ctx.ask("And then?"))
    return "echo: " + message
'''

EVENT_KEYS = {"task", "message", "statusUpdate", "artifactUpdate"}


def start_server(server_process: Any, tmp_path: Path, allow: str = "") -> Any:
    app = tmp_path / "push_app.py"
    app.write_text(APP)
    return server_process(app, f"sqlite:///{tmp_path / 'runs.db'}",
                          env={"PUSH_E2E_ALLOW": allow}).start()


class Rpc:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url + "/a2a"

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            self.url, headers={"A2A-Version": "1.0"},
            json={"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method, "params": params})
        assert response.status_code == 200
        return response.json()

    async def send(self, text: str, task_id: str | None = None,
                   **configuration: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                   "parts": [{"text": text}]}
        if task_id:
            message["taskId"] = task_id
        params: dict[str, Any] = {"message": message}
        if configuration:
            params["configuration"] = configuration
        return await self.call("SendMessage", params)


async def test_blocked_webhooks_are_refused_with_invalid_params(server_process: Any,
                                                                tmp_path: Path) -> None:
    server = start_server(server_process, tmp_path)
    async with Receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        rpc = Rpc(client, server.url)
        reply = await rpc.send("wait")
        task = reply["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"

        for url in BLOCKED:
            url = url.format(port=receiver.port)
            answer = await rpc.call("CreateTaskPushNotificationConfig",
                                    {"taskId": task["id"], "url": url})
            assert answer.get("error", {}).get("code") == -32602, (url, answer)
            inline = await rpc.send("hi", taskPushNotificationConfig={"url": url})
            assert inline.get("error", {}).get("code") == -32602, (url, inline)

        # Unresolvable here (no DNS): accepted when set, screened again (and dropped) when sent.
        accepted = await rpc.call("CreateTaskPushNotificationConfig",
                                  {"taskId": task["id"], "url": "https://example.com/webhook"})
        assert accepted["result"]["url"] == "https://example.com/webhook"
        listed = await rpc.call("ListTaskPushNotificationConfigs", {"taskId": task["id"]})
        assert [c["url"] for c in listed["result"]["configs"]] == ["https://example.com/webhook"]

        done = await rpc.send("more", task_id=task["id"])
        assert done["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert receiver.hits == []


async def test_allowlisted_webhook_receives_the_task_events_in_order(server_process: Any,
                                                                     tmp_path: Path) -> None:
    server = start_server(server_process, tmp_path, allow="127.0.0.1")
    async with Receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        rpc = Rpc(client, server.url)
        reply = await rpc.send("hi", taskPushNotificationConfig={
            "url": receiver.url("/webhook"), "token": "tok-1",
            "authentication": {"scheme": "Bearer", "credentials": "cred"}})
        task = reply["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"

        def completed() -> bool:
            last = json.loads(receiver.hits[-1].body) if receiver.hits else {}
            return last.get("statusUpdate", {}).get("status", {}).get("state") == \
                "TASK_STATE_COMPLETED"

        await wait_for(completed, timeout=15)
    events = [json.loads(hit.body) for hit in receiver.hits]
    for hit, event in zip(receiver.hits, events, strict=True):
        assert (hit.method, hit.path) == ("POST", "/webhook")
        assert hit.headers["content-type"] == "application/json"
        assert hit.headers["x-a2a-notification-token"] == "tok-1"
        assert hit.headers["authorization"] == "Bearer cred"
        [kind] = event.keys()
        assert kind in EVENT_KEYS
        body = event[kind]
        assert body.get("taskId", body.get("id")) == task["id"]
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "task"
    assert "artifactUpdate" in kinds
    assert kinds.index("artifactUpdate") < len(kinds) - 1  # the artifact before completion
    artifact = events[kinds.index("artifactUpdate")]["artifactUpdate"]["artifact"]
    assert artifact["parts"] == [{"text": "echo: hi"}]
