"""The async ``Store`` interface every backend implements.

The contract (checked for every backend by ``fastagentic.testing.store_contract``):

* ``create_run`` is atomic with the idempotency key: the same (principal, key) never yields two
  runs, however many callers race.
* ``append_events`` (and ``append_and_update``) take the run's next gapless ``seq`` values;
  a ``seq`` that already exists is refused with :class:`~fastagentic.exceptions.Conflict`
  (this fences a stale attempt).
* ``kv_*`` keep small documents by (namespace, key) with an optional time to live; an expired
  entry is gone (protocol sessions live here, so any replica can serve them).
* ``claim_run``/``claim_next`` hand a run to exactly one owner under a lease and bump its
  ``attempt``; ``renew_lease`` and ``update_run(expect_attempt=...)`` fail for a stale owner.
  ``claim_next`` serves tenants in turn, so a tenant with a thousand queued runs cannot starve
  one with a single run.
* ``listen`` delivers the signals of every process sharing the store: an ``events`` signal
  after each committed append, and whatever ``signal`` sends.  Signals only wake; the store
  stays the truth (a lost signal delays a reader, it never loses an event).  A backend with a
  channel between processes sends a small committed batch along with its ``events`` signal,
  so the processes following the run need not read it back.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..core.events import RunEvent
from ..core.runs import (
    CANCEL_SIGNAL,
    EVENTS_SIGNAL,
    QUEUED_SIGNAL,
    Checkpoint,
    LedgerEntry,
    RunRecord,
)
from ..exceptions import Conflict


class RawJson:
    """A kv value already encoded as JSON text: a store keeps ``text`` as it is instead of
    encoding the value again (``kv_get`` gives back the decoded document).  For writers that
    hold their document's JSON anyway, such as the audit chain, whose entries are hashed as
    JSON."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


#: ``handler(kind, run_id, seq, events)`` given to :meth:`Store.listen`; ``events`` is the
#: committed batch an ``events`` signal carries (the last one numbered ``seq``), or empty.
SignalHandler = Callable[[str, str, int, Sequence[RunEvent]], None]


def encode_signal(kind: str, run_id: str, seq: int, events: Sequence[RunEvent] = (),
                  max_bytes: int = 0) -> str:
    """The wire form of a signal, shared by the backends with a channel between processes:
    ``kind``, ``seq`` and ``run_id`` on a line each, then ``type``, ``ts`` and the JSON of each
    event (no line of which holds a newline), when they fit in ``max_bytes`` of UTF-8."""
    head = f"{kind}\n{seq}\n{run_id}"
    if not events:
        return head
    size = len(head.encode())
    parts = [head]
    for event in events:
        part = f"{event.type}\n{event.ts!r}\n{event.json}"
        size += 1 + (len(part) if part.isascii() else len(part.encode()))
        if size > max_bytes:
            return head
        parts.append(part)
    return "\n".join(parts)


def decode_signal(payload: str) -> tuple[str, str, int, list[RunEvent]]:
    """``(kind, run_id, seq, events)`` of :func:`encode_signal`'s output; ValueError if it is
    not one."""
    kind, seq_text, run_id, *rest = payload.split("\n")
    seq = int(seq_text)
    count, odd = divmod(len(rest), 3)
    if odd:
        raise ValueError(f"a signal with {len(rest)} event lines")
    first = seq - count + 1
    events = [RunEvent(run_id, first + i, rest[3 * i], float(rest[3 * i + 1]), rest[3 * i + 2])
              for i in range(count)]
    return kind, run_id, seq, events



def fairness_key(run: RunRecord) -> str:
    """Whose turn a run waits for in :meth:`Store.claim_next`: its tenant, else its principal."""
    return f"t:{run.tenant}" if run.tenant is not None else f"p:{run.principal}"


