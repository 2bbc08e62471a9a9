"""The run engine through an App: status machine, event log, checkpoints, input, cancel, usage."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import running_client, wait_for
from fastagentic import App, RunContext
from fastagentic.core import events as ev
from fastagentic.core.context import ANONYMOUS, UserContext
from fastagentic.core.runs import RunRecord
from fastagentic.exceptions import Conflict, InvalidInput, ToolError
from fastagentic.stores.base import Store
from fastagentic.stores.memory import MemoryStore
from fastagentic.stores.factory import store_from_url

TIMEOUT = 2.5


# helpers


def recording_store(url: str) -> Store:
    """The backend for ``url``, noting every status a run takes and what is persisted."""
    base = type(store_from_url(url))

    class Recording(base):  # type: ignore[valid-type, misc]
        def __init__(self, url: str) -> None:
            super().__init__(url)
            self.statuses: dict[str, list[str]] = defaultdict(list)
            self.persisted: dict[str, int] = {}

        def _note(self, run: RunRecord) -> None:
            seen = self.statuses[run.id]
            if not seen or seen[-1] != run.status:
                seen.append(run.status)

        async def create_run(self, run: RunRecord, events: Any = ()
                             ) -> tuple[RunRecord, bool]:
            stored, created = await super().create_run(run, events)
            if created and events:
                self.persisted[run.id] = events[-1].seq
            if created:
                self._note(stored)
            return stored, created

        async def update_run(self, run_id: str, **kwargs: Any) -> RunRecord | None:
            updated = await super().update_run(run_id, **kwargs)
            if updated is not None:
                self._note(updated)
            return updated

        async def append_events(self, run_id: str, events: Any) -> None:
            await super().append_events(run_id, events)
            if events:  # noted before the call returns, i.e. before anyone may publish them
                self.persisted[run_id] = max(self.persisted.get(run_id, 0), events[-1].seq)

        async def read_events(self, run_id: str, after: int = 0, limit: int = 1000
                              ) -> list[ev.RunEvent]:
            # What a read returns is in the store, even before the write's call returns (a
            # wake-up signal can make a follower read it that early).
            events = await super().read_events(run_id, after, limit)
            if events:
                self.persisted[run_id] = max(self.persisted.get(run_id, 0), events[-1].seq)
            return events

        async def append_and_update(self, run_id: str, events: Any,
                                    **kwargs: Any) -> RunRecord | None:
            if isinstance(self, MemoryStore):  # built on append_events and update_run
                return await super().append_and_update(run_id, events, **kwargs)
            updated = await super().append_and_update(run_id, events, **kwargs)
            if updated is not None:
                if events:
                    self.persisted[run_id] = max(self.persisted.get(run_id, 0), events[-1].seq)
                self._note(updated)
            return updated

    return Recording(url)


@pytest.fixture
async def recorded(store_url: str) -> AsyncIterator[Any]:
    store = recording_store(store_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def submit(app: App, endpoint: str, payload: dict[str, Any] | None = None, *,
                 user: UserContext = ANONYMOUS, key: str | None = None) -> RunRecord:
    spec = app.registry.agents[endpoint]
    run, _ = await app.engine.submit(spec, spec.signature.validate_python(payload or {}), user,
                                     idempotency_key=key)
    return run


async def settle(app: App, run_id: str, timeout: float = TIMEOUT) -> RunRecord:
    return await asyncio.wait_for(app.engine.wait_settled(run_id), timeout)


async def log_of(store: Store, run_id: str) -> list[ev.RunEvent]:
    return await store.read_events(run_id, 0, 1_000_000)


def assert_gapless(events: list[ev.RunEvent]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def types(events: list[ev.RunEvent]) -> list[str]:
    return [e.type for e in events]


def tokens(events: list[ev.RunEvent]) -> list[str]:
    return [e.data["content"] for e in events if e.type == ev.TOKEN]


async def collect(app: App, run_id: str, after: int = 0,
                  check: Any = None) -> list[ev.RunEvent]:
    out: list[ev.RunEvent] = []
    async for batch in app.engine.follow(run_id, after):
        if check is not None:
            check(batch)
        out.extend(batch)
    return out


# the status machine


async def test_run_completes_queued_running_completed(recorded: Any) -> None:
    app = App(durable_store=recorded)
    inside, gate = asyncio.Event(), asyncio.Event()

    @app.agent_endpoint("/echo")
    async def echo(message: str, ctx: RunContext) -> str:
        inside.set()
        await gate.wait()
        for word in message.split():
            await ctx.token(word)
        return message.upper()

    async with app.running():
        run = await submit(app, "echo", {"message": "hello big world"})
        # Accepted by the process that executes it: created running, in the same write.
        assert run.status == "running"
        await asyncio.wait_for(inside.wait(), TIMEOUT)
        running = await app.store.get_run(run.id)
        assert running is not None and running.status == "running"
        assert running.lease_owner == app.engine.owner and running.attempt == 1
        assert running.started_at is not None
        gate.set()
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "completed" and done.output == "HELLO BIG WORLD"
    assert done.error is None and done.attempt == 1
    assert done.lease_owner is None and done.lease_expires_at is None
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert recorded.statuses[run.id] == ["running", "completed"]
    assert_gapless(events)
    assert types(events) == ["run_started", "status", "token", "token", "token", "done"]
    assert events[0].data == {"endpoint": "echo", "input": {"message": "hello big world"}}
    assert events[1].data == {"status": "running", "attempt": 1}
    assert tokens(events) == ["hello", "big", "world"]
    assert events[-1].data == {"status": "completed", "output": "HELLO BIG WORLD",
                               "error": None}
    assert done.last_seq == len(events)
    assert all(e.run_id == run.id for e in events)


@pytest.mark.parametrize("exc, code", [
    (ValueError("boom"), "run_failed"),
    (ToolError("boom"), "tool_error"),
])
async def test_agent_raising_fails_with_error_then_done(recorded: Any, exc: Exception,
                                                        code: str) -> None:
    app = App(durable_store=recorded)

    @app.agent_endpoint("/broken")
    async def broken(ctx: RunContext) -> str:
        await ctx.token("partial")
        raise exc

    async with app.running():
        run = await submit(app, "broken")
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "failed" and done.output is None
    assert done.error is not None and done.error["code"] == code
    assert "boom" in done.error["message"]
    assert done.lease_owner is None and done.finished_at is not None
    assert recorded.statuses[run.id] == ["running", "failed"]
    assert_gapless(events)
    assert types(events) == ["run_started", "status", "token", "error", "done"]
    assert events[-2].data == done.error
    assert events[-1].data == {"status": "failed", "output": None, "error": done.error}


async def test_http_run_events_and_idempotency(store_url: str) -> None:
    app = App(durable_store=store_url)

    @app.agent_endpoint("/echo")
    async def echo(message: str, ctx: RunContext) -> str:
        await ctx.token(message)
        return message[::-1]

    async with running_client(app) as client:
        r = await client.post("/echo", json={"message": "abc"}, headers={"Idempotency-Key": "k"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "completed" and body["output"] == "cba"
        run_id = body["run_id"]
        again = await client.post("/echo", json={"message": "abc"},
                                  headers={"Idempotency-Key": "k"})
        assert again.status_code == 200 and again.json()["run_id"] == run_id
        assert again.headers.get("idempotent-replayed") == "true"
        r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
        events = r.json()["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events] == ["run_started", "status", "token", "done"]
        runs = await app.store.list_runs()
        assert [r.id for r in runs] == [run_id]


async def test_concurrent_submits_with_one_key_make_one_run(store_url: str) -> None:
    app = App(durable_store=store_url)
    calls: list[int] = []

    @app.agent_endpoint("/once")
    async def once(n: int) -> int:
        calls.append(n)
        return n

    async with app.running():
        runs = await asyncio.gather(*(submit(app, "once", {"n": 1}, key="same")
                                      for _ in range(20)))
        assert len({r.id for r in runs}) == 1
        done = await settle(app, runs[0].id)
        assert done.status == "completed"
        with pytest.raises(InvalidInput):
            await submit(app, "once", {"n": 2}, key="same")  # same key, other request
        other_user = await submit(app, "once", {"n": 1}, key="same",
                                  user=UserContext(user="bob"))
        assert other_user.id != runs[0].id
        await settle(app, other_user.id)
    assert calls == [1, 1]


# events


async def test_events_are_persisted_before_followers_see_them(recorded: Any) -> None:
    app = App(durable_store=recorded)
    gate = asyncio.Event()

    @app.agent_endpoint("/talk")
    async def talk(ctx: RunContext) -> str:
        await gate.wait()
        for i in range(300):
            await ctx.token(f"w{i}")
            if i % 10 == 0:
                await asyncio.sleep(0)  # let the flusher and the follower interleave
        await ctx.checkpoint({"i": 300})
        return "ok"

    seen_unpersisted: list[int] = []

    async with app.running():
        run = await submit(app, "talk")

        def check(batch: list[ev.RunEvent]) -> None:
            # Synchronously, as the batch is handed over: it must already be in the store.
            if batch[-1].seq > recorded.persisted.get(run.id, 0):
                seen_unpersisted.append(batch[-1].seq)

        follower = asyncio.create_task(collect(app, run.id, 0, check))
        await wait_for(lambda: app.engine.hub.followers(run.id) > 0, timeout=TIMEOUT)
        gate.set()
        followed = await asyncio.wait_for(follower, TIMEOUT)
        stored = await log_of(app.store, run.id)

    assert seen_unpersisted == []
    assert followed == stored
    assert_gapless(followed)
    assert tokens(followed) == [f"w{i}" for i in range(300)]
    assert followed[-1].type == "done"


@pytest.mark.parametrize("yield_every", [None, 7], ids=["no-yield", "yield-every-7"])
async def test_seq_gapless_under_a_fast_producer(store_url: str, yield_every: int | None
                                                 ) -> None:
    app = App(durable_store=store_url)
    gate = asyncio.Event()
    n = 20_000

    @app.agent_endpoint("/flood")
    async def flood(ctx: RunContext) -> int:
        await gate.wait()
        for i in range(n):
            await ctx.token(str(i))
            if yield_every and i % yield_every == 0:
                await asyncio.sleep(0)
        return n

    async with app.running():
        run = await submit(app, "flood")
        follower = asyncio.create_task(collect(app, run.id))
        await wait_for(lambda: app.engine.hub.followers(run.id) > 0, timeout=TIMEOUT)
        gate.set()
        followed = await asyncio.wait_for(follower, 10)
        late = await asyncio.wait_for(collect(app, run.id, 12_345), TIMEOUT)
        stored = await log_of(app.store, run.id)
        done = await app.engine.get(run.id)

    assert_gapless(followed)
    assert tokens(followed) == [str(i) for i in range(n)]
    assert followed == stored
    assert late == stored[12_345:]
    assert done.status == "completed" and done.last_seq == len(stored) == n + 3


# checkpoints


async def test_checkpoint_events_and_stored_state(store_url: str) -> None:
    app = App(durable_store=store_url)
    seen_state: list[Any] = []

    @app.agent_endpoint("/steps")
    async def steps(ctx: RunContext) -> list[str]:
        first = await ctx.checkpoint({"step": 1, "notes": ["ä", "b\nc"]}, {"node": "plan"})
        seen_state.append(ctx.state)
        await ctx.token("x")
        await ctx.add_cost({"input": 3, "output": 1}, {"usd": 0.5})
        second = await ctx.checkpoint({"step": 2}, {"node": "act"})
        seen_state.append(ctx.state)
        return [first, second]

    async with app.running():
        run = await submit(app, "steps")
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)
        latest = await app.store.latest_checkpoint(run.id)
        listed = await app.store.list_checkpoints(run.id)

    assert done.status == "completed"
    assert_gapless(events)
    cps = [e for e in events if e.type == "checkpoint"]
    assert [e.data["checkpoint_id"] for e in cps] == done.output
    assert [e.data["offset"] for e in cps] == [e.seq for e in cps]
    assert [e.data["metadata"] for e in cps] == [{"node": "plan"}, {"node": "act"}]
    assert seen_state == [{"step": 1, "notes": ["ä", "b\nc"]}, {"step": 2}]

    assert latest is not None
    assert latest.id == cps[1].data["checkpoint_id"] and latest.seq == cps[1].seq
    assert latest.state == {"step": 2} and latest.metadata == {"node": "act"}
    assert latest.usage["tokens"] == {"input": 3, "output": 1}
    assert [c.id for c in listed] == done.output
    assert listed[0].state == {"step": 1, "notes": ["ä", "b\nc"]} and listed[0].seq == cps[0].seq


# input


class Trip(BaseModel):
    city: str
    days: int


async def test_ask_pauses_and_resume_continues(recorded: Any) -> None:
    app = App(durable_store=recorded)
    answers: list[Any] = []

    @app.agent_endpoint("/plan")
    async def plan(name: str, ctx: RunContext) -> dict[str, Any]:
        await ctx.token(f"hello {name}")
        trip = await ctx.ask("Where to?", schema=Trip, details={"hint": "a city"})
        answers.append(trip)
        await ctx.token(f"{trip.city} for {trip.days} days")
        return {"city": trip.city, "days": trip.days}

    async with app.running():
        run = await submit(app, "plan", {"name": "ann"})
        paused = await settle(app, run.id)
        assert paused.status == "input_required"
        assert paused.lease_owner is None
        pending = paused.pending
        assert pending is not None and pending["prompt"] == "Where to?"
        assert pending["details"] == {"hint": "a city"}
        assert pending["key"]
        assert set(pending["schema"]["properties"]) == {"city", "days"}
        assert sorted(pending["schema"]["required"]) == ["city", "days"]
        events = await log_of(app.store, run.id)
        assert types(events)[-1] == "input_required"
        assert events[-1].data == pending

        for bad in ({"city": "Oslo"}, {"city": "Oslo", "days": "many"}, "Oslo", None):
            with pytest.raises(InvalidInput):
                await app.engine.resume(run.id, answer=bad, has_answer=True)
        with pytest.raises(InvalidInput):
            await app.engine.resume(run.id)  # no answer at all
        still = await app.engine.get(run.id)
        assert still.status == "input_required" and still.pending == pending
        assert still.answers == {}

        await app.engine.resume(run.id, answer={"city": "Oslo", "days": 3}, has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)
        with pytest.raises(Conflict):
            await app.engine.resume(run.id, answer={"city": "Oslo", "days": 3},
                                    has_answer=True)

    assert done.status == "completed" and done.output == {"city": "Oslo", "days": 3}
    assert done.pending is None and done.attempt == 2
    assert done.answers == {pending["key"]: {"city": "Oslo", "days": 3}}
    assert answers == [Trip(city="Oslo", days=3)]
    assert recorded.statuses[run.id] == ["running", "input_required", "queued",
                                         "running", "completed"]
    assert_gapless(events)
    assert tokens(events) == ["hello ann", "Oslo for 3 days"]
    resumed = [e for e in events if e.type == "status" and e.data.get("resumed")]
    assert len(resumed) == 1 and resumed[0].data["attempt"] == 2


async def test_ask_over_http(store_url: str) -> None:
    app = App(durable_store=store_url)

    @app.agent_endpoint("/confirm")
    async def confirm(ctx: RunContext) -> str:
        ok = await ctx.approve("Ship it?")
        return "shipped" if ok else "held"

    async with running_client(app) as client:
        r = await client.post("/confirm", json={})
        body = r.json()
        assert body["status"] == "input_required", body
        run_id = body["run_id"]
        assert body["input_request"]["prompt"] == "Ship it?"
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": "perhaps"})
        assert r.status_code == 422, r.text
        r = await client.post(f"/runs/{run_id}/resume", json={"approved": False})
        assert r.status_code == 200, r.text
        done = await settle(app, run_id)
    assert done.status == "completed" and done.output == "held"


# cancel


async def test_cancel_really_stops_user_code(recorded: Any) -> None:
    app = App(durable_store=recorded)
    steps: list[int] = []
    stopped: list[str] = []

    @app.agent_endpoint("/loop")
    async def loop(ctx: RunContext) -> None:
        try:
            while True:
                steps.append(len(steps))
                await ctx.token(f"step {len(steps)}")
                await asyncio.sleep(0.002)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    async with app.running():
        run = await submit(app, "loop")
        await wait_for(lambda: len(steps) >= 5, timeout=TIMEOUT)
        cancelled = await asyncio.wait_for(app.engine.cancel(run.id), TIMEOUT)
        assert stopped == ["cancelled"], "user code saw the cancellation"
        count = len(steps)
        # Give a still-running loop every chance to take another step (it steps every 2 ms).
        for _ in range(10):
            await asyncio.sleep(0.005)
        assert len(steps) == count, "no new steps after cancel"
        events = await log_of(app.store, run.id)
        with pytest.raises(Conflict):
            await app.engine.cancel(run.id)

    assert cancelled.status == "cancelled" and cancelled.lease_owner is None
    assert cancelled.finished_at is not None
    assert recorded.statuses[run.id] == ["running", "cancelled"]
    assert_gapless(events)
    assert events[-1].type == "done" and events[-1].data["status"] == "cancelled"
    assert len(tokens(events)) <= count


async def test_cancel_a_run_waiting_for_input(store_url: str) -> None:
    app = App(durable_store=store_url)

    @app.agent_endpoint("/wait")
    async def wait(ctx: RunContext) -> str:
        return await ctx.ask("answer?")

    async with app.running():
        run = await submit(app, "wait")
        assert (await settle(app, run.id)).status == "input_required"
        cancelled = await app.engine.cancel(run.id)
        events = await log_of(app.store, run.id)
        with pytest.raises(Conflict):
            await app.engine.resume(run.id, answer="late", has_answer=True)

    assert cancelled.status == "cancelled" and cancelled.pending is None
    assert_gapless(events)
    assert types(events)[-1] == "done" and events[-1].data["status"] == "cancelled"


# usage


async def test_usage_counters_summed_on_the_run(recorded: Any) -> None:
    app = App(durable_store=recorded)

    @app.agent_endpoint("/spend")
    async def spend(ctx: RunContext) -> str:
        await ctx.add_cost({"input": 10, "output": 5}, {"usd": 0.01}, model="m1")
        await ctx.add_cost({"input": 1, "output": 2}, {"usd": 0.02, "eur": 0.5}, model="m2")
        ok = await ctx.approve("more?")
        await ctx.add_cost({"input": 100}, {"usd": 0.1})
        return "ok" if ok else "no"

    async with app.running():
        run = await submit(app, "spend")
        paused = await settle(app, run.id)
        assert paused.usage == {"tokens": {"input": 11, "output": 7},
                                "amount": {"usd": 0.03, "eur": 0.5}}
        await app.engine.resume(run.id, answer={"approved": True}, has_answer=True)
        done = await settle(app, run.id)
        events = await log_of(app.store, run.id)

    assert done.status == "completed"
    assert done.usage == {"tokens": {"input": 111, "output": 7},
                          "amount": {"usd": 0.13, "eur": 0.5}}
    costs = [e for e in events if e.type == "cost"]
    assert len(costs) == 3, "replayed costs are not recorded (nor counted) twice"
    assert [c.data["model"] for c in costs] == ["m1", "m2", None]


async def test_api_only_process_accepts_runs_that_a_worker_process_executes(tmp_path: Any) -> None:
    """``worker=False`` (``fastagentic run --no-worker``): the run is accepted and stored, and a
    worker on the same store executes it; the API process still answers with the outcome."""
    target = f"sqlite:///{tmp_path / 'shared.db'}"
    executed_by: list[str] = []

    def build(worker: bool) -> App:
        app = App(durable_store=target, worker=worker, lease_ttl=0.3, poll_interval=0.05)

        @app.agent_endpoint("/echo")
        async def echo(text: str, ctx: RunContext) -> str:
            executed_by.append("worker" if worker else "api")
            return text.upper()

        return app

    api, worker = build(False), build(True)
    async with running_client(api) as client:
        accepted = await client.post("/echo", json={"text": "hi"},
                                     headers={"Prefer": "respond-async"})
        assert accepted.status_code == 202
        run_id = accepted.json()["run_id"]
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "queued"
        assert executed_by == []
        async with worker.running():
            settled = await client.post("/echo", json={"text": "hi"},
                                        headers={"Idempotency-Key": "k"})
            assert settled.json()["status"] == "completed"
            assert settled.json()["output"] == "HI"
            first = await wait_for(lambda: api.store.get_run(run_id), timeout=5)
            await wait_for(lambda: _completed(api, run_id), timeout=5)
    assert executed_by == ["worker", "worker"]
    assert first.id == run_id


async def _completed(app: App, run_id: str) -> bool:
    run = await app.store.get_run(run_id)
    return run is not None and run.status == "completed"


async def test_cancelling_a_sync_agent_discards_its_result(tmp_path: Any) -> None:
    """A sync agent runs in a thread Python cannot interrupt: the run is cancelled at once, the
    thread runs to its end in the background, and its result never becomes the output."""
    import threading

    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    @app.agent_endpoint("/blocking")
    def blocking(text: str) -> str:
        started.set()
        release.wait(5)
        returned.set()
        return text.upper()

    spec = app.registry.agents["blocking"]
    async with app.running():
        run, _ = await app.engine.submit(spec, spec.signature.validate_python({"text": "hi"}),
                                         ANONYMOUS)
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, started.wait, 5)
        cancelled = await asyncio.wait_for(app.engine.cancel(run.id), TIMEOUT)
        assert cancelled.status == "cancelled" and not returned.is_set()
        release.set()
        assert await loop.run_in_executor(None, returned.wait, 5)
        final = await app.store.get_run(run.id)
        events = await log_of(app.store, run.id)
    assert final is not None and final.status == "cancelled" and final.output is None
    assert [e.type for e in events].count("done") == 1
    assert events[-1].type == "done" and events[-1].data["status"] == "cancelled"


async def test_settling_event_is_never_published_before_the_run_state(tmp_path: Any) -> None:
    """A flush already queued for the sink's lock must not carry ``input_required`` (or
    ``done``) out ahead of the status change: whoever sees the event sees the new status."""
    from fastagentic.stores.sqlite import SQLiteStore

    class SlowAppends(SQLiteStore):
        async def append_events(self, run_id: str, events: Any) -> None:
            await asyncio.sleep(0.05)  # the background flusher queues up meanwhile
            await super().append_events(run_id, events)

    store = SlowAppends(f"sqlite:///{tmp_path / 'runs.db'}")
    app = App(durable_store=store)

    @app.agent_endpoint("/approve")
    async def approve(ctx: RunContext) -> bool:
        await ctx.token("about to ask")
        await ctx.checkpoint({"asked": True})
        return await ctx.approve("ok?")

    spec = app.registry.agents["approve"]
    async with app.running():
        run, _ = await app.engine.submit(spec, spec.signature.validate_python({}), ANONYMOUS)
        seen_status = {}
        async for batch in app.engine.follow(run.id, 0, until=frozenset({"input_required"})):
            for event in batch:
                if event.type in ("input_required", "done"):
                    record = await app.store.get_run(run.id)
                    seen_status[event.type] = record.status if record else None
        assert seen_status == {"input_required": "input_required"}
        await app.engine.resume(run.id, answer={"approved": True}, has_answer=True)
        async for batch in app.engine.follow(run.id, 0):
            for event in batch:
                if event.type == "done":
                    record = await app.store.get_run(run.id)
                    seen_status["done"] = record.status if record else None
        assert seen_status["done"] == "completed"
    await store.close()


async def test_cancel_before_the_run_got_going(tmp_path: Any) -> None:
    """Cancelled in the same breath as it was accepted: its task never ran, and the run must
    still end cancelled (with its done event), not stay queued."""
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    started: list[bool] = []

    @app.agent_endpoint("/work")
    async def work(ctx: RunContext) -> str:
        started.append(True)
        return "done"

    spec = app.registry.agents["work"]
    async with app.running():
        run, _ = await app.engine.submit(spec, spec.signature.validate_python({}), ANONYMOUS)
        cancelled = await app.engine.cancel(run.id)  # no await in between: the task has not run
        events = await log_of(app.store, run.id)
    assert cancelled.status == "cancelled" and started == []
    assert [e.type for e in events] == ["run_started", "status", "done"]
    assert events[-1].data["status"] == "cancelled"
