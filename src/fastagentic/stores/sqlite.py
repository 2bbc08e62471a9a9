"""SQLite store: the embedded default (a file under ``.fastagentic/``), no server needed.

Every operation is one function run on a dedicated writer (or reader) thread with its own
connection, so a multi-statement operation is one transaction and never interleaves with
another.  WAL mode lets readers proceed while the writer commits; ``BEGIN IMMEDIATE`` and a
busy timeout keep several processes on one file correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from pydantic_core import from_json, to_json

from ..core.events import RunEvent
from ..core.runs import ACTIVE, TERMINAL, Checkpoint, LedgerEntry, RunRecord
from ..exceptions import ConfigurationError, Conflict, StoreError
from .base import EVENTS_SIGNAL, LocalSignals, RawJson, Store, check_first_events, fair_picks

T = TypeVar("T")
logger = logging.getLogger("fastagentic.stores.sqlite")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS fa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fa_runs (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    created_at REAL NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at REAL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS fa_runs_idem ON fa_runs (principal, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS fa_runs_principal ON fa_runs (principal, created_at, id);
CREATE INDEX IF NOT EXISTS fa_runs_created ON fa_runs (created_at, id);
CREATE INDEX IF NOT EXISTS fa_runs_active ON fa_runs (status, lease_expires_at);
CREATE TABLE IF NOT EXISTS fa_events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fa_checkpoints (
    run_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
CREATE INDEX IF NOT EXISTS fa_checkpoints_seq ON fa_checkpoints (run_id, seq);
CREATE TABLE IF NOT EXISTS fa_kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
DROP INDEX IF EXISTS fa_kv_expiry;
CREATE INDEX IF NOT EXISTS fa_kv_expiring ON fa_kv (namespace, expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS fa_runs_finished ON fa_runs (json_extract(doc, '$.finished_at'), id)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE TABLE IF NOT EXISTS fa_fair (key TEXT PRIMARY KEY, served INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fa_ledger (
    run_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (run_id, call_id)
) WITHOUT ROWID;
"""


def path_from_url(url: str) -> str:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite://:memory:``."""
    if not url.startswith("sqlite://"):
        raise ConfigurationError(f"not a SQLite URL: {url!r}")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"SQLite URL {url!r} needs a path: sqlite:///relative.db or sqlite:////abs/path.db"
        )
    return rest[1:]


def _dumps(value: Any) -> str:
    if type(value) is RawJson:
        return value.text
    # Standard JSON only (SQLite's json_set rejects bare Infinity/NaN).
    return to_json(value, fallback=repr, inf_nan_mode="strings").decode()


class _Connection:
    """One sqlite3 connection owned by one thread, fed by a queue.

    The thread takes every operation waiting in the queue at once.  For the writer
    (``group_commit``) a batch of several operations is one transaction, each operation in its
    own savepoint (a failing one is rolled back alone): under concurrency many runs' writes
    share one commit.  The batch's results go back to the event loop with one wake-up.
    """

    MAX_BATCH = 128

    def __init__(self, path: str, *, group_commit: bool = False) -> None:
        self._path = path
        self._group_commit = group_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None,
                               timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        if self._path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        self.conn = conn
        return conn

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name="fa-sqlite",
                                                daemon=True)
                self._thread.start()

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, alone: bool = False) -> T:
        """Run ``fn(conn)`` on the connection's thread; ``alone``: never batched."""
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, future, loop, alone))
        return await _outcome(future)

    def _main(self) -> None:
        conn = self.conn or self._connect()
        pending: list[Any] = []
        while True:
            job = pending.pop(0) if pending else self._queue.get()
            if job is None:
                conn.close()
                self.conn = None
                return
            jobs = [job]
            if not job[3]:
                while len(jobs) < self.MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None or more[3]:
                        pending.append(more)  # a stop or a solo job: after this batch
                        break
                    jobs.append(more)
            jobs = [j for j in jobs if not j[1].cancelled()]
            results = self._execute(conn, jobs)
            by_loop: dict[Any, list[Any]] = {}
            for (_, future, loop, _), result in zip(jobs, results, strict=True):
                by_loop.setdefault(loop, []).append((future, result))
            for loop, items in by_loop.items():
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(_settle, items)

    def _execute(self, conn: sqlite3.Connection, jobs: list[Any]) -> list[Any]:
        if len(jobs) == 1 or not self._group_commit:
            return [_attempt(job[0], conn) for job in jobs]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(False, exc)] * len(jobs)
        results = [_attempt(job[0], conn) for job in jobs]
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return [(False, exc)] * len(jobs)
        return results

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


