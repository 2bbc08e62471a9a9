"""The WebSocket view, over a real socket (uvicorn in a thread) with the ``websockets`` client.

``{agent path}/ws`` starts or attaches to runs; ``/runs/{run_id}/ws`` follows one run.  Events
are the same JSON as the SSE ``data`` lines; every control message gets exactly one ack.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import load_app_file

TESTS = Path(__file__).resolve().parent.parent
SLOW_APP = TESTS / "apps" / "slow_stream.py"

CHAT_INPUT = {"message": "what is 2 + 3?"}
CHAT_TEXT = "Let me think. 2 + 3 = 5. "
TIMEOUT = 10.0


# helpers



def ws_url(server: Any, path: str) -> str:
    return server.url.replace("http://", "ws://", 1) + path


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_raw(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), "the server sends text frames"
    return frame


def is_ack(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "ack"


async def until_done(ws: ClientConnection, timeout: float = TIMEOUT
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Frames up to and including the ``done`` event: (events, acks)."""
    events: list[dict[str, Any]] = []
    acks: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv(ws, max(deadline - time.monotonic(), 0.01))
        if is_ack(frame):
            acks.append(frame)
            continue
        events.append(frame)
        if frame["type"] == "done":
            return events, acks


async def until(ws: ClientConnection, predicate: Any, timeout: float = TIMEOUT
                ) -> list[dict[str, Any]]:
    """Frames up to and including the first one matching ``predicate``."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv(ws, max(deadline - time.monotonic(), 0.01))
        frames.append(frame)
        if predicate(frame):
            return frames


def assert_gapless(events: list[dict[str, Any]], run_id: str, first: int = 1) -> None:
    assert [e["seq"] for e in events] == list(range(first, first + len(events)))
    assert all(e["run_id"] == run_id for e in events)
    assert all({"run_id", "seq", "type", "ts"} <= e.keys() for e in events)


def sse_data_lines(base_url: str, run_id: str, after: int = 0) -> list[str]:
    """The ``data`` lines of the run's SSE stream (a finished run: the stream ends)."""
    headers = {"Accept": "text/event-stream"}
    if after:
        headers["Last-Event-ID"] = str(after)
    out = []
    with httpx.stream("GET", f"{base_url}/runs/{run_id}/events", headers=headers,
                      timeout=TIMEOUT) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                out.append(line[len("data: "):])
    return out


def json_events(base_url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/runs/{run_id}/events",
                         headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()["events"]


@pytest.fixture
def server(live_server: Any, quickstart: Any) -> Iterator[Any]:
    with live_server(quickstart) as running:
        yield running


@pytest.fixture
def slow_server(live_server: Any, tmp_path: Path) -> Iterator[Any]:
    app = load_app_file(SLOW_APP, f"sqlite:///{tmp_path / 'slow.db'}")
    with live_server(app) as running:
        yield running


async def start_chat(ws: ClientConnection, **extra: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "start", "input": CHAT_INPUT, **extra}))
    ack = await recv(ws)
    assert is_ack(ack), f"the first frame after start is its ack, got {ack}"
    return ack


async def finished_chat_run(server: Any) -> tuple[str, list[dict[str, Any]]]:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        ack = await start_chat(ws)
        events, _ = await until_done(ws)
    return ack["run_id"], events


# starting runs


async def test_start_acks_then_streams_the_sse_events_until_done(server: Any) -> None:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(json.dumps({"type": "start", "input": CHAT_INPUT, "id": "c-1"}))
        ack = await recv(ws)
        assert ack["type"] == "ack" and ack["op"] == "start" and ack["ok"] is True
        assert ack["id"] == "c-1"
        assert ack["created"] is True
        run_id = ack["run_id"]
        assert isinstance(run_id, str) and run_id
        raw: list[str] = []
        while True:
            text = await recv_raw(ws)
            frame = json.loads(text)
            assert not is_ack(frame), "one control message, one ack"
            raw.append(text)
            if frame["type"] == "done":
                break
    events = [json.loads(t) for t in raw]
    assert_gapless(events, run_id)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[1] == "status"
    assert "tool_call" in types and "tool_result" in types
    assert types[-1] == "done"
    assert events[-1]["status"] == "completed"
    assert events[-1]["output"] == CHAT_TEXT
    assert "".join(e["content"] for e in events if e["type"] == "token") == CHAT_TEXT
    # exactly the SSE data lines, byte for byte, and the stored log
    assert raw == sse_data_lines(server.url, run_id)
    assert events == json_events(server.url, run_id)
    run = httpx.get(f"{server.url}/runs/{run_id}").json()
    assert run["status"] == "completed" and run["output"] == CHAT_TEXT


