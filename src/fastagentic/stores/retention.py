"""Retention: finished runs' events, checkpoints and records deleted after their time to live,
archived to S3 first when an archive is configured.

Each part has its own time to live counted from the run's ``finished_at``: ``events`` (the
event log and the tool ledger), ``checkpoints``, ``runs`` (everything, the record included).
With an archive, a run is copied there whole before any of its data goes (the archive pass
uses the shortest time to live and runs first).  Each pass walks ``Store.finished_runs`` from
a cursor kept in the store, so a pass never re-reads what an earlier one handled; deleting is
idempotent, so two processes pruning at once only repeat work.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError
from .base import Store

NAMESPACE = "retention"
PAGE = 200
PARTS = ("events", "checkpoints", "runs")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | float | None) -> float | None:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"1w"`` or seconds; None stays None."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value)
    if match is None:
        raise ConfigurationError(f"{value!r} is not a duration: use e.g. 90s, 30m, 12h, 7d, 1w")
    return float(match[1]) * _UNITS[match[2] or "s"]


@dataclass(slots=True)
class RetentionPolicy:
    """Seconds after a run finished that each part is deleted (None: kept)."""

    events: float | None = None
    checkpoints: float | None = None
    runs: float | None = None

    def __post_init__(self) -> None:
        for part in PARTS:
            ttl = getattr(self, part)
            if ttl is not None and ttl < 0:
                raise ConfigurationError(f"retention of {part} must not be negative")

    @property
    def active(self) -> bool:
        return any(getattr(self, part) is not None for part in PARTS)

    def shortest(self) -> float | None:
        ttls = [t for t in (self.events, self.checkpoints, self.runs) if t is not None]
        return min(ttls) if ttls else None


@dataclass(slots=True)
class PruneReport:
    archived: int = 0
    events: int = 0
    checkpoints: int = 0
    runs: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"archived": self.archived, "events": self.events,
                "checkpoints": self.checkpoints, "runs": self.runs}


#: ``Store.prune_run``'s flag for each part.
_FLAG = {"events": "events", "checkpoints": "checkpoints", "runs": "record"}


async def prune(store: Store, policy: RetentionPolicy, *, archive: Any = None,
                now: float | None = None, dry_run: bool = False) -> PruneReport:
    """One retention pass over ``store``.  ``archive``: an :class:`~.archive.Archive` (runs
    are copied there before anything of theirs is deleted); ``dry_run``: count only."""
    now = time.time() if now is None else now
    report = PruneReport()
    shortest = policy.shortest()
    if shortest is None:
        return report
    if archive is not None:
        async for run in _due(store, "archive", now - shortest, not dry_run):
            if not dry_run:
                events = await _all_events(store, run.id)
                checkpoints = await store.list_checkpoints(run.id)
                await archive.put_run(run, events, checkpoints)
            report.archived += 1
    for part in ("runs", "events", "checkpoints"):  # runs first: the others skip them then
        ttl = getattr(policy, part)
        if ttl is None:
            continue
        async for run in _due(store, part, now - ttl, not dry_run):
            if dry_run or await store.prune_run(run.id, **{_FLAG[part]: True}):
                setattr(report, part, getattr(report, part) + 1)
    return report


async def _due(store: Store, part: str, before: float, use_cursor: bool) -> Any:
    """Finished runs with ``finished_at < before`` not yet handled by ``part``'s pass."""
    cursor = await store.kv_get(NAMESPACE, part) if use_cursor else None
    after = (float(cursor[0]), str(cursor[1])) if cursor else None
    while True:
        page = await store.finished_runs(before, limit=PAGE, after=after)
        for run in page:
            yield run
        if not page:
            return
        last = page[-1]
        after = (last.finished_at or 0.0, last.id)
        if use_cursor:
            await store.kv_put(NAMESPACE, part, [after[0], after[1]])
        if len(page) < PAGE:
            return


async def _all_events(store: Store, run_id: str) -> list[Any]:
    out: list[Any] = []
    after = 0
    while True:
        page = await store.read_events(run_id, after, 5000)
        out.extend(page)
        if len(page) < 5000:
            return out
        after = page[-1].seq


__all__ = ["PruneReport", "RetentionPolicy", "parse_duration", "prune"]
