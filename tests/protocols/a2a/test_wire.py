"""A2A on the wire, as a client sees it: JSON-RPC at ``POST /a2a`` and HTTP+JSON under
``/a2a/...``, protocol 1.0 (``A2A-Version: 1.0``) and 0.3; version negotiation, the JSON-RPC
envelope, skill routing, tasks as runs, streaming (SSE), resubscription, ListTasks, and two
replicas on one store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import parse_sse, running_client, wait_for
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.a2a import Reply, Skill, TaskRejected

V10 = {"A2A-Version": "1.0"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
V03_CODES = {-32700, -32600, -32601, -32602, -32603, *range(-32007, -32000)}
COMPLETED = "TASK_STATE_COMPLETED"
EVENT_KEYS = {"task", "message", "statusUpdate", "artifactUpdate"}


def make_app(store: str = "memory://", *, gate: asyncio.Event | None = None,
             **settings: Any) -> App:
    """One agent per behaviour a client can observe; ``gate`` holds the ``slow`` agent."""
    app = App(title="Wire", version="1.0.0", durable_store=store, **settings)
    held = gate if gate is not None else asyncio.Event()

    # Registered before the default one, so "the first agent" and "the default" differ.
    @app.agent_endpoint("/shout")
    async def shout(message: str, ctx: RunContext) -> str:
        return message.upper()

    @app.agent_endpoint("/echo", default=True, a2a_skill=Skill(id="echo", name="Echo"))
    async def echo(message: str, ctx: RunContext) -> str:
        return "echo: " + message

    @app.agent_endpoint("/orders")
    async def orders(order_id: int, ctx: RunContext) -> dict[str, Any]:
        return {"order_id": order_id, "status": "shipped"}

    @app.agent_endpoint("/info")
    async def info(message: str, ctx: RunContext) -> dict[str, Any]:
        a2a = ctx.a2a
        assert a2a is not None
        return {"message_id": a2a.message_id, "context_id": a2a.context_id,
                "task_id": a2a.task_id, "skill": a2a.skill, "metadata": a2a.metadata,
                "text": a2a.text, "message_metadata": a2a.message.get("metadata")}

    @app.agent_endpoint("/ask")
    async def ask(message: str, ctx: RunContext) -> str:
        answer = await ctx.ask("Which order?")
        return f"{message}: order {answer}"

    @app.agent_endpoint("/reject")
    async def reject(message: str, ctx: RunContext) -> str:
        raise TaskRejected("orders over 100 need a human")

    @app.agent_endpoint("/boom")
    async def boom(message: str, ctx: RunContext) -> str:
        raise RuntimeError("the printer is on fire")

    @app.agent_endpoint("/tokens")
    async def tokens(message: str, ctx: RunContext) -> str:
        for piece in ("Hel", "lo ", message):
            await ctx.token(piece)
        return "Hello " + message  # exactly the streamed text

    @app.agent_endpoint("/summary")
    async def summary(message: str, ctx: RunContext) -> dict[str, Any]:
        await ctx.token("thinking ")
        await ctx.token("hard")
        return {"summary": message}  # not the streamed text

    @app.agent_endpoint("/reply")
    async def reply(message: str, ctx: RunContext) -> str | Reply:
        return Reply(text="direct: " + message)

    @app.agent_endpoint("/slow")
    async def slow(message: str, ctx: RunContext) -> str:
        await ctx.token("started ")
        await held.wait()
        return "finished " + message

    return app


def message(text: str | None = None, *, data: Any = None, skill: str | None = None,
            **fields: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"text": text})
    if data is not None:
        parts.append({"data": data})
    out: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": parts,
                           **fields}
    if skill is not None:
        out["metadata"] = {**out.get("metadata", {}), "skill": skill}
    return out


def envelope(method: str, params: Any = None, rid: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    return body


class Rpc:
    """JSON-RPC over an in-process client (1.0 unless other headers are given)."""

    def __init__(self, client: Any, path: str = "/a2a", headers: dict[str, str] | None = None
                 ) -> None:
        self.client = client
        self.path = path
        self.headers = V10 if headers is None else headers

    async def call(self, method: str, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.client.post(self.path, headers=headers,
                                          json=envelope(method, params), **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    async def result(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        answer = await self.call(method, params, **kwargs)
        assert "error" not in answer, answer
        return answer["result"]

    async def error(self, method: str, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        answer = await self.call(method, params, **kwargs)
        assert "error" in answer and "result" not in answer, answer
        return answer["error"]

    async def send(self, msg: dict[str, Any], **configuration: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"message": msg}
        if configuration:
            params["configuration"] = configuration
        return (await self.result("SendMessage", params))["task"]

    async def stream(self, method: str, params: Any, headers: dict[str, str] | None = None
                     ) -> list[dict[str, Any]]:
        response = await self.client.post(self.path, headers={**self.headers, **(headers or {})},
                                          json=envelope(method, params))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream"), response.text
        return parse_sse(response.text)

    async def get(self, task_id: str, **params: Any) -> dict[str, Any]:
        return await self.result("GetTask", {"id": task_id, **params})


def results(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The StreamResponses of a JSON-RPC SSE body (each frame is a whole JSON-RPC response)."""
    out = []
    for frame in frames:
        assert frame["data"]["jsonrpc"] == "2.0"
        assert "error" not in frame["data"], frame
        out.append(frame["data"]["result"])
    return out


