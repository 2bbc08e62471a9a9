"""A2AClient against a real a2a-sdk 1.3.0 server (a subprocess), over JSON-RPC and HTTP+JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from fastagentic.a2a.client import (
    KNOWN_ERRORS,
    A2AClient,
    A2AError,
    A2AHTTPError,
    AgentCardError,
    InvalidAgentResponseError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
    error_from_jsonrpc,
    error_from_status,
    parts_text,
    user_message,
)
from fastagentic.a2a.envelope import Envelope

from .sdk_echo_server import subprocess_server

BINDINGS = ["JSONRPC", "HTTP+JSON"]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[str]:
    with subprocess_server() as base:
        yield base


@pytest.fixture(params=BINDINGS)
async def client(request: pytest.FixtureRequest, sdk_server: str) -> Any:
    async with await A2AClient.connect(sdk_server, binding=request.param) as c:
        yield c


def artifact_text(task: dict[str, Any]) -> str:
    return "".join(parts_text(a["parts"]) for a in task.get("artifacts", []))


# the card


async def test_connect_picks_the_first_1_0_interface_of_the_allowed_binding(sdk_server: str):
    async with await A2AClient.connect(sdk_server) as default:
        # The card lists JSON-RPC 0.3 first: the client skips it.
        assert default.binding == "JSONRPC"
        assert default.interface["protocolVersion"] == "1.0"
        assert default.url == sdk_server + "/jsonrpc"
        assert default.card["name"] == "Echo"
    async with await A2AClient.connect(sdk_server, binding="HTTP+JSON") as rest:
        assert (rest.binding, rest.url) == ("HTTP+JSON", sdk_server + "/rest")
    card_url = sdk_server + "/.well-known/agent-card.json"
    async with await A2AClient.connect(card_url, binding="rest") as by_card:
        assert by_card.binding == "HTTP+JSON"


async def test_connect_falls_back_to_the_legacy_card_path(sdk_server: str):
    async with await A2AClient.connect(sdk_server + "/legacy") as legacy:
        assert legacy.card["name"] == "Echo"
        answer = await legacy.send("via the legacy card")
        assert artifact_text(answer["task"]) == "echo:via the legacy card"


async def test_no_card_or_no_1_0_interface_is_an_agent_card_error(sdk_server: str):
    with pytest.raises(AgentCardError, match="no agent card found"):
        await A2AClient.connect(sdk_server + "/nowhere")
    only_0_3 = {"name": "Old", "supportedInterfaces": [
        {"url": sdk_server + "/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}]}
    with pytest.raises(AgentCardError, match=r"no A2A 1\.0 interface"):
        A2AClient(only_0_3)
    with pytest.raises(ValueError, match="unknown A2A binding"):
        A2AClient(only_0_3, binding="GRPC")


async def test_a_client_from_a_card_dict(sdk_server: str):
    async with httpx.AsyncClient() as http:
        card = (await http.get(sdk_server + "/.well-known/agent-card.json")).json()
        c = A2AClient(card, binding="HTTP+JSON", httpx_client=http)
        answer = await c.send("from a dict")
        assert artifact_text(answer["task"]) == "echo:from a dict"
        await c.aclose()
        assert not http.is_closed  # the caller's httpx client stays the caller's


# sending


async def test_send_answers_the_completed_task(client: A2AClient):
    answer = await client.send("hello")
    task = answer["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert artifact_text(task) == "echo:hello"
    (sent,) = task["history"]
    assert sent["role"] == "ROLE_USER" and sent["parts"] == [{"text": "hello"}]
    assert sent["messageId"] and sent["taskId"] == task["id"]


async def test_send_a_direct_message_reply(client: A2AClient):
    answer = await client.send("reply ping")
    assert "task" not in answer
    assert parts_text(answer["message"]["parts"]) == "reply:ping"
    assert answer["message"]["role"] == "ROLE_AGENT"


async def test_a_dict_is_a_data_part_and_a_message_dict_is_sent_as_is(client: A2AClient):
    answer = await client.send({"city": "Paris", "days": 3})
    (artifact,) = answer["task"]["artifacts"]
    assert artifact["parts"] == [{"data": {"city": "Paris", "days": 3}}]

    message = {"messageId": "my-own-id", "role": "ROLE_USER",
               "parts": [{"text": "data"}, {"data": [1, 2]}]}
    task = (await client.send(message))["task"]
    assert task["artifacts"][0]["parts"] == [{"data": [1, 2]}]
    assert task["history"][0]["messageId"] == "my-own-id"


async def test_input_required_then_the_follow_up_completes(client: A2AClient):
    task = (await client.send("ask"))["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert parts_text(task["status"]["message"]["parts"]) == "What is your name?"

    done = (await client.send("Ada", task_id=task["id"], context_id=task["contextId"]))["task"]
    assert done["id"] == task["id"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert artifact_text(done) == "hello, Ada"


async def test_failed_and_rejected_tasks_are_answers_not_errors(client: A2AClient):
    failed = (await client.send("fail"))["task"]["status"]
    assert failed["state"] == "TASK_STATE_FAILED"
    assert parts_text(failed["message"]["parts"]) == "it failed"
    rejected = (await client.send("reject"))["task"]["status"]
    assert rejected["state"] == "TASK_STATE_REJECTED"


async def test_non_blocking_send_and_history_length(client: A2AClient):
    answer = await client.send("later", blocking=False, history_length=0)
    task_id = answer["task"]["id"]
    assert not answer["task"].get("history")

    async def settled() -> dict[str, Any]:
        while True:
            task = await client.get_task(task_id)
            if task["status"]["state"] == "TASK_STATE_COMPLETED":
                return task
            await asyncio.sleep(0.02)

    task = await asyncio.wait_for(settled(), 10)
    assert artifact_text(task) == "echo:later"


# streaming


async def test_stream_yields_the_task_then_its_updates(client: A2AClient):
    events = [e async for e in client.stream("streamed")]
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["task", "statusUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"]
    task_id = events[0]["task"]["id"]
    first, second = events[2]["artifactUpdate"], events[3]["artifactUpdate"]
    assert first["taskId"] == task_id and parts_text(first["artifact"]["parts"]) == "echo:"
    assert second["append"] is True and second["lastChunk"] is True
    assert parts_text(second["artifact"]["parts"]) == "streamed"
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_stream_a_message_reply_is_one_event(client: A2AClient):
    events = [e async for e in client.stream("reply streamed")]
    assert len(events) == 1 and parts_text(events[0]["message"]["parts"]) == "reply:streamed"


async def test_stream_stops_at_input_required(client: A2AClient):
    events = [e async for e in client.stream("ask")]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"


async def test_a_stream_can_be_left_early(client: A2AClient):
    async with aclosing(client.stream("leave early")) as events:
        async for event in events:
            assert "task" in event
            break
    assert (await client.send("still works"))["task"]["status"]["state"] \
        == "TASK_STATE_COMPLETED"


# tasks


async def test_get_and_list_tasks(client: A2AClient):
    first = (await client.send("one"))["task"]
    second = (await client.send("two", context_id=first["contextId"]))["task"]
    assert second["contextId"] == first["contextId"]

    got = await client.get_task(first["id"], history_length=1)
    assert got["id"] == first["id"] and len(got["history"]) == 1

    listed = await client.list_tasks(context_id=first["contextId"])
    assert {t["id"] for t in listed["tasks"]} == {first["id"], second["id"]}
    assert listed["totalSize"] == 2 and listed["nextPageToken"] == ""
    assert all("artifacts" not in t for t in listed["tasks"])

    page = await client.list_tasks(context_id=first["contextId"], page_size=1,
                                   include_artifacts=True, status="completed")
    assert len(page["tasks"]) == 1 and page["nextPageToken"]
    assert page["tasks"][0]["artifacts"]
    rest = await client.list_tasks(contextId=first["contextId"], page_size=1,
                                   page_token=page["nextPageToken"])
    assert {page["tasks"][0]["id"], rest["tasks"][0]["id"]} == {first["id"], second["id"]}

    none = await client.list_tasks(context_id=first["contextId"], status="TASK_STATE_FAILED")
    assert none["tasks"] == []


async def test_cancel_a_waiting_task_then_cancel_again_fails(client: A2AClient):
    task = (await client.send("ask"))["task"]
    canceled = await client.cancel_task(task["id"])
    assert canceled["id"] == task["id"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    with pytest.raises(TaskNotCancelableError) as info:
        await client.cancel_task(task["id"])
    assert info.value.code == -32002 and info.value.reason == "TASK_NOT_CANCELABLE"


async def test_subscribe_follows_a_waiting_task_to_its_end(client: A2AClient):
    task = (await client.send("ask"))["task"]
    seen: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def follow() -> None:
        async for event in client.subscribe(task["id"]):
            seen.append(event)
            subscribed.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(subscribed.wait(), 10)
    assert seen[0]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    await client.send("Bob", task_id=task["id"])
    await asyncio.wait_for(follower, 10)
    updates = [e["artifactUpdate"] for e in seen if "artifactUpdate" in e]
    assert parts_text(updates[0]["artifact"]["parts"]) == "hello, Bob"
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


# push notification configs


async def test_push_config_create_get_list_delete(client: A2AClient):
    task = (await client.send("ask"))["task"]
    created = await client.create_push_config(
        task["id"], "https://example.com/hook", config_id="c1", token="tok",
        authentication={"scheme": "Bearer", "credentials": "secret"})
    assert created["id"] == "c1" and created["taskId"] == task["id"]
    assert created["url"] == "https://example.com/hook" and created["token"] == "tok"
    assert created["authentication"]["scheme"] == "Bearer"

    assert (await client.get_push_config(task["id"], "c1"))["url"] == created["url"]
    default = await client.create_push_config(task["id"], "https://example.com/other")
    listed = await client.list_push_configs(task["id"])
    assert {c["id"] for c in listed["configs"]} == {"c1", default["id"]}

    assert await client.delete_push_config(task["id"], "c1") is None
    await client.delete_push_config(task["id"], "c1")  # idempotent
    assert [c["id"] for c in (await client.list_push_configs(task["id"]))["configs"]] \
        == [default["id"]]
    with pytest.raises(A2AError):
        await client.get_push_config(task["id"], "c1")
    await client.cancel_task(task["id"])


async def test_the_extended_card(client: A2AClient):
    card = await client.get_extended_card()
    assert card["name"] == "Echo (extended)"


# errors


async def test_errors_map_to_a2a_error_classes(client: A2AClient):
    with pytest.raises(TaskNotFoundError) as missing:
        await client.get_task("no-such-task")
    assert missing.value.code == -32001 and missing.value.reason == "TASK_NOT_FOUND"
    assert any(d.get("reason") == "TASK_NOT_FOUND" for d in missing.value.data)

    with pytest.raises(TaskNotFoundError):
        await client.send("hello", task_id="no-such-task")

    done = (await client.send("done"))["task"]
    with pytest.raises(UnsupportedOperationError):
        async for _ in client.subscribe(done["id"]):
            pass
    with pytest.raises(UnsupportedOperationError):  # a message to a finished task
        await client.send("more", task_id=done["id"])

    with pytest.raises(InvalidParamsError) as invalid:
        await client.list_tasks(page_size=0)
    assert invalid.value.code == -32602


async def test_an_endpoint_that_is_not_a2a_is_an_http_error(sdk_server: str):
    for binding in BINDINGS:
        card = {"name": "Nowhere", "supportedInterfaces": [
            {"url": sdk_server + "/nowhere", "protocolBinding": binding,
             "protocolVersion": "1.0"}]}
        async with A2AClient(card) as c:
            with pytest.raises(A2AHTTPError) as info:
                await c.get_task("x")
            assert info.value.status in (307, 404)  # Starlette may redirect first


# propagation


async def test_every_request_carries_the_version_trace_and_extra_headers(client: A2AClient,
                                                                         sdk_server: str):
    async with await A2AClient.connect(
            sdk_server, binding=client.binding, trace=TRACEPARENT,
            headers={"Authorization": "Bearer abc", "X-Extra": "1"}) as traced:
        (artifact,) = (await traced.send("headers"))["task"]["artifacts"]
        seen = artifact["parts"][0]["data"]
        assert seen == {"traceparent": TRACEPARENT, "tracestate": None,
                        "authorization": "Bearer abc", "a2a-version": "1.0", "x-extra": "1"}

        other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        events = [e async for e in traced.stream(
            "headers", trace={"traceparent": other, "tracestate": "vendor=1"},
            headers={"X-Extra": "2"})]
        (update,) = [e["artifactUpdate"] for e in events if "artifactUpdate" in e]
        seen = update["artifact"]["parts"][0]["data"]
        assert (seen["traceparent"], seen["tracestate"]) == (other, "vendor=1")
        assert seen["x-extra"] == "2" and seen["authorization"] == "Bearer abc"


async def test_an_envelope_rides_in_the_message_metadata(client: A2AClient):
    envelope = Envelope(task_id="t-1", from_="BillingNormalizer:v1.0",
                        to="AnomalyDetector:v1.1", payload_ref="gs://bucket/normalized.json",
                        status="completed", meta={"run_start": "2025-12-01T09:00:00Z"})
    task = (await client.send("carried", envelope=envelope, message_metadata={"other": 1}))[
        "task"]
    stored = (await client.get_task(task["id"]))["history"][0]
    assert stored["metadata"]["other"] == 1
    assert stored["metadata"]["fastagentic.envelope"]["from"] == "BillingNormalizer:v1.0"
    assert Envelope.from_message(stored) == envelope


async def test_request_metadata_and_message_metadata(client: A2AClient):
    task = (await client.send("meta", metadata={"skill": "echo"},
                              message_metadata={"note": "hi"}))["task"]
    seen = task["artifacts"][0]["parts"][0]["data"]
    assert seen == {"request": {"skill": "echo"}, "message": {"note": "hi"}}


# building messages (no server)


def test_user_message_shapes():
    text = user_message("hi", context_id="c", task_id="t", metadata={"k": 1})
    assert text["parts"] == [{"text": "hi"}] and text["role"] == "ROLE_USER"
    assert (text["contextId"], text["taskId"], text["metadata"]) == ("c", "t", {"k": 1})
    assert len(text["messageId"]) == 32
    assert user_message({"a": 1})["parts"] == [{"data": {"a": 1}}]
    full = user_message({"parts": [{"text": "x"}], "role": "ROLE_AGENT",
                         "metadata": {"a": 1}}, metadata={"b": 2})
    assert full["role"] == "ROLE_AGENT" and full["metadata"] == {"a": 1, "b": 2}
    with pytest.raises(TypeError):
        user_message(42)  # type: ignore[arg-type]


def test_error_mapping_by_code_and_by_reason():
    for cls in KNOWN_ERRORS:
        by_code = error_from_jsonrpc({"code": cls.code, "message": "m"})
        assert type(by_code) is cls and by_code.message == "m"
        if cls.reason:
            body = {"error": {"code": 400, "status": "X", "message": "m", "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": cls.reason,
                 "domain": "a2a-protocol.org"}]}}
            assert type(error_from_status(400, body)) is cls
    unknown = error_from_jsonrpc({"code": -32077, "message": "odd", "data": [1]})
    assert type(unknown) is A2AError and (unknown.code, unknown.data) == (-32077, [1])
    assert isinstance(error_from_jsonrpc("junk"), InvalidAgentResponseError)
    no_info = error_from_status(401, {"error": {"code": 401, "message": "sign in"}})
    assert isinstance(no_info, A2AHTTPError) and no_info.status == 401
    assert no_info.message == "sign in"
    assert error_from_status(502, None).message == "HTTP 502"
