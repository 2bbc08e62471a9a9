"""Permits of rate limit windows, counted by ``limits`` in memory or in Redis.

:class:`Permits` answers one question for the rate limit stage: may one more call pass this
window for this key, and if not, in how many seconds?  Three things keep it off the hot path:

* **Blocks.**  A busy key takes its permits from the storage in blocks: one round trip per
  block, not per call.  A block is counted in the storage before any of it is used, so the
  processes sharing a Redis never admit more than the limit together.  It holds at most 1% of
  the window's limit (limits under 200 calls are always taken one at a time, exactly) and
  what the key used in the last block's time at its pace (at most twice the last block's use),
  and is used within 0.1 s (a tenth of its window if shorter); what is left of it then is
  dropped.
* **Taken ahead.**  Once three quarters of a block are used or three quarters of its time
  have passed, the next one is counted in the background (:meth:`Permits.refill`, from the
  calls' fast path) and waits beside it, so a busy key's calls do not wait for the storage
  when a block runs out.
* **Refusals are remembered** until the window has room (the time ``limits`` reports), so a
  client that keeps calling a full window costs no round trips.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import limits
from limits.aio import strategies
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.errors import StorageError as LimitsStorageError

from ..exceptions import ConfigurationError, StoreError

#: Redis keys start with this (then ``LIMITER/<rule name>/...``).
KEY_PREFIX = "fastagentic"
#: A block holds at most this share of its window's limit ...
BLOCK_SHARE = 0.01
#: ... and is used within this many seconds (a tenth of its window if that is shorter).
BLOCK_TTL = 0.1
#: Connections per process to Redis (``?max_connections=`` in the URL changes it); calls
#: beyond wait for one.
REDIS_CONNECTIONS = 32
_MAX_KEYS = 10_000


def storage_for(url: str) -> tuple[Any, Callable[[], Awaitable[None]] | None, float | None]:
    """The ``limits`` storage for ``rate_limit_store``, how to close it and how long one call
    to it may take: ``memory://``, or ``redis://host:port/db`` (also ``rediss://``,
    ``unix:///path?db=0``) through redis-py's asyncio client on a bounded pool of ours (see
    ``redis_pool``); no connection opens before the first hit."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryStorage(wrap_exceptions=True), None, None
    if scheme in ("redis", "rediss", "unix"):
        from ..stores.redis_pool import open_pool

        pool, timeout = open_pool(url, connections=REDIS_CONNECTIONS, wait=10,
                            what="rate_limit_store")
        limits_url = "async+redis+unix://" + url[len("unix://"):] if scheme == "unix" \
            else "async+" + url
        storage = RedisStorage(limits_url, implementation="redispy", key_prefix=KEY_PREFIX,
                               wrap_exceptions=True, connection_pool=pool)
        return storage, pool.aclose, timeout
    raise ConfigurationError(
        f"rate_limit_store={url!r}: use memory:// or redis://host:port/db")


@dataclass(slots=True)
class _Key:
    """What this process knows of one window and key."""

    #: Permits of the current block, usable until ``until``.
    left: int = 0
    until: float = 0.0
    #: Set while a block is being taken: the calls that come meanwhile wait for it.
    taking: asyncio.Event | None = None
    #: The window is full until then (monotonic time).
    full_until: float = 0.0
    #: The next block is taken (``Permits.refill``) once ``left`` is down to ``refill_left``
    #: or the time passes ``refill_at``: -1 and infinity while no block is wanted.
    refill_left: int = -1
    refill_at: float = math.inf
    #: When the current block was granted, and with how many permits: the key's pace.
    granted_at: float = 0.0
    granted: int = 0
    #: The block taken ahead: its permits and until when they may be used.
    next_left: int = 0
    next_until: float = 0.0
    #: What the next block is counted with: (limiter, window, key parts).
    source: tuple[Any, limits.RateLimitItem, tuple[str, ...]] | None = None


