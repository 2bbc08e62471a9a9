"""Scale-out: worker processes, cross-process event delivery, checkpoint round trips.

1. **Workers**: trivial I/O-bound runs (each awaits 50 ms) per second with one worker process
   vs two (``fastagentic worker --concurrency C``), on PostgreSQL and on Redis.  The runs are
   queued straight into the store while the workers idle, then timed until all completed;
   one and two workers alternate, round by round; a round's rate is its runs over the time
   from the first run's start to the last one's end.  Goal: two >= 1.8x one.
2. **Delivery latency**: an API process (``--no-worker``) serves 100 concurrent SSE streams of
   runs executing on a worker process; each token carries the time the worker made it, the
   client notes when its SSE frame arrived (same machine, same clock).  Measured from the
   event's creation, so it includes the worker's append (the commit) as well as the signal,
   the API's read and the SSE write.  Goal: p50 <= 5 ms, p99 <= 50 ms.
3. **Checkpoints**: write + read-latest round trip per backend, side by side (SQLite,
   PostgreSQL, Redis, S3 on a local moto server with SQLite for the records).

    python bench/scale.py [--runs 400] [--concurrency 10] [--rounds 3] [--streams 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import APPS, PYTHON, ROOT, free_port, header, median, verdict, versions  # noqa: E402

APP = APPS / "scale_app.py"
PG = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


class Proc:
    """A ``fastagentic`` command in a subprocess, ready when ``health`` answers."""

    def __init__(self, args: list[str], health: str, env: dict[str, str] | None = None) -> None:
        self.args, self.health = args, health
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Proc:
        import httpx

        self.proc = subprocess.Popen([PYTHON, "-m", "fastagentic", *self.args], cwd=ROOT,
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=None if os.environ.get("BENCH_VERBOSE")
                                     else subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.args[:2]} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.health, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.args[:2]} did not become healthy")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def isolated(base: str) -> str:
    name = f"fa_bench_{uuid.uuid4().hex[:10]}"
    return f"{base}?schema={name}" if base.startswith("postgresql") else f"{base}?prefix={name}"


async def drop(url: str) -> None:
    if url.startswith("postgresql"):
        import asyncpg

        schema = url.split("schema=")[1]
        conn = await asyncpg.connect(PG)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
    else:
        import redis.asyncio as aioredis

        prefix = url.split("prefix=")[1]
        client = aioredis.Redis.from_url(REDIS)
        try:
            keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i:i + 500])
        finally:
            await client.aclose()


# 1. workers


async def queue_runs(url: str, count: int, ms: int) -> list[str]:
    """Queue ``count`` runs, 32 creates at a time (faster than the workers take them)."""
    from fastagentic.core.runs import QUEUED, RunRecord, new_run_id
    from fastagentic.stores.factory import store_from_url

    store = store_from_url(url)
    await store.open()
    try:
        runs = [RunRecord(id=new_run_id(), endpoint="sleep", status=QUEUED, input={"ms": ms},
                          principal="bench") for _ in range(count)]
        for i in range(0, count, 32):
            await asyncio.gather(*(store.create_run(run) for run in runs[i:i + 32]))
            await store.signal("queue", runs[i].id)
        return [run.id for run in runs]
    finally:
        await store.close()


async def throughput(url: str, ids: list[str], timeout: float = 300) -> float:
    """Runs per second from the first run's start to the last one's end (the workers'
    throughput, whatever the time spent starting processes and queueing)."""
    from fastagentic.stores.factory import store_from_url

    store = store_from_url(url)
    await store.open()
    try:
        deadline = time.monotonic() + timeout
        waiting = list(ids)
        while waiting:
            # Only the last queued run is polled until it completes (the workers take them in
            # order); reading every run every time would load the database the workers share.
            last = await store.get_run(waiting[-1])
            if last is not None and last.status == "completed":
                runs = await asyncio.gather(*(store.get_run(rid) for rid in waiting))
                waiting = [rid for rid, r in zip(waiting, runs, strict=True)
                           if r is None or r.status != "completed"]
            if time.monotonic() > deadline:
                raise SystemExit(f"runs did not complete in {timeout} s")
            if waiting:
                await asyncio.sleep(0.2)
        runs = await asyncio.gather(*(store.get_run(rid) for rid in ids))
        first = min(r.started_at or 0.0 for r in runs if r is not None)
        last = max(r.finished_at or 0.0 for r in runs if r is not None)
        return len(ids) / (last - first)
    finally:
        await store.close()


def workers_round(base: str, workers: int, runs: int, concurrency: int, ms: int) -> float:
    url = isolated(base)
    procs = []
    try:
        for _ in range(workers):
            port = free_port()
            procs.append(Proc(["worker", str(APP), "--store", url, "--concurrency",
                               str(concurrency), "--health-port", str(port), "--log-level",
                               "warning"], f"http://127.0.0.1:{port}/health/ready"))
        for proc in procs:
            proc.__enter__()
        ids = asyncio.run(queue_runs(url, runs, ms))
        return asyncio.run(throughput(url, ids))
    finally:
        for proc in procs:
            proc.__exit__()
        asyncio.run(drop(url))


# 2. delivery latency


async def sse_lines(host: str, port: int, path: str, opened: list[float]
                    ) -> AsyncIterator[str]:
    """The lines of an SSE response, read straight off the socket (HTTP/1.1, chunked): with
    100 streams in one client process, a full HTTP client's parsing would be a good part of
    the latency measured on a 2-CPU machine.  ``opened`` gets the time the headers came."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        if not head.startswith("HTTP/1.1 200") or "chunked" not in head.lower():
            raise SystemExit(f"GET {path}: {head.splitlines()[0]} (expected a chunked 200)")
        opened.append(time.time())
        rest = ""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            chunk = (await reader.readexactly(size + 2))[:-2].decode()
            *lines, rest = (rest + chunk).split("\n")
            for line in lines:
                yield line.rstrip("\r")
    finally:
        writer.close()


