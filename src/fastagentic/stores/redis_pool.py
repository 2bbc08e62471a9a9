"""The redis-py connection pool that the Redis store and the Redis rate limits open.

redis-py bounds a socket write with ``asyncio.wait_for`` when ``socket_timeout`` is set (its
default is 5 s).  On Python 3.11, ``wait_for`` swallows a cancellation that arrives while the
write it wraps is finishing: the cancelled task goes on as if nothing happened.  A cancelled
run would then keep running, a shut-down worker keep a request alive.  So the pool's
connections have no socket timeout; the caller bounds each command with ``asyncio.timeout``
(which keeps cancellations) for as long as the URL's ``socket_timeout`` says, default
:data:`COMMAND_TIMEOUT`.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ConfigurationError, MissingDependency

try:
    import redis.asyncio as aioredis
except ImportError:
    raise MissingDependency("redis", "redis") from None

#: Seconds a command may take before it fails (``?socket_timeout=`` in the URL changes it).
COMMAND_TIMEOUT = 10.0


def open_pool(url: str, *, connections: int, wait: float, what: str,
              client_name: str | None = None) -> tuple[Any, float]:
    """``(pool, command timeout)`` for ``url``: at most ``connections`` connections, a caller
    waits ``wait`` seconds for a free one.  ``what`` names the setting in errors."""
    options: dict[str, Any] = {"max_connections": connections, "timeout": wait}
    if client_name is not None:
        options["client_name"] = client_name
    try:
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    except ValueError as exc:
        raise ConfigurationError(f"{what}={url!r}: {exc}") from None
    kwargs = pool.connection_kwargs
    timeout = kwargs.get("socket_timeout") or COMMAND_TIMEOUT
    kwargs["socket_timeout"] = None
    kwargs["socket_connect_timeout"] = kwargs.get("socket_connect_timeout") or timeout
    return pool, float(timeout)
