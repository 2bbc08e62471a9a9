"""Streamable HTTP (MCP 2025-11-25 and earlier revisions) at ``/mcp``.

POST carries one JSON-RPC message: a request is answered with JSON, or with an SSE stream when
it produces notifications (progress, logs) before its result; notifications and responses get
202.  GET opens the session's server-to-client stream; DELETE ends the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ...core.context import ANONYMOUS
from ...exceptions import PayloadTooLarge
from .. import jsonrpc
from ..http import USER_SCOPE_KEY
from ..jsonrpc import INVALID_REQUEST, JsonRpcError
from .modern import ModernHttp, is_modern, modern_status
from .resumable import Streams
from .server import SUPPORTED, McpCall, McpServer
from .sessions import SessionLimit

if TYPE_CHECKING:
    from ...app import App

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsonrpc.dumps(body), status_code=status, headers=headers,
                    media_type="application/json")


def _http_error(status: int, code: int, message: str, msg_id: Any = None) -> Response:
    return _json(jsonrpc.error(msg_id, JsonRpcError(code, message)), status)


def _sse_frame(message: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + jsonrpc.dumps(message) + b"\n\n"


class StreamableHttp:
    def __init__(self, app: App, server: McpServer) -> None:
        self.app = app
        self.server = server
        self.sessions = server.sessions
        self.modern = ModernHttp(self, server)
        self.streams = Streams(lambda: app.store, ttl=app.settings.mcp_session_ttl,
                               wait=app.settings.mcp_client_timeout)
        self._pumps: set[asyncio.Task[None]] = set()
        #: Live GET streams of this process, by session id (None in a queue ends the stream).
        self._streams: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self._handle(scope, receive, send)
        except PayloadTooLarge as exc:  # a chunked body over the limit
            await _http_error(413, INVALID_REQUEST, exc.message)(scope, receive, send)

    async def _handle(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        version = request.headers.get(VERSION_HEADER)
        if not self._host_allowed(request):
            response = _http_error(421, INVALID_REQUEST, "Misdirected Request: host not allowed")
        elif not self._origin_allowed(request):
            response = _http_error(403, INVALID_REQUEST, "Forbidden: origin not allowed")
        elif (refusal := await self.authenticate(request)) is not None:
            response = refusal
        elif is_modern(version):
            if request.method == "POST":
                response = await self.modern.post(request, version or "")
            else:  # 2026-07-28 is POST only: no GET stream, no session to DELETE
                response = Response(status_code=405, headers={"Allow": "POST"})
        elif request.method == "POST":
            response = await self.post(request)
        elif request.method == "GET":
            response = await self.get(request)
        elif request.method == "DELETE":
            response = await self.delete(request)
        else:
            response = Response(status_code=405, headers={"Allow": "GET, POST, DELETE"})
        await response(scope, receive, send)

    # checks

    async def authenticate(self, request: Request) -> Response | None:
        """With auth required: the caller into the scope, or the 401/403 answer."""
        if self.app.auth is None:
            return None
        from ...auth.base import (
            AuthUnavailable,
            InsufficientScope,
            Unauthenticated,
            authenticate,
            bearer_token,
            challenge,
        )

        base = str(request.base_url)
        token = bearer_token(request.headers)
        try:
            user = await authenticate(self.app, token, request.headers, transport="mcp",
                                      path=request.url.path)
        except AuthUnavailable as exc:
            return _http_error(503, INVALID_REQUEST, f"Service Unavailable: {exc.message}")
        except InsufficientScope as exc:
            response = _http_error(403, INVALID_REQUEST, f"Forbidden: {exc.message}")
            response.headers["WWW-Authenticate"] = challenge(
                base, self.app.settings.mcp_path, "insufficient_scope", exc.scopes)
            return response
        except Unauthenticated as exc:
            response = _http_error(401, INVALID_REQUEST, f"Unauthorized: {exc.message}")
            presented = token is not None or "x-api-key" in request.headers
            response.headers["WWW-Authenticate"] = challenge(
                base, self.app.settings.mcp_path, "invalid_token" if presented else None)
            return response
        request.scope[USER_SCOPE_KEY] = user
        return None

    async def resource_metadata(self, request: Request) -> Response:
        """RFC 9728 protected-resource metadata (404 while no auth is required): of the MCP
        endpoint at ``.../oauth-protected-resource/mcp``, of the whole service at the root."""
        if self.app.auth is None:
            return Response(status_code=404)
        from ...auth.base import protected_resource

        root = request.url.path == "/.well-known/oauth-protected-resource"
        return _json(protected_resource(self.app.auth, str(request.base_url),
                                        "" if root else self.app.settings.mcp_path))

    def _host_allowed(self, request: Request) -> bool:
        """DNS-rebinding protection: the addressed host (forwarded headers honoured) must be
        allowed; a server on a loopback socket answers only to loopback names by default."""
        host = _effective_host(request, self.app.settings.trust_forwarded_headers)
        allowed = self.app.settings.mcp_allowed_hosts
        if allowed:
            return "*" in allowed or host in allowed
        server = request.scope.get("server")
        if server and server[0] in LOOPBACK:
            return host in LOOPBACK
        return True

    def _origin_allowed(self, request: Request) -> bool:
        """DNS-rebinding protection: a browser origin must be allowed or be this host."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        allowed = self.app.settings.mcp_allowed_origins
        if "*" in allowed or origin in allowed:
            return True
        origin_host = urlsplit(origin).hostname or ""
        host = _effective_host(request, self.app.settings.trust_forwarded_headers)
        if origin_host == host:
            return True
        return origin_host in LOOPBACK and host in LOOPBACK

    def _version(self, request: Request, session: dict[str, Any] | None) -> str | Response:
        version = request.headers.get(VERSION_HEADER)
        if version is None:
            return session["protocol_version"] if session else "2025-03-26"
        if version not in SUPPORTED:
            return _http_error(400, INVALID_REQUEST, f"Bad Request: unsupported protocol "
                               f"version {version!r} (supported: {', '.join(SUPPORTED)})")
        return version

    async def _session(self, request: Request, msg_id: Any = None
                       ) -> dict[str, Any] | Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return _http_error(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id "
                               "header (send initialize first)", msg_id)
        session = await self.sessions.get(session_id)
        user = request.scope.get(USER_SCOPE_KEY, ANONYMOUS)
        # A session belongs to whoever opened it: another caller gets "not found".
        if session is None or session.get("principal", ANONYMOUS.principal_key) \
                != user.principal_key:
            return _http_error(404, INVALID_REQUEST, "Session not found", msg_id)
        return session

    # POST

    async def post(self, request: Request) -> Response:
        accept = request.headers.get("accept", "*/*")
        if not any(t in accept for t in ("application/json", "text/event-stream", "*/*")):
            return _http_error(406, INVALID_REQUEST,
                               "Not Acceptable: accept application/json or text/event-stream")
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            return _http_error(415, INVALID_REQUEST,
                               "Unsupported Media Type: use application/json")
        body = await request.body()
        try:
            data = jsonrpc.parse(body)
        except JsonRpcError as exc:
            return _json(jsonrpc.error(None, exc), 400)
        try:
            message = jsonrpc.message_from(data)
        except JsonRpcError as exc:
            return _json(jsonrpc.error(jsonrpc.request_id_of(data), exc), 400)
        user = request.scope.get(USER_SCOPE_KEY, ANONYMOUS)
        if message.method == "initialize":
            return await self._initialize(message, user)
        session = await self._session(request, message.id)
        if isinstance(session, Response):
            return session
        version = self._version(request, session)
        if isinstance(version, Response):
            return version
        call = McpCall(user=user, transport="mcp", session=session, protocol_version=version)
        if not message.is_request:
            await self.server.dispatch(message, call)
            return Response(status_code=202)
        wants_stream = "text/event-stream" in accept and message.method == "tools/call" \
            and self.server.may_notify(message.params)
        if not wants_stream:
            reply = await self.server.dispatch(message, call)
            await self._save_if_changed(call)
            if reply is None:  # cancelled by the client: no response for it
                return Response(status_code=202)
            return _json(reply)
        return await self.call_with_stream(message, call)

    async def _initialize(self, message: jsonrpc.Message, user: Any) -> Response:
        if not message.is_request:
            return _http_error(400, INVALID_REQUEST, "initialize must be a request")
        version = self.server.negotiate(message.params.get("protocolVersion"))
        try:
            session = await self.sessions.create(version, {
                "info": message.params.get("clientInfo"),
                "capabilities": message.params.get("capabilities")},
                principal=user.principal_key)
        except SessionLimit as exc:
            return _http_error(503, INVALID_REQUEST, str(exc), message.id)
        call = McpCall(user=user, transport="mcp", session=session, protocol_version=version)
        reply = await self.server.dispatch(message, call)
        return _json(reply, headers={"Mcp-Session-Id": session["id"]})

    async def _save_if_changed(self, call: McpCall) -> None:
        if call.extra.pop("session_changed", False) and call.session is not None:
            await self.sessions.save(call.session)

    async def call_with_stream(
        self, message: jsonrpc.Message, call: McpCall, *,
        decorate: Callable[[dict[str, Any]], dict[str, Any]] = lambda reply: reply,
        cancel_on_disconnect: bool = False,
    ) -> Response:
        """JSON if the call finishes before notifying anything; otherwise an SSE stream.

        ``cancel_on_disconnect``: closing the stream cancels the call (2026-07-28); in the
        session revisions a disconnect is not a cancellation.
        """
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send(note: dict[str, Any]) -> None:
            queue.put_nowait(note)
            if not settled.done():  # the first notification: this answer becomes a stream
                settled.set_result(None)

        call.send = send
        task = asyncio.create_task(self.server.dispatch(message, call, own_task=True))
        task.add_done_callback(lambda _: settled.done() or settled.set_result(None))
        try:
            await settled
        except asyncio.CancelledError:
            task.cancel()
            raise
        if queue.empty():  # finished without notifying: a plain JSON answer
            reply = None if task.cancelled() else task.result()
            if reply is None:  # cancelled by the client: no response for it
                return Response(status_code=202)
            reply = decorate(reply)
            status = modern_status(reply) if cancel_on_disconnect else 200
            return _json(reply, status)
        first = queue.get_nowait()
        if cancel_on_disconnect:  # 2026-07-28: no resumability, closing the stream cancels
            return self._live_stream(first, queue, task, decorate)
        return await self._resumable_stream(message, call, first, queue, task)

    def _live_stream(self, first: dict[str, Any], queue: asyncio.Queue[dict[str, Any]],
                     task: asyncio.Task[Any], decorate: Callable[[dict[str, Any]],
                                                                 dict[str, Any]]) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            try:
                yield _sse_frame(first)
                async for message in _drain(queue, task):
                    yield _sse_frame(decorate(message) if "method" not in message
                                     else message)
            finally:
                if not task.done():
                    task.cancel()

        from sse_starlette import EventSourceResponse

        return EventSourceResponse(stream(), ping=self.app.settings.sse_ping,
                                   headers={"X-Accel-Buffering": "no"})

    async def _resumable_stream(self, message: jsonrpc.Message, call: McpCall,
                                first: dict[str, Any], queue: asyncio.Queue[dict[str, Any]],
                                task: asyncio.Task[Any]) -> Response:
        """2025-11-25: every message stored before it is sent, whatever the client does."""
        stream = self.streams.open(call.session_id, message.id)
        live: asyncio.Queue[bytes | None] = asyncio.Queue()
        live.put_nowait(await stream.start())

        async def pump() -> None:
            try:
                live.put_nowait(await stream.add(first))
                async for item in _drain(queue, task):
                    live.put_nowait(await stream.add(item))
            finally:
                stream.close()
                live.put_nowait(None)

        pumping = asyncio.create_task(pump())
        self._pumps.add(pumping)
        pumping.add_done_callback(self._pumps.discard)

        async def send() -> AsyncIterator[bytes]:
            while (chunk := await live.get()) is not None:
                yield chunk

        from sse_starlette import EventSourceResponse

        return EventSourceResponse(send(), ping=self.app.settings.sse_ping,
                                   headers={"X-Accel-Buffering": "no"})

    # GET and DELETE

    async def get(self, request: Request) -> Response:
        if "text/event-stream" not in request.headers.get("accept", ""):
            return _http_error(406, INVALID_REQUEST, "Not Acceptable: GET needs "
                               "Accept: text/event-stream")
        session = await self._session(request)
        if isinstance(session, Response):
            return session
        last_event_id = request.headers.get("last-event-id")
        if last_event_id:  # resume a call's stream, on any replica
            replay = await self.streams.replay(last_event_id, session["id"])
            if replay is None:
                return _http_error(404, INVALID_REQUEST, "Unknown Last-Event-ID")
            from sse_starlette import EventSourceResponse

            return EventSourceResponse(replay, ping=self.app.settings.sse_ping)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        streams = self._streams.setdefault(session["id"], set())
        streams.add(queue)

        async def deliver(message: dict[str, Any]) -> None:
            queue.put_nowait(message)

        self.server.attach(session["id"], deliver)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while (message := await queue.get()) is not None:
                    yield _sse_frame(message)
            finally:
                streams.discard(queue)
                self.server.detach(session["id"], deliver)

        from sse_starlette import EventSourceResponse

        return EventSourceResponse(stream(), ping=self.app.settings.sse_ping)

    async def delete(self, request: Request) -> Response:
        session = await self._session(request)
        if isinstance(session, Response):
            return session
        await self.sessions.delete(session["id"])
        for queue in self._streams.pop(session["id"], set()):
            queue.put_nowait(None)  # the session's GET streams end with it
        return Response(status_code=200)

    async def schema(self, request: Request) -> Response:
        """``GET /mcp/schema``: the tools, resources, templates and prompts as JSON."""
        call = McpCall(user=request.scope.get(USER_SCOPE_KEY, ANONYMOUS), transport="mcp")
        out: dict[str, Any] = {"protocolVersion": self.server.negotiate(None),
                               "serverInfo": self.server.server_info()}
        out.update(await self.server.tools_list({}, call))
        out.update(await self.server.resources_list({}, call))
        out.update(await self.server.resource_templates_list({}, call))
        out.update(await self.server.prompts_list({}, call))
        return _json(out)


async def _drain(queue: asyncio.Queue[dict[str, Any]], task: asyncio.Task[Any]
                 ) -> AsyncIterator[dict[str, Any]]:
    """The call's notifications as they come, then its answer (none if it was cancelled)."""
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield getter.result()
            continue
        getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
        reply = None if task.cancelled() else task.result()
        if reply is not None:  # None: cancelled by the client, no answer
            yield reply
        return


def _hostname(value: str) -> str:
    """``host[:port]`` or ``[v6]:port`` → the host name, lower-cased."""
    value = value.split(",")[0].strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _effective_host(request: Request, trust_forwarded: bool) -> str:
    """The host the client addressed; a trusted proxy's forwarded headers win."""
    if trust_forwarded:
        forwarded = request.headers.get("forwarded")
        if forwarded:
            for part in forwarded.split(",")[0].split(";"):
                key, _, value = part.strip().partition("=")
                if key.lower() == "host" and value:
                    return _hostname(value.strip('"'))
        if request.headers.get("x-forwarded-host"):
            return _hostname(request.headers["x-forwarded-host"])
    return _hostname(request.headers.get("host", ""))
