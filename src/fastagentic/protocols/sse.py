"""SSE view of a run: ``id: <seq>``, ``event: <type>``, ``data: <json>`` frames."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..core import events as ev
from ..core.engine import RunEngine

if TYPE_CHECKING:
    from sse_starlette import EventSourceResponse


def frames(batch: list[ev.RunEvent]) -> bytes:
    return "".join(
        f"id: {e.seq}\nevent: {e.type}\ndata: {e.json}\n\n" for e in batch
    ).encode()


def run_stream(engine: RunEngine, run_id: str, after: int, *, ping: float,
               headers: dict[str, str] | None = None) -> EventSourceResponse:
    """Stream a run's events after ``after`` until ``done``; a disconnect leaves the run alone."""
    # sse-starlette imports uvicorn at module level: keep it off the import path of App.
    from sse_starlette import EventSourceResponse

    async def body() -> AsyncIterator[bytes]:
        async for batch in engine.follow(run_id, after):
            yield frames(batch)

    return EventSourceResponse(
        body(), ping=ping,
        headers={"Cache-Control": "no-cache", "X-Run-Id": run_id, **(headers or {})},
    )
