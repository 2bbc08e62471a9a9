"""Real processes on PostgreSQL and on Redis: API processes that only accept and stream, worker
processes that execute (examples/durable/app.py), a worker killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import collections
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, isolated_store_url, poll

from fastagentic.stores.factory import store_from_url

DURABLE = ROOT / "examples" / "durable" / "app.py"


@pytest.fixture(params=["postgres", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with isolated_store_url(request.param, tmp_path) as url:
        yield url


def start_runs(url: str, count: int, steps: int, delay_ms: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=10) as client:
        ids = []
        for _ in range(count):
            response = client.post("/steps", json={"steps": steps, "delay_ms": delay_ms},
                                   headers={"Prefer": "respond-async"})
            assert response.status_code == 202, response.text
            ids.append(response.json()["run_id"])
        return ids


def events_of(url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/runs/{run_id}/events", params={"limit": 10_000},
                         headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["events"] if isinstance(body, dict) else body


def side_effects(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


async def leases(url: str, run_ids: list[str]) -> dict[str, str | None]:
    store = store_from_url(url)
    await store.open()
    try:
        return {rid: (await store.get_run(rid)).lease_owner  # type: ignore[union-attr]
                for rid in run_ids}
    finally:
        await store.close()


def test_sigkill_a_worker_mid_run_every_run_completes_exactly_once(
        shared_url: str, server_process: Any, worker_process: Any, tmp_path: Path) -> None:
    effects = tmp_path / "effects.log"
    env = {"FASTAGENTIC_LEASE_TTL": "2", "DURABLE_EXAMPLE_SIDE_EFFECTS": str(effects)}
    api = server_process(DURABLE, shared_url, env=env, args=["--no-worker"]).start()
    victim = worker_process(DURABLE, shared_url, env=env, args=["--concurrency", "20"]).start()
    survivor = worker_process(DURABLE, shared_url, env=env,
                              args=["--concurrency", "20"]).start()
    steps = 8
    run_ids = start_runs(api.url, 20, steps=steps, delay_ms=150)

    # Mid-run: every run has charged at least two steps and none has finished.
    poll(lambda: len({r for r, s in side_effects(effects) if s >= 1}) == 20, 30,
         what="every run to be two steps in")
    owners = asyncio.run(leases(shared_url, run_ids))
    assert victim.proc is not None
    on_victim = {rid for rid, owner in owners.items()
                 if owner is not None and f":{victim.proc.pid}:" in owner}
    assert on_victim, f"the victim executes none of the runs: {set(owners.values())}"
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)

    def all_done() -> list[dict[str, Any]] | None:
        runs = [httpx.get(f"{api.url}/runs/{rid}", timeout=10).json() for rid in run_ids]
        return runs if all(r["status"] == "completed" for r in runs) else None

    runs = poll(all_done, 60, interval=0.2, what="every run to complete")
    assert survivor.proc is not None and survivor.proc.poll() is None
    assert all(r["output"] == {"steps_done": steps} for r in runs)
    for run in runs:
        expected_attempts = {2, 3} if run["run_id"] in on_victim else {1}
        assert run["attempt"] in expected_attempts, (run["run_id"], run["attempt"])

    for rid in run_ids:
        events = events_of(api.url, rid)
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{rid}: a gap or a duplicate"
        assert [e["type"] for e in events].count("done") == 1
        results = [e for e in events if e["type"] == "tool_result"]
        assert sorted({e["output"] for e in results}) == list(range(steps))

    charged = collections.Counter(side_effects(effects))
    assert {(rid, s) for rid in run_ids for s in range(steps)} == set(charged)
    twice = {key: n for key, n in charged.items() if n > 1}
    # A step charged twice can only be one in flight on the killed worker (its side effect
    # written, its result not yet in the ledger): at most one per run it was executing.
    assert all(n == 2 and key[0] in on_victim for key, n in twice.items()), twice
    per_run = collections.Counter(rid for rid, _ in twice)
    assert all(n == 1 for n in per_run.values()), per_run


def test_a_stream_moves_to_another_api_process_with_last_event_id(
        shared_url: str, server_process: Any, worker_process: Any, tmp_path: Path) -> None:
    env = {"DURABLE_EXAMPLE_SIDE_EFFECTS": str(tmp_path / "effects.log")}
    first = server_process(DURABLE, shared_url, env=env, args=["--no-worker"]).start()
    second = server_process(DURABLE, shared_url, env=env, args=["--no-worker"]).start()
    worker_process(DURABLE, shared_url, env=env).start()
    [run_id] = start_runs(first.url, 1, steps=30, delay_ms=30)

    def read(url: str, last_event_id: int | None, stop_after: int | None) -> list[dict]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        got: list[dict[str, Any]] = []
        with httpx.stream("GET", f"{url}/runs/{run_id}/events", headers=headers,
                          timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    if got[-1]["type"] == "done" or (stop_after and len(got) >= stop_after):
                        break
        return got

    head = read(first.url, None, stop_after=12)
    assert head[-1]["type"] != "done", "the first stream left before the end"
    tail = read(second.url, head[-1]["seq"], stop_after=None)
    seqs = [e["seq"] for e in head + tail]
    assert seqs == list(range(1, len(seqs) + 1)), "nothing missed, nothing twice"
    assert tail[-1]["type"] == "done" and tail[-1]["status"] == "completed"
    assert [e["seq"] for e in events_of(second.url, run_id)] == seqs