def kind(item: dict[str, Any]) -> str:
    (key,) = item.keys() & EVENT_KEYS
    assert set(item) == {key}, item  # exactly one of the oneof
    return key


def error_info(error: dict[str, Any]) -> dict[str, Any]:
    infos = [d for d in error["data"] if d.get("@type") == ERROR_INFO]
    assert len(infos) == 1, error
    assert infos[0]["domain"] == "a2a-protocol.org"
    return infos[0]


def text_of(artifacts: list[dict[str, Any]], artifact_id: str | None = None) -> str:
    return "".join(p.get("text", "") for a in artifacts
                   if artifact_id is None or a["artifactId"] == artifact_id for p in a["parts"])


def data_parts(artifacts: list[dict[str, Any]]) -> list[Any]:
    return [p["data"] for a in artifacts for p in a["parts"] if "data" in p]


# version negotiation


async def test_a_1_0_method_needs_the_1_0_header():
    async with running_client(make_app()) as client:
        bare = Rpc(client, headers={})
        missing = await bare.error("SendMessage", {"message": message("hi")})
        future = await Rpc(client, headers={"A2A-Version": "99.0"}).error(
            "SendMessage", {"message": message("hi")})
        patch = await Rpc(client, headers={"A2A-Version": "1.0.3"}).send(message("hi"))
    assert future["code"] == -32009, future
    assert error_info(future)["reason"] == "VERSION_NOT_SUPPORTED"
    assert patch["status"]["state"] == COMPLETED  # the patch version is ignored
    # No header means 0.3, and SendMessage is a 1.0 name: VersionNotSupported, as the
    # reference SDK answers (docs/a2a-protocol-notes.md §2.1).
    assert missing["code"] == -32009, missing


async def test_0_3_methods_work_without_a_header_and_answer_in_0_3_shapes():
    async with running_client(make_app()) as client:
        rpc = Rpc(client, headers={})
        msg = {"kind": "message", "messageId": uuid.uuid4().hex, "role": "user",
               "parts": [{"kind": "text", "text": "hello"}]}
        task = await rpc.result("message/send", {"message": msg})
        fetched = await rpc.result("tasks/get", {"id": task["id"]})
        explicit = await Rpc(client, headers={"A2A-Version": "0.3"}).result(
            "message/send", {"message": {**msg, "messageId": uuid.uuid4().hex}})
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["history"][0]["role"] == "user"
    assert task["history"][0]["kind"] == "message"
    assert task["artifacts"][-1]["parts"] == [{"kind": "text", "text": "echo: hello"}]
    assert fetched["id"] == task["id"] and fetched["status"]["state"] == "completed"
    assert explicit["status"]["state"] == "completed"


async def test_the_version_may_come_as_a_query_parameter():
    async with running_client(make_app()) as client:
        response = await client.post("/a2a?A2A-Version=1.0",
                                     json=envelope("SendMessage", {"message": message("q")}))
    task = response.json()["result"]["task"]
    assert task["status"]["state"] == COMPLETED
    assert text_of(task["artifacts"]) == "echo: q"


async def test_1_0_errors_carry_an_error_info():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        missing = await rpc.error("GetTask", {"id": "run_doesnotexist"})
        invalid = await rpc.error("SendMessage", {"message": {"role": "ROLE_USER"}})
    assert missing["code"] == -32001
    assert set(missing) == {"code", "message", "data"}
    assert error_info(missing)["reason"] == "TASK_NOT_FOUND"
    assert invalid["code"] == -32602
    assert error_info(invalid)["reason"] == "INVALID_PARAMS"


