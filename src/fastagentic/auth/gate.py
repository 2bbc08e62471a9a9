"""The App's authentication gate: with auth configured, every HTTP request and WebSocket
handshake needs a valid credential unless its path is public.

Public: health probes, the OpenAPI documents, the public agent cards, the protected-resource
metadata, ``public_paths``, CORS preflights and the REST routes of definitions marked
``public=True`` (where a credential, when sent, is still checked).  The MCP and A2A endpoints
check credentials themselves with the same authenticator (their refusals are protocol errors).

Credentials: ``Authorization: Bearer <token or API key>``, ``X-API-Key: <key>``, or the session
cookie (``enable_sessions``).  Refusals: 401 ``unauthenticated`` or 403 ``insufficient_scope``
as JSON with ``WWW-Authenticate: Bearer ...``; a WebSocket handshake gets the same HTTP answer
(ASGI ``websocket.http.response``) or, on servers without it, a close with code 1008.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from starlette.requests import HTTPConnection

from ..core.context import ANONYMOUS, UserContext, bind_user, unbind_user
from ..exceptions import FastAgenticError, Forbidden
from ..protocols.http import USER_SCOPE_KEY
from .base import InsufficientScope, Unauthenticated, authenticate, challenge

if TYPE_CHECKING:
    from ..app import App

Asgi = Callable[[Any, Any, Any], Awaitable[None]]
POLICY_VIOLATION = 1008
#: Verified tokens' header values :meth:`AuthGate.known` keeps parsed (then it starts again).
TOKENS_KEPT = 4096


class CrossSiteRequest(Forbidden):
    """A cookie-authenticated request that changes state came from another site."""

    code = "cross_site_request"


class AuthGate:
    def __init__(self, app: App) -> None:
        self.app = app
        self._defs_version = -1
        self._public_exact: frozenset[str] = frozenset()
        self._public_prefixes: tuple[str, ...] = ()
        s = app.settings
        self._own_paths = frozenset((s.mcp_path, s.mcp_sse_path, s.mcp_messages_path,
                                     s.a2a_path))
        self._own_prefix = s.a2a_path + "/"
        #: ``Authorization`` header values of verified tokens -> the token, the same string
        #: each time (its hash computed once, for the authenticator's cache).
        self._tokens: dict[bytes, str] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any, serve: Asgi) -> None:
        """Admit the request and serve it.  The App tries :meth:`known` first and comes here
        only when that cannot tell."""
        if self._self_authenticating(scope["path"]):
            await serve(scope, receive, send)
            return
        user = await self.admit(scope, send)
        if user is None:
            return
        scope[USER_SCOPE_KEY] = user
        token = bind_user(user)
        try:
            await serve(scope, receive, send)
        finally:
            unbind_user(token)

    def _self_authenticating(self, path: str) -> bool:
        return path in self._own_paths or path.startswith(self._own_prefix)

    def known(self, scope: Any) -> UserContext | None:
        """The caller of an HTTP request that carries a bearer token verified before (the
        authenticator's cache) on a path the gate guards, else None (then the App calls the
        gate, which decides): the same answer :meth:`admit` would give, without its work."""
        if scope["type"] != "http":
            return None
        value = None
        for name, raw in scope["headers"]:
            if name == b"authorization":
                value = raw
                break
        if value is None:
            return None
        token = self._tokens.get(value)
        seen = token is not None
        if not seen:
            scheme, _, credential = value.partition(b" ")
            if scheme.lower() != b"bearer":
                return None
            token = credential.strip().decode("latin-1")
            if not token:
                return None
        path = scope["path"]
        auth = self.app.auth
        if scope["method"] == "OPTIONS" or path in self._own_paths \
                or path.startswith(self._own_prefix) or auth.is_public(path) \
                or (auth.sessions is not None and path == auth.sessions.path):
            return None
        user = auth.authenticator.cached(token)
        if user is not None and not seen:  # only verified tokens are kept: nobody can fill this
            if len(self._tokens) >= TOKENS_KEPT:
                self._tokens.clear()
            self._tokens[value] = token
        return user

    def _public_definition(self, path: str) -> bool:
        registry = self.app.registry
        if self._defs_version != registry.version:
            exact: set[str] = set()
            prefixes: list[str] = []
            for spec in registry.all():
                if not spec.public:
                    continue
                if spec.kind == "agent":
                    exact.update({spec.path, spec.path + "/stream", spec.path + "/ws"})
                elif spec.kind == "resource":
                    exact.add(f"/resources/{spec.name}")
                    prefixes.append(f"/resources/{spec.name}/")
                else:
                    exact.add(f"/{spec.kind}s/{spec.name}")
            self._public_exact, self._public_prefixes = frozenset(exact), tuple(prefixes)
            self._defs_version = registry.version
        return path in self._public_exact or path.startswith(self._public_prefixes)

    async def admit(self, scope: Any, send: Any) -> UserContext | None:
        """The caller, ANONYMOUS on a public path, or None once the refusal is sent."""
        auth = self.app.auth
        path = scope["path"]
        sessions = auth.sessions
        by_bearer_only = sessions is not None and path == sessions.path
        if by_bearer_only and scope.get("method") == "DELETE":
            return ANONYMOUS  # signing out needs no credential
        if auth.is_public(path):
            return ANONYMOUS
        token, api_key, preflight = _credentials(scope["headers"])
        if preflight and scope.get("method") == "OPTIONS":
            return ANONYMOUS  # a CORS preflight never carries credentials (CORSMiddleware)
        presented = token is not None or api_key
        conn = HTTPConnection(scope)
        by_cookie = False
        if not presented and sessions is not None and not by_bearer_only:
            token = conn.cookies.get(sessions.cookie) or None
            presented = by_cookie = token is not None
        if not presented and self._public_definition(path):
            return ANONYMOUS
        headers = conn.headers
        transport = _transport(scope)
        try:
            if by_cookie and not sessions.csrf_safe(conn):
                error = CrossSiteRequest("a cookie-authenticated request that changes state "
                                         "must come from this site (Origin header)")
                await self.app.audit.record("auth.fail", decision="deny", reason=error.message,
                                            context={"transport": transport, "path": path,
                                                     "code": error.code})
                raise error
            return await authenticate(self.app, token, headers, transport=transport,
                                      path=path)
        except FastAgenticError as exc:
            await self.refuse(conn, send, exc, presented)
            return None

    async def refuse(self, conn: HTTPConnection, send: Any, exc: FastAgenticError,
                     presented: bool) -> None:
        from ..protocols.errors import error_body

        headers = [(b"content-type", b"application/json")]
        base = str(conn.base_url)
        if isinstance(exc, InsufficientScope):
            value = challenge(base, "", "insufficient_scope", exc.scopes)
        elif isinstance(exc, Unauthenticated):
            value = challenge(base, "", "invalid_token" if presented else None)
        else:
            value = None
        if value is not None:
            headers.append((b"www-authenticate", value.encode()))
        body = to_json(error_body(exc))
        if conn.scope["type"] == "http":
            await send({"type": "http.response.start", "status": exc.status,
                        "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in conn.scope.get("extensions") or {}:
            await send({"type": "websocket.http.response.start", "status": exc.status,
                        "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION,
                        "reason": exc.message[:120]})


def _credentials(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, bool, bool]:
    """(bearer token, whether an X-API-Key was sent, whether this may be a CORS preflight),
    in one pass over the raw headers."""
    token, api_key, preflight = None, False, False
    for name, value in raw:
        if name == b"authorization":
            scheme, _, credential = value.partition(b" ")
            if scheme.lower() == b"bearer":
                token = credential.strip().decode("latin-1") or None
        elif name == b"x-api-key":
            api_key = True
        elif name == b"access-control-request-method":
            preflight = True
    return token, api_key, preflight


def _transport(scope: Any) -> str:
    if scope["type"] == "websocket":
        return "websocket"
    path = scope["path"]
    return "sse" if path.endswith(("/stream", "/events")) else "rest"
