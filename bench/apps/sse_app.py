"""The apps bench/sse_throughput.py serves.

* ``app`` (fastagentic): ``POST /bench/stream`` with ``{"n": N}`` starts a durable run whose
  async generator yields N short tokens (``"t0"`` ... ``"t9"``) as fast as it can; each becomes a
  ``token`` event, sequenced and persisted by the run engine (the store comes from
  ``FASTAGENTIC_DURABLE_STORE``) and streamed as SSE.

      FASTAGENTIC_DURABLE_STORE=sqlite:////tmp/x/bench.db \\
          python -m uvicorn --app-dir bench/apps sse_app:app

* ``bare`` (plain FastAPI + sse-starlette, no store, no run engine): ``POST /bare/stream`` with
  ``{"n": N}`` streams the same frames (``id``/``event: token``/``data`` with the same JSON
  payload, then a ``done`` frame), pre-encoded in memory, one frame per yield.

      python -m uvicorn --app-dir bench/apps sse_app:bare
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic_core import to_json
from sse_starlette import EventSourceResponse

from fastagentic import App


class StreamIn(BaseModel):
    n: int = 100_000


# fastagentic: a durable agent endpoint streaming tokens

app = App(title="SSE throughput bench", version="1.0.0")


@app.agent_endpoint("/bench", description="Streams n short tokens as fast as possible.")
async def bench(body: StreamIn) -> AsyncIterator[str]:
    for i in range(body.n):
        yield "t" + str(i % 10)


# bare FastAPI + sse-starlette: the same frames from memory

bare = FastAPI(title="bare SSE baseline")
_frames: dict[int, list[bytes]] = {}
RUN_ID = "run_bare"


def _frame(seq: int, type_: str, data: dict[str, object]) -> bytes:
    # The wire form fastagentic sends (protocols/sse.py, core/events.py).
    body = to_json({"run_id": RUN_ID, "seq": seq, "type": type_, "ts": time.time(), **data})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, type_.encode(), body)


def frames_for(n: int) -> list[bytes]:
    frames = _frames.get(n)
    if frames is None:
        frames = [_frame(i + 1, "token", {"content": "t" + str(i % 10), "delta": {}})
                  for i in range(n)]
        frames.append(_frame(n + 1, "done", {"status": "completed", "output": None,
                                             "error": None}))
        _frames.clear()
        _frames[n] = frames
    return frames


@bare.post("/bare/prepare")
async def prepare(body: StreamIn) -> dict[str, int]:
    """Build (and keep) the frames for ``n`` outside the measured request."""
    return {"frames": len(frames_for(body.n))}


@bare.post("/bare/stream")
async def bare_stream(body: StreamIn) -> EventSourceResponse:
    frames = frames_for(body.n)

    async def gen() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame

    return EventSourceResponse(gen(), ping=15, headers={"Cache-Control": "no-cache"})


@bare.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
