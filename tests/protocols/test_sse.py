"""SSE: ``POST {path}/stream``, ``Accept: text/event-stream`` and ``GET /runs/{id}/events``.

In-process tests read whole (finished) streams; live tests use a real uvicorn server to follow
runs while they execute and to disconnect in the middle of a stream.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import load_quickstart, parse_sse, running_client, wait_for
from fastagentic import App, Output, RunContext, events
from fastagentic.stores.sqlite import SQLiteStore

FRAME_RE = re.compile(r"id: (\d+)\nevent: ([a-z_]+)\ndata: (\{.*\})\n\n")


async def iter_frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Frames of a live SSE response, as they arrive."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield {"id": fields.get("id"), "event": fields.get("event"),
                       "data": json.loads(fields["data"])}
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value


async def read_until(frames: AsyncIterator[dict[str, Any]], predicate: Any,
                     timeout: float = 5) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def collect() -> None:
        async for frame in frames:
            out.append(frame)
            if predicate(frame):
                return
        raise AssertionError(f"the stream ended before the expected frame: {out}")

    await asyncio.wait_for(collect(), timeout)
    return out


def is_type(kind: str) -> Any:
    return lambda frame: frame["event"] == kind


def check_frames(frames: list[dict[str, Any]], run_id: str, first_seq: int = 1) -> None:
    assert frames, "no frames"
    for i, frame in enumerate(frames):
        data = frame["data"]
        assert int(frame["id"]) == data["seq"] == first_seq + i
        assert frame["event"] == data["type"]
        assert data["run_id"] == run_id
        assert isinstance(data["ts"], float | int)


# in process


async def test_chat_stream_frames(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat/stream", json={"message": "what is 2 + 3?"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        run_id = r.headers["X-Run-Id"]
        assert r.headers["Location"] == f"/runs/{run_id}"
        # The exact wire format: id, event, data lines, then a blank line.
        raw = [m for m in FRAME_RE.finditer(r.text)]
        assert "".join(m.group(0) for m in raw) == r.text.replace("\r\n", "\n")
        frames = parse_sse(r.text)
        check_frames(frames, run_id)
        kinds = [f["event"] for f in frames]
        assert kinds[:2] == ["run_started", "status"]
        assert kinds[-1] == "done"
        assert kinds.count("done") == 1
        started = frames[0]["data"]
        assert started["endpoint"] == "chat"
        assert started["input"] == {"message": "what is 2 + 3?"}

        tokens = [f["data"] for f in frames if f["event"] == "token"]
        assert all("content" in t and "delta" in t for t in tokens)
        assert "".join(t["content"] for t in tokens) == "Let me think. 2 + 3 = 5. "
        call = next(f["data"] for f in frames if f["event"] == "tool_call")
        assert call["tool"] == "add"
        assert call["args"] == {"a": 2, "b": 3}
        assert call["call_id"]
        result = next(f["data"] for f in frames if f["event"] == "tool_result")
        assert result["tool"] == "add"
        assert result["output"] == 5
        assert result["call_id"] == call["call_id"]
        assert kinds.index("tool_call") < kinds.index("tool_result")
        done = frames[-1]["data"]
        assert done["status"] == "completed"
        assert done["output"] == "Let me think. 2 + 3 = 5. "


async def test_accept_event_stream_on_the_agent_path(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat", json={"message": "hello"},
                              headers={"Accept": "text/event-stream"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = parse_sse(r.text)
        check_frames(frames, r.headers["X-Run-Id"])
        assert frames[-1]["data"]["status"] == "completed"
        assert frames[-1]["data"]["output"] == "Let me think. You said: hello "


async def test_stream_validation_errors_are_json(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat/stream", json={"msg": "x"})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/json"
        r = await client.post("/chat/stream", content=b"{nope")
        assert r.status_code == 400


def event_app(tmp_path: Path) -> App:
    app = App(durable_store=f"sqlite:///{tmp_path / 'events.db'}")

    @app.agent_endpoint("/plan", output_model=dict[str, Any])
    async def plan(goal: str, ctx: RunContext):
        yield events.node_start("think")
        yield "thinking "
        yield events.node_end("think", result={"ok": True})
        await ctx.add_cost({"input": 3, "output": 4}, {"usd": 0.5}, model="fake")
        yield events.Event("checkpoint", {"checkpoint_id": "x", "metadata": {}})
        yield Output({"goal": goal, "done": True})

    @app.agent_endpoint("/fail")
    async def fail(ctx: RunContext) -> str:
        await ctx.token("partial ")
        raise RuntimeError("it broke")

    return app


async def test_generator_agent_events_and_output(tmp_path: Path) -> None:
    app = event_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/plan/stream", json={"goal": "ship"})
        frames = parse_sse(r.text)
        run_id = r.headers["X-Run-Id"]
        check_frames(frames, run_id)
        kinds = [f["event"] for f in frames]
        assert kinds == ["run_started", "status", "node_start", "token", "node_end", "cost",
                         "checkpoint", "done"]
        assert frames[2]["data"]["node"] == "think"
        assert frames[4]["data"]["result"] == {"ok": True}
        assert frames[5]["data"]["tokens"] == {"input": 3, "output": 4}
        assert frames[5]["data"]["model"] == "fake"
        assert frames[-1]["data"]["output"] == {"goal": "ship", "done": True}
        run = await wait_for(lambda: settled(client, run_id), timeout=5)
        assert run["output"] == {"goal": "ship", "done": True}
        assert run["usage"]["tokens"] == {"input": 3, "output": 4}


async def settled(client: Any, run_id: str) -> dict[str, Any] | None:
    run = (await client.get(f"/runs/{run_id}")).json()
    return run if run["status"] in ("completed", "failed", "cancelled") else None


async def test_run_record_is_final_once_the_stream_says_done(store_url: str) -> None:
    """A client that read ``done`` and then asks for the run sees the finished run."""
    app = App(durable_store=store_url)

    @app.agent_endpoint("/quick")
    async def quick(n: int) -> dict[str, int]:
        return {"n": n}

    async with running_client(app) as client:
        for i in range(20):
            r = await client.post("/quick/stream", json={"n": i})
            frames = parse_sse(r.text)
            assert frames[-1]["event"] == "done"
            run = (await client.get(f"/runs/{r.headers['X-Run-Id']}")).json()
            assert (run["status"], run["output"]) == ("completed", {"n": i}), f"run {i}"
            assert run["last_seq"] == frames[-1]["data"]["seq"]


class LaggingStore(SQLiteStore):
    """A store whose run-status writes are slow (a busy database, a remote PostgreSQL)."""

    async def update_run(self, run_id: str, **kwargs: Any) -> Any:
        if kwargs.get("status") in ("input_required", "completed", "failed", "cancelled"):
            await asyncio.sleep(0.2)
        return await super().update_run(run_id, **kwargs)


async def has_status(client: Any, run_id: str, status: str) -> bool:
    return (await client.get(f"/runs/{run_id}")).json()["status"] == status


async def test_run_record_is_final_once_done_is_in_the_log(tmp_path: Path) -> None:
    """With a slow store, the window between the ``done`` event and the run record shows."""
    store = LaggingStore(f"sqlite:///{tmp_path / 'lag.db'}")
    app = App(durable_store=store)

    @app.agent_endpoint("/quick")
    async def quick(n: int) -> dict[str, int]:
        return {"n": n}

    try:
        async with running_client(app) as client:
            r = await client.post("/quick/stream", json={"n": 1})
            assert parse_sse(r.text)[-1]["event"] == "done"
            run = (await client.get(f"/runs/{r.headers['X-Run-Id']}")).json()
            assert (run["status"], run["output"]) == ("completed", {"n": 1})
    finally:
        await store.close()


async def test_answer_as_soon_as_the_input_request_is_seen(tmp_path: Path) -> None:
    """A client that sees ``input_required`` in the event log and answers at once succeeds."""
    store = LaggingStore(f"sqlite:///{tmp_path / 'lag.db'}")
    app = App(durable_store=store)

    @app.agent_endpoint("/approve")
    async def approve(ctx: RunContext) -> bool:
        return await ctx.approve("OK?")

    try:
        async with running_client(app) as client:
            r = await client.post("/approve", headers={"Prefer": "respond-async"})
            run_id = r.json()["run_id"]

            async def input_request_event() -> bool:
                page = (await client.get(f"/runs/{run_id}/events",
                                         headers={"Accept": "application/json"})).json()
                return any(e["type"] == "input_required" for e in page["events"])

            await wait_for(input_request_event, timeout=5, interval=0.005)
            r = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
            assert r.status_code == 200, r.text
            run = await wait_for(lambda: settled(client, run_id), timeout=5)
            assert (run["status"], run["output"]) == ("completed", True)
    finally:
        await store.close()


async def test_failed_run_stream(tmp_path: Path) -> None:
    app = event_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/fail/stream")
        assert r.status_code == 200
        frames = parse_sse(r.text)
        check_frames(frames, r.headers["X-Run-Id"])
        assert [f["event"] for f in frames][-3:] == ["token", "error", "done"]
        assert frames[-2]["data"]["code"] == "run_failed"
        assert frames[-2]["data"]["message"] == "RuntimeError: it broke"
        assert frames[-1]["data"]["status"] == "failed"
        assert frames[-1]["data"]["error"]["code"] == "run_failed"


async def finished_chat(client: Any) -> tuple[str, list[dict[str, Any]]]:
    r = await client.post("/chat/stream", json={"message": "what is 2 + 3?"})
    run_id = r.headers["X-Run-Id"]
    # (The run record may lag the stream's ``done``: see
    # test_run_record_is_final_once_the_stream_says_done.)
    await wait_for(lambda: settled(client, run_id), timeout=5)
    return run_id, parse_sse(r.text)


async def test_run_events_replay_from_the_start(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        r = await client.get(f"/runs/{run_id}/events")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = parse_sse(r.text)
        check_frames(frames, run_id)
        assert frames == original


@pytest.mark.parametrize("how", ["query", "header"])
async def test_run_events_after(quickstart: Any, how: str) -> None:
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        if how == "query":
            r = await client.get(f"/runs/{run_id}/events", params={"after": 4})
        else:
            r = await client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "4"})
        assert r.status_code == 200
        frames = parse_sse(r.text)
        check_frames(frames, run_id, first_seq=5)
        assert frames == original[4:]


async def test_last_event_id_wins_over_after(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        r = await client.get(f"/runs/{run_id}/events", params={"after": 1},
                             headers={"Last-Event-ID": "6"})
        frames = parse_sse(r.text)
        assert frames == original[6:]


async def test_reconnect_after_the_last_event_ends_the_stream(quickstart: Any) -> None:
    """An EventSource that saw ``done`` and reconnects with its id gets an empty, ended stream."""
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        last = original[-1]["id"]
        r = await asyncio.wait_for(
            client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": last}), timeout=1.5)
        assert r.status_code == 200
        assert parse_sse(r.text) == []


async def test_run_events_json_page(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        json_headers = {"Accept": "application/json"}
        r = await client.get(f"/runs/{run_id}/events", headers=json_headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        page = r.json()
        assert page["run_id"] == run_id
        assert page["status"] == "completed"
        assert page["events"] == [f["data"] for f in original]
        assert page["next_after"] == len(original)

        # Paging with after/limit and next_after.
        collected: list[dict[str, Any]] = []
        after = 0
        while True:
            r = await client.get(f"/runs/{run_id}/events", headers=json_headers,
                                 params={"after": after, "limit": 3})
            page = r.json()
            if not page["events"]:
                assert page["next_after"] == after
                break
            assert len(page["events"]) <= 3
            collected.extend(page["events"])
            after = page["next_after"]
        assert collected == [f["data"] for f in original]

        r = await client.get(f"/runs/{run_id}/events", headers={**json_headers,
                                                                "Last-Event-ID": "9"})
        assert [e["seq"] for e in r.json()["events"]] == [10, 11]


async def test_accepting_both_prefers_sse(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id, original = await finished_chat(client)
        r = await client.get(f"/runs/{run_id}/events",
                             headers={"Accept": "text/event-stream, application/json"})
        assert r.headers["content-type"].startswith("text/event-stream")
        assert parse_sse(r.text) == original


@pytest.mark.parametrize("params,headers", [
    ({"after": "-1"}, {}), ({"after": "abc"}, {}), ({}, {"Last-Event-ID": "abc"}),
    ({"after": "1.5"}, {}),
])
async def test_run_events_bad_offset_is_400(quickstart: Any, params: dict[str, str],
                                            headers: dict[str, str]) -> None:
    async with running_client(quickstart) as client:
        run_id, _ = await finished_chat(client)
        r = await client.get(f"/runs/{run_id}/events", params=params, headers=headers)
        assert r.status_code == 400
        assert r.json()["code"] == "bad_request"


async def test_run_events_bad_json_limit_is_400(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id, _ = await finished_chat(client)
        for limit in ("0", "10001", "x"):
            r = await client.get(f"/runs/{run_id}/events", params={"limit": limit},
                                 headers={"Accept": "application/json"})
            assert r.status_code == 400, limit


# live (uvicorn in a thread)


def gated_app(tmp_path: Path) -> App:
    """An agent that streams, then waits until the ``release`` tool opens its gate."""
    app = App(durable_store=f"sqlite:///{tmp_path / 'live.db'}")
    gates: dict[str, asyncio.Event] = {}

    @app.agent_endpoint("/gated")
    async def gated(ctx: RunContext, n: int = 3):
        gate = gates.setdefault(ctx.run_id, asyncio.Event())
        yield "before "
        await gate.wait()
        for i in range(n):
            yield f"after{i} "

    @app.tool
    async def release(run_id: str) -> bool:
        gates.setdefault(run_id, asyncio.Event()).set()
        return True

    return app


async def test_live_stream_follows_the_run(tmp_path: Path, live_server: Any) -> None:
    app = gated_app(tmp_path)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            async with client.stream("POST", "/gated/stream", json={"n": 2}) as response:
                assert response.status_code == 200
                run_id = response.headers["X-Run-Id"]
                frames = iter_frames(response)
                first = await read_until(frames, is_type("token"))
                assert [f["event"] for f in first] == ["run_started", "status", "token"]
                # The run is waiting on its gate: the stream is open, the run not finished.
                assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"
                r = await client.post("/tools/release", json={"run_id": run_id})
                assert r.json() == {"result": True}
                rest = await read_until(frames, is_type("done"))
            all_frames = first + rest
            check_frames(all_frames, run_id)
            assert all_frames[-1]["data"]["status"] == "completed"
            assert all_frames[-1]["data"]["output"] == "before after0 after1 "


async def test_live_follow_with_get_events(tmp_path: Path, live_server: Any) -> None:
    app = gated_app(tmp_path)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            r = await client.post("/gated", json={}, headers={"Prefer": "respond-async"})
            assert r.status_code == 202
            run_id = r.json()["run_id"]
            async with client.stream("GET", f"/runs/{run_id}/events") as one, \
                    client.stream("GET", f"/runs/{run_id}/events",
                                  headers={"Last-Event-ID": "2"}) as two:
                assert one.headers["content-type"].startswith("text/event-stream")
                frames_one, frames_two = iter_frames(one), iter_frames(two)
                head_one = await read_until(frames_one, is_type("token"))
                head_two = await read_until(frames_two, is_type("token"))
                assert [f["data"]["seq"] for f in head_one] == [1, 2, 3]
                assert [f["data"]["seq"] for f in head_two] == [3]
                await client.post("/tools/release", json={"run_id": run_id})
                tail_one = await read_until(frames_one, is_type("done"))
                tail_two = await read_until(frames_two, is_type("done"))
            check_frames(head_one + tail_one, run_id)
            assert head_two + tail_two == (head_one + tail_one)[2:]
            assert tail_one[-1]["data"]["output"] == "before after0 after1 after2 "


async def test_disconnect_does_not_cancel_the_run(tmp_path: Path, live_server: Any) -> None:
    app = gated_app(tmp_path)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            async with client.stream("POST", "/gated/stream", json={}) as response:
                run_id = response.headers["X-Run-Id"]
                seen = await read_until(iter_frames(response), is_type("token"))
            last_id = seen[-1]["id"]
            assert last_id == "3"
            # The server has noticed the disconnect (the stream stopped following the run).
            await wait_for(lambda: app.engine.hub.followers(run_id) == 0, timeout=5)
            assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"

            await client.post("/tools/release", json={"run_id": run_id})

            async def finished() -> dict[str, Any] | None:
                run = (await client.get(f"/runs/{run_id}")).json()
                return run if run["status"] not in ("queued", "running") else None

            run = await wait_for(finished, timeout=5)
            assert run["status"] == "completed"
            assert run["output"] == "before after0 after1 after2 "

            # Re-attach where we left off.
            async with client.stream("GET", f"/runs/{run_id}/events",
                                     headers={"Last-Event-ID": last_id}) as response:
                rest = await read_until(iter_frames(response), is_type("done"))
            check_frames(rest, run_id, first_seq=int(last_id) + 1)
            assert [f["data"].get("content") for f in rest if f["event"] == "token"] == \
                ["after0 ", "after1 ", "after2 "]
            assert rest[-1]["data"]["status"] == "completed"


async def test_disconnect_from_slow_stream_run_still_completes(tmp_path: Path,
                                                               live_server: Any) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'slow.db'}")

    @app.agent_endpoint("/slow")
    async def slow(ctx: RunContext):
        for i in range(20):
            yield f"t{i} "
            await asyncio.sleep(0.02)

    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            async with client.stream("POST", "/slow/stream", json={}) as response:
                run_id = response.headers["X-Run-Id"]
                frames = iter_frames(response)
                seen = await read_until(frames, lambda f: f["data"]["seq"] >= 5)
            last_id = int(seen[-1]["id"])

            async def finished() -> dict[str, Any] | None:
                run = (await client.get(f"/runs/{run_id}")).json()
                return run if run["status"] not in ("queued", "running") else None

            run = await wait_for(finished, timeout=5)
            assert run["status"] == "completed"
            assert run["output"] == "".join(f"t{i} " for i in range(20))
            r = await client.get(f"/runs/{run_id}/events", params={"after": last_id})
            rest = parse_sse(r.text)
            check_frames(rest, run_id, first_seq=last_id + 1)
            assert rest[-1]["event"] == "done"
            tokens = [f["data"]["content"] for f in seen + rest if f["event"] == "token"]
            assert tokens == [f"t{i} " for i in range(20)]


async def test_live_stream_through_input_request(tmp_path: Path, live_server: Any) -> None:
    """A stream stays open across a pause; answering as soon as the request arrives works."""
    app = load_quickstart(f"sqlite:///{tmp_path / 'qs.db'}")
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            async with client.stream("POST", "/refund/stream",
                                     json={"order_id": "Z9", "amount": 3}) as response:
                run_id = response.headers["X-Run-Id"]
                frames = iter_frames(response)
                head = await read_until(frames, is_type("input_required"))
                request = head[-1]["data"]
                assert request["prompt"] == "Approve a refund of 3.00 for order Z9?"
                # (Answering the very instant the frame arrives can race the run record: see
                # test_answer_as_soon_as_the_input_request_is_seen.)
                await wait_for(lambda: has_status(client, run_id, "input_required"), timeout=5)
                r = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
                assert r.status_code == 200, r.text
                tail = await read_until(frames, is_type("done"))
            check_frames(head + tail, run_id)
            assert tail[-1]["data"]["status"] == "completed"
            assert tail[-1]["data"]["output"]["refunded"] is True
