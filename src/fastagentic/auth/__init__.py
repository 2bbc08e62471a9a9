"""Authentication: who is calling, on every transport.

``configure_oidc`` (JWT bearer tokens from an OIDC issuer), API keys (``app.api_keys``),
cookie sessions (``enable_sessions``) and ``current_user()``.  Names are imported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "configure_oidc": "fastagentic.auth.oidc",
    "OidcVerifier": "fastagentic.auth.oidc",
    "ClaimsMapping": "fastagentic.auth.claims",
    "ApiKeys": "fastagentic.auth.api_keys",
    "ApiKeyInfo": "fastagentic.auth.api_keys",
    "enable_sessions": "fastagentic.auth.sessions",
    "current_user": "fastagentic.core.context",
    "UserContext": "fastagentic.core.context",
    "Unauthenticated": "fastagentic.auth.base",
    "InsufficientScope": "fastagentic.auth.base",
    "AuthUnavailable": "fastagentic.auth.base",
}

__all__ = [
    "ApiKeyInfo",
    "ApiKeys",
    "AuthUnavailable",
    "ClaimsMapping",
    "InsufficientScope",
    "OidcVerifier",
    "Unauthenticated",
    "UserContext",
    "configure_oidc",
    "current_user",
    "enable_sessions",
]

if TYPE_CHECKING:
    from ..core.context import UserContext, current_user
    from .api_keys import ApiKeyInfo, ApiKeys
    from .base import AuthUnavailable, InsufficientScope, Unauthenticated
    from .claims import ClaimsMapping
    from .oidc import OidcVerifier, configure_oidc
    from .sessions import enable_sessions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastagentic.auth' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