class _LoopWriter:
    """Writes committed on the event loop's own thread, every write of one loop turn in one
    transaction (each in its own savepoint).

    A WAL commit without fsync takes tens of microseconds, less than handing the work to a
    thread and back (and no waiting for the GIL).  When another connection (another process)
    holds the write lock, the writes go to the writer thread, which waits for it.

    WAL checkpoints (copying the log into the database, with its fsyncs) run on a thread of
    their own, not in the committing connection: a passive one every ``CHECKPOINT_EVERY``
    commits.  Under a steady stream of writes a passive checkpoint may never catch up with the
    log; when the log passes ``WAL_LIMIT`` frames, a restarting checkpoint (which makes new
    writers wait, here on the writer thread, not the loop) resets it.
    """

    CHECKPOINT_EVERY = 64  # commits
    WAL_LIMIT = 8192  # frames (32 MiB of 4 KiB pages)
    LOCK_RETRY = 0.001  # seconds between attempts to take a lock another connection holds
    LOCK_PATIENCE = 0.05  # seconds of those before the writes go to the writer thread

    def __init__(self, path: str, fallback: _Connection) -> None:
        self._path = path
        self._fallback = fallback
        self._checkpointer = _Connection(path)
        self._conn: sqlite3.Connection | None = None
        self._jobs: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._commits = 0
        self._checkpointing = False
        self._locked_since: float | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None,
                               timeout=0, factory=_Conn)
        conn.execute("PRAGMA busy_timeout = 0")  # never block the loop on another writer
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpoint
        conn.execute("PRAGMA journal_size_limit = 33554432")  # shrink the WAL file on reset
        self._conn = conn
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, alone: bool = False) -> T:
        if alone:
            return await self._fallback.run(fn, alone=True)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.append((fn, future))
        if len(self._jobs) == 1 and self._locked_since is None:
            loop.call_soon(self._flush)
        return await _outcome(future)

    def _flush(self) -> None:
        jobs = [job for job in self._jobs if not job[1].cancelled()]
        if not jobs:
            self._jobs = []
            self._locked_since = None
            return
        conn = self._conn or self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            # Locked by another connection (a checkpoint, another process): try again in a
            # moment, the writes of the meantime joining these; if the lock stays taken, the
            # writer thread waits for it (the loop never does).
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._locked_since is None:
                self._locked_since = now
            if now - self._locked_since < self.LOCK_PATIENCE:
                loop.call_later(self.LOCK_RETRY, self._flush)
                return
            self._jobs, self._locked_since = [], None
            for fn, future in jobs:
                self._spawn(self._via_thread(fn, future))
            return
        self._jobs, self._locked_since = [], None
        assert isinstance(conn, _Conn)
        # Optimistically without savepoints (they cost two statements per operation): if an
        # operation fails, the batch is rolled back and run again, each operation in its own
        # savepoint so that only the failing one is undone.  (Operations only touch the
        # database, so running them again after a rollback is safe.)
        conn.nested = False
        results = [_attempt(fn, conn) for fn, _ in jobs]
        try:
            if all(ok for ok, _ in results):
                conn.execute("COMMIT")
            else:
                conn.execute("ROLLBACK")
                if len(jobs) > 1:
                    conn.nested = True
                    conn.execute("BEGIN IMMEDIATE")
                    results = [_attempt(fn, conn) for fn, _ in jobs]
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            results = [(False, exc)] * len(jobs)
        _settle([(future, result) for (_, future), result in zip(jobs, results, strict=True)])
        self._commits += 1
        if self._commits % self.CHECKPOINT_EVERY == 0 and not self._checkpointing:
            self._checkpointing = True
            self._spawn(self._checkpoint())

    async def _checkpoint(self) -> None:
        def passive(conn: sqlite3.Connection) -> tuple[int, int, int]:
            return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

        def restart(conn: sqlite3.Connection) -> tuple[int, int, int]:
            return conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()

        try:
            _, frames, _ = await self._checkpointer.run(passive)
            if frames > self.WAL_LIMIT:
                await self._checkpointer.run(restart)
        except Exception:
            logger.exception("SQLite WAL checkpoint failed")
        finally:
            self._checkpointing = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _via_thread(self, fn: Callable[[sqlite3.Connection], Any],
                          future: asyncio.Future[Any]) -> None:
        try:
            result = await self._fallback.run(lambda conn: _tx(conn, fn))
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)

    def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._checkpointer.close()
        self._fallback.close()


