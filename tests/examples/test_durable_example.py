"""examples/durable/app.py: the steps, the side-effect file and the event log it promises.

In process on SQLite for the plain behaviour; then a real ``fastagentic run`` process killed with
SIGKILL mid-run, and a second one on the same SQLite file that resumes the run from its last
checkpoint (the multi-worker PostgreSQL/Redis crash tests use the same example).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import load_app_file, poll, running_client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "durable" / "app.py"


def effects(path: Path) -> list[tuple[str, int]]:
    """The side-effect file as ``(run_id, step)`` pairs, in write order."""
    if not path.exists():
        return []
    pairs = []
    for line in path.read_text().splitlines():
        run_id, step = line.split(" ")
        pairs.append((run_id, int(step)))
    return pairs


def check_steps_log(events: list[dict[str, Any]], run_id: str, steps: int) -> None:
    """One tool_call, tool_result and checkpoint per step, in step order; gapless; done last."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["run_id"] == run_id for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types.count("run_started") == 1
    assert types[-1] == "done" and types.count("done") == 1
    assert events[-1]["status"] == "completed"
    assert events[-1]["output"] == {"steps_done": steps}
    calls = [e for e in events if e["type"] == "tool_call"]
    results = [e for e in events if e["type"] == "tool_result"]
    checkpoints = [e for e in events if e["type"] == "checkpoint"]
    assert [(e["tool"], e["args"]) for e in calls] == [("charge", {"step": i})
                                                       for i in range(steps)]
    assert [(e["tool"], e["output"]) for e in results] == [("charge", i) for i in range(steps)]
    assert [e["call_id"] for e in results] == [e["call_id"] for e in calls]
    assert len({e["call_id"] for e in calls}) == steps
    assert len(checkpoints) == steps
    assert len({e["checkpoint_id"] for e in checkpoints}) == steps
    # each step: its call, its result, then its checkpoint
    body = [t for t in types if t in ("tool_call", "tool_result", "checkpoint")]
    assert body == ["tool_call", "tool_result", "checkpoint"] * steps
    assert not [e for e in events if e["type"] == "status" and "superseded_from_seq" in e]


async def test_steps_charge_once_each_and_checkpoint_after_every_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "effects.log"
    monkeypatch.setenv("DURABLE_EXAMPLE_SIDE_EFFECTS", str(log))
    app = load_app_file(EXAMPLE, f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_client(app) as client:
        sizes = [4, 7, 1]
        responses = await asyncio.gather(*(
            client.post("/steps", json={"steps": n, "delay_ms": 5}) for n in sizes))
        runs = []
        for n, response in zip(sizes, responses, strict=True):
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["status"] == "completed"
            assert body["output"] == {"steps_done": n}
            runs.append(body["run_id"])
            page = (await client.get(f"/runs/{body['run_id']}/events",
                                     headers={"Accept": "application/json"})).json()
            check_steps_log(page["events"], body["run_id"], n)

        # one line per real execution, each run's steps in order, concurrent lines intact
        written = effects(log)
        assert len(written) == sum(sizes)
        for run_id, n in zip(runs, sizes, strict=True):
            assert [step for rid, step in written if rid == run_id] == list(range(n))

        zero = (await client.post("/steps", json={"steps": 0})).json()
        assert zero["status"] == "completed" and zero["output"] == {"steps_done": 0}
        assert len(effects(log)) == sum(sizes)

        refused = await client.post("/steps", json={"steps": -1, "delay_ms": 0})
        assert refused.status_code == 422

        # the tool on its own is a real execution too, outside any run
        direct = await client.post("/tools/charge", json={"step": 9})
        assert direct.json() == {"result": 9}
        assert effects(log)[-1] == ("-", 9)


def events_of(url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/runs/{run_id}/events", params={"limit": 10_000},
                         headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_sigkill_mid_run_resumes_from_the_last_checkpoint_without_recharging(
        server_process: Any, tmp_path: Path) -> None:
    steps = 20
    log = tmp_path / "effects.log"
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    env = {"FASTAGENTIC_LEASE_TTL": "1", "DURABLE_EXAMPLE_SIDE_EFFECTS": str(log)}
    first = server_process(EXAMPLE, store, env=env).start()
    started = httpx.post(f"{first.url}/steps", json={"steps": steps, "delay_ms": 100},
                         headers={"Prefer": "respond-async"}, timeout=10)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    seen = poll(lambda: (evs := events_of(first.url, run_id))
                and sum(e["type"] == "checkpoint" for e in evs) >= 5 and evs,
                timeout=20, what="five checkpoints")
    first.kill()
    assert first.proc is not None and first.proc.returncode == -9
    assert seen[-1]["type"] != "done"
    charged_before = {e["output"] for e in seen if e["type"] == "tool_result"}
    last_checkpoint = [e for e in seen if e["type"] == "checkpoint"][-1]

    second = server_process(EXAMPLE, store, env=env, port=first.port).start()
    try:
        run = poll(lambda: (r := httpx.get(f"{second.url}/runs/{run_id}", timeout=10).json())
                   ["status"] in ("completed", "failed") and r,
                   timeout=30, what="the run finishing")
        assert run["status"] == "completed", run
        assert run["attempt"] == 2
        assert run["output"] == {"steps_done": steps}

        events = events_of(second.url, run_id)
        check_steps_log(events, run_id, steps)
        assert events[: len(seen)] == seen
        resumed = [e for e in events if e["type"] == "status" and e.get("resumed")]
        assert len(resumed) == 1 and resumed[0]["attempt"] == 2
        assert resumed[0]["checkpoint_seq"] >= last_checkpoint["seq"]
    finally:
        second.stop()

    counts = Counter(step for rid, step in effects(log) if rid == run_id)
    assert set(counts) == set(range(steps)), "a step was never charged"
    # a recorded result is answered from the ledger; only the call in flight at the kill (its
    # side effect written, its result not yet recorded) may have run a second time
    assert all(counts[step] == 1 for step in charged_before)
    twice = {step: n for step, n in counts.items() if n > 1}
    assert len(twice) <= 1 and all(n == 2 for n in twice.values()), counts
    assert not set(twice) & charged_before
