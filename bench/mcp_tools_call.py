"""MCP ``tools/call``: fastagentic vs the official MCP SDK vs fastmcp vs a bare Starlette route.

Every server has the same trivial tool, a sync ``def add(a: int, b: int) -> int``, and serves
Streamable HTTP at ``/mcp`` (uvicorn, 1 worker, uvloop, httptools, access log off, log level
warning; all side by side).  ``wrk`` (a separate process) POSTs ``tools/call`` of ``add`` with
``{"a": 2, "b": 3}`` through a Lua script, in two request shapes ("modes"):

* ``2025-11-25``: the script first does ``initialize`` + ``notifications/initialized`` itself
  (Python), then wrk sends every call with that ``Mcp-Session-Id`` and
  ``MCP-Protocol-Version: 2025-11-25`` (one session shared by all connections);
* ``2026-07-28``: sessionless, with ``MCP-Protocol-Version: 2026-07-28``, ``Mcp-Method:
  tools/call``, ``Mcp-Name: add`` and the ``params._meta`` envelope.

Both carry ``Accept: application/json, text/event-stream``, and each request has its own
JSON-RPC id.  The servers:

* fastagentic: ``bench/apps/mcp_fastagentic.py`` with ``FASTAGENTIC_DURABLE_STORE=memory://``;
* official:    ``bench/apps/mcp_official.py``, the ``mcp`` SDK's ``MCPServer``,
  ``streamable_http_app(json_response=True)``, stateful (both modes on the one app);
* fastmcp:     ``bench/apps/mcp_fastmcp.py``, ``FastMCP.http_app(json_response=True)``, run from
  its own venv ``.cache/bench-fastmcp-venv`` (created here when missing: fastmcp pins its own
  ``mcp``, so it never goes into ``.venv``);
* bare:        ``bench/apps/mcp_bare.py``, a Starlette route that parses the JSON-RPC body and
  answers the same result (the ceiling); it ignores the headers, so it takes either shape.

Each server/mode is checked first (a correct ``tools/call`` result, same id back) and again at
the end; wrk's Lua script also checks every response body (status 200 and the structured
result).  After a warm-up, ``--rounds`` rounds of ``wrk -d<duration>`` per server/mode and
concurrency (``-c1 -t1`` and ``-c32 -t1``), interleaved, the order rotating each round.
Reported: median requests/s, and the ratios fastagentic / official SDK at concurrency 32 in each
mode (goal >= 3) and fastagentic / bare at concurrency 32 (goal >= 0.8).

    .venv/bin/python bench/mcp_tools_call.py [--duration 5] [--rounds 3] [--only fastagentic,bare]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    APPS,
    PYTHON,
    ROOT,
    UVICORN_SETTINGS,
    Server,
    fmt_int,
    header,
    median,
    verdict,
    versions,
)

GOAL_VS_OFFICIAL = 3.0
GOAL_VS_BARE = 0.8
PATH = "/mcp"
LEGACY, MODERN = "2025-11-25", "2026-07-28"
MODES = (LEGACY, MODERN)
ACCEPT = "application/json, text/event-stream"
ARGUMENTS = {"a": 2, "b": 3}
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}}
EXPECTED_CONTENT = [{"type": "text", "text": "5"}]
EXPECTED_STRUCTURED = {"result": 5}
FASTMCP_VENV = ROOT / ".cache" / "bench-fastmcp-venv"
FASTMCP_PACKAGES = ["fastmcp", "uvicorn", "uvloop", "httptools"]

# wrk's Lua, shared by the benches: the per-thread tally of bad responses, reported at the end.
LUA_TALLY = """\
function done(summary, latency, requests)
    local total = 0
    local sample = ""
    for _, thread in ipairs(threads) do
        total = total + thread:get("bad")
        if sample == "" then sample = thread:get("first_bad") end
    end
    io.write("BAD_RESPONSES " .. total .. "\\n")
    if total > 0 then io.write("FIRST_BAD " .. sample .. "\\n") end
end
"""

# wrk's Lua: one POST per request with its own JSON-RPC id (thread number * 1e9 + counter: a
# server may track in-flight ids per session), and a check of every response.
LUA = """\
local headers = {HEADERS}
local body_head = '{"jsonrpc":"2.0","id":'
local body_tail = {BODY_TAIL}
local expected = '"structuredContent":{"result":5}'
local threads = {}
local next_thread = 0
local counter = 0
bad = 0  -- globals: done() reads them from each thread with thread:get
first_bad = ""

