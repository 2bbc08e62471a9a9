"""The authentication seam: an ``Authenticator`` turns a request's credentials into a
``UserContext`` or refuses them.

``configure_oidc(app, ...)`` (JWTs from an OIDC issuer) or ``app.require_auth(authenticator,
authorization_servers=[...])`` (your own) switches it on for every transport: REST, SSE and
WebSocket through the App's gate, MCP and A2A in their endpoints, stdio from the environment.
Refusals are 401 with ``WWW-Authenticate: Bearer resource_metadata="…"`` (RFC 9728 metadata is
served), or 403 ``insufficient_scope`` naming the missing scopes; each is audited
(``auth.fail``).  API keys (``app.api_keys``) are accepted whatever the authenticator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.context import UserContext
from ..exceptions import FastAgenticError

if TYPE_CHECKING:
    from .chain import CredentialChain

#: ``async def authenticate(token, headers) -> UserContext``; ``token`` is the bearer token or
#: None.  Raise ``Unauthenticated`` or ``InsufficientScope`` to refuse.
Authenticator = Callable[[str | None, Mapping[str, str]], Awaitable[UserContext]]


class Unauthenticated(FastAgenticError):
    """No valid credentials."""

    status = 401
    code = "unauthenticated"


class AuthUnavailable(FastAgenticError):
    """Credentials cannot be checked right now (the issuer's keys are unreachable)."""

    status = 503
    code = "auth_unavailable"


class InsufficientScope(FastAgenticError):
    """The credentials lack a required scope."""

    status = 403
    code = "insufficient_scope"

    def __init__(self, scopes: Sequence[str], message: str = "") -> None:
        super().__init__(message or f"requires scope {' '.join(scopes)}", details=list(scopes))
        self.scopes = list(scopes)


#: Reachable without credentials once auth is on (``*`` at the end: any path under it).
DEFAULT_PUBLIC_PATHS = (
    "/health", "/health/*", "/openapi.json", "/docs", "/docs/*", "/redoc",
    "/.well-known/agent-card.json", "/.well-known/agent.json",
    "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/*",
)


@dataclass(slots=True)
class AuthSettings:
    """What ``require_auth``/``configure_oidc`` set up (``app.auth``)."""

    #: The app's authenticator behind API keys and the required scopes.
    authenticator: CredentialChain
    authorization_servers: list[str] = field(default_factory=list)
    scopes_supported: list[str] = field(default_factory=list)
    #: The resource identifier (RFC 8707); defaults to the endpoint's own URL.
    resource: str | None = None
    #: Paths reachable without credentials, besides ``DEFAULT_PUBLIC_PATHS``.
    public_paths: list[str] = field(default_factory=list)
    #: Cookie sessions for browsers (``enable_sessions``); None: off.
    sessions: Any = None
    #: The OIDC verifier when ``configure_oidc`` set this up (its issuer goes in the A2A card).
    oidc: Any = None
    _exact: frozenset[str] = field(init=False, repr=False)
    _prefixes: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        patterns = [*DEFAULT_PUBLIC_PATHS, *self.public_paths]
        self._exact = frozenset(p for p in patterns if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))

    def is_public(self, path: str) -> bool:
        """``/a`` matches itself only; ``/a/*`` matches every path under ``/a/``."""
        return path in self._exact or path.startswith(self._prefixes)


async def authenticate(app: Any, token: str | None, headers: Mapping[str, str], *,
                       transport: str, path: str = "") -> UserContext:
    """Run the app's authenticator; a refusal is written to the audit log (``auth.fail``)
    and raised again."""
    try:
        return await app.auth.authenticator(token, headers)
    except (Unauthenticated, InsufficientScope, AuthUnavailable) as exc:
        await app.audit.record("auth.fail", decision="deny", reason=exc.message, context={
            "transport": transport, "path": path, "code": exc.code,
            "credentials": token is not None or "x-api-key" in headers})
        raise


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def metadata_url(base_url: str, resource_path: str) -> str:
    """RFC 9728: the metadata of ``https://host/mcp`` is at
    ``https://host/.well-known/oauth-protected-resource/mcp``."""
    return base_url.rstrip("/") + "/.well-known/oauth-protected-resource" + resource_path


def challenge(base_url: str, resource_path: str = "", error: str | None = None,
              scopes: Sequence[str] = ()) -> str:
    """The ``WWW-Authenticate`` value of a refusal (RFC 6750 + RFC 9728)."""
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
