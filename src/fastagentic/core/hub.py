"""In-process fan-out of persisted event batches to the streams following a run.

Batches written by this process arrive whole (``publish``); events written by another process
(a worker elsewhere) arrive with the store's signal (``wake``): the batch itself when the
signal carried it, else a wake-up that sends the followers back to the store for them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from .events import RunEvent

MAX_QUEUED_BATCHES = 256


class Subscription:
    __slots__ = ("run_id", "batches", "lagged", "_ready")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.batches: deque[list[RunEvent]] = deque()
        self.lagged = False
        self._ready = asyncio.Event()

    def nudge(self) -> None:
        """Events this subscription has not been given exist in the store: read them."""
        self.lagged = True
        self._ready.set()

    def push(self, batch: list[RunEvent]) -> None:
        if len(self.batches) >= MAX_QUEUED_BATCHES:
            # A slow reader: drop the live copies, it re-reads from the store.
            self.batches.clear()
            self.lagged = True
        else:
            self.batches.append(batch)
        self._ready.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until a batch (or a lag signal) arrives; False on timeout."""
        if self.batches or self.lagged:
            return True
        self._ready.clear()
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    def drain(self) -> list[RunEvent]:
        out: list[RunEvent] = []
        while self.batches:
            out.extend(self.batches.popleft())
        return out


class Hub:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        #: The last seq published here, per followed run: a wake-up for events this process
        #: wrote itself (its own signal, coming back) is ignored.
        self._published: dict[str, int] = {}

    def subscribe(self, run_id: str) -> Subscription:
        sub = Subscription(run_id)
        self._subs.setdefault(run_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.run_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.run_id]
                self._published.pop(sub.run_id, None)

    def publish(self, run_id: str, batch: list[RunEvent]) -> None:
        subs = self._subs.get(run_id)
        if subs:
            self._published[run_id] = batch[-1].seq
            for sub in subs:
                sub.push(batch)

    def wake(self, run_id: str, seq: int, batch: Sequence[RunEvent] = ()) -> None:
        """Events up to ``seq`` of the run were committed (by any process); ``batch``: the
        last of them, when the signal carried them (else the followers read the store)."""
        subs = self._subs.get(run_id)
        if not subs or seq <= self._published.get(run_id, 0):
            return
        if batch:
            events = list(batch)
            self._published[run_id] = seq
            for sub in subs:
                sub.push(events)  # a follower that missed the ones before reads those
        else:
            for sub in subs:
                sub.nudge()

    def followers(self, run_id: str) -> int:
        return len(self._subs.get(run_id, ()))