function setup(thread)
    next_thread = next_thread + 1
    thread:set("thread_number", next_thread)
    table.insert(threads, thread)
end

function init(args)
    counter = thread_number * 1000000000
    wrk.method = "POST"
    for name, value in pairs(headers) do wrk.headers[name] = value end
end

function request()
    counter = counter + 1
    return wrk.format(nil, nil, nil, body_head .. counter .. body_tail)
end

function response(status, hdrs, body)
    if status ~= 200 or not string.find(body, expected, 1, true) then
        bad = bad + 1
        if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 300) end
    end
end

""" + LUA_TALLY


def lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def call_params(mode: str) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "add", "arguments": ARGUMENTS}
    if mode == MODERN:
        params["_meta"] = ENVELOPE
    return params


def call_body(mode: str, msg_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": call_params(mode)}


def call_headers(mode: str, session_id: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if mode == LEGACY:
        headers["MCP-Protocol-Version"] = LEGACY
        if session_id:
            headers["Mcp-Session-Id"] = session_id
    else:
        headers.update({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call",
                        "Mcp-Name": "add"})
    return headers


def make_lua(mode: str, session_id: str | None) -> str:
    headers = call_headers(mode, session_id)
    table = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}"
                            for k, v in headers.items()) + "}"
    # The body after the id: the same bytes as json.dumps of call_body, compact.
    tail = json.dumps({"method": "tools/call", "params": call_params(mode)},
                      separators=(",", ":"))
    tail = "," + tail[1:]
    return LUA.replace("{HEADERS}", table).replace("{BODY_TAIL}", lua_string(tail))


# servers


class VenvServer(Server):
    """A :class:`Server` run by another interpreter (fastmcp's own venv)."""

    def __init__(self, *args: Any, python: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.python = python

    def command(self) -> list[str]:
        return [self.python, *super().command()[1:]]


@dataclass
class Target:
    """One server in one mode."""

    server: str
    mode: str
    srv: Server
    session_id: str | None = None
    lua: str = ""
    results: dict[int, list[float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.server} {self.mode}"


def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def initialize(target: Target) -> str:
    """``initialize`` + ``notifications/initialized`` as a 2025-11-25 client: the session id."""
    url = target.srv.url + PATH
    status, headers, body = post(url, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {},
                   "clientInfo": {"name": "bench-mcp-tools-call", "version": "1.0"}}},
        {"Content-Type": "application/json", "Accept": ACCEPT})
    session_id = headers.get("mcp-session-id")
    try:
        version = json.loads(body)["result"]["protocolVersion"]
    except (ValueError, KeyError, TypeError):
        version = None
    if status != 200 or not session_id or version != LEGACY:
        raise SystemExit(f"{target.name}: initialize answered {status} {body[:500]!r} "
                         f"(Mcp-Session-Id {session_id!r}); expected 200, a session id and "
                         f"protocolVersion {LEGACY}")
    status, _, body = post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                           call_headers(LEGACY, session_id))
    if status != 202:
        raise SystemExit(f"{target.name}: notifications/initialized answered {status} {body!r}")
    return session_id


def check(target: Target, msg_id: int) -> str:
    """One ``tools/call`` from Python: a correct result or SystemExit; returns the body."""
    status, headers, raw = post(target.srv.url + PATH, call_body(target.mode, msg_id),
                                call_headers(target.mode, target.session_id))
    problems = []
    if status != 200:
        problems.append(f"status {status}")
    if not headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content-type {headers.get('content-type')!r}")
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        problems.append("not a JSON object")
        data = {}
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    if data.get("jsonrpc") != "2.0" or data.get("id") != msg_id:
        problems.append(f"jsonrpc/id {data.get('jsonrpc')!r}/{data.get('id')!r}")
    if result.get("content") != EXPECTED_CONTENT:
        problems.append(f"content {result.get('content')!r}")
    if result.get("structuredContent") != EXPECTED_STRUCTURED:
        problems.append(f"structuredContent {result.get('structuredContent')!r}")
    if result.get("isError") is not False:
        problems.append(f"isError {result.get('isError')!r}")
    if target.mode == MODERN and target.server != "bare" \
            and result.get("resultType") != "complete":
        problems.append(f"resultType {result.get('resultType')!r}")
    if problems:
        raise SystemExit(f"{target.name}: tools/call answered {status} {raw[:500]!r}: "
                         f"{'; '.join(problems)}")
    return raw.decode()


