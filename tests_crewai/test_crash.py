"""CrewAIAdapter across a real process death (kill -9).

A ``fastagentic run`` subprocess serves ``tests_crewai/apps/crew_steps.py``.  It is killed with
SIGKILL while task 2's ``publish`` runs (task 1 and task 2's ``draft`` have completed); a new
server on the same SQLite file takes the run over after the lease expires.  Task 1 must not run
again, ``draft`` must be answered from the tool ledger, the log must be gapless without
superseded events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, crash_helpers

pytest.importorskip("crewai")

APP = ROOT / "tests_crewai" / "apps" / "crew_steps.py"


def test_kill_9_during_task_2_resumes_after_task_1(server_process: Any,
                                                    tmp_path: Path) -> None:
    helpers = crash_helpers()
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    effects = tmp_path / "side-effects.txt"
    env = {"FASTAGENTIC_LEASE_TTL": "1", "CREW_SIDE_EFFECTS": str(effects)}
    first = server_process(APP, store, env=env).start()
    accepted = httpx.post(f"{first.url}/crew", json={"message": "pricing"},
                          headers={"Prefer": "respond-async"}, timeout=10)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]

    seen = helpers.read_sse(first.url, run_id, stop=lambda events: any(
        e["type"] == "tool_call" and e["tool"] == "publish" for e in events))
    helpers.poll(lambda: "publish-started" in effects.read_text(), timeout=10,
                 what="publish running")
    first.kill()
    assert first.proc is not None and first.proc.returncode == -9
    assert effects.read_text().split() == ["lookup", "draft", "publish-started"]

    second = server_process(APP, store, env=env, port=first.port).start()
    try:
        run = helpers.poll(lambda: (r := helpers.get_run(second.url, run_id))["status"]
                           == "completed" and r, timeout=30, what="the run completing")
        events = helpers.all_events(second.url, run_id)
    finally:
        second.stop()

    assert run["output"] == "Published." and run["attempt"] == 2
    # Task 1's tool did not run again; draft came from the ledger; publish (killed) ran again.
    assert effects.read_text().split() == \
        ["lookup", "draft", "publish-started", "publish-started", "publish"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1)), "gaps or duplicates in the log"
    assert events[:len(seen)] == seen, "what was streamed before the crash is the log's start"
    statuses = [e for e in events if e["type"] == "status"]
    assert not [e for e in statuses if "superseded_from_seq" in e], statuses
    assert [e.get("resumed", False) for e in statuses] == [False, True]
    assert [(e["call_id"], e["output"]) for e in events if e["type"] == "tool_result"] == [
        ("task0-call0-lookup", "fact about pricing"), ("task1-call0-draft", "draft on pricing"),
        ("task1-call1-publish", "published pricing")]
    assert [e["metadata"]["task"] for e in events if e["type"] == "checkpoint"] == \
        ["research", "write"]
