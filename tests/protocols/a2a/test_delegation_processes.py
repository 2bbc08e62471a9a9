"""Delegation between two fastagentic apps in two processes: the boss app's agent delegates to
the worker app's A2A skills with ``ctx.delegate``; the worker's events show up in the boss's run
log as nested events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT

APPS = ROOT / "tests" / "apps"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(params=["JSONRPC", "HTTP+JSON"])
def pair(request: pytest.FixtureRequest, server_process: Any, tmp_path: Path
         ) -> tuple[str, str]:
    worker = server_process(APPS / "a2a_worker.py", f"sqlite:///{tmp_path / 'worker.db'}")
    worker.start()
    boss = server_process(APPS / "a2a_boss.py", f"sqlite:///{tmp_path / 'boss.db'}",
                          env={"A2A_WORKER_URL": worker.url, "A2A_BINDING": request.param})
    boss.start()
    return boss.url, worker.url


async def events_of(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    r = await client.get(url, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def test_the_worker_runs_the_task_and_the_boss_log_nests_its_events(pair):
    boss, worker = pair
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(boss + "/boss", json={"agent": "translate", "text": "hello"})
        assert r.status_code == 200, r.text
        run = r.json()
        assert run["status"] == "completed", run
        result = run["output"]["result"]
        assert (result["state"], result["output"]) == ("completed", "bonjour")
        assert result["agent"] == "translate" and result["error"] is None
        assert run["output"]["streamed"] == "Delegating. "  # nested tokens are not the boss's

        # The task is a run of the worker, started by the boss's run.
        task = (await client.get(f"{worker}/runs/{result['task_id']}")).json()
        assert task["endpoint"] == "translate" and task["status"] == "completed"
        assert task["labels"]["caller"] == {"user": "anonymous", "tenant": None,
                                            "run_id": run["run_id"]}

        events = await events_of(client, f"{boss}/runs/{run['run_id']}/events")
        nested = [e for e in events if "delegate" in e]
        assert nested[0]["type"] == "node_start" and nested[0]["node"] == "delegate:translate"
        assert nested[-1]["type"] == "node_end" and nested[-1]["state"] == "completed"
        assert all(e["delegate"]["task_id"] == result["task_id"] for e in nested)
        inner = [(e["type"], e.get("tool"), e.get("content")) for e in nested[1:-1]
                 if e["type"] != "node_start"]
        # The worker's text, its tool call (re-created from the A2A status metadata), its output.
        assert inner == [("token", None, "Translating. "),
                         ("tool_call", "glossary", None),
                         ("tool_result", "glossary", None),
                         ("token", None, "bonjour")]
        states = [e["state"] for e in nested[1:-1] if e["type"] == "node_start"]
        assert states[0] == "working" and states[-1] == "completed"


async def test_a_question_from_the_worker_is_answered_in_a_second_delegation(pair):
    boss, worker = pair
    async with httpx.AsyncClient(timeout=30) as client:
        first = (await client.post(boss + "/boss", json={"agent": "greet", "text": "Hi"})).json()
        asked = first["output"]["result"]
        assert asked["state"] == "input_required"
        assert asked["message"]["parts"][0] == {"text": "What is your name?"}
        assert (await client.get(f"{worker}/runs/{asked['task_id']}")).json()["status"] \
            == "input_required"

        second = (await client.post(boss + "/boss", json={
            "agent": "greet", "text": "Ada", "task_id": asked["task_id"]})).json()
        answered = second["output"]["result"]
        assert answered["task_id"] == asked["task_id"]
        assert answered["context_id"] == asked["context_id"]
        assert (answered["state"], answered["output"]) == ("completed", "Hi, Ada")


async def test_the_trace_and_the_caller_reach_the_worker(pair):
    boss, _ = pair
    message = {"messageId": "m-1", "role": "ROLE_USER", "parts": [
        {"data": {"agent": "inspect", "text": "who"}}]}
    headers = {"A2A-Version": "1.0", "traceparent": TRACEPARENT}
    async with httpx.AsyncClient(timeout=30) as client:
        # The boss itself is called over A2A with a trace context.
        r = await client.post(boss + "/a2a/boss", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}})
        body = r.json()
        assert "result" in body, body
        task = body["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
        boss_run = (await client.get(f"{boss}/runs/{task['id']}")).json()
        seen = boss_run["output"]["result"]["output"]
        assert seen["trace"]["traceparent"] == TRACEPARENT
        assert seen["caller"]["run_id"] == task["id"]
        assert seen["metadata"]["from"] == "boss"
        assert seen["metadata"]["fastagentic.caller"]["run_id"] == task["id"]
