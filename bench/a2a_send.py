"""A2A ``SendMessage`` (JSON-RPC, 1.0, non-streaming): fastagentic vs the a2a-sdk server.

The same echo agent on both: every message becomes a task whose artifact is one text part with
the user's text, COMPLETED, answered in the ``SendMessage`` response (``result.task``).

* fastagentic: ``bench/apps/a2a_echo.py`` (``App`` + ``@agent_endpoint``), JSON-RPC at ``/a2a``,
  on a SQLite store in a temporary directory (``FASTAGENTIC_DURABLE_STORE=sqlite:///...``);
* sdk: ``bench/apps/a2a_sdk_echo.py``, a2a-sdk 1.3.0 (``DefaultRequestHandler``,
  ``InMemoryTaskStore``, an ``AgentExecutor``), JSON-RPC at ``/``.

Both run side by side (uvicorn, 1 worker, uvloop, httptools, access log off, log level
warning).  ``wrk`` (a separate process) POSTs ``SendMessage`` with ``A2A-Version: 1.0`` through
a Lua script that gives every request its own JSON-RPC id and ``messageId`` and checks every
response: status 200, a ``task`` in state ``TASK_STATE_COMPLETED`` and the echoed text in its
artifacts.  Each server is checked from Python first and again at the end (the whole JSON).
After a warm-up, ``--rounds`` rounds of ``wrk -d<duration>`` per server and concurrency
(``-c1`` and ``-c32``), interleaved, the order alternating.  Reported: median messages/s and
the ratio fastagentic / sdk at each concurrency (goal >= 5); any error aborts the run.

    .venv/bin/python bench/a2a_send.py [--duration 5] [--rounds 3] [--concurrency 1,32]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    APPS,
    UVICORN_SETTINGS,
    Server,
    fmt_int,
    header,
    median,
    verdict,
    versions,
)
from mcp_tools_call import LUA_TALLY, WrkResult, lua_string, run_wrk  # noqa: E402

GOAL = 5.0
TEXT = "hello from the A2A bench"
HEADERS = {"Content-Type": "application/json", "A2A-Version": "1.0"}

# wrk's Lua: one SendMessage per request with its own JSON-RPC id and messageId (run tag, thread
# number, counter), and a check of every response.  The echoed text is looked for in the
# artifacts, not in the history (which holds the user's message, the same text).
LUA = """\
local headers = {HEADERS}
local run_tag = {RUN_TAG}
local expected_part = {EXPECTED_PART}
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
    wrk.method = "POST"
    for name, value in pairs(headers) do wrk.headers[name] = value end
end

function request()
    counter = counter + 1
    return wrk.format(nil, nil, nil,
        '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"SendMessage","params":{"message":'
        .. '{"messageId":"' .. run_tag .. '-' .. thread_number .. '-' .. counter
        .. '","role":"ROLE_USER","parts":[{"text":' .. {TEXT_JSON} .. '}]}}}')
end

local function good(status, body)
    if status ~= 200 or not string.find(body, '"task":{', 1, true)
            or not string.find(body, '"state":"TASK_STATE_COMPLETED"', 1, true) then
        return false
    end
    local artifacts = string.find(body, '"artifacts":[', 1, true)
    if not artifacts then return false end
    local history = string.find(body, '"history":', artifacts, true)
    local segment = string.sub(body, artifacts, history or -1)
    return string.find(segment, expected_part, 1, true) ~= nil
end

function response(status, hdrs, body)
    if not good(status, body) then
        bad = bad + 1
        if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 400) end
    end
end

