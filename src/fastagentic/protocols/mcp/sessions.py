"""MCP sessions, kept in the durable store so any replica can serve any session.

A short in-process cache saves a store read per request; a session deleted through another
replica is refused here within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ...stores.base import Store

NAMESPACE = "mcp-session"
CACHE_SECONDS = 1.0


class SessionLimit(Exception):  # noqa: N818 - a refusal, mapped to 503 by the transport
    """Too many live sessions."""


class Sessions:
    def __init__(self, store_of: Any, *, idle_ttl: float, limit: int) -> None:
        self._store_of = store_of  # the App's store is opened at startup
        self.idle_ttl = idle_ttl
        self.limit = limit
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def store(self) -> Store:
        return self._store_of()

    async def create(self, protocol_version: str, client: dict[str, Any],
                     principal: str) -> dict[str, Any]:
        if await self.store.kv_count(NAMESPACE) >= self.limit:
            raise SessionLimit(f"the server holds its maximum of {self.limit} sessions")
        now = time.time()
        session = {"id": uuid.uuid4().hex, "protocol_version": protocol_version,
                   "client": client, "log_level": None, "created_at": now, "touched_at": now,
                   "principal": principal}
        await self.store.kv_put(NAMESPACE, session["id"], session, ttl=self.idle_ttl)
        self._cache[session["id"]] = (time.monotonic(), session)
        return session

    async def get(self, session_id: str) -> dict[str, Any] | None:
        now = time.time()
        cached = self._cache.get(session_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS \
                and now - cached[1]["touched_at"] < self.idle_ttl:
            session = cached[1]
        else:
            session = await self.store.kv_get(NAMESPACE, session_id)
            if session is None:
                self._cache.pop(session_id, None)
                return None
            self._cache[session_id] = (time.monotonic(), session)
        if now - session["touched_at"] > self.idle_ttl / 10:
            # Idle reaping: use pushes the expiry out (at most 10 writes per TTL), but only
            # while the session still exists: a reaped or deleted one never comes back.
            if not await self.store.kv_touch(NAMESPACE, session_id, self.idle_ttl):
                self._cache.pop(session_id, None)
                return None
            session["touched_at"] = now
        return session

    async def save(self, session: dict[str, Any]) -> None:
        await self.store.kv_put(NAMESPACE, session["id"], session, ttl=self.idle_ttl)
        self._cache[session["id"]] = (time.monotonic(), session)

    async def delete(self, session_id: str) -> bool:
        self._cache.pop(session_id, None)
        return await self.store.kv_delete(NAMESPACE, session_id)
