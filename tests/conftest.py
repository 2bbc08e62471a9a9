"""Shared fixtures: in-process clients, a live uvicorn server, the store backends."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart" / "app.py"
REQUIRE_SERVICES = os.environ.get("FASTAGENTIC_REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """An App served by uvicorn on a real socket, in a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def live_server() -> Iterator[Any]:
    """``with live_server(app) as server: server.url``"""
    return LiveServer  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def running_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def load_app_file(path: Path, store: str) -> Any:
    """A fresh instance of the module at ``path`` (its own App) on ``store``."""
    import importlib.util

    name = f"{path.stem}_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.app.settings.durable_store = store
    return module.app


def load_quickstart(store: str) -> Any:
    """A fresh instance of the quickstart module (its own App) on ``store``."""
    return load_app_file(QUICKSTART, store)


@pytest.fixture
def quickstart(tmp_path: Path) -> Any:
    """The quickstart App on a fresh SQLite file."""
    return load_quickstart(f"sqlite:///{tmp_path / 'runs.db'}")


PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT = "127.0.0.1", 5432, "127.0.0.1", 6379


def require_service(name: str, host: str, port: int) -> None:
    """Skip when the service is not running (fail when ``FASTAGENTIC_REQUIRE_SERVICES=1``)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"{name} at {host}:{port} is required: {exc}")
        pytest.skip(f"{name} is not running on {host}:{port}")


def _drop_postgres_schema(schema: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres",
                                     database="test")
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    # On a thread of its own: the caller may be inside a running event loop (async fixtures).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drop()).result(timeout=30)


def _drop_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    finally:
        client.close()


@contextlib.contextmanager
def isolated_store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of backend ``kind``, removed afterwards: its own SQLite file,
    PostgreSQL schema or Redis key prefix."""
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    elif kind == "postgres":
        require_service("PostgreSQL", PG_HOST, PG_PORT)
        schema = f"fa_test_{os.urandom(6).hex()}"
        try:
            yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test?schema={schema}"
        finally:
            _drop_postgres_schema(schema)
    elif kind == "redis":
        require_service("Redis", REDIS_HOST, REDIS_PORT)
        prefix = f"fa_test_{os.urandom(6).hex()}"
        try:
            yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0?prefix={prefix}"
        finally:
            _drop_redis_prefix(prefix)
    else:
        raise ValueError(kind)


STORE_KINDS = ["memory", "sqlite", "postgres", "redis"]


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store backend, each test on a fresh, isolated store."""
    with isolated_store_url(request.param, tmp_path) as url:
        yield url


class ServerProcess:
    """``fastagentic run`` in a real subprocess (for crash and restart tests)."""

    def __init__(self, app_path: Path, store: str, env: dict[str, str] | None = None,
                 port: int | None = None, args: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_path = app_path
        self.store = store
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "fastagentic", "run", str(self.app_path), "--port",
                str(self.port), "--store", self.store, "--log-level", "warning", *self.args]

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"server exited early:\n{out}")
            try:
                if httpx.get(self.url + "/health/live", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start in 30s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WorkerProcess(ServerProcess):
    """``fastagentic worker`` in a real subprocess; ready when its health port answers."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "fastagentic", "worker", str(self.app_path), "--store",
                self.store, "--health-port", str(self.port), "--log-level", "warning",
                *self.args]


def _processes(kind: type[ServerProcess]) -> Iterator[Any]:
    """``make(...)`` starts nothing itself: it builds ``kind`` processes, all killed after."""
    started: list[ServerProcess] = []

    def make(*args: Any, **kwargs: Any) -> ServerProcess:
        process = kind(*args, **kwargs)
        started.append(process)
        return process

    yield make
    for process in started:
        process.kill()


@pytest.fixture
def worker_process() -> Iterator[Any]:
    yield from _processes(WorkerProcess)


@pytest.fixture
def server_process() -> Iterator[Any]:
    yield from _processes(ServerProcess)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """A whole SSE body as frames: ``{"id", "event", "data"}`` with ``data`` decoded."""
    frames = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            frames.append({"id": fields.get("id"), "event": fields.get("event"),
                           "data": json.loads(fields["data"])})
    return frames


