"""Reading the audit log back: every entry in ``seq`` order, from any point, with filters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from ..exceptions import BadRequest
from ..stores.base import Store
from .entry import NAMESPACE, key_of

PAGE = 200  # blocks per read


async def blocks(store: Store, after_seq: int = 0) -> AsyncIterator[tuple[str, Any]]:
    """The stored blocks ``(key, value)`` in key order, from the one holding ``after_seq + 1``
    (values as stored: verification must see tampered ones too)."""
    after: str | None = None
    if after_seq > 0:
        # The block holding after_seq + 1 is the last one keyed at or before it.
        holder = await store.kv_list(NAMESPACE, limit=1, reverse=True,
                                     after=key_of(after_seq + 2))
        if holder:
            yield holder[0]
            after = holder[0][0]
    while True:
        page = await store.kv_list(NAMESPACE, limit=PAGE, after=after)
        for key, value in page:
            yield key, value
        if len(page) < PAGE:
            return
        after = page[-1][0]


def since_timestamp(value: str) -> str:
    """An ISO 8601 date or time as an entry timestamp (naive times are UTC)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"not an ISO 8601 date or time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries to return: ``after_seq`` (seq greater than it), ``since`` (an ISO 8601
    time: entries at or after it), ``actions`` (names or shell patterns such as
    ``budget.*``; any of them)."""

    after_seq: int = 0
    since: str | None = None
    actions: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.since is not None:
            object.__setattr__(self, "since", since_timestamp(self.since))

    def accepts(self, entry: dict[str, Any]) -> bool:
        if entry.get("seq", 0) <= self.after_seq:
            return False
        if self.since is not None and str(entry.get("ts", "")) < self.since:
            return False
        return not self.actions or any(
            fnmatchcase(str(entry.get("action", "")), pattern) for pattern in self.actions)


async def entries(store: Store, where: Filter | None = None
                  ) -> AsyncIterator[dict[str, Any]]:
    """Stored entries in ``seq`` order that pass ``where`` (as stored: run ``verify`` to know
    they are genuine)."""
    where = where or Filter()
    async for _, block in blocks(store, where.after_seq):
        for entry in block if isinstance(block, list) else ():
            if isinstance(entry, dict) and where.accepts(entry):
                yield entry
