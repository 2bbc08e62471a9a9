"""The store contract: what every :class:`~fastagentic.stores.base.Store` backend must do.

Each ``check_*`` coroutine takes a fresh, opened, empty store and raises ``AssertionError``
when the backend breaks the contract.  ``CHECKS`` lists them all; a backend's test suite runs
every check against it::

    @pytest.fixture
    async def store(store_url):
        store = store_from_url(store_url)
        await store.open()
        yield store
        await store.close()

    @pytest.mark.parametrize("check", CHECKS, ids=check_id)
    async def test_store_contract(store, check):
        await check(store)

A new backend (Redis, PostgreSQL) plugs in by adding its URL to the ``store_url`` fixture.
The checks only use the public ``Store`` interface, and scope what they list by a principal
or endpoint of their own, so they also hold on a database that other checks wrote to (except
the claiming and retention checks, which need a store with no other runs).
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..core import events as ev
from ..core.events import RunEvent
from ..core.runs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    INPUT_REQUIRED,
    QUEUED,
    RUNNING,
    Checkpoint,
    LedgerEntry,
    RunRecord,
)
from ..exceptions import Conflict
from ..stores.base import EVENTS_SIGNAL, RawJson, Store

Check = Callable[[Store], Awaitable[None]]

# Payload text that must survive every backend byte for byte.
AWKWARD_TEXT = (
    "héllo wörld — ünïcödé ✓ 日本語 中文 한국어 العربية עברית \u202e(rtl)\u202c "
    "emoji 🌍🚀👩\u200d👩\u200d👧 combining e\u0301 "
    'quotes "double" \'single\' `back` backslash \\ slash / '
    "newline\nCRLF\r\ntab\tNUL\x00bell\x07 "
    "json-ish {\"a\": [1, 2]} </script> -- ; DROP TABLE runs;"
)
AWKWARD_VALUE: dict[str, Any] = {
    "text": AWKWARD_TEXT,
    "ключ 🔑": ["list", 1, 2.5, None, True, False, {"nested": {"deep": [AWKWARD_TEXT]}}],
    "numbers": {"zero": 0, "neg": -17, "big": 2**53 + 1, "float": 0.1, "tiny": 1e-300,
                "huge": 1.7976931348623157e308, "third": 1 / 3},
    "empty": {"s": "", "l": [], "d": {}},
}


def check_id(check: Check) -> str:
    return check.__name__.removeprefix("check_")


def _uid(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:12]


def make_run(**fields: Any) -> RunRecord:
    """A queued run with a unique id (and a unique principal unless given)."""
    values: dict[str, Any] = {
        "id": _uid("run_"),
        "endpoint": "chat",
        "status": QUEUED,
        "input": {"message": "hi"},
        "principal": _uid("tenant/user-"),
    }
    values.update(fields)
    return RunRecord(**values)


def make_events(run_id: str, first: int, count: int, type_: str = ev.TOKEN,
                **data: Any) -> list[RunEvent]:
    return [
        ev.encode(run_id, seq, type_, time.time(), {"content": f"t{seq}", **data})
        for seq in range(first, first + count)
    ]


async def _seqs(store: Store, run_id: str) -> list[int]:
    return [e.seq for e in await store.read_events(run_id, 0, 100_000)]


async def _expect_conflict(awaitable: Awaitable[Any], what: str) -> None:
    try:
        await awaitable
    except Conflict:
        return
    raise AssertionError(f"{what}: expected Conflict, nothing was raised")


# runs


async def check_ping(store: Store) -> None:
    await store.ping()


async def check_create_get_round_trip(store: Store) -> None:
    now = time.time()
    run = RunRecord(
        id=_uid("run_"),
        endpoint="support/triage",
        status=RUNNING,
        input={"message": "hello", "items": [1, 2, {"x": None}], "flag": True},
        principal=_uid("acme/alice-"),
        user="alice",
        tenant="acme",
        output={"answer": 42, "text": "done"},
        error={"code": "boom", "message": "it broke", "details": [{"loc": ["a"]}]},
        created_at=now - 100.125,
        updated_at=now - 50.5,
        started_at=now - 99.0,
        finished_at=now - 1.25,
        attempt=3,
        lease_owner="host:1234:abcd",
        lease_expires_at=now + 30.5,
        last_seq=0,
        pending={"key": "ask-1", "prompt": "ok?", "schema": {"type": "boolean"},
                 "details": None},
        answers={"ask-0": {"approved": True, "comment": "fine"}},
        usage={"tokens": {"input": 10, "output": 5}, "amount": {"usd": 0.0125}},
        idempotency_key="key-1",
        request_hash="f" * 64,
        cancel_requested=True,
    )
    expected = copy.deepcopy(run.to_dict())
    stored, created = await store.create_run(run)
    assert created is True
    assert stored.to_dict() == expected
    # The store holds its own copy: mutating the caller's objects changes nothing.
    run.input["message"] = "mutated"
    stored.usage["tokens"]["input"] = -1
    got = await store.get_run(run.id)
    assert got is not None
    assert got.to_dict() == expected, "every RunRecord field survives create/get"
    got.answers["x"] = 1
    again = await store.get_run(run.id)
    assert again is not None and again.to_dict() == expected

    minimal = make_run()
    expected_minimal = copy.deepcopy(minimal.to_dict())
    await store.create_run(minimal)
    got_minimal = await store.get_run(minimal.id)
    assert got_minimal is not None and got_minimal.to_dict() == expected_minimal

    assert await store.get_run(_uid("run_missing_")) is None


async def check_create_run_refuses_duplicate_id(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    await _expect_conflict(store.create_run(make_run(id=run.id, input={"other": 1})),
                           "a second run with an existing id")
    got = await store.get_run(run.id)
    assert got is not None and got.input == run.input


async def check_create_run_with_first_events(store: Store) -> None:
    run = make_run()
    events = make_events(run.id, 1, 2, ev.STATUS)
    stored, created = await store.create_run(run, events)
    assert created is True and stored.last_seq == 2
    assert [e.seq for e in await store.read_events(run.id)] == [1, 2]
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 2
    await store.append_events(run.id, make_events(run.id, 3, 1))
    assert [e.seq for e in await store.read_events(run.id)] == [1, 2, 3]
    # An idempotent repeat writes nothing: the first run and its events are as they were.
    principal = _uid("t/first-")
    first = make_run(principal=principal, idempotency_key="k")
    await store.create_run(first, make_events(first.id, 1, 1))
    second = make_run(principal=principal, idempotency_key="k")
    again, created_again = await store.create_run(second, make_events(second.id, 1, 3))
    assert created_again is False and again.id == first.id
    assert [e.seq for e in await store.read_events(first.id)] == [1]
    assert await store.read_events(second.id) == []
    # Events that do not start at 1 are refused, and no run is left behind.
    bad = make_run()
    await _expect_conflict(store.create_run(bad, make_events(bad.id, 2, 1)),
                           "first events that do not start at seq 1")
    assert await store.get_run(bad.id) is None


async def check_idempotency_same_principal_same_run(store: Store) -> None:
    principal = _uid("t/u-")
    first = make_run(principal=principal, idempotency_key="k1", input={"n": 1})
    stored, created = await store.create_run(first)
    assert created is True and stored.id == first.id

    second = make_run(principal=principal, idempotency_key="k1", input={"n": 2})
    again, created_again = await store.create_run(second)
    assert created_again is False
    assert again.id == first.id
    assert again.input == {"n": 1}, "the existing run is returned, not the new request"
    assert await store.get_run(second.id) is None, "no second run was stored"
    runs = await store.list_runs(principal=principal)
    assert [r.id for r in runs] == [first.id]


async def check_idempotency_scoped_per_principal(store: Store) -> None:
    a = make_run(principal=_uid("t/a-"), idempotency_key="shared-key")
    b = make_run(principal=_uid("t/b-"), idempotency_key="shared-key")
    ra, ca = await store.create_run(a)
    rb, cb = await store.create_run(b)
    assert ca is True and cb is True
    assert ra.id == a.id and rb.id == b.id and ra.id != rb.id
    assert await store.get_run(a.id) is not None
    assert await store.get_run(b.id) is not None


async def check_no_idempotency_key_always_creates(store: Store) -> None:
    principal = _uid("t/u-")
    results = [await store.create_run(make_run(principal=principal)) for _ in range(3)]
    assert all(created for _, created in results)
    assert len({r.id for r, _ in results}) == 3
    assert len(await store.list_runs(principal=principal)) == 3


async def check_idempotency_concurrent_create(store: Store) -> None:
    principal = _uid("t/u-")
    candidates = [make_run(principal=principal, idempotency_key="race", input={"i": i})
                  for i in range(50)]
    results = await asyncio.gather(*(store.create_run(r) for r in candidates))
    created = [r for r, c in results if c]
    assert len(created) == 1, f"{len(created)} of 50 racing create_run calls created a run"
    winner = created[0]
    assert all(r.id == winner.id for r, _ in results), "every caller gets the same run"
    assert [r.id for r in await store.list_runs(principal=principal)] == [winner.id]
    losers = [c.id for c in candidates if c.id != winner.id]
    for run_id in losers[:5]:
        assert await store.get_run(run_id) is None


async def check_concurrent_create_distinct_keys(store: Store) -> None:
    principal = _uid("t/u-")
    results = await asyncio.gather(*(
        store.create_run(make_run(principal=principal, idempotency_key=f"k{i}"))
        for i in range(20)))
    assert all(created for _, created in results)
    assert len(await store.list_runs(principal=principal, limit=100)) == 20


async def check_update_run(store: Store) -> None:
    run = make_run(created_at=time.time() - 10, updated_at=time.time() - 10)
    await store.create_run(run)
    before = time.time()
    updated = await store.update_run(
        run.id, status=COMPLETED, output={"text": "ok"}, error=None, finished_at=before,
        usage={"tokens": {"input": 3}}, pending=None, answers={"k": [1, "two"]},
        cancel_requested=True)
    assert updated is not None
    assert updated.status == COMPLETED and updated.output == {"text": "ok"}
    assert updated.answers == {"k": [1, "two"]} and updated.cancel_requested is True
    assert updated.updated_at >= before - 1, "update_run refreshes updated_at"
    got = await store.get_run(run.id)
    assert got is not None and got.to_dict() == updated.to_dict()
    assert got.input == run.input and got.created_at == run.created_at
    # Status changes are seen by the filters and the lease sweeper.
    assert [r.id for r in await store.list_runs(principal=run.principal, status=COMPLETED)] \
        == [run.id]
    assert await store.list_runs(principal=run.principal, status=QUEUED) == []
    assert await store.update_run(_uid("run_missing_"), status=FAILED) is None


async def check_update_run_expectations(store: Store) -> None:
    run = make_run(status=RUNNING, attempt=2)
    await store.create_run(run)
    original = (await store.get_run(run.id)).to_dict()  # type: ignore[union-attr]

    assert await store.update_run(run.id, expect_attempt=1, status=FAILED) is None
    assert await store.update_run(run.id, expect_attempt=3, output="x") is None
    assert await store.update_run(run.id, expect_status={QUEUED, INPUT_REQUIRED},
                                  status=COMPLETED) is None
    assert await store.update_run(run.id, expect_attempt=2, expect_status={QUEUED},
                                  status=COMPLETED) is None
    assert await store.update_run(run.id, expect_attempt=1, expect_status={RUNNING},
                                  status=COMPLETED) is None
    got = await store.get_run(run.id)
    assert got is not None and got.to_dict() == original, "a refused update changes nothing"

    ok = await store.update_run(run.id, expect_attempt=2, expect_status={RUNNING, QUEUED},
                                status=COMPLETED, output="done")
    assert ok is not None and ok.status == COMPLETED and ok.output == "done"
    assert await store.update_run(run.id, expect_status={RUNNING}, status=FAILED) is None
    got = await store.get_run(run.id)
    assert got is not None and got.status == COMPLETED


async def check_list_runs_newest_first_and_filters(store: Store) -> None:
    principal, other = _uid("t/p-"), _uid("t/q-")
    endpoint = _uid("ep_")
    base = time.time() - 1000
    mine = []
    for i in range(6):
        run = make_run(principal=principal, created_at=base + i,
                       endpoint=endpoint if i % 2 else "other_ep",
                       status=COMPLETED if i % 3 == 0 else QUEUED)
        await store.create_run(run)
        mine.append(run)
    theirs = make_run(principal=other, created_at=base + 3.5, endpoint=endpoint)
    await store.create_run(theirs)

    listed = await store.list_runs(principal=principal)
    assert [r.id for r in listed] == [r.id for r in reversed(mine)], "newest first"
    assert listed[0].to_dict() == mine[-1].to_dict()

    by_status = await store.list_runs(principal=principal, status=COMPLETED)
    assert [r.id for r in by_status] == [mine[3].id, mine[0].id]
    by_endpoint = await store.list_runs(endpoint=endpoint)
    assert [r.id for r in by_endpoint] == [mine[5].id, theirs.id, mine[3].id, mine[1].id]
    both = await store.list_runs(principal=principal, endpoint=endpoint, status=QUEUED)
    assert [r.id for r in both] == [mine[5].id, mine[1].id]
    assert await store.list_runs(principal=_uid("t/nobody-")) == []
    assert [r.id for r in await store.list_runs(principal=principal, limit=2)] \
        == [mine[5].id, mine[4].id]

    everything = await store.list_runs(limit=1000)
    ours = [r.id for r in everything if r.id in {m.id for m in mine} | {theirs.id}]
    assert ours == [mine[5].id, mine[4].id, theirs.id, mine[3].id, mine[2].id, mine[1].id,
                    mine[0].id]
    created = [r.created_at for r in everything]
    assert created == sorted(created, reverse=True)


async def _page_all(store: Store, principal: str, page: int) -> list[RunRecord]:
    out: list[RunRecord] = []
    before: tuple[float, str] | None = None
    for _ in range(1000):
        batch = await store.list_runs(principal=principal, limit=page, before=before)
        out.extend(batch)
        if len(batch) < page:
            return out
        before = (batch[-1].created_at, batch[-1].id)
    raise AssertionError("pagination does not end")


async def check_list_runs_keyset_pagination(store: Store) -> None:
    principal = _uid("t/p-")
    base = time.time() - 500
    runs = [make_run(principal=principal, created_at=base + i * 0.001) for i in range(23)]
    for run in runs:
        await store.create_run(run)
    for page in (1, 4, 5, 23, 50):
        listed = await _page_all(store, principal, page)
        assert [r.id for r in listed] == [r.id for r in reversed(runs)], f"page size {page}"


async def check_list_runs_keyset_pagination_equal_created_at(store: Store) -> None:
    principal = _uid("t/p-")
    same = time.time() - 200
    runs = [make_run(principal=principal, created_at=same) for _ in range(9)]
    runs += [make_run(principal=principal, created_at=same + 1) for _ in range(3)]
    runs += [make_run(principal=principal, created_at=same - 1) for _ in range(3)]
    for run in runs:
        await store.create_run(run)
    everything = await store.list_runs(principal=principal, limit=100)
    assert len(everything) == 15
    keys = [(r.created_at, r.id) for r in everything]
    assert keys == sorted(keys, reverse=True), "ties on created_at are ordered by id"
    for page in (1, 2, 4, 7):
        listed = await _page_all(store, principal, page)
        ids = [r.id for r in listed]
        assert len(ids) == len(set(ids)) == 15, f"page size {page}: every run exactly once"
        assert ids == [r.id for r in everything]


# leases


async def check_claim_run(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    before = time.time()
    claimed = await store.claim_run(run.id, "owner-a", 30, statuses={QUEUED})
    assert claimed is not None
    assert claimed.lease_owner == "owner-a" and claimed.attempt == 1
    assert claimed.lease_expires_at is not None
    assert before + 29 <= claimed.lease_expires_at <= time.time() + 31
    got = await store.get_run(run.id)
    assert got is not None and got.lease_owner == "owner-a" and got.attempt == 1

    # A live lease is not taken, by anyone (the owner included).
    assert await store.claim_run(run.id, "owner-b", 30, statuses={QUEUED}) is None
    assert await store.claim_run(run.id, "owner-a", 30, statuses={QUEUED}) is None
    got = await store.get_run(run.id)
    assert got is not None and got.lease_owner == "owner-a" and got.attempt == 1

    # Expired: another owner takes it and the attempt is bumped.
    await store.update_run(run.id, lease_expires_at=time.time() - 1)
    taken = await store.claim_run(run.id, "owner-b", 30, statuses={QUEUED, RUNNING})
    assert taken is not None and taken.lease_owner == "owner-b" and taken.attempt == 2

    # A released lease (no owner) is free.
    await store.update_run(run.id, lease_owner=None, lease_expires_at=None)
    taken = await store.claim_run(run.id, "owner-c", 30, statuses={QUEUED})
    assert taken is not None and taken.lease_owner == "owner-c" and taken.attempt == 3

    assert await store.claim_run(_uid("run_missing_"), "x", 30, statuses={QUEUED}) is None


async def check_claim_run_only_from_given_statuses(store: Store) -> None:
    for status in (QUEUED, RUNNING, INPUT_REQUIRED, COMPLETED, FAILED, CANCELLED):
        run = make_run(status=status)
        await store.create_run(run)
        others = {QUEUED, RUNNING, INPUT_REQUIRED, COMPLETED, FAILED, CANCELLED} - {status}
        assert await store.claim_run(run.id, "w", 30, statuses=others) is None, status
        assert await store.claim_run(run.id, "w", 30, statuses=set()) is None, status
        got = await store.get_run(run.id)
        assert got is not None and got.lease_owner is None and got.attempt == 0, status
        claimed = await store.claim_run(run.id, "w", 30, statuses={status})
        assert claimed is not None and claimed.status == status and claimed.attempt == 1


async def check_claim_run_concurrent(store: Store) -> None:
    for _ in range(5):
        run = make_run()
        await store.create_run(run)
        owners = [f"owner-{i}" for i in range(2)]
        results = await asyncio.gather(*(
            store.claim_run(run.id, owner, 30, statuses={QUEUED}) for owner in owners))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, "exactly one of two racing claims wins"
        got = await store.get_run(run.id)
        assert got is not None
        assert got.lease_owner == winners[0].lease_owner and got.attempt == 1


async def check_claim_next(store: Store) -> None:
    now = time.time()
    past, future = now - 5, now + 300
    takeable = {
        "queued_free": make_run(status=QUEUED),
        "queued_expired": make_run(status=QUEUED, lease_owner="dead", lease_expires_at=past,
                                   attempt=1),
        "running_expired": make_run(status=RUNNING, lease_owner="dead", lease_expires_at=past,
                                    attempt=2),
        "running_released": make_run(status=RUNNING, attempt=1),
    }
    kept = {
        "running_live": make_run(status=RUNNING, lease_owner="alive", lease_expires_at=future,
                                 attempt=1),
        "queued_live": make_run(status=QUEUED, lease_owner="alive", lease_expires_at=future,
                                attempt=1),
        "input_required": make_run(status=INPUT_REQUIRED),
        "input_required_expired": make_run(status=INPUT_REQUIRED, lease_owner="dead",
                                           lease_expires_at=past, attempt=1),
        "completed": make_run(status=COMPLETED),
        "failed": make_run(status=FAILED, lease_owner="dead", lease_expires_at=past),
        "cancelled": make_run(status=CANCELLED),
    }
    for run in [*takeable.values(), *kept.values()]:
        await store.create_run(run)

    claimed = await store.claim_next("sweeper", 30, limit=100)
    by_id = {r.id: r for r in claimed}
    assert set(by_id) == {r.id for r in takeable.values()}, (
        "claimed: " + ", ".join(sorted(
            name for name, r in {**takeable, **kept}.items() if r.id in by_id)))
    for run in takeable.values():
        got = await store.get_run(run.id)
        assert got is not None and got.lease_owner == "sweeper"
        assert got.attempt == run.attempt + 1 == by_id[run.id].attempt
        assert got.lease_expires_at is not None and got.lease_expires_at > time.time() + 20
        assert got.status == run.status, "claiming does not change the status"
    for run in kept.values():
        got = await store.get_run(run.id)
        assert got is not None
        assert (got.lease_owner, got.attempt) == (run.lease_owner, run.attempt)

    assert await store.claim_next("sweeper-2", 30, limit=100) == [], \
        "runs just claimed hold a live lease"


async def check_claim_next_limit_and_concurrency(store: Store) -> None:
    runs = [make_run(created_at=time.time() - 100 + i) for i in range(12)]
    for run in runs:
        await store.create_run(run)
    first = await store.claim_next("a", 30, limit=3)
    assert len(first) == 3
    rest = await asyncio.gather(store.claim_next("b", 30, limit=100),
                                store.claim_next("c", 30, limit=100))
    ids = [r.id for r in first] + [r.id for batch in rest for r in batch]
    assert sorted(ids) == sorted(r.id for r in runs), "each run is claimed exactly once"
    for batch, owner in zip(rest, ("b", "c"), strict=True):
        for run in batch:
            got = await store.get_run(run.id)
            assert got is not None and got.lease_owner == owner and got.attempt == 1


async def check_claim_next_fair_across_tenants(store: Store) -> None:
    t0 = time.time() - 1000
    noisy, quiet = _uid("noisy-"), _uid("quiet-")
    loner = _uid("anon/")  # no tenant: its principal is its turn
    a = [make_run(tenant=noisy, principal=f"{noisy}/u{i % 3}", created_at=t0 + i)
         for i in range(10)]
    p = [make_run(tenant=None, principal=loner, created_at=t0 + 20 + i) for i in range(2)]
    b = [make_run(tenant=quiet, principal=f"{quiet}/u", created_at=t0 + 30)]
    for run in [*a, *p, *b]:
        await store.create_run(run)

    async def take(limit: int) -> list[str]:
        return [r.id for r in await store.claim_next("w", 30, limit=limit)]

    # Never-served keys first, the one with the oldest waiting run leading; a tenant's runs
    # (whichever of its users started them) share one turn, oldest first.
    assert await take(1) == [a[0].id]
    assert await take(1) == [p[0].id], "the principal without a tenant gets the next turn"
    assert await take(1) == [b[0].id], "the quiet tenant is not starved by the noisy one"
    assert await take(1) == [a[1].id], "back to the key served least recently"
    # One call goes round the keys: every waiting key's next run before any key's second.
    assert await take(3) == [p[1].id, a[2].id, a[3].id]
    assert await take(100) == [r.id for r in a[4:]]
    assert await take(100) == []


async def check_claim_next_follows_status_and_lease_changes(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    claimed = await store.claim_next("w1", 30, limit=10)
    assert [r.id for r in claimed] == [run.id]
    assert await store.claim_next("w2", 30, limit=10) == []

    # Released on shutdown (running, no owner): it waits for a worker again.
    await store.update_run(run.id, status=RUNNING, lease_owner=None, lease_expires_at=None)
    again = await store.claim_next("w2", 30, limit=10)
    assert [(r.id, r.attempt, r.lease_owner) for r in again] == [(run.id, 2, "w2")]

    # Paused for input, finished: not waiting.  Resumed (queued, no owner): waiting.
    await store.update_run(run.id, status=INPUT_REQUIRED, lease_owner=None,
                           lease_expires_at=None)
    assert await store.claim_next("w3", 30, limit=10) == []
    await store.update_run(run.id, status=QUEUED)
    assert [r.id for r in await store.claim_next("w3", 30, limit=10)] == [run.id]
    await store.update_run(run.id, status=COMPLETED, lease_owner=None, lease_expires_at=None)
    assert await store.claim_next("w4", 30, limit=10) == []

    # Claimed by id (claim_run) is leased like any claim; an expired lease is taken over.
    other = make_run()
    await store.create_run(other)
    taken = await store.claim_run(other.id, "w5", 30, statuses={QUEUED})
    assert taken is not None
    assert await store.claim_next("w6", 30, limit=10) == []
    await store.update_run(other.id, lease_expires_at=time.time() - 1)
    over = await store.claim_next("w6", 30, limit=10)
    assert [(r.id, r.attempt, r.lease_owner) for r in over] == [(other.id, 2, "w6")]
    assert await store.renew_lease(other.id, "w5", 1, 30) is False


async def check_signals(store: Store) -> None:
    got: list[tuple[str, str, int]] = []
    also: list[tuple[str, str, int]] = []
    done = asyncio.Event()
    sentinel = _uid("run_sentinel_")

    carried: list[RunEvent] = []

    def handler(kind: str, run_id: str, seq: int, events: Sequence[RunEvent]) -> None:
        got.append((kind, run_id, seq))
        if events:  # a batch sent along: the committed events the signal announces
            assert kind == EVENTS_SIGNAL and events[-1].seq == seq, (kind, seq, events)
            carried.extend(events)
        if run_id == sentinel:
            done.set()

    await store.listen(handler)
    await store.listen(lambda kind, run_id, seq, events: also.append((kind, run_id, seq)))
    run = make_run()
    await store.create_run(run, make_events(run.id, 1, 2))
    quiet = make_run()
    await store.create_run(quiet)  # no events: no signal
    await store.append_events(run.id, make_events(run.id, 3, 3))
    await _expect_conflict(store.append_events(run.id, make_events(run.id, 5, 1)),
                           "a taken seq")
    await store.append_and_update(run.id, make_events(run.id, 6, 1, ev.DONE), status=COMPLETED)
    await store.signal("queue", quiet.id)
    await store.signal("cancel", run.id, 7)
    await store.signal("queue", sentinel)
    async with asyncio.timeout(10):
        await done.wait()
    expected = [(EVENTS_SIGNAL, run.id, 2), (EVENTS_SIGNAL, run.id, 5), (EVENTS_SIGNAL, run.id, 6),
                ("queue", quiet.id, 0), ("cancel", run.id, 7), ("queue", sentinel, 0)]
    mine = [s for s in got if s[1] in (run.id, quiet.id, sentinel)]
    assert mine == expected, f"signals in commit order, failed writes silent: {mine}"
    if carried:  # whatever a backend sends along is exactly what was committed
        stored = {e.seq: e for e in await store.read_events(run.id)}
        assert [e for e in carried if e.run_id == run.id] == \
            [stored[e.seq] for e in carried if e.run_id == run.id]
    async with asyncio.timeout(10):
        while len([s for s in also if s[1] == sentinel]) < 1:
            await asyncio.sleep(0.01)
    assert [s for s in also if s[1] in (run.id, quiet.id, sentinel)] == expected, \
        "every handler gets every signal"


async def check_renew_lease(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    claimed = await store.claim_run(run.id, "owner-a", 5, statuses={QUEUED})
    assert claimed is not None and claimed.lease_expires_at is not None
    old_expiry = claimed.lease_expires_at

    assert await store.renew_lease(run.id, "owner-a", claimed.attempt, 60) is True
    got = await store.get_run(run.id)
    assert got is not None and got.lease_expires_at is not None
    assert got.lease_expires_at > old_expiry and got.lease_expires_at >= time.time() + 50
    assert got.lease_owner == "owner-a" and got.attempt == claimed.attempt

    assert await store.renew_lease(run.id, "owner-b", claimed.attempt, 60) is False
    assert await store.renew_lease(run.id, "owner-a", claimed.attempt + 1, 60) is False
    assert await store.renew_lease(run.id, "owner-a", claimed.attempt - 1, 60) is False
    assert await store.renew_lease(_uid("run_missing_"), "owner-a", 1, 60) is False

    # Taken over: the old owner's renewals fail, the new owner's succeed.
    await store.update_run(run.id, lease_expires_at=time.time() - 1)
    taken = await store.claim_run(run.id, "owner-b", 30, statuses={QUEUED})
    assert taken is not None
    assert await store.renew_lease(run.id, "owner-a", claimed.attempt, 60) is False
    assert await store.renew_lease(run.id, "owner-b", taken.attempt, 60) is True
    got = await store.get_run(run.id)
    assert got is not None and got.lease_owner == "owner-b"


# events


async def check_append_events_gapless(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    await store.append_events(run.id, [])  # nothing to do
    assert await store.read_events(run.id) == []

    await _expect_conflict(store.append_events(run.id, make_events(run.id, 2, 1)),
                           "a first event with seq 2")
    await _expect_conflict(store.append_events(run.id, make_events(run.id, 0, 1)),
                           "a first event with seq 0")
    assert await store.read_events(run.id) == []

    first = make_events(run.id, 1, 3)
    await store.append_events(run.id, first)
    await store.append_events(run.id, make_events(run.id, 4, 1))
    assert await _seqs(store, run.id) == [1, 2, 3, 4]
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 4


async def check_append_events_existing_seq_conflicts(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    written = make_events(run.id, 1, 5)
    await store.append_events(run.id, written)
    for first, count in ((5, 1), (1, 1), (3, 4), (5, 2), (1, 6)):
        await _expect_conflict(
            store.append_events(run.id, make_events(run.id, first, count, stale=True)),
            f"events {first}..{first + count - 1} over a log ending at 5")
        assert await store.read_events(run.id) == written, "a refused batch writes nothing"
        got = await store.get_run(run.id)
        assert got is not None and got.last_seq == 5
    await store.append_events(run.id, make_events(run.id, 6, 2))
    assert await _seqs(store, run.id) == list(range(1, 8))


async def check_append_events_skipped_seq_conflicts(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    written = make_events(run.id, 1, 3)
    await store.append_events(run.id, written)
    await _expect_conflict(store.append_events(run.id, make_events(run.id, 5, 1)),
                           "seq 5 after 3 (a gap)")
    await _expect_conflict(store.append_events(run.id, make_events(run.id, 10, 3)),
                           "seq 10..12 after 3 (a gap)")
    assert await store.read_events(run.id) == written
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 3


async def check_append_events_gap_inside_batch_conflicts(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    written = make_events(run.id, 1, 3)
    await store.append_events(run.id, written)
    gap = make_events(run.id, 4, 1) + make_events(run.id, 6, 1)
    await _expect_conflict(store.append_events(run.id, gap), "a batch with seqs [4, 6]")
    assert await store.read_events(run.id) == written, "a refused batch writes nothing"
    dup = make_events(run.id, 4, 1) + make_events(run.id, 4, 1)
    await _expect_conflict(store.append_events(run.id, dup), "a batch with seqs [4, 4]")
    backwards = make_events(run.id, 5, 1) + make_events(run.id, 4, 1)
    await _expect_conflict(store.append_events(run.id, backwards), "a batch with seqs [5, 4]")
    assert await store.read_events(run.id) == written
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 3


async def check_append_events_concurrent_same_seq(store: Store) -> None:
    """Two attempts racing for the same seq: one wins, the other is fenced off."""
    run = make_run()
    await store.create_run(run)
    await store.append_events(run.id, make_events(run.id, 1, 2))
    attempts = [make_events(run.id, 3, 3, attempt=a) for a in (1, 2)]
    results = await asyncio.gather(*(store.append_events(run.id, batch) for batch in attempts),
                                   return_exceptions=True)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1 and results.count(None) == 1, results
    winner = attempts[results.index(None)]
    assert (await store.read_events(run.id))[2:] == winner
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 5


async def check_events_are_per_run(store: Store) -> None:
    a, b = make_run(), make_run()
    await store.create_run(a)
    await store.create_run(b)
    await store.append_events(a.id, make_events(a.id, 1, 4))
    await store.append_events(b.id, make_events(b.id, 1, 2))
    assert await _seqs(store, a.id) == [1, 2, 3, 4]
    assert await _seqs(store, b.id) == [1, 2]
    assert all(e.run_id == b.id for e in await store.read_events(b.id))
    assert (await store.get_run(a.id)).last_seq == 4  # type: ignore[union-attr]
    assert (await store.get_run(b.id)).last_seq == 2  # type: ignore[union-attr]
    assert await store.read_events(_uid("run_missing_")) == []


async def check_read_events_paging(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    written = make_events(run.id, 1, 25)
    for i in range(0, 25, 7):  # several appends
        await store.append_events(run.id, written[i : i + 7])
    assert await store.read_events(run.id) == written
    assert await store.read_events(run.id, 0, 10) == written[:10]
    assert await store.read_events(run.id, 10, 10) == written[10:20]
    assert await store.read_events(run.id, 20, 10) == written[20:]
    assert await store.read_events(run.id, 25, 10) == []
    assert await store.read_events(run.id, 100, 10) == []
    assert await store.read_events(run.id, 24) == written[24:]
    assert await store.read_events(run.id, 7, 1) == [written[7]]
    paged: list[RunEvent] = []
    after = 0
    while True:
        page = await store.read_events(run.id, after, 4)
        if not page:
            break
        paged.extend(page)
        after = page[-1].seq
    assert paged == written


async def check_last_seq_tracked_on_run(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    assert (await store.get_run(run.id)).last_seq == 0  # type: ignore[union-attr]
    await store.append_events(run.id, make_events(run.id, 1, 3))
    assert (await store.get_run(run.id)).last_seq == 3  # type: ignore[union-attr]
    # Other writes to the run keep it.
    updated = await store.update_run(run.id, status=RUNNING, usage={"tokens": {"x": 1}})
    assert updated is not None and updated.last_seq == 3
    claimed = await store.claim_run(run.id, "w", 30, statuses={RUNNING})
    assert claimed is not None and claimed.last_seq == 3
    await store.append_events(run.id, make_events(run.id, 4, 2))
    assert await store.renew_lease(run.id, "w", claimed.attempt, 30)
    got = await store.get_run(run.id)
    assert got is not None and got.last_seq == 5
    assert got.status == RUNNING and got.usage == {"tokens": {"x": 1}}
    assert got.lease_owner == "w"
    listed = await store.list_runs(principal=run.principal)
    assert listed[0].last_seq == 5


# checkpoints


async def check_checkpoints(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    assert await store.latest_checkpoint(run.id) is None
    assert await store.list_checkpoints(run.id) == []

    cp9 = Checkpoint(id="cp-9", run_id=run.id, seq=9, state={"step": 2, "msgs": ["a", "b"]},
                     metadata={"node": "plan"}, usage={"tokens": {"input": 7}},
                     created_at=time.time() - 5)
    cp4 = Checkpoint(id="cp-4", run_id=run.id, seq=4, state={"step": 1},
                     metadata={"node": "start"})
    await store.put_checkpoint(cp9)
    await store.put_checkpoint(cp4)  # written later, but earlier in the log
    latest = await store.latest_checkpoint(run.id)
    assert latest is not None and latest.to_dict() == cp9.to_dict(), "latest = highest seq"
    assert [c.to_dict() for c in await store.list_checkpoints(run.id)] \
        == [cp4.to_dict(), cp9.to_dict()], "ordered by seq"

    # Same id: replaced (a replayed attempt writes the same checkpoint again).
    cp4b = Checkpoint(id="cp-4", run_id=run.id, seq=4, state={"step": 1, "again": True},
                      metadata={"node": "start"})
    await store.put_checkpoint(cp4b)
    listed = await store.list_checkpoints(run.id)
    assert [c.id for c in listed] == ["cp-4", "cp-9"]
    assert listed[0].to_dict() == cp4b.to_dict()

    cp12 = Checkpoint(id="cp-12", run_id=run.id, seq=12, state=None)
    await store.put_checkpoint(cp12)
    latest = await store.latest_checkpoint(run.id)
    assert latest is not None and latest.to_dict() == cp12.to_dict()

    # Per run: the same id in another run is another checkpoint.
    other = make_run()
    await store.create_run(other)
    assert await store.latest_checkpoint(other.id) is None
    await store.put_checkpoint(Checkpoint(id="cp-4", run_id=other.id, seq=4, state="other"))
    assert (await store.latest_checkpoint(other.id)).state == "other"  # type: ignore[union-attr]
    assert len(await store.list_checkpoints(run.id)) == 3
    assert (await store.list_checkpoints(run.id))[0].state == {"step": 1, "again": True}


# retention


async def check_finished_runs_and_prune(store: Store) -> None:
    now = time.time()
    principal = _uid("acme/alice-")
    finished = [make_run(status=status, principal=principal, finished_at=now - 500 + i,
                         idempotency_key=f"k{i}")
                for i, status in enumerate([COMPLETED, FAILED, CANCELLED, COMPLETED])]
    recent = make_run(status=COMPLETED, finished_at=now + 100)
    live = make_run(status=RUNNING, finished_at=None)
    for run in [*finished, recent, live]:
        await store.create_run(run, make_events(run.id, 1, 3))
        await store.put_checkpoint(Checkpoint(id="cp", run_id=run.id, seq=2, state={"s": 1}))
        await store.ledger_put(LedgerEntry(run_id=run.id, call_id="c1", tool="t", output=1))

    page = await store.finished_runs(now, limit=3)
    assert [r.id for r in page] == [r.id for r in finished[:3]], "oldest first"
    assert (page[1].status, page[1].finished_at) == (FAILED, finished[1].finished_at)
    last = page[-1]
    rest = await store.finished_runs(now, limit=3, after=(last.finished_at or 0.0, last.id))
    assert [r.id for r in rest] == [finished[3].id], "past the cursor; live and recent excluded"

    one, two, three = finished[:3]
    assert await store.prune_run(one.id, events=True) is True
    assert await store.read_events(one.id) == []
    assert await store.ledger_get(one.id, "c1") is None, "the ledger goes with the events"
    assert await store.latest_checkpoint(one.id) is not None
    assert (await store.get_run(one.id)) is not None

    assert await store.prune_run(two.id, checkpoints=True) is True
    assert await store.list_checkpoints(two.id) == []
    assert len(await store.read_events(two.id)) == 3

    assert await store.prune_run(three.id, record=True) is True
    assert await store.get_run(three.id) is None
    assert await store.read_events(three.id) == []
    assert await store.list_checkpoints(three.id) == []
    assert await store.ledger_get(three.id, "c1") is None
    assert three.id not in [r.id for r in await store.finished_runs(now, limit=100)]
    again = make_run(principal=principal, idempotency_key="k2")
    assert (await store.create_run(again))[1] is True, "its idempotency key is free again"

    assert await store.prune_run(live.id, events=True, checkpoints=True, record=True) is False
    assert len(await store.read_events(live.id)) == 3, "a live run keeps everything"
    assert await store.latest_checkpoint(live.id) is not None
    assert await store.ledger_get(live.id, "c1") is not None
    assert await store.prune_run(_uid("run_missing_"), record=True) is False
    other = await store.read_events(finished[3].id)
    assert len(other) == 3, "pruning one run leaves the others alone"


# tool ledger


async def check_ledger_first_write_wins(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    assert await store.ledger_get(run.id, "call-1") is None
    first = LedgerEntry(run.id, "call-1", "charge", output={"charged": 5, "id": "ch_1"})
    stored = await store.ledger_put(first)
    assert stored.to_dict() == first.to_dict()
    second = LedgerEntry(run.id, "call-1", "charge", output={"charged": 5, "id": "ch_2"})
    kept = await store.ledger_put(second)
    assert kept.to_dict() == first.to_dict(), "the first write wins and is returned"
    got = await store.ledger_get(run.id, "call-1")
    assert got is not None and got.to_dict() == first.to_dict()

    failed = LedgerEntry(run.id, "call-2", "charge", error={"code": "tool_error",
                                                             "message": "card declined"})
    assert (await store.ledger_put(failed)).to_dict() == failed.to_dict()
    got = await store.ledger_get(run.id, "call-2")
    assert got is not None and got.to_dict() == failed.to_dict()

    other = make_run()
    await store.create_run(other)
    assert await store.ledger_get(other.id, "call-1") is None, "the ledger is per run"


async def check_ledger_concurrent_put(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    entries = [LedgerEntry(run.id, "race", "charge", output={"i": i}) for i in range(10)]
    results = await asyncio.gather(*(store.ledger_put(e) for e in entries))
    outcomes = {repr(r.to_dict()) for r in results}
    assert len(outcomes) == 1, "every racing writer gets the one recorded outcome"
    got = await store.ledger_get(run.id, "race")
    assert got is not None and got.to_dict() == results[0].to_dict()


# payloads


async def check_payload_round_trip(store: Store) -> None:
    big = ("0123456789abcdef" * 65536) + AWKWARD_TEXT  # > 1 MiB
    run = make_run(input=AWKWARD_VALUE, output={"big": big},
                   principal=_uid("tenant ü/user 🌍 "), idempotency_key="clé 🔑\n")
    expected = copy.deepcopy(run.to_dict())
    await store.create_run(run)
    events = [
        ev.encode(run.id, 1, ev.TOKEN, time.time(), {"content": AWKWARD_TEXT, "delta": {}}),
        ev.encode(run.id, 2, ev.TOKEN, time.time(), {"content": big, "delta": {}}),
        ev.encode(run.id, 3, ev.NODE_END, 1712345678.123456, {"node": "n",
                                                               "result": AWKWARD_VALUE}),
        ev.encode(run.id, 4, ev.TOKEN, time.time(), {"content": "\n"}),
        ev.encode(run.id, 5, ev.TOKEN, time.time(), {"content": ""}),
    ]
    await store.append_events(run.id, events)
    read = await store.read_events(run.id)
    assert read == events, "events come back exactly (run_id, seq, type, ts and json)"
    assert read[0].data["content"] == AWKWARD_TEXT
    assert read[1].data["content"] == big
    assert read[2].data["result"] == AWKWARD_VALUE

    got = await store.get_run(run.id)
    assert got is not None
    assert {**got.to_dict(), "last_seq": 0} == expected, "after append_events too"
    assert got.last_seq == 5
    again, created = await store.create_run(make_run(principal=run.principal,
                                                     idempotency_key="clé 🔑\n"))
    assert created is False and again.id == run.id

    updated = await store.update_run(run.id, answers={"ask 🔑": AWKWARD_VALUE},
                                     pending={"prompt": AWKWARD_TEXT})
    assert updated is not None
    got = await store.get_run(run.id)
    assert got is not None
    assert got.answers == {"ask 🔑": AWKWARD_VALUE} and got.pending == {"prompt": AWKWARD_TEXT}
    assert got.input == AWKWARD_VALUE and got.output == {"big": big}

    cp = Checkpoint(id="cp-ü", run_id=run.id, seq=3, state={"v": AWKWARD_VALUE, "big": big},
                    metadata={"note": AWKWARD_TEXT})
    await store.put_checkpoint(cp)
    latest = await store.latest_checkpoint(run.id)
    assert latest is not None and latest.to_dict() == cp.to_dict()

    entry = LedgerEntry(run.id, "call ü\n1", "tool-ü", output={"v": AWKWARD_VALUE})
    await store.ledger_put(entry)
    got_entry = await store.ledger_get(run.id, "call ü\n1")
    assert got_entry is not None and got_entry.to_dict() == entry.to_dict()


async def check_append_and_update_is_atomic(store: Store) -> None:
    run = make_run()
    await store.create_run(run)
    claimed = await store.claim_run(run.id, "w1", 30, statuses={"queued"})
    assert claimed is not None and claimed.attempt == 1
    await store.append_events(run.id, make_events(run.id, 1, 2))

    # A stale attempt: nothing written, None returned.
    stale = await store.append_and_update(run.id, make_events(run.id, 3, 1), expect_attempt=7,
                                          status="completed")
    assert stale is None
    assert await _seqs(store, run.id) == [1, 2]
    got = await store.get_run(run.id)
    assert got is not None and got.status == "queued"

    # A seq clash: Conflict, and the run is not changed either.
    await _expect_conflict(
        store.append_and_update(run.id, make_events(run.id, 2, 1), expect_attempt=1,
                                status="completed"),
        "an existing seq in append_and_update")
    got = await store.get_run(run.id)
    assert got is not None and got.status == "queued" and got.last_seq == 2

    updated = await store.append_and_update(run.id, make_events(run.id, 3, 2), expect_attempt=1,
                                            status="completed", output={"ok": True},
                                            lease_owner=None)
    assert updated is not None and updated.status == "completed"
    assert updated.output == {"ok": True} and updated.last_seq == 4
    assert await _seqs(store, run.id) == [1, 2, 3, 4]
    got = await store.get_run(run.id)
    assert got is not None and got.status == "completed" and got.lease_owner is None
    assert got.last_seq == 4

    # No events: a plain fenced update.
    again = await store.append_and_update(run.id, [], expect_attempt=1, status="failed")
    assert again is not None and again.status == "failed" and again.last_seq == 4



async def check_kv_round_trip_and_expiry(store: Store) -> None:
    ns = "contract-" + uuid.uuid4().hex[:8]
    assert await store.kv_get(ns, "missing") is None
    assert await store.kv_count(ns) == 0
    value = {"text": AWKWARD_TEXT, "n": [1, 2.5, None], "nested": {"ok": True}}
    await store.kv_put(ns, "a", value)
    await store.kv_put(ns, "b", "short-lived", ttl=0.05)
    assert await store.kv_get(ns, "a") == value
    assert await store.kv_get(ns, "b") == "short-lived"
    assert await store.kv_count(ns) == 2
    assert await store.kv_get("other-" + ns, "a") is None, "namespaces are separate"
    await store.kv_put(ns, "a", {"replaced": 1})
    assert await store.kv_get(ns, "a") == {"replaced": 1}
    deadline = time.time() + 2
    while await store.kv_get(ns, "b") is not None:
        assert time.time() < deadline, "an expired entry must disappear"
        await asyncio.sleep(0.02)
    assert await store.kv_count(ns) == 1
    assert await store.kv_touch(ns, "b", 60) is False, "an expired entry cannot be revived"
    assert await store.kv_get(ns, "b") is None
    await store.kv_put(ns, "c", "extend me", ttl=0.2)
    assert await store.kv_touch(ns, "c", 60) is True
    await asyncio.sleep(0.3)
    assert await store.kv_get(ns, "c") == "extend me", "touch pushed the expiry out"
    assert await store.kv_delete(ns, "c") is True
    assert await store.kv_delete(ns, "b") is False, "expired entries are not live"
    assert await store.kv_delete(ns, "a") is True
    assert await store.kv_delete(ns, "a") is False
    assert await store.kv_count(ns) == 0


async def check_kv_list_and_delete_prefix(store: Store) -> None:
    ns = "contract-" + uuid.uuid4().hex[:8]
    keys = ["run-1\x1fa", "run-1\x1fb", "run-1\x1fb\x1f2", "run-1x", "run-2\x1fa",
            "run-1\x1f\u00e9", "run-1\x1f\U0001f600"]
    for i, key in enumerate(keys):
        await store.kv_put(ns, key, {"i": i})
    await store.kv_put(ns, "run-1\x1fgone", "expiring", ttl=0.05)
    await store.kv_put("other-" + ns, "run-1\x1fa", "elsewhere")
    await asyncio.sleep(0.1)
    listed = await store.kv_list(ns, "run-1\x1f")
    expected = sorted(k for k in keys if k.startswith("run-1\x1f"))
    assert [k for k, _ in listed] == expected, "prefix match, code-point order, no expired"
    assert [v["i"] for _, v in listed] == [keys.index(k) for k in expected]
    assert [k for k, _ in await store.kv_list(ns, "run-1\x1f", reverse=True)] == \
        expected[::-1]
    assert [k for k, _ in await store.kv_list(ns, "run-1\x1f", limit=2)] == expected[:2]
    latest = await store.kv_list(ns, "run-1\x1f", limit=1, reverse=True)
    assert latest == [(expected[-1], {"i": keys.index(expected[-1])})]
    assert len(await store.kv_list(ns)) == len(keys), "an empty prefix lists the namespace"
    assert await store.kv_list(ns, "nothing-") == []
    assert await store.kv_delete_prefix(ns, "run-1\x1f") == len(expected)
    assert [k for k, _ in await store.kv_list(ns)] == ["run-1x", "run-2\x1fa"]
    assert await store.kv_get("other-" + ns, "run-1\x1fa") == "elsewhere"
    assert await store.kv_delete_prefix(ns, "") == 2
    assert await store.kv_count(ns) == 0
    await store.kv_delete_prefix("other-" + ns, "")


async def check_kv_list_pages(store: Store) -> None:
    ns = "contract-" + uuid.uuid4().hex[:8]
    keys = [f"e{i:04d}" for i in range(7)]
    for key in keys:
        await store.kv_put(ns, key, key)
    pages, after = [], None
    while page := await store.kv_list(ns, "e", limit=3, after=after):
        pages.append([k for k, _ in page])
        after = page[-1][0]
    assert pages == [keys[0:3], keys[3:6], keys[6:7]], "after= pages forward"
    back = await store.kv_list(ns, "e", limit=2, reverse=True, after="e0004")
    assert [k for k, _ in back] == ["e0003", "e0002"], "after= pages backward"
    await store.kv_delete_prefix(ns, "")


async def check_kv_put_new(store: Store) -> None:
    ns = "contract-" + uuid.uuid4().hex[:8]
    assert await store.kv_put_new(ns, "k", {"v": 1}) is True
    assert await store.kv_put_new(ns, "k", {"v": 2}) is False, "an existing key is kept"
    assert await store.kv_get(ns, "k") == {"v": 1}
    await store.kv_put(ns, "short", 1, ttl=0.05)
    await asyncio.sleep(0.1)
    assert await store.kv_put_new(ns, "short", 2) is True, "an expired key counts as absent"
    assert await store.kv_get(ns, "short") == 2
    outcomes = await asyncio.gather(*(store.kv_put_new(ns, "race", i) for i in range(20)))
    assert outcomes.count(True) == 1, "exactly one concurrent insert wins"
    assert await store.kv_get(ns, "race") == outcomes.index(True)
    # A document already encoded (RawJson) is kept as it is and read back decoded.
    assert await store.kv_put_new(ns, "raw", RawJson('[{"a":1,"b":[true,null]},"é"]')) is True
    assert await store.kv_put_new(ns, "raw", RawJson("[]")) is False
    assert await store.kv_get(ns, "raw") == [{"a": 1, "b": [True, None]}, "é"]
    await store.kv_delete_prefix(ns, "")


async def check_kv_add(store: Store) -> None:
    ns = "contract-" + uuid.uuid4().hex[:8]
    assert await store.kv_add(ns, "c", 5) == 5, "a missing counter starts at 0"
    assert await store.kv_add(ns, "c", -2) == 3
    assert await store.kv_add(ns, "c", 7, limit=10) == 10, "reaching the limit is allowed"
    assert await store.kv_add(ns, "c", 1, limit=10) is None, "passing it is refused"
    assert await store.kv_get(ns, "c") == 10, "a refused add changes nothing"
    assert await store.kv_add(ns, "c", -4, limit=10) == 6, "decreases always apply"
    results = await asyncio.gather(*(store.kv_add(ns, "race", 3, limit=30) for _ in range(25)))
    assert sum(r is not None for r in results) == 10, "concurrent adds never overshoot"
    assert await store.kv_get(ns, "race") == 30
    assert await store.kv_add(ns, "ttl", 1, ttl=0.05) == 1
    await asyncio.sleep(0.1)
    assert await store.kv_add(ns, "ttl", 1) == 1, "an expired counter restarts at 0"
    await store.kv_delete_prefix(ns, "")


CHECKS: list[Check] = [
    check_kv_round_trip_and_expiry,
    check_kv_list_and_delete_prefix,
    check_kv_list_pages,
    check_kv_put_new,
    check_kv_add,
    check_append_and_update_is_atomic,
    check_ping,
    check_create_get_round_trip,
    check_create_run_refuses_duplicate_id,
    check_idempotency_same_principal_same_run,
    check_idempotency_scoped_per_principal,
    check_create_run_with_first_events,
    check_no_idempotency_key_always_creates,
    check_idempotency_concurrent_create,
    check_concurrent_create_distinct_keys,
    check_update_run,
    check_update_run_expectations,
    check_list_runs_newest_first_and_filters,
    check_list_runs_keyset_pagination,
    check_list_runs_keyset_pagination_equal_created_at,
    check_claim_run,
    check_claim_run_only_from_given_statuses,
    check_claim_run_concurrent,
    check_claim_next,
    check_claim_next_limit_and_concurrency,
    check_claim_next_fair_across_tenants,
    check_claim_next_follows_status_and_lease_changes,
    check_signals,
    check_renew_lease,
    check_finished_runs_and_prune,
    check_append_events_gapless,
    check_append_events_existing_seq_conflicts,
    check_append_events_skipped_seq_conflicts,
    check_append_events_gap_inside_batch_conflicts,
    check_append_events_concurrent_same_seq,
    check_events_are_per_run,
    check_read_events_paging,
    check_last_seq_tracked_on_run,
    check_checkpoints,
    check_ledger_first_write_wins,
    check_ledger_concurrent_put,
    check_payload_round_trip,
]

__all__ = ["AWKWARD_TEXT", "AWKWARD_VALUE", "CHECKS", "check_id", "make_events", "make_run"]

