"""API processes that only accept runs, workers that execute them: on every shared backend.

In one test process, two Apps open the same store each on its own connections (as two
processes would): an API-only App (``worker=False``) accepts runs and streams them, a worker
App executes them.  The process-level proofs (SIGKILL, several processes) are in
``test_processes.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import PG_HOST, PG_PORT, isolated_store_url, parse_sse, wait_for
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext

SHARED = ["sqlite", "postgres", "redis"]


class WorkIn(BaseModel):
    label: str
    steps: int = 3
    delay_ms: int = 10
    pad_step: int = -1  # this step's token is padded with 40,000 characters


async def token_user(token: str | None, headers: Mapping[str, str]) -> UserContext:
    """``Bearer alice@t1`` is user alice of tenant t1."""
    if not token:
        raise Unauthenticated("a bearer token naming the user is required")
    user, _, tenant = token.partition("@")
    return UserContext(user=user, tenant=tenant or None)


def make_app(store: str, *, worker: bool, concurrency: int = 100, lease_ttl: float = 30.0
             ) -> App:
    # SQLite has no signals between processes: it polls.  The others must not need to (a
    # 5 s poll would fail the timing assertions below).
    poll = 0.1 if store.startswith("sqlite") else 5.0
    app = App(title="workers", durable_store=store, worker=worker,
              worker_concurrency=concurrency, lease_ttl=lease_ttl, poll_interval=poll)
    app.require_auth(token_user)

    @app.agent_endpoint("/work")
    async def work(body: WorkIn, ctx: RunContext) -> dict[str, Any]:
        for step in range(body.steps):
            await asyncio.sleep(body.delay_ms / 1000)
            await ctx.token(f"{body.label}:{step} " + ("." * 40_000 if step == body.pad_step
                                                         else ""))
        return {"label": body.label, "finished_at": time.time()}

    return app


@pytest.fixture(params=SHARED)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with isolated_store_url(request.param, tmp_path) as url:
        yield url


async def client_of(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}"}


async def start(client: httpx.AsyncClient, who: str, **body: Any) -> str:
    response = await client.post("/work", json=body, headers={**auth(who),
                                                              "Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    return response.json()["run_id"]


async def settled(client: httpx.AsyncClient, who: str, run_id: str, timeout: float = 30
                  ) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        run = (await client.get(f"/runs/{run_id}", headers=auth(who))).json()
        return run if run["status"] in ("completed", "failed", "cancelled") else None

    return await wait_for(done, timeout=timeout, interval=0.02)


async def stream_to_done(client: httpx.AsyncClient, who: str, run_id: str
                         ) -> list[dict[str, Any]]:
    """The run's SSE frames, read until ``done``."""
    frames: list[dict[str, Any]] = []
    async with client.stream("GET", f"/runs/{run_id}/events",
                             headers={**auth(who), "Accept": "text/event-stream"}) as stream:
        body = ""
        async for chunk in stream.aiter_text():
            body += chunk
            frames = parse_sse(body)
            if frames and frames[-1]["event"] == "done":
                break
    return frames


async def test_api_only_app_hands_runs_to_a_worker_and_streams_them(shared_store: str) -> None:
    api = make_app(shared_store, worker=False)
    worker = make_app(shared_store, worker=True)
    async with api.running(), worker.running(), await client_of(api) as client:
        began = time.monotonic()
        run_id = await start(client, "alice@acme", label="x", steps=20, delay_ms=20)
        frames = await stream_to_done(client, "alice@acme", run_id)
        took = time.monotonic() - began
        run = await settled(client, "alice@acme", run_id)
    assert run["status"] == "completed" and run["output"]["label"] == "x"
    assert run["attempt"] == 1
    seqs = [int(f["id"]) for f in frames]
    assert seqs == list(range(1, len(seqs) + 1)), "gapless, no duplicates"
    tokens = [f["data"]["content"] for f in frames if f["event"] == "token"]
    assert tokens == [f"x:{i} " for i in range(20)]
    assert took < 4, f"the worker took the run and the stream saw it live ({took:.1f} s)"


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_the_worker_s_events_reach_the_api_with_their_signal(kind: str, tmp_path: Path
                                                                   ) -> None:
    """Small batches travel with the store's signal, so the API streams them without reading
    them back; a batch too big for a signal is read from the store, and nothing is lost."""
    with isolated_store_url(kind, tmp_path) as url:
        api = make_app(url, worker=False)
        worker = make_app(url, worker=True)
        async with api.running(), worker.running(), await client_of(api) as client:
            reads: list[int] = []
            read_events = api.store.read_events

            async def counted(run_id: str, after: int = 0, limit: int = 1000) -> Any:
                reads.append(after)
                return await read_events(run_id, after, limit)

            api.store.read_events = counted  # type: ignore[method-assign]
            run_id = await start(client, "alice@acme", label="s", steps=30, delay_ms=20,
                                 pad_step=15)
            frames = await stream_to_done(client, "alice@acme", run_id)
    seqs = [int(f["id"]) for f in frames]
    assert seqs == list(range(1, len(seqs) + 1)), "gapless, no duplicates"
    tokens = [f["data"]["content"] for f in frames if f["event"] == "token"]
    assert [t.split(" ")[0] for t in tokens] == [f"s:{i}" for i in range(30)]
    assert len(tokens[15]) > 40_000
    # The catch-up read, the padded token's, and perhaps one each at the start and the end
    # (a signal racing the subscription); without the batches it would be one per token.
    assert len(reads) <= 6, reads


