"""The store contract (fastagentic.testing.store_contract) against every backend.

A new backend joins by adding its URL to the ``store_url`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fastagentic.stores.base import Store
from fastagentic.stores.factory import store_from_url
from fastagentic.testing.store_contract import CHECKS, Check, check_id


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = store_from_url(store_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_store_contract(store: Store, check: Check) -> None:
    await check(store)


def test_checks_are_unique_and_cover_the_interface() -> None:
    import inspect

    names = [c.__name__ for c in CHECKS]
    assert len(names) == len(set(names))
    source = "\n".join(inspect.getsource(c) for c in CHECKS)
    for method in Store.__abstractmethods__:
        assert f"store.{method}(" in source, f"no contract check calls Store.{method}"