async def stream_latencies(api: str, streams: int, ticks: int, every_ms: int,
                           delay_ms: int) -> list[float]:
    import httpx

    early: list[float] = []
    host, port = api.split("//")[1].split(":")

    async with httpx.AsyncClient(base_url=api, timeout=60,
                                 limits=httpx.Limits(max_connections=streams + 10)) as client:
        async def one() -> list[float]:
            started = await client.post("/tick", json={"count": ticks, "every_ms": every_ms,
                                                       "delay_ms": delay_ms},
                                        headers={"Prefer": "respond-async"})
            run_id = started.json()["run_id"]
            got: list[float] = []
            opened: list[float] = []
            lines = sse_lines(host, int(port), f"/runs/{run_id}/events", opened)
            async for line in lines:
                if not line.startswith("data:"):
                    continue
                now = time.time()
                event = json.loads(line[5:])
                if event["type"] == "token":
                    made = float(event["content"])
                    # Events made before the stream was open are history it catches up on,
                    # not deliveries: they are counted apart.
                    if made >= opened[0]:
                        got.append((now - made) * 1000)
                    else:
                        early.append((now - made) * 1000)
                elif event["type"] == "done":
                    break
            await lines.aclose()
            return got

        results = await asyncio.gather(*(one() for _ in range(streams)))
    print(f"  (events made before their stream was open: {len(early)}"
          + (f", p50 {pct(early, 50):.1f} ms" if early else "") + ")")
    return [x for r in results for x in r]


def latency(base: str, streams: int, ticks: int, every_ms: int, delay_ms: int) -> list[float]:
    url = isolated(base)
    port = free_port()
    try:
        with Proc(["run", str(APP), "--store", url, "--no-worker", "--port", str(port),
                   "--log-level", "warning"], f"http://127.0.0.1:{port}/health/ready"), \
                _worker(url, streams):
            return asyncio.run(stream_latencies(f"http://127.0.0.1:{port}", streams, ticks,
                                                every_ms, delay_ms))
    finally:
        asyncio.run(drop(url))


def _worker(url: str, streams: int) -> Proc:
    port = free_port()
    return Proc(["worker", str(APP), "--store", url, "--concurrency", str(streams * 2),
                 "--health-port", str(port), "--log-level", "warning"],
                f"http://127.0.0.1:{port}/health/ready")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# 3. checkpoints


