"""MCP 2026-07-28 over HTTP: sessionless, one self-contained POST per request.

Every request carries the ``_meta`` envelope (protocol version, client capabilities) and the
routing headers (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``); there is no
``initialize``, no session and no GET stream (``subscriptions/listen`` replaces it).  The
methods are the same dispatcher's, so a definition behaves identically in both revisions.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ...core.context import ANONYMOUS
from .. import jsonrpc
from ..http import USER_SCOPE_KEY
from ..jsonrpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, JsonRpcError
from .server import RESOURCE_NOT_FOUND, SUPPORTED, McpCall, McpServer

if TYPE_CHECKING:
    from .http import StreamableHttp

MODERN = ("2026-07-28",)
HEADER_MISMATCH = -32020
MISSING_CAPABILITY = jsonrpc.MISSING_CAPABILITY
UNSUPPORTED_VERSION = -32022

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION = "io.modelcontextprotocol/subscriptionId"

METHODS = frozenset({
    "server/discover", "completion/complete", "prompts/get", "prompts/list", "resources/list",
    "resources/templates/list", "resources/read", "subscriptions/listen", "tools/call",
    "tools/list"})
CACHEABLE = frozenset({"server/discover", "tools/list", "prompts/list", "resources/list",
                       "resources/templates/list", "resources/read"})
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
LISTEN_FILTERS = {"notifications/tools/list_changed": "toolsListChanged",
                  "notifications/prompts/list_changed": "promptsListChanged",
                  "notifications/resources/list_changed": "resourcesListChanged"}


def is_modern(version: str | None) -> bool:
    """Header routing: a version that is not a handshake revision takes the modern path."""
    return version is not None and version not in SUPPORTED


def modern_status(reply: dict[str, Any]) -> int:
    """The HTTP status of a 2026-07-28 answer."""
    return _status(reply["error"].get("code", 0)) if "error" in reply else 200


def _status(code: int) -> int:
    if code == METHOD_NOT_FOUND:
        return 404
    if code in (jsonrpc.PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS, HEADER_MISMATCH,
                MISSING_CAPABILITY, UNSUPPORTED_VERSION):
        return 400
    return 200


def _error(msg_id: Any, code: int, message: str, data: Any = None) -> Response:
    body = jsonrpc.error(msg_id, JsonRpcError(code, message, data))
    return Response(jsonrpc.dumps(body), status_code=_status(code), media_type="application/json")


def _header(request: Request, name: str) -> str | None | Response:
    values = request.headers.getlist(name)
    if len(values) > 1:
        return _error(None, HEADER_MISMATCH, f"Header mismatch: {name} given more than once")
    if not values:
        return None
    value = values[0]
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[len("=?base64?"):-2]).decode()
        except ValueError:
            return _error(None, HEADER_MISMATCH, f"Header mismatch: bad encoding in {name}")
    return value


class ModernHttp:
    def __init__(self, http: StreamableHttp, server: McpServer) -> None:
        self.http = http
        self.server = server

    def decorate(self, method: str, reply: dict[str, Any]) -> Response:
        """2026-07-28 result fields, and HTTP statuses for errors."""
        if "error" in reply:
            error = reply["error"]
            if error.get("code") == RESOURCE_NOT_FOUND:  # retired in 2026-07-28
                error["code"] = INVALID_PARAMS
            return Response(jsonrpc.dumps(reply), status_code=_status(error.get("code", 0)),
                            media_type="application/json")
        self.decorate_result(method, reply["result"])
        return Response(jsonrpc.dumps(reply), media_type="application/json")

    def decorate_result(self, method: str, result: dict[str, Any]) -> None:
        decorate_result(self.server, method, result)

    async def post(self, request: Request, version_header: str) -> Response:
        accept = request.headers.get("accept", "*/*")
        if not any(t in accept for t in ("application/json", "text/event-stream", "*/*")):
            return _error(None, INVALID_REQUEST,
                          "Not Acceptable: accept application/json or text/event-stream")
        body = await request.body()
        try:
            data = jsonrpc.parse(body)
        except JsonRpcError as exc:
            return _error(None, exc.code, exc.message)
        if isinstance(data, dict) and "id" not in data and "method" in data:
            return Response(status_code=202)  # no client notifications are defined on HTTP
        try:
            message = jsonrpc.message_from(data)
        except JsonRpcError as exc:
            return _error(jsonrpc.request_id_of(data), exc.code, exc.message)
        if not message.is_request:
            return _error(message.id, INVALID_REQUEST, "Invalid Request: expected a request")
        checked = self._check(request, message, version_header)
        if isinstance(checked, Response):
            return checked
        meta = checked
        if message.method not in METHODS and not self.server.extension_method(message.method):
            return _error(message.id, METHOD_NOT_FOUND, f"Method not found: {message.method}")
        call = McpCall(user=request.scope.get(USER_SCOPE_KEY, ANONYMOUS), transport="mcp",
                       session={"id": None, "modern": True,
                                "log_level": meta.get(META_LOG_LEVEL)},
                       protocol_version=version_header,
                       extra={"client_capabilities": meta.get(META_CAPABILITIES) or {}})
        if message.method == "subscriptions/listen":
            return self._listen(request, message, call)
        if message.method == "tools/call" and "text/event-stream" in accept \
                and self.server.may_notify(message.params):
            return await self.http.call_with_stream(
                message, call, decorate=lambda r: self._decorated(message.method, r),
                cancel_on_disconnect=True)
        reply = await self.server.dispatch(message, call)
        assert reply is not None
        return self.decorate(message.method or "", reply)

    def _decorated(self, method: str | None, reply: dict[str, Any]) -> dict[str, Any]:
        if "result" in reply:
            self.decorate_result(method or "", reply["result"])
        elif reply.get("error", {}).get("code") == RESOURCE_NOT_FOUND:
            reply["error"]["code"] = INVALID_PARAMS
        return reply

    def _check(self, request: Request, message: jsonrpc.Message, version_header: str
               ) -> dict[str, Any] | Response:
        """The envelope and the routing headers; returns the envelope."""
        meta = message.params.get("_meta")
        if not isinstance(meta, dict) or not isinstance(meta.get(META_CAPABILITIES), dict) \
                or META_VERSION not in meta:
            return _error(message.id, INVALID_PARAMS, "Invalid params: the request needs "
                          f"_meta with {META_VERSION} and {META_CAPABILITIES}")
        version = meta[META_VERSION]
        if not isinstance(version, str):
            return _error(message.id, INVALID_PARAMS,
                          f"Invalid params: {META_VERSION} must be a string")
        if version != version_header:
            return _error(message.id, HEADER_MISMATCH, "Header mismatch: MCP-Protocol-Version "
                          f"{version_header!r} but the envelope says {version!r}")
        method_header = _header(request, "mcp-method")
        if isinstance(method_header, Response):
            return method_header
        if method_header is None or method_header.strip() != message.method:
            return _error(message.id, HEADER_MISMATCH, f"Header mismatch: Mcp-Method "
                          f"{method_header!r} but the body calls {message.method!r}")
        name_key = NAMED.get(message.method or "") or self.server.extension_name_key(
            message.method)
        if name_key is not None:
            name_header = _header(request, "mcp-name")
            if isinstance(name_header, Response):
                return name_header
            body_value = message.params.get(name_key)
            if body_value is not None and (name_header is None
                                           or name_header.strip() != body_value):
                return _error(message.id, HEADER_MISMATCH, f"Header mismatch: Mcp-Name "
                              f"{name_header!r} but params.{name_key} is {body_value!r}")
        if version not in MODERN:
            return _error(message.id, UNSUPPORTED_VERSION, "Unsupported protocol version",
                          {"supported": list(MODERN), "requested": version})
        return meta

    def _listen(self, request: Request, message: jsonrpc.Message, call: McpCall) -> Response:
        """``subscriptions/listen``: an open SSE stream of the notifications asked for."""
        if "text/event-stream" not in request.headers.get("accept", ""):
            return _error(message.id, INVALID_REQUEST,
                          "subscriptions/listen needs Accept: text/event-stream")
        wanted = message.params.get("notifications") or {}
        honoured = {key: True for key in LISTEN_FILTERS.values() if wanted.get(key)}
        uris = [u for u in wanted.get("resourceSubscriptions") or [] if isinstance(u, str)]
        if uris:
            honoured["resourceSubscriptions"] = uris
        subscription_id = message.id
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        local_id = f"listen-{id(queue)}"
        self.server.local_sessions[local_id] = {"id": local_id, "subscriptions": uris}

        async def deliver(note: dict[str, Any]) -> None:
            method = note.get("method", "")
            flag = LISTEN_FILTERS.get(method)
            if flag is not None and not honoured.get(flag):
                return
            if flag is None and method != "notifications/resources/updated":
                return
            params = dict(note.get("params") or {})
            params["_meta"] = {**params.get("_meta", {}), META_SUBSCRIPTION: subscription_id}
            queue.put_nowait({**note, "params": params})

        self.server.attach(local_id, deliver)
        ack = jsonrpc.notification("notifications/subscriptions/acknowledged", {
            "notifications": honoured, "_meta": {META_SUBSCRIPTION: subscription_id}})

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield _frame(ack)
                while True:
                    yield _frame(await queue.get())
            finally:
                self.server.detach(local_id, deliver)
                self.server.local_sessions.pop(local_id, None)

        from sse_starlette import EventSourceResponse

        return EventSourceResponse(stream(), ping=self.http.app.settings.sse_ping,
                                   headers={"X-Accel-Buffering": "no"})


def decorate_result(server: McpServer, method: str, result: dict[str, Any]) -> None:
    """The fields every 2026-07-28 result carries."""
    result.setdefault("resultType", "complete")
    meta = result.setdefault("_meta", {})
    meta[META_SERVER] = server.server_info()
    if method in CACHEABLE:
        # Definitions can change at runtime (list_changed), and answers may depend on the
        # caller: nothing is cacheable across callers or for long.
        result.setdefault("ttlMs", 0)
        result.setdefault("cacheScope", "private")


def stdio_reply(server: McpServer, method: str | None, reply: dict[str, Any]
                ) -> dict[str, Any]:
    """A 2026-07-28 answer on stdio: the result fields, and resource-not-found as -32602."""
    if "result" in reply:
        decorate_result(server, method or "", reply["result"])
    elif reply.get("error", {}).get("code") == RESOURCE_NOT_FOUND:
        reply["error"]["code"] = INVALID_PARAMS
    return reply


def _frame(message: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + jsonrpc.dumps(message) + b"\n\n"