def ensure_fastmcp_venv() -> str:
    python = FASTMCP_VENV / "bin" / "python"
    probe = [str(python), "-c", "import fastmcp, uvicorn, uvloop, httptools"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"creating {FASTMCP_VENV.relative_to(ROOT)} (pip install {' '.join(FASTMCP_PACKAGES)})"
          " ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(FASTMCP_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *FASTMCP_PACKAGES],
                   check=True)
    return str(python)


def venv_versions(python: str, *modules: str) -> str:
    code = ("from importlib.metadata import version\n"
            f"print(', '.join(f'{{m}} {{version(m)}}' for m in {modules!r}))")
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


# load


@dataclass
class WrkResult:
    rps: float
    requests: int
    non_2xx: int
    socket_errors: int
    bad: int
    first_bad: str
    latency: str


def run_wrk(wrk: str, lua: str, url: str, duration: float, connections: int,
            threads: int) -> WrkResult:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "-s", lua, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"BAD_RESPONSES (\d+)", out)
    if proc.returncode or rps is None or total is None or bad is None:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}; cannot read its "
                           f"output:\n{out}{proc.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    first_bad = re.search(r"FIRST_BAD (.*)", out)
    return WrkResult(
        rps=float(rps.group(1)), requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        bad=int(bad.group(1)), first_bad=first_bad.group(1) if first_bad else "",
        latency=latency.group(1) if latency else "?")


def load(args: argparse.Namespace, target: Target, connections: int, duration: float,
         what: str) -> WrkResult:
    r = run_wrk(args.wrk, target.lua, target.srv.url + PATH, duration, connections,
                min(args.threads, connections))
    if r.non_2xx or r.socket_errors or r.bad or r.requests == 0:
        raise SystemExit(f"{target.name} -c{connections} ({what}): {r.requests} requests, "
                         f"{r.non_2xx} non-2xx, {r.socket_errors} socket errors, {r.bad} bad "
                         f"responses (first: {r.first_bad!r})\n{target.srv.output()}")
    return r