async def test_0_3_errors_use_only_0_3_codes():
    async with running_client(make_app()) as client:
        rpc = Rpc(client, headers={})
        done = await rpc.result("message/send", {"message": {
            "kind": "message", "messageId": "m1", "role": "user",
            "parts": [{"kind": "text", "text": "x"}]}})
        errors = [
            await rpc.error("tasks/get", {"id": "run_doesnotexist"}),
            await rpc.error("tasks/nothing", {}),
            await rpc.error("message/send", {"message": {"kind": "message"}}),
            await rpc.error("message/send", {"message": {
                "kind": "message", "messageId": "m2", "role": "user", "taskId": done["id"],
                "parts": [{"kind": "text", "text": "more"}]}}),
            await rpc.error("tasks/cancel", {"id": done["id"]}),
        ]
    assert [e["code"] for e in errors] == [-32001, -32601, -32602, -32004, -32002]
    for error in errors:
        assert error["code"] in V03_CODES, error
        data = error.get("data")
        assert not (isinstance(data, list) and any("@type" in d for d in data)), error


# the JSON-RPC envelope


@pytest.mark.parametrize(("body", "code", "ids"), [
    (b"{not json", -32700, [None]),
    (json.dumps([envelope("GetTask", {"id": "x"})]).encode(), -32600, [None]),
    (json.dumps({**envelope("GetTask", {"id": "x"}), "jsonrpc": "1.0"}).encode(), -32600,
     [None, 1]),
    (json.dumps(envelope("GetTask", {"id": "x"}, rid={"a": 1})).encode(), -32600, [None]),
    (json.dumps(envelope("NoSuchMethod", {})).encode(), -32601, [1]),
    (json.dumps(envelope("GetTask", ["x"])).encode(), -32602, [1]),
], ids=["not-json", "batch", "jsonrpc-1.0", "object-id", "unknown-method", "list-params"])
async def test_envelope_errors_are_json_rpc_errors_with_http_200(body: bytes, code: int,
                                                                 ids: list[Any]):
    async with running_client(make_app()) as client:
        response = await client.post("/a2a", content=body,
                                     headers={**V10, "Content-Type": "application/json"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code
    assert "result" not in answer
    # JSON-RPC 2.0 §5: null when the id could not be read, else the request's id.
    assert answer["id"] in ids


async def test_the_id_is_echoed_and_text_plain_is_refused():
    async with running_client(make_app()) as client:
        named = await client.post("/a2a", headers=V10, json=envelope(
            "GetTask", {"id": "run_nope"}, rid="abc"))
        plain = await client.post("/a2a", content=json.dumps(envelope(
            "SendMessage", {"message": message("hi")}, rid=7)),
            headers={**V10, "Content-Type": "text/plain"})
    assert named.json()["id"] == "abc"
    assert plain.status_code == 200
    assert plain.json()["error"]["code"] == -32005
    assert plain.json()["id"] in (7, None)


async def test_a_trailing_slash_is_the_same_endpoint():
    async with running_client(make_app()) as client:
        task = await Rpc(client, "/a2a/").send(message("slash"))
        skill = await Rpc(client, "/a2a/shout/").send(message("slash"))
    assert text_of(task["artifacts"]) == "echo: slash"
    assert text_of(skill["artifacts"]) == "SLASH"


# HTTP+JSON


async def test_rest_send_and_get():
    async with running_client(make_app()) as client:
        sent = await client.post("/a2a/message:send", headers=V10,
                                 json={"message": message("rest")})
        assert sent.status_code == 200
        assert sent.headers["content-type"].startswith("application/json")
        answer = sent.json()
        assert set(answer) == {"task"}
        task = answer["task"]
        assert task["status"]["state"] == COMPLETED
        assert text_of(task["artifacts"]) == "echo: rest"
        got = await client.get(f"/a2a/tasks/{task['id']}", headers=V10)
        short = await client.get(f"/a2a/tasks/{task['id']}?historyLength=0", headers=V10)
    assert got.status_code == 200
    assert got.json()["id"] == task["id"]
    assert got.json()["status"]["state"] == COMPLETED
    assert got.json()["history"][0]["parts"] == [{"text": "rest"}]
    assert "history" not in short.json()


async def test_rest_unknown_task_is_a_404_status_body():
    async with running_client(make_app()) as client:
        response = await client.get("/a2a/tasks/run_missing", headers=V10)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404
    assert error["status"] == "NOT_FOUND"
    assert error["message"]
    (info,) = [d for d in error["details"] if d["@type"] == ERROR_INFO]
    assert info["reason"] == "TASK_NOT_FOUND"
    assert info["domain"] == "a2a-protocol.org"


async def test_rest_refuses_text_plain_and_a_missing_version():
    async with running_client(make_app()) as client:
        plain = await client.post("/a2a/message:send", headers={**V10,
                                                                "Content-Type": "text/plain"},
                                  content=json.dumps({"message": message("x")}))
        unversioned = await client.post("/a2a/message:send", json={"message": message("x")})
    assert plain.status_code == 415
    assert plain.json()["error"]["details"][0]["reason"] == "CONTENT_TYPE_NOT_SUPPORTED"
    assert unversioned.status_code == 400
    error = unversioned.json()["error"]
    assert error["code"] == 400
    assert error["details"][0]["reason"] == "VERSION_NOT_SUPPORTED"


async def test_rest_answers_a2a_json_when_the_request_used_it():
    async with running_client(make_app()) as client:
        sent = await client.post("/a2a/message:send",
                                 headers={**V10, "Content-Type": "application/a2a+json"},
                                 content=json.dumps({"message": message("typed")}))
        accepted = await client.get(f"/a2a/tasks/{sent.json()['task']['id']}",
                                    headers={**V10, "Accept": "application/a2a+json"})
        plain = await client.get(f"/a2a/tasks/{sent.json()['task']['id']}", headers=V10)
    assert sent.status_code == 200
    assert sent.headers["content-type"].startswith("application/a2a+json")
    assert text_of(sent.json()["task"]["artifacts"]) == "echo: typed"
    assert accepted.headers["content-type"].startswith("application/a2a+json")
    assert plain.headers["content-type"].startswith("application/json")


async def test_rest_0_3_uses_the_grpc_json_shapes():
    async with running_client(make_app()) as client:
        sent = await client.post("/a2a/v1/message:send", json={"message": {
            "messageId": uuid.uuid4().hex, "role": "ROLE_USER",
            "content": [{"text": "legacy"}]}, "configuration": {"blocking": True}})
        assert sent.status_code == 200, sent.text
        task = sent.json()["task"]
        got = await client.get(f"/a2a/v1/tasks/{task['id']}")
        wrong = await client.post("/a2a/v1/message:send", headers=V10, json={"message": {
            "messageId": "x", "role": "ROLE_USER", "content": [{"text": "x"}]}})
    assert "kind" not in task
    assert task["status"]["state"] == COMPLETED
    assert task["history"][0]["content"] == [{"text": "legacy"}]
    assert task["history"][0]["role"] == "ROLE_USER"
    assert "parts" not in task["history"][0]
    assert task["artifacts"][-1]["parts"] == [{"text": "echo: legacy"}]
    assert got.json()["status"]["state"] == COMPLETED
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "VERSION_NOT_SUPPORTED"


# routing


async def test_metadata_skill_picks_the_skill_and_the_default_takes_the_rest():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        by_message = await rpc.send(message("quiet", skill="shout"))
        by_request = await rpc.result("SendMessage", {"message": message("quiet"),
                                                      "metadata": {"skill": "shout"}})
        default = await rpc.send(message("quiet"))
    assert text_of(by_message["artifacts"]) == "QUIET"
    assert text_of(by_request["task"]["artifacts"]) == "QUIET"
    assert text_of(default["artifacts"]) == "echo: quiet"


async def test_the_skill_path_always_runs_that_skill():
    async with running_client(make_app()) as client:
        task = await Rpc(client, "/a2a/shout").send(message("loud", skill="echo"))
        rest = await client.post("/a2a/shout/message:send", headers=V10,
                                 json={"message": message("rest")})
        unknown_path = await Rpc(client, "/a2a/nobody").call("SendMessage",
                                                            {"message": message("x")})
    assert text_of(task["artifacts"]) == "LOUD"
    assert text_of(rest.json()["task"]["artifacts"]) == "REST"
    assert "error" in unknown_path


async def test_an_unknown_skill_is_invalid_params():
    async with running_client(make_app()) as client:
        error = await Rpc(client).error("SendMessage", {"message": message("x", skill="nope")})
    assert error["code"] == -32602
    assert "nope" in error["message"]


async def test_structured_input_from_a_data_part():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        from_data = await rpc.send(message(data={"order_id": 7}, skill="orders"))
        bad = await rpc.error("SendMessage", {"message": message(
            data={"order_id": "seven"}, skill="orders")})
    assert data_parts(from_data["artifacts"]) == [{"order_id": 7, "status": "shipped"}]
    assert bad["code"] == -32602
    (request,) = [d for d in bad["data"] if d.get("@type") == BAD_REQUEST]
    fields = [v["field"] for v in request["fieldViolations"]]
    assert any("order_id" in f for f in fields), request
    assert all(v["description"] for v in request["fieldViolations"])


async def test_structured_input_from_a_json_object_in_a_text_part():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        answer = await rpc.call("SendMessage", {"message": message('{"order_id": 8}',
                                                                   skill="orders")})
        bad = await rpc.error("SendMessage", {"message": message('{"order_id": "eight"}',
                                                                 skill="orders")})
    assert "error" not in answer, answer
    assert data_parts(answer["result"]["task"]["artifacts"]) == [
        {"order_id": 8, "status": "shipped"}]
    assert bad["code"] == -32602


# tasks are runs


async def test_the_task_is_a_run():
    async with running_client(make_app()) as client:
        task = await Rpc(client).send(message("run"))
        run = await client.get(f"/runs/{task['id']}")
    assert task["id"].startswith("run_")
    assert run.status_code == 200
    assert run.json()["run_id"] == task["id"]
    assert run.json()["status"] == "completed"
    assert run.json()["output"] == "echo: run"


async def test_ctx_a2a_describes_the_request_and_a_client_context_is_kept():
    async with running_client(make_app()) as client:
        msg = message("who am I", skill="info", contextId="ctx-from-client")
        msg["metadata"]["tone"] = "dry"
        answer = await Rpc(client).result("SendMessage", {"message": msg,
                                                          "metadata": {"trace": "t-1"}})
    task = answer["task"]
    assert task["contextId"] == "ctx-from-client"
    (info,) = data_parts(task["artifacts"])
    assert info["message_id"] == msg["messageId"]
    assert info["context_id"] == "ctx-from-client"
    assert info["task_id"] == task["id"]
    assert info["skill"] == "info"
    assert info["metadata"] == {"trace": "t-1"}
    assert info["text"] == "who am I"
    assert info["message_metadata"] == {"skill": "info", "tone": "dry"}


async def test_input_required_then_a_follow_up_naming_only_the_task():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        first = await rpc.send(message("refund", skill="ask"))
        assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        prompt = first["status"]["message"]
        assert prompt["role"] == "ROLE_AGENT"
        assert "Which order?" in prompt["parts"][0]["text"]
        second = await rpc.send(message("42", taskId=first["id"]))
        fetched = await rpc.get(first["id"])
    assert second["id"] == first["id"]
    assert second["contextId"] == first["contextId"]
    assert second["status"]["state"] == COMPLETED
    assert text_of(second["artifacts"]) == "refund: order 42"
    history = fetched["history"]
    assert [m["role"] for m in history] == ["ROLE_USER", "ROLE_AGENT", "ROLE_USER"]
    assert [m["parts"][0]["text"] for m in (history[0], history[2])] == ["refund", "42"]
    assert "Which order?" in history[1]["parts"][0]["text"]
    assert {m["contextId"] for m in history} == {first["contextId"]}
    assert {m["taskId"] for m in history} == {first["id"]}


async def test_a_follow_up_with_another_context_is_refused():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("refund", skill="ask"))
        error = await rpc.error("SendMessage", {"message": message(
            "42", taskId=task["id"], contextId="someone-elses")})
        still = await rpc.get(task["id"])
    assert error["code"] == -32602
    assert still["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"


async def test_a_message_to_a_finished_task_is_unsupported():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("done"))
        error = await rpc.error("SendMessage", {"message": message("more", taskId=task["id"])})
        unknown = await rpc.error("SendMessage", {"message": message("x", taskId="run_nope")})
    assert error["code"] == -32004
    assert error_info(error)["reason"] == "UNSUPPORTED_OPERATION"
    assert unknown["code"] == -32001


async def test_task_rejected_and_a_failing_agent():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        rejected = await rpc.send(message("150 items", skill="reject"))
        failed = await rpc.send(message("print", skill="boom"))
    assert rejected["status"]["state"] == "TASK_STATE_REJECTED"
    assert failed["status"]["state"] == "TASK_STATE_FAILED"
    status_message = failed["status"]["message"]
    assert status_message["role"] == "ROLE_AGENT"
    assert "the printer is on fire" in status_message["parts"][0]["text"]


async def test_return_immediately_answers_before_the_task_completes():
    gate = asyncio.Event()
    async with running_client(make_app(gate=gate)) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("later", skill="slow"), returnImmediately=True)
        assert task["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
        gate.set()

        async def completed() -> dict[str, Any] | None:
            got = await rpc.get(task["id"])
            return got if got["status"]["state"] == COMPLETED else None

        done = await wait_for(completed, timeout=5)
    assert text_of(done["artifacts"], "result") == "finished later"


# streaming


def position(event_id: str) -> tuple[int, int]:
    """Where an SSE id points in the run's log: ``"7"`` is all of event 7 (a snapshot),
    ``"7.1"`` the second update made from event 7."""
    seq, _, index = event_id.partition(".")
    return int(seq), int(index) if index else -1


def check_ids(frames: list[dict[str, Any]]) -> None:
    """Every update with an id can be resumed from, so ids are unique and in log order; the
    only update without one is the WORKING that follows a snapshot already saying so."""
    ids = [frame["id"] for frame in frames if frame["id"] is not None]
    assert [position(i) for i in ids] == sorted({position(i) for i in ids}), ids
    for k, frame in enumerate(frames):
        if frame["id"] is None:
            assert k == 1 and "task" in (frames[0]["data"].get("result") or frames[0]["data"])
            update = frame["data"].get("result") or frame["data"]
            assert update["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"


def check_task_stream(items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """task, WORKING, the text in chunks (append after the first, lastChunk on the last) and
    then COMPLETED; returns the artifact updates."""
    kinds = [kind(i) for i in items]
    assert kinds[0] == "task", kinds
    assert kinds[1] == "statusUpdate"
    assert items[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    assert kinds[-1] == "statusUpdate"
    assert items[-1]["statusUpdate"]["status"]["state"] == COMPLETED
    task_id = items[0]["task"]["id"]
    updates = [i["artifactUpdate"] for i in items if "artifactUpdate" in i]
    chunks = [u for u in updates if u["artifact"]["artifactId"] == "stream"]
    assert chunks
    assert "append" not in chunks[0]
    assert all(c.get("append") is True for c in chunks[1:])
    assert [bool(c.get("lastChunk")) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "".join(p["text"] for c in chunks for p in c["artifact"]["parts"]) == text
    for item in items[1:]:
        event = item[kind(item)]
        assert event["taskId"] == task_id
        assert event["contextId"] == items[0]["task"]["contextId"]
        assert "final" not in event  # a 0.3 field
    return updates


async def test_streaming_send_over_json_rpc():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        frames = await rpc.stream("SendStreamingMessage", {"message": message("you",
                                                                             skill="tokens")})
        check_ids(frames)
        items = results(frames)
        updates = check_task_stream(items, "Hello you")
        # The output is exactly the streamed text: no separate result artifact.
        assert {u["artifact"]["artifactId"] for u in updates} == {"stream"}
        stored = await rpc.get(items[0]["task"]["id"])
    assert stored["status"]["state"] == COMPLETED
    assert text_of(stored["artifacts"]) == "Hello you"


async def test_streaming_adds_a_result_artifact_when_the_output_differs():
    async with running_client(make_app()) as client:
        frames = await Rpc(client).stream("SendStreamingMessage", {"message": message(
            "the plan", skill="summary")})
    items = results(frames)
    updates = check_task_stream(items, "thinking hard")
    (result,) = [u for u in updates if u["artifact"]["artifactId"] != "stream"]
    assert result["artifact"]["parts"] == [{"data": {"summary": "the plan"}}]
    # After the last chunk, just before the final status.
    assert items[-2] == {"artifactUpdate": result}


async def test_streaming_send_over_rest():
    async with running_client(make_app()) as client:
        response = await client.post("/a2a/message:stream", headers=V10,
                                     json={"message": message("rest", skill="tokens")})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(response.text)
    check_ids(frames)
    items = [frame["data"] for frame in frames]  # REST: each data is a StreamResponse
    check_task_stream(items, "Hello rest")


async def test_a_reply_streams_exactly_one_message():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        frames = await rpc.stream("SendStreamingMessage", {"message": message(
            "hi", skill="reply")})
        sent = await rpc.result("SendMessage", {"message": message("hi", skill="reply")})
        rest = await client.post("/a2a/message:stream", headers=V10,
                                 json={"message": message("hi", skill="reply")})
    check_ids(frames)
    (item,) = results(frames)
    assert kind(item) == "message"
    assert item["message"]["role"] == "ROLE_AGENT"
    assert item["message"]["parts"] == [{"text": "direct: hi"}]
    assert set(sent) == {"message"}
    assert sent["message"]["parts"] == [{"text": "direct: hi"}]
    (rest_frame,) = parse_sse(rest.text)
    assert kind(rest_frame["data"]) == "message"


async def test_subscribe_with_last_event_id_replays_the_rest_from_the_log():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        original = await rpc.stream("SendStreamingMessage", {"message": message(
            "log", skill="summary")})
        items = results(original)
        task_id = items[0]["task"]["id"]
        first_chunk = next(f for f in original if "artifactUpdate" in f["data"]["result"])
        after = first_chunk["id"]
        replay = await rpc.stream("SubscribeToTask", {"id": task_id},
                                  headers={"Last-Event-ID": after})
    check_ids(replay)
    expected = [f for f in original if f["id"] is not None
                and position(f["id"]) > position(after)]
    assert expected
    assert "task" not in replay[0]["data"]["result"]  # no snapshot first
    assert [(f["id"], f["data"]["result"]) for f in replay] == \
        [(f["id"], f["data"]["result"]) for f in expected]


async def test_resuming_after_any_event_loses_nothing():
    """``Last-Event-ID`` names the last event the client got (SSE): whichever event that is,
    the replay is exactly the events that came after it."""
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        original = await rpc.stream("SendStreamingMessage", {"message": message(
            "all of it", skill="summary")})
        task_id = original[0]["data"]["result"]["task"]["id"]
        lost = []
        for k, frame in enumerate(original[:-1]):
            if frame["id"] is None:
                continue  # a client keeps the last id it got; resuming from it is tried
            replay = await rpc.stream("SubscribeToTask", {"id": task_id},
                                      headers={"Last-Event-ID": frame["id"]})
            # The snapshot said WORKING already: the id-less WORKING after it is not replayed.
            wanted = [kind(f["data"]["result"]) for f in original[k + 1:]
                      if f["id"] is not None]
            got = [kind(f["data"]["result"]) for f in replay]
            if got != wanted:
                lost.append((k, frame["id"], wanted, got))
    assert not lost, lost


async def test_subscribing_to_a_finished_task_is_unsupported():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("done"))
        error = await rpc.error("SubscribeToTask", {"id": task["id"]})
        rest = await client.post(f"/a2a/tasks/{task['id']}:subscribe", headers=V10)
        unknown = await rpc.error("SubscribeToTask", {"id": "run_nope"})
    assert error["code"] == -32004
    assert rest.status_code == 400
    assert rest.json()["error"]["details"][0]["reason"] == "UNSUPPORTED_OPERATION"
    assert unknown["code"] == -32001


class LiveResponse:
    """One request driven through the ASGI app directly, its body read as it is sent (httpx's
    ASGITransport reads a response whole, which a stream still open cannot give)."""

    def __init__(self) -> None:
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = ""
        self.closed = False

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            while "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                for frame in parse_sse(block + "\n\n"):
                    yield frame
            chunk = await self.chunks.get()
            if chunk is None:
                self.closed = True
                return
            self._buffer += chunk.decode().replace("\r\n", "\n")

    async def next_frame(self, timeout: float = 5) -> dict[str, Any]:
        frames = self.frames()
        return await asyncio.wait_for(anext(frames), timeout)


@contextlib.asynccontextmanager
async def live_post(app: App, path: str, body: dict[str, Any], headers: dict[str, str]
                    ) -> AsyncIterator[LiveResponse]:
    live = LiveResponse()
    payload = json.dumps(body).encode()
    finished = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            live.status.set_result(event["status"])
        elif event["type"] == "http.response.body":
            if event.get("body"):
                live.chunks.put_nowait(event["body"])
            if not event.get("more_body"):
                live.chunks.put_nowait(None)

    raw = [(b"content-type", b"application/json"),
           *((k.lower().encode(), v.encode()) for k, v in headers.items())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": raw,
             "server": ("test", 80), "client": ("127.0.0.1", 1234)}
    call = asyncio.create_task(app(scope, receive, send))
    try:
        yield live
    finally:
        finished.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(call, 5)


async def read_until_closed(live: LiveResponse, timeout: float = 5) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [frame async for frame in live.frames()]

    return await asyncio.wait_for(collect(), timeout)


async def test_subscribe_to_a_working_task_gets_the_snapshot_then_the_updates():
    gate = asyncio.Event()
    app = make_app(gate=gate)
    async with running_client(app) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("job", skill="slow"), returnImmediately=True)

        async def working() -> bool:
            got = await rpc.get(task["id"])
            return got["status"]["state"] == "TASK_STATE_WORKING" and "artifacts" in got

        await wait_for(working, timeout=5)
        async with live_post(app, "/a2a", envelope("SubscribeToTask", {"id": task["id"]}),
                             V10) as live:
            assert await asyncio.wait_for(live.status, 5) == 200
            first = await live.next_frame()
            snapshot = first["data"]["result"]["task"]
            assert snapshot["id"] == task["id"]
            assert snapshot["status"]["state"] == "TASK_STATE_WORKING"
            assert text_of(snapshot["artifacts"], "stream") == "started "
            gate.set()
            rest = await read_until_closed(live)
    items = results(rest)
    check_ids([first, *rest])
    assert items[-1]["statusUpdate"]["status"]["state"] == COMPLETED
    result = [i["artifactUpdate"] for i in items if "artifactUpdate" in i]
    assert text_of([u["artifact"] for u in result], "result") == "finished job"
    assert live.closed


# ListTasks


async def test_list_tasks_filters_by_context_and_status():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        a1 = await rpc.send(message("a1", contextId="ctx-a"))
        a2 = await rpc.send(message("a2", contextId="ctx-a", skill="ask"))
        await rpc.send(message("b1", contextId="ctx-b"))
        in_a = await rpc.result("ListTasks", {"contextId": "ctx-a"})
        waiting = await rpc.result("ListTasks", {"status": "TASK_STATE_INPUT_REQUIRED"})
        done_in_a = await rpc.result("ListTasks", {"contextId": "ctx-a",
                                                   "status": COMPLETED})
        rest = await client.get("/a2a/tasks?contextId=ctx-b", headers=V10)
        everything = await rpc.result("ListTasks", {})
    assert {t["id"] for t in in_a["tasks"]} == {a1["id"], a2["id"]}
    assert in_a["totalSize"] == 2
    assert [t["id"] for t in waiting["tasks"]] == [a2["id"]]
    assert [t["id"] for t in done_in_a["tasks"]] == [a1["id"]]
    assert [t["contextId"] for t in rest.json()["tasks"]] == ["ctx-b"]
    assert everything["totalSize"] == 3


async def test_list_tasks_pages():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        ids = {(await rpc.send(message(f"t{i}", contextId="paged")))["id"] for i in range(5)}
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            params: dict[str, Any] = {"contextId": "paged", "pageSize": 2}
            if token:
                params["pageToken"] = token
            page = await rpc.result("ListTasks", params)
            pages += 1
            assert page["pageSize"] == 2
            assert page["totalSize"] == 5
            assert len(page["tasks"]) <= 2
            seen.extend(t["id"] for t in page["tasks"])
            token = page["nextPageToken"]
            assert isinstance(token, str)
            if not token:
                break
            assert pages < 5
        zero = await rpc.error("ListTasks", {"pageSize": 0})
        too_many = await rpc.error("ListTasks", {"pageSize": 101})
        rest_zero = await client.get("/a2a/tasks?pageSize=0", headers=V10)
    assert pages == 3
    assert len(seen) == 5 and set(seen) == ids  # every task once
    assert zero["code"] == -32602 and too_many["code"] == -32602
    assert rest_zero.status_code == 400


async def test_list_tasks_history_and_artifacts_on_request():
    async with running_client(make_app()) as client:
        rpc = Rpc(client)
        await rpc.send(message("listed", contextId="shown"))
        plain = (await rpc.result("ListTasks", {"contextId": "shown"}))["tasks"][0]
        no_history = (await rpc.result("ListTasks", {"contextId": "shown",
                                                     "historyLength": 0}))["tasks"][0]
        with_artifacts = (await rpc.result("ListTasks", {
            "contextId": "shown", "includeArtifacts": True}))["tasks"][0]
        rest = (await client.get("/a2a/tasks?contextId=shown&includeArtifacts=true",
                                 headers=V10)).json()["tasks"][0]
    assert "artifacts" not in plain
    assert plain["history"][0]["parts"] == [{"text": "listed"}]
    assert not no_history.get("history")
    assert text_of(with_artifacts["artifacts"]) == "echo: listed"
    assert text_of(rest["artifacts"]) == "echo: listed"


# two replicas on one store


async def test_two_replicas_share_tasks(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    gate = asyncio.Event()
    worker = make_app(store, gate=gate)
    front = make_app(store, worker=False, poll_interval=0.05)
    async with running_client(worker) as a, running_client(front) as b:
        via_a, via_b = Rpc(a), Rpc(b)
        done = await via_a.send(message("shared", contextId="two"))
        seen = await via_b.get(done["id"])
        assert seen["status"]["state"] == COMPLETED
        assert text_of(seen["artifacts"]) == "echo: shared"
        listed = await via_b.result("ListTasks", {"contextId": "two"})
        assert [t["id"] for t in listed["tasks"]] == [done["id"]]

        slow = await via_a.send(message("elsewhere", skill="slow", contextId="two"),
                                returnImmediately=True)

        async def working() -> bool:
            got = await via_b.get(slow["id"])
            return got["status"]["state"] == "TASK_STATE_WORKING"

        await wait_for(working, timeout=5)
        async with live_post(front, "/a2a", envelope("SubscribeToTask", {"id": slow["id"]}),
                             V10) as live:
            first = await live.next_frame()
            assert first["data"]["result"]["task"]["id"] == slow["id"]
            gate.set()
            rest = results(await read_until_closed(live))
    assert rest[-1]["statusUpdate"]["status"]["state"] == COMPLETED
    assert text_of([i["artifactUpdate"]["artifact"] for i in rest if "artifactUpdate" in i],
                   "result") == "finished elsewhere"


class Question(BaseModel):
    message: str
    language: str = "en"


async def test_plain_text_fills_the_one_text_field_of_an_input_model():
    app = App(durable_store="memory://")

    @app.agent_endpoint("/ask-model")
    async def ask_model(body: Question) -> str:
        return f"{body.language}: {body.message}"

    async with running_client(app) as client:
        rpc = Rpc(client)
        task = await rpc.send(message("what is A2A?"))
        structured = await rpc.send(message(data={"message": "hola", "language": "es"}))
    assert task["status"]["state"] == COMPLETED
    assert text_of(task["artifacts"], "result") == "en: what is A2A?"
    assert text_of(structured["artifacts"], "result") == "es: hola"
