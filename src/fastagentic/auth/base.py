"""The authentication seam: an ``Authenticator`` turns a request's credentials into a
``UserContext`` or refuses them.

``app.require_auth(authenticator, authorization_servers=[...])`` switches it on.  The MCP
endpoints then answer 401 with ``WWW-Authenticate: Bearer resource_metadata="…"`` and serve
the RFC 9728 protected-resource metadata; a token without the needed scope gets 403
``insufficient_scope`` naming it.  (OIDC/JWT verification plugs in here: see the auth issue.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.context import UserContext
from ..exceptions import FastAgenticError

#: ``async def authenticate(token, headers) -> UserContext``; ``token`` is the bearer token or
#: None.  Raise ``Unauthenticated`` or ``InsufficientScope`` to refuse.
Authenticator = Callable[[str | None, Mapping[str, str]], Awaitable[UserContext]]


class Unauthenticated(FastAgenticError):
    """No valid credentials."""

    status = 401
    code = "unauthenticated"


class InsufficientScope(FastAgenticError):
    """The credentials lack a required scope."""

    status = 403
    code = "insufficient_scope"

    def __init__(self, scopes: Sequence[str], message: str = "") -> None:
        super().__init__(message or f"requires scope {' '.join(scopes)}", details=list(scopes))
        self.scopes = list(scopes)


@dataclass(slots=True)
class AuthSettings:
    authenticator: Authenticator
    authorization_servers: list[str] = field(default_factory=list)
    scopes_supported: list[str] = field(default_factory=list)
    #: The resource identifier (RFC 8707); defaults to the endpoint's own URL.
    resource: str | None = None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def metadata_url(base_url: str, resource_path: str) -> str:
    """RFC 9728: the metadata of ``https://host/mcp`` is at
    ``https://host/.well-known/oauth-protected-resource/mcp``."""
    return base_url.rstrip("/") + "/.well-known/oauth-protected-resource" + resource_path


def challenge(base_url: str, resource_path: str, error: str | None = None,
              scopes: Sequence[str] = ()) -> str:
    parts = [f'resource_metadata="{metadata_url(base_url, resource_path)}"']
    if error:
        parts.insert(0, f'error="{error}"')
    if scopes:
        parts.append(f'scope="{" ".join(scopes)}"')
    return "Bearer " + ", ".join(parts)


def protected_resource(settings: AuthSettings, base_url: str, resource_path: str
                       ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": settings.resource or base_url.rstrip("/") + resource_path,
        "authorization_servers": settings.authorization_servers,
        "bearer_methods_supported": ["header"],
    }
    if settings.scopes_supported:
        out["scopes_supported"] = settings.scopes_supported
    return out
