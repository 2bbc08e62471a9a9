"""Checking the chain: every entry's hash, gapless ``seq`` from 1, every ``prev`` link.

What it detects, and how it names it (``Problem.seq`` is the entry concerned):

* ``altered``: an entry's content does not match its own ``hash`` (a field was edited);
* ``rewritten``: an entry is self-consistent but the next entry's ``prev`` records another
  hash for it (edited and re-hashed, or replaced);
* ``missing``: a gap in ``seq`` (entries deleted); the first missing ``seq`` is named;
* ``malformed``: a stored block or entry is not what the writer stores;
* ``truncated``/``rewritten`` against an *anchor*: the ``(seq, hash)`` of an entry noted
  earlier (``fastagentic audit verify`` prints the head for that).  Deleting the newest entries
  leaves a valid shorter chain, and re-hashing every entry from some point on leaves a valid
  different chain; only a pinned head taken before can tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..stores.base import Store
from .entry import GENESIS, digest, key_of
from .reader import blocks

#: Problems kept in a report (the count goes on).
MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: str  # altered | rewritten | missing | malformed | truncated
    message: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.kind}: {self.message}"


@dataclass(slots=True)
class Verification:
    """The outcome: ``ok`` when every check passed."""

    entries: int = 0
    #: The last entry's ``(seq, hash)``: note it, and pass it as the anchor next time.
    head: tuple[int, str] | None = None
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class _Checker:
    def __init__(self, anchor: tuple[int, str] | None) -> None:
        self.report = Verification()
        self.expected: int | None = 1  # None: resynchronize at the next readable entry
        self.prev = GENESIS
        self.flagged: set[int] = set()
        self.anchor = anchor
        self.anchored: str | None = None  # the stored hash of the anchor's entry

    def problem(self, seq: int, kind: str, message: str) -> None:
        if seq in self.flagged:
            return
        self.flagged.add(seq)
        self.report.problem_count += 1
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(Problem(seq, kind, message))

    def block(self, key: str, value: Any) -> None:
        key_seq = int(key) if key.isdigit() else 0
        if not isinstance(value, list) or not value:
            self.problem(self.expected or key_seq, "malformed",
                         f"block {key} is not a list of entries")
            self.expected = None
            return
        first = value[0].get("seq") if isinstance(value[0], dict) else None
        if isinstance(first, int) and key_of(first) != key:
            self.problem(first, "malformed", f"stored under key {key} instead of "
                                             f"{key_of(first)} (moved)")
        for entry in value:
            self.entry(entry, key)

    def entry(self, entry: Any, key: str) -> None:
        if not (isinstance(entry, dict) and isinstance(entry.get("seq"), int)
                and isinstance(entry.get("hash"), str) and isinstance(entry.get("prev"), str)):
            self.problem(self.expected or 0, "malformed",
                         f"an entry in block {key} lacks seq, prev or hash")
            self.expected = None
            return
        seq, stored = entry["seq"], entry["hash"]
        gap = False
        if self.expected is not None and seq != self.expected:
            gap = True
            if seq > self.expected:
                gone = f"entries {self.expected}..{seq - 1} are" if seq - 1 > self.expected \
                    else f"entry {self.expected} is"
                self.problem(self.expected, "missing", f"{gone} missing (deleted)")
            else:
                self.problem(seq, "malformed", f"seq {seq} again after {self.expected - 1} "
                                               "(duplicated or out of order)")
        if digest(entry) != stored:
            self.problem(seq, "altered", "its content does not match its hash")
        elif not gap and self.expected is not None and entry["prev"] != self.prev:
            if seq == 1:
                self.problem(1, "rewritten", "the first entry's prev is not the genesis value")
            else:
                self.problem(seq - 1, "rewritten", f"entry {seq} records a different hash for "
                                                   "it (edited and re-hashed, or replaced)")
        self.prev, self.expected = stored, seq + 1
        if self.anchor is not None and seq == self.anchor[0]:
            self.anchored = stored
        self.report.entries += 1
        self.report.head = (seq, stored)

    def check_anchor(self) -> None:
        if self.anchor is None:
            return
        seq, hash_ = self.anchor
        if self.anchored is None:
            self.problem(seq, "truncated", "the anchored entry is gone (the log was cut back "
                                           "or emptied)")
        elif self.anchored != hash_:
            self.problem(seq, "rewritten", "its hash differs from the anchor")


async def verify(store: Store, anchor: tuple[int, str] | None = None) -> Verification:
    """Check the whole chain in ``store``; ``anchor``: an entry's ``(seq, hash)`` noted before
    (catches a cut-back tail and a chain re-hashed from some entry on)."""
    checker = _Checker(anchor)
    async for key, value in blocks(store):
        checker.block(key, value)
    checker.check_anchor()
    report = checker.report
    report.problems.sort(key=lambda p: p.seq)
    return report
