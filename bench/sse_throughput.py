"""SSE throughput: one run streaming 100,000 token events to one client, end to end.

fastagentic serves ``bench/apps/sse_app.py`` (uvicorn, 1 worker, uvloop, httptools, access log
off, log level warning) with a SQLite store in a temporary directory: every event is sequenced,
persisted and then streamed.  This script is the client (a raw socket, so the client costs as
little CPU as possible on a small machine): it POSTs ``{"n": N}`` to ``/bench/stream``, reads
until the ``done`` frame, then checks that exactly N ``token`` frames arrived, in order, with
gapless ids/seqs.  Reported: events/s from the first byte of the request to the end of the
``done`` frame, median of the rounds (goal >= 50,000 events/s).

For context, in the same run and interleaved: a bare FastAPI + sse-starlette endpoint streaming
the same N frames from memory (no store, no run engine, one frame per yield); ratio =
fastagentic / bare.

    .venv/bin/python bench/sse_throughput.py [--events 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    APPS,
    HOST,
    UVICORN_SETTINGS,
    Server,
    fmt_int,
    header,
    median,
    request,
    verdict,
    versions,
)

GOAL = 50_000
FRAME = re.compile(rb"^id: (\d+)\r?\nevent: ([a-z_]+)\r?\ndata: (.*?)\r?$", re.M)


@dataclass
class Stream:
    elapsed: float  # first byte of the request -> end of the done frame
    first_event: float  # first byte of the request -> first byte of the response
    raw: bytes


def stream_once(port: int, path: str, n: int, timeout: float = 300.0) -> Stream:
    body = json.dumps({"n": n}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    chunks: list[bytes] = []
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        recv = sock.recv
        start = time.perf_counter()
        sock.sendall(head + body)
        first = end = None
        tail = b""
        saw_done = False
        while True:
            data = recv(1 << 20)
            if not data:
                break
            chunks.append(data)
            if end is not None:
                continue
            if first is None:
                first = time.perf_counter()
            # Only a short window is scanned while timing: the parsing happens afterwards.
            window = tail + data
            if not saw_done:
                k = window.find(b"event: done")
                if k >= 0:
                    saw_done = True
                    window = window[k:]
            if saw_done and b"\n\n" in window:
                end = time.perf_counter()
                if window.endswith(b"\n\n0\r\n\r\n"):  # the chunked terminator: all here
                    break
            tail = window[-16:]
    if end is None:
        raise RuntimeError(f"{path}: the stream ended without a done frame:\n"
                           f"{b''.join(chunks)[-2000:]!r}")
    return Stream(end - start, (first or end) - start, b"".join(chunks))


def dechunk(payload: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        eol = payload.index(b"\r\n", pos)
        size = int(payload[pos:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(payload[eol + 2:eol + 2 + size])
        pos = eol + 2 + size + 2


def check(name: str, raw: bytes, n: int) -> dict[str, object]:
    """Validate a captured response: N token frames, in order, gapless ids; ``done`` last."""
    head, sep, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if not sep or " 200 " not in status_line + " ":
        raise RuntimeError(f"{name}: {status_line!r}\n{payload[:2000]!r}")
    if "text/event-stream" not in headers.get("content-type", ""):
        raise RuntimeError(f"{name}: content-type {headers.get('content-type')!r}")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    frames = FRAME.findall(payload)
    # Every non-empty, non-comment line must belong to a frame we parsed.
    lines = sum(1 for line in payload.splitlines() if line and not line.startswith(b":"))
    if lines != 3 * len(frames):
        raise RuntimeError(f"{name}: {lines} SSE lines but {len(frames)} id/event/data frames")
    ids = [int(f[0]) for f in frames]
    if ids != list(range(ids[0], ids[0] + len(ids))) or ids[0] != 1:
        gaps = [(a, b) for a, b in zip(ids, ids[1:], strict=False) if b != a + 1][:5]
        raise RuntimeError(f"{name}: ids not gapless from 1 (first {ids[0]}, gaps {gaps})")
    tokens = [f for f in frames if f[1] == b"token"]
    if len(tokens) != n:
        raise RuntimeError(f"{name}: {len(tokens)} token frames, expected {n}")
    if frames[-1][1] != b"done":
        raise RuntimeError(f"{name}: the last frame is {frames[-1][1]!r}, not done")
    run_ids = set()
    for i, (seq, type_, data) in enumerate(tokens):
        event = json.loads(data)
        if event["seq"] != int(seq) or event["type"] != "token":
            raise RuntimeError(f"{name}: frame id {seq.decode()} carries {event}")
        if event["content"] != "t" + str(i % 10):
            raise RuntimeError(f"{name}: token {i} is {event['content']!r}")
        run_ids.add(event["run_id"])
    done = json.loads(frames[-1][2])
    if done.get("status") != "completed" or len(run_ids) != 1:
        raise RuntimeError(f"{name}: done {str(done)[:300]}, run ids {run_ids}")
    types = sorted({f[1].decode() for f in frames})
    return {"frames": len(frames), "tokens": len(tokens), "types": types,
            "run_id": run_ids.pop(), "bytes": len(payload), "x_run_id": headers.get("x-run-id")}


def check_token_run(name: str, raw: bytes, n: int, text: str | None = None) -> str:
    """A captured agent run (adapter benches): N token frames (whose joined text is ``text``
    when given), gapless ids from 1, a completed ``done`` last.  Returns the run's id."""
    head, _, payload = raw.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0] + b" ":
        raise RuntimeError(f"{name}: {head[:200]!r} {payload[:500]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        payload = dechunk(payload)
    frames = FRAME.findall(payload)
    ids = [int(f[0]) for f in frames]
    if ids != list(range(1, len(ids) + 1)):
        raise RuntimeError(f"{name}: ids are not gapless from 1")
    tokens = [json.loads(f[2]) for f in frames if f[1] == b"token"]
    if len(tokens) != n:
        raise RuntimeError(f"{name}: {len(tokens)} token frames, expected {n}")
    if text is not None and "".join(t["content"] for t in tokens) != text:
        raise RuntimeError(f"{name}: the tokens are not the expected text")
    done = json.loads(frames[-1][2])
    if frames[-1][1] != b"done" or done.get("status") != "completed":
        raise RuntimeError(f"{name}: ended with {frames[-1][1]!r} {str(done)[:300]}")
    return tokens[0]["run_id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="token events (100000)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per server (3)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare FastAPI/sse-starlette comparison")
    parser.add_argument("--profile", metavar="FILE.prof",
                        help="run the fastagentic server under cProfile and write its stats "
                             "here (slows it down: for hotspots, not for the figures)")
    args = parser.parse_args()
    n = args.events

    header(f"SSE throughput: {n:,} token events, one run, one client, end to end")
    print(versions("fastagentic", "fastapi", "starlette", "sse-starlette", "uvicorn", "uvloop",
                   "httptools"))
    print(f"servers: python -m uvicorn --app-dir bench/apps ... {' '.join(UVICORN_SETTINGS)}")

    with tempfile.TemporaryDirectory(prefix="fa-bench-sse-") as tmp:
        db = os.path.join(tmp, "bench.db")
        store = "sqlite:///" + db
        print(f"  fastagentic: sse_app:app, POST /bench/stream {{\"n\": {n}}}, "
              f"FASTAGENTIC_DURABLE_STORE={store} (temporary)")
        servers = {"fastagentic": Server(
            "fastagentic", "sse_app:app", APPS, env={"FASTAGENTIC_DURABLE_STORE": store},
            profile=args.profile)}
        paths = {"fastagentic": "/bench/stream"}
        if not args.no_bare:
            print(f"  bare:        sse_app:bare, POST /bare/stream {{\"n\": {n}}}: FastAPI + "
                  "sse-starlette, the same frames pre-encoded in memory, one yield per frame, "
                  "no store")
            servers["bare"] = Server("bare", "sse_app:bare", APPS)
            paths["bare"] = "/bare/stream"
        print("client: raw socket in this process; timed from the first byte of the request "
              "to the end of the done frame; frames checked afterwards")
        try:
            for server in servers.values():
                server.start()
            status, body = request("GET", servers["fastagentic"].url + "/health/ready")
            print(f"  fastagentic /health/ready -> {status} {body.decode()}")
            if "bare" in servers:
                request("POST", servers["bare"].url + "/bare/prepare", {"n": n}, timeout=120)
            # Warm-up: one full, unmeasured, checked stream per server.
            for name, server in servers.items():
                check(name, stream_once(server.port, paths[name], n).raw, n)
            print(f"warm-up: 1 unmeasured stream per server; then {args.rounds} rounds per "
                  "server, interleaved")
            results: dict[str, list[float]] = {name: [] for name in servers}
            for i in range(args.rounds):
                order = list(servers) if i % 2 == 0 else list(reversed(servers))
                line = []
                for name in order:
                    s = stream_once(servers[name].port, paths[name], n)
                    info = check(name, s.raw, n)
                    if name == "fastagentic":
                        st, run = request("GET", f"{servers[name].url}/runs/{info['run_id']}")
                        run_status = json.loads(run).get("status") if st == 200 else st
                        if run_status != "completed":
                            raise RuntimeError(f"run {info['run_id']} is {run_status}")
                    rate = n / s.elapsed
                    results[name].append(rate)
                    line.append(f"{name} {fmt_int(rate):>7} events/s ({s.elapsed:.3f}s, "
                                f"first response byte {s.first_event * 1e3:.1f} ms, "
                                f"{info['frames']:,} frames {','.join(info['types'])}, "
                                f"{info['bytes'] / 1e6:.1f} MB)")
                print(f"  round {i + 1}: " + "\n           ".join(line))
            print(f"  checks: every stream had exactly {n:,} token frames, contents in order, "
                  "ids gapless from 1, done last; every fastagentic run completed in the store")
        finally:
            for server in servers.values():
                server.stop()
        db_size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
        print(f"  SQLite store after {args.rounds + 1} runs: {db_size / 1e6:.1f} MB "
              "(removed with its temporary directory)")

    fa = median(results["fastagentic"])
    print(f"median fastagentic (SQLite store): {fmt_int(fa)} events/s   "
          f"(goal >= {fmt_int(GOAL)}: {verdict(fa >= GOAL)})")
    if "bare" in results:
        bare_rate = median(results["bare"])
        print(f"median bare FastAPI/sse-starlette (memory, no store): {fmt_int(bare_rate)} "
              f"events/s")
        print(f"ratio fastagentic/bare: {fa / bare_rate:.3f}   (context)")
    if args.profile:
        print(f"(fastagentic ran under cProfile: stats in {args.profile}; the figures are not "
              "meaningful in this mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
