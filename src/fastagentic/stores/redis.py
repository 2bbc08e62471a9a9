"""Redis store: every replica and worker shares one Redis server (redis-py asyncio).

URL: ``redis://host:port/db?prefix=NAME`` (``rediss://`` for TLS; redis-py's own query
options pass through).  Every key and the signal channel start with ``NAME:`` (default
``fastagentic``), so several isolated stores share a server; the keys also carry the hash tag
``{NAME}``, so on a Redis Cluster one store's keys sit in one slot, as its scripts need.

Each operation is one round trip: one command, or one Lua script (``redis_scripts``, loaded
once, run by ``EVALSHA``) that is atomic.  Payloads are JSON written by ``pydantic_core``
exactly as the SQLite store writes them; the scripts compare and copy the JSON texts and
never re-encode them, so every value round-trips byte for byte.

Key layout (``B`` is ``NAME:{NAME}:``):

* ``B r:<id>``: a run, a hash of one JSON text per ``RunRecord`` field (a script that
  returns a run joins them into one JSON object);
  ``B idem``: (principal, idempotency key) → run id.
* ``B runs`` and ``B ix:{s,p,e}<JSON>`` (by status, principal, endpoint): sorted sets of run
  ids by ``created_at`` for ``list_runs``; ``B done``: terminal runs by ``finished_at``.
* ``B e:<id>``: the event log, a list whose n-th item is event ``seq`` n (gapless from 1, so
  the length is the last seq and ``read_events`` is one ``LRANGE``).
* ``B c:<id>``/``B cs:<id>``: checkpoint docs and their ids by seq; ``B l:<id>``: the ledger.
* ``B k:<len(ns)>:<ns>:<key>``: a kv entry (a string with Redis's own expiry), indexed per
  namespace by ``B ki:<ns>`` (key order) and ``B kx:<ns>`` (expiry, purged lazily).
* The claim queue: ``B q:<fairness key>`` (runs waiting for a worker, by ``created_at`` then
  id), ``B leases`` (leased active runs by expiry), ``B fresh``/``B turns`` (the fairness
  keys with waiting runs, never served / by when last served), ``B served``, ``B serial``.

Claiming uses sorted sets kept by the scripts, not Streams consumer groups.  A consumer
group's pending-entries list would be a second copy of each lease (owner and idle time)
beside the run record, which holds the lease the fence checks (``attempt``,
``lease_expires_at``); the two can disagree (a run released by ``update_run``, a lease
written or shortened directly, a lease renewed for its own ``ttl``), and ``XAUTOCLAIM``
takes one idle time for all entries where each lease has its own.  A stream is also ordered
by arrival, where ``claim_next`` must serve the least recently served tenant's oldest run
by ``created_at``.  So the run record stays the only truth: every script that writes a run
moves it between the waiting and leased sets from its own fields, in the same atomic step,
and ``claim_next`` first moves expired leases back to waiting, then picks fairly.

Signals go through one pub/sub channel (``NAME:signals``); the ``events`` signal is
published by the same script that appends the events.  One listener task per store keeps a
subscription and reconnects when the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic_core import from_json, to_json

from ..core.events import RunEvent
from ..core.runs import Checkpoint, LedgerEntry, RunRecord
from ..exceptions import ConfigurationError, Conflict, MissingDependency, StoreError
from .base import (
    RawJson,
    SignalHandler,
    Store,
    check_first_events,
    decode_signal,
    encode_signal,
)
from .redis_pool import open_pool
from .redis_scripts import SCRIPTS

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
except ImportError:
    raise MissingDependency("redis", "redis") from None

logger = logging.getLogger("fastagentic.stores.redis")

DEFAULT_PREFIX = "fastagentic"
#: The key layout's version, kept at ``B version``; a newer one is refused.
SCHEMA_VERSION = 1
_RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(RunRecord))


def split_url(url: str) -> tuple[str, str]:
    """``(prefix, url for redis-py)``: the ``prefix`` query parameter taken out."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"not a Redis URL: {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    prefix = prefixes[-1] if prefixes else DEFAULT_PREFIX
    if not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"{url!r}: the prefix must be non-empty and without braces (it is a hash tag)")
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return prefix, urlunsplit(parts._replace(query=rest))


def _dumps(value: Any) -> bytes:
    if type(value) is RawJson:
        return value.text.encode()
    return to_json(value, fallback=repr, inf_nan_mode="strings")


def _run(doc: bytes | None) -> RunRecord | None:
    """A run from the JSON object a script puts together from its hash."""
    return RunRecord.from_dict(from_json(doc)) if doc is not None else None


def _runs(docs: Sequence[bytes]) -> list[RunRecord]:
    return [RunRecord.from_dict(from_json(doc)) for doc in docs]


