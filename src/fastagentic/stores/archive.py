"""Finished runs archived to S3: one gzip JSON-lines object per run.

Retention copies a finished run here (its record, whole event log and checkpoints) before it
prunes the run from the durable store; ``fastagentic runs`` reads it back.  The object is at
``<prefix>/archive/<tenant>/<YYYY>/<MM>/<run_id>.jsonl.gz``: tenant ``_`` for runs without
one, the month (UTC) the run finished (or was created, if it never finished), the tenant and
run id percent-encoded.  That layout lets bucket lifecycle rules and listings work per tenant
and per month.  A run is found by its id through a small pointer object,
``<prefix>/archive-ids/<run_id>``, that holds its archive's key.

Each line is one JSON object with a ``kind``: first ``run`` (the record and the format's
version), then every ``event`` in seq order (its exact wire JSON kept as a string, so it
comes back byte for byte), then every ``checkpoint``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import gzip
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from pydantic_core import from_json, to_json

from ..core.events import RunEvent
from ..core.runs import Checkpoint, RunRecord
from ..exceptions import ConfigurationError, StoreError

if TYPE_CHECKING:
    from .s3 import S3Blobs

ARCHIVE = "archive/"
IDS = "archive-ids/"
SUFFIX = ".jsonl.gz"
NO_TENANT = "_"
FORMAT = 1


@dataclass(slots=True)
class ArchiveEntry:
    """An archived run as its key tells it (listing reads no object)."""

    key: str
    run_id: str
    tenant: str | None
    month: str  # "YYYY-MM"


@dataclass(slots=True)
class ArchivedRun:
    """An archived run read back: the objects :meth:`Archive.put_run` was given."""

    key: str
    run: RunRecord
    events: list[RunEvent]
    checkpoints: list[Checkpoint]


def _tenant_segment(tenant: str | None) -> str:
    if tenant is None:
        return NO_TENANT
    return quote(tenant, safe="") if tenant != NO_TENANT else "%5F"


def _month(run: RunRecord) -> tuple[str, str]:
    when = time.gmtime(run.finished_at if run.finished_at is not None else run.created_at)
    return f"{when.tm_year:04d}", f"{when.tm_mon:02d}"


def archive_key(run: RunRecord) -> str:
    """Where :meth:`Archive.put_run` writes ``run`` (relative to the blobs' prefix)."""
    year, month = _month(run)
    return (f"{ARCHIVE}{_tenant_segment(run.tenant)}/{year}/{month}/"
            f"{quote(run.id, safe='')}{SUFFIX}")


def _pointer(run_id: str) -> str:
    return IDS + quote(run_id, safe="")


def parse_key(key: str) -> ArchiveEntry | None:
    """The entry a key names, or None for a key that is not an archive's."""
    parts = key.removeprefix(ARCHIVE).split("/") if key.startswith(ARCHIVE) else []
    if len(parts) != 4 or not parts[3].endswith(SUFFIX):
        return None
    tenant, year, month, name = parts
    return ArchiveEntry(key=key, run_id=unquote(name.removesuffix(SUFFIX)),
                        tenant=None if tenant == NO_TENANT else unquote(tenant),
                        month=f"{year}-{month}")


def _dumps(value: Any) -> bytes:
    return to_json(value, fallback=repr, inf_nan_mode="strings")


def encode_run(run: RunRecord, events: Sequence[RunEvent],
               checkpoints: Sequence[Checkpoint]) -> bytes:
    """The archive's bytes: gzip of the JSON lines."""
    lines = [_dumps({"kind": "run", "format": FORMAT, "run": run.to_dict()})]
    lines += [_dumps({"kind": "event", "run_id": e.run_id, "seq": e.seq, "type": e.type,
                      "ts": e.ts, "json": e.json}) for e in events]
    lines += [_dumps({"kind": "checkpoint", "checkpoint": c.to_dict()}) for c in checkpoints]
    return gzip.compress(b"\n".join(lines) + b"\n", mtime=0)


def decode_run(key: str, data: bytes) -> ArchivedRun:
    """An archive's objects from its bytes (``key``: where they were read, for messages)."""
    # Split on "\n" only: JSON escapes it inside strings, but not U+2028 and the like,
    # which str.splitlines() would also split on.
    lines = [from_json(line) for line in gzip.decompress(data).split(b"\n") if line]
    head = lines[0] if lines else {}
    if head.get("kind") != "run" or head.get("format") != FORMAT:
        raise StoreError(f"{key} is not a fastagentic run archive (format {FORMAT})")
    archived = ArchivedRun(key=key, run=RunRecord.from_dict(head["run"]), events=[],
                           checkpoints=[])
    for line in lines[1:]:
        if line["kind"] == "event":
            archived.events.append(RunEvent(run_id=line["run_id"], seq=line["seq"],
                                            type=line["type"], ts=line["ts"],
                                            json=line["json"]))
        elif line["kind"] == "checkpoint":
            archived.checkpoints.append(Checkpoint.from_dict(line["checkpoint"]))
        else:
            raise StoreError(f"{key}: unknown line kind {line['kind']!r}")
    return archived


class Archive:
    """Finished runs in a bucket.  ``blobs`` is opened and closed by its owner."""

    def __init__(self, blobs: S3Blobs) -> None:
        self.blobs = blobs

    async def put_run(self, run: RunRecord, events: Sequence[RunEvent],
                      checkpoints: Sequence[Checkpoint]) -> str:
        """Write (or rewrite) the run's archive; returns its key."""
        key = archive_key(run)
        data = await asyncio.to_thread(encode_run, run, events, checkpoints)
        await self.blobs.put(key, data, content_type="application/gzip")
        await self.blobs.put(_pointer(run.id), key.encode(),
                             content_type="text/plain; charset=utf-8")
        return key

    async def key_of(self, run_id: str) -> str | None:
        """The archive key of run ``run_id``, or None if it is not archived."""
        pointer = await self.blobs.get(_pointer(run_id))
        return pointer.decode() if pointer is not None else None

    async def get_run(self, ref: str) -> ArchivedRun | None:
        """The archived run, by run id or by archive key; None if there is none."""
        key = ref if parse_key(ref) is not None else await self.key_of(ref)
        data = await self.blobs.get(key) if key is not None else None
        if key is None or data is None:
            return None
        return await asyncio.to_thread(decode_run, key, data)

    async def delete(self, ref: str) -> bool:
        """Remove the archived run (by run id or key); False if it was not archived."""
        entry = parse_key(ref)
        run_id = entry.run_id if entry is not None else ref
        key = await self.key_of(run_id)
        if key is None:
            return False
        await self.blobs.delete(key)
        await self.blobs.delete(_pointer(run_id))
        return True

    async def list(self, *, tenant: str | None | EllipsisType = ..., month: str | None = None,
                   after: str | None = None, limit: int = 1000) -> builtins.list[ArchiveEntry]:
        """Archived runs in key order (tenant, month, run id), at most ``limit``.

        ``tenant``: only that tenant's runs (None: the runs without a tenant; left out: all);
        ``month``: ``"YYYY-MM"``, only the runs that finished then; ``after``: the key of the
        last entry of the previous page.
        """
        if month is not None and not re.fullmatch(r"\d{4}-\d{2}", month):
            raise ConfigurationError(f"month {month!r}: expected YYYY-MM")
        prefix = ARCHIVE
        if not isinstance(tenant, EllipsisType):
            prefix += _tenant_segment(tenant) + "/"
            if month is not None:
                prefix += month.replace("-", "/", 1) + "/"
        found: builtins.list[ArchiveEntry] = []
        if limit <= 0:
            return found
        async with contextlib.aclosing(self.blobs.keys(prefix, start_after=after)) as keys:
            async for key in keys:
                entry = parse_key(key)
                if entry is None or (month is not None and entry.month != month):
                    continue
                found.append(entry)
                if len(found) >= limit:
                    break
        return found


__all__ = ["Archive", "ArchiveEntry", "ArchivedRun", "archive_key", "decode_run",
           "encode_run", "parse_key"]
