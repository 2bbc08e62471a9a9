"""PostgreSQL store (asyncpg): runs shared by every API replica and worker process.

``postgresql://user:pass@host:5432/db?schema=NAME&pool_min=1&pool_max=10``: every table lives
in the schema ``NAME`` (default ``fastagentic``), created and migrated on :meth:`open`
(see :mod:`.pg_schema`); ``pool_min``/``pool_max`` size the connection pool; the other query
parameters go to asyncpg (``sslmode=``, or server settings such as
``synchronous_commit=off`` to trade the last commits of a server crash for write latency).

Every operation is one statement, so one round trip and one transaction: appends check the
run's ``last_seq`` and insert the events in a single CTE, claims lock with
``FOR UPDATE SKIP LOCKED`` so racing workers never wait for each other, and counters are
updated by ``INSERT ... ON CONFLICT``.  Cross-process signals travel on one ``LISTEN/NOTIFY``
channel named after the schema.  They are sent after the writes they announce have committed,
in small transactions of their own (see :class:`_Notifier`): PostgreSQL serializes the commits
of transactions that notify, so a NOTIFY inside every append would make the appends of all
processes queue for one another's WAL flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic_core import from_json, to_json

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from ..exceptions import MissingDependency

    raise MissingDependency("asyncpg", "postgres") from exc

from ..core.events import RunEvent
from ..core.runs import ACTIVE, TERMINAL, Checkpoint, LedgerEntry, RunRecord
from ..exceptions import ConfigurationError, Conflict, StoreError
from . import pg_schema
from .base import (
    EVENTS_SIGNAL,
    RawJson,
    SignalHandler,
    Store,
    check_first_events,
    decode_signal,
    encode_signal,
)

logger = logging.getLogger("fastagentic.stores.postgres")

DEFAULT_SCHEMA = "fastagentic"
DEFAULT_POOL = (1, 10)

_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))
_JSON_FIELDS = frozenset({"input", "scopes", "roles", "output", "error", "pending", "answers",
                          "usage", "labels"})
_IS_JSON = tuple(name in _JSON_FIELDS for name in _FIELDS)
_N = len(_FIELDS)
#: What a failing database operation raises (OSError covers timeouts and lost sockets).
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
#: Runs of each tenant a claim looks at beyond the ``limit`` it takes: a claimer skips the
#: rows another one has locked, and without these it would come back empty-handed whenever it
#: raced one (and its process would idle until the next signal or poll).
_CLAIM_SLACK = 16
#: A NOTIFY payload is shorter than 8000 bytes (a batch of events larger than that is only
#: announced, and read back by those who follow the run).
_MAX_PAYLOAD = 7999
#: Update statement texts kept (see ``PostgresStore._update_sql``).
_MAX_SHAPES = 128
#: Attempts of an insert-or-read whose row is deleted between the two (pruned meanwhile).
_RETRIES = 3


def _dumps(value: Any) -> str:
    if type(value) is RawJson:
        return value.text
    # The same JSON as the SQLite store's (non-finite floats as strings).
    return to_json(value, fallback=repr, inf_nan_mode="strings").decode()


def _cols(alias: str = "") -> str:
    return ", ".join(f'{alias}"{name}"' for name in _FIELDS)


def _sql_list(values: Collection[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def _lease_free(alias: str, now: str) -> str:
    """No owner, or its lease expired by ``now`` (an owner without an expiry holds none)."""
    return f"({alias}lease_owner IS NULL OR coalesce({alias}lease_expires_at, 0) <= {now})"


def _waiting(alias: str = "") -> str:
    """A run waiting for a worker (``$1``: now): active, its lease free or expired."""
    return f"{alias}status IN ({_sql_list(ACTIVE)}) AND {_lease_free(alias, '$1')}"


def _encode(name: str, value: Any) -> Any:
    return _dumps(value) if name in _JSON_FIELDS else value


def _run(row: Any) -> RunRecord:
    """A run from a row whose first columns are :func:`_cols`."""
    return RunRecord(*[from_json(value) if is_json else value
                       for value, is_json in zip(row, _IS_JSON, strict=False)])


def parse_url(url: str) -> tuple[str, str, int, int]:
    """``(dsn for asyncpg, schema, pool_min, pool_max)`` from a store URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(f"not a PostgreSQL URL: {url!r}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    schema = params.pop("schema", DEFAULT_SCHEMA)
    if not schema or len(schema.encode()) > 63 or "\x00" in schema:
        raise ConfigurationError(f"PostgreSQL schema name {schema!r}: 1 to 63 bytes, no NUL")
    try:
        pool_min = int(params.pop("pool_min", DEFAULT_POOL[0]))
        pool_max = int(params.pop("pool_max", DEFAULT_POOL[1]))
    except ValueError:
        raise ConfigurationError(f"{url!r}: pool_min and pool_max are integers") from None
    if pool_min < 0 or pool_max < 1 or pool_min > pool_max:
        raise ConfigurationError(f"{url!r}: need 0 <= pool_min <= pool_max and pool_max >= 1")
    dsn = urlunsplit(parts._replace(query=urlencode(params)))
    return dsn, schema, pool_min, pool_max


def channel_name(schema: str) -> str:
    """The schema's LISTEN/NOTIFY channel (at most 63 bytes, PostgreSQL's limit)."""
    name = f"fastagentic:{schema}"
    if len(name.encode()) > 63:
        name = "fastagentic:" + hashlib.sha256(schema.encode()).hexdigest()[:40]
    return name


def _prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (in code-point
    order), None if there is none: keys with the prefix are ``prefix <= key < end``."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code <= 0x10FFFF:
            if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters PostgreSQL keeps
                code = 0xE000
            return "".join(chars) + chr(code)
    return None


class _Sql:
    """The statements of one schema, built once."""

    def __init__(self, schema: str) -> None:
        s = pg_schema.quote_ident(schema)
        self.runs, self.events, self.kv = f"{s}.fa_runs", f"{s}.fa_events", f"{s}.fa_kv"
        self.checkpoints, self.ledger = f"{s}.fa_checkpoints", f"{s}.fa_ledger"
        runs, events, cols = self.runs, self.events, _cols()
        values = ", ".join(f"${i}" for i in range(1, _N + 1))
        unnest = (f"unnest(${_N + 1}::bigint[], ${_N + 2}::text[], ${_N + 3}::float8[], "
                  f"${_N + 4}::text[]) AS e(seq, type, ts, body)")
        # The run and its first events; no row when the idempotency key exists.
        self.create_run = f"""
            WITH run AS (
                INSERT INTO {runs} ({cols}) VALUES ({values})
                ON CONFLICT (principal, idempotency_key) WHERE idempotency_key IS NOT NULL
                DO NOTHING RETURNING id
            ), appended AS (
                INSERT INTO {events} (run_id, seq, type, ts, body)
                SELECT run.id, e.seq, e.type, e.ts, e.body FROM run, {unnest}
            )
            SELECT 1 FROM run"""
        self.get_by_key = (f"SELECT {cols} FROM {runs} WHERE principal = $1 AND "
                           "idempotency_key = $2")
        self.get_run = f"SELECT {cols} FROM {runs} WHERE id = $1"
        self.run_state = f"SELECT attempt, last_seq FROM {runs} WHERE id = $1"
        # $1 run, $2 the seq the batch follows, $3 its last seq, $4-$7 the events: one row if
        # appended (the run's last_seq fences a stale or racing writer).
        self.append = f"""
            WITH run AS (
                UPDATE {runs} SET last_seq = $3 WHERE id = $1 AND last_seq = $2 RETURNING id
            ), appended AS (
                INSERT INTO {events} (run_id, seq, type, ts, body)
                SELECT run.id, e.seq, e.type, e.ts, e.body FROM run,
                    unnest($4::bigint[], $5::text[], $6::float8[], $7::text[])
                    AS e(seq, type, ts, body)
            )
            SELECT 1 FROM run"""
        self.read_events = (f"SELECT seq, type, ts, body FROM {events} WHERE run_id = $1 AND "
                            "seq > $2 ORDER BY seq LIMIT $3")
        lease_free = _lease_free("", "$4")
        self.claim_run = f"""
            UPDATE {runs} SET lease_owner = $2, lease_expires_at = $3, attempt = attempt + 1,
                updated_at = $4
            WHERE id = $1 AND status = ANY($5::text[]) AND {lease_free}
            RETURNING {cols}"""
        self.renew_lease = (f"UPDATE {runs} SET lease_expires_at = $4 WHERE id = $1 AND "
                            "lease_owner = $2 AND attempt = $3 RETURNING 1")
        self.claim_next = self._claim_next(s)
        finished = (f"SELECT {cols} FROM {runs} WHERE status IN ({_sql_list(TERMINAL)}) AND "
                    "finished_at < $1")
        self.finished_runs = f"{finished} ORDER BY finished_at, id LIMIT $2"
        self.finished_runs_after = (f"{finished} AND (finished_at, id) > ($3, $4) "
                                    "ORDER BY finished_at, id LIMIT $2")
        self.prune_run = f"""
            WITH run AS (
                SELECT id FROM {runs} WHERE id = $1 AND status IN ({_sql_list(TERMINAL)})
                FOR UPDATE
            ), events AS (
                DELETE FROM {events} WHERE $2 AND run_id IN (SELECT id FROM run)
            ), ledger AS (
                DELETE FROM {self.ledger} WHERE $2 AND run_id IN (SELECT id FROM run)
            ), checkpoints AS (
                DELETE FROM {self.checkpoints} WHERE $3 AND run_id IN (SELECT id FROM run)
            ), record AS (
                DELETE FROM {runs} WHERE $4 AND id IN (SELECT id FROM run)
            )
            SELECT count(*) FROM run"""
        self.put_checkpoint = f"""
            INSERT INTO {self.checkpoints} (run_id, id, seq, doc) VALUES ($1, $2, $3, $4)
            ON CONFLICT (run_id, id) DO UPDATE SET seq = excluded.seq, doc = excluded.doc"""
        self.latest_checkpoint = (f"SELECT doc FROM {self.checkpoints} WHERE run_id = $1 "
                                  "ORDER BY seq DESC, id DESC LIMIT 1")
        self.list_checkpoints = (f"SELECT doc FROM {self.checkpoints} WHERE run_id = $1 "
                                 "ORDER BY seq, id")
        self.ledger_get = f"SELECT doc FROM {self.ledger} WHERE run_id = $1 AND call_id = $2"
        self.ledger_put = (f"INSERT INTO {self.ledger} (run_id, call_id, doc) VALUES "
                           "($1, $2, $3) ON CONFLICT DO NOTHING RETURNING doc")
        self._kv_statements()

    def _claim_next(self, s: str) -> str:
        """$1 now, $2 limit, $3 owner, $4 lease expiry.

        The waiting keys are found by a skip scan of the ``fa_runs_waiting`` index, each
        key's first ``limit`` runs (and ``_CLAIM_SLACK`` more, which a claimer racing this one
        may hold) by a range scan of it; ``fa_served`` holds when each key
        was served last (the call's turn, then the pick's position in it).  The picks are
        ordered round by round (``rn``), keys by that memory, and locked in that order
        skipping rows another claimer holds; the keys served are then remembered.

        ``candidates`` is materialized: computed once, whatever the join order the planner
        picks for ``locked``.  Inlined, with statistics taken while the queue was empty (a
        burst after a quiet spell), the planner ran it again for every waiting run: 38 ms
        instead of 1 ms per claim with 1,000 runs waiting."""
        runs, waiting, served = self.runs, _waiting(), f"{s}.fa_served"
        order = "rn, turn NULLS FIRST, ord, first_created, first_id"
        return f"""
            WITH RECURSIVE keys(k) AS (
                (SELECT fairness_key FROM {runs} WHERE {waiting}
                 ORDER BY fairness_key LIMIT 1)
                UNION ALL
                SELECT (SELECT fairness_key FROM {runs} WHERE {waiting}
                        AND fairness_key > keys.k ORDER BY fairness_key LIMIT 1)
                FROM keys WHERE keys.k IS NOT NULL
            ), candidates AS MATERIALIZED (
                SELECT c.id, c.rn, s.turn, s.ord, c.first_created, c.first_id
                FROM keys
                LEFT JOIN {served} s ON s.key = keys.k
                CROSS JOIN LATERAL (
                    SELECT id, row_number() OVER w AS rn,
                        first_value(created_at) OVER w AS first_created,
                        first_value(id) OVER w AS first_id
                    FROM {runs} WHERE fairness_key = keys.k AND {waiting}
                    WINDOW w AS (ORDER BY created_at, id)
                    ORDER BY created_at, id LIMIT $2 + {_CLAIM_SLACK}
                ) c
                WHERE keys.k IS NOT NULL
            ), locked AS (
                SELECT r.id, r.fairness_key AS k, c.rn, c.turn, c.ord, c.first_created,
                    c.first_id
                FROM {runs} r JOIN candidates c ON c.id = r.id
                WHERE {_waiting("r.")}
                ORDER BY {order}
                LIMIT $2
                FOR UPDATE OF r SKIP LOCKED
            ), picked AS (
                SELECT id, k, row_number() OVER (ORDER BY {order}) AS pos FROM locked
            ), claimed AS (
                UPDATE {runs} r SET lease_owner = $3, lease_expires_at = $4,
                    attempt = r.attempt + 1, updated_at = $1
                FROM picked p WHERE r.id = p.id
                RETURNING {_cols("r.")}, p.pos, p.k
            ), turn AS (
                SELECT nextval('{s}.fa_served_turn') AS n
            ), remembered AS (
                INSERT INTO {served} AS s (key, turn, ord)
                SELECT k, (SELECT n FROM turn), max(pos) FROM claimed GROUP BY k ORDER BY k
                ON CONFLICT (key) DO UPDATE SET turn = excluded.turn, ord = excluded.ord
                WHERE (s.turn, s.ord) < (excluded.turn, excluded.ord)
            )
            SELECT * FROM claimed ORDER BY pos"""

    def _kv_statements(self) -> None:
        kv = self.kv
        live = "(expires_at IS NULL OR expires_at > $3)"
        self.kv_put = f"""
            INSERT INTO {kv} (namespace, key, doc, expires_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (namespace, key) DO UPDATE
            SET doc = excluded.doc, expires_at = excluded.expires_at"""
        self.kv_get = f"SELECT doc FROM {kv} WHERE namespace = $1 AND key = $2 AND {live}"
        self.kv_touch = (f"UPDATE {kv} SET expires_at = $4 WHERE namespace = $1 AND key = $2 "
                         f"AND {live} RETURNING 1")
        self.kv_delete = f"""
            WITH gone AS (
                DELETE FROM {kv} WHERE namespace = $1 AND key = $2 RETURNING expires_at
            )
            SELECT count(*) FROM gone WHERE {live}"""
        self.kv_count = f"""
            WITH purged AS (
                DELETE FROM {kv} WHERE namespace = $1 AND expires_at <= $2
            )
            SELECT count(*) FROM {kv}
            WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2)"""
        # An expired entry is replaced; a live one is kept (no row returned).
        self.kv_put_new = f"""
            INSERT INTO {kv} AS kv (namespace, key, doc, expires_at) VALUES ($1, $2, $4, $5)
            ON CONFLICT (namespace, key) DO UPDATE
            SET doc = excluded.doc, expires_at = excluded.expires_at
            WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= $3
            RETURNING 1"""
        # $4 delta, $5 limit (NULL: none), $6 the expiry of a new counter.  A live counter
        # keeps its expiry; an expired one restarts at 0 with the new one.  Refused (no row)
        # when an increase would pass the limit.
        alive = "(kv.expires_at IS NULL OR kv.expires_at > $3)"
        value = f"(CASE WHEN {alive} THEN kv.doc::bigint ELSE 0 END + $4::bigint)"
        self.kv_add = f"""
            INSERT INTO {kv} AS kv (namespace, key, doc, expires_at)
            VALUES ($1, $2, $4::bigint::text, $6)
            ON CONFLICT (namespace, key) DO UPDATE
            SET doc = {value}::text,
                expires_at = CASE WHEN {alive} THEN kv.expires_at ELSE excluded.expires_at END
            WHERE $5::bigint IS NULL OR $4::bigint <= 0 OR {value} <= $5::bigint
            RETURNING doc::bigint"""
        # An increase larger than the limit can only apply to a live counter below zero.
        self.kv_add_over = f"""
            UPDATE {kv} SET doc = (doc::bigint + $4::bigint)::text
            WHERE namespace = $1 AND key = $2 AND {live} AND doc::bigint + $4::bigint <= $5
            RETURNING doc::bigint"""


class _Listener:
    """One connection, outside the pool, LISTENing on the store's channel.

    Notifications reach the handlers in the event loop, one at a time, in commit order.  A
    supervisor task notices a dropped connection (asyncpg's termination callback, or a
    keep-alive query that fails) and connects again, backing off while the server is away;
    signals sent meanwhile are lost, which only delays readers (the store stays the truth).
    """

    KEEPALIVE = 15.0  # seconds between liveness queries on an idle connection
    BACKOFF = (0.05, 2.0)  # first and longest wait between reconnection attempts

    def __init__(self, dsn: str, channel: str, schema: str) -> None:
        self._dsn = dsn
        self._channel = channel
        # Shown in pg_stat_activity (PostgreSQL cuts it at 63 bytes).
        self._name = f"fastagentic listener {schema}"
        self.handlers: list[SignalHandler] = []
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Listen; raises :class:`StoreError` if the first connection fails."""
        with _translated():
            self._conn = await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _connect(self) -> Any:
        conn = await asyncpg.connect(self._dsn,
                                     server_settings={"application_name": self._name})
        try:
            await conn.add_listener(self._channel, self._deliver)
        except BaseException:
            conn.terminate()
            raise
        return conn

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            if "\n" in payload:
                kind, run_id, number, events = decode_signal(payload)
            else:  # "kind seq run_id", from a process of an earlier version
                kind, seq, run_id = payload.split(" ", 2)
                number, events = int(seq), []
        except ValueError:
            logger.warning("ignoring a malformed signal on %s: %r", self._channel, payload[:200])
            return
        for handler in list(self.handlers):
            try:
                handler(kind, run_id, number, events)
            except Exception:
                logger.exception("a store signal handler failed")

    async def _supervise(self) -> None:
        delay = self.BACKOFF[0]
        while True:
            await self._watch(self._conn)
            self._conn.terminate()
            logger.warning("lost the PostgreSQL listener connection; reconnecting")
            while True:
                try:
                    self._conn = await self._connect()
                    break
                except _DB_ERRORS as exc:
                    logger.warning("PostgreSQL listener: %s; retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.BACKOFF[1])
            delay = self.BACKOFF[0]

    async def _watch(self, conn: Any) -> None:
        """Return when ``conn`` is gone."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        while not conn.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), self.KEEPALIVE)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.wait_for(conn.execute("SELECT 1"), self.KEEPALIVE)
            except _DB_ERRORS:
                return

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except _DB_ERRORS:
                conn.terminate()
        self.handlers.clear()


class _Notifier:
    """Sends this process's signals, each after the write it announces has committed.

    PostgreSQL serializes the commits of transactions that NOTIFY (a lock on the notification
    queue, held through the commit's WAL flush): an append that notified in its own statement
    waited for the flush of every other notifying append, in every process.  Nothing depends on
    a signal being durable (the store is the truth, and a lost one only delays a reader), so
    they go in transactions of their own that commit without waiting for the flush
    (``synchronous_commit`` off): the lock is held for microseconds.  One batch is in flight at
    a time; signals sent meanwhile go together in the next, in the order they were sent.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._pending: list[str] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    def send(self, pool: Any, payload: str) -> None:
        """Queue ``payload`` (a failure to send it is logged)."""
        self._pending.append(payload)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush(pool))

    async def send_and_wait(self, pool: Any, payload: str) -> None:
        """Send ``payload``; raises :class:`StoreError` if it could not be."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.send(pool, payload)
        await waiter

    async def _flush(self, pool: Any) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                waiters, self._waiters = self._waiters, []
                error: BaseException | None = None
                try:
                    with _translated():
                        await pool.execute(_NOTIFY, self.channel, batch)
                except StoreError as exc:
                    error = exc
                    if not waiters:
                        logger.warning("lost %d signal(s) on %s: %s", len(batch), self.channel,
                                       exc)
                for waiter in waiters:
                    if not waiter.done():
                        if error is None:
                            waiter.set_result(None)
                        else:
                            waiter.set_exception(error)
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until the signals queued so far are sent."""
        while self._task is not None:
            await asyncio.shield(self._task)


#: One batch of signals in one transaction whose commit does not wait for the WAL flush.
_NOTIFY = """
    SELECT pg_notify($1, payload)
    FROM (SELECT set_config('synchronous_commit', 'off', true)) AS local_setting,
        unnest($2::text[]) AS batch(payload)"""


async def _init(conn: Any) -> None:
    """A new pooled connection: asyncpg looks up the codecs of array types on their first use
    on each connection (a query more in the middle of a run's first commit); the store's
    (``text[]`` has a built-in codec) are looked up here instead."""
    await conn.prepare("SELECT $1::bigint[], $2::float8[]")


async def _reset(conn: Any) -> None:
    """A pooled connection's reset on release.  The store's statements leave nothing behind
    but, after an error inside a transaction, that transaction: asyncpg's default reset
    (``RESET ALL``, ``UNLISTEN *``...) would cost every query a second round trip."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """PostgreSQL's errors as the store's: a unique violation is a Conflict."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"PostgreSQL: {exc}") from exc
    except _DB_ERRORS as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc


class PostgresStore(Store):
    """The :class:`Store` on PostgreSQL (see the module's docstring for the URL)."""

    #: ``(version before, version after)`` of the schema migrations the last :meth:`open`
    #: applied (equal: the schema was up to date); None before it.
    migration: tuple[int, int] | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self._dsn, self.schema, self._pool_min, self._pool_max = parse_url(url)
        self.channel = channel_name(self.schema)
        self._sql = _Sql(self.schema)
        #: Statement texts by shape (see :meth:`_update_sql`), and with an append around them.
        self._updates: dict[tuple[tuple[str, ...], bool, bool, bool], str] = {}
        self._appends: dict[str, str] = {}
        self._pool: Any = None
        self._listener = _Listener(self._dsn, self.channel, self.schema)
        self._notifier = _Notifier(self.channel)
        self._listen_lock = asyncio.Lock()

    async def open(self) -> None:
        if self._pool is not None:
            return
        with _translated():
            pool = await asyncpg.create_pool(self._dsn, min_size=self._pool_min,
                                             max_size=self._pool_max, reset=_reset,
                                             init=_init)
        try:
            with _translated():
                async with pool.acquire() as conn:
                    self.migration = await pg_schema.migrate(conn, self.schema)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def close(self) -> None:
        await self._notifier.drain()
        await self._listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()

    @property
    def _db(self) -> Any:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        with _translated():
            return await self._db.fetch(sql, *args)

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        with _translated():
            return await self._db.fetchrow(sql, *args)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        with _translated():
            return await self._db.fetchval(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> None:
        with _translated():
            await self._db.execute(sql, *args)

    async def ping(self) -> None:
        await self._fetchval("SELECT 1")

    async def warm(self, connections: int) -> None:
        pool = self._db
        # Held at once, so each is another connection (opened unless the pool has it).
        results = await asyncio.gather(
            *(pool.acquire() for _ in range(min(connections, self._pool_max))),
            return_exceptions=True)
        for conn in results:
            if not isinstance(conn, BaseException):
                await pool.release(conn)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            with _translated():
                raise failed

    # runs

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        check_first_events(run.id, events)
        values = [_encode(name, getattr(run, name)) for name in _FIELDS]
        if events:
            values[_FIELDS.index("last_seq")] = events[-1].seq
        args = (*values, [e.seq for e in events], [e.type for e in events],
                [e.ts for e in events], [e.json for e in events])
        for _ in range(_RETRIES):
            if await self._fetch(self._sql.create_run, *args):
                if events:
                    self._notify(run.id, events)
                return _run(values), True
            # The idempotency key is taken: read its run (in a new snapshot, which sees it
            # even if it committed while the insert waited for it).
            row = await self._fetchrow(self._sql.get_by_key, run.principal,
                                       run.idempotency_key)
            if row is not None:
                return _run(row), False
        raise Conflict(f"run {run.id}: its idempotency key keeps being taken and released")

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._fetchrow(self._sql.get_run, run_id)
        return _run(row) if row is not None else None

    def _update_sql(self, run_id: str, changes: dict[str, Any], expect_attempt: int | None,
                    expect_status: Collection[str] | None, follows: int | None
                    ) -> tuple[str, list[Any]]:
        """``UPDATE`` of one run applying ``changes`` (and ``updated_at``) if it matches the
        expectations (``follows``: its ``last_seq``); returns the new row."""
        if "updated_at" in changes:  # always now
            changes = {name: value for name, value in changes.items() if name != "updated_at"}
        args: list[Any] = [run_id]
        for name, value in changes.items():
            args.append(_dumps(value) if name in _JSON_FIELDS else value)
        args.append(time.time())  # updated_at
        for value in (expect_attempt, expect_status, follows):
            if value is not None:
                args.append(list(value) if isinstance(value, Collection) else value)
        shape = (tuple(changes), expect_attempt is not None, expect_status is not None,
                 follows is not None)
        sql = self._updates.get(shape)
        if sql is None:
            if len(self._updates) >= _MAX_SHAPES:  # never more than a handful in practice
                self._updates.clear()
                self._appends.clear()
            sql = self._updates[shape] = self._update_text(*shape)
        return sql, args

    def _update_text(self, names: tuple[str, ...], attempt: bool, status: bool,
                     follows: bool) -> str:
        """The text of :meth:`_update_sql`'s statement for one shape of update (there are a
        handful: the texts are kept, not built again for every write)."""
        unknown = set(names) - set(_FIELDS) | ({"id"} & set(names))
        if unknown:
            raise TypeError(f"update_run: cannot set {', '.join(sorted(unknown))}")
        sets = [f'"{name}" = ${i}' for i, name in enumerate((*names, "updated_at"), 2)]
        where = ["id = $1"]
        n = len(sets) + 1
        for clause, present in (("attempt = ${}", attempt),
                                ("status = ANY(${}::text[])", status),
                                ("last_seq = ${}", follows)):
            if present:
                n += 1
                where.append(clause.format(n))
        return (f"UPDATE {self._sql.runs} SET {', '.join(sets)} WHERE {' AND '.join(where)} "
                f"RETURNING {_cols()}")

    async def update_run(
        self,
        run_id: str,
        *,
        expect_attempt: int | None = None,
        expect_status: Collection[str] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        sql, args = self._update_sql(run_id, changes, expect_attempt, expect_status, None)
        row = await self._fetchrow(sql, *args)
        return _run(row) if row is not None else None

    async def list_runs(
        self,
        *,
        principal: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("principal", principal), ("status", status),
                              ("endpoint", endpoint)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        if before is not None:
            args.extend(before)
            clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        args.append(limit)
        rows = await self._fetch(
            f"SELECT {_cols()} FROM {self._sql.runs} {where} "
            f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)
        return [_run(row) for row in rows]

    # leases

    async def claim_run(
        self, run_id: str, owner: str, ttl: float, *, statuses: Collection[str]
    ) -> RunRecord | None:
        now = time.time()
        row = await self._fetchrow(self._sql.claim_run, run_id, owner, now + ttl, now,
                                   list(statuses))
        return _run(row) if row is not None else None

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        if limit <= 0:
            return []
        now = time.time()
        rows = await self._fetch(self._sql.claim_next, now, limit, owner, now + ttl)
        return [_run(row) for row in rows]

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        renewed = await self._fetchval(self._sql.renew_lease, run_id, owner, attempt,
                                       time.time() + ttl)
        return renewed is not None

    # signals between processes

    async def listen(self, handler: SignalHandler) -> None:
        self._listener.handlers.append(handler)
        async with self._listen_lock:
            if not self._listener.started:
                try:
                    await self._listener.start()
                except BaseException:
                    self._listener.handlers.remove(handler)
                    raise

    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        await self._notifier.send_and_wait(self._db, encode_signal(kind, run_id, seq))

    def _notify(self, run_id: str, events: Sequence[RunEvent]) -> None:
        """Signal committed events without waiting (a lost signal only delays readers)."""
        if self._pool is not None:
            self._notifier.send(self._pool, encode_signal(
                EVENTS_SIGNAL, run_id, events[-1].seq, events, _MAX_PAYLOAD))

    # events

    @staticmethod
    def _check_batch(run_id: str, events: Sequence[RunEvent]) -> None:
        for before, after in zip(events, events[1:], strict=False):
            if after.seq != before.seq + 1:
                raise Conflict(f"run {run_id}: event seq {after.seq} does not follow {before.seq}")

    async def _refused_append(self, run_id: str, first: int) -> Conflict:
        row = await self._fetchrow(self._sql.run_state, run_id)
        if row is None:
            return Conflict(f"run {run_id} does not exist")
        return Conflict(f"run {run_id}: event seq {first} does not follow {row['last_seq']}")

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        self._check_batch(run_id, events)
        first, last = events[0].seq, events[-1].seq
        rows = await self._fetch(
            self._sql.append, run_id, first - 1, last, [e.seq for e in events],
            [e.type for e in events], [e.ts for e in events], [e.json for e in events])
        if not rows:
            raise await self._refused_append(run_id, first)
        self._notify(run_id, events)

    async def append_and_update(
        self,
        run_id: str,
        events: Sequence[RunEvent],
        *,
        expect_attempt: int | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        if not events:
            return await self.update_run(run_id, expect_attempt=expect_attempt, **changes)
        self._check_batch(run_id, events)
        first, last = events[0].seq, events[-1].seq
        update, args = self._update_sql(run_id, {"last_seq": last, **changes}, expect_attempt,
                                        None, first - 1)
        sql = self._appends.get(update)
        if sql is None:
            n = len(args)
            sql = self._appends[update] = f"""
                WITH run AS ({update}), appended AS (
                    INSERT INTO {self._sql.events} (run_id, seq, type, ts, body)
                    SELECT run.id, e.seq, e.type, e.ts, e.body FROM run,
                        unnest(${n + 1}::bigint[], ${n + 2}::text[], ${n + 3}::float8[],
                               ${n + 4}::text[]) AS e(seq, type, ts, body)
                )
                SELECT * FROM run"""
        row = await self._fetchrow(
            sql, *args, [e.seq for e in events], [e.type for e in events],
            [e.ts for e in events], [e.json for e in events])
        if row is not None:
            self._notify(run_id, events)
            return _run(row)
        state = await self._fetchrow(self._sql.run_state, run_id)
        if state is None or (expect_attempt is not None and state["attempt"] != expect_attempt):
            return None
        raise Conflict(f"run {run_id}: event seq {first} does not follow {state['last_seq']}")

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        rows = await self._fetch(self._sql.read_events, run_id, after, limit)
        return [RunEvent(run_id, seq, type_, ts, body) for seq, type_, ts, body in rows]

    # retention

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        if after is None:
            rows = await self._fetch(self._sql.finished_runs, before, limit)
        else:
            rows = await self._fetch(self._sql.finished_runs_after, before, limit, *after)
        return [_run(row) for row in rows]

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        found = await self._fetchval(self._sql.prune_run, run_id, events or record,
                                     checkpoints or record, record)
        return found > 0

    # checkpoints

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._execute(self._sql.put_checkpoint, checkpoint.run_id, checkpoint.id,
                            checkpoint.seq, _dumps(checkpoint.to_dict()))

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        doc = await self._fetchval(self._sql.latest_checkpoint, run_id)
        return Checkpoint.from_dict(from_json(doc)) if doc is not None else None

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        rows = await self._fetch(self._sql.list_checkpoints, run_id)
        return [Checkpoint.from_dict(from_json(row[0])) for row in rows]

    # tool ledger

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        doc = await self._fetchval(self._sql.ledger_get, run_id, call_id)
        return LedgerEntry.from_dict(from_json(doc)) if doc is not None else None

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        doc = _dumps(entry.to_dict())
        for _ in range(_RETRIES):
            won = await self._fetchval(self._sql.ledger_put, entry.run_id, entry.call_id, doc)
            # Else an earlier write won: read it (a new snapshot sees it).
            won = won or await self._fetchval(self._sql.ledger_get, entry.run_id,
                                              entry.call_id)
            if won is not None:
                return LedgerEntry.from_dict(from_json(won))
        raise Conflict(f"run {entry.run_id}: ledger entry {entry.call_id} keeps being "
                       "written and removed")

    # small documents with a time to live

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        expires = time.time() + ttl if ttl is not None else None
        await self._execute(self._sql.kv_put, namespace, key, _dumps(value), expires)

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        doc = await self._fetchval(self._sql.kv_get, namespace, key, time.time())
        return from_json(doc) if doc is not None else None

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        now = time.time()
        return await self._fetchval(self._sql.kv_touch, namespace, key, now, now + ttl) \
            is not None

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return await self._fetchval(self._sql.kv_delete, namespace, key, time.time()) > 0

    async def kv_count(self, namespace: str) -> int:
        return await self._fetchval(self._sql.kv_count, namespace, time.time())

    def _key_range(self, prefix: str, args: list[Any]) -> str:
        """The condition on ``key`` for keys starting with ``prefix`` (an index range)."""
        if not prefix:
            return ""
        args.append(prefix)
        clause = f" AND key >= ${len(args)}"
        end = _prefix_end(prefix)
        if end is not None:
            args.append(end)
            clause += f" AND key < ${len(args)}"
        return clause

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        args: list[Any] = [namespace, time.time(), limit]
        where = self._key_range(prefix, args)
        if after is not None:
            args.append(after)
            where += f" AND key {'<' if reverse else '>'} ${len(args)}"
        rows = await self._fetch(
            f"SELECT key, doc FROM {self._sql.kv} WHERE namespace = $1 AND "
            f"(expires_at IS NULL OR expires_at > $2){where} "
            f"ORDER BY key {'DESC' if reverse else 'ASC'} LIMIT $3", *args)
        return [(key, from_json(doc)) for key, doc in rows]

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        now = time.time()
        inserted = await self._fetchval(self._sql.kv_put_new, namespace, key, now,
                                        _dumps(value), now + ttl if ttl is not None else None)
        return inserted is not None

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        now = time.time()
        if limit is not None and delta > 0 and delta > limit:
            return await self._fetchval(self._sql.kv_add_over, namespace, key, now, delta,
                                        limit)
        return await self._fetchval(self._sql.kv_add, namespace, key, now, delta, limit,
                                    now + ttl if ttl is not None else None)

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        args: list[Any] = [namespace, time.time()]
        where = self._key_range(prefix, args)
        return await self._fetchval(
            f"WITH gone AS (DELETE FROM {self._sql.kv} WHERE namespace = $1{where} "
            "RETURNING expires_at) SELECT count(*) FROM gone "
            "WHERE expires_at IS NULL OR expires_at > $2", *args)