async def checkpoint_round_trips(url: str, n: int, blobs: str | None = None) -> float:
    from fastagentic.core.runs import QUEUED, Checkpoint, RunRecord, new_run_id
    from fastagentic.stores.factory import store_from_url

    store: Any = store_from_url(url)
    if blobs is not None:
        from fastagentic.stores.s3 import blobs_from_url
        from fastagentic.stores.split import SplitStore

        store = SplitStore(store, blobs_from_url(blobs))
    await store.open()
    try:
        run = RunRecord(id=new_run_id(), endpoint="x", status=QUEUED, input={}, principal="b")
        await store.create_run(run)
        state = {"messages": [{"role": "user", "content": "x" * 200}] * 5, "step": 0}
        times = []
        for i in range(n):
            began = time.perf_counter()
            await store.put_checkpoint(Checkpoint(id=f"cp-{i}", run_id=run.id, seq=i,
                                                  state={**state, "step": i}))
            latest = await store.latest_checkpoint(run.id)
            times.append(time.perf_counter() - began)
            assert latest is not None and latest.state["step"] == i
        return median(times) * 1e6
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--delay", type=int, default=3000,
                        help="ms before a run's first token (the clients open their streams)")
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--parts", default="workers,latency,checkpoints")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    header("Scale-out: workers, cross-process delivery, checkpoints")
    print(versions("fastagentic", "asyncpg", "redis", "aiobotocore", "moto"))
    ok = True
    if "workers" in parts:
        print(f"\n1. {args.runs} runs of 50 ms each, workers at --concurrency "
              f"{args.concurrency}, {args.rounds} rounds interleaved")
        for name, base in (("postgresql", PG), ("redis", REDIS)):
            one, two = [], []
            for r in range(args.rounds):
                order = (1, 2) if r % 2 == 0 else (2, 1)
                for count in order:
                    rate = workers_round(base, count, args.runs, args.concurrency, 50)
                    (one if count == 1 else two).append(rate)
                    print(f"  {name} round {r + 1}: {count} worker(s) {rate:,.1f} runs/s")
            ratio = median(two) / median(one)
            ok &= ratio >= 1.8
            print(f"  {name}: 1 worker {median(one):,.1f} runs/s, 2 workers "
                  f"{median(two):,.1f} runs/s, ratio {ratio:.2f} (goal >= 1.8) "
                  f"{verdict(ratio >= 1.8)}")
    if "latency" in parts:
        print(f"\n2. {args.streams} concurrent SSE streams on an API process, runs on a worker "
              f"process, {args.ticks} tokens each 100 ms apart")
        for name, base in (("postgresql", PG), ("redis", REDIS)):
            values = latency(base, args.streams, args.ticks, 100, args.delay)
            p50, p99 = pct(values, 50), pct(values, 99)
            good = p50 <= 5 and p99 <= 50
            ok &= good
            print(f"  {name}: {len(values)} events, p50 {p50:.2f} ms, p90 "
                  f"{pct(values, 90):.2f} ms, p99 {p99:.2f} ms, max {max(values):.1f} ms "
                  f"(goal p50 <= 5, p99 <= 50) {verdict(good)}")
    if "checkpoints" in parts:
        print(f"\n3. checkpoint write + read latest, median of {args.checkpoints}")
        with tempfile.TemporaryDirectory() as tmp:
            rows = [("sqlite", f"sqlite:///{tmp}/c.db", None),
                    ("postgresql", isolated(PG), None), ("redis", isolated(REDIS), None)]
            s3 = _s3(tmp)
            if s3 is not None:
                rows.append(("s3 (moto) + sqlite", f"sqlite:///{tmp}/s.db", s3))
            results = []
            for name, url, blobs in rows:
                try:
                    results.append((name, asyncio.run(
                        checkpoint_round_trips(url, args.checkpoints, blobs))))
                finally:
                    if not url.startswith("sqlite"):
                        asyncio.run(drop(url))
            base = results[0][1]
            for name, us in results:
                print(f"  {name:<20} {us / 1000:8.2f} ms  ({us / base:5.1f}x SQLite)")
    print("\nall goals met" if ok else "\nsome goals MISSED")
    return 0


def _s3(tmp: str) -> str | None:
    """A bucket on a local moto server (the tests' helper), or None without moto."""
    sys.path.insert(0, str(Path(ROOT) / "tests"))
    try:
        from s3_server import endpoint
    except ImportError:
        return None
    import boto3

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    url = endpoint()
    bucket = f"fa-bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/bench?endpoint={url}"


if __name__ == "__main__":
    raise SystemExit(main())
