"""Pick a store backend from its URL."""

from __future__ import annotations

from ..exceptions import ConfigurationError
from .base import Store

DEFAULT_URL = "sqlite:///.fastagentic/fastagentic.db"


def store_from_url(url: str | None) -> Store:
    url = url or DEFAULT_URL
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme in ("redis", "rediss", "postgresql", "postgres", "s3"):
        raise ConfigurationError(
            f"the {scheme}:// store is not available in this version of fastagentic; "
            "use sqlite:///path.db (the default) or memory://"
        )
    raise ConfigurationError(
        f"unknown store URL {url!r}: use sqlite:///path.db (the default) or memory://"
    )