async def test_start_validates_input_and_keeps_the_socket(server: Any) -> None:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(json.dumps({"type": "start", "input": {"msg": 1}, "id": 9}))
        nack = await recv(ws)
        assert nack["type"] == "ack" and nack["op"] == "start" and nack["ok"] is False
        assert nack["id"] == 9
        assert nack["error"]["code"] == "invalid_input"
        ack = await start_chat(ws, id=10)
        assert ack["ok"] is True and ack["id"] == 10
        events, acks = await until_done(ws)
        assert acks == []
        assert events[-1]["status"] == "completed"


async def test_start_with_an_idempotency_key_returns_the_same_run(server: Any) -> None:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        first = await start_chat(ws, idempotency_key="k-1")
        events, _ = await until_done(ws)
        second = await start_chat(ws, idempotency_key="k-1")
        assert second["ok"] is True and second["created"] is False
        assert second["run_id"] == first["run_id"]
        replay, acks = await until_done(ws)
        assert acks == []
        assert replay == events


# attaching and following


async def test_attach_from_another_socket_receives_the_run_from_the_start(
        slow_server: Any) -> None:
    async with connect(ws_url(slow_server, "/stream/ws")) as starter:
        await starter.send(json.dumps({"type": "start",
                                       "input": {"tokens": 60, "delay": 0.01}}))
        ack = await recv(starter)
        run_id = ack["run_id"]
        # the run is under way when the second client attaches
        await until(starter, lambda f: f.get("type") == "token")
        async with connect(ws_url(slow_server, "/echo/ws")) as other:
            await other.send(json.dumps({"type": "attach", "run_id": run_id, "id": "a"}))
            attach_ack = await recv(other)
            assert attach_ack == {"type": "ack", "op": "attach", "ok": True, "run_id": run_id,
                                  "status": attach_ack["status"], "id": "a"}
            assert attach_ack["status"] in ("running", "completed")
            attached, acks = await until_done(other)
            assert acks == []
        started, _ = await until_done(starter)
    assert_gapless(attached, run_id)
    assert attached[-1]["status"] == "completed"
    assert attached == json_events(slow_server.url, run_id)
    assert attached[-len(started):] == started


async def test_attach_with_after_skips_what_the_client_has(server: Any) -> None:
    run_id, events = await finished_chat_run(server)
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(json.dumps({"type": "attach", "run_id": run_id, "after": 3}))
        ack = await recv(ws)
        assert ack["ok"] is True and ack["status"] == "completed" and "id" not in ack
        rest, _ = await until_done(ws)
    assert rest == events[3:]


