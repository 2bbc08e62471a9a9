"""StoreSaver: LangGraph's checkpoint saver on fastagentic's store, checked with LangGraph's own
conformance suite (langgraph-checkpoint-conformance) on every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("langgraph")

from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402

from fastagentic.adapters.langgraph import StoreSaver  # noqa: E402
from fastagentic.stores.factory import store_from_url  # noqa: E402


async def test_the_saver_passes_langgraphs_conformance_suite(store_url: str) -> None:
    store = store_from_url(store_url)
    await store.open()
    try:
        @checkpointer_test(name=f"StoreSaver[{store_url.split(':')[0]}]")
        async def saver() -> AsyncIterator[StoreSaver]:
            yield StoreSaver(store)

        report = await validate(saver)
    finally:
        await store.close()
    assert report.passed_all_base(), report
    # Beyond the base: copying and pruning threads (delete_for_runs is not implemented).
    for capability in ("copy_thread", "prune"):
        assert report.results[capability].passed, report.results[capability]
