"""The memory store's own behaviour (its contract with the others is ``test_contract``)."""

from __future__ import annotations

import asyncio

from fastagentic.stores.memory import MemoryStore


async def test_expired_documents_nobody_reads_again_do_not_pile_up() -> None:
    # Per-key operations check only their key's expiry (no sweep of the namespace per call);
    # writes sweep the namespace now and then, so a long-running process that keeps writing
    # short-lived documents under new keys holds only the live ones and a bounded rest.
    store = MemoryStore()
    await store.open()
    for i in range(300):
        await store.kv_put("sessions", f"old-{i}", {"i": i}, ttl=0.01)
    await asyncio.sleep(0.02)
    for i in range(1000):
        await store.kv_put("sessions", f"new-{i}", {"i": i}, ttl=60)
        assert await store.kv_put_new("sessions", f"new-{i}", {"again": True}) is False
    held = len(store._kv["sessions"])
    assert held < 1300, "the expired documents were swept"
    assert await store.kv_count("sessions") == 1000
    assert await store.kv_get("sessions", "old-1") is None
    assert await store.kv_get("sessions", "new-999") == {"i": 999}
    await store.close()