async def test_attach_to_an_unknown_run_is_refused(server: Any) -> None:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(json.dumps({"type": "attach", "run_id": "run_nope", "id": 1}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "attach" and nack["id"] == 1
        assert nack["error"]["code"] == "not_found"
        await ws.send(json.dumps({"type": "ping", "id": 2}))
        assert await recv(ws) == {"type": "ack", "op": "ping", "ok": True, "id": 2}


async def test_run_socket_follows_a_live_run(slow_server: Any) -> None:
    response = httpx.post(f"{slow_server.url}/stream", json={"tokens": 50, "delay": 0.01},
                          headers={"Prefer": "respond-async"}, timeout=TIMEOUT)
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    async with connect(ws_url(slow_server, f"/runs/{run_id}/ws")) as ws:
        events, acks = await until_done(ws)
    assert acks == []
    assert_gapless(events, run_id)
    assert events[-1]["status"] == "completed"
    from_tokens = "".join(e["content"] for e in events if e["type"] == "token")
    assert from_tokens == "".join(f"w{i} " for i in range(50))


async def test_run_socket_after_query_skips_events(server: Any) -> None:
    run_id, events = await finished_chat_run(server)
    async with connect(ws_url(server, f"/runs/{run_id}/ws?after=4")) as ws:
        rest, _ = await until_done(ws)
    assert rest == events[4:]


# resume_from


async def test_resume_from_replays_after_seq_in_both_forms(server: Any) -> None:
    run_id, events = await finished_chat_run(server)
    last = events[-1]["seq"]
    async with connect(ws_url(server, f"/runs/{run_id}/ws")) as ws:
        first, _ = await until_done(ws)
        assert first == events

        await ws.send(json.dumps({"type": "resume_from", "seq": 3, "id": "r1"}))
        ack = await recv(ws)
        assert ack == {"type": "ack", "op": "resume_from", "ok": True, "run_id": run_id,
                       "seq": 3, "id": "r1"}
        replay, acks = await until_done(ws)
        assert acks == []
        assert [e["seq"] for e in replay] == list(range(4, last + 1))
        assert replay == events[3:]

        await ws.send(json.dumps({"resume_from": 5}))
        ack = await recv(ws)
        assert ack == {"type": "ack", "op": "resume_from", "ok": True, "run_id": run_id,
                       "seq": 5}
        replay, acks = await until_done(ws)
        assert acks == []
        assert replay == events[5:]

        # from 0: everything again
        await ws.send(json.dumps({"resume_from": 0, "id": 3}))
        ack = await recv(ws)
        assert ack["ok"] is True and ack["seq"] == 0 and ack["id"] == 3
        replay, _ = await until_done(ws)
        assert replay == events


async def test_resume_from_on_an_agent_socket_after_start(server: Any) -> None:
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(json.dumps({"resume_from": 1, "id": "early"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "resume_from" and nack["id"] == "early"
        assert nack["error"]["code"] == "bad_request"
        ack = await start_chat(ws)
        events, _ = await until_done(ws)
        await ws.send(json.dumps({"resume_from": 2}))
        ack = await recv(ws)
        assert ack["ok"] is True and ack["run_id"] == events[0]["run_id"]
        replay, _ = await until_done(ws)
        assert replay == events[2:]


# cancel


async def test_cancel_a_slow_run(slow_server: Any) -> None:
    async with connect(ws_url(slow_server, "/stream/ws")) as ws:
        await ws.send(json.dumps({"type": "start",
                                  "input": {"tokens": 3000, "delay": 0.01}}))
        run_id = (await recv(ws))["run_id"]
        await until(ws, lambda f: f.get("type") == "token")
        await ws.send(json.dumps({"type": "cancel", "id": "stop"}))
        events, acks = await until_done(ws)
        if not acks:  # the ack may come after the done event
            acks = [await recv(ws)]
        assert acks == [{"type": "ack", "op": "cancel", "ok": True, "run_id": run_id,
                         "status": "cancelled", "id": "stop"}]
        done = events[-1]
        assert done["type"] == "done" and done["status"] == "cancelled"
        assert sum(1 for e in events if e["type"] == "token") < 3000
        # a second cancel is refused (the run is finished) and the socket stays usable
        await ws.send(json.dumps({"type": "cancel", "id": "again"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "cancel" and nack["id"] == "again"
        assert nack["error"]["code"] == "conflict"
    run = httpx.get(f"{slow_server.url}/runs/{run_id}").json()
    assert run["status"] == "cancelled"
    logged = json_events(slow_server.url, run_id)
    assert_gapless(logged, run_id)
    assert logged[-1]["type"] == "done" and logged[-1]["status"] == "cancelled"


async def test_cancel_from_a_run_socket(slow_server: Any) -> None:
    response = httpx.post(f"{slow_server.url}/stream", json={"tokens": 3000, "delay": 0.01},
                          headers={"Prefer": "respond-async"}, timeout=TIMEOUT)
    run_id = response.json()["run_id"]
    async with connect(ws_url(slow_server, f"/runs/{run_id}/ws")) as ws:
        await until(ws, lambda f: f.get("type") == "token")
        await ws.send(json.dumps({"type": "cancel"}))
        events, acks = await until_done(ws)
        if not acks:
            acks = [await recv(ws)]
        assert len(acks) == 1 and acks[0]["ok"] is True and acks[0]["status"] == "cancelled"
        assert events[-1]["status"] == "cancelled"


# resume with input


async def test_resume_with_input_on_the_refund_flow(server: Any) -> None:
    async with connect(ws_url(server, "/refund/ws")) as ws:
        await ws.send(json.dumps({"type": "start", "id": "s",
                                  "input": {"order_id": "A-7", "amount": 12.5}}))
        ack = await recv(ws)
        assert ack["ok"] is True and ack["op"] == "start"
        run_id = ack["run_id"]
        before = await until(ws, lambda f: f.get("type") == "input_required")
        assert not any(is_ack(f) for f in before)
        assert before[-1]["schema"]["required"] == ["approved"]
        status = httpx.get(f"{server.url}/runs/{run_id}").json()["status"]
        assert status == "input_required"

        # a wrong answer is refused; the run keeps waiting
        await ws.send(json.dumps({"type": "resume", "input": {"approved": "maybe"},
                                  "id": "bad"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "resume" and nack["id"] == "bad"
        assert nack["error"]["code"] == "invalid_input"

        await ws.send(json.dumps({"type": "resume", "input": {"approved": True},
                                  "id": "yes"}))
        first = await recv(ws)
        assert first["type"] == "ack", f"the resume ack comes before the run's new events: {first}"
        assert first["op"] == "resume" and first["ok"] is True and first["id"] == "yes"
        assert first["run_id"] == run_id
        after, acks = await until_done(ws)
        assert acks == []
    events = before + after
    assert_gapless(events, run_id)
    done = events[-1]
    assert done["status"] == "completed"
    assert done["output"] == {"order_id": "A-7", "refunded": True, "note": "approved"}
    text = "".join(e["content"] for e in events if e["type"] == "token")
    assert text == "Refund of 12.50 for order A-7 was approved and issued."
    assert events == json_events(server.url, run_id)


async def test_resume_without_input_is_refused_while_waiting(server: Any) -> None:
    async with connect(ws_url(server, "/refund/ws")) as ws:
        await ws.send(json.dumps({"type": "start", "input": {"order_id": "B", "amount": 1}}))
        await recv(ws)
        await until(ws, lambda f: f.get("type") == "input_required")
        await ws.send(json.dumps({"type": "resume", "id": 1}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["error"]["code"] == "invalid_input"
        await ws.send(json.dumps({"type": "resume", "input": {"approved": False}, "id": 2}))
        events, acks = await until_done(ws)
        assert [a["id"] for a in acks] == [2] and acks[0]["ok"] is True
        assert events[-1]["output"]["refunded"] is False


# errors


async def test_malformed_messages_are_nacked_and_the_socket_stays_usable(server: Any) -> None:
    run_id, events = await finished_chat_run(server)
    async with connect(ws_url(server, f"/runs/{run_id}/ws")) as ws:
        await until_done(ws)

        await ws.send("{not json")
        nack = await recv(ws)
        assert nack["type"] == "ack" and nack["ok"] is False
        assert nack["error"]["code"] == "bad_request"
        assert nack["error"]["message"]

        await ws.send(json.dumps({"type": "teleport", "id": "u"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "teleport" and nack["id"] == "u"
        assert nack["error"]["code"] == "bad_request"

        for message in ([1, 2], "just a string", 42):
            await ws.send(json.dumps(message))
            nack = await recv(ws)
            assert nack["type"] == "ack" and nack["ok"] is False
            assert nack["error"]["code"] == "bad_request"

        for bad in (-1, "3", 1.5, True, None):
            await ws.send(json.dumps({"type": "resume_from", "seq": bad, "id": f"seq-{bad}"}))
            nack = await recv(ws)
            assert nack["ok"] is False and nack["op"] == "resume_from", (bad, nack)
            assert nack["id"] == f"seq-{bad}"
            assert nack["error"]["code"] == "invalid_input"
        await ws.send(json.dumps({"resume_from": "x"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "resume_from"
        assert nack["error"]["code"] == "invalid_input"

        await ws.send(json.dumps({"type": "start", "input": CHAT_INPUT, "id": "st"}))
        nack = await recv(ws)
        assert nack["ok"] is False and nack["op"] == "start" and nack["id"] == "st"

        # still usable: a ping and a replay work
        await ws.send(json.dumps({"type": "ping", "id": "p"}))
        assert await recv(ws) == {"type": "ack", "op": "ping", "ok": True, "id": "p"}
        await ws.send(json.dumps({"resume_from": 0}))
        assert (await recv(ws))["ok"] is True
        replay, _ = await until_done(ws)
        assert replay == events


async def test_a_binary_frame_does_not_kill_the_socket(server: Any) -> None:
    """Messages are JSON text frames; a binary one is refused (nack or a 1003 close), never
    an unhandled server error."""
    async with connect(ws_url(server, "/chat/ws")) as ws:
        await ws.send(b'{"type": "ping"}')
        try:
            nack = await recv(ws)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1003, \
                f"the server dropped the connection: {exc!r}"
            return
        assert nack["type"] == "ack" and nack["ok"] is False
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        assert (await recv(ws))["ok"] is True


async def test_unknown_run_socket_closes_with_4404(server: Any) -> None:
    try:
        async with connect(ws_url(server, "/runs/run_unknown/ws")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    except InvalidStatus as exc:
        pytest.fail(f"the handshake was refused with HTTP {exc.response.status_code} "
                    "instead of a close frame with code 4404")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404


async def test_run_socket_with_a_bad_after_closes_with_4400(server: Any) -> None:
    run_id, _ = await finished_chat_run(server)
    try:
        async with connect(ws_url(server, f"/runs/{run_id}/ws?after=-2")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    except InvalidStatus as exc:
        pytest.fail(f"the handshake was refused with HTTP {exc.response.status_code} "
                    "instead of a close frame with code 4400")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_every_control_message_gets_exactly_one_ack(server: Any) -> None:
    run_id, events = await finished_chat_run(server)
    messages: list[Any] = [
        {"type": "ping", "id": 1},
        {"type": "attach", "run_id": run_id, "after": 0, "id": 2},
        {"type": "resume_from", "seq": 2, "id": 3},
        {"resume_from": 4, "id": 4},
        {"type": "nope", "id": 5},
        {"type": "resume_from", "seq": -5, "id": 6},
        {"type": "attach", "run_id": "run_missing", "id": 7},
        {"type": "cancel", "id": 8},  # the run is finished: refused
        {"type": "resume", "input": {}, "id": 9},  # finished: refused
        {"type": "start", "input": CHAT_INPUT, "id": 10},
        {"type": "ping", "id": 11},
    ]
    async with connect(ws_url(server, "/chat/ws")) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        acks: list[dict[str, Any]] = []
        started_done = False
        # the socket handles messages in order: once the last ping's ack is in, every earlier
        # message has been answered; then wait for the started run to finish
        while not acks or acks[-1]["id"] != 11 or not started_done:
            frame = await recv(ws)
            if is_ack(frame):
                acks.append(frame)
            elif frame["type"] == "done":
                started = [a for a in acks if a["id"] == 10]
                started_done = bool(started) and frame["run_id"] == started[0]["run_id"]
        await ws.send(json.dumps({"type": "ping", "id": 12}))
        while True:
            frame = await recv(ws)
            if is_ack(frame):
                acks.append(frame)
                if frame["id"] == 12:
                    break
    ids = [a["id"] for a in acks]
    assert ids == list(range(1, 13)), ids
    ok = {a["id"]: a["ok"] for a in acks}
    assert [i for i, good in ok.items() if good] == [1, 2, 3, 4, 10, 11, 12]
    assert all(a["error"]["code"] for a in acks if not a["ok"])