def selected(only: str | None, server: str, mode: str) -> bool:
    if not only:
        return True
    for item in only.split(","):
        name, _, wanted = item.strip().partition(":")
        if name == server and wanted in ("", mode):
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5,
                        help="whole seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured runs per server/mode/concurrency (3)")
    parser.add_argument("--only", metavar="LIST",
                        help="comma-separated servers (fastagentic, official, fastmcp, bare), "
                             "each optionally :MODE (2025-11-25 or 2026-07-28), e.g. "
                             "'fastagentic,official:2026-07-28' (default: all)")
    parser.add_argument("--concurrency", default="1,32",
                        help="comma-separated wrk connection counts (1,32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="warm-up seconds per server/mode at the highest concurrency (2; 0: "
                             "none)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--profile", metavar="FILE.prof",
                        help="run the fastagentic server under cProfile and write its stats "
                             "here (slows it down: for hotspots, not for the ratios)")
    args = parser.parse_args()
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0:
        raise SystemExit("--duration and --rounds must be >= 1, --warmup >= 0 (wrk takes whole "
                         "seconds)")
    if not os.path.exists(args.wrk):
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    servers_known = ("fastagentic", "official", "fastmcp", "bare")
    for item in (args.only or "").split(","):
        name, _, mode = item.strip().partition(":")
        if item.strip() and (name not in servers_known or mode not in ("", *MODES)):
            raise SystemExit(f"--only: unknown server or mode {item!r}")

    header("MCP tools/call: fastagentic vs official SDK vs fastmcp vs bare Starlette")
    want = {s: [m for m in MODES if selected(args.only, s, m)] for s in servers_known}
    want = {s: modes for s, modes in want.items() if modes}
    print(versions("fastagentic", "mcp", "starlette", "pydantic", "uvicorn", "uvloop",
                   "httptools"))
    fastmcp_python = None
    if "fastmcp" in want:
        fastmcp_python = ensure_fastmcp_venv()
        print(f"fastmcp venv ({FASTMCP_VENV.relative_to(ROOT)}): "
              + venv_versions(fastmcp_python, "fastmcp", "mcp", "starlette", "pydantic",
                              "uvicorn"))
    print(f"servers: python -m uvicorn ... {' '.join(UVICORN_SETTINGS)}")
    print("  fastagentic: bench/apps/mcp_fastagentic.py (App, @tool def add), "
          "FASTAGENTIC_DURABLE_STORE=memory://")
    print("  official:    bench/apps/mcp_official.py (MCPServer, "
          "streamable_http_app(json_response=True), stateful)")
    print("  fastmcp:     bench/apps/mcp_fastmcp.py (FastMCP, "
          "http_app(json_response=True), stateful; own venv)")
    print("  bare:        bench/apps/mcp_bare.py (Starlette route: parse JSON-RPC, add in "
          "the thread pool, same result)")
    print(f"tool: def add(a: int, b: int) -> int (sync, every server); arguments "
          f"{json.dumps(ARGUMENTS)}")

    factories = {
        "fastagentic": lambda: Server("fastagentic", "mcp_fastagentic:app", APPS,
                                      env={"FASTAGENTIC_DURABLE_STORE": "memory://"},
                                      profile=args.profile),
        "official": lambda: Server("official", "mcp_official:app", APPS),
        "fastmcp": lambda: VenvServer("fastmcp", "mcp_fastmcp:app", APPS,
                                      python=fastmcp_python or PYTHON),
        "bare": lambda: Server("bare", "mcp_bare:app", APPS),
    }
    servers = {name: factories[name]() for name in want}
    targets = [Target(name, mode, servers[name]) for name in want for mode in want[name]]
    for t in targets:
        t.results = {c: [] for c in concurrency}

    started: list[Server] = []
    try:
        for srv in servers.values():
            started.append(srv.start())
        with tempfile.TemporaryDirectory(prefix="fa-bench-mcp-") as tmp:
            msg_id = 1
            for t in targets:
                if t.mode == LEGACY and t.server != "bare":
                    t.session_id = initialize(t)
                t.lua = os.path.join(tmp, f"{t.server}-{t.mode}.lua")
                Path(t.lua).write_text(make_lua(t.mode, t.session_id))
                body = check(t, msg_id)
                msg_id += 1
                session = f" (session {t.session_id[:8]}…)" if t.session_id else ""
                print(f"  check {t.name:<22} tools/call add {json.dumps(ARGUMENTS)} -> 200 "
                      f"{body}{session}")
            top = max(concurrency)
            print(f"load: wrk -t{args.threads} -c<N> -d{args.duration:g}s -s tools_call.lua "
                  f"(separate process), N in {concurrency}; warm-up {args.warmup:g}s per "
                  f"server/mode at -c{top}, then {args.rounds} rounds, interleaved (order "
                  "rotating)")
            if args.warmup > 0:
                for t in targets:
                    load(args, t, top, args.warmup, "warm-up")
            for i in range(args.rounds):
                for c in concurrency:
                    shift = (i * 3 + concurrency.index(c)) % len(targets)
                    order = targets[shift:] + targets[:shift]
                    if i % 2:
                        order.reverse()
                    line = []
                    for t in order:
                        r = load(args, t, c, args.duration, f"round {i + 1}")
                        t.results[c].append(r.rps)
                        line.append(f"{t.name} {fmt_int(r.rps)} ({r.latency})")
                    print(f"  round {i + 1} -c{c:<3} " + " | ".join(line), flush=True)
            for t in targets:
                check(t, msg_id)
                msg_id += 1
            print("  checked again after the load: every server/mode still answers correctly")
    finally:
        for srv in started:
            srv.stop()

    print()
    print("median requests/s")
    width = max(len(t.name) for t in targets)
    print(f"  {'server mode':<{width}}  " + "  ".join(f"{'-c' + str(c):>9}" for c in concurrency))
    for t in targets:
        print(f"  {t.name:<{width}}  "
              + "  ".join(f"{fmt_int(median(t.results[c])):>9}" for c in concurrency))

    med = {(t.server, t.mode): {c: median(t.results[c]) for c in concurrency} for t in targets}

    def ratio(a: str, b: str, mode: str, c: int) -> float | None:
        if (a, mode) not in med or (b, mode) not in med:
            return None
        return med[(a, mode)][c] / med[(b, mode)][c]

    print()
    print("ratios (medians)")
    top = max(concurrency)
    for mode in MODES:
        for other, goal in (("official", GOAL_VS_OFFICIAL), ("bare", GOAL_VS_BARE),
                            ("fastmcp", None)):
            for c in concurrency:
                value = ratio("fastagentic", other, mode, c)
                if value is None:
                    continue
                if goal is not None and c == top:
                    note = f"(goal >= {goal:g}: {verdict(value >= goal)})"
                else:
                    note = "(for information)"
                print(f"  {mode}  -c{c:<3} fastagentic / {other:<9} {value:6.3f}   {note}")
    if args.profile:
        print(f"(fastagentic ran under cProfile: stats in {args.profile}; the ratios are not "
              "meaningful in this mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
