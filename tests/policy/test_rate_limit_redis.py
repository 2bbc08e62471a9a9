"""Rate limits in Redis are shared by every replica: two real server processes on one Redis
admit exactly N calls of an N-per-minute limit between them, under concurrent load."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_for

from fastagentic import App
from policy.helpers import redis_url

APP = Path(__file__).with_name("limited_app.py")
N = 10


async def fire(servers: list[Any], calls: int, workers: int = 16) -> list[int]:
    """``calls`` POST /tools/add from ``workers`` concurrent clients per server (half the
    calls to each): the statuses."""
    statuses: list[int] = []

    async def worker(client: httpx.AsyncClient, count: int) -> None:
        for _ in range(count):
            response = await client.post("/tools/add", json={"a": 1, "b": 2})
            if response.status_code == 429:
                assert 1 <= int(response.headers["Retry-After"]) <= 60
                assert response.json()["code"] == "rate_limited"
            statuses.append(response.status_code)

    clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in servers]
    try:
        share = calls // (len(clients) * workers)
        assert share * len(clients) * workers == calls
        await asyncio.gather(*(worker(client, share) for client in clients
                               for _ in range(workers)))
    finally:
        for client in clients:
            await client.aclose()
    return statuses


def start_two(server_process: Any, tmp_path: Path, limit: str) -> list[Any]:
    env = {"RL_LIMIT": limit, "RL_NAME": f"test-{uuid.uuid4().hex}",
           "FASTAGENTIC_RATE_LIMIT_STORE": redis_url()}
    return [server_process(APP, f"sqlite:///{tmp_path / f'runs{i}.db'}", env=env).start()
            for i in range(2)]


async def test_two_processes_share_one_limit(server_process: Any, tmp_path: Path) -> None:
    servers = start_two(server_process, tmp_path, f"{N}/minute")
    # 3N calls at once, half to each server.  The Redis window starts at the first hit and
    # lasts a minute, far longer than this: the count is exact.
    statuses = await fire(servers, 3 * N, workers=3 * N // 2)
    assert statuses.count(200) == N, statuses
    assert statuses.count(429) == 2 * N, statuses


async def test_permits_taken_in_blocks_never_exceed_the_limit(server_process: Any,
                                                              tmp_path: Path) -> None:
    # A limit of 400 lets a busy process take up to 4 permits per round trip.  A block
    # is counted in Redis before it is used, so together they admit 400 at most (the
    # guarantee).  Permits of a block left unused for 0.1 s are dropped, so on a loaded
    # machine somewhat fewer get through (379 seen once): the lower bound only catches a
    # process that wastes blocks wholesale.
    servers = start_two(server_process, tmp_path, "400/minute")
    statuses = await fire(servers, 1024)
    assert 340 <= statuses.count(200) <= 400, statuses.count(200)
    assert statuses.count(200) + statuses.count(429) == 1024


async def test_the_redis_connections_close_with_the_app() -> None:
    import redis.asyncio as aioredis

    name = f"fastagentic-test-{uuid.uuid4().hex[:12]}"
    app = App(durable_store="memory://", rate_limit_store=f"{redis_url()}?client_name={name}")

    @app.tool
    def add(a: int, b: int) -> int:
        return a + b

    app.rate_limit("100/minute", per="global", name=name)
    observer = aioredis.Redis.from_url(redis_url())

    async def connections() -> int:
        return sum(1 for c in await observer.client_list() if c.get("name") == name)

    try:
        for _ in range(2):  # the app runs again after a shutdown, on new connections
            async with app.running():
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    response = await http.post("/tools/add", json={"a": 1, "b": 1})
                assert response.status_code == 200
                assert await connections() >= 1
            await wait_for(lambda: _none_left(connections), timeout=5)
    finally:
        await observer.aclose()


async def _none_left(connections: Any) -> bool:
    return await connections() == 0


class SlowLink:
    """A TCP proxy to the test Redis that delays every answer by ``delay`` seconds: a Redis
    across a network."""

    def __init__(self, target: str, delay: float) -> None:
        host_port = target.split("://", 1)[1].split("/", 1)[0]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.delay = delay
        self.server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        for pump in (self._pump(reader, upstream_writer, 0.0),
                     self._pump(upstream_reader, writer, self.delay)):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_a_busy_key_takes_its_next_block_before_this_one_runs_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Every Redis answer takes 50 ms, and a block lasts 0.5 s here.  A busy key's calls take
    # their permits from blocks held in the process; the next block is counted while a
    # quarter of the current one is left, so once the block size has found the key's pace no
    # call waits for Redis.  Taken only when a block ran out, every block boundary would hold
    # up all 8 callers at once (3 to 13 such stalls in these 2 s, seen here).  A stall of the
    # machine's own shows up the same way, so up to 2 are let pass.
    import limits
    from limits.aio import strategies

    from fastagentic.policy import permits

    monkeypatch.setattr(permits, "BLOCK_TTL", 0.5)
    delay, name = 0.05, f"ahead-{uuid.uuid4().hex[:12]}"
    async with SlowLink(redis_url(), delay) as url:
        app = App(durable_store="memory://", rate_limit_store=url)

        @app.tool
        def add(a: int, b: int) -> int:
            return a + b

        app.rate_limit("6000000/minute", per="global", name=name)  # blocks of up to 60,000
        waited: list[float] = []  # when calls that took longer than a Redis answer ended
        admitted = 0
        async with app.running():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                started = time.monotonic()

                async def caller() -> None:
                    nonlocal admitted
                    while (now := time.monotonic()) < started + 3.5:
                        response = await http.post("/tools/add", json={"a": 1, "b": 2})
                        assert response.status_code == 200, response.text
                        admitted += 1
                        took = time.monotonic() - now
                        if now > started + 1.5 and took >= delay:  # after the warm-up
                            waited.append(now + took)

                await asyncio.gather(*(caller() for _ in range(8)))
        ends = sorted(waited)
        stalls = [t for i, t in enumerate(ends) if i == 0 or t - ends[i - 1] > 0.02]
        assert len(stalls) <= 2, f"{len(stalls)} stalls ({len(waited)} calls waited)"

    # Every admitted call was counted in Redis before it was used.
    storage, close, _ = permits.storage_for(redis_url())
    try:
        window = limits.parse("6000000/minute")
        stats = await strategies.SlidingWindowCounterRateLimiter(storage).get_window_stats(
            window, name)
        assert window.amount - stats.remaining >= admitted
    finally:
        assert close is not None
        await close()
