"""Concurrent appends: many records at once share writes, and several writers (in one process
or two server processes) on one store keep one valid, gapless chain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import QUICKSTART

from fastagentic import App
from fastagentic.audit.entry import NAMESPACE, key_of
from fastagentic.audit.integrity import verify
from fastagentic.core.context import UserContext
from fastagentic.stores.base import Store
from fastagentic.stores.memory import MemoryStore
from fastagentic.stores.sqlite import SQLiteStore

from .helpers import cli, read_url, stored


async def test_concurrent_records_are_grouped_into_few_writes(store_url: str) -> None:
    app = App(durable_store=store_url, audit=True)
    async with app.running():
        results = await asyncio.gather(*[
            app.audit.record("tool.call", actor=UserContext(user=f"u{i}"), context={"i": i})
            for i in range(500)])
        writes = await app.store.kv_count(NAMESPACE)
        entries = await stored(app.store)
        report = await verify(app.store)
    assert [r["seq"] for r in results if r] == list(range(1, 501))  # in call order
    assert [e["context"]["i"] for e in entries] == list(range(500))
    assert report.ok and report.entries == 500
    assert writes < 50, writes  # group commit: one stored block per flush, not per entry


def counting_refusals(store: Store, refusals: list[str]) -> None:
    """Note ``store``'s ``kv_put_new`` refusals (lost races to append) in ``refusals``."""
    put_new = store.kv_put_new

    async def counted(namespace: str, key: str, value: Any, ttl: float | None = None) -> bool:
        written = await put_new(namespace, key, value, ttl)
        if not written:
            refusals.append(key)
        return written

    store.kv_put_new = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
async def test_two_writers_on_one_store_keep_one_chain(tmp_path: Path, backend: str) -> None:
    refusals: list[str] = []
    if backend == "sqlite":  # two connections to one file, as two processes would have
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        stores = [SQLiteStore(url), SQLiteStore(url)]
    else:
        stores = [MemoryStore()] * 2
    for store in set(stores):
        counting_refusals(store, refusals)
    apps = [App(durable_store=store, audit=True) for store in stores]
    async with apps[0].running(), apps[1].running():
        # One each, then the first again, whose cached head is stale by now: a lost race.
        warmup = [(await app.audit.record("tool.call"))["seq"] for app in [*apps, apps[0]]]
        assert warmup == [1, 2, 3] and refusals == [key_of(2)]

        async def burst(app: App, name: str) -> list[int]:
            seqs: list[int] = []
            for i in range(10):
                done = await asyncio.gather(*[app.audit.record(
                    "tool.call", actor=UserContext(user=name), context={"i": i})
                    for _ in range(10)])
                seqs += [entry["seq"] for entry in done if entry]
            return seqs

        ones, twos = await asyncio.gather(burst(apps[0], "one"), burst(apps[1], "two"))
        report = await verify(stores[0])
    for store in set(stores):
        await store.close()
    assert report.ok and report.entries == 203, report
    assert sorted(ones + twos) == list(range(4, 204))
    assert ones == sorted(ones) and twos == sorted(twos)


async def test_two_server_processes_on_one_sqlite_file(tmp_path: Path,
                                                      server_process: Any) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    servers = [server_process(QUICKSTART, url, env={"FASTAGENTIC_AUDIT": "1"}).start()
               for _ in range(2)]
    calls = 120
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        responses = await asyncio.gather(*[
            http.post(servers[i % 2].url + "/tools/add", json={"a": i, "b": 1})
            for i in range(calls)])
    assert [r.json() for r in responses] == [{"result": i + 1} for i in range(calls)]
    for server in servers:
        server.stop()  # graceful: what was queued is stored before the store closes
    entries, report = await read_url(url)
    assert report.ok and report.entries == calls
    assert [e["seq"] for e in entries] == list(range(1, calls + 1))
    done = cli("audit", "verify", "--store", url)
    assert done.returncode == 0 and done.stdout.startswith(f"{calls} entries, chain intact")
