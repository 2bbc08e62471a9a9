"""WebSocket view: start or attach to a run, receive its events, send control messages.

Client → server (JSON text frames; ``id`` is optional and echoed in the acknowledgement):

* ``{"type": "start", "input": {...}, "idempotency_key": "..."}`` (agent sockets only)
* ``{"type": "attach", "run_id": "...", "after": 0}``
* ``{"type": "cancel"}`` · ``{"type": "resume", "input": ...}``
* ``{"type": "resume_from", "seq": n}`` (or ``{"resume_from": n}``): replay from after ``n``

Server → client: every run event as the same JSON as an SSE ``data`` line, and one
``{"type": "ack", "op": ..., "ok": true|false, ...}`` frame per control message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..core.context import CallContext
from ..core.pipeline import Invocation
from ..exceptions import BadRequest, FastAgenticError, InvalidInput
from .http import user_of

if TYPE_CHECKING:
    from ..app import App


class _Session:
    def __init__(self, app: App, ws: WebSocket) -> None:
        self.app = app
        self.ws = ws
        self.user = user_of(ws)
        self.run_id: str | None = None
        self._forwarder: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self._send_lock:
            await self.ws.send_text(text)

    async def ack(self, op: str, message: dict[str, Any], **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "ack", "op": op, "ok": True, **extra}
        if "id" in message:
            frame["id"] = message["id"]
        await self.send(to_json(frame).decode())

    async def nack(self, op: str, message: dict[str, Any], exc: FastAgenticError) -> None:
        frame: dict[str, Any] = {"type": "ack", "op": op, "ok": False,
                                 "error": {"code": exc.code, "message": exc.message,
                                           "status": exc.status}}
        if exc.details is not None:
            frame["error"]["details"] = exc.details
        if isinstance(message, dict) and "id" in message:
            frame["id"] = message["id"]
        await self.send(to_json(frame, fallback=repr).decode())

    async def follow(self, run_id: str, after: int) -> None:
        await self.stop_following()
        self.run_id = run_id
        self._forwarder = asyncio.create_task(self._forward(run_id, after))

    async def _forward(self, run_id: str, after: int) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            async for batch in self.app.engine.follow(run_id, after):
                async with self._send_lock:
                    for event in batch:
                        await self.ws.send_text(event.json)

    async def stop_following(self) -> None:
        if self._forwarder is not None:
            self._forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forwarder
            self._forwarder = None

    def _require_run(self) -> str:
        if self.run_id is None:
            raise BadRequest("no run: send start or attach first")
        return self.run_id

    async def handle(self, message: Any, agent: str | None) -> None:
        if not isinstance(message, dict):
            raise BadRequest("a control message is a JSON object")
        if "resume_from" in message and "type" not in message:
            message = {**message, "type": "resume_from", "seq": message["resume_from"]}
        op = message.get("type")
        engine = self.app.engine
        if op == "start":
            if agent is None:
                raise BadRequest("this socket follows one run; start runs on an agent socket")
            spec = self.app.registry.agents.get(agent)
            if spec is None:
                raise BadRequest(f"agent {agent!r} is no longer registered")
            arguments = spec.signature.validate_python(message.get("input") or {})
            key = message.get("idempotency_key")
            context = CallContext(user=self.user, transport="websocket", kind="agent",
                                  name=spec.name)
            run, created = await self.app.pipeline.invoke(
                Invocation(spec, arguments, context, options={"idempotency_key": key}))
            await self.ack(op, message, run_id=run.id, created=created)
            await self.follow(run.id, 0)
        elif op == "attach":
            run = await engine.get(str(message.get("run_id")), self.user)
            after = _seq(message.get("after", 0))
            await self.ack(op, message, run_id=run.id, status=run.status)
            await self.follow(run.id, after)
        elif op == "resume_from":
            run_id = self._require_run()
            after = _seq(message.get("seq"))
            await self.ack(op, message, run_id=run_id, seq=after)
            await self.follow(run_id, after)
        elif op == "cancel":
            run = await engine.cancel(self._require_run(), self.user)
            await self.ack(op, message, run_id=run.id, status=run.status)
        elif op == "resume":
            has_answer = "input" in message
            run = await engine.resume(self._require_run(), self.user,
                                      answer=message.get("input"), has_answer=has_answer)
            await self.ack(op, message, run_id=run.id, status=run.status)
            if self._forwarder is None or self._forwarder.done():
                await self.follow(run.id, run.last_seq)
        elif op == "ping":
            await self.ack(op, message)
        else:
            raise BadRequest(f"unknown message type {op!r}")

    async def serve(self, agent: str | None) -> None:
        try:
            while True:
                received = await self.ws.receive()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                if text is None:
                    await self.nack("invalid", {}, BadRequest(
                        "control messages are JSON text frames, not binary"))
                    continue
                try:
                    message = from_json(text)
                except ValueError:
                    await self.nack("invalid", {}, BadRequest("malformed JSON message"))
                    continue
                op = message.get("type", "resume_from" if "resume_from" in message else "?") \
                    if isinstance(message, dict) else "?"
                try:
                    await self.handle(message, agent)
                except FastAgenticError as exc:
                    await self.nack(op, message, exc)
        except WebSocketDisconnect:
            pass
        finally:
            await self.stop_following()


def _seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("seq must be a non-negative integer")
    return value


class AgentSocket:
    """``{path}/ws``: start runs of one agent endpoint (or attach to any of the caller's)."""

    def __init__(self, app: App, agent: str) -> None:
        self.app = app
        self.agent = agent

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await _Session(self.app, ws).serve(self.agent)


class RunSocket:
    """``/runs/{run_id}/ws``: attached to one run from the start (``?after=n`` to skip)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        session = _Session(self.app, ws)
        # Accept first: a close before accept is an HTTP 403, and the client would never see
        # the application close code.
        await ws.accept()
        try:
            run = await self.app.engine.get(ws.path_params["run_id"], session.user)
            after = int(ws.query_params.get("after", "0"))
            if after < 0:
                raise ValueError
        except FastAgenticError as exc:
            await ws.close(code=4404 if exc.status == 404 else 4400, reason=exc.message)
            return
        except ValueError:
            await ws.close(code=4400, reason="after must be a non-negative integer")
            return
        await session.follow(run.id, after)
        await session.serve(None)
