"""An in-process HTTP client for an App, with the App running (store open, engine started)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx


@contextlib.asynccontextmanager
async def app_client(
    app: Any, *, durable_store: str | None = None, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """``async with app_client(app) as client: await client.post(...)``.

    The response body is read whole (``httpx.ASGITransport``); a stream therefore has to end
    (runs that finish do) — for live streaming, serve the app with uvicorn.
    """
    if durable_store is not None:
        app.settings.durable_store = durable_store
        app._store_override = None
    async with app.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