def poll(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Call ``predicate`` until it returns a truthy value (blocking; for tests that drive
    real processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout}s")
        time.sleep(interval)


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll an async or sync predicate until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def run_reaches(client: httpx.AsyncClient, run_id: str, *statuses: str,
                      timeout: float = 10.0) -> dict[str, Any]:
    """Wait until ``GET /runs/{run_id}`` shows one of ``statuses`` (default: completed)."""
    wanted = statuses or ("completed",)

    async def check() -> dict[str, Any] | None:
        run = (await client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in wanted else None

    return await wait_for(check, timeout=timeout)


def a2a_send(text: str, task_id: str | None = None) -> dict[str, Any]:
    """An A2A 1.0 JSON-RPC ``SendMessage`` body with one text part (``task_id``: answer the
    task that waits for input)."""
    message: dict[str, Any] = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": text}]}
    if task_id:
        message["taskId"] = task_id
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}


LIVE_MCP = {"Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25"}


def live_mcp_session(base: str) -> dict[str, str]:
    """An initialized MCP session on the live server at ``base``: the headers to send."""
    init = httpx.post(f"{base}/mcp", headers=LIVE_MCP, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}})
    session = {**LIVE_MCP, "Mcp-Session-Id": init.headers["mcp-session-id"]}
    httpx.post(f"{base}/mcp", headers=session,
               json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


def live_mcp_call(base: str, name: str, arguments: dict[str, Any],
                  session: dict[str, str] | None = None) -> dict[str, Any]:
    """``tools/call`` on the live server (in a new session unless given): the JSON-RPC
    response, whether it came as JSON or as an event stream."""
    call = httpx.post(f"{base}/mcp", headers=session or live_mcp_session(base), timeout=30,
                      json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                            "params": {"name": name, "arguments": arguments}})
    body = call.text
    if call.headers["content-type"].startswith("text/event-stream"):
        body = [line[5:] for line in body.splitlines()
                if line.startswith("data:") and '"id":2' in line.replace(" ", "")][-1]
    return json.loads(body)


def live_a2a_send(base: str, text: str) -> dict[str, Any]:
    """An A2A 1.0 ``SendMessage`` with one text part to the live server: the response."""
    return httpx.post(f"{base}/a2a", headers={"A2A-Version": "1.0"}, timeout=30,
                      json=a2a_send(text)).json()


def same_run_on_every_transport(base: str, path: str, mcp_tool: str, message: str
                                ) -> dict[str, list[dict[str, Any]]]:
    """Start one run of the agent endpoint at ``path`` over REST, WebSocket, MCP (its agent
    tool) and A2A on a live server; assert that the four event logs have the same shape (type,
    node, tool, call id, token text) with token, tool_call, tool_result and cost events, and
    that the WebSocket frames are the stored log itself.  Returns the logs by transport."""
    from websockets.sync.client import connect

    def log(run_id: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{base}/runs/{run_id}/events", headers={"Accept": "application/json"})
        return r.json()["events"]

    def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["type"], e.get("node"), e.get("tool"), e.get("call_id"), e.get("content"))
                for e in events if e["type"] not in ("run_started", "status")]

    rest = httpx.post(f"{base}{path}", json={"message": message}, timeout=30).json()
    runs = {"rest": rest["run_id"]}

    with connect(base.replace("http", "ws", 1) + f"{path}/ws") as ws:
        ws.send(json.dumps({"type": "start", "input": {"message": message}}))
        ack = json.loads(ws.recv(timeout=30))
        frames = []
        while True:
            frame = json.loads(ws.recv(timeout=30))
            frames.append(frame)
            if frame["type"] == "done":
                break
    runs["websocket"] = ack["run_id"]

    mcp_headers = {"Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-11-25"}
    init = httpx.post(f"{base}/mcp", headers=mcp_headers, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}})
    session = {**mcp_headers, "Mcp-Session-Id": init.headers["mcp-session-id"]}
    httpx.post(f"{base}/mcp", headers=session,
               json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    call = httpx.post(f"{base}/mcp", headers=session, timeout=30, json={
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": mcp_tool, "arguments": {"message": message}}})
    body = call.text
    if call.headers["content-type"].startswith("text/event-stream"):
        body = [line[5:] for line in body.splitlines()
                if line.startswith("data:") and '"id":2' in line.replace(" ", "")][-1]
    result = json.loads(body)["result"]
    assert result["isError"] is False, result
    runs["mcp"] = result["_meta"]["io.fastagentic/run_id"]

    a2a = httpx.post(f"{base}/a2a", headers={"A2A-Version": "1.0"}, timeout=30, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
            "messageId": "m1", "role": "ROLE_USER", "parts": [{"text": message}]}}})
    runs["a2a"] = a2a.json()["result"]["task"]["id"]

    logs = {name: log(run_id) for name, run_id in runs.items()}
    expected = shape(logs["rest"])
    assert {"token", "tool_call", "tool_result", "cost"} <= {e[0] for e in expected}, expected
    for name, events in logs.items():
        assert shape(events) == expected, name
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), name
    assert frames == logs["websocket"][:len(frames)] and len(frames) == len(logs["websocket"])
    return logs
