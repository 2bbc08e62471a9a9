"""SQLite specifics: durability across reopen, several stores on one file, URLs."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from fastagentic.core.runs import QUEUED, RUNNING, Checkpoint, LedgerEntry
from fastagentic.exceptions import ConfigurationError, Conflict
from fastagentic.stores.factory import store_from_url
from fastagentic.stores.sqlite import SQLiteStore
from fastagentic.testing.store_contract import AWKWARD_VALUE, make_events, make_run


def url_for(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path: sqlite:////tmp/...


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    url = url_for(tmp_path / "runs.db")
    store = SQLiteStore(url)
    await store.open()
    run = make_run(input=AWKWARD_VALUE, idempotency_key="idem")
    await store.create_run(run)
    events = make_events(run.id, 1, 5)
    await store.append_events(run.id, events)
    cp = Checkpoint(id="cp-3", run_id=run.id, seq=3, state={"step": 3})
    await store.put_checkpoint(cp)
    entry = LedgerEntry(run.id, "call-1", "charge", output={"ok": True})
    await store.ledger_put(entry)
    claimed = await store.claim_run(run.id, "owner", 30, statuses={QUEUED})
    assert claimed is not None
    await store.close()

    reopened = SQLiteStore(url)
    await reopened.open()
    try:
        got = await reopened.get_run(run.id)
        assert got is not None
        assert got.to_dict() == {**claimed.to_dict(), "last_seq": 5}
        assert await reopened.read_events(run.id) == events
        latest = await reopened.latest_checkpoint(run.id)
        assert latest is not None and latest.to_dict() == cp.to_dict()
        ledger = await reopened.ledger_get(run.id, "call-1")
        assert ledger is not None and ledger.to_dict() == entry.to_dict()
        same, created = await reopened.create_run(
            make_run(principal=run.principal, idempotency_key="idem"))
        assert created is False and same.id == run.id, "idempotency keys are durable"
        await _expect_conflict(reopened.append_events(run.id, make_events(run.id, 5, 1)))
        await reopened.append_events(run.id, make_events(run.id, 6, 1))
        assert (await reopened.get_run(run.id)).last_seq == 6  # type: ignore[union-attr]
    finally:
        await reopened.close()


async def _expect_conflict(awaitable) -> None:  # noqa: ANN001
    with pytest.raises(Conflict):
        await awaitable


async def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    url = url_for(tmp_path / "shared.db")
    a, b = SQLiteStore(url), SQLiteStore(url)
    await a.open()
    await b.open()
    try:
        run = make_run()
        await a.create_run(run)
        seen = await b.get_run(run.id)
        assert seen is not None and seen.to_dict() == run.to_dict()

        await b.append_events(run.id, make_events(run.id, 1, 3))
        assert [e.seq for e in await a.read_events(run.id)] == [1, 2, 3]
        assert (await a.get_run(run.id)).last_seq == 3  # type: ignore[union-attr]
        # The log is fenced across stores too.
        with pytest.raises(Conflict):
            await a.append_events(run.id, make_events(run.id, 3, 1))
        await a.append_events(run.id, make_events(run.id, 4, 1))
        assert [e.seq for e in await b.read_events(run.id)] == [1, 2, 3, 4]

        updated = await a.update_run(run.id, status=RUNNING, output="x")
        assert updated is not None
        assert (await b.get_run(run.id)).status == RUNNING  # type: ignore[union-attr]
        assert [r.id for r in await b.list_runs(principal=run.principal, status=RUNNING)] \
            == [run.id]

        await b.put_checkpoint(Checkpoint(id="cp-2", run_id=run.id, seq=2, state=[1]))
        assert (await a.latest_checkpoint(run.id)).state == [1]  # type: ignore[union-attr]
        first = await a.ledger_put(LedgerEntry(run.id, "c", "t", output="from a"))
        kept = await b.ledger_put(LedgerEntry(run.id, "c", "t", output="from b"))
        assert first.output == kept.output == "from a"
    finally:
        await a.close()
        await b.close()


async def test_two_stores_race_on_idempotency_and_leases(tmp_path: Path) -> None:
    url = url_for(tmp_path / "race.db")
    stores = [SQLiteStore(url) for _ in range(3)]
    for store in stores:
        await store.open()
    try:
        principal = "t/racer"
        results = await asyncio.gather(*(
            stores[i % 3].create_run(make_run(principal=principal, idempotency_key="k"))
            for i in range(30)))
        assert sum(created for _, created in results) == 1
        assert len({run.id for run, _ in results}) == 1
        run_id = results[0][0].id

        claims = await asyncio.gather(*(
            store.claim_run(run_id, f"owner-{i}", 30, statuses={QUEUED})
            for i, store in enumerate(stores)))
        winners = [c for c in claims if c is not None]
        assert len(winners) == 1 and winners[0].attempt == 1

        for _ in range(9):
            await stores[0].create_run(make_run())
        swept = await asyncio.gather(*(
            store.claim_next(f"sweeper-{i}", 30, limit=100)
            for i, store in enumerate(stores)))
        ids = [r.id for batch in swept for r in batch]
        assert len(ids) == len(set(ids)) == 9, "each run is swept by exactly one store"

        appends = await asyncio.gather(*(
            store.append_events(run_id, make_events(run_id, 1, 2, by=i))
            for i, store in enumerate(stores)), return_exceptions=True)
        assert appends.count(None) == 1
        assert sum(isinstance(r, Conflict) for r in appends) == 2
    finally:
        for store in stores:
            await store.close()


async def test_memory_url() -> None:
    store = store_from_url("sqlite://:memory:")
    assert isinstance(store, SQLiteStore) and store.path == ":memory:"
    other = SQLiteStore("sqlite://:memory:")
    await store.open()
    await other.open()
    try:
        await store.ping()
        run = make_run()
        await store.create_run(run)
        await store.append_events(run.id, make_events(run.id, 1, 2))
        got = await store.get_run(run.id)
        assert got is not None and got.last_seq == 2
        assert [e.seq for e in await store.read_events(run.id)] == [1, 2]
        assert await other.get_run(run.id) is None, "each :memory: store is its own database"
    finally:
        await store.close()
        await other.close()


@pytest.mark.parametrize("url", [
    "sqlite://",
    "sqlite:///",
    "sqlite://relative.db",
    "sqlite:relative.db",
    "sqlite:/x.db",
    "sqlit:///x.db",
    "postgres.db",
    "",
])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteStore(url)


@pytest.mark.parametrize("url", [
    "sqlite://",
    "sqlite://relative.db",
    "nope://x",
    "no-scheme-at-all",
    "s3://bucket/prefix",
])
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        store_from_url(url)


async def test_file_created_under_new_nested_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "runs.db"
    assert not path.parent.exists()
    store = SQLiteStore(url_for(path))
    await store.open()
    try:
        await store.create_run(make_run())
        assert path.is_file()
    finally:
        await store.close()


async def test_relative_path_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = store_from_url("sqlite:///.fastagentic/nested/runs.db")
    await store.open()
    try:
        await store.create_run(make_run())
    finally:
        await store.close()
    assert (tmp_path / ".fastagentic" / "nested" / "runs.db").is_file()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    store = SQLiteStore(url_for(path))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE fa_meta SET value = '999' WHERE key = 'schema_version'")
    newer = SQLiteStore(url_for(path))
    with pytest.raises(ConfigurationError, match="999"):
        await newer.open()
    await newer.close()


async def test_a_file_with_the_earlier_expiry_index_is_upgraded(tmp_path: Path) -> None:
    """Files of earlier versions have an index over every kv document; opening one
    swaps it for the index over expiring documents only (documents without a time to live,
    like the audit log's blocks, then cost one page less per write), and expiry still works
    through it."""
    path = tmp_path / "earlier.db"
    store = SQLiteStore(url_for(path))
    await store.open()
    await store.kv_put("ns", "doomed", {"v": 1}, ttl=0.05)
    await store.close()
    with sqlite3.connect(path) as conn:  # as the earlier version left it
        conn.execute("DROP INDEX fa_kv_expiring")
        conn.execute("CREATE INDEX fa_kv_expiry ON fa_kv (namespace, expires_at)")
    upgraded = SQLiteStore(url_for(path))
    await upgraded.open()
    try:
        with sqlite3.connect(path) as conn:
            indexes = dict(conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fa_kv'"))
        assert "fa_kv_expiry" not in indexes
        assert "WHERE expires_at IS NOT NULL" in indexes["fa_kv_expiring"]
        await asyncio.sleep(0.06)
        assert await upgraded.kv_put_new("ns", "doomed", {"v": 2}) is True  # expired: replaced
        assert await upgraded.kv_put_new("ns", "doomed", {"v": 3}) is False  # live now
        assert await upgraded.kv_get("ns", "doomed") == {"v": 2}
        await upgraded.kv_put("ns", "short", 1, ttl=0.05)
        await asyncio.sleep(0.06)
        assert await upgraded.kv_count("ns") == 1  # the expired one purged
    finally:
        await upgraded.close()


# Writes are committed on the event loop, every write of one loop turn in one transaction.


async def test_a_failing_write_in_a_group_commit_is_undone_alone(tmp_path: Path) -> None:
    store = SQLiteStore(url_for(tmp_path / "group.db"))
    await store.open()
    try:
        runs = [make_run() for _ in range(6)]
        for run in runs:
            await store.create_run(run)
        await store.append_events(runs[0].id, make_events(runs[0].id, 1, 2))
        # One loop turn: five good appends and one that clashes with existing seqs.
        results = await asyncio.gather(
            *[store.append_events(r.id, make_events(r.id, 1, 3)) for r in runs[1:]],
            store.append_events(runs[0].id, make_events(runs[0].id, 2, 2)),
            return_exceptions=True)
        assert [type(r) for r in results[:-1]] == [type(None)] * 5
        assert isinstance(results[-1], Conflict)
        for run in runs[1:]:
            assert [e.seq for e in await store.read_events(run.id)] == [1, 2, 3]
            got = await store.get_run(run.id)
            assert got is not None and got.last_seq == 3
        # The failing write left nothing behind: the log is still 1, 2 and continues at 3.
        assert [e.seq for e in await store.read_events(runs[0].id)] == [1, 2]
        await store.append_events(runs[0].id, make_events(runs[0].id, 3, 1))
        assert [e.seq for e in await store.read_events(runs[0].id)] == [1, 2, 3]
    finally:
        await store.close()


async def test_writes_wait_for_another_connection_without_blocking_the_loop(
        tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteStore(url_for(path))
    await store.open()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        run = make_run()
        await store.create_run(run)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(store.append_events(run.id, make_events(run.id, 1, 1)))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done() and ticks == 20
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        assert [e.seq for e in await store.read_events(run.id)] == [1]
    finally:
        other.close()
        await store.close()


async def test_the_wal_is_checkpointed_off_the_loop_and_stays_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastagentic.stores import sqlite as module

    monkeypatch.setattr(module._LoopWriter, "CHECKPOINT_EVERY", 8)
    monkeypatch.setattr(module._LoopWriter, "WAL_LIMIT", 64)
    path = tmp_path / "wal.db"
    store = SQLiteStore(url_for(path))
    await store.open()
    shm = Path(f"{path}-shm")

    def wal_frames() -> int:
        # mxFrame of the WAL-index header (SQLite's wal.c: a native-endian u32 at offset 16):
        # the frames written since the WAL was last reset, read without touching the WAL.
        return int.from_bytes(shm.read_bytes()[16:20], sys.byteorder)

    try:
        run = make_run()
        await store.create_run(run)
        most = 0
        for seq in range(1, 2001):  # 2,000 commits, each a page or more of WAL
            await store.append_events(run.id, make_events(run.id, seq, 1))
            if seq % 100 == 0:
                await asyncio.sleep(0.01)  # let a checkpoint in flight finish
                most = max(most, wal_frames())
        assert len(await store.read_events(run.id, 0, 5000)) == 2000
        # Without checkpoints the WAL would hold all 2,000+ commits' frames.
        assert most < 600, most
    finally:
        await store.close()
