"""Instructions per call of the governed quickstart, counted by valgrind (callgrind).

Throughput on a small shared machine moves by a third from run to run; instruction counts do
not (the same count to 0.1% twice in a row here).  This script counts the user-space
instructions one ``POST /tools/add`` costs inside the app (the ASGI app driven in-process: no
HTTP server, no sockets), with governance parts on and off, to see what each part costs and
whether a change made it cheaper.  Kernel time (SQLite's writes, Redis round trips) is not
counted: ``bench/governance.py`` is the end-to-end figure.

    .venv/bin/python bench/instructions.py [--calls 640] [--parts plain,jwt,ratelimit,audit,all]

Each part runs in its own process under ``valgrind --tool=callgrind`` with instrumentation
switched on (``callgrind_control -i on``) after startup and a warm-up, so imports and
startup are not counted; the 2 s wait for that switch is, a small fixed cost spread over
``--calls`` (so compare figures taken with the same ``--calls``: at 320 calls plain read 468,290
where it reads 436,186 at 640).  Needs valgrind and Redis on 127.0.0.1:6379 (db 15).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import APPS, header, versions  # noqa: E402

REDIS = "redis://127.0.0.1:6379/15"
CONCURRENCY = 32


def drive(calls: int, token: str) -> None:
    """In the measured process: start the app (ASGI lifespan), warm it up, switch counting
    on, make ``calls`` calls from ``CONCURRENCY`` callers."""
    import asyncio

    sys.path.insert(0, str(APPS))
    import governed_quickstart

    app = governed_quickstart.app
    body = b'{"a": 2, "b": 3}'
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"authorization", b"Bearer " + token.encode())]

    async def call() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/tools/add",
                 "raw_path": b"/tools/add", "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                 "state": {}}
        received = False
        statuses: list[int] = []

        async def receive() -> dict[str, object]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))  # type: ignore[call-overload]

        await app(scope, receive, send)
        if statuses != [200]:
            raise SystemExit(f"POST /tools/add answered {statuses}")

    async def callers(count: int) -> None:
        async def caller(n: int) -> None:
            for _ in range(n):
                await call()

        await asyncio.gather(*(caller(count // CONCURRENCY) for _ in range(CONCURRENCY)))

    async def main() -> None:
        inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                            "state": {}}, inbox.get, outbox.put))
        started = await outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise SystemExit(f"the app did not start: {started}")
        await callers(CONCURRENCY * 50)
        subprocess.Popen(["callgrind_control", "-i", "on", str(os.getpid())],
                         stdout=subprocess.DEVNULL)
        await asyncio.sleep(2)  # callgrind takes the command while the loop sleeps
        await callers(calls)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan

    import uvloop

    uvloop.run(main())


def count(part: str, calls: int, issuer_url: str, token: str, tmp: str) -> float:
    env = {**os.environ, "BENCH_GOVERNED": "0", "FASTAGENTIC_AUDIT": "0",
           "FASTAGENTIC_DURABLE_STORE": f"sqlite:///{tmp}/{part}.db"}
    oidc = {"FASTAGENTIC_OIDC_ISSUER": issuer_url, "FASTAGENTIC_OIDC_AUDIENCE": "bench-api"}
    limited = {"BENCH_GOVERNED": "1", "FASTAGENTIC_RATE_LIMIT_STORE": REDIS}
    if part in ("jwt", "all"):
        env.update(oidc)
    if part in ("ratelimit", "all"):
        env.update(limited, **oidc)  # per user: a caller with an identity
    if part in ("audit", "all"):
        env["FASTAGENTIC_AUDIT"] = "1"
    out = f"{tmp}/callgrind.{part}"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         sys.executable, __file__, "--drive", str(calls), "--token", token],
        env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{part}: the measured process failed:\n{done.stderr[-2000:]}")
    return int(found.group(1)) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=640)
    parser.add_argument("--parts", default="plain,jwt,ratelimit,audit,all")
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive is not None:
        drive(args.drive, args.token or "")
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    import redis
    from governance import Issuer  # this folder's (sys.path above)

    redis.Redis.from_url(REDIS).flushdb()
    header("Instructions per POST /tools/add (callgrind), governance parts on and off")
    print(versions("fastagentic", "pyjwt", "limits", "redis", "starlette"))
    issuer = Issuer()
    token = issuer.token("bench-user", "bench-tenant")
    calls = args.calls // CONCURRENCY * CONCURRENCY
    print(f"{calls} calls from {CONCURRENCY} concurrent callers in one process, after a "
          f"warm-up of {CONCURRENCY * 50}; SQLite store\n")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fa-bench-instr-") as tmp:
        for part in args.parts.split(","):
            started = time.monotonic()
            results[part] = count(part, calls, issuer.url, token, tmp)
            base = results.get("plain")
            extra = f"  (+{results[part] - base:,.0f} over plain, plain / this "\
                f"{base / results[part]:.3f})" if base and part != "plain" else ""
            print(f"  {part:<10} {results[part]:>10,.0f} instructions/call{extra}"
                  f"   [{time.monotonic() - started:.0f} s]")
    print("\nratelimit includes jwt (the limit counts per user); "
          "its blocks expire by time, which valgrind slows: read it as an upper bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