def _encode_event(event: RunEvent) -> str:
    # type and ts first (neither holds a newline), then the wire JSON as it is.
    return f"{event.type}\n{event.ts!r}\n{event.json}"


def _check_batch(run_id: str, events: Sequence[RunEvent]) -> None:
    for before, after in zip(events, events[1:], strict=False):
        if after.seq != before.seq + 1:
            raise Conflict(f"run {run_id}: event seq {after.seq} does not follow {before.seq}")


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))


#: Scripts that change nothing: safe to run again after a lost connection.
READ_ONLY = frozenset({"get_run", "get_checkpoints", "finished_runs", "kv_list"})


@contextlib.asynccontextmanager
async def _command(seconds: float) -> AsyncIterator[None]:
    """One call to Redis, bounded by ``seconds`` (see ``redis_pool``), its errors as the
    store's (a script's ``CONFLICT`` as :class:`Conflict`)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise StoreError(f"Redis: no answer within {seconds:g} s") from None
    except ResponseError as exc:
        message = str(exc)
        if message.startswith("CONFLICT "):
            raise Conflict(message.removeprefix("CONFLICT ")) from None
        raise StoreError(f"Redis: {message}") from exc
    except RedisError as exc:
        raise StoreError(f"Redis: {exc}") from exc


class RedisStore(Store):
    #: Connections per store (the listener holds one), and how long a caller waits for one.
    CONNECTIONS = 64
    POOL_TIMEOUT = 20.0
    #: Seconds between pings on an idle subscription (a dead connection is noticed).
    PING_EVERY = 15.0
    #: Seconds to wait for a subscription to be confirmed.
    SUBSCRIBE_TIMEOUT = 10.0
    #: Backoff between reconnection attempts of the listener, in seconds.
    RECONNECT_DELAYS = (0.05, 5.0)

    def __init__(self, url: str = "redis://127.0.0.1:6379/0") -> None:
        self.url = url
        self.prefix, self._redis_url = split_url(url)
        self._base = f"{self.prefix}:{{{self.prefix}}}:"
        self.channel = f"{self.prefix}:signals"
        # A bounded pool (callers wait for a free connection rather than fail; the URL may
        # set max_connections=), each connection named after the prefix, so that CLIENT LIST
        # tells which store it serves.
        client_name = re.sub(r"[^!-~]", "_", f"fastagentic:{self.prefix}")
        pool, self.command_timeout = open_pool(
            self._redis_url, connections=self.CONNECTIONS, wait=self.POOL_TIMEOUT,
            what="durable_store", client_name=client_name)
        self._redis = aioredis.Redis.from_pool(pool)
        self._scripts = {name: self._redis.register_script(source)
                         for name, source in SCRIPTS.items()}
        self._handlers: list[SignalHandler] = []
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Future[None] | None = None

    async def _eval(self, name: str, key: str, *args: Any) -> Any:
        script = self._scripts[name]
        argv = [self._base, self.channel, *args]
        async with _command(self.command_timeout):
            if name not in READ_ONLY:
                return await script(keys=[key], args=argv)
            try:
                return await script(keys=[key], args=argv)
            except RedisConnectionError:
                # A pooled connection the server closed (restarted, idle timeout): once
                # more, on a new one (reads only; a write might have been applied already).
                return await script(keys=[key], args=argv)

    def _key(self, kind: str, run_id: str | None = None) -> str:
        return f"{self._base}{kind}" if run_id is None else f"{self._base}{kind}:{run_id}"

    async def open(self) -> None:
        version_key = self._key("version")
        async with _command(self.command_timeout):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(version_key, SCHEMA_VERSION, nx=True)
                pipe.get(version_key)
                for script in self._scripts.values():
                    pipe.script_load(script.script)
                _, version, *_ = await pipe.execute()
        if int(version) > SCHEMA_VERSION:
            raise ConfigurationError(
                f"{self.url} has key layout version {int(version)}; this fastagentic knows "
                f"{SCHEMA_VERSION}. Upgrade fastagentic.")

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        self._handlers.clear()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self._redis.aclose()

    async def ping(self) -> None:
        async with _command(self.command_timeout):
            await self._redis.ping()

    async def warm(self, connections: int) -> None:
        # redis-py opens a connection when no idle one is free: pings at once open them all.
        async with _command(self.command_timeout):
            await asyncio.gather(*(self._redis.ping()
                                   for _ in range(min(connections, self.CONNECTIONS))))

    # runs

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        check_first_events(run.id, events)
        stored = dataclasses.replace(run, last_seq=events[-1].seq if events else run.last_seq)
        fields: list[Any] = []
        for name, value in stored.to_dict().items():
            fields += (name, _dumps(value))
        result = await self._eval("create_run", self._key("r", run.id), run.id, time.time(),
                                  len(fields) // 2, *fields,
                                  *(_encode_event(e) for e in events))
        if result[0] == 1:
            return stored, True
        return RunRecord.from_dict(from_json(result[1])), False

    async def get_run(self, run_id: str) -> RunRecord | None:
        return _run(await self._eval("get_run", self._key("r", run_id), run_id))

    async def update_run(
        self,
        run_id: str,
        *,
        expect_attempt: int | None = None,
        expect_status: Collection[str] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        return await self._update(run_id, (), expect_attempt, expect_status, changes)

    async def _update(self, run_id: str, events: Sequence[RunEvent],
                      expect_attempt: int | None, expect_status: Collection[str] | None,
                      changes: dict[str, Any]) -> RunRecord | None:
        unknown = set(changes) - _RUN_FIELDS
        if unknown:
            raise TypeError(f"RunRecord has no field {sorted(unknown)[0]!r}")
        _check_batch(run_id, events)
        now = time.time()
        pairs: list[Any] = []
        for name, value in {**changes, "updated_at": now}.items():
            pairs += (name, _dumps(value))
        statuses = [_dumps(s) for s in expect_status] if expect_status is not None else []
        doc = await self._eval(
            "update_run", self._key("r", run_id), run_id, now,
            "" if expect_attempt is None else expect_attempt,
            -1 if expect_status is None else len(statuses), *statuses,
            len(pairs) // 2, *pairs,
            events[0].seq if events else "", *(_encode_event(e) for e in events))
        return _run(doc)

    async def list_runs(
        self,
        *,
        principal: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        if limit <= 0:
            return []
        docs = await self._eval(
            "list_runs", self._key("runs"), limit,
            *(before if before is not None else ("", "")),
            *(_dumps(v) if v is not None else "" for v in (status, principal, endpoint)))
        return _runs(docs)

    # leases

    async def claim_run(
        self, run_id: str, owner: str, ttl: float, *, statuses: Collection[str]
    ) -> RunRecord | None:
        now = time.time()
        return _run(await self._eval(
            "claim_run", self._key("r", run_id), run_id, now, _dumps(owner),
            _dumps(now + ttl), _dumps(now), *(_dumps(s) for s in statuses)))

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        if limit <= 0:
            return []
        now = time.time()
        return _runs(await self._eval("claim_next", self._key("leases"), now, _dumps(owner),
                                      _dumps(now + ttl), _dumps(now), limit))

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        now = time.time()
        return bool(await self._eval("renew_lease", self._key("r", run_id), run_id,
                                     _dumps(owner), attempt, _dumps(now + ttl), now))

    # signals between processes

    async def listen(self, handler: SignalHandler) -> None:
        """Raises :class:`StoreError` if the first subscription fails (the listener keeps
        trying, and ``handler`` stays registered)."""
        self._handlers.append(handler)
        if self._listener is None:
            self._subscribed = asyncio.get_running_loop().create_future()
            self._listener = asyncio.create_task(self._listen(),
                                                 name=f"fastagentic-signals-{self.prefix}")
        assert self._subscribed is not None
        await asyncio.shield(self._subscribed)

    async def _listen(self) -> None:
        """Keep a subscription to the channel, reconnecting (with backoff) when it drops."""
        delay, longest = self.RECONNECT_DELAYS
        while True:
            pubsub = self._redis.pubsub()
            try:
                async with asyncio.timeout(self.SUBSCRIBE_TIMEOUT):
                    await pubsub.subscribe(self.channel)
                    while (await pubsub.get_message(timeout=None) or {}).get("type") \
                            != "subscribe":
                        pass
                self._set_subscribed(None)
                delay = self.RECONNECT_DELAYS[0]
                while True:
                    message = await pubsub.get_message(timeout=self.PING_EVERY)
                    if message is None:
                        async with asyncio.timeout(self.command_timeout):
                            await pubsub.ping()
                    elif message["type"] == "message":
                        self._dispatch(message["data"])
            except Exception as exc:
                self._set_subscribed(StoreError(f"Redis: cannot subscribe: {exc}"))
                logger.warning("Redis signal subscription lost (%s); reconnecting in %.2fs",
                               exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    def _set_subscribed(self, error: StoreError | None) -> None:
        """Settle what :meth:`listen` waits for: the first outcome, then any later success."""
        waiter = self._subscribed
        if waiter is None:
            return
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        elif error is None and waiter.exception() is not None:
            self._subscribed = asyncio.get_running_loop().create_future()
            self._subscribed.set_result(None)

    def _dispatch(self, data: bytes) -> None:
        try:
            signal = decode_signal(data.decode())
        except ValueError:
            logger.warning("ignored a malformed signal on %s: %r", self.channel, data[:100])
            return
        for handler in list(self._handlers):
            try:
                handler(*signal)
            except Exception:
                logger.exception("a signal handler failed")

    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        async with _command(self.command_timeout):
            await self._redis.publish(self.channel, encode_signal(kind, run_id, seq))

    # events

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        _check_batch(run_id, events)
        await self._eval("append_events", self._key("e", run_id), run_id, events[0].seq,
                         *(_encode_event(e) for e in events))

    async def append_and_update(
        self,
        run_id: str,
        events: Sequence[RunEvent],
        *,
        expect_attempt: int | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        return await self._update(run_id, events, expect_attempt, None, changes)

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        if limit <= 0:
            return []
        after = max(after, 0)
        async with _command(self.command_timeout):
            raw = await self._redis.lrange(self._key("e", run_id), after, after + limit - 1)
        events = []
        for seq, item in enumerate(raw, after + 1):
            type_, ts, body = item.decode().split("\n", 2)
            events.append(RunEvent(run_id, seq, type_, float(ts), body))
        return events

    # checkpoints

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._eval("put_checkpoint", self._key("c", checkpoint.run_id), checkpoint.run_id,
                         checkpoint.id, checkpoint.seq, _dumps(checkpoint.to_dict()))

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        docs = await self._eval("get_checkpoints", self._key("c", run_id), run_id, 1)
        return Checkpoint.from_dict(from_json(docs[0])) if docs else None

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        docs = await self._eval("get_checkpoints", self._key("c", run_id), run_id, 0)
        return [Checkpoint.from_dict(from_json(doc)) for doc in docs]

    # tool ledger

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        async with _command(self.command_timeout):
            doc = await self._redis.hget(self._key("l", run_id), call_id)
        return LedgerEntry.from_dict(from_json(doc)) if doc is not None else None

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        doc = await self._eval("ledger_put", self._key("l", entry.run_id), entry.run_id,
                               entry.call_id, _dumps(entry.to_dict()))
        return LedgerEntry.from_dict(from_json(doc))

    # retention

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        return _runs(await self._eval("finished_runs", self._key("done"), before, limit,
                                      *(after if after is not None else ("", ""))))

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        return bool(await self._eval("prune_run", self._key("r", run_id), run_id,
                                     int(events), int(checkpoints), int(record)))

    # small documents with a time to live

    def _kv(self, namespace: str) -> tuple[str, str, str]:
        """A namespace's entry key base, key-order index and expiry index."""
        return (f"{self._base}k:{len(namespace)}:{namespace}:", self._key("ki", namespace),
                self._key("kx", namespace))

    async def _kv_entry(self, script: str, namespace: str, key: str, *args: Any) -> Any:
        base, lex, expiry = self._kv(namespace)
        return await self._eval(script, base + key, base + key, lex, expiry, key, *args)

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        await self._kv_entry("kv_put", namespace, key, _dumps(value),
                             "" if ttl is None else _ms(ttl), 0)

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        async with _command(self.command_timeout):
            doc = await self._redis.get(self._kv(namespace)[0] + key)
        return from_json(doc) if doc is not None else None

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        return bool(await self._kv_entry("kv_touch", namespace, key, _ms(ttl)))

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return bool(await self._kv_entry("kv_delete", namespace, key))

    async def kv_count(self, namespace: str) -> int:
        base, lex, expiry = self._kv(namespace)
        return int(await self._eval("kv_count", lex, base, lex, expiry))

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        if limit is not None and limit <= 0:
            return []
        low, high = _lex_range(prefix)
        if after is not None:
            bound = after.encode()
            if reverse and (high == b"+" or bound < high[1:]):
                high = b"(" + bound
            elif not reverse and (low == b"-" or bound >= low[1:]):
                low = b"(" + bound
        base, lex, expiry = self._kv(namespace)
        flat = await self._eval("kv_list", lex, base, lex, expiry, low, high, int(reverse),
                                -1 if limit is None else limit)
        items = iter(flat)
        return [(key.decode(), from_json(doc)) for key, doc in zip(items, items, strict=True)]

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        return bool(await self._kv_entry("kv_put", namespace, key, _dumps(value),
                                         "" if ttl is None else _ms(ttl), 1))

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        return await self._kv_entry("kv_add", namespace, key, delta,
                                    "" if limit is None else limit,
                                    "" if ttl is None else _ms(ttl))

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        base, lex, expiry = self._kv(namespace)
        return int(await self._eval("kv_delete_prefix", lex, base, lex, expiry,
                                    *_lex_range(prefix)))


def _lex_range(prefix: str) -> tuple[bytes, bytes]:
    """``ZRANGEBYLEX`` bounds of the keys starting with ``prefix``: UTF-8 sorts by code point
    and never holds the byte 0xFF, so ``prefix + 0xFF`` is past every such key."""
    if not prefix:
        return b"-", b"+"
    encoded = prefix.encode()
    return b"[" + encoded, b"(" + encoded + b"\xff"
