"""Tenants mapped to their own stores: ``App(tenant_stores={"acme": "sqlite:///acme.db"})``.

A tenant's runs, with their events, checkpoints, tool ledger and the adapters' own state
(``ctx.store``), live in that tenant's store; other tenants (and callers without one) use the
default store, which also keeps what belongs to the service: protocol sessions, the audit log,
usage and budgets.  Which store holds a run is found from the run id: a small directory in the
default store (written once, when the run is created), cached in memory.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..core.events import RunEvent
from ..core.runs import Checkpoint, LedgerEntry, RunRecord
from .base import SignalHandler, Store

DIRECTORY_NS = "tenant.runs"
CACHE_SIZE = 100_000


class TenantStores(Store):
    def __init__(self, default: Store, tenants: Mapping[str, Store], *,
                 owns_default: bool = True) -> None:
        self.default = default
        self.tenants = dict(tenants)
        self.owns_default = owns_default
        self.url = default.url
        self._where: OrderedDict[str, Store] = OrderedDict()
        self._next_store = 0

    def for_tenant(self, tenant: str | None) -> Store:
        """The store of ``tenant``'s runs."""
        return self.tenants.get(tenant, self.default) if tenant else self.default

    @property
    def _all(self) -> list[Store]:
        return [self.default, *self.tenants.values()]

    async def open(self) -> None:
        for store in self._all:
            await store.open()

    async def close(self) -> None:
        for store in self._all if self.owns_default else self.tenants.values():
            await store.close()

    async def ping(self) -> None:
        await asyncio.gather(*(store.ping() for store in self._all))

    async def warm(self, connections: int) -> None:
        await asyncio.gather(*(store.warm(connections) for store in self._all))

    # finding a run's store

    def _remember(self, run_id: str, store: Store) -> None:
        self._where[run_id] = store
        self._where.move_to_end(run_id)
        if len(self._where) > CACHE_SIZE:
            self._where.popitem(last=False)

    async def _of(self, run_id: str) -> Store:
        store = self._where.get(run_id)
        if store is None:
            tenant = await self.default.kv_get(DIRECTORY_NS, run_id)
            store = self.tenants.get(tenant, self.default) if tenant else self.default
            self._remember(run_id, store)
        return store

    # runs

    async def create_run(self, run: RunRecord, events: Sequence[RunEvent] = ()
                         ) -> tuple[RunRecord, bool]:
        store = self.for_tenant(run.tenant)
        if store is not self.default:
            # Before the run exists: whoever reads it by id can then find it.
            await self.default.kv_put(DIRECTORY_NS, run.id, run.tenant)
        stored, created = await store.create_run(run, events)
        self._remember(stored.id, store)
        if not created and store is not self.default:
            await self.default.kv_delete(DIRECTORY_NS, run.id)  # an idempotent replay
        return stored, created

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await (await self._of(run_id)).get_run(run_id)

    async def update_run(self, run_id: str, *, expect_attempt: int | None = None,
                         expect_status: Collection[str] | None = None, **changes: Any
                         ) -> RunRecord | None:
        return await (await self._of(run_id)).update_run(
            run_id, expect_attempt=expect_attempt, expect_status=expect_status, **changes)

    async def list_runs(self, *, principal: str | None = None, status: str | None = None,
                        endpoint: str | None = None, limit: int = 50,
                        before: tuple[float, str] | None = None) -> list[RunRecord]:
        if principal is not None and "/" in principal:
            tenant = principal.split("/", 1)[0]
            stores = [self.for_tenant(tenant or None)]
        else:
            stores = self._all
        pages = await asyncio.gather(*(s.list_runs(
            principal=principal, status=status, endpoint=endpoint, limit=limit, before=before)
            for s in stores))
        merged = heapq.merge(*pages, key=lambda r: (r.created_at, r.id), reverse=True)
        return list(merged)[:limit]

    # leases

    async def claim_run(self, run_id: str, owner: str, ttl: float, *,
                        statuses: Collection[str]) -> RunRecord | None:
        return await (await self._of(run_id)).claim_run(run_id, owner, ttl, statuses=statuses)

    async def claim_next(self, owner: str, ttl: float, limit: int = 10) -> list[RunRecord]:
        """Each store is fair within itself; the stores take turns (a tenant with a store of
        its own cannot starve the rest either)."""
        claimed: list[RunRecord] = []
        stores = self._all
        start = self._next_store % len(stores)
        self._next_store += 1
        for store in stores[start:] + stores[:start]:
            if len(claimed) >= limit:
                break
            for run in await store.claim_next(owner, ttl, limit - len(claimed)):
                self._remember(run.id, store)
                claimed.append(run)
        return claimed

    async def renew_lease(self, run_id: str, owner: str, attempt: int, ttl: float) -> bool:
        return await (await self._of(run_id)).renew_lease(run_id, owner, attempt, ttl)

    # signals: every store's, to every listener

    async def listen(self, handler: SignalHandler) -> None:
        for store in self._all:
            await store.listen(handler)

    async def signal(self, kind: str, run_id: str, seq: int = 0) -> None:
        await (await self._of(run_id)).signal(kind, run_id, seq)

    # retention

    async def finished_runs(self, before: float, *, limit: int = 100,
                            after: tuple[float, str] | None = None) -> list[RunRecord]:
        pages = await asyncio.gather(*(s.finished_runs(before, limit=limit, after=after)
                                       for s in self._all))
        return list(heapq.merge(*pages, key=lambda r: (r.finished_at or 0.0, r.id)))[:limit]

    async def prune_run(self, run_id: str, *, events: bool = False, checkpoints: bool = False,
                        record: bool = False) -> bool:
        store = await self._of(run_id)
        pruned = await store.prune_run(run_id, events=events, checkpoints=checkpoints,
                                       record=record)
        if pruned and record and store is not self.default:
            await self.default.kv_delete(DIRECTORY_NS, run_id)
            self._where.pop(run_id, None)
        return pruned

    # events

    async def append_events(self, run_id: str, events: Sequence[RunEvent]) -> None:
        await (await self._of(run_id)).append_events(run_id, events)

    async def append_and_update(self, run_id: str, events: Sequence[RunEvent], *,
                                expect_attempt: int | None = None, **changes: Any
                                ) -> RunRecord | None:
        return await (await self._of(run_id)).append_and_update(
            run_id, events, expect_attempt=expect_attempt, **changes)

    async def read_events(self, run_id: str, after: int = 0, limit: int = 1000
                          ) -> list[RunEvent]:
        return await (await self._of(run_id)).read_events(run_id, after, limit)

    # checkpoints and the tool ledger

    async def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        await (await self._of(checkpoint.run_id)).put_checkpoint(checkpoint)

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return await (await self._of(run_id)).latest_checkpoint(run_id)

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        return await (await self._of(run_id)).list_checkpoints(run_id)

    async def ledger_get(self, run_id: str, call_id: str) -> LedgerEntry | None:
        return await (await self._of(run_id)).ledger_get(run_id, call_id)

    async def ledger_put(self, entry: LedgerEntry) -> LedgerEntry:
        return await (await self._of(entry.run_id)).ledger_put(entry)

    # the service's own documents: the default store

    async def kv_put(self, namespace: str, key: str, value: Any, ttl: float | None = None
                     ) -> None:
        await self.default.kv_put(namespace, key, value, ttl)

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        return await self.default.kv_get(namespace, key)

    async def kv_touch(self, namespace: str, key: str, ttl: float) -> bool:
        return await self.default.kv_touch(namespace, key, ttl)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return await self.default.kv_delete(namespace, key)

    async def kv_count(self, namespace: str) -> int:
        return await self.default.kv_count(namespace)

    async def kv_list(self, namespace: str, prefix: str = "", *, limit: int | None = None,
                      reverse: bool = False, after: str | None = None
                      ) -> list[tuple[str, Any]]:
        return await self.default.kv_list(namespace, prefix, limit=limit, reverse=reverse,
                                          after=after)

    async def kv_delete_prefix(self, namespace: str, prefix: str) -> int:
        return await self.default.kv_delete_prefix(namespace, prefix)

    async def kv_put_new(self, namespace: str, key: str, value: Any, ttl: float | None = None
                         ) -> bool:
        return await self.default.kv_put_new(namespace, key, value, ttl)

    async def kv_add(self, namespace: str, key: str, delta: int, *, limit: int | None = None,
                     ttl: float | None = None) -> int | None:
        return await self.default.kv_add(namespace, key, delta, limit=limit, ttl=ttl)
