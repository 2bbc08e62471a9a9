"""REST overhead: the quickstart ``add`` tool through fastagentic vs the same bare FastAPI route.

Both servers run side by side (uvicorn, 1 worker, uvloop, httptools, access log off, log level
warning); ``wrk`` (a separate process) POSTs ``{"a": 2, "b": 3}`` to ``/tools/add`` on one, then
the other, alternating over several rounds after a warm-up.  Reported: the median requests/s of
each and the ratio fastagentic / bare (goal >= 0.85).

fastagentic serves ``examples/quickstart/app.py`` with ``FASTAGENTIC_DURABLE_STORE=memory://``
(nothing is written to disk); the baseline is ``bench/apps/bare_fastapi.py``.

    .venv/bin/python bench/rest_overhead.py [--duration 5] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    APPS,
    ROOT,
    UVICORN_SETTINGS,
    Server,
    fmt_int,
    header,
    median,
    process_cpu,
    request,
    verdict,
    versions,
)

GOAL = 0.85
PATH = "/tools/add"
BODY = {"a": 2, "b": 3}
EXPECTED = {"result": 5}
LUA = """\
wrk.method = "POST"
wrk.body = '{"a": 2, "b": 3}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class WrkResult:
    rps: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency: str


def run_wrk(wrk: str, lua: str, url: str, duration: float, connections: int,
            threads: int) -> WrkResult:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "-s", lua, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return WrkResult(
        rps=float(rps.group(1)), requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        latency=latency.group(1) if latency else "?")


def interleaved(args: argparse.Namespace, lua: str, servers: dict[str, Server],
                cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """A warm-up per server, then ``args.rounds`` wrk runs per server, alternating which goes
    first; requests/s per server.  Any non-2xx response or socket error stops the bench.
    ``cpu``: filled with each run's server CPU time per request (µs, every thread of the
    server process; Linux), by server."""
    for server in servers.values():
        run_wrk(args.wrk, lua, server.url + PATH, args.warmup, args.connections, args.threads)
    results: dict[str, list[float]] = {name: [] for name in servers}
    for i in range(args.rounds):
        order = list(servers) if i % 2 == 0 else list(reversed(servers))
        line = []
        for name in order:
            pid = servers[name].proc.pid if cpu is not None and servers[name].proc else None
            used = process_cpu(pid) if pid is not None else 0.0
            r = run_wrk(args.wrk, lua, servers[name].url + PATH, args.duration,
                        args.connections, args.threads)
            if pid is not None and cpu is not None:
                cpu.setdefault(name, []).append(
                    (process_cpu(pid) - used) / max(r.requests, 1) * 1e6)
            if r.non_2xx or r.socket_errors:
                raise SystemExit(f"{name}: {r.non_2xx} non-2xx responses, "
                                 f"{r.socket_errors} socket errors in round {i + 1}")
            results[name].append(r.rps)
            used_cpu = f", server CPU {cpu[name][-1]:.0f} µs/req" \
                if pid is not None and cpu is not None else ""
            line.append(f"{name} {fmt_int(r.rps):>7} req/s (avg latency {r.latency}{used_cpu})")
        print(f"  round {i + 1}: " + " | ".join(line))
    return results


def check_endpoint(name: str, server: Server) -> None:
    status, body = request("POST", server.url + PATH, BODY)
    try:
        data = json.loads(body)
    except ValueError:
        data = body
    if status != 200 or data != EXPECTED:
        raise SystemExit(f"{name}: POST {PATH} {json.dumps(BODY)} answered {status} {body!r}; "
                         f"expected 200 {json.dumps(EXPECTED)}")
    print(f"  check {name:<11} POST {PATH} {json.dumps(BODY)} -> {status} {body.decode()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per server (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server (2)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--profile", metavar="FILE.prof",
                        help="run the fastagentic server under cProfile and write its stats "
                             "here (slows it down: for hotspots, not for the ratio)")
    args = parser.parse_args()
    if not os.path.exists(args.wrk):
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")

    header("REST overhead: POST /tools/add through fastagentic vs bare FastAPI")
    print(versions("fastagentic", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop",
                   "httptools"))
    print(f"servers: python -m uvicorn ... {' '.join(UVICORN_SETTINGS)}")
    print("  fastagentic: examples/quickstart/app.py (app:app), "
          "FASTAGENTIC_DURABLE_STORE=memory:// (in-memory store: no files written)")
    print("  bare:        bench/apps/bare_fastapi.py (bare_fastapi:app), "
          "@app.post('/tools/add') def add(body: AddIn)")

    fa = Server("fastagentic", "app:app", ROOT / "examples" / "quickstart",
                env={"FASTAGENTIC_DURABLE_STORE": "memory://"}, profile=args.profile)
    bare = Server("bare", "bare_fastapi:app", APPS)
    with tempfile.TemporaryDirectory(prefix="fa-bench-") as tmp:
        lua = os.path.join(tmp, "post_add.lua")
        with open(lua, "w") as f:
            f.write(LUA)
        with fa, bare:
            status, body = request("GET", fa.url + "/health/ready")
            store = json.loads(body).get("store") if status == 200 else None
            if store != "memory":
                raise SystemExit(f"fastagentic is not on the memory store: /health/ready -> "
                                 f"{status} {body!r}")
            print(f"  fastagentic /health/ready -> store: {store}")
            check_endpoint("fastagentic", fa)
            check_endpoint("bare", bare)
            load = (f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
                    f"-s post_add.lua")
            print(f"load: {load} (separate process); warm-up {args.warmup:g}s per server, "
                  f"then {args.rounds} rounds per server, interleaved")
            results = interleaved(args, lua, {"fastagentic": fa, "bare": bare})
            check_endpoint("fastagentic", fa)
            check_endpoint("bare", bare)

    fa_rps, bare_rps = median(results["fastagentic"]), median(results["bare"])
    ratio = fa_rps / bare_rps
    print(f"median requests/s: fastagentic {fmt_int(fa_rps)}, bare FastAPI {fmt_int(bare_rps)}")
    print(f"ratio fastagentic/bare: {ratio:.3f}   (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    if args.profile:
        print(f"(fastagentic ran under cProfile: stats in {args.profile}; the ratio is not "
              "meaningful in this mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
