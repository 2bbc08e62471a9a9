"""Redis specifics: prefixes isolate stores on one server, signals cross store instances and
survive a dropped connection, claiming is exclusive across instances, kv expiry is reflected
in counts and listings, and pruning leaves no keys behind."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from conftest import REDIS_HOST, REDIS_PORT, isolated_store_url, wait_for

from fastagentic.core.events import RunEvent
from fastagentic.core.runs import COMPLETED, Checkpoint, LedgerEntry
from fastagentic.exceptions import ConfigurationError
from fastagentic.stores.factory import store_from_url
from fastagentic.stores.redis import RedisStore, split_url
from fastagentic.testing.store_contract import make_events, make_run


@pytest.fixture
async def server() -> AsyncIterator[aioredis.Redis]:
    """A plain client on the test server (for looking at keys and killing connections)."""
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    yield client
    await client.aclose()


@pytest.fixture
async def open_store(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[RedisStore]]]:
    """``await open_store()``: a store on a fresh prefix; ``await open_store(url)``: another
    instance of that store.  All are closed, and every prefix's keys deleted, afterwards."""
    stores: list[RedisStore] = []
    with contextlib.ExitStack() as prefixes:

        async def open_(url: str | None = None) -> RedisStore:
            url = url or prefixes.enter_context(isolated_store_url("redis", tmp_path))
            store = store_from_url(url)
            assert isinstance(store, RedisStore)
            await store.open()
            stores.append(store)
            return store

        yield open_
        for store in stores:
            await store.close()


def base_of(store: RedisStore) -> str:
    return f"{store.prefix}:{{{store.prefix}}}:"


async def keys_of(server: aioredis.Redis, store: RedisStore) -> set[str]:
    return {key.decode() async for key in server.scan_iter(match=f"{store.prefix}:*",
                                                          count=1000)}


def test_url_prefix_is_stripped_and_checked() -> None:
    assert split_url("redis://h:1/2?prefix=app&socket_timeout=5") == \
        ("app", "redis://h:1/2?socket_timeout=5")
    assert split_url("rediss://h/0") == ("fastagentic", "rediss://h/0")
    for bad in ("redis://h/0?prefix=", "redis://h/0?prefix=a{b}", "http://h/0"):
        with pytest.raises(ConfigurationError):
            split_url(bad)


async def test_prefixes_isolate_runs_kv_and_signals(open_store, server) -> None:
    one, two = await open_store(), await open_store()
    heard: dict[str, list[str]] = {"one": [], "two": []}
    await one.listen(lambda kind, run_id, seq, events: heard["one"].append(run_id))
    await two.listen(lambda kind, run_id, seq, events: heard["two"].append(run_id))

    run = make_run(idempotency_key="same")
    await one.create_run(run, make_events(run.id, 1, 2))
    await one.kv_put("ns", "k", "one's")
    assert await two.get_run(run.id) is None
    assert await two.list_runs(limit=100) == []
    assert await two.read_events(run.id) == []
    assert await two.kv_get("ns", "k") is None and await two.kv_count("ns") == 0
    assert await two.claim_next("w", 30) == []
    twin = make_run(id=run.id, principal=run.principal, idempotency_key="same")
    assert (await two.create_run(twin))[1] is True, "ids and idempotency keys are per prefix"

    await one.signal("queue", "last-of-one")
    await two.signal("queue", "last-of-two")
    await wait_for(lambda: "last-of-one" in heard["one"] and "last-of-two" in heard["two"])
    assert heard["one"] == [run.id, "last-of-one"]
    assert heard["two"] == ["last-of-two"]

    for store in (one, two):
        keys = await keys_of(server, store)
        anywhere = {key.decode() async for key in server.scan_iter(match=f"*{store.prefix}*")}
        assert keys and anywhere == keys, "every key of a store starts with its prefix"


