"""The credential chain every transport uses: an API key when one is presented, else the
configured authenticator (OIDC, or your own); then the scopes every caller must hold."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from ..core.context import UserContext
from .api_keys import PREFIX, ApiKeys, looks_like_key
from .base import Authenticator, InsufficientScope


class CredentialChain:
    """``Authorization: Bearer fak_...`` (or, without a bearer token, ``X-API-Key: <key>``)
    → ``api_keys.verify``; any other bearer token (or none) → ``authenticator``.  A caller
    without every one of ``required_scopes`` gets 403 ``insufficient_scope``."""

    def __init__(self, authenticator: Authenticator, api_keys: Callable[[], ApiKeys],
                 required_scopes: Sequence[str] = ()) -> None:
        self.authenticator = authenticator
        self.api_keys = api_keys
        self.required_scopes = tuple(required_scopes)
        #: The tokens the authenticator verified before, when it keeps them
        #: (``OidcVerifier.verified_tokens``: token -> (caller, until)).
        self._verified: dict[str, tuple[UserContext, float]] | None = getattr(
            authenticator, "verified_tokens", None)

    def cached(self, token: str) -> UserContext | None:
        """The caller of a bearer token the authenticator verified before and still accepts,
        with the required scopes, without I/O; None when the full check is needed (API keys,
        unknown or expired tokens, authenticators without a cache)."""
        if self._verified is None or token.startswith(PREFIX):
            return None
        hit = self._verified.get(token)
        if hit is None or time.time() >= hit[1]:
            return None
        user = hit[0]
        if self.required_scopes and not user.scopes.issuperset(self.required_scopes):
            return None
        return user

    async def __call__(self, token: str | None, headers: Mapping[str, str]) -> UserContext:
        key = token if looks_like_key(token) else None if token else headers.get("x-api-key")
        if key:
            user = await self.api_keys().verify(key)
        else:
            user = await self.authenticator(token, headers)
        if self.required_scopes and not user.scopes.issuperset(self.required_scopes):
            raise InsufficientScope([s for s in self.required_scopes if s not in user.scopes])
        return user
