"""Durability: exactly-once tools, replay, divergence, crash recovery, fencing, shutdown.

Two Apps on one store stand for two processes: with SQLite each App opens the file itself;
with the memory backend both share one ``MemoryStore``.  A crash is simulated by stopping an
attempt the way the engine stops one whose lease was lost: nothing more is written and the
lease is not released (``engine._stop(run_id, "lease_lost")``), after the App's heartbeat
and sweeper are stopped, so nothing renews the lease meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import wait_for
from fastagentic import App, RunContext
from fastagentic.core import events as ev
from fastagentic.core.context import ANONYMOUS
from fastagentic.core.runs import QUEUED_SIGNAL, RunRecord
from fastagentic.exceptions import Conflict
from fastagentic.stores.base import Store
from fastagentic.stores.memory import MemoryStore
from fastagentic.stores.factory import store_from_url

TIMEOUT = 2.5
LEASE = 0.3
FAST = {"lease_ttl": LEASE, "poll_interval": 0.05}


# helpers


@pytest.fixture
async def shared(store_url: str) -> AsyncIterator[tuple[Any, Store]]:
    """(what each App gets as ``durable_store``, a handle the test inspects the store with)."""
    if store_url.startswith("memory"):
        store = MemoryStore()
        yield store, store
        return
    store = store_from_url(store_url)
    await store.open()
    try:
        yield store_url, store
    finally:
        await store.close()


async def submit(app: App, endpoint: str, payload: dict[str, Any] | None = None
                 ) -> RunRecord:
    spec = app.registry.agents[endpoint]
    run, _ = await app.engine.submit(spec, spec.signature.validate_python(payload or {}),
                                     ANONYMOUS)
    return run


async def settle(app: App, run_id: str, timeout: float = TIMEOUT) -> RunRecord:
    return await asyncio.wait_for(app.engine.wait_settled(run_id), timeout)


async def log_of(store: Store, run_id: str) -> list[ev.RunEvent]:
    return await store.read_events(run_id, 0, 1_000_000)


def assert_gapless(events: list[ev.RunEvent]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def of_type(events: list[ev.RunEvent], type_: str) -> list[ev.RunEvent]:
    return [e for e in events if e.type == type_]


def tokens(events: list[ev.RunEvent]) -> list[str]:
    return [e.data["content"] for e in of_type(events, ev.TOKEN)]


def cost_total(events: list[ev.RunEvent]) -> dict[str, int]:
    total: dict[str, int] = {}
    for event in of_type(events, ev.COST):
        for key, value in event.data["tokens"].items():
            total[key] = total.get(key, 0) + value
    return total


async def persisted_up_to(store: Store, run_id: str, seq: int) -> None:
    async def reached() -> bool:
        run = await store.get_run(run_id)
        return run is not None and run.last_seq >= seq

    await wait_for(reached, timeout=TIMEOUT)


async def crash(app: App, run_id: str) -> None:
    """Stop the attempt like a dead process: no more events, the lease is not released."""
    for background in app.engine._background:
        background.cancel()
    task = app.engine._tasks[run_id]
    app.engine._stop(run_id, "lease_lost")
    await asyncio.wait_for(task, TIMEOUT)


# exactly-once tools, replay and divergence (resume after input)


async def test_tool_runs_exactly_once_across_resume(store_url: str) -> None:
    app = App(durable_store=store_url)
    charges: list[int] = []
    executions: list[int] = []

    @app.tool
    async def charge(amount: int) -> dict[str, Any]:
        charges.append(amount)
        return {"charge_id": f"ch_{len(charges)}", "amount": amount}

    @app.agent_endpoint("/pay")
    async def pay(amount: int, ctx: RunContext) -> dict[str, Any]:
        executions.append(ctx.attempt)
        receipt = await ctx.call_tool("charge", {"amount": amount})
        ship = await ctx.approve(f"charged {receipt['charge_id']}: ship?")
        return {"receipt": receipt, "ship": ship}

    async with app.running():
        run = await submit(app, "pay", {"amount": 5})
        paused = await settle(app, run.id)
        assert paused.status == "input_required"
        assert charges == [5]
        # Let the paused attempt finish before resuming (see test_engine for the race).
        await wait_for(lambda: run.id not in app.engine._tasks, timeout=TIMEOUT)
        await app.engine.resume(run.id, answer={"approved": True}, has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)
        call_id = of_type(events, ev.TOOL_CALL)[0].data["call_id"]
        entry = await app.store.ledger_get(run.id, call_id)

    assert done.status == "completed", done.error
    assert executions == [1, 2], "the function ran again from its start"
    assert charges == [5], "the tool's side effect happened once"
    assert done.output == {"receipt": {"charge_id": "ch_1", "amount": 5}, "ship": True}
    assert_gapless(events)
    assert len(of_type(events, ev.TOOL_CALL)) == 1
    results = of_type(events, ev.TOOL_RESULT)
    assert len(results) == 1, "the tool_result is not duplicated"
    assert results[0].data["output"] == {"charge_id": "ch_1", "amount": 5}
    assert entry is not None and entry.output == {"charge_id": "ch_1", "amount": 5}


async def test_replayed_events_are_not_duplicated(store_url: str) -> None:
    app = App(durable_store=store_url)

    @app.agent_endpoint("/story")
    async def story(ctx: RunContext) -> str:
        await ctx.emit(ev.node_start("draft"))  # carries a fresh timestamp every time
        for word in ("once", "upon", "a"):
            await ctx.token(word)
        await ctx.emit(ev.node_end("draft", result={"words": 3}))
        await ctx.add_cost({"input": 2})
        more = await ctx.ask("continue?")
        await ctx.token(more)
        return "done"

    async with app.running():
        run = await submit(app, "story")
        assert (await settle(app, run.id)).status == "input_required"
        before = await log_of(app.store, run.id)
        await wait_for(lambda: run.id not in app.engine._tasks, timeout=TIMEOUT)
        await app.engine.resume(run.id, answer="time", has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "completed"
    assert events[: len(before)] == before, "the recorded log is never rewritten"
    assert_gapless(events)
    assert tokens(events) == ["once", "upon", "a", "time"]
    assert len(of_type(events, ev.NODE_START)) == len(of_type(events, ev.NODE_END)) == 1
    assert len(of_type(events, ev.COST)) == 1
    assert not [e for e in events if "superseded_from_seq" in e.data]
    assert done.usage["tokens"] == {"input": 2}


async def test_divergent_replay_is_marked_superseded(store_url: str) -> None:
    app = App(durable_store=store_url)
    executions: list[int] = []

    @app.agent_endpoint("/moody")
    async def moody(ctx: RunContext) -> str:
        executions.append(1)
        await ctx.token("same")
        await ctx.token("first mood" if len(executions) == 1 else "second mood")
        answer = await ctx.ask("go on?")
        await ctx.token(answer)
        return "done"

    async with app.running():
        run = await submit(app, "moody")
        assert (await settle(app, run.id)).status == "input_required"
        before = await log_of(app.store, run.id)
        await wait_for(lambda: run.id not in app.engine._tasks, timeout=TIMEOUT)
        await app.engine.resume(run.id, answer="yes", has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "completed"
    assert events[: len(before)] == before
    assert_gapless(events)
    first_mood = next(e for e in events if e.type == ev.TOKEN and e.data["content"] == "first mood")
    marks = [e for e in events if e.type == ev.STATUS and "superseded_from_seq" in e.data]
    assert len(marks) == 1
    assert marks[0].data["superseded_from_seq"] == first_mood.seq
    assert marks[0].data["attempt"] == 2
    after_mark = [e for e in events if e.seq > marks[0].seq]
    assert tokens(after_mark) == ["second mood", "yes"]
    assert tokens(events).count("same") == 1, "the matching prefix is still not duplicated"


async def test_replay_that_stops_short_is_marked_superseded(store_url: str) -> None:
    """The resumed code emits fewer events: what it did not repeat is superseded too."""
    app = App(durable_store=store_url)
    executions: list[int] = []

    @app.agent_endpoint("/short")
    async def short(ctx: RunContext) -> str:
        executions.append(1)
        await ctx.token("kept")
        if len(executions) == 1:
            await ctx.token("dropped later")
        return await ctx.ask("answer?")

    async with app.running():
        run = await submit(app, "short")
        assert (await settle(app, run.id)).status == "input_required"
        await wait_for(lambda: run.id not in app.engine._tasks, timeout=TIMEOUT)
        await app.engine.resume(run.id, answer="ok", has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "completed" and done.output == "ok"
    dropped = next(e for e in events if e.type == ev.TOKEN and e.data["content"] == "dropped later")
    marks = [e for e in events if e.type == ev.STATUS and "superseded_from_seq" in e.data]
    assert [m.data["superseded_from_seq"] for m in marks] == [dropped.seq], (
        "the log must say that the recorded 'dropped later' token is not part of the run "
        "any more")


# crash recovery


def crash_app(target: Any, gate: asyncio.Event, seen: list[Any], *, worker: bool) -> App:
    """The same definitions in every "process"; ``gate`` is where the first one dies."""
    app = App(durable_store=target, worker=worker, **FAST)

    @app.agent_endpoint("/job")
    async def job(ctx: RunContext) -> dict[str, Any]:
        seen.append((ctx.attempt, ctx.state))
        start = (ctx.state or {}).get("i", 0)
        if start == 0:
            for i in range(3):
                await ctx.token(f"t{i}")
            await ctx.add_cost({"input": 1})
            await ctx.checkpoint({"i": 3}, {"node": "half"})
        await ctx.add_cost({"input": 4})
        await ctx.token("t3")
        await gate.wait()
        for i in (4, 5):
            await ctx.token(f"t{i}")
        await ctx.add_cost({"input": 2})
        return {"resumed_from": start}

    return app


async def test_crashed_run_resumes_from_checkpoint_in_another_app(shared: Any) -> None:
    target, store = shared
    seen: list[Any] = []
    app_a = crash_app(target, asyncio.Event(), seen, worker=True)
    async with app_a.running():
        owner_a = app_a.engine.owner
        run = await submit(app_a, "job")
        # 1 run_started, 2 status, 3-5 t0..t2, 6 cost, 7 checkpoint, 8 cost, 9 t3
        await persisted_up_to(store, run.id, 9)
        await crash(app_a, run.id)
    crashed = await store.get_run(run.id)
    assert crashed is not None and crashed.status == "running"
    assert crashed.lease_owner == owner_a and crashed.attempt == 1, "the lease was not released"
    before = await log_of(store, run.id)

    ready = asyncio.Event()
    ready.set()
    app_b = crash_app(target, ready, seen, worker=True)
    async with app_b.running():
        done = await settle(app_b, run.id)
        events = await log_of(store, run.id)
        checkpoint = await store.latest_checkpoint(run.id)

    assert done.status == "completed", done.error
    assert done.output == {"resumed_from": 3}
    assert done.attempt == 2 and done.lease_owner is None
    assert seen == [(1, None), (2, {"i": 3})], "attempt 2 started from the checkpoint state"
    assert checkpoint is not None and checkpoint.state == {"i": 3}
    assert events[: len(before)] == before
    assert_gapless(events)
    assert tokens(events) == [f"t{i}" for i in range(6)], "no token lost or duplicated"
    assert len(of_type(events, ev.RUN_STARTED)) == 1
    assert len(of_type(events, ev.DONE)) == 1 and events[-1].type == ev.DONE
    resumed = [e for e in of_type(events, ev.STATUS) if e.data.get("resumed")]
    assert len(resumed) == 1
    assert resumed[0].data["checkpoint_id"] == checkpoint.id
    assert resumed[0].data["checkpoint_seq"] == checkpoint.seq
    assert not [e for e in events if "superseded_from_seq" in e.data]
    assert cost_total(events) == {"input": 7}
    assert done.usage["tokens"] == {"input": 7}, "usage = every cost in the log, once"


async def test_usage_survives_a_crash_without_checkpoint(shared: Any) -> None:
    target, store = shared

    def build(gate: asyncio.Event, worker: bool) -> App:
        app = App(durable_store=target, worker=worker, **FAST)

        @app.agent_endpoint("/spend")
        async def spend(ctx: RunContext) -> str:
            await ctx.add_cost({"input": 5}, {"usd": 0.5})
            await ctx.token("a")
            await gate.wait()
            await ctx.add_cost({"input": 1}, {"usd": 0.1})
            return "ok"

        return app

    app_a = build(asyncio.Event(), worker=True)
    async with app_a.running():
        run = await submit(app_a, "spend")
        await persisted_up_to(store, run.id, 4)  # run_started, status, cost, token
        await crash(app_a, run.id)

    ready = asyncio.Event()
    ready.set()
    app_b = build(ready, worker=True)
    async with app_b.running():
        done = await settle(app_b, run.id)
        events = await log_of(store, run.id)

    assert done.status == "completed" and done.attempt == 2
    assert_gapless(events)
    assert len(of_type(events, ev.COST)) == 2
    assert cost_total(events) == {"input": 6}
    assert done.usage.get("tokens") == {"input": 6}, (
        f"run.usage {done.usage} misses the cost the crashed attempt recorded")
    assert done.usage.get("amount") == {"usd": 0.6}


async def test_tool_not_rerun_after_a_crash(shared: Any) -> None:
    target, store = shared
    sent: list[str] = []

    def build(gate: asyncio.Event, worker: bool) -> App:
        app = App(durable_store=target, worker=worker, **FAST)

        @app.tool
        async def send_email(to: str) -> str:
            sent.append(to)
            return f"msg-{len(sent)}"

        @app.agent_endpoint("/notify")
        async def notify(to: str, ctx: RunContext) -> str:
            message_id = await ctx.call_tool("send_email", {"to": to})
            await gate.wait()
            return message_id

        return app

    app_a = build(asyncio.Event(), worker=True)
    async with app_a.running():
        run = await submit(app_a, "notify", {"to": "ann@example.com"})
        await persisted_up_to(store, run.id, 4)  # run_started, status, tool_call, tool_result
        await crash(app_a, run.id)

    ready = asyncio.Event()
    ready.set()
    app_b = build(ready, worker=True)
    async with app_b.running():
        done = await settle(app_b, run.id)
        events = await log_of(store, run.id)

    assert done.status == "completed" and done.output == "msg-1"
    assert sent == ["ann@example.com"]
    assert_gapless(events)
    assert len(of_type(events, ev.TOOL_CALL)) == len(of_type(events, ev.TOOL_RESULT)) == 1


async def test_non_durable_run_fails_interrupted_after_a_crash(shared: Any) -> None:
    target, store = shared
    calls: list[int] = []

    def build(gate: asyncio.Event, worker: bool) -> App:
        app = App(durable_store=target, worker=worker, **FAST)

        @app.agent_endpoint("/volatile", durable=False)
        async def volatile(ctx: RunContext) -> str:
            calls.append(ctx.attempt)
            await ctx.token("a")
            await ctx.checkpoint({"x": 1})
            await gate.wait()
            return "never"

        return app

    app_a = build(asyncio.Event(), worker=True)
    async with app_a.running():
        run = await submit(app_a, "volatile")
        await persisted_up_to(store, run.id, 4)  # run_started, status, token, checkpoint
        assert await store.latest_checkpoint(run.id) is None, "not durable: no checkpoint kept"
        await crash(app_a, run.id)

    ready = asyncio.Event()
    ready.set()
    app_b = build(ready, worker=True)
    async with app_b.running():
        done = await settle(app_b, run.id)
        events = await log_of(store, run.id)

    assert done.status == "failed"
    assert done.error is not None and done.error["code"] == "interrupted"
    assert calls == [1], "the endpoint's code is not run again"
    assert_gapless(events)
    assert [e.type for e in events[-2:]] == [ev.ERROR, ev.DONE]
    assert events[-1].data["status"] == "failed"
    assert done.lease_owner is None


# fencing


async def test_stale_attempt_cannot_append_and_stops(shared: Any) -> None:
    target, store = shared
    progress: dict[int, list[int]] = {1: [], 2: []}
    outcome: list[str] = []

    def build(gate: asyncio.Event, worker: bool, steps: int) -> App:
        app = App(durable_store=target, worker=worker, **FAST)

        @app.agent_endpoint("/job")
        async def job(ctx: RunContext) -> str:
            await ctx.token("start")
            await gate.wait()
            try:
                for i in range(steps):
                    await ctx.token(f"attempt {ctx.attempt} step {i}")
                    progress[ctx.attempt].append(i)
                    await asyncio.sleep(0)
            except BaseException as exc:
                outcome.append(type(exc).__name__)
                raise
            return f"attempt {ctx.attempt}"

        return app

    stale_gate = asyncio.Event()
    app_a = build(stale_gate, worker=True, steps=1000)
    async with app_a.running():
        for background in app_a.engine._background:
            background.cancel()  # a stalled process: no heartbeat, its lease lapses
        run = await submit(app_a, "job")
        task_a = app_a.engine._tasks[run.id]
        await persisted_up_to(store, run.id, 3)

        ready = asyncio.Event()
        ready.set()
        app_b = build(ready, worker=True, steps=3)
        async with app_b.running():
            done = await settle(app_b, run.id)  # B takes the expired lease and finishes
            assert done.status == "completed" and done.output == "attempt 2"
            assert done.attempt == 2
            log_b = await log_of(store, run.id)

            stale_gate.set()  # the stale attempt wakes up and tries to go on
            await asyncio.wait_for(task_a, TIMEOUT)
            # The stale attempt could not write: its next seq was already taken.
            with pytest.raises(Conflict):
                await store.append_events(run.id, [ev.encode(run.id, 4, ev.TOKEN, time.time(),
                                                             {"content": "late"})])

    events = await log_of(store, run.id)
    assert events == log_b, "nothing from the stale attempt reached the log"
    assert_gapless(events)
    assert outcome == ["LeaseLost"], "the stale attempt's code was stopped"
    assert len(progress[1]) < 1000, "the stale attempt was stopped before it finished"
    assert progress[2] == [0, 1, 2]
    assert len(of_type(events, ev.DONE)) == 1
    final = await store.get_run(run.id)
    assert final is not None and final.status == "completed" and final.attempt == 2


async def test_heartbeat_stops_an_attempt_whose_lease_was_taken(shared: Any) -> None:
    target, store = shared
    stopped = asyncio.Event()
    forever = asyncio.Event()
    app = App(durable_store=target, worker=True, **FAST)

    @app.agent_endpoint("/hang")
    async def hang(ctx: RunContext) -> str:
        await ctx.token("x")
        try:
            await forever.wait()
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "never"

    async with app.running():
        run = await submit(app, "hang")
        await persisted_up_to(store, run.id, 3)

        async def take_over() -> RunRecord | None:
            await store.update_run(run.id, lease_expires_at=time.time() - 1)
            return await store.claim_run(run.id, "intruder", 30, statuses={"running"})

        taken = await wait_for(take_over, timeout=TIMEOUT)
        assert taken.attempt == 2
        before = await log_of(store, run.id)
        await asyncio.wait_for(stopped.wait(), TIMEOUT)
        await wait_for(lambda: run.id not in app.engine._tasks, timeout=TIMEOUT)
        after = await log_of(store, run.id)
        current = await store.get_run(run.id)

    assert after == before, "the stopped attempt wrote nothing more"
    assert current is not None and current.status == "running"
    assert current.lease_owner == "intruder" and current.attempt == 2


async def test_a_lease_that_expired_under_its_own_process_is_taken_over_there(
        shared: Any) -> None:
    """The event loop stalled past an attempt's lease and this process's own claim took the
    run (attempt 2): the old attempt stops and attempt 2 resumes at once, here, instead of
    the run waiting out another lease."""
    target, store = shared
    gate = asyncio.Event()
    stopped = asyncio.Event()
    attempts: list[int] = []
    charges: list[int] = []
    app = App(durable_store=target, worker=True, lease_ttl=30, poll_interval=0.05)

    @app.tool
    async def charge() -> int:
        charges.append(1)
        return len(charges)

    @app.agent_endpoint("/stall")
    async def stall(ctx: RunContext) -> dict[str, Any]:
        attempts.append(ctx.attempt)
        receipt = await ctx.call_tool("charge", {})
        await ctx.checkpoint({"receipt": receipt})
        if ctx.attempt == 1:
            try:
                await gate.wait()  # never set: only a take-over gets the run further
            except asyncio.CancelledError:
                stopped.set()
                raise
        await ctx.token("done")
        return {"receipt": receipt, "attempt": ctx.attempt}

    async with app.running():
        run = await submit(app, "stall")
        await wait_for(lambda: store.latest_checkpoint(run.id), timeout=TIMEOUT)
        # What a stalled loop looks like to the store: the lease ran out (the heartbeat,
        # every 10 s with this lease, cannot renew it first).
        await store.update_run(run.id, lease_expires_at=time.time() - 1)
        await app.engine.store.signal(QUEUED_SIGNAL, run.id)  # the claim loop looks now
        done = await settle(app, run.id)
        events = await log_of(store, run.id)

    assert stopped.is_set(), "the old attempt was stopped"
    assert done.status == "completed", done.error
    assert done.output == {"receipt": 1, "attempt": 2} and done.attempt == 2
    assert attempts == [1, 2] and charges == [1], "the tool's result came from the ledger"
    assert_gapless(events)
    assert tokens(events) == ["done"]
    assert len([e for e in of_type(events, ev.STATUS) if e.data.get("resumed")]) == 1


async def test_cancel_from_another_app_reaches_the_executing_one(shared: Any) -> None:
    target, store = shared
    steps: list[int] = []
    app_a = App(durable_store=target, worker=True, **FAST)

    @app_a.agent_endpoint("/loop")
    async def loop(ctx: RunContext) -> None:
        while True:
            steps.append(1)
            await asyncio.sleep(0.005)

    app_b = App(durable_store=target, worker=True, **FAST)
    app_b.agent_endpoint("/loop")(loop)

    async with app_a.running(), app_b.running():
        run = await submit(app_a, "loop")
        await wait_for(lambda: len(steps) >= 3, timeout=TIMEOUT)
        requested = await app_b.engine.cancel(run.id)
        assert requested.cancel_requested is True
        done = await settle(app_b, run.id)
        count = len(steps)
        for _ in range(10):
            await asyncio.sleep(0.01)
        assert len(steps) == count, "user code stopped"
        events = await log_of(store, run.id)

    assert done.status == "cancelled"
    assert_gapless(events)
    assert events[-1].type == ev.DONE and events[-1].data["status"] == "cancelled"


# shutdown


async def test_shutdown_releases_leases_and_the_next_app_resumes(shared: Any) -> None:
    target, store = shared
    seen: list[Any] = []
    interrupted = asyncio.Event()

    def build(gate: asyncio.Event) -> App:
        # A long lease: the next App may only take the run because its lease was released.
        app = App(durable_store=target, lease_ttl=30, poll_interval=0.05)

        @app.agent_endpoint("/job")
        async def job(ctx: RunContext) -> str:
            seen.append(ctx.state)
            if ctx.state is None:
                await ctx.token("a")
                await ctx.checkpoint({"k": 1})
            try:
                await gate.wait()
            except asyncio.CancelledError:
                interrupted.set()
                raise
            await ctx.token("b")
            return "finished"

        return app

    app_a = build(asyncio.Event())
    async with app_a.running():
        run = await submit(app_a, "job")
        await persisted_up_to(store, run.id, 4)
    assert interrupted.is_set(), "shutdown stopped the user code"
    released = await store.get_run(run.id)
    assert released is not None and released.status == "running"
    assert released.lease_owner is None and released.lease_expires_at is None
    assert released.attempt == 1

    ready = asyncio.Event()
    ready.set()
    app_b = build(ready)
    async with app_b.running():
        done = await settle(app_b, run.id)
        events = await log_of(store, run.id)

    assert done.status == "completed" and done.output == "finished" and done.attempt == 2
    assert seen == [None, {"k": 1}]
    assert_gapless(events)
    assert tokens(events) == ["a", "b"]


async def test_follow_from_another_app_sees_the_whole_log(shared: Any) -> None:
    """A follower on another replica reads what the executing App persists."""
    target, store = shared
    gate = asyncio.Event()
    app_a = App(durable_store=target, **FAST)

    @app_a.agent_endpoint("/talk")
    async def talk(ctx: RunContext) -> str:
        for i in range(50):
            await ctx.token(str(i))
            if i == 25:
                await gate.wait()
        return "ok"

    app_b = App(durable_store=target, worker=True, **FAST)
    app_b.agent_endpoint("/talk")(talk)

    async with app_a.running(), app_b.running():
        run = await submit(app_a, "talk")

        async def follow() -> list[ev.RunEvent]:
            out: list[ev.RunEvent] = []
            async for batch in app_b.engine.follow(run.id, 0):
                out.extend(batch)
                if any(e.type == ev.TOKEN and e.data["content"] == "25" for e in batch):
                    gate.set()
            return out

        followed = await asyncio.wait_for(follow(), TIMEOUT)
        events = await log_of(store, run.id)

    assert followed == events
    assert_gapless(followed)
    assert tokens(followed) == [str(i) for i in range(50)]

