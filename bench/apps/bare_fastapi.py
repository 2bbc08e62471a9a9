"""The baseline for bench/rest_overhead.py: the quickstart ``add`` tool as a bare FastAPI route.

Same shape as ``examples/quickstart/app.py``'s tool: a plain (sync) ``def`` taking ``a`` and
``b`` as a JSON body, answering ``{"result": a + b}``.  FastAPI runs a sync endpoint in its
thread pool, as fastagentic runs a sync tool in a worker thread.

    python -m uvicorn --app-dir bench/apps bare_fastapi:app
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="bare FastAPI baseline")


class AddIn(BaseModel):
    a: int
    b: int


@app.post("/tools/add")
def add(body: AddIn) -> dict[str, int]:
    return {"result": body.a + body.b}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
