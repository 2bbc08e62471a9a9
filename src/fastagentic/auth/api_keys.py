"""API keys for service accounts, kept hashed in the app's store.

A key looks like ``fak_<id>_<secret>``: the id finds its record (namespace ``auth.api_keys``),
which holds a SHA-256 of the secret (never the secret), the user, tenant, scopes and roles the
key acts as, and its expiry and revocation.  Clients send it as ``Authorization: Bearer <key>``
or ``X-API-Key: <key>``; it works on every transport, whatever authenticator is configured.
Create, list and revoke keys with ``app.api_keys`` or ``fastagentic keys create|list|revoke``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.context import UserContext
from ..exceptions import ConfigurationError, NotFound
from ..stores.base import Store
from .base import Unauthenticated

NAMESPACE = "auth.api_keys"
PREFIX = "fak_"
_KEY_RE = re.compile(r"^fak_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})$")


def _digest(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def looks_like_key(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


@dataclass(slots=True)
class ApiKeyInfo:
    """A key's record, as listed (the secret is not kept anywhere)."""

    id: str
    user: str
    tenant: str | None = None
    scopes: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    name: str | None = None
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None
                                             or self.expires_at > time.time())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ApiKeys:
    """``app.api_keys``: create, list, revoke and check API keys (the store must be open)."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    async def create(self, user: str, *, tenant: str | None = None,
                     scopes: Sequence[str] = (), roles: Sequence[str] = (),
                     name: str | None = None, expires_in: float | None = None
                     ) -> tuple[str, ApiKeyInfo]:
        """A new key for ``user``: returns the key (shown once: keep it) and its record."""
        if not user:
            raise ConfigurationError("an API key needs the user it acts as")
        if expires_in is not None and expires_in <= 0:
            raise ConfigurationError("expires_in must be a positive number of seconds")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        info = ApiKeyInfo(id=key_id, user=user, tenant=tenant, scopes=sorted(set(scopes)),
                          roles=sorted(set(roles)), name=name)
        if expires_in is not None:
            info.expires_at = info.created_at + expires_in
        record = {**info.to_dict(), "hash": _digest(key_id, secret)}
        if not await self._store().kv_put_new(NAMESPACE, key_id, record):
            raise ConfigurationError("API key id collision; try again")
        return f"{PREFIX}{key_id}_{secret}", info

    async def list(self, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
        """Every key's record (oldest first), revoked ones only when asked."""
        out: list[ApiKeyInfo] = []
        after: str | None = None
        while True:
            page = await self._store().kv_list(NAMESPACE, limit=500, after=after)
            for _, record in page:
                info = _info(record)
                if include_revoked or info.revoked_at is None:
                    out.append(info)
            if len(page) < 500:
                break
            after = page[-1][0]
        return sorted(out, key=lambda i: i.created_at)

    async def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key by id (or by the key itself): refused from the next request on."""
        match = _KEY_RE.match(key_id)
        if match is not None:
            key_id = match.group(1)
        store = self._store()
        record = await store.kv_get(NAMESPACE, key_id)
        if record is None:
            raise NotFound(f"no API key {key_id!r}")
        if record.get("revoked_at") is None:
            record["revoked_at"] = time.time()
            await store.kv_put(NAMESPACE, key_id, record)
        return _info(record)

    async def verify(self, key: str) -> UserContext:
        """The caller a key acts as; Unauthenticated when it is unknown, wrong, expired or
        revoked (the secret is compared in constant time)."""
        match = _KEY_RE.match(key)
        if match is None:
            raise Unauthenticated("malformed API key")
        key_id, secret = match.groups()
        record = await self._store().kv_get(NAMESPACE, key_id)
        expected = record.get("hash", "") if isinstance(record, dict) else ""
        if not hmac.compare_digest(expected.encode(), _digest(key_id, secret).encode()) \
                or not isinstance(record, dict):
            raise Unauthenticated("unknown API key")
        info = _info(record)
        if not info.active:
            raise Unauthenticated("the API key is revoked or expired")
        return UserContext(user=info.user, tenant=info.tenant, scopes=frozenset(info.scopes),
                           roles=frozenset(info.roles),
                           claims={"sub": info.user, "api_key_id": info.id,
                                   "tenant_id": info.tenant, "scope": " ".join(info.scopes)})


def _info(record: dict[str, Any]) -> ApiKeyInfo:
    return ApiKeyInfo(**{k: v for k, v in record.items() if k != "hash"})
