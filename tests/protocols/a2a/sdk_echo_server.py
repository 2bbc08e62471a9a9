"""A tiny a2a-sdk 1.3.0 server: the real counterpart for the A2A client tests.

``python sdk_echo_server.py PORT`` serves JSON-RPC at ``/jsonrpc`` and HTTP+JSON at ``/rest``
(both 1.0 and 0.3), the card at ``/.well-known/agent-card.json`` (and at
``/legacy/.well-known/agent.json`` only, for the fallback), push CRUD (in-memory store) and an
extended card.  What the agent does depends on the first word of the user's text:

* ``ask``      -> input-required ("What is your name?"); the follow-up completes the task with
  ``hello, <answer>``;
* ``reply``    -> a direct Message ``reply:<rest>`` (no task);
* ``fail``     -> the task fails (status message ``it failed``);
* ``reject``   -> the task is rejected;
* ``headers``  -> a data artifact with the request headers the server saw;
* ``meta``     -> a data artifact ``{"request": <request metadata>, "message": <message's>}``;
* ``data`` (or no text at all) -> a data artifact echoing the message's data parts;
* anything else -> a task streamed as two chunks of one artifact ``echo:`` + text, completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import (
    BasePushNotificationSender,
    InMemoryPushNotificationConfigStore,
    InMemoryTaskStore,
    TaskUpdater,
)
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Part,
    Role,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value
from starlette.applications import Starlette

ECHOED_HEADERS = ("traceparent", "tracestate", "authorization", "a2a-version", "x-extra")


def data_part(value: object) -> Part:
    proto = Value()
    ParseDict(value, proto)
    return Part(data=proto)


class Echo(AgentExecutor):
    def __init__(self) -> None:
        self.waiting: set[str] = set()  # tasks in input-required (the SDK gives no other hint)

    async def execute(self, ctx: RequestContext, q: EventQueue) -> None:
        assert ctx.message is not None and ctx.task_id and ctx.context_id
        text = ctx.get_user_input()
        word = text.split(" ", 1)[0]
        up = TaskUpdater(q, ctx.task_id, ctx.context_id)
        if ctx.task_id in self.waiting:  # the answer to "ask"
            self.waiting.discard(ctx.task_id)
            await up.start_work()
            await up.add_artifact([Part(text=f"hello, {text}")], name="greeting")
            await up.complete()
            return
        if word == "reply":
            await q.enqueue_event(Message(
                message_id="m-" + ctx.task_id, role=Role.ROLE_AGENT, context_id=ctx.context_id,
                parts=[Part(text="reply:" + text[6:])]))
            return
        await q.enqueue_event(new_task_from_user_message(ctx.message))
        if word == "ask":
            self.waiting.add(ctx.task_id)
            await up.requires_input(up.new_agent_message([Part(text="What is your name?")]))
        elif word == "slow":  # works until cancelled
            await up.start_work()
            await asyncio.sleep(60)
            await up.complete()
        elif word == "fail":
            await up.failed(up.new_agent_message([Part(text="it failed")]))
        elif word == "reject":
            await up.reject(up.new_agent_message([Part(text="not for me")]))
        elif word == "headers":
            seen = ctx.call_context.state.get("headers", {})
            await up.add_artifact([data_part({k: seen.get(k) for k in ECHOED_HEADERS})],
                                  name="headers")
            await up.complete()
        elif word == "meta":
            message_meta = MessageToDict(ctx.message).get("metadata")
            await up.add_artifact([data_part({"request": ctx.metadata or None,
                                              "message": message_meta})], name="meta")
            await up.complete()
        elif word == "data" or not text:
            values = [MessageToDict(p)["data"] for p in ctx.message.parts if p.HasField("data")]
            await up.add_artifact([data_part(v) for v in values], name="data")
            await up.complete()
        else:
            await up.start_work()
            await up.add_artifact([Part(text="echo:")], artifact_id="a1", name="echo")
            await up.add_artifact([Part(text=text)], artifact_id="a1", append=True,
                                  last_chunk=True)
            await up.complete()

    async def cancel(self, ctx: RequestContext, q: EventQueue) -> None:
        assert ctx.task_id and ctx.context_id
        self.waiting.discard(ctx.task_id)
        await TaskUpdater(q, ctx.task_id, ctx.context_id).cancel()


def build(base: str) -> Starlette:
    interfaces = [  # a 0.3 interface first: a 1.0 client must skip it
        AgentInterface(url=f"{base}/jsonrpc", protocol_binding="JSONRPC", protocol_version="0.3"),
        AgentInterface(url=f"{base}/jsonrpc", protocol_binding="JSONRPC", protocol_version="1.0"),
        AgentInterface(url=f"{base}/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"),
        AgentInterface(url=f"{base}/rest", protocol_binding="HTTP+JSON", protocol_version="0.3"),
    ]
    skill = AgentSkill(id="echo", name="Echo", description="echoes", tags=["echo"])
    card = AgentCard(
        name="Echo", description="echoes what it is told", version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=True, push_notifications=True,
                                       extended_agent_card=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"], skills=[skill])
    extended = AgentCard()
    extended.CopyFrom(card)
    extended.name = "Echo (extended)"
    push_store = InMemoryPushNotificationConfigStore()
    handler = DefaultRequestHandler(
        agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card,
        push_config_store=push_store,
        push_sender=BasePushNotificationSender(httpx.AsyncClient(), push_store),
        extended_agent_card=extended)
    routes = (create_agent_card_routes(card)
              + create_agent_card_routes(card, card_url="/legacy/.well-known/agent.json")
              + create_jsonrpc_routes(handler, rpc_url="/jsonrpc", enable_v0_3_compat=True)
              + create_rest_routes(handler, enable_v0_3_compat=True, path_prefix="/rest"))
    return Starlette(routes=routes)


@contextlib.contextmanager
def subprocess_server() -> Iterator[str]:
    """This server in a subprocess on a free port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"the SDK server exited:\n{out}")
            try:
                if httpx.get(base + "/.well-known/agent-card.json", timeout=0.5).is_success:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the SDK server did not start in 30s")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(build(f"http://127.0.0.1:{port}"), host="127.0.0.1", port=port,
                log_level="warning")
