"""An issuer's signing keys: discovered, fetched without blocking the event loop, cached.

The JWKS URL comes from the configuration or from the issuer's
``/.well-known/openid-configuration`` (``jwks_uri``).  Keys are kept for ``ttl`` seconds; a
token signed with a key id the cache does not hold triggers one refresh (key rotation), at most
once per ``min_refresh_interval`` seconds, so tokens with made-up key ids cannot make us hammer
the issuer.  Concurrent requests share one fetch.  When a refresh fails the keys already held
stay in use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from .base import AuthUnavailable, Unauthenticated

logger = logging.getLogger("fastagentic.auth")

DISCOVERY_PATH = "/.well-known/openid-configuration"


class JwksCache:
    def __init__(self, issuer: str, jwks_url: str | None = None, *, ttl: float = 300.0,
                 min_refresh_interval: float = 30.0, timeout: float = 5.0) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.ttl = ttl
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        #: JWKs by key id (keys without an id under ``""``).
        self.keys: dict[str, dict[str, Any]] = {}
        #: How many times the JWKS was fetched (for operators and tests).
        self.fetches = 0
        self._fetched_at: float | None = None
        self._unknown_refresh_at = float("-inf")
        self._inflight: asyncio.Future[None] | None = None

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The JWK with id ``kid`` (None: the issuer's only key); refreshes when stale or
        when ``kid`` is unknown (rate limited)."""
        now = time.monotonic()
        fresh = self._fetched_at is None or now - self._fetched_at > self.ttl
        if fresh:
            await self._refresh(strict=self._fetched_at is None)
        found = self._find(kid)
        if found is None and not fresh:
            # Rotation: refresh once (requests arriving meanwhile wait for that refresh).
            busy = self._inflight is not None and not self._inflight.done()
            if busy or now - self._unknown_refresh_at >= self.min_refresh_interval:
                if not busy:
                    self._unknown_refresh_at = now
                await self._refresh(strict=False)
                found = self._find(kid)
        if found is None:
            raise Unauthenticated(f"the token is signed with an unknown key (kid {kid!r})")
        return found

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    async def _refresh(self, *, strict: bool) -> None:
        """One fetch shared by every waiter; ``strict``: no keys at all is an error."""
        inflight = self._inflight
        loop = asyncio.get_running_loop()
        if inflight is None or inflight.done() or inflight.get_loop() is not loop:
            inflight = self._inflight = loop.create_task(self._fetch())
        try:
            await asyncio.shield(inflight)
        except AuthUnavailable:
            if strict or not self.keys:
                raise
            logger.warning("refreshing the JWKS of %s failed; keeping the keys held",
                           self.issuer)

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
            url = self.jwks_url or await self._discover(client)
            document = await _get_json(client, url, "JWKS")
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise AuthUnavailable(f"the JWKS at {url} has no keys list")
        self.keys = {str(k.get("kid", "")): k for k in keys
                     if isinstance(k, dict) and k.get("use", "sig") == "sig"}
        self._fetched_at = time.monotonic()
        self.fetches += 1

    async def _discover(self, client: httpx.AsyncClient) -> str:
        url = self.issuer.rstrip("/") + DISCOVERY_PATH
        document = await _get_json(client, url, "OpenID configuration")
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise AuthUnavailable(f"the OpenID configuration at {url} names no jwks_uri")
        self.jwks_url = jwks_uri
        return jwks_uri


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> Any:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AuthUnavailable(f"cannot fetch the {what} at {url}: {exc}") from None

