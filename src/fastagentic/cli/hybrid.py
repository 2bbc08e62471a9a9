"""``fastagentic run --stdio``: HTTP and MCP-over-stdio in one process (the seeds' hybrid).

stdout is the stdio protocol channel, so every log (uvicorn's included) goes to stderr.  End of
input on stdin shuts the whole process down, as a client that spawned it expects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

STDERR_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                            "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "fastagentic": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def run_hybrid(app: Any, *, host: str, port: int, log_level: str) -> None:
    import uvicorn

    from ..protocols.mcp.stdio import serve_stdio

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            log_config=STDERR_LOGGING, timeout_graceful_shutdown=15)
    server = uvicorn.Server(config)

    async def main() -> None:
        http = asyncio.create_task(server.serve())
        while not server.started:
            if http.done():
                await http  # startup failed: surface its error
                return
            await asyncio.sleep(0.02)
        try:
            await serve_stdio(app, started=True)
        finally:
            server.should_exit = True
            await http

    logging.getLogger("fastagentic").debug("hybrid mode on %s:%d and stdio", host, port)
    asyncio.run(main())
