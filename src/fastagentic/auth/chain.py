"""The credential chain every transport uses: an API key when one is presented, else the
configured authenticator (OIDC, or your own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..core.context import UserContext
from .api_keys import ApiKeys, looks_like_key
from .base import Authenticator


class CredentialChain:
    """``X-API-Key: <key>`` or ``Authorization: Bearer fak_...`` → ``api_keys.verify``; any
    other bearer token (or none) → ``authenticator``."""

    def __init__(self, authenticator: Authenticator, api_keys: Callable[[], ApiKeys]) -> None:
        self.authenticator = authenticator
        self.api_keys = api_keys

    async def __call__(self, token: str | None, headers: Mapping[str, str]) -> UserContext:
        key = headers.get("x-api-key") or (token if looks_like_key(token) else None)
        if key:
            return await self.api_keys().verify(key)
        return await self.authenticator(token, headers)
