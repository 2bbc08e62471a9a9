"""The HTTP+SSE transport of MCP 2024-11-05, for old clients.

``GET /sse`` opens the session's stream; its first event, ``endpoint``, names the URL the
client POSTs its messages to (``/messages?session_id=…``).  Every server message, responses
included, travels on the stream; POSTs are answered 202.  The session lives with the stream,
so it belongs to the process holding it (use Streamable HTTP to spread one client over
replicas).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ...core.context import ANONYMOUS
from .. import jsonrpc
from ..http import USER_SCOPE_KEY
from ..jsonrpc import JsonRpcError
from .server import LATEST, McpCall, McpServer

if TYPE_CHECKING:
    from .http import StreamableHttp


class LegacySse:
    def __init__(self, http: StreamableHttp, server: McpServer, messages_path: str) -> None:
        self.http = http
        self.server = server
        self.messages_path = messages_path
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _refused(self, request: Request) -> Response | None:
        if not self.http._host_allowed(request):
            return Response("Misdirected Request: host not allowed", status_code=421)
        if not self.http._origin_allowed(request):
            return Response("Forbidden: origin not allowed", status_code=403)
        return await self.http.authenticate(request)

    async def stream(self, request: Request) -> Response:
        """``GET /sse``: the session's stream, opened with the ``endpoint`` event."""
        refused = await self._refused(request)
        if refused is not None:
            return refused
        session_id = uuid.uuid4().hex
        user = request.scope.get(USER_SCOPE_KEY, ANONYMOUS)
        session = {"id": session_id, "protocol_version": LATEST, "log_level": None,
                   "subscriptions": [], "client": {}, "principal": user.principal_key}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues[session_id] = queue
        self.server.local_sessions[session_id] = session

        async def deliver(message: dict[str, Any]) -> None:
            queue.put_nowait(message)

        self.server.attach(session_id, deliver)

        async def events() -> AsyncIterator[bytes]:
            try:
                endpoint = f"{self.messages_path}?session_id={session_id}"
                yield f"event: endpoint\ndata: {endpoint}\n\n".encode()
                while True:
                    message = await queue.get()
                    yield b"event: message\ndata: " + jsonrpc.dumps(message) + b"\n\n"
            finally:
                self.server.detach(session_id, deliver)
                self.server.local_sessions.pop(session_id, None)
                self._queues.pop(session_id, None)

        from sse_starlette import EventSourceResponse

        return EventSourceResponse(events(), ping=self.http.app.settings.sse_ping)

    async def post(self, request: Request) -> Response:
        """``POST /messages?session_id=…``: one message in, 202 out (answers on the stream)."""
        refused = await self._refused(request)
        if refused is not None:
            return refused
        session_id = request.query_params.get("session_id")
        if not session_id:
            return Response("session_id is required", status_code=400)
        queue = self._queues.get(session_id)
        session = self.server.local_sessions.get(session_id)
        user = request.scope.get(USER_SCOPE_KEY, ANONYMOUS)
        # A session belongs to whoever opened its stream: another caller gets "not found".
        if queue is None or session is None or session.get("principal") != user.principal_key:
            return Response("Could not find session", status_code=404)
        try:
            data = jsonrpc.parse(await request.body())
            message = jsonrpc.message_from(data)
        except JsonRpcError as exc:
            queue.put_nowait(jsonrpc.error(jsonrpc.request_id_of(
                None if exc.code == jsonrpc.PARSE_ERROR else data), exc))
            return Response("Invalid message", status_code=400)
        if message.method == "initialize" and message.is_request:
            session["protocol_version"] = self.server.negotiate(
                message.params.get("protocolVersion"))
            session["client"] = {"info": message.params.get("clientInfo"),
                                 "capabilities": message.params.get("capabilities") or {}}

        async def send(note: dict[str, Any]) -> None:
            queue.put_nowait(note)

        call = McpCall(user=user, transport="mcp-sse",
                       session=session, protocol_version=session["protocol_version"],
                       send=send)
        if message.is_request:
            task = asyncio.create_task(self._answer(message, call, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self.server.dispatch(message, call)
        return Response("Accepted", status_code=202)

    async def _answer(self, message: jsonrpc.Message, call: McpCall,
                      queue: asyncio.Queue[dict[str, Any]]) -> None:
        reply = await self.server.dispatch(message, call)
        if reply is not None:
            queue.put_nowait(reply)


__all__ = ["LegacySse"]
