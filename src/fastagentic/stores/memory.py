"""In-memory store: for tests and throwaway development (nothing survives the process)."""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Sequence
from typing import Any

from pydantic_core import from_json

from ..core.events import RunEvent
from ..core.runs import ACTIVE, TERMINAL, Checkpoint, LedgerEntry, RunRecord
from ..exceptions import Conflict
from .base import (
    EVENTS_SIGNAL,
    LocalSignals,
    RawJson,
    Store,
    check_first_events,
    fair_picks,
    fairness_key,
)


class MemoryStore(LocalSignals, Store):
    def __init__(self, url: str = "memory://") -> None:
        super().__init__()
        self.url = url
        self._served: dict[str, float] = {}
        self._turn = 0
        self._runs: dict[str, RunRecord] = {}
        self._idem: dict[tuple[str, str], str] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._checkpoints: dict[str, dict[str, Checkpoint]] = {}
        self._ledger: dict[tuple[str, str], LedgerEntry] = {}
        self._kv: dict[str, dict[str, tuple[Any, float | None]]] = {}
        #: Documents per namespace after its last sweep of expired ones (``_live``).
        self._kv_swept: dict[str, int] = {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._stop_signals()

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        if run.idempotency_key is not None:
            existing = self._idem.get((run.principal, run.idempotency_key))
            if existing is not None:
                return copy.deepcopy(self._runs[existing]), False
        if run.id in self._runs:
            raise Conflict(f"run {run.id} exists")
        check_first_events(run.id, events)
        if run.idempotency_key is not None:
            self._idem[(run.principal, run.idempotency_key)] = run.id
        stored = copy.deepcopy(run)
        if events:
            stored.last_seq = events[-1].seq
        self._runs[run.id] = stored
        self._events[run.id] = list(events)
        if events:
            self._emit(EVENTS_SIGNAL, run.id, events[-1].seq)
        return copy.deepcopy(stored), True

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        return copy.deepcopy(run) if run is not None else None

    async def update_run(
        self,
        run_id: str,
        *,
        expect_attempt: int | None = None,
        expect_status: Collection[str] | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None:
            return None
        if expect_attempt is not None and run.attempt != expect_attempt:
            return None
        if expect_status is not None and run.status not in expect_status:
            return None
        for key, value in changes.items():
            setattr(run, key, copy.deepcopy(value))
        run.updated_at = time.time()
        return copy.deepcopy(run)

    async def list_runs(
        self,
        *,
        principal: str | None = None,
        status: str | None = None,
        endpoint: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        runs = [
            r
            for r in self._runs.values()
            if (principal is None or r.principal == principal)
            and (status is None or r.status == status)
            and (endpoint is None or r.endpoint == endpoint)
            and (before is None or (r.created_at, r.id) < before)
        ]
        runs.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return [copy.deepcopy(r) for r in runs[:limit]]

    def _lease_free(self, run: RunRecord, now: float) -> bool:
        return run.lease_owner is None or (run.lease_expires_at or 0) <= now

    def _take(self, run: RunRecord, owner: str, ttl: float, now: float) -> RunRecord:
        run.lease_owner = owner
        run.lease_expires_at = now + ttl
        run.attempt += 1
        run.updated_at = now
        return copy.deepcopy(run)

    async def claim_run(
        self, run_id: str, owner: str, ttl: float, *, statuses: Collection[str]
    ) -> RunRecord | None:
        now = time.time()
        run = self._runs.get(run_id)
        if run is None or run.status not in statuses or not self._lease_free(run, now):
            return None
        return self._take(run, owner, ttl, now)

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        now = time.time()
        waiting = sorted((r for r in self._runs.values()
                          if r.status in ACTIVE and self._lease_free(r, now)),
                         key=lambda r: (r.created_at, r.id))
        claimed = []
        for key, run in fair_picks([(fairness_key(r), r) for r in waiting], self._served,
                                   limit):
            self._turn += 1
            self._served[key] = self._turn
            claimed.append(self._take(run, owner, ttl, now))
        return claimed

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.lease_owner != owner or run.attempt != attempt:
            return False
        run.lease_expires_at = time.time() + ttl
        return True

    def _check_seqs(self, run_id: str, events: Sequence[RunEvent]) -> None:
        expected = len(self._events.get(run_id, [])) + 1
        for offset, event in enumerate(events):
            if event.seq != expected + offset:
                raise Conflict(f"run {run_id}: event seq {event.seq} is taken or out of order")

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        self._check_seqs(run_id, events)
        log = self._events.setdefault(run_id, [])
        log.extend(events)
        run = self._runs.get(run_id)
        if run is not None:
            run.last_seq = events[-1].seq
        self._emit(EVENTS_SIGNAL, run_id, events[-1].seq)

    async def append_and_update(
        self,
        run_id: str,
        events: Sequence[RunEvent],
        *,
        expect_attempt: int | None = None,
        **changes: Any,
    ) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None or (expect_attempt is not None and run.attempt != expect_attempt):
            return None
        self._check_seqs(run_id, events)
        await self.append_events(run_id, events)
        return await self.update_run(run_id, **changes)

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        # The log is gapless from seq 1, so seq n sits at index n - 1.
        log = self._events.get(run_id, [])
        start = max(after, 0)
        return log[start : start + limit]

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        runs = sorted((r for r in self._runs.values()
                       if r.status in TERMINAL and r.finished_at is not None
                       and r.finished_at < before
                       and (after is None or (r.finished_at, r.id) > after)),
                      key=lambda r: (r.finished_at or 0.0, r.id))
        return [copy.deepcopy(r) for r in runs[:limit]]

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.status not in TERMINAL:
            return False
        if events or record:
            self._events[run_id] = []
            for key in [k for k in self._ledger if k[0] == run_id]:
                del self._ledger[key]
        if checkpoints or record:
            self._checkpoints.pop(run_id, None)
        if record:
            self._events.pop(run_id, None)
            del self._runs[run_id]
            if run.idempotency_key is not None:
                self._idem.pop((run.principal, run.idempotency_key), None)
        return True

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._checkpoints.setdefault(checkpoint.run_id, {})[checkpoint.id] = copy.deepcopy(
            checkpoint
        )

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        cps = self._checkpoints.get(run_id)
        if not cps:
            return None
        return copy.deepcopy(max(cps.values(), key=lambda c: c.seq))

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        cps = self._checkpoints.get(run_id, {})
        return [copy.deepcopy(c) for c in sorted(cps.values(), key=lambda c: c.seq)]

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        entry = self._ledger.get((run_id, call_id))
        return copy.deepcopy(entry) if entry is not None else None

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        stored = self._ledger.setdefault((entry.run_id, entry.call_id), copy.deepcopy(entry))
        return copy.deepcopy(stored)

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        expires = time.time() + ttl if ttl is not None else None
        value = from_json(value.text) if type(value) is RawJson else copy.deepcopy(value)
        entries = self._kv.setdefault(namespace, {})
        entries[key] = (value, expires)
        if len(entries) > self._kv_swept.get(namespace, 0) * 2 + 64:
            self._live(namespace)  # now and then, so keys nobody reads again do not pile up

    def _live(self, namespace: str) -> dict[str, tuple[Any, float | None]]:
        """The namespace without its expired documents (a sweep of all of them)."""
        entries = self._kv.get(namespace, {})
        now = time.time()
        for key in [k for k, (_, exp) in entries.items() if exp is not None and exp <= now]:
            del entries[key]
        self._kv_swept[namespace] = len(entries)
        return entries

    def _entry(self, namespace: str, key: str) -> tuple[Any, float | None] | None:
        """One live document (an expired one is dropped): no sweep of the namespace."""
        entries = self._kv.get(namespace)
        entry = entries.get(key) if entries is not None else None
        if entry is not None and entry[1] is not None and entry[1] <= time.time():
            del entries[key]  # type: ignore[union-attr]
            return None
        return entry

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        entry = self._entry(namespace, key)
        return copy.deepcopy(entry[0]) if entry is not None else None

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        entry = self._entry(namespace, key)
        if entry is None:
            return False
        self._kv[namespace][key] = (entry[0], time.time() + ttl)
        return True

    async def kv_delete(self, namespace: str, key: str) -> bool:
        if self._entry(namespace, key) is None:
            return False
        del self._kv[namespace][key]
        return True

    async def kv_count(self, namespace: str) -> int:
        return len(self._live(namespace))

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        entries = self._live(namespace)
        keys = sorted((k for k in entries if k.startswith(prefix) and (
            after is None or (k < after if reverse else k > after))), reverse=reverse)
        return [(k, copy.deepcopy(entries[k][0])) for k in keys[:limit]]

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        if self._entry(namespace, key) is not None:
            return False
        await self.kv_put(namespace, key, value, ttl)
        return True

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        current, expires = self._entry(namespace, key) or (
            0, None if ttl is None else time.time() + ttl)
        value = int(current) + delta
        if limit is not None and delta > 0 and value > limit:
            return None
        self._kv.setdefault(namespace, {})[key] = (value, expires)
        return value

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        entries = self._live(namespace)
        keys = [k for k in entries if k.startswith(prefix)]
        for key in keys:
            del entries[key]
        return len(keys)
