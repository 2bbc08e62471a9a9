"""Retention and S3: finished runs archived then pruned by a running worker, checkpoints kept
in S3, and ``fastagentic runs prune|archived`` on demand."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_client, wait_for
from pydantic import BaseModel
from s3_server import s3_bucket

from fastagentic import App, RunContext
from fastagentic.core import events as ev
from fastagentic.core.runs import COMPLETED, Checkpoint, LedgerEntry, RunRecord
from fastagentic.stores.factory import store_from_url
from fastagentic.stores.retention import RetentionPolicy, parse_duration, prune


class StepsIn(BaseModel):
    steps: int = 3


def make_app(store: str, **settings: Any) -> App:
    app = App(title="retention", durable_store=store, **settings)

    @app.agent_endpoint("/steps")
    async def steps(body: StepsIn, ctx: RunContext) -> dict[str, Any]:
        done = (ctx.state or {}).get("done", 0)
        for step in range(done, body.steps):
            await ctx.token(f"step {step} ")
            await ctx.checkpoint({"done": step + 1})
        approved = await ctx.approve("finish?")  # pauses: the run goes on in a new attempt
        return {"steps_done": body.steps if approved else 0}

    return app


async def finish(client: httpx.AsyncClient, steps: int = 3) -> str:
    started = await client.post("/steps", json={"steps": steps},
                                headers={"Prefer": "respond-async"})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    await wait_for(lambda: _status(client, run_id, "input_required"), timeout=10)
    answered = await client.post(f"/runs/{run_id}/resume", json={"approved": True})
    assert answered.status_code in (200, 202), answered.text
    await wait_for(lambda: _status(client, run_id, "completed"), timeout=10)
    return run_id


async def _status(client: httpx.AsyncClient, run_id: str, status: str) -> bool:
    response = await client.get(f"/runs/{run_id}")
    return response.status_code == 200 and response.json()["status"] == status


async def test_checkpoints_in_s3_carry_a_run_across_a_pause(tmp_path: Path) -> None:
    with s3_bucket() as s3:
        app = make_app(f"sqlite:///{tmp_path / 'runs.db'}", checkpoint_store=s3.url("cps"))
        async with running_client(app) as client:
            run_id = await finish(client)
            run = (await client.get(f"/runs/{run_id}")).json()
        assert run["output"] == {"steps_done": 3}
        keys = [o["Key"] for o in s3.client().list_objects_v2(
            Bucket=s3.bucket, Prefix="cps/").get("Contents", [])]
        assert len([k for k in keys if run_id in k]) == 3, keys
    # The records store holds no checkpoint of its own.
    records = store_from_url(f"sqlite:///{tmp_path / 'runs.db'}")
    await records.open()
    try:
        assert await records.list_checkpoints(run_id) == []
        assert (await records.get_run(run_id)).status == COMPLETED  # type: ignore[union-attr]
    finally:
        await records.close()


async def test_a_worker_archives_finished_runs_then_prunes_them(tmp_path: Path) -> None:
    with s3_bucket() as s3:
        app = make_app(f"sqlite:///{tmp_path / 'runs.db'}", archive_store=s3.url("archive"),
                       retention_runs=0.5, retention_interval=0.2)
        async with running_client(app) as client:
            run_id = await finish(client)
            events = (await client.get(f"/runs/{run_id}/events",
                                       headers={"Accept": "application/json"})).json()
            await wait_for(lambda: _gone(client, run_id), timeout=15)
        shown = subprocess.run(
            [sys.executable, "-m", "fastagentic", "runs", "archived", run_id, "--archive",
             s3.url("archive")], capture_output=True, text=True, timeout=60,
            env={**s3.env, "PATH": "/usr/bin:/bin"})
        assert shown.returncode == 0, shown.stderr
        lines = [json.loads(line) for line in shown.stdout.splitlines()]
        cli = [sys.executable, "-m", "fastagentic", "runs", "archived"]
        env = {**s3.env, "PATH": "/usr/bin:/bin"}
        listed_runs = subprocess.run([*cli, "--archive", s3.url("archive")], env=env,
                                     capture_output=True, text=True, timeout=60)
        assert listed_runs.returncode == 0, listed_runs.stderr
        assert [json.loads(x)["run_id"] for x in listed_runs.stdout.splitlines()] == [run_id]
        deleted = subprocess.run([*cli, run_id, "--delete", "--archive", s3.url("archive")],
                                 env=env, capture_output=True, text=True, timeout=60)
        assert deleted.returncode == 0, deleted.stderr
        gone = subprocess.run([*cli, run_id, "--archive", s3.url("archive")], env=env,
                              capture_output=True, text=True, timeout=60)
        assert gone.returncode == 2 and "is not in the archive" in gone.stderr
    assert lines[0]["kind"] == "run" and lines[0]["run_id"] == run_id
    assert lines[0]["status"] == "completed" and lines[0]["output"] == {"steps_done": 3}
    archived_events = [line for line in lines if line["kind"] == "event"]
    listed = events["events"] if isinstance(events, dict) else events
    assert [e["seq"] for e in archived_events] == [e["seq"] for e in listed]
    assert [line["state"] for line in lines if line["kind"] == "checkpoint"] == \
        [{"done": 1}, {"done": 2}, {"done": 3}]


async def _gone(client: httpx.AsyncClient, run_id: str) -> bool:
    return (await client.get(f"/runs/{run_id}")).status_code == 404


def _finished(finished_at: float, **fields: Any) -> RunRecord:
    return RunRecord(id=f"run_{time.monotonic_ns()}", endpoint="steps", status=COMPLETED,
                     input={}, principal="p", finished_at=finished_at, **fields)


async def test_prune_each_part_after_its_time_to_live(store_url: str) -> None:
    store = store_from_url(store_url)
    await store.open()
    try:
        now = time.time()
        old, middle, new = (_finished(now - 10 * 86400), _finished(now - 2 * 86400),
                            _finished(now - 60))
        for run in (old, middle, new):
            await store.create_run(run, [ev.encode(run.id, 1, ev.DONE, now, {})])
            await store.put_checkpoint(Checkpoint(id="c", run_id=run.id, seq=1, state=1))
            await store.ledger_put(LedgerEntry(run_id=run.id, call_id="k", tool="t"))
        policy = RetentionPolicy(events=parse_duration("1d"), checkpoints=parse_duration("1h"),
                                 runs=parse_duration("7d"))
        dry = await prune(store, policy, dry_run=True)
        # (a dry run deletes no run first, so the old one also counts for its parts)
        assert dry.as_dict() == {"archived": 0, "events": 2, "checkpoints": 2, "runs": 1}
        assert await store.get_run(old.id) is not None, "a dry run deletes nothing"

        report = await prune(store, policy)
        # The old run went whole; the middle one lost its events and checkpoints; the new
        # one, finished a minute ago, kept everything.
        assert report.as_dict() == {"archived": 0, "events": 1, "checkpoints": 1, "runs": 1}
        assert await store.get_run(old.id) is None
        assert await store.read_events(middle.id) == []
        assert await store.ledger_get(middle.id, "k") is None
        assert await store.list_checkpoints(middle.id) == []
        assert len(await store.read_events(new.id)) == 1
        assert len(await store.list_checkpoints(new.id)) == 1
        assert await store.get_run(middle.id) is not None

        again = await prune(store, policy)
        assert again.as_dict() == {"archived": 0, "events": 0, "checkpoints": 0, "runs": 0}, \
            "a second pass starts after the first one's cursor"
    finally:
        await store.close()


def test_runs_prune_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    bad = subprocess.run([sys.executable, "-m", "fastagentic", "runs", "prune", "--store", url,
                          "--events", "7 days"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    nothing = subprocess.run([sys.executable, "-m", "fastagentic", "runs", "prune", "--store",
                              url], capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 2 and "nothing to prune" in nothing.stderr
    done = subprocess.run([sys.executable, "-m", "fastagentic", "runs", "prune", "--store", url,
                           "--runs", "0s"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pruned: archived 0, events 0, checkpoints 0, runs 0"


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("12h", 43200),
                                          ("7d", 604800), ("1w", 604800), ("2.5", 2.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
