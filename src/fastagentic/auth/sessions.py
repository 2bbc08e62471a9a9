"""Cookie sessions for browser flows (optional): a bearer credential kept in an HttpOnly cookie.

``enable_sessions(app)`` adds ``POST /auth/session`` (send a valid ``Authorization: Bearer``
token or API key: the response sets the cookie, holding that credential, for as long as it is
valid) and ``DELETE /auth/session`` (clears it).  Requests then authenticate by the cookie;
those that change state (anything but GET, HEAD and OPTIONS, and every WebSocket handshake)
must come from this site: their ``Origin`` (or ``Referer``) must be this host or one of
``allowed_origins``, else 403 (CSRF protection on top of ``SameSite``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import ConfigurationError
from ..protocols.http import json_response, user_of
from .base import bearer_token

if TYPE_CHECKING:
    from ..app import App

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROUTE_NAME = "fastagentic-session"


@dataclass(slots=True)
class SessionSettings:
    cookie: str = "fastagentic_session"
    path: str = "/auth/session"
    #: ``lax`` or ``strict``.
    same_site: str = "lax"
    #: Mark the cookie ``Secure``; None: when the request came over HTTPS.
    secure: bool | None = None
    #: Upper bound of a session's life (a JWT's own ``exp`` ends it sooner).
    max_age: float = 8 * 3600.0
    #: Browser origins besides this host allowed to send state-changing requests.
    allowed_origins: list[str] = field(default_factory=list)

    def csrf_safe(self, conn: HTTPConnection) -> bool:
        """Whether a cookie-authenticated request may proceed (same site, or safe)."""
        if conn.scope["type"] == "http" and conn.scope["method"] in SAFE_METHODS:
            return True
        origin = conn.headers.get("origin")
        if origin is None and conn.headers.get("referer"):
            parts = urlsplit(conn.headers["referer"])
            origin = f"{parts.scheme}://{parts.netloc}"
        if not origin or origin == "null":
            return False
        if origin in self.allowed_origins:
            return True
        return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower()


def enable_sessions(app: App, *, cookie: str = "fastagentic_session",
                    path: str = "/auth/session", same_site: str = "lax",
                    secure: bool | None = None, max_age: float = 8 * 3600.0,
                    allowed_origins: list[str] | None = None) -> SessionSettings:
    """Let browsers authenticate by cookie (after configuring authentication)."""
    if app.auth is None:
        raise ConfigurationError("enable_sessions: configure authentication first "
                                 "(configure_oidc or app.require_auth)")
    if same_site not in ("lax", "strict"):
        raise ConfigurationError("enable_sessions: same_site must be 'lax' or 'strict'")
    if max_age <= 0 or not path.startswith("/"):
        raise ConfigurationError("enable_sessions: max_age > 0 and a path like /auth/session")
    settings = SessionSettings(cookie=cookie, path=path, same_site=same_site, secure=secure,
                               max_age=max_age, allowed_origins=list(allowed_origins or []))
    app.auth.sessions = settings
    routes = app.fastapi.router.routes
    routes[:] = [r for r in routes if getattr(r, "name", None) != ROUTE_NAME]
    routes.extend([Route(path, _create(app), methods=["POST"], name=ROUTE_NAME),
                   Route(path, _delete(app), methods=["DELETE"], name=ROUTE_NAME)])
    return settings


def _secure(settings: SessionSettings, request: Request) -> bool:
    return settings.secure if settings.secure is not None else request.url.scheme == "https"


def _create(app: App) -> Any:
    async def create(request: Request) -> Response:
        """The gate admitted this request by its bearer credential (never by cookie)."""
        settings: SessionSettings = app.auth.sessions
        credential = bearer_token(request.headers) or request.headers.get("x-api-key")
        user = user_of(request)
        now = time.time()
        max_age = settings.max_age
        exp = user.claims.get("exp")
        if isinstance(exp, int | float):
            max_age = min(max_age, exp - now)
        response = json_response({"user": user.user, "tenant": user.tenant,
                                  "scopes": sorted(user.scopes), "roles": sorted(user.roles),
                                  "expires_at": now + max_age})
        response.set_cookie(settings.cookie, credential or "", max_age=max(0, int(max_age)),
                            path="/", httponly=True, samesite=settings.same_site,
                            secure=_secure(settings, request))
        return response

    return create


def _delete(app: App) -> Any:
    async def delete(request: Request) -> Response:
        settings: SessionSettings = app.auth.sessions
        response = Response(status_code=204)
        response.delete_cookie(settings.cookie, path="/", httponly=True,
                               samesite=settings.same_site, secure=_secure(settings, request))
        return response

    return delete