async def test_a_noisy_tenant_does_not_starve_a_quiet_one(shared_store: str) -> None:
    api = make_app(shared_store, worker=False)
    worker = make_app(shared_store, worker=True, concurrency=1)
    async with api.running(), await client_of(api) as client:
        noisy = [await start(client, f"bot{i % 4}@noisy", label=f"n{i}", steps=1, delay_ms=5)
                 for i in range(40)]
        quiet = await start(client, "carol@quiet", label="q", steps=1, delay_ms=5)
        async with worker.running():
            done = await settled(client, "carol@quiet", quiet)
            finished_noisy = [
                r for r in [(await client.get(f"/runs/{rid}", headers=auth(f"bot{i % 4}@noisy"))
                             ).json() for i, rid in enumerate(noisy)]
                if r["status"] == "completed"]
    # The quiet tenant's run was queued after 40 of the noisy tenant's; one worker slot; the
    # quiet run still went within the first couple of claims, not after all 40.
    before_quiet = [r for r in finished_noisy
                    if r["output"]["finished_at"] < done["output"]["finished_at"]]
    assert len(before_quiet) <= 2, f"{len(before_quiet)} noisy runs went first"


async def test_cancel_reaches_the_worker_executing_the_run(shared_store: str) -> None:
    if shared_store.startswith("sqlite"):
        pytest.skip("SQLite has no channel between processes: cancel waits for a heartbeat")
    api = make_app(shared_store, worker=False)
    worker = make_app(shared_store, worker=True)  # lease 30 s: a heartbeat every 10 s
    async with api.running(), worker.running(), await client_of(api) as client:
        run_id = await start(client, "alice@acme", label="c", steps=1000, delay_ms=20)
        await wait_for(lambda: worker.engine.executing(run_id), timeout=10)
        began = time.monotonic()
        response = await client.post(f"/runs/{run_id}/cancel", headers=auth("alice@acme"))
        assert response.status_code in (200, 202), response.text
        run = await settled(client, "alice@acme", run_id, timeout=8)
        assert run["status"] == "cancelled"
        assert time.monotonic() - began < 5, "stopped by the signal, not a heartbeat"


async def test_a_full_worker_woken_up_keeps_serving(tmp_path: Path) -> None:
    """Wake-ups while every slot is taken must not spin the claim loop (it would never yield
    and the process would stop serving)."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    api = make_app(url, worker=False)
    worker = make_app(url, worker=True, concurrency=1)
    async with api.running(), worker.running(), await client_of(api) as client:
        ids = [await start(client, "alice@acme", label=f"w{i}", steps=3, delay_ms=100)
               for i in range(3)]
        await wait_for(lambda: any(worker.engine.executing(rid) for rid in ids), timeout=10)
        for _ in range(5):
            await worker.store.signal("queue", ids[-1])  # wake-ups while full
        async with asyncio.timeout(2):
            await asyncio.sleep(0.05)  # the loop still turns
        runs = [await settled(client, "alice@acme", rid) for rid in ids]
    assert [r["status"] for r in runs] == ["completed"] * 3


async def test_a_worker_opens_its_connections_before_it_claims(tmp_path: Path) -> None:
    """The first runs of a new worker (a scale-out) do not wait for connections: the worker
    opens one per slot, and two more for its claims and heartbeats, as it starts."""
    name = f"fa_warm_{time.time_ns()}"  # unknown URL parameters are server settings
    with isolated_store_url("postgres", tmp_path) as url:
        worker = make_app(f"{url}&pool_max=12&application_name={name}", worker=True,
                          concurrency=5)
        async with worker.running():
            conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test")
            try:
                opened = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name)
            finally:
                await conn.close()
    assert opened >= 5 + 2, opened


async def test_the_next_run_starts_while_the_last_one_s_final_write_commits(tmp_path: Path
                                                                             ) -> None:
    """A slot is free once a run's code has ended: the next run is claimed while the last
    one's final write is still under way (not one store round trip later), and the code of
    two runs never executes at once in a one-slot worker."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    api = make_app(url, worker=False)
    worker = make_app(url, worker=True, concurrency=1)
    held = asyncio.Event()
    release = asyncio.Event()

    async with api.running(), await client_of(api) as client:
        first = await start(client, "alice@acme", label="a", steps=2, delay_ms=5)
        second = await start(client, "alice@acme", label="b", steps=2, delay_ms=5)
        async with worker.running():
            write = worker.store.append_and_update

            async def slow_final(run_id: str, events: Any, **changes: Any) -> Any:
                if run_id == first and "finished_at" in changes:
                    held.set()
                    await release.wait()
                return await write(run_id, events, **changes)

            worker.store.append_and_update = slow_final  # type: ignore[method-assign]
            async with asyncio.timeout(10):
                await held.wait()
                # The first run's last write is held: the second starts meanwhile.
                while not worker.engine.executing(second):
                    await asyncio.sleep(0.01)
            release.set()
            runs = [await settled(client, "alice@acme", rid) for rid in (first, second)]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[0]["output"]["finished_at"] <= runs[1]["started_at"], \
        "the second run's code began after the first one's had ended"
