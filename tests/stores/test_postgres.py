"""What the PostgreSQL store does beyond the contract: migrations applied once by processes
starting together, schema isolation, signals between instances, a listener that survives
the loss of its connection, ``fastagentic store migrate``, and claims racing from several
instances (each with its own pool, like separate processes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from conftest import PG_HOST, PG_PORT, isolated_store_url
from typer.testing import CliRunner

from fastagentic.cli.store import store_cli
from fastagentic.core.events import RunEvent
from fastagentic.exceptions import ConfigurationError
from fastagentic.stores import pg_schema
from fastagentic.stores.postgres import PostgresStore, channel_name, parse_url
from fastagentic.testing.store_contract import make_events, make_run

ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with isolated_store_url("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def other_pg_url(tmp_path: Path) -> Iterator[str]:
    """A second store (its own schema) in the same database."""
    with isolated_store_url("postgres", tmp_path) as url:
        yield url


@contextlib.asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[PostgresStore]]:
    """``count`` opened instances of one store, each with its own pool."""
    opened = [PostgresStore(url) for _ in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in opened))
        yield opened
    finally:
        await asyncio.gather(*(s.close() for s in opened))


async def admin(sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


class Signals:
    """A signal handler that lets a test wait for a given signal."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, int]] = []
        self.events: list[RunEvent] = []  # the batches the signals carried
        self._arrived = asyncio.Event()

    def __call__(self, kind: str, run_id: str, seq: int, events: Sequence[RunEvent] = ()
                 ) -> None:
        self.got.append((kind, run_id, seq))
        self.events.extend(events)
        self._arrived.set()

    async def wait_for(self, signal: tuple[str, str, int], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while signal not in self.got:
                self._arrived.clear()
                await self._arrived.wait()


def test_url_parameters() -> None:
    dsn, schema, pool_min, pool_max = parse_url(
        "postgresql://u:p@db:5433/app?schema=tenant_a&pool_min=2&pool_max=7&sslmode=disable")
    assert (dsn, schema, pool_min, pool_max) == (
        "postgresql://u:p@db:5433/app?sslmode=disable", "tenant_a", 2, 7)
    assert parse_url("postgres://db/app")[1:] == ("fastagentic", 1, 10)
    for bad in ("postgresql://db/app?pool_max=0", "postgresql://db/app?pool_min=3&pool_max=2",
                "postgresql://db/app?pool_max=many", "postgresql://db/app?schema=",
                f"postgresql://db/app?schema={'s' * 64}", "mysql://db/app"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)
    long = "é" * 31  # 62 bytes: the channel name needs hashing to fit 63
    assert len(channel_name(long).encode()) <= 63
    assert channel_name(long) != channel_name(long[:-1] + "e")


async def test_migrations_applied_once_by_stores_opening_together(pg_url: str) -> None:
    schema = parse_url(pg_url)[1]
    async with stores(pg_url, 5) as opened:
        migrations = sorted(s.migration for s in opened)  # type: ignore[type-var]
        latest = pg_schema.LATEST
        assert migrations == [(0, latest)] + [(latest, latest)] * 4, \
            "one opener applies the steps; the others find them applied"
        rows = await admin(f'SELECT version FROM "{schema}".fa_schema_version ORDER BY version')
        assert [r["version"] for r in rows] == list(range(1, latest + 1))
    async with stores(pg_url, 1) as (again,):
        assert again.migration == (latest, latest), "opening again changes nothing"
        await again.ping()


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    schema = parse_url(pg_url)[1]
    async with stores(pg_url, 1):
        pass
    await admin(f'INSERT INTO "{schema}".fa_schema_version (version) VALUES ($1)',
                pg_schema.LATEST + 1)
    store = PostgresStore(pg_url)
    with pytest.raises(ConfigurationError, match="Upgrade fastagentic"):
        await store.open()
    await store.close()


async def test_schemas_are_isolated(pg_url: str, other_pg_url: str) -> None:
    async with stores(pg_url, 1) as (a,), stores(other_pg_url, 1) as (b,):
        heard_b = Signals()
        await b.listen(heard_b)
        run = make_run()
        await a.create_run(run, make_events(run.id, 1, 2))
        await a.kv_put("ns", "k", 1)
        await a.signal("queue", run.id)
        await b.signal("queue", "sentinel")
        await heard_b.wait_for(("queue", "sentinel", 0))
        assert heard_b.got == [("queue", "sentinel", 0)], "no signal crosses schemas"
        assert await b.get_run(run.id) is None
        assert await b.read_events(run.id) == []
        assert await b.kv_get("ns", "k") is None
        assert await b.claim_next("w", 30) == []
        assert [r.id for r in await a.claim_next("w", 30)] == [run.id]


async def test_signals_reach_another_instance(pg_url: str) -> None:
    async with stores(pg_url, 2) as (reader, writer):
        heard = Signals()
        await reader.listen(heard)
        run = make_run()
        await writer.create_run(run, make_events(run.id, 1, 1))
        await writer.append_events(run.id, make_events(run.id, 2, 3))
        await writer.signal("cancel", run.id, 4)
        await heard.wait_for(("cancel", run.id, 4))
        assert heard.got == [("events", run.id, 1), ("events", run.id, 4),
                             ("cancel", run.id, 4)]



async def test_an_events_signal_arrives_after_its_events_are_readable(pg_url: str) -> None:
    """Signals are sent after the append commits (not inside it): whoever hears one can read
    the events it announces, and one process's signals arrive in the order it sent them."""
    async with stores(pg_url, 3) as (reader, writer, other):
        order: list[int] = []  # the signalled seqs, as they arrive
        seen: list[tuple[int, int]] = []  # (signalled seq, last seq readable then)
        checks: list[asyncio.Task[None]] = []

        async def check(run_id: str, seq: int) -> None:
            events = await other.read_events(run_id, 0)
            seen.append((seq, events[-1].seq if events else 0))

        def handler(kind: str, run_id: str, seq: int, events: Sequence[RunEvent]) -> None:
            if kind == "events":
                order.append(seq)
                checks.append(asyncio.create_task(check(run_id, seq)))

        await reader.listen(handler)
        run = make_run()
        await writer.create_run(run, make_events(run.id, 1, 1))
        for seq in range(2, 41):
            await writer.append_events(run.id, make_events(run.id, seq, 1))
        async with asyncio.timeout(10):
            while len(checks) < 40:
                await asyncio.sleep(0.01)
        await asyncio.gather(*checks)
        assert order == list(range(1, 41)), "every append signalled once, in order"
        assert all(readable >= signalled for signalled, readable in seen), seen



async def test_events_signals_carry_small_batches_and_announce_big_ones(pg_url: str) -> None:
    """A follower in another process gets a small committed batch with its signal (no read
    back); one too big for a NOTIFY payload is only announced."""
    async with stores(pg_url, 2) as (reader, writer):
        heard = Signals()
        await reader.listen(heard)
        run = make_run()
        small = make_events(run.id, 1, 3)
        await writer.create_run(run, small)
        big = make_events(run.id, 4, 2, text="é" * 3000)  # 2 x 6,000 bytes of UTF-8
        await writer.append_events(run.id, big)
        after = make_events(run.id, 6, 1)
        await writer.append_and_update(run.id, after, status="completed")
        await heard.wait_for(("events", run.id, 6))
        assert heard.got == [("events", run.id, 3), ("events", run.id, 5),
                             ("events", run.id, 6)]
        assert heard.events == small + after


async def test_closing_a_store_sends_the_signals_it_still_holds(pg_url: str) -> None:
    async with stores(pg_url, 1) as (reader,):
        heard = Signals()
        await reader.listen(heard)
        writer = PostgresStore(pg_url)
        await writer.open()
        run = make_run()
        await writer.create_run(run, make_events(run.id, 1, 3))
        await writer.close()  # straight after the write, before its signal had a turn
        await heard.wait_for(("events", run.id, 3))


async def test_a_claim_takes_the_next_run_past_one_a_racing_claimer_holds(pg_url: str) -> None:
    """Two workers claiming at once must not leave one of them empty-handed while runs wait
    (it would idle until the next signal or poll): the second skips the rows the first has
    locked and takes the ones after them."""
    async with stores(pg_url, 2) as (first, second):
        runs = [make_run(principal="noisy") for _ in range(20)]
        for run in runs:  # one tenant, created in order
            await first.create_run(run)
        sql = first._sql
        async with first._pool.acquire() as conn, conn.transaction():
            # The racing claimer holds the tenant's first 16 runs locked.
            held = await conn.fetch(
                f"SELECT id FROM {sql.runs} WHERE principal = 'noisy' "
                "ORDER BY created_at, id LIMIT 16 FOR UPDATE")
            assert [r["id"] for r in held] == [r.id for r in runs[:16]]
            got = await second.claim_next("w2", 30, limit=2)
        assert [r.id for r in got] == [runs[16].id, runs[17].id]


async def test_listener_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    schema = parse_url(pg_url)[1]
    name = f"fastagentic listener {schema}"
    async with stores(pg_url, 2) as (reader, writer):
        heard = Signals()
        await reader.listen(heard)
        await writer.signal("queue", "before")
        await heard.wait_for(("queue", "before", 0))
        killed = await admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = $1", name)
        assert [r[0] for r in killed] == [True], "exactly the listener's backend"
        # Signals sent while it reconnects are lost (readers fall back on the store); keep
        # sending until one arrives over the new connection.
        async with asyncio.timeout(15):
            for attempt in range(10_000):
                await writer.signal("queue", f"after-{attempt}")
                with contextlib.suppress(TimeoutError):
                    await heard.wait_for(("queue", f"after-{attempt}", 0), timeout=0.1)
                    break
        rows = await admin("SELECT pid FROM pg_stat_activity WHERE application_name = $1", name)
        assert len(rows) == 1, "one listener connection again"
        run = make_run()
        await writer.create_run(run, make_events(run.id, 1, 2))
        await heard.wait_for(("events", run.id, 2))


async def test_claim_next_from_several_instances_never_double_claims(pg_url: str) -> None:
    async with stores(pg_url, 4) as workers:
        tenants = [f"t{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
        runs = [make_run(tenant=tenants[i % 6], principal=f"{tenants[i % 6]}/u")
                for i in range(90)]
        await asyncio.gather(*(workers[0].create_run(run) for run in runs))

        async def drain(store: PostgresStore, owner: str) -> list[str]:
            taken: list[str] = []
            while batch := await store.claim_next(owner, 30, limit=3):
                assert all(r.lease_owner == owner and r.attempt == 1 for r in batch)
                taken += [r.id for r in batch]
            return taken

        results = await asyncio.gather(*(drain(store, f"w{i}") for i, store in
                                         enumerate(workers * 2)))
        claimed = [run_id for batch in results for run_id in batch]
        assert sorted(claimed) == sorted(r.id for r in runs), "every run claimed exactly once"
        for run_id, owner in ((run_id, f"w{i}") for i, batch in enumerate(results)
                              for run_id in batch[:3]):
            got = await workers[1].get_run(run_id)
            assert got is not None and got.lease_owner == owner and got.attempt == 1


async def test_kv_prefixes_ending_at_the_last_code_point(pg_url: str) -> None:
    top = "\U0010ffff"
    keys = ["a", f"a{top}", f"a{top}z", f"a{top}{top}x", "b", f"b{top}"]  # code-point order
    async with stores(pg_url, 1) as (store,):
        for key in keys:
            await store.kv_put("ns", key, key)
        assert [k for k, _ in await store.kv_list("ns", f"a{top}")] == keys[1:4]
        assert [k for k, _ in await store.kv_list("ns", "a")] == keys[:4]
        assert [k for k, _ in await store.kv_list("ns", top)] == []
        assert await store.kv_delete_prefix("ns", f"a{top}{top}") == 1
        assert [k for k, _ in await store.kv_list("ns", "", reverse=True)] == \
            [keys[5], keys[4], keys[2], keys[1], keys[0]]


def test_store_migrate_command(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    first = runner.invoke(store_cli, ["migrate", "--store", pg_url])
    assert first.exit_code == 0, first.output
    assert f"migrated from schema version 0 to {pg_schema.LATEST}" in first.output
    monkeypatch.setenv("FASTAGENTIC_DURABLE_STORE", pg_url)
    again = runner.invoke(store_cli, ["migrate"])
    assert again.exit_code == 0, again.output
    assert f"up to date (schema version {pg_schema.LATEST})" in again.output
    memory = runner.invoke(store_cli, ["migrate", "--store", "memory://"])
    assert memory.exit_code == 0 and "memory://: ok" in memory.output
    bad = runner.invoke(store_cli, ["migrate", "--store", "nosuch://x"])
    assert bad.exit_code == 2 and "unknown store URL" in bad.output
    down = runner.invoke(store_cli, ["migrate", "--store",
                                     "postgresql://postgres:secret@127.0.0.1:1/test"])
    assert down.exit_code == 1 and "PostgreSQL" in down.output
    assert "secret" not in down.output


async def test_a_burst_after_a_quiet_spell_keeps_claims_cheap(pg_url: str) -> None:
    """Statistics taken while the queue was empty must not make each claim scan every waiting
    run once per waiting run (what an inlined candidate list did: ~6,000 buffer reads at
    1,000 runs waiting, where the plan it is meant to have reads ~100)."""
    async with stores(pg_url, 1) as (store,):
        async with store._pool.acquire() as conn:
            await conn.execute(f"ANALYZE {store._sql.runs}")  # the quiet spell's statistics
        runs = [make_run(principal="burst") for _ in range(1000)]
        for i in range(0, len(runs), 50):
            await asyncio.gather(*(store.create_run(run) for run in runs[i:i + 50]))
        assert len(await store.claim_next("w1", 30, limit=10)) == 10
        now = time.time()
        async with store._pool.acquire() as conn, conn.transaction():
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                                    + store._sql.claim_next, now, 1, "w2", now + 30)
            await conn.execute("ROLLBACK AND CHAIN")  # leave the claim undone
        top = json.loads(plan[0][0])[0]["Plan"]
        assert top["Shared Hit Blocks"] + top["Shared Read Blocks"] < 1000, top


async def test_warm_opens_the_connections_up_front_within_the_pool_limit(pg_url: str) -> None:
    """A worker warms its store before it claims anything: its first runs find their
    connections open (and no more than the URL's ``pool_max``)."""
    name = f"fa_warm_{uuid.uuid4().hex[:8]}"  # unknown URL parameters are server settings
    store = PostgresStore(f"{pg_url}&pool_max=8&application_name={name}")
    await store.open()
    try:
        async def connections() -> int:
            rows = await admin("SELECT count(*) AS n FROM pg_stat_activity "
                               "WHERE application_name = $1", name)
            return int(rows[0]["n"])

        assert await connections() == 1  # pool_min
        await store.warm(5)
        assert await connections() == 5
        await store.warm(50)
        assert await connections() == 8
        run = make_run()
        await store.create_run(run, make_events(run.id, 1, 2))  # warm connections serve
        assert (await store.get_run(run.id)) is not None
    finally:
        await store.close()
