"""Appending to the hash chain: group commit, a cached head, and safe racing between processes.

Entries are stored in the store's kv namespace ``audit`` in *blocks*: one kv document holds
the entries one flush appended (a list, oldest first), under the zero-padded ``seq`` of its
first entry.  A block is written with ``kv_put_new``, so it lands whole or not at all, and never
over another: two processes that both append after entry ``n`` both write key ``n + 1`` and
exactly one wins; the loser re-reads the head (the last block) and chains its entries after
it.  That works the same on every store backend, with no lock.

Many concurrent ``record`` calls share one write: while a block is being written, new entries
queue up and go into the next block.  The head (last ``seq`` and hash) is cached in process, so
an append reads nothing unless another process appended in between.

Racing is optimistic, not fair: a writer that lost re-reads the head before it tries again,
so while another process appends back to back (saturated), it may lose several times in a row
(its callers wait meanwhile); after ``RACE_PATIENCE`` seconds of that its entries fail with
``StoreError``.  The chain stays valid whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ..exceptions import StoreError
from ..stores.base import RawJson, Store
from .entry import GENESIS, NAMESPACE, Draft, key_of, seal, timestamp

logger = logging.getLogger("fastagentic.audit")

#: Entries per block at most (a block is one kv document).
MAX_BLOCK = 256
#: Event loop turns a block waits at most for more entries, while each turn brings some.
GATHER_TURNS = 8
#: Seconds an append keeps losing races to other writers before it gives up.
RACE_PATIENCE = 30.0


async def read_head(store: Store) -> tuple[int, str]:
    """The last entry's ``(seq, hash)``; ``(0, GENESIS)`` for an empty log."""
    last = await store.kv_list(NAMESPACE, limit=1, reverse=True)
    if not last:
        return 0, GENESIS
    key, block = last[0]
    try:
        entry = block[-1]
        return int(entry["seq"]), str(entry["hash"])
    except (TypeError, KeyError, IndexError, ValueError):
        raise StoreError(f"the audit log's last block ({key}) is unreadable; "
                         "run `fastagentic audit verify`") from None


class ChainWriter:
    """Appends entries to one store's chain, in call order, each awaited until stored."""

    def __init__(self, store: Store, running: Callable[[], int] | None = None) -> None:
        self.store = store
        #: How many calls that will queue an entry are still running (None: unknown): a
        #: block gathers no longer once none is.
        self._running = running
        self._head: tuple[int, str] | None = None
        self._queue: list[tuple[Draft, asyncio.Future[bytes]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, body: Draft) -> asyncio.Future[bytes]:
        """Queue ``body``; the future gets the stored entry's JSON."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._queue.append((body, future))
        if self._flusher is None or self._flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush(), name="fastagentic-audit")
        return future

    async def drain(self) -> None:
        """Wait until everything queued is stored (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            while self._queue:
                for _ in range(GATHER_TURNS):  # let calls finishing now join this block
                    if self._running is not None and self._running() <= 0:
                        break  # every call that would join has: nothing more is coming
                    queued = len(self._queue)
                    await asyncio.sleep(0)
                    if len(self._queue) == queued or len(self._queue) >= MAX_BLOCK:
                        break
                batch, self._queue = self._queue[:MAX_BLOCK], self._queue[MAX_BLOCK:]
                try:
                    entries = await self._append([body for body, _ in batch])
                except Exception as exc:
                    self._head = None  # unknown after a failure: read it again next time
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), entry in zip(batch, entries, strict=True):
                    if not future.done():
                        future.set_result(entry)
        finally:
            self._flusher = None

    async def _append(self, bodies: list[Draft]) -> list[bytes]:
        deadline = time.monotonic() + RACE_PATIENCE
        stuck = 0
        while True:
            if self._head is None:
                self._head = await read_head(self.store)
            tried = self._head
            seq, prev = tried
            ts = timestamp().encode()  # one time for the block: when it is written
            entries = []
            for body in bodies:
                seq += 1
                entry, prev = seal(body, seq, prev, ts)
                entries.append(entry)
            block = RawJson((b"[" + b",".join(entries) + b"]").decode())
            if await self.store.kv_put_new(NAMESPACE, key_of(tried[0] + 1), block):
                self._head = (seq, prev)
                return entries
            # Another writer appended first: chain after what it wrote.
            self._head = await read_head(self.store)
            if self._head == tried:  # not visible yet (a lagging read), or a misplaced block
                stuck += 1
                if stuck == 5:
                    raise StoreError(f"the audit log has a block at {key_of(tried[0] + 1)} "
                                     "that its last block does not account for; run "
                                     "`fastagentic audit verify`")
                await asyncio.sleep(0.001 * stuck)
            else:
                stuck = 0
            if time.monotonic() > deadline:
                raise StoreError(f"could not append to the audit log in {RACE_PATIENCE:g} s: "
                                 "other writers kept appending first")


def log_failure(future: asyncio.Future[Any]) -> None:
    """For entries nobody waits for: a failure to store one is logged, not lost silently."""
    if not future.cancelled() and future.exception() is not None:
        logger.error("an audit entry could not be stored", exc_info=future.exception())