""" + LUA_TALLY


def make_lua(run_tag: str) -> str:
    table = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}"
                            for k, v in HEADERS.items()) + "}"
    return (LUA.replace("{HEADERS}", table)
            .replace("{RUN_TAG}", lua_string(run_tag))
            .replace("{EXPECTED_PART}", lua_string('{"text":' + json.dumps(TEXT) + "}"))
            .replace("{TEXT_JSON}", lua_string(json.dumps(TEXT))))


def send_body(msg_id: int, message_id: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "SendMessage",
            "params": {"message": {"messageId": message_id, "role": "ROLE_USER",
                                   "parts": [{"text": TEXT}]}}}


@dataclass
class Target:
    name: str
    srv: Server
    path: str
    results: dict[int, list[float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.srv.url + self.path


def check(target: Target, msg_id: int) -> str:
    """One SendMessage from Python: a completed echo task or SystemExit; returns a summary."""
    parts = urlsplit(target.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, json.dumps(send_body(msg_id, f"check-{msg_id}")),
                     HEADERS)
        resp = conn.getresponse()
        status, ctype, raw = resp.status, resp.getheader("content-type", ""), resp.read()
    finally:
        conn.close()
    problems = []
    if status != 200:
        problems.append(f"status {status}")
    if not ctype.startswith("application/json"):
        problems.append(f"content-type {ctype!r}")
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or data.get("id") != msg_id:
        problems.append("not a JSON-RPC response with the request's id")
        data = {}
    task = (data.get("result") or {}).get("task") or {}
    state = (task.get("status") or {}).get("state")
    texts = [p.get("text") for a in task.get("artifacts") or [] for p in a.get("parts") or []]
    if state != "TASK_STATE_COMPLETED":
        problems.append(f"task state {state!r}")
    if texts != [TEXT]:
        problems.append(f"artifact texts {texts!r}")
    if problems:
        raise SystemExit(f"{target.name}: SendMessage answered {status} {raw[:600]!r}: "
                         f"{'; '.join(problems)}")
    return f"task {task.get('id')} {state}, artifact {texts}"


def load(args: argparse.Namespace, target: Target, connections: int, duration: int,
         what: str, lua_dir: Path, tags: itertools.count) -> WrkResult:
    lua = lua_dir / f"send-{next(tags)}.lua"  # a fresh run tag: messageIds never repeat
    lua.write_text(make_lua(f"{target.name}-{lua.stem}"))
    r = run_wrk(args.wrk, str(lua), target.url, duration, connections,
                min(args.threads, connections))
    if r.non_2xx or r.socket_errors or r.bad or r.requests == 0:
        raise SystemExit(f"{target.name} -c{connections} ({what}): {r.requests} requests, "
                         f"{r.non_2xx} non-2xx, {r.socket_errors} socket errors, {r.bad} bad "
                         f"responses (first: {r.first_bad!r})\n{target.srv.output()}")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured runs per server and concurrency (3)")
    parser.add_argument("--concurrency", default="1,32",
                        help="comma-separated wrk connection counts (1,32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="warm-up seconds per server at the highest concurrency (2; 0: none)")
    parser.add_argument("--only", choices=("fastagentic", "sdk"),
                        help="run one server only (no ratio)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--profile", metavar="FILE.prof",
                        help="run the fastagentic server under cProfile and write its stats "
                             "here (slows it down: for hotspots, not for the ratio)")
    args = parser.parse_args()
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0:
        raise SystemExit("--duration and --rounds must be >= 1, --warmup >= 0 (wrk takes whole "
                         "seconds)")
    if not os.path.exists(args.wrk):
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")
    concurrency = [int(c) for c in args.concurrency.split(",")]

    header("A2A SendMessage (JSON-RPC 1.0, non-streaming): fastagentic vs a2a-sdk")
    print(versions("fastagentic", "a2a-sdk", "starlette", "fastapi", "pydantic", "protobuf",
                   "uvicorn", "uvloop", "httptools"))
    print(f"servers: python -m uvicorn ... {' '.join(UVICORN_SETTINGS)}")
    print("  fastagentic: bench/apps/a2a_echo.py (App, @agent_endpoint echo), POST /a2a, "
          "SQLite store in a temporary directory")
    print("  sdk:         bench/apps/a2a_sdk_echo.py (DefaultRequestHandler, InMemoryTaskStore, "
          "AgentExecutor), POST /")
    print(f"message: SendMessage, A2A-Version: 1.0, one text part {TEXT!r}, a new messageId "
          "per request; answer: result.task COMPLETED with the text as its artifact")

    with tempfile.TemporaryDirectory(prefix="fa-bench-a2a-") as tmp:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        factories = {
            "fastagentic": lambda: Target("fastagentic", Server(
                "fastagentic", "a2a_echo:app", APPS, env={"FASTAGENTIC_DURABLE_STORE": store},
                profile=args.profile), "/a2a"),
            "sdk": lambda: Target("sdk", Server(
                "sdk", "a2a_sdk_echo:app", APPS, health_path="/.well-known/agent-card.json"),
                "/"),
        }
        targets = [make() for name, make in factories.items() if args.only in (None, name)]
        for t in targets:
            t.results = {c: [] for c in concurrency}
        lua_dir = Path(tmp)
        tags = itertools.count(1)
        started: list[Server] = []
        try:
            for t in targets:
                started.append(t.srv.start())
            msg_id = itertools.count(1)
            for t in targets:
                print(f"  check {t.name:<12} {check(t, next(msg_id))}")
            top = max(concurrency)
            print(f"load: wrk -t{args.threads} -c<N> -d{args.duration}s -s send_message.lua "
                  f"(separate process), N in {concurrency}; warm-up {args.warmup}s per server at "
                  f"-c{top}, then {args.rounds} rounds, interleaved (order alternating)")
            if args.warmup > 0:
                for t in targets:
                    load(args, t, top, args.warmup, "warm-up", lua_dir, tags)
            for i in range(args.rounds):
                for c in concurrency:
                    order = targets if (i + concurrency.index(c)) % 2 == 0 else targets[::-1]
                    line = []
                    for t in order:
                        r = load(args, t, c, args.duration, f"round {i + 1}", lua_dir, tags)
                        t.results[c].append(r.rps)
                        line.append(f"{t.name} {fmt_int(r.rps)} msg/s ({r.latency})")
                    print(f"  round {i + 1} -c{c:<3} " + " | ".join(line), flush=True)
            for t in targets:
                check(t, next(msg_id))
            print("  checked again after the load: both servers still answer correctly")
        finally:
            for srv in started:
                srv.stop()

    print()
    print("median messages/s")
    print(f"  {'server':<12}  " + "  ".join(f"{'-c' + str(c):>9}" for c in concurrency))
    med = {t.name: {c: median(t.results[c]) for c in concurrency} for t in targets}
    for name, by_c in med.items():
        print(f"  {name:<12}  " + "  ".join(f"{fmt_int(by_c[c]):>9}" for c in concurrency))
    if len(med) == 2:
        print()
        print("ratios (medians)")
        for c in concurrency:
            value = med["fastagentic"][c] / med["sdk"][c]
            print(f"  -c{c:<3} fastagentic / sdk {value:6.2f}   (goal >= {GOAL:g}: "
                  f"{verdict(value >= GOAL)})")
    if args.profile:
        print(f"(fastagentic ran under cProfile: stats in {args.profile}; the ratio is not "
              "meaningful in this mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