def fair_picks(waiting: Sequence[tuple[str, RunRecord]], served: dict[str, float],
               limit: int) -> list[tuple[str, RunRecord]]:
    """The order of :meth:`Store.claim_next` over ``waiting`` (``(fairness key, run)`` pairs,
    each key's runs oldest first) given when each key was last ``served``: at most ``limit``
    picks, round by round over the keys, least recently served first."""
    queues: dict[str, list[RunRecord]] = {}
    for key, run in waiting:
        queues.setdefault(key, []).append(run)
    keys = sorted(queues, key=lambda k: (k in served, served.get(k, 0.0),
                                         queues[k][0].created_at, queues[k][0].id))
    picks: list[tuple[str, RunRecord]] = []
    depth = 0
    while len(picks) < limit:
        row = [(k, queues[k][depth]) for k in keys if depth < len(queues[k])]
        if not row:
            break
        picks.extend(row[: limit - len(picks)])
        depth += 1
    return picks


class LocalSignals:
    """Signals within one process (memory and SQLite stores): handlers run soon after the
    write that caused them, in the event loop."""

    def __init__(self) -> None:
        self._handlers: list[SignalHandler] = []

    async def listen(self, handler: SignalHandler) -> None:
        self._handlers.append(handler)

    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        self._emit(kind, run_id, seq)

    def _emit(self, kind: str, run_id: str, seq: int = 0) -> None:
        if self._handlers:
            loop = asyncio.get_running_loop()
            for handler in self._handlers:
                loop.call_soon(handler, kind, run_id, seq, ())

    def _stop_signals(self) -> None:
        self._handlers.clear()


def check_first_events(run_id: str, events: Sequence[RunEvent]) -> None:
    """``create_run``'s first events must be numbered 1, 2, ... (every backend checks the same
    way, before it writes anything)."""
    if events and (events[0].seq != 1 or any(
            b.seq != a.seq + 1 for a, b in zip(events, events[1:], strict=False))):
        raise Conflict(f"run {run_id}: the first events must be numbered from 1")