async def test_signal_reaches_a_listener_on_another_instance(open_store) -> None:
    writer = await open_store()
    reader = await open_store(writer.url)
    got: list[tuple[str, str, int]] = []
    arrived = asyncio.Event()

    carried: list[RunEvent] = []

    def handler(kind: str, run_id: str, seq: int, events: Sequence[RunEvent]) -> None:
        got.append((kind, run_id, seq))
        carried.extend(events)
        arrived.set()

    await reader.listen(handler)
    run = make_run()
    await writer.create_run(run)
    batch = make_events(run.id, 1, 3)
    await writer.append_events(run.id, batch)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert got == [("events", run.id, 3)]
    assert carried == batch, "a small batch travels with its signal"
    arrived.clear()
    big = make_events(run.id, 4, 1, text="x" * 40_000)
    await writer.append_events(run.id, big)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert got[-1] == ("events", run.id, 4) and carried == batch, "a big one is only announced"
    arrived.clear()
    await writer.signal("cancel", run.id, 3)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert got[-1] == ("cancel", run.id, 3)


async def test_listener_reconnects_after_its_connection_is_killed(open_store, server) -> None:
    store = await open_store()
    sender = await open_store(store.url)
    got: list[str] = []
    await store.listen(lambda kind, run_id, seq, events: got.append(run_id))

    # The listener's subscription (CLIENT KILL TYPE pubsub, narrowed to this store's
    # connections so that other users of the server keep theirs).
    name = f"fastagentic:{store.prefix}"
    mine = [c for c in await server.client_list(_type="pubsub") if c["name"] == name]
    assert len(mine) == 1
    assert await server.client_kill_filter(_id=mine[0]["id"]) == 1

    # Signals sent while it reconnects may be lost (they only wake); keep sending until one
    # arrives.
    deadline = time.monotonic() + 10
    sent = 0
    while "after-kill" not in got:
        assert time.monotonic() < deadline, "the listener did not come back"
        await sender.signal("queue", "after-kill", sent)
        sent += 1
        await asyncio.sleep(0.05)
    again = [c for c in await server.client_list(_type="pubsub") if c["name"] == name]
    assert len(again) == 1 and again[0]["id"] != mine[0]["id"], "a new subscription"


async def test_concurrent_claims_from_several_instances_never_overlap(open_store) -> None:
    first = await open_store()
    workers = [first, *[await open_store(first.url) for _ in range(3)]]
    base = time.time() - 100
    runs = [make_run(tenant=f"t{i % 5}", created_at=base + i) for i in range(80)]
    for run in runs:
        await first.create_run(run)

    async def drain(store: RedisStore, owner: str) -> list[str]:
        taken: list[str] = []
        while batch := await store.claim_next(owner, 30, limit=3):
            assert all(r.lease_owner == owner and r.attempt == 1 for r in batch)
            taken += [r.id for r in batch]
        return taken

    results = await asyncio.gather(*(drain(s, f"w{i}") for i, s in enumerate(workers)))
    claimed = [run_id for taken in results for run_id in taken]
    assert sorted(claimed) == sorted(r.id for r in runs), "every run claimed exactly once"
    assert all(results), "every instance got work"
    for taken, owner in zip(results, ("w0", "w1", "w2", "w3"), strict=True):
        for run_id in taken[:5]:
            got = await first.get_run(run_id)
            assert got is not None and got.lease_owner == owner and got.attempt == 1


async def test_turns_are_shared_by_instances(open_store) -> None:
    one = await open_store()
    two = await open_store(one.url)
    base = time.time() - 100
    a = [make_run(tenant="a", created_at=base + i) for i in range(3)]
    b = [make_run(tenant="b", created_at=base + 10)]
    for run in [*a, *b]:
        await one.create_run(run)
    assert [r.id for r in await one.claim_next("w1", 30, limit=1)] == [a[0].id]
    assert [r.id for r in await two.claim_next("w2", 30, limit=1)] == [b[0].id], \
        "the other instance knows tenant a was just served"
    assert [r.id for r in await two.claim_next("w2", 30, limit=5)] == [a[1].id, a[2].id]


