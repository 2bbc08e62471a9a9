"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout.

stdout carries protocol messages only (logs go to stderr).  Requests run concurrently, so a
``notifications/cancelled`` can stop one; a malformed line gets a JSON-RPC error and the server
keeps reading.  End of input ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any, BinaryIO

from ...core.context import ANONYMOUS, UserContext, bind_user, unbind_user
from .. import jsonrpc
from ..jsonrpc import JsonRpcError
from .modern import (
    META_CAPABILITIES,
    META_LOG_LEVEL,
    META_VERSION,
    MODERN,
    UNSUPPORTED_VERSION,
    stdio_reply,
)
from .modern import METHODS as MODERN_METHODS
from .server import LATEST, McpCall, McpServer

if TYPE_CHECKING:
    from ...app import App

logger = logging.getLogger("fastagentic.mcp.stdio")


TOKEN_ENV = "FASTAGENTIC_MCP_TOKEN"


async def stdio_user(app: App) -> UserContext:
    """Who a stdio client is: with auth required, the credential in ``FASTAGENTIC_MCP_TOKEN``
    (a JWT or an API key) goes through the same authenticator chain as HTTP bearer tokens."""
    if app.auth is None:
        return ANONYMOUS
    from ...auth.base import authenticate

    return await authenticate(app, os.environ.get(TOKEN_ENV) or None, {},
                              transport="mcp-stdio")


class StdioServer:
    def __init__(self, server: McpServer, reader: asyncio.StreamReader, writer: Any,
                 user: UserContext = ANONYMOUS) -> None:
        self.server = server
        self.user = user
        self.reader = reader
        self.writer = writer
        # Kept in this process only: a stdio session is its pipe.
        self.session: dict[str, Any] = {"id": "stdio-" + uuid.uuid4().hex,
                                        "protocol_version": LATEST, "log_level": None,
                                        "subscriptions": []}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.era: str | None = None

    async def write(self, message: dict[str, Any]) -> None:
        async with self._lock:
            self.writer.write(jsonrpc.dumps(message) + b"\n")
            await self.writer.drain()

    async def serve(self) -> None:
        self.server.attach(self.session["id"], self.write)
        self.server.local_sessions[self.session["id"]] = self.session
        try:
            await self._serve()
        finally:
            self.server.detach(self.session["id"], self.write)
            self.server.local_sessions.pop(self.session["id"], None)

    async def _serve(self) -> None:
        user = self.user
        while True:
            try:
                line = await self.reader.readline()
            except ValueError:  # a line over the size limit: refused, the rest is skipped
                await self.write(jsonrpc.error(None, JsonRpcError(
                    jsonrpc.INVALID_REQUEST, "Invalid Request: message too large")))
                continue
            if not line:
                break
            if not line.strip():
                continue
            try:
                data = jsonrpc.parse(line)
                message = jsonrpc.message_from(data)
            except JsonRpcError as exc:
                await self.write(jsonrpc.error(jsonrpc.request_id_of(
                    data if exc.code != jsonrpc.PARSE_ERROR else None), exc))
                continue
            if message.is_request and self.era is None:
                # The first request decides the era: the 2026-07-28 envelope, or a handshake.
                meta = message.params.get("_meta")
                modern = message.method != "initialize" and isinstance(meta, dict) \
                    and META_VERSION in meta
                self.era = "modern" if modern else "legacy"
                self.session["modern"] = modern
            if message.is_request and self.era == "modern":
                refusal = self._modern_refusal(message)
                if refusal is not None:
                    await self.write(refusal)
                    continue
            if message.method == "initialize" and message.is_request:
                self.session["protocol_version"] = self.server.negotiate(
                    message.params.get("protocolVersion"))
            call = McpCall(user=user, transport="mcp-stdio", session=self.session,
                           protocol_version=self.session["protocol_version"], send=self.write)
            if self.era == "modern" and message.is_request:
                meta = message.params.get("_meta") or {}
                call.session = {**self.session, "log_level": meta.get(META_LOG_LEVEL)}
                call.protocol_version = str(meta.get(META_VERSION))
                call.extra["client_capabilities"] = meta.get(META_CAPABILITIES) or {}
            if message.is_request:
                task = asyncio.create_task(self._answer(message, call))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                await self.server.dispatch(message, call)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    def _modern_refusal(self, message: jsonrpc.Message) -> dict[str, Any] | None:
        """Checks a 2026-07-28 request on stdio: its envelope, version and method."""
        meta = message.params.get("_meta")
        if not isinstance(meta, dict) or META_VERSION not in meta \
                or not isinstance(meta.get(META_CAPABILITIES), dict):
            return jsonrpc.error(message.id, JsonRpcError(
                jsonrpc.INVALID_PARAMS, f"Invalid params: the request needs _meta with "
                f"{META_VERSION} and {META_CAPABILITIES}"))
        if meta[META_VERSION] not in MODERN:
            return jsonrpc.error(message.id, JsonRpcError(
                UNSUPPORTED_VERSION, "Unsupported protocol version",
                {"supported": list(MODERN), "requested": meta[META_VERSION]}))
        if message.method not in MODERN_METHODS and \
                not self.server.extension_method(message.method):
            return jsonrpc.error(message.id, JsonRpcError(
                jsonrpc.METHOD_NOT_FOUND, f"Method not found: {message.method}"))
        return None

    async def _answer(self, message: jsonrpc.Message, call: McpCall) -> None:
        reply = await self.server.dispatch(message, call)
        if reply is not None:  # None: cancelled by the client, MCP sends no response
            if self.era == "modern":
                reply = stdio_reply(self.server, message.method, reply)
            await self.write(reply)


class _FileWriter:
    """The StreamWriter calls we use, on a regular file (stdout redirected to a file)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.file.flush()

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.file.flush()


def _is_pipe_like(file: BinaryIO) -> bool:
    try:
        mode = os.fstat(file.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


async def open_stdio(stdin: BinaryIO, stdout: BinaryIO, limit: int) -> tuple[Any, Any]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    if _is_pipe_like(stdin):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    else:  # a regular file: read it in a thread
        def pump() -> None:
            for chunk in iter(lambda: stdin.read(65536), b""):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
            loop.call_soon_threadsafe(reader.feed_eof)

        threading.Thread(target=pump, daemon=True, name="fastagentic-stdin").start()
    if not _is_pipe_like(stdout):
        return reader, _FileWriter(stdout)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, stdout)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def serve_stdio(app: App, *, stdin: BinaryIO | None = None,
                      stdout: BinaryIO | None = None, started: bool = False) -> None:
    """Serve ``app`` over stdio until end of input (``started``: the App already runs)."""
    reader, writer = await open_stdio(stdin or sys.stdin.buffer, stdout or sys.stdout.buffer,
                                      limit=app.settings.max_body_bytes)
    from ...exceptions import FastAgenticError

    async with contextlib.AsyncExitStack() as stack:
        if not started:  # running first: an API key is checked against the app's store
            await stack.enter_async_context(app.running())
            from ...app import freeze_after_startup

            freeze_after_startup(app.settings)
        try:
            user = await stdio_user(app)
        except FastAgenticError as exc:
            logger.error("refusing to serve MCP on stdio: %s (set %s)", exc.message, TOKEN_ENV)
            writer.close()
            raise SystemExit(2) from None
        token = bind_user(user)  # current_user() in what the session's requests run
        try:
            await StdioServer(app.mcp, reader, writer, user).serve()
        finally:
            unbind_user(token)
    writer.close()
