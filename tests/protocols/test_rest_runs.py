"""Agent endpoints and the runs API: start, settle, pause/resume, cancel, get, list."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest import load_quickstart, parse_sse, running_client, wait_for
from fastagentic import App, RunContext

TERMINAL = {"completed", "failed", "cancelled"}


async def run_status(client: Any, run_id: str) -> str:
    r = await client.get(f"/runs/{run_id}")
    assert r.status_code == 200
    return r.json()["status"]


async def wait_status(client: Any, run_id: str, statuses: set[str], timeout: float = 5) -> dict:
    async def check() -> dict | None:
        r = await client.get(f"/runs/{run_id}")
        return r.json() if r.json()["status"] in statuses else None

    return await wait_for(check, timeout=timeout)


def make_app(tmp_path: Path) -> tuple[App, dict[str, Any]]:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    state: dict[str, Any] = {"steps": 0, "cancelled": False, "exited": False}

    @app.agent_endpoint("/echo")
    async def echo(text: str) -> str:
        return text.upper()

    @app.agent_endpoint("/loop")
    async def loop(ctx: RunContext) -> str:
        try:
            for i in range(500):
                state["steps"] += 1
                await ctx.token(f"step {i} ")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        finally:
            state["exited"] = True
        return "finished"

    @app.agent_endpoint("/costly")
    async def costly(ctx: RunContext) -> str:
        await ctx.add_cost({"input": 10, "output": 5}, {"usd": 0.01}, model="m")
        await ctx.add_cost({"input": 1, "output": 2}, {"usd": 0.02}, model="m")
        return "ok"

    @app.agent_endpoint("/boom")
    async def boom(text: str = "") -> str:
        raise ValueError("boom")

    return app, state


# starting runs


async def test_chat_returns_when_the_run_ends(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat", json={"message": "what is 2 + 3?"})
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"run_id", "status", "output"}
        assert body["status"] == "completed"
        assert body["output"] == "Let me think. 2 + 3 = 5. "
        assert body["run_id"].startswith("run_")
        assert r.headers["Location"] == f"/runs/{body['run_id']}"
        assert r.headers["X-Run-Id"] == body["run_id"]
        assert "Idempotent-Replayed" not in r.headers


async def test_respond_async_is_202(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat", json={"message": "hi"},
                              headers={"Prefer": "respond-async"})
        assert r.status_code == 202
        body = r.json()
        assert body["status"] in {"queued", "running"}
        assert body["output"] is None
        assert r.headers["Location"] == f"/runs/{body['run_id']}"
        run = await wait_status(client, body["run_id"], TERMINAL)
        assert run["status"] == "completed"
        assert run["output"] == "Let me think. You said: hi "


async def test_invalid_agent_input(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/refund", json={"order_id": "A1", "amount": -5})
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail[0]["loc"] == ["body", "amount"]
        assert detail[0]["type"] == "greater_than"
        r = await client.post("/chat", json={})
        assert r.status_code == 422
        # Nothing was started.
        assert (await client.get("/runs")).json()["runs"] == []


async def test_failed_run(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/boom", json={})
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "failed"
        assert body["output"] is None
        assert body["error"] == {"code": "run_failed", "message": "ValueError: boom"}
        run = (await client.get(f"/runs/{body['run_id']}")).json()
        assert run["status"] == "failed"
        assert run["error"]["code"] == "run_failed"


# input required, resume


async def start_refund(client: Any, approved_amount: float = 42.5) -> dict[str, Any]:
    r = await client.post("/refund", json={"order_id": "A-7", "amount": approved_amount})
    assert r.status_code == 200
    return r.json()


async def test_refund_pauses_for_input(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        body = await start_refund(client)
        assert body["status"] == "input_required"
        assert body["output"] is None
        request = body["input_request"]
        assert request["key"]
        assert request["prompt"] == "Approve a refund of 42.50 for order A-7?"
        assert request["schema"]["type"] == "object"
        assert "approved" in request["schema"]["properties"]
        assert request["schema"]["required"] == ["approved"]
        run = (await client.get(f"/runs/{body['run_id']}")).json()
        assert run["status"] == "input_required"
        assert run["input_request"] == request


async def test_resume_with_a_wrong_body_is_422(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id = (await start_refund(client))["run_id"]
        for answer in ({"approve": True}, {"approved": "maybe"}, [True], 1):
            r = await client.post(f"/runs/{run_id}/resume", json=answer)
            assert r.status_code == 422, answer
            detail = r.json()["detail"]
            assert isinstance(detail, list) and detail
            assert all({"loc", "msg", "type"} <= set(d) for d in detail)
        assert await run_status(client, run_id) == "input_required"


async def test_resume_without_a_body_while_waiting_is_422(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id = (await start_refund(client))["run_id"]
        r = await client.post(f"/runs/{run_id}/resume")
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_input"
        assert await run_status(client, run_id) == "input_required"


async def test_resume_with_malformed_json_is_400(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id = (await start_refund(client))["run_id"]
        r = await client.post(f"/runs/{run_id}/resume", content=b"{approved: true")
        assert r.status_code == 400
        assert await run_status(client, run_id) == "input_required"


@pytest.mark.parametrize("approved", [True, False])
async def test_resume_completes_the_run(quickstart: Any, approved: bool) -> None:
    async with running_client(quickstart) as client:
        run_id = (await start_refund(client))["run_id"]
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": approved})
        assert r.status_code == 200
        assert r.json()["run_id"] == run_id
        run = await wait_status(client, run_id, TERMINAL)
        assert run["status"] == "completed"
        assert run["output"]["order_id"] == "A-7"
        assert run["output"]["refunded"] is approved
        assert run["input_request"] is None
        # The run resumed and did not record its first steps twice.
        page = (await client.get(f"/runs/{run_id}/events",
                                 headers={"Accept": "application/json"})).json()
        tokens = [e["content"] for e in page["events"] if e["type"] == "token"]
        ending = "was approved and issued." if approved else "was declined."
        assert tokens == ["Refund of 42.50 for order A-7 ", ending]
        assert [e["seq"] for e in page["events"]] == list(range(1, len(page["events"]) + 1))


async def test_resume_right_after_the_pause_completes_the_run(store_url: str) -> None:
    """A client that answers as soon as it sees ``input_required`` must not be stalled."""
    app = load_quickstart(store_url)
    async with running_client(app) as client:
        run_id = (await start_refund(client))["run_id"]
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
        assert r.status_code == 200
        run = await wait_status(client, run_id, TERMINAL, timeout=5)
        assert run["status"] == "completed"
        assert run["output"]["refunded"] is True


async def test_resume_of_a_completed_run_is_409(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id = (await client.post("/chat", json={"message": "x"})).json()["run_id"]
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
        assert r.status_code == 409
        assert r.json()["code"] == "conflict"
        r = await client.post(f"/runs/{run_id}/resume")
        assert r.status_code == 409


async def test_cancel_of_a_completed_run_is_409(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        run_id = (await client.post("/chat", json={"message": "x"})).json()["run_id"]
        r = await client.post(f"/runs/{run_id}/cancel")
        assert r.status_code == 409
        assert r.json()["code"] == "conflict"
        assert await run_status(client, run_id) == "completed"


async def test_cancel_a_run_waiting_for_input(store_url: str) -> None:
    app = load_quickstart(store_url)
    async with running_client(app) as client:
        run_id = (await start_refund(client))["run_id"]
        r = await client.post(f"/runs/{run_id}/cancel")
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled"
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
        assert r.status_code == 409
        assert await run_status(client, run_id) == "cancelled"


@pytest.mark.parametrize("method,path", [
    ("GET", "/runs/run_doesnotexist"),
    ("GET", "/runs/run_doesnotexist/events"),
    ("POST", "/runs/run_doesnotexist/cancel"),
    ("POST", "/runs/run_doesnotexist/resume"),
])
async def test_unknown_run_is_404(quickstart: Any, method: str, path: str) -> None:
    async with running_client(quickstart) as client:
        r = await client.request(method, path)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        if path.endswith("/events"):
            r = await client.get(path, headers={"Accept": "application/json"})
            assert r.status_code == 404
            r = await client.get(path, headers={"Accept": "text/event-stream"})
            assert r.status_code == 404
        if path.endswith("/resume"):
            r = await client.post(path, json={"approved": True})
            assert r.status_code == 404


# cancel


async def test_cancel_a_running_run(tmp_path: Path) -> None:
    app, state = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/loop", headers={"Prefer": "respond-async"})
        assert r.status_code == 202
        run_id = r.json()["run_id"]
        await wait_for(lambda: state["steps"] >= 3, timeout=5)
        r = await client.post(f"/runs/{run_id}/cancel")
        assert r.status_code == 200
        body = r.json()
        assert body["run_id"] == run_id
        assert body["status"] == "cancelled"
        assert body["finished_at"] is not None
        # The user code was really stopped: it saw the cancellation and has exited.
        assert state["cancelled"] is True
        assert state["exited"] is True
        steps = state["steps"]
        assert steps < 500
        await asyncio.sleep(0.05)
        assert state["steps"] == steps
        assert await run_status(client, run_id) == "cancelled"

        r = await client.get(f"/runs/{run_id}/events")
        frames = parse_sse(r.text)
        assert frames[-1]["event"] == "done"
        assert frames[-1]["data"]["status"] == "cancelled"
        tokens = [f for f in frames if f["event"] == "token"]
        assert 1 <= len(tokens) <= steps
        assert [int(f["id"]) for f in frames] == list(range(1, len(frames) + 1))
        # A cancelled run cannot be cancelled again.
        assert (await client.post(f"/runs/{run_id}/cancel")).status_code == 409


# reading runs


async def test_get_run_fields(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        started = (await client.post("/chat", json={"message": "what is 2 + 3?"})).json()
        r = await client.get(f"/runs/{started['run_id']}")
        assert r.status_code == 200
        run = r.json()
        assert run["run_id"] == started["run_id"]
        assert run["endpoint"] == "chat"
        assert run["status"] == "completed"
        assert run["input"] == {"message": "what is 2 + 3?"}
        assert run["output"] == "Let me think. 2 + 3 = 5. "
        assert run["error"] is None
        assert run["input_request"] is None
        assert run["attempt"] == 1
        assert run["usage"] == {}
        assert run["user"] == "anonymous"
        assert run["created_at"] <= run["started_at"] <= run["finished_at"]
        assert run["updated_at"] >= run["created_at"]
        events = (await client.get(f"/runs/{run['run_id']}/events",
                                   headers={"Accept": "application/json"})).json()["events"]
        assert run["last_seq"] == len(events) == events[-1]["seq"]


async def test_usage_is_aggregated(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        run_id = (await client.post("/costly")).json()["run_id"]
        run = (await client.get(f"/runs/{run_id}")).json()
        assert run["usage"]["tokens"] == {"input": 11, "output": 7}
        assert run["usage"]["amount"] == {"usd": pytest.approx(0.03)}


async def test_list_runs_paginated_newest_first(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        created = []
        for i in range(5):
            r = await client.post("/echo", json={"text": f"t{i}"})
            assert r.status_code == 200
            created.append(r.json()["run_id"])
        seen: list[dict[str, Any]] = []
        pages = []
        params: dict[str, Any] = {"limit": 2}
        for _ in range(10):
            r = await client.get("/runs", params=params)
            assert r.status_code == 200
            body = r.json()
            pages.append(len(body["runs"]))
            seen.extend(body["runs"])
            if body["next_cursor"] is None:
                break
            params = {"limit": 2, "cursor": body["next_cursor"]}
        assert pages == [2, 2, 1]
        ids = [run["run_id"] for run in seen]
        assert ids == list(reversed(created))
        assert len(set(ids)) == 5
        times = [run["created_at"] for run in seen]
        assert times == sorted(times, reverse=True)
        # Without a limit every run is on one page.
        body = (await client.get("/runs")).json()
        assert [run["run_id"] for run in body["runs"]] == ids
        assert body["next_cursor"] is None


async def test_list_runs_exact_page_boundary(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        for i in range(4):
            await client.post("/echo", json={"text": str(i)})
        first = (await client.get("/runs", params={"limit": 2})).json()
        second = (await client.get("/runs", params={"limit": 2,
                                                    "cursor": first["next_cursor"]})).json()
        assert len(second["runs"]) == 2
        assert second["next_cursor"] is None


async def test_list_runs_status_filter(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        waiting = (await start_refund(client))["run_id"]
        done = (await client.post("/chat", json={"message": "x"})).json()["run_id"]
        r = await client.get("/runs", params={"status": "input_required"})
        assert r.status_code == 200
        assert [run["run_id"] for run in r.json()["runs"]] == [waiting]
        r = await client.get("/runs", params={"status": "completed"})
        assert [run["run_id"] for run in r.json()["runs"]] == [done]
        r = await client.get("/runs", params={"status": "failed"})
        assert r.json() == {"runs": [], "next_cursor": None}
        r = await client.get("/runs", params={"endpoint": "refund"})
        assert [run["run_id"] for run in r.json()["runs"]] == [waiting]


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "-1"}, {"limit": "501"}, {"limit": "ten"}, {"limit": "1.5"},
    {"status": "bogus"}, {"status": "COMPLETED"}, {"cursor": "not-a-cursor"},
])
async def test_list_runs_bad_parameters_are_400(quickstart: Any, params: dict[str, str]) -> None:
    async with running_client(quickstart) as client:
        r = await client.get("/runs", params=params)
        assert r.status_code == 400
        assert r.json()["code"] == "bad_request"