async def test_kv_expiry_shows_in_count_and_list(open_store, server) -> None:
    store = await open_store()
    await store.kv_put("sessions", "keep", {"v": 1})
    await store.kv_put("sessions", "brief-1", {"v": 2}, ttl=0.1)
    await store.kv_put_new("sessions", "brief-2", {"v": 3}, ttl=0.1)
    assert await store.kv_add("sessions", "brief-3", 5, ttl=0.1) == 5
    await store.kv_put("sessions", "touched", {"v": 4}, ttl=0.1)
    assert await store.kv_touch("sessions", "touched", 60) is True
    assert await store.kv_count("sessions") == 5

    async def expired() -> bool:
        return await store.kv_count("sessions") == 2

    await wait_for(expired, timeout=5)
    assert [k for k, _ in await store.kv_list("sessions")] == ["keep", "touched"]
    assert await store.kv_list("sessions", "brief") == []
    # The indexes let go of the expired keys too (nothing grows without bound).
    keys = await keys_of(server, store)
    index = [k for k in keys if k.startswith(base_of(store) + "ki:")]
    assert len(index) == 1 and await server.zcard(index[0]) == 2
    assert not [k for k in keys if "brief" in k]
    assert await store.kv_delete_prefix("sessions", "") == 2
    assert not [k for k in await keys_of(server, store) if k.startswith(base_of(store) + "k")]


async def test_a_pruned_record_leaves_no_keys(open_store, server) -> None:
    store = await open_store()
    baseline = await keys_of(server, store)
    run = make_run(tenant="acme", idempotency_key="once")
    await store.create_run(run, make_events(run.id, 1, 2))
    assert [r.id for r in await store.claim_next("w", 30)] == [run.id]
    await store.append_events(run.id, make_events(run.id, 3, 1))
    await store.put_checkpoint(Checkpoint(id="cp", run_id=run.id, seq=3, state={"s": 1}))
    await store.ledger_put(LedgerEntry(run.id, "call", "tool", output=1))
    await store.update_run(run.id, status=COMPLETED, finished_at=time.time(), lease_owner=None)
    assert await store.prune_run(run.id, record=True) is True
    left = await keys_of(server, store) - baseline
    # What remains is the memory of whom claim_next served (and its clock).
    assert {k.rsplit(":", 1)[1] for k in left} == {"served", "serial"}, left
    again = make_run(principal=run.principal, idempotency_key="once")
    assert (await store.create_run(again))[1] is True, "the idempotency key is free again"


async def test_a_cancelled_caller_stops_whatever_the_command_was_doing(open_store) -> None:
    """A run or request cancelled while its store call is on the wire must stop (redis-py's
    socket timeout would wrap the write in ``asyncio.wait_for``, which on Python 3.11 loses
    a cancellation that lands as the write finishes: the caller went on)."""
    store = await open_store()
    run = make_run()
    await store.create_run(run)

    async def busy(stop: asyncio.Event) -> None:
        while not stop.is_set():  # a run's steady traffic: writes and reads
            await store.kv_put("busy", "k", 1)
            await store.get_run(run.id)

    went_on = 0
    for attempt in range(300):
        stop = asyncio.Event()
        task = asyncio.create_task(busy(stop))
        for _ in range(attempt % 13 + 1):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=0.5)
        if not done:
            went_on += 1
            stop.set()
            await asyncio.wait([task], timeout=2)
    assert went_on == 0, f"{went_on} of 300 cancelled callers went on"
    assert (await store.get_run(run.id)) is not None, "the store still answers"


async def test_commands_are_bounded_by_the_urls_socket_timeout(open_store, tmp_path) -> None:
    with isolated_store_url("redis", tmp_path) as url:
        store = await open_store(url + "&socket_timeout=2.5")
        assert store.command_timeout == 2.5
        pool_kwargs = store._redis.connection_pool.connection_kwargs
        assert pool_kwargs["socket_timeout"] is None, "the caller bounds commands instead"


async def test_warm_opens_the_connections_up_front(open_store, server) -> None:
    """A worker warms its store before it claims anything: its first runs find their
    connections open."""
    store = await open_store()
    name = f"fastagentic:{store.prefix}"

    async def connections() -> int:
        return len([c for c in await server.client_list(_type="normal") if c["name"] == name])

    assert await connections() <= 1
    await store.warm(6)
    assert await connections() == 6
    await store.warm(4)  # fewer: the open ones stay
    assert await connections() == 6
