"""``fastagentic.audit.verify`` against stores tampered with in every way the CLI reports:
the problems are named once each, on the right entry, and the rest of the chain still
checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fastagentic import App
from fastagentic.audit import verify
from fastagentic.audit.entry import GENESIS, NAMESPACE, digest, key_of
from fastagentic.stores.memory import MemoryStore


async def five_blocks() -> MemoryStore:
    """Entries 1..5 in blocks [1], [2, 3], [4], [5]."""
    store = MemoryStore()
    app = App(durable_store=store, audit=True)
    async with app.running():
        await app.audit.record("a")
        assert [e["seq"] for e in await _gather(app, 2)] == [2, 3]
        await app.audit.record("d")
        await app.audit.record("e")
    assert [key for key, _ in await store.kv_list(NAMESPACE)] == \
        [key_of(1), key_of(2), key_of(4), key_of(5)]
    return store


async def _gather(app: App, n: int) -> list[dict[str, Any]]:
    return [e for e in await asyncio.gather(*[app.audit.record("b") for _ in range(n)]) if e]


def rehash(entry: dict[str, Any]) -> None:
    entry["hash"] = digest(entry)


async def tamper(store: MemoryStore, key: int, change: Callable[[Any], Any]) -> None:
    block = await store.kv_get(NAMESPACE, key_of(key))
    await store.kv_put(NAMESPACE, key_of(key), change(block))


def _first_prev_changed(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
    block[0]["prev"] = "f" * 64
    rehash(block[0])
    return block


def _moved(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
    block[0]["seq"] = 9
    rehash(block[0])
    return block


def _second_of_block_removed(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return block[:1]


def _duplicated(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block[0], block[1], block[1]]


@pytest.mark.parametrize(("key", "change", "expected"), [
    (1, _first_prev_changed, [(1, "rewritten")]),
    (2, lambda block: "not a list", [(2, "malformed")]),
    (2, lambda block: [block[0], {"seq": 3}], [(3, "malformed")]),
    (4, _moved, [(4, "missing"), (5, "malformed"), (9, "malformed")]),
    (2, _second_of_block_removed, [(3, "missing")]),
    (2, _duplicated, [(3, "malformed")]),
])
async def test_each_kind_of_damage_is_named(key: int, change: Callable[[Any], Any],
                                            expected: list[tuple[int, str]]) -> None:
    store = await five_blocks()
    assert (await verify(store)).ok
    await tamper(store, key, change)
    report = await verify(store)
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == expected, report.problems
    assert report.problem_count == len(expected)


async def test_anchor_and_empty_log() -> None:
    store = await five_blocks()
    report = await verify(store)
    assert report.head is not None and report.entries == 5
    assert (await verify(store, anchor=report.head)).ok
    assert [p.kind for p in (await verify(store, anchor=(3, GENESIS))).problems] == \
        ["rewritten"]
    empty = await verify(MemoryStore(), anchor=(1, GENESIS))
    assert (empty.entries, empty.head) == (0, None)
    assert [(p.seq, p.kind) for p in empty.problems] == [(1, "truncated")]
