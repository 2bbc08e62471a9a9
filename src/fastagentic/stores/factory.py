"""Pick a store backend from its URL."""

from __future__ import annotations

from ..exceptions import ConfigurationError
from .base import Store

DEFAULT_URL = "sqlite:///.fastagentic/fastagentic.db"
SUPPORTED = "sqlite:///path.db (the default), memory://, postgresql://... or redis://..."


def store_from_url(url: str | None) -> Store:
    url = url or DEFAULT_URL
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        _needs("asyncpg", "postgres")
        from .postgres import PostgresStore

        return PostgresStore(url)
    if scheme in ("redis", "rediss"):
        _needs("redis", "redis")
        from .redis import RedisStore

        return RedisStore(url)
    if scheme == "s3":
        raise ConfigurationError(
            "s3:// keeps checkpoints and archives, not runs: set it as checkpoint_store= (or "
            f"archive_store=) and keep the runs in {SUPPORTED}"
        )
    raise ConfigurationError(f"unknown store URL {url!r}: use {SUPPORTED}")


def _needs(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigurationError(
            f"this store needs the {module} package: pip install 'fastagentic[{extra}]'")
