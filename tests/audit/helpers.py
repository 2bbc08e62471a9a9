"""Helpers of the audit tests: reading a store's entries back, the CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from fastagentic.audit import Verification, entries, verify
from fastagentic.stores.base import Store
from fastagentic.stores.factory import store_from_url


async def stored(store: Store) -> list[dict[str, Any]]:
    return [entry async for entry in entries(store)]


async def read_url(url: str) -> tuple[list[dict[str, Any]], Verification]:
    """Every entry in the store at ``url`` and the chain's verification (a fresh connection,
    as another process would read it)."""
    store = store_from_url(url)
    await store.open()
    try:
        return await stored(store), await verify(store)
    finally:
        await store.close()


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``fastagentic ARGS`` in a real subprocess."""
    return subprocess.run([sys.executable, "-m", "fastagentic", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)
