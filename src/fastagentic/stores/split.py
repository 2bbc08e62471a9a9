"""Run records in one store, checkpoints on S3: ``SplitStore(records, S3Blobs(url))``.

Checkpoints are the large part of a run's state (an agent's whole memory, every step), so
they can live in a bucket while the runs, their event logs, leases, the ledger and the small
documents stay in the records store (PostgreSQL, Redis, SQLite), which does everything but
the three checkpoint methods.

One JSON document per checkpoint, at ``<prefix>/checkpoints/<run_id>/<seq>-<id>.json``
(``seq`` zero-padded to 20 digits; both ids percent-encoded, so no ``/`` of theirs splits a
key).  Keys sort by seq, so a run's listing is its checkpoints in order and the last key is
the latest.  Checkpoint ids are deterministic (the engine names a checkpoint after its seq):
a replay puts the same id at the same seq, which is the same key, and replaces the object.

The latest checkpoint is read with one GET, not a LIST (S3 lists in ascending order only, a
thousand keys a page), through an index in the records store's kv: namespace
``s3.checkpoints``, one small entry per checkpoint keyed ``<run_id>/<seq>-<id>``, so the
latest is the last key of the run's entries, one indexed query away.  Entries are only ever
inserted, never read and rewritten, so puts that race or come out of order cannot lose the
latest (a single "latest" pointer would need a read-modify-write).  An entry is written
before its object and deleted after it, so every object has one: no entry, no checkpoint.
An entry without its object (a put that failed half way or is under way) sends the read to
the bucket's listing, which is the truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic_core import from_json, to_json

from ..core.events import RunEvent
from ..core.runs import TERMINAL, Checkpoint, LedgerEntry, RunRecord
from .base import SignalHandler, Store

if TYPE_CHECKING:
    from .s3 import S3Blobs

CHECKPOINTS = "checkpoints/"
INDEX_NS = "s3.checkpoints"
SEQ_DIGITS = 20


def _segment(value: str) -> str:
    return quote(value, safe="")


def _run_dir(run_id: str) -> str:
    return f"{_segment(run_id)}/"


def _entry(checkpoint: Checkpoint) -> str:
    """The checkpoint's index key, and its object's key below ``checkpoints/`` without the
    ``.json``."""
    return f"{_run_dir(checkpoint.run_id)}{checkpoint.seq:0{SEQ_DIGITS}d}-{_segment(checkpoint.id)}"


def _decode(data: bytes) -> Checkpoint:
    return Checkpoint.from_dict(from_json(data))


class SplitStore(Store):
    """A :class:`Store` whose checkpoints are on S3 and everything else in ``records``."""

    def __init__(self, records: Store, checkpoints: S3Blobs) -> None:
        self.records = records
        self.blobs = checkpoints
        self.url = records.url

    async def open(self) -> None:
        await self.records.open()
        try:
            await self.blobs.open()
        except BaseException:
            await self.records.close()
            raise

    async def close(self) -> None:
        try:
            await self.blobs.close()
        finally:
            await self.records.close()

    async def ping(self) -> None:
        await asyncio.gather(self.records.ping(), self.blobs.ping())

    async def warm(self, connections: int) -> None:
        await self.records.warm(connections)

    # checkpoints, on S3

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        entry = _entry(checkpoint)
        await self.records.kv_put(INDEX_NS, entry, checkpoint.seq)
        body = to_json(checkpoint.to_dict(), fallback=repr, inf_nan_mode="strings")
        await self.blobs.put(f"{CHECKPOINTS}{entry}.json", body, content_type="application/json")

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        last = await self.records.kv_list(INDEX_NS, _run_dir(run_id), reverse=True, limit=1)
        if not last:
            return None
        data = await self.blobs.get(f"{CHECKPOINTS}{last[0][0]}.json")
        if data is None:
            keys = await self.blobs.list(CHECKPOINTS + _run_dir(run_id))
            data = await self.blobs.get(keys[-1]) if keys else None
        return _decode(data) if data is not None else None

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        keys = await self.blobs.list(CHECKPOINTS + _run_dir(run_id))
        found = await asyncio.gather(*(self.blobs.get(key) for key in keys))
        return [_decode(data) for data in found if data is not None]

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        if checkpoints or record:
            run = await self.records.get_run(run_id)
            if run is None or run.status not in TERMINAL:
                return False
            # Objects first, then their entries: an object is never left without one.
            await self.blobs.delete_prefix(CHECKPOINTS + _run_dir(run_id))
            await self.records.kv_delete_prefix(INDEX_NS, _run_dir(run_id))
        return await self.records.prune_run(run_id, events=events, checkpoints=checkpoints,
                                            record=record)

    # everything else, in the records store

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        return await self.records.create_run(run, events)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.records.get_run(run_id)

    async def update_run(self, run_id: str, *, expect_attempt: int | None = None,
                         expect_status: Collection[str] | None = None, **changes: Any
                         ) -> RunRecord | None:
        return await self.records.update_run(run_id, expect_attempt=expect_attempt,
                                             expect_status=expect_status, **changes)

    async def list_runs(self, *, principal: str | None = None, status: str | None = None,
                        endpoint: str | None = None, limit: int = 50,
                        before: tuple[float, str] | None = None) -> list[RunRecord]:
        return await self.records.list_runs(principal=principal, status=status,
                                            endpoint=endpoint, limit=limit, before=before)

    async def claim_run(self, run_id: str, owner: str, ttl: float, *,
                        statuses: Collection[str]) -> RunRecord | None:
        return await self.records.claim_run(run_id, owner, ttl, statuses=statuses)

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        return await self.records.claim_next(owner, ttl, limit)

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        return await self.records.renew_lease(run_id, owner, attempt, ttl)

    async def listen(self, handler: SignalHandler) -> None:
        await self.records.listen(handler)

    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        await self.records.signal(kind, run_id, seq)

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        await self.records.append_events(run_id, events)

    async def append_and_update(self, run_id: str, events: Sequence[RunEvent], *,
                                expect_attempt: int | None = None, **changes: Any
                                ) -> RunRecord | None:
        return await self.records.append_and_update(run_id, events,
                                                    expect_attempt=expect_attempt, **changes)

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000
                          ) -> list[RunEvent]:
        return await self.records.read_events(run_id, after, limit)

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        return await self.records.ledger_get(run_id, call_id)

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        return await self.records.ledger_put(entry)

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        return await self.records.finished_runs(before, limit=limit, after=after)

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        await self.records.kv_put(namespace, key, value, ttl)

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        return await self.records.kv_get(namespace, key)

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        return await self.records.kv_touch(namespace, key, ttl)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return await self.records.kv_delete(namespace, key)

    async def kv_count(self, namespace: str) -> int:
        return await self.records.kv_count(namespace)

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        return await self.records.kv_list(namespace, prefix, limit=limit, reverse=reverse,
                                          after=after)

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        return await self.records.kv_put_new(namespace, key, value, ttl)

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        return await self.records.kv_add(namespace, key, delta, limit=limit, ttl=ttl)

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        return await self.records.kv_delete_prefix(namespace, prefix)


__all__ = ["INDEX_NS", "SplitStore"]
