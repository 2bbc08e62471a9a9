"""Durable runs across real process deaths.

A server subprocess (``fastagentic run``) on a SQLite file streams a long, checkpointed answer
(``tests/apps/slow_stream.py``).  It is killed with SIGKILL (or stopped with SIGTERM) mid-run;
a new server on the same file and port takes the run over and finishes it from its last
checkpoint.  The event log must stay gapless, without duplicates, and the text exact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SLOW_APP = ROOT / "tests" / "apps" / "slow_stream.py"

TOKENS = 400
EVERY = 20
DELAY = 0.005
RUN_INPUT = {"tokens": TOKENS, "delay": DELAY, "every": EVERY}
# tests/apps/slow_stream.py: token i is "w{i} "
EXPECTED_TEXT = "".join(f"w{i} " for i in range(TOKENS))
CHECKPOINTS = TOKENS // EVERY - 1  # after every 20 tokens but the last batch


def poll(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """(Its own copy: tests_crewai imports this module with a conftest of its own.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout}s")
        time.sleep(interval)


def start_run(url: str, path: str = "/stream") -> str:
    response = httpx.post(url + path, json=RUN_INPUT, headers={"Prefer": "respond-async"},
                          timeout=10)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] in ("queued", "running")
    return body["run_id"]


def get_run(url: str, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/runs/{run_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def all_events(url: str, run_id: str, limit: int = 97) -> list[dict[str, Any]]:
    """The whole log through ``GET /runs/{id}/events`` as JSON, paging with after/limit."""
    events: list[dict[str, Any]] = []
    after = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            response = client.get(f"/runs/{run_id}/events",
                                  params={"after": after, "limit": limit},
                                  headers={"Accept": "application/json"})
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["run_id"] == run_id
            assert len(page["events"]) <= limit
            if not page["events"]:
                assert page["next_after"] == after
                return events
            assert [e["seq"] for e in page["events"]][0] == after + 1
            events.extend(page["events"])
            after = page["next_after"]
            assert after == events[-1]["seq"]


def tokens_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["content"] for e in events if e["type"] == "token")


def read_sse(url: str, run_id: str, *, last_event_id: int | None = None,
             stop: Any = None, timeout: float = 30) -> list[dict[str, Any]]:
    """Read the run's SSE stream until ``stop(events)`` is true or the stream ends."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events: list[dict[str, Any]] = []
    ids: list[int] = []
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", f"{url}/runs/{run_id}/events", headers=headers,
                      timeout=httpx.Timeout(10, read=timeout)) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            elif line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if stop is not None and stop(events):
                    break
            assert time.monotonic() < deadline, "the stream took too long"
    assert ids[: len(events)] == [e["seq"] for e in events], "SSE id is the event's seq"
    return events


def check_log(events: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """A completed, resumed run's log: gapless, no duplicates, the exact text."""
    seqs = [e["seq"] for e in events]
    assert len(seqs) == len(set(seqs)), "duplicated seq"
    assert seqs == list(range(1, len(events) + 1)), "the sequence has gaps"
    assert all(e["run_id"] == run_id for e in events)
    text = tokens_of(events)
    assert len(text) == len(EXPECTED_TEXT), "tokens duplicated or missing"
    assert text == EXPECTED_TEXT
    contents = [e["content"] for e in events if e["type"] == "token"]
    assert len(contents) == TOKENS and len(set(contents)) == TOKENS

    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types.count("run_started") == 1
    assert types[-1] == "done" and types.count("done") == 1
    done = events[-1]
    assert done["status"] == "completed"
    assert done["output"] == EXPECTED_TEXT

    statuses = [e for e in events if e["type"] == "status"]
    assert not [e for e in statuses if "superseded_from_seq" in e], \
        "the resumed run did not match what was recorded"
    resumed = [e for e in statuses if e.get("resumed")]
    assert len(resumed) == 1, statuses
    assert resumed[0]["status"] == "running" and resumed[0]["attempt"] == 2

    checkpoints = [e for e in events if e["type"] == "checkpoint"]
    ids = [e["checkpoint_id"] for e in checkpoints]
    assert len(ids) == len(set(ids)), "a checkpoint was recorded twice"
    assert len(checkpoints) <= CHECKPOINTS
    return resumed[0]


def test_sigkill_mid_run_resumes_from_the_last_checkpoint(server_process: Any,
                                                          tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'crash.db'}"
    env = {"FASTAGENTIC_LEASE_TTL": "1"}
    first = server_process(SLOW_APP, store, env=env).start()
    run_id = start_run(first.url)

    # a client streams the run until ~100 tokens arrived, then the server dies under it
    seen = read_sse(first.url, run_id,
                    stop=lambda evs: sum(e["type"] == "token" for e in evs) >= 100)
    first.kill()
    assert first.proc is not None and first.proc.returncode == -9
    last_seen = seen[-1]["seq"]
    assert [e["seq"] for e in seen] == list(range(1, last_seen + 1))
    assert seen[-1]["type"] != "done"
    seen_checkpoints = [e for e in seen if e["type"] == "checkpoint"]
    assert len(seen_checkpoints) >= 100 // EVERY - 1

    second = server_process(SLOW_APP, store, env=env, port=first.port).start()
    try:
        # the client reconnects with the last id it saw and gets the rest, without gaps
        rest = read_sse(second.url, run_id, last_event_id=last_seen)
        assert rest, "nothing after the reconnect"
        assert [e["seq"] for e in rest] == list(range(last_seen + 1, last_seen + 1 + len(rest)))
        assert rest[-1]["type"] == "done" and rest[-1]["status"] == "completed"
        assert tokens_of(seen) + tokens_of(rest) == EXPECTED_TEXT

        run = poll(lambda: (r := get_run(second.url, run_id))["status"] == "completed" and r,
                   timeout=20, what="the run completing")
        assert run["attempt"] == 2
        assert run["output"] == EXPECTED_TEXT
        assert run["error"] is None

        events = all_events(second.url, run_id)
        assert run["last_seq"] == len(events)
        resumed = check_log(events, run_id)
        # resumed from a checkpoint at least as recent as the last one the client saw
        assert resumed["checkpoint_id"] is not None
        assert resumed["checkpoint_seq"] >= seen_checkpoints[-1]["seq"]
        assert events[: len(seen)] == seen and events[last_seen:] == rest
    finally:
        second.stop()


def test_sigterm_mid_run_releases_the_run_and_a_restart_finishes_it(server_process: Any,
                                                                    tmp_path: Path) -> None:
    # default lease (30 s): only a released run is taken over within the deadline below
    store = f"sqlite:///{tmp_path / 'term.db'}"
    first = server_process(SLOW_APP, store).start()
    run_id = start_run(first.url)
    poll(lambda: tokens_of(all_events(first.url, run_id, limit=10000)).count(" ") >= 100,
         timeout=20, interval=0.02, what="100 tokens")
    stopping = time.monotonic()
    first.stop()
    # uvicorn exits by re-raising the signal after a graceful shutdown; -9 would mean that
    # ServerProcess.stop gave up waiting and killed it
    assert first.proc is not None and first.proc.returncode in (0, -15)
    assert time.monotonic() - stopping < 10, "the shutdown waited for the run"

    second = server_process(SLOW_APP, store, port=first.port).start()
    try:
        run = poll(lambda: (r := get_run(second.url, run_id))["status"] == "completed" and r,
                   timeout=12, what="the released run completing after the restart")
        assert run["attempt"] == 2
        assert run["output"] == EXPECTED_TEXT
        events = all_events(second.url, run_id)
        resumed = check_log(events, run_id)
        assert resumed["checkpoint_seq"] > 0
    finally:
        second.stop()


def test_streamed_text_output_is_the_whole_text_after_a_crash(server_process: Any,
                                                             tmp_path: Path) -> None:
    """An async generator's output is "the streamed text": after a resume it is still the
    whole text of the run, not only what the last attempt streamed."""
    store = f"sqlite:///{tmp_path / 'streamed.db'}"
    env = {"FASTAGENTIC_LEASE_TTL": "1"}
    first = server_process(SLOW_APP, store, env=env).start()
    run_id = start_run(first.url, "/streamed")
    poll(lambda: tokens_of(all_events(first.url, run_id, limit=10000)).count(" ") >= 100,
         timeout=20, interval=0.02, what="100 tokens")
    first.kill()
    second = server_process(SLOW_APP, store, env=env, port=first.port).start()
    try:
        run = poll(lambda: (r := get_run(second.url, run_id))["status"] in
                   ("completed", "failed") and r, timeout=20, what="the run finishing")
        assert run["status"] == "completed" and run["attempt"] == 2
        events = all_events(second.url, run_id)
        assert tokens_of(events) == EXPECTED_TEXT
        output = run["output"]
        assert output == EXPECTED_TEXT, (
            f"the output has {len(output)} of {len(EXPECTED_TEXT)} characters and starts with "
            f"{output[:12]!r}: only what the resumed attempt streamed")
    finally:
        second.stop()