class Permits:
    """The rate limit counters of one app run (``open`` on start, ``close`` on shutdown)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._storage: Any = None
        self._close: Callable[[], Awaitable[None]] | None = None
        self._timeout: float | None = None
        self._limiters: dict[str, strategies.RateLimiter] = {}
        self._keys: dict[str, _Key] = {}
        #: The same states by (window, key parts): the no-I/O path skips building keys.
        self._local: dict[tuple[limits.RateLimitItem, tuple[str, ...]], _Key] = {}
        #: Bumped whenever states are forgotten: what callers hold of them is stale then.
        self.generation = 0
        self._refills: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        if self._storage is None:
            self._storage, self._close, self._timeout = storage_for(self.url)

    async def close(self) -> None:
        """Forget the counters this process holds and close the Redis connections."""
        close, self._close = self._close, None
        self._storage = None
        self._limiters.clear()
        self._keys.clear()
        self._local.clear()
        self.generation += 1
        refills, self._refills = self._refills, set()
        for task in refills:
            task.cancel()
        await asyncio.gather(*refills, return_exceptions=True)
        if close is not None:
            await close()

    def _limiter(self, strategy: str) -> strategies.RateLimiter:
        limiter = self._limiters.get(strategy)
        if limiter is None:
            self.open()
            limiter = self._limiters[strategy] = strategies.STRATEGIES[strategy](self._storage)
        return limiter

    def states(self, wanted: list[tuple[limits.RateLimitItem, tuple[str, ...]]]
               ) -> list[_Key] | None:
        """This process's states of each ``(window, key parts)``, once it has them all (after
        a :meth:`take` of each), else None; valid while :attr:`generation` stays the same.
        A permit of a state's block may be taken without I/O while ``left > 0`` and
        ``time.monotonic() < until``; when ``left`` is then down to ``refill_left`` or the
        time is past ``refill_at``, call :meth:`refill` (``RateLimits.fast``)."""
        states = [self._local.get(item) for item in wanted]
        return None if None in states else states  # type: ignore[return-value]

    async def take(self, strategy: str, window: limits.RateLimitItem, ids: tuple[str, ...]
                   ) -> float | None:
        """One permit of ``window`` for ``ids``: None when granted, else the seconds until
        the window has room."""
        limiter = self._limiter(strategy)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._take(limiter, window, ids)
        except TimeoutError:
            raise StoreError(
                f"the rate limit store did not answer within {self._timeout:g} s") from None
        except LimitsStorageError as exc:
            raise StoreError(f"the rate limit store is unavailable: {exc}") from None

    async def _take(self, limiter: strategies.RateLimiter, window: limits.RateLimitItem,
                    ids: tuple[str, ...]) -> float | None:
        state = self._local.get((window, ids))
        cap = int(window.amount * BLOCK_SHARE)
        if state is None:
            key = window.key_for(*ids)
            state = self._keys.get(key)
            if state is None and cap <= 1:  # one at a time: no state until the window is full
                if await limiter.hit(window, *ids):
                    return None
                state = self._state(key)
                self._local[(window, ids)] = state
                return await self._full(limiter, window, ids, state)
            if state is None:
                state = self._state(key)
            self._local[(window, ids)] = state
        if state.source is None and cap > 1:
            state.source = (limiter, window, ids)
        while True:
            now = time.monotonic()
            if now < state.until and state.left > 0:
                state.left -= 1
                if state.left <= state.refill_left or now >= state.refill_at:
                    self.refill(state)
                return None
            if state.next_left > 0:  # the block taken ahead takes over
                if now < state.next_until:
                    _grant(state, state.next_left, now, state.next_until)
                    state.next_left = 0
                    continue
                state.next_left = 0  # expired unused: the key slowed down
            if now < state.full_until:
                return state.full_until - now
            if cap <= 1:
                if await limiter.hit(window, *ids):
                    return None
                return await self._full(limiter, window, ids, state)
            if state.taking is None:
                return await self._take_block(limiter, window, ids, state, cap, now)
            await state.taking.wait()

    async def _take_block(self, limiter: strategies.RateLimiter, window: limits.RateLimitItem,
                          ids: tuple[str, ...], state: _Key, cap: int, now: float
                          ) -> float | None:
        size = _next_size(state, now, cap)
        state.left = 0
        state.refill_left, state.refill_at = -1, math.inf
        taking = state.taking = asyncio.Event()
        try:
            if size > 1 and await limiter.hit(window, *ids, cost=size):
                now = time.monotonic()
                _grant(state, size, now, now + _block_ttl(window))
                state.left -= 1  # this call's
                return None
            if not await limiter.hit(window, *ids):  # near the limit: one permit at a time
                return await self._full(limiter, window, ids, state)
            now = time.monotonic()
            _grant(state, 1, now, now + _block_ttl(window))
            state.left = 0
            return None
        finally:
            state.taking = None
            taking.set()

    def refill(self, state: _Key) -> None:
        """Count the next block of a busy key in the background, before the current one runs
        out; it takes over when that one is used up or expires (the calls that find the
        current one empty while it is being counted wait for it)."""
        state.refill_left, state.refill_at = -1, math.inf
        if state.taking is not None or state.source is None or state.next_left > 0:
            return
        task = asyncio.get_running_loop().create_task(self._refill(state))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _refill(self, state: _Key) -> None:
        assert state.source is not None
        limiter, window, ids = state.source
        size = _next_size(state, time.monotonic(), int(window.amount * BLOCK_SHARE))
        if size <= 1:
            return  # the key slowed down: its next call takes a permit as usual
        taking = state.taking = asyncio.Event()
        try:
            async with asyncio.timeout(self._timeout):
                if await limiter.hit(window, *ids, cost=size):
                    state.next_left = size
                    state.next_until = time.monotonic() + _block_ttl(window)
        except (TimeoutError, LimitsStorageError):
            pass  # the calls after this block ask the storage themselves, and see the error
        finally:
            state.taking = None
            taking.set()

    async def _full(self, limiter: strategies.RateLimiter, window: limits.RateLimitItem,
                    ids: tuple[str, ...], state: _Key) -> float:
        """The window is full: until when, remembered."""
        stats = await limiter.get_window_stats(window, *ids)
        wait = max(0.0, stats.reset_time - time.time())
        state.full_until = time.monotonic() + wait
        return wait

    def _state(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= _MAX_KEYS:
                self._purge(time.monotonic())
            state = self._keys[key] = _Key()
        return state

    def _purge(self, now: float) -> None:
        stale = [k for k, s in self._keys.items()
                 if s.until < now and s.full_until < now and s.taking is None]
        for key in stale:
            del self._keys[key]
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._local.clear()  # rebuilt from ``_keys`` as calls come
        self.generation += 1


def _block_ttl(window: limits.RateLimitItem) -> float:
    return min(BLOCK_TTL, window.get_expiry() / 10)


def _next_size(state: _Key, now: float, cap: int) -> int:
    """The next block's size: what the key used of its current block, scaled to a block's
    time at the pace it used it (at most twice as much, at most ``cap``, at least 1)."""
    if state.granted <= 0 or state.source is None:
        return 1  # the key's first block
    used = state.granted - max(state.left, 0)
    elapsed = now - state.granted_at
    ttl = _block_ttl(state.source[1])
    paced = used * ttl / elapsed if elapsed > 0 else math.inf
    return max(1, min(cap, 2 * used, math.ceil(paced)))


def _grant(state: _Key, size: int, now: float, until: float) -> None:
    """A block of ``size`` permits, counted in the storage, is the state's current one until
    ``until``; the next is asked for when a quarter of its permits or of its time is left."""
    state.left = state.granted = size
    state.granted_at = now
    state.until = until
    if size > 1:
        state.refill_left = size // 4
        state.refill_at = now + (until - now) * 3 / 4
    else:
        state.refill_left, state.refill_at = -1, math.inf


__all__ = ["KEY_PREFIX", "Permits", "storage_for"]