class Store(ABC):
    """Runs, the per-run event log, checkpoints, idempotency, leases and the tool ledger."""

    url: str = ""

    async def open(self) -> None:
        """Connect and apply the schema; called once before use."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~fastagentic.exceptions.StoreError` when the store is unusable."""

    async def warm(self, connections: int) -> None:
        """Get ready to serve ``connections`` operations at once at full speed: open that many
        connections (within the backend's pool limit) and fill their per-connection caches.
        A worker's engine calls it before it claims anything, so that the first runs of a
        new worker are not slower than the rest.  Backends without a pool do nothing."""

    # runs

    @abstractmethod
    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        """Insert ``run`` with its first ``events`` (seq 1, 2, ...; ``run.last_seq`` names the
        last) in one transaction; if its (principal, idempotency_key) exists, return that run
        and False (and write nothing)."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    async def update_run(
        self,
        run_id: str,
        *,
        expect_attempt: int | None = None,
        expect_status: Collection[str] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        """Apply ``changes`` if the run matches the expectations; None otherwise."""

    @abstractmethod
    async def list_runs(
        self,
        *,
        principal: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Newest first; ``before`` is the (created_at, id) of the last run of the previous page."""

    # leases

    @abstractmethod
    async def claim_run(
        self, run_id: str, owner: str, ttl: float, *, statuses: Collection[str]
    ) -> RunRecord | None:
        """Take the lease of one run in ``statuses`` whose lease is free or expired."""

    @abstractmethod
    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        """Take up to ``limit`` runs waiting for a worker: queued or running, lease free or
        expired (new runs, released ones, a crashed process's).  Each comes back leased to
        ``owner`` for ``ttl`` seconds with ``attempt`` bumped and its status unchanged; racing
        callers never take the same run.

        Fair across tenants (:func:`fairness_key`): the store remembers when it last served
        each key; each pick takes the oldest waiting run (by ``created_at``, then ``id``) of the
        key served least recently (never served first; ties: the key whose oldest waiting run
        is oldest).  One call taking several runs goes round the keys: every waiting key's
        first run before any key's second."""

    @abstractmethod
    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool: ...

    # signals between processes

    @abstractmethod
    async def listen(self, handler: SignalHandler) -> None:
        """From now until :meth:`close`, call ``handler(kind, run_id, seq, events)`` (in the
        event loop, never concurrently with itself) for the signals of every process sharing
        this store, this one included: ``("events", run_id, last_seq, batch)`` after each
        committed ``append_events``/``append_and_update``/``create_run`` with events (``batch``
        may be empty: the backend sends only small ones along), and each :meth:`signal`.
        Several handlers may listen.  A backend with no channel between processes (SQLite)
        delivers its own process's signals only; readers fall back on polling."""

    @abstractmethod
    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        """Send a signal to every listener (``"queue"``: the run waits for a worker;
        ``"cancel"``: its cancellation was requested)."""

    # events

    @abstractmethod
    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None: ...

    @abstractmethod
    async def append_and_update(
        self,
        run_id: str,
        events: Sequence[RunEvent],
        *,
        expect_attempt: int | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        """Append ``events`` and apply ``changes`` to the run in one transaction.

        Nothing is written (and None returned) if the run's attempt is not ``expect_attempt``;
        a seq clash raises :class:`~fastagentic.exceptions.Conflict` with nothing written.
        The engine uses it for the events that settle a run (``done``, ``input_required``), so
        a client that sees them also sees the run's new status.
        """

    @abstractmethod
    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        ...

    # checkpoints

    @abstractmethod
    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Insert or replace (ids are deterministic, so a replay writes the same checkpoint)."""

    @abstractmethod
    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None: ...

    @abstractmethod
    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]: ...

    # tool ledger

    @abstractmethod
    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None: ...

    @abstractmethod
    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        """Record a call's outcome; the first write wins and is returned."""

    # retention

    @abstractmethod
    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        """Terminal runs with ``finished_at < before``, oldest first by (finished_at, id),
        strictly past the ``after`` cursor (the last run of the previous page)."""

    @abstractmethod
    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        """Delete a terminal run's events (with its tool-ledger entries), its checkpoints, or
        (``record``) everything: events, checkpoints, ledger, the run and its idempotency key.
        False, with nothing deleted, if the run is missing or not terminal."""

    # small documents with a time to live (protocol sessions and the like)

    @abstractmethod
    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        """Insert or replace; ``ttl`` seconds from now it expires (None: never)."""

    @abstractmethod
    async def kv_get(self, namespace: str, key: str) -> Any | None:
        """The value, or None when missing or expired."""

    @abstractmethod
    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        """Push a live entry's expiry to ``ttl`` seconds from now; False if it is gone."""

    @abstractmethod
    async def kv_delete(self, namespace: str, key: str) -> bool:
        """True if a live entry was removed."""

    @abstractmethod
    async def kv_count(self, namespace: str) -> int:
        """Live entries in ``namespace`` (expired ones are purged)."""

    @abstractmethod
    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        """Live ``(key, value)`` pairs whose key starts with ``prefix``, in key order (by code
        point; descending when ``reverse``), at most ``limit`` of them; ``after``: only keys
        past it in that order (the last key of the previous page)."""

    @abstractmethod
    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        """Insert only if no live entry has ``key``; False (and nothing written) otherwise."""

    @abstractmethod
    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        """Atomically add ``delta`` to an integer counter (a missing or expired one is 0 and
        gets ``ttl``) and return the new value.  With ``limit``, an increase that would take
        the counter above it is refused: nothing changes and None is returned (decreases
        always apply).  Concurrent callers never overshoot ``limit`` together."""

    @abstractmethod
    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix`` (``""``: the whole namespace);
        returns how many live entries were removed."""


__all__ = ["CANCEL_SIGNAL", "EVENTS_SIGNAL", "QUEUED_SIGNAL", "LocalSignals", "SignalHandler",
           "Store", "check_first_events", "decode_signal", "encode_signal", "fair_picks",
           "fairness_key"]