async def _outcome(future: asyncio.Future[T]) -> T:
    """An operation's result, with SQLite's errors as the store's."""
    try:
        return await future
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from exc
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite: {exc}") from exc


def _attempt(fn: Callable[[sqlite3.Connection], Any], conn: sqlite3.Connection
             ) -> tuple[bool, Any]:
    try:
        return True, fn(conn)
    except BaseException as exc:  # delivered to the awaiting caller
        return False, exc


def _settle(items: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    for future, (ok, value) in items:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class _Conn(sqlite3.Connection):
    #: Inside a group commit: whether each operation needs its own savepoint (not when the
    #: batch holds one operation: the whole transaction is rolled back if it fails).
    nested = True


def _tx(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` as one transaction; inside a group commit, as one savepoint of it."""
    if conn.in_transaction and not getattr(conn, "nested", True):
        return fn(conn)
    if conn.in_transaction:
        conn.execute("SAVEPOINT op")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            raise
        conn.execute("RELEASE op")
        return result
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _run_from_row(doc: str) -> RunRecord:
    return RunRecord.from_dict(from_json(doc))


def _write_run(conn: sqlite3.Connection, run: RunRecord) -> None:
    conn.execute(
        "UPDATE fa_runs SET status = ?, attempt = ?, lease_owner = ?, lease_expires_at = ?, "
        "doc = ? WHERE id = ?",
        (run.status, run.attempt, run.lease_owner, run.lease_expires_at,
         _dumps(run.to_dict()), run.id),
    )


class SQLiteStore(LocalSignals, Store):
    """Signals reach this process's listeners only: other processes on the same file notice
    new events and runs by polling (``poll_interval``)."""

    def __init__(self, url: str = "sqlite:///.fastagentic/fastagentic.db") -> None:
        super().__init__()
        self.url = url
        self.path = path_from_url(url)
        thread_writer = _Connection(self.path, group_commit=True)
        # An in-memory database exists per connection: everything goes through one.
        self._reader = thread_writer if self.path == ":memory:" else _Connection(self.path)
        self._writer: _Connection | _LoopWriter = thread_writer if self.path == ":memory:" \
            else _LoopWriter(self.path, thread_writer)
        self._opened = False

    async def open(self) -> None:
        if self._opened:
            return
        if self.path != ":memory:":
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)

        def migrate(conn: sqlite3.Connection) -> None:
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM fa_meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO fa_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{self.url} has schema version {row[0]}; this fastagentic knows "
                    f"{SCHEMA_VERSION}. Upgrade fastagentic."
                )

        try:
            await self._writer.run(migrate, alone=True)
        except BaseException:
            await self._shutdown()
            raise
        self._opened = True

    async def close(self) -> None:
        self._stop_signals()
        if not self._opened:
            return
        self._opened = False
        await self._shutdown()

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        writer = self._writer
        if isinstance(writer, _LoopWriter):
            if writer._jobs:
                writer._flush()
            background = list(writer._background)
            if background:
                await asyncio.gather(*background, return_exceptions=True)
        if self._reader is not self._writer:
            await loop.run_in_executor(None, self._reader.close)
        await loop.run_in_executor(None, self._writer.close)

    async def ping(self) -> None:
        await self._reader.run(lambda c: c.execute("SELECT 1").fetchone())

    # runs

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        check_first_events(run.id, events)
        if events:
            run.last_seq = events[-1].seq
        def op(conn: sqlite3.Connection) -> tuple[RunRecord, bool]:
            def body(conn: sqlite3.Connection) -> tuple[RunRecord, bool]:
                if run.idempotency_key is not None:
                    row = conn.execute(
                        "SELECT doc FROM fa_runs WHERE principal = ? AND idempotency_key = ?",
                        (run.principal, run.idempotency_key),
                    ).fetchone()
                    if row is not None:
                        return _run_from_row(row[0]), False
                conn.execute(
                    "INSERT INTO fa_runs (id, principal, endpoint, status, idempotency_key, "
                    "created_at, attempt, lease_owner, lease_expires_at, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.id, run.principal, run.endpoint, run.status, run.idempotency_key,
                     run.created_at, run.attempt, run.lease_owner, run.lease_expires_at,
                     _dumps(run.to_dict())),
                )
                if events:
                    conn.executemany(
                        "INSERT INTO fa_events (run_id, seq, type, ts, body) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(run.id, e.seq, e.type, e.ts, e.json) for e in events])
                return run, True

            return _tx(conn, body)

        stored, created = await self._writer.run(op)
        if created and events:
            self._emit(EVENTS_SIGNAL, run.id, events[-1].seq)
        return stored, created

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._reader.run(
            lambda c: c.execute("SELECT doc FROM fa_runs WHERE id = ?", (run_id,)).fetchone()
        )
        return _run_from_row(row[0]) if row else None

    async def update_run(
        self,
        run_id: str,
        *,
        expect_attempt: int | None = None,
        expect_status: Collection[str] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        return await self._writer.run(lambda c: _tx(c, lambda conn: self._update(
            conn, run_id, (), expect_attempt, expect_status, changes)))

    def _update(self, conn: sqlite3.Connection, run_id: str, events: Sequence[RunEvent],
                expect_attempt: int | None, expect_status: Collection[str] | None,
                changes: dict[str, Any]) -> RunRecord | None:
        row = conn.execute("SELECT doc FROM fa_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = _run_from_row(row[0])
        if expect_attempt is not None and run.attempt != expect_attempt:
            return None
        if expect_status is not None and run.status not in expect_status:
            return None
        if events:
            if events[0].seq != run.last_seq + 1:
                raise Conflict(f"run {run_id}: event seq {events[0].seq} does not follow "
                               f"{run.last_seq}")
            # The doc (written below) knows the last seq: no MAX(seq) query, and a clash with
            # an existing seq still fails on the primary key.
            self._append(conn, run_id, events, check=False)
            run.last_seq = events[-1].seq
        for key, value in changes.items():
            setattr(run, key, value)
        run.updated_at = time.time()
        _write_run(conn, run)
        return run

    async def list_runs(
        self,
        *,
        principal: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        clauses, params = [], []
        if principal is not None:
            clauses.append("principal = ?")
            params.append(principal)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if endpoint is not None:
            clauses.append("endpoint = ?")
            params.append(endpoint)
        if before is not None:
            clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params.extend([before[0], before[0], before[1]])
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT doc FROM fa_runs {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        rows = await self._reader.run(lambda c: c.execute(sql, params).fetchall())
        return [_run_from_row(r[0]) for r in rows]

    # leases

    @classmethod
    def _take(cls, conn: sqlite3.Connection, doc: str, owner: str, ttl: float, now: float
              ) -> RunRecord:
        return cls._take_run(conn, _run_from_row(doc), owner, ttl, now)

    @staticmethod
    def _take_run(conn: sqlite3.Connection, run: RunRecord, owner: str, ttl: float, now: float
                  ) -> RunRecord:
        run.lease_owner = owner
        run.lease_expires_at = now + ttl
        run.attempt += 1
        run.updated_at = now
        _write_run(conn, run)
        return run

    async def claim_run(
        self, run_id: str, owner: str, ttl: float, *, statuses: Collection[str]
    ) -> RunRecord | None:
        def body(conn: sqlite3.Connection) -> RunRecord | None:
            now = time.time()
            row = conn.execute(
                "SELECT doc, status, lease_owner, lease_expires_at FROM fa_runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            if row is None or row[1] not in statuses:
                return None
            if row[2] is not None and (row[3] or 0) > now:
                return None
            return self._take(conn, row[0], owner, ttl, now)

        return await self._writer.run(lambda c: _tx(c, body))

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        def body(conn: sqlite3.Connection) -> list[RunRecord]:
            now = time.time()
            marks = ",".join("?" * len(ACTIVE))
            # Each key's first ``limit`` waiting runs, oldest first: all a fair pick can take.
            rows = conn.execute(
                "SELECT doc, k FROM (SELECT doc, k, row_number() OVER "
                "(PARTITION BY k ORDER BY created_at, id) AS rn FROM (SELECT doc, created_at, "
                "id, CASE WHEN json_extract(doc, '$.tenant') IS NOT NULL THEN 't:' || "
                "json_extract(doc, '$.tenant') ELSE 'p:' || principal END AS k FROM fa_runs "
                f"WHERE status IN ({marks}) AND (lease_owner IS NULL OR lease_expires_at <= ?)))"
                " WHERE rn <= ? ORDER BY k, rn",
                (*ACTIVE, now, limit),
            ).fetchall()
            if not rows:
                return []
            keys = sorted({k for _, k in rows})
            served = dict(conn.execute(
                f"SELECT key, served FROM fa_fair WHERE key IN ({','.join('?' * len(keys))})",
                keys).fetchall())
            turn = conn.execute("SELECT COALESCE(MAX(served), 0) FROM fa_fair").fetchone()[0]
            claimed = []
            for key, run in fair_picks([(k, _run_from_row(doc)) for doc, k in rows], served,
                                       limit):
                turn += 1
                conn.execute("INSERT OR REPLACE INTO fa_fair (key, served) VALUES (?, ?)",
                             (key, turn))
                claimed.append(self._take_run(conn, run, owner, ttl, now))
            return claimed

        return await self._writer.run(lambda c: _tx(c, body))

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT doc FROM fa_runs WHERE id = ? AND lease_owner = ? AND attempt = ?",
                (run_id, owner, attempt),
            ).fetchone()
            if row is None:
                return False
            run = _run_from_row(row[0])
            run.lease_expires_at = time.time() + ttl
            _write_run(conn, run)
            return True

        return await self._writer.run(lambda c: _tx(c, body))

    # events

    @staticmethod
    def _append(conn: sqlite3.Connection, run_id: str, events: Sequence[RunEvent],
                check: bool = True) -> None:
        for before, after in zip(events, events[1:], strict=False):
            if after.seq != before.seq + 1:
                raise Conflict(f"run {run_id}: event seq {after.seq} does not follow {before.seq}")
        if check:
            last = conn.execute(
                "SELECT MAX(seq) FROM fa_events WHERE run_id = ?", (run_id,)
            ).fetchone()[0] or 0
            if events[0].seq != last + 1:
                raise Conflict(f"run {run_id}: event seq {events[0].seq} does not follow {last}")
        conn.executemany(
            "INSERT INTO fa_events (run_id, seq, type, ts, body) VALUES (?, ?, ?, ?, ?)",
            [(run_id, e.seq, e.type, e.ts, e.json) for e in events],
        )
        if check:
            conn.execute(
                "UPDATE fa_runs SET doc = json_set(doc, '$.last_seq', ?) WHERE id = ?",
                (events[-1].seq, run_id),
            )

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        await self._writer.run(lambda c: _tx(c, lambda conn: self._append(conn, run_id, events)))
        self._emit(EVENTS_SIGNAL, run_id, events[-1].seq)

    async def append_and_update(
        self,
        run_id: str,
        events: Sequence[RunEvent],
        *,
        expect_attempt: int | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        run = await self._writer.run(lambda c: _tx(c, lambda conn: self._update(
            conn, run_id, events, expect_attempt, None, changes)))
        if run is not None and events:
            self._emit(EVENTS_SIGNAL, run_id, events[-1].seq)
        return run

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT seq, type, ts, body FROM fa_events WHERE run_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (run_id, after, limit),
            ).fetchall()
        )
        return [RunEvent(run_id, seq, type_, ts, body) for seq, type_, ts, body in rows]

    # retention

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        sql = ("SELECT doc FROM fa_runs WHERE status IN ('completed', 'failed', 'cancelled') "
               "AND json_extract(doc, '$.finished_at') < ?")
        params: list[Any] = [before]
        if after is not None:
            sql += " AND (json_extract(doc, '$.finished_at'), id) > (?, ?)"
            params += list(after)
        sql += " ORDER BY json_extract(doc, '$.finished_at'), id LIMIT ?"
        params.append(limit)
        rows = await self._reader.run(lambda c: c.execute(sql, params).fetchall())
        return [_run_from_row(r[0]) for r in rows]

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM fa_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row[0] not in TERMINAL:
                return False
            if events or record:
                conn.execute("DELETE FROM fa_events WHERE run_id = ?", (run_id,))
                conn.execute("DELETE FROM fa_ledger WHERE run_id = ?", (run_id,))
            if checkpoints or record:
                conn.execute("DELETE FROM fa_checkpoints WHERE run_id = ?", (run_id,))
            if record:
                conn.execute("DELETE FROM fa_runs WHERE id = ?", (run_id,))
            return True

        return await self._writer.run(lambda c: _tx(c, body))

    # checkpoints

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        doc = _dumps(checkpoint.to_dict())
        await self._writer.run(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO fa_checkpoints (run_id, id, seq, doc) VALUES (?, ?, ?, ?)",
                (checkpoint.run_id, checkpoint.id, checkpoint.seq, doc),
            )
        )

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT doc FROM fa_checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                (run_id,),
            ).fetchone()
        )
        return Checkpoint.from_dict(from_json(row[0])) if row else None

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT doc FROM fa_checkpoints WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        )
        return [Checkpoint.from_dict(from_json(r[0])) for r in rows]

    # tool ledger

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT doc FROM fa_ledger WHERE run_id = ? AND call_id = ?", (run_id, call_id)
            ).fetchone()
        )
        return LedgerEntry.from_dict(from_json(row[0])) if row else None

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        doc = _dumps(entry.to_dict())

        def body(conn: sqlite3.Connection) -> LedgerEntry:
            conn.execute(
                "INSERT OR IGNORE INTO fa_ledger (run_id, call_id, doc) VALUES (?, ?, ?)",
                (entry.run_id, entry.call_id, doc),
            )
            row = conn.execute(
                "SELECT doc FROM fa_ledger WHERE run_id = ? AND call_id = ?",
                (entry.run_id, entry.call_id),
            ).fetchone()
            return LedgerEntry.from_dict(from_json(row[0]))

        return await self._writer.run(lambda c: _tx(c, body))

    # small documents with a time to live

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        expires = time.time() + ttl if ttl is not None else None
        doc = _dumps(value)
        await self._writer.run(lambda c: c.execute(
            "INSERT OR REPLACE INTO fa_kv (namespace, key, doc, expires_at) VALUES (?, ?, ?, ?)",
            (namespace, key, doc, expires)))

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        row = await self._reader.run(lambda c: c.execute(
            "SELECT doc FROM fa_kv WHERE namespace = ? AND key = ? AND "
            "(expires_at IS NULL OR expires_at > ?)", (namespace, key, time.time())).fetchone())
        return from_json(row[0]) if row else None

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE fa_kv SET expires_at = ? WHERE namespace = ? AND key = ? AND "
                "(expires_at IS NULL OR expires_at > ?)", (now + ttl, namespace, key, now))
            return cur.rowcount > 0

        return await self._writer.run(body)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM fa_kv WHERE namespace = ? AND key = ? AND "
                "(expires_at IS NULL OR expires_at > ?)", (namespace, key, time.time()))
            conn.execute("DELETE FROM fa_kv WHERE namespace = ? AND key = ?", (namespace, key))
            return cur.rowcount > 0

        return await self._writer.run(lambda c: _tx(c, body))

    async def kv_count(self, namespace: str) -> int:
        def body(conn: sqlite3.Connection) -> int:
            now = time.time()
            conn.execute("DELETE FROM fa_kv WHERE namespace = ? AND expires_at <= ?",
                         (namespace, now))
            return conn.execute("SELECT COUNT(*) FROM fa_kv WHERE namespace = ?",
                                (namespace,)).fetchone()[0]

        return await self._writer.run(lambda c: _tx(c, body))

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        low, high = _prefix_range(prefix)
        bound = ""
        args: tuple[Any, ...] = (namespace, low, high, time.time())
        if after is not None:
            bound = " AND key < ?" if reverse else " AND key > ?"
            args += (after,)
        sql = ("SELECT key, doc FROM fa_kv WHERE namespace = ? AND key >= ? AND key < ? AND "
               "(expires_at IS NULL OR expires_at > ?)" + bound + " ORDER BY key "
               + ("DESC" if reverse else "ASC") + " LIMIT ?")
        args += (-1 if limit is None else limit,)
        rows = await self._reader.run(lambda c: c.execute(sql, args).fetchall())
        return [(key, from_json(doc)) for key, doc in rows]

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        doc = _dumps(value)
        expires = time.time() + ttl if ttl is not None else None

        def body(conn: sqlite3.Connection) -> bool:
            # One statement: insert, or replace a document that has expired.
            cur = conn.execute(
                "INSERT INTO fa_kv (namespace, key, doc, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET doc = excluded.doc, "
                "expires_at = excluded.expires_at "
                "WHERE fa_kv.expires_at IS NOT NULL AND fa_kv.expires_at <= ?",
                (namespace, key, doc, expires, time.time()))
            return cur.rowcount > 0

        return await self._writer.run(body)

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        def body(conn: sqlite3.Connection) -> int | None:
            now = time.time()
            row = conn.execute(
                "SELECT doc FROM fa_kv WHERE namespace = ? AND key = ? AND "
                "(expires_at IS NULL OR expires_at > ?)", (namespace, key, now)).fetchone()
            value = (int(from_json(row[0])) if row else 0) + delta
            if limit is not None and delta > 0 and value > limit:
                return None
            if row:
                conn.execute("UPDATE fa_kv SET doc = ? WHERE namespace = ? AND key = ?",
                             (str(value), namespace, key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO fa_kv (namespace, key, doc, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (namespace, key, str(value), now + ttl if ttl is not None else None))
            return value

        return await self._writer.run(lambda c: _tx(c, body))

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        low, high = _prefix_range(prefix)

        def body(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM fa_kv WHERE namespace = ? AND key >= ? AND key < ? AND "
                "(expires_at IS NULL OR expires_at > ?)", (namespace, low, high, time.time()))
            conn.execute("DELETE FROM fa_kv WHERE namespace = ? AND key >= ? AND key < ?",
                         (namespace, low, high))
            return cur.rowcount

        return await self._writer.run(lambda c: _tx(c, body))


def _prefix_range(prefix: str) -> tuple[str, str]:
    """Keys starting with ``prefix`` are ``low <= key < high`` (SQLite compares TEXT by its
    UTF-8 bytes, and U+10FFFF sorts after every other code point)."""
    return prefix, prefix + "\U0010ffff"
