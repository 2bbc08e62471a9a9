"""Resumable SSE streams for MCP 2025-11-25 (``Last-Event-ID``), kept in the durable store.

A streamed call is drained by a pump that does not depend on the client's connection: each
message is written to the store (with a time to live) before it is sent, under the event id
``<stream>:<n>``.  A client that lost the stream sends ``GET /mcp`` with ``Last-Event-ID`` to
any replica, which replays what followed from the store and, while the call is still running,
the rest as it comes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .. import jsonrpc

if TYPE_CHECKING:
    from ...stores.base import Store

NAMESPACE = "mcp-stream"
RETRY_MS = 1000


def frame(event_id: str, message: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: message\ndata: ".encode() + jsonrpc.dumps(message) + b"\n\n"


def priming(event_id: str) -> bytes:
    """The first event: an id with empty data, and how soon to reconnect."""
    return f"id: {event_id}\nretry: {RETRY_MS}\ndata: \n\n".encode()


class Streams:
    def __init__(self, store_of: Callable[[], Store], ttl: float, wait: float) -> None:
        self._store_of = store_of
        self.ttl = ttl
        self.wait = wait
        #: Streams pumped by this process: stream id → set when a message is stored.
        self._local: dict[str, asyncio.Event] = {}

    @property
    def store(self) -> Store:
        return self._store_of()

    def open(self, session_id: str | None, request_id: Any) -> Stream:
        stream = Stream(self, uuid.uuid4().hex, session_id, request_id)
        self._local[stream.id] = asyncio.Event()
        return stream

    async def replay(self, last_event_id: str, session_id: str | None
                     ) -> AsyncIterator[bytes] | None:
        """The events after ``last_event_id`` (None if it names no stream of this session)."""
        stream_id, _, number = last_event_id.partition(":")
        meta = await self.store.kv_get(NAMESPACE, f"{stream_id}:meta")
        if meta is None or meta.get("session") != session_id or not number.isdigit():
            return None
        return self._follow(stream_id, int(number), meta["request_id"])

    async def _follow(self, stream_id: str, after: int, request_id: Any
                      ) -> AsyncIterator[bytes]:
        deadline = time.monotonic() + self.wait
        n = after
        while time.monotonic() < deadline:
            message = await self.store.kv_get(NAMESPACE, f"{stream_id}:{n + 1}")
            if message is not None:
                n += 1
                yield frame(f"{stream_id}:{n}", message)
                if "method" not in message and message.get("id") == request_id:
                    return  # the call's answer: the stream is complete
                continue
            woken = self._local.get(stream_id)
            if woken is not None:  # pumped here: wait for the next message
                woken.clear()
                try:
                    await asyncio.wait_for(woken.wait(), timeout=1.0)
                except TimeoutError:
                    pass
            else:  # pumped by another replica (or finished): look again shortly
                await asyncio.sleep(0.1)


class Stream:
    """One call's stream: numbered, stored, then sent."""

    def __init__(self, streams: Streams, stream_id: str, session_id: str | None,
                 request_id: Any) -> None:
        self.streams = streams
        self.id = stream_id
        self.session_id = session_id
        self.request_id = request_id
        self.n = 0

    async def start(self) -> bytes:
        await self.streams.store.kv_put(NAMESPACE, f"{self.id}:meta", {
            "session": self.session_id, "request_id": self.request_id}, ttl=self.streams.ttl)
        return priming(f"{self.id}:0")

    async def add(self, message: dict[str, Any]) -> bytes:
        self.n += 1
        await self.streams.store.kv_put(NAMESPACE, f"{self.id}:{self.n}", message,
                                        ttl=self.streams.ttl)
        woken = self.streams._local.get(self.id)
        if woken is not None:
            woken.set()
        return frame(f"{self.id}:{self.n}", message)

    def close(self) -> None:
        woken = self.streams._local.pop(self.id, None)
        if woken is not None:
            woken.set()
