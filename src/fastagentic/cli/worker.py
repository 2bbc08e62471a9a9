"""``fastagentic worker``: a process that executes runs and serves no API.

It claims runs from the store (fairly across tenants, under leases with attempt fencing),
heartbeats their leases and takes over runs whose lease expired.  SIGTERM or SIGINT drains:
no new claims, in-flight runs get ``--drain`` seconds to finish, the rest are flushed and
released for another worker at once (never abandoned).  ``--health-port`` serves
``/health/live`` and ``/health/ready`` for an orchestrator's probes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..app import freeze_after_startup

logger = logging.getLogger("fastagentic.worker")

T = TypeVar("T")


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's ``main`` on uvloop when it is installed (it is with
    ``uvicorn[standard]``, which serves the API on it too), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - depends on the platform
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def run_worker(app: Any, *, health_port: int | None = None,
                     health_host: str = "0.0.0.0") -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app.running():
        freeze_after_startup(app.settings)
        engine = app.engine
        logger.info("worker %s: up to %d runs at once on %s", engine.owner,
                    engine.concurrency, app.store.url.split("@")[-1])
        health = await _serve_health(app, health_host, health_port) \
            if health_port is not None else None
        try:
            await stop.wait()
            logger.info("worker %s: draining %d runs", engine.owner, engine.in_flight)
        finally:
            if health is not None:
                server, task = health
                server.should_exit = True
                await task
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


async def _serve_health(app: Any, host: str, port: int) -> tuple[Any, asyncio.Task[None]]:
    """A small HTTP server for the probes: live while the process runs, ready while the store
    answers."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def live(request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(request: Any) -> JSONResponse:
        try:
            async with asyncio.timeout(5):
                await app.store.ping()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "executing": app.engine.in_flight})

    probes = Starlette(routes=[Route("/health/live", live), Route("/health/ready", ready)])
    server = uvicorn.Server(uvicorn.Config(probes, host=host, port=port, log_level="warning",
                                           lifespan="off"))
    server.install_signal_handlers = lambda: None  # the worker owns SIGTERM
    task = asyncio.create_task(server.serve(), name="fastagentic-worker-health")
    while not server.started:
        if task.done():
            await task  # it could not start (port taken): surface the error
        await asyncio.sleep(0.01)
    return server, task
