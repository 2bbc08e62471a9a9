"""The agent the A2A TCKs expect, built with fastagentic's public API.

    A2A_TCK_LEGACY_CARD=0 fastagentic run examples/a2a_tck/app.py --port 9999
    ./run_tck.py --sut-host http://localhost:9999 --level must                 # 1.0 TCK
    fastagentic run examples/a2a_tck/app.py --port 9999
    ./run_tck.py --sut-url http://localhost:9999/a2a --category mandatory      # 0.3 TCK

(tests/protocols/a2a/test_tck.py does this; docs/a2a-protocol-notes.md §8 describes both TCKs.)

The TCKs tell the agent what to do through the prefix of the user message's ``messageId``:

* ``tck-*`` (the 1.0 TCK): complete, add a text / file / file-URL / data artifact, answer with
  a Message, ask for input, reject, or stream an artifact in two chunks (the longest matching
  prefix wins; any other ``tck-*`` id completes);
* ``test-resubscribe-message-id*`` (0.3): stay working for 2 x ``TCK_STREAMING_TIMEOUT``
  seconds, then complete;
* anything else (the 0.3 TCK's ids): ask for input, so the task stays open to follow-up
  messages and to cancel, as the 0.3 TCK assumes.

The latest message decides: a follow-up to a task waiting for input is routed by its own
``messageId`` (an open task answered with ``tck-complete-task-…`` completes).

Environment: ``TCK_STREAMING_TIMEOUT`` (seconds, default 2.0, as in the TCKs) and
``A2A_TCK_LEGACY_CARD`` (default 1). The 1.0 TCK validates ``/.well-known/agent-card.json``
against a strict schema, so its run sets 0 (the pure 1.0 card); the 0.3 TCK reads its
``url`` and ``protocolVersion`` from the same document, so its run keeps the 0.3 fields.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastagentic import App, Event, RunContext, agent_endpoint
from fastagentic.a2a import Reply, Skill, TaskRejected
from fastagentic.content import EmbeddedResource, ResourceLink

STREAMING_TIMEOUT = float(os.environ.get("TCK_STREAMING_TIMEOUT") or 2.0)
LEGACY_CARD = os.environ.get("A2A_TCK_LEGACY_CARD", "1").lower() not in ("0", "false", "no")

app = App(
    title="fastagentic A2A TCK agent",
    version="1.0.0",
    description="Behaves as the A2A TCKs (0.3 and 1.0) expect, keyed on the messageId prefix.",
    # The TCKs' webhook receivers listen on localhost: open the SSRF screen for them (dev only).
    a2a_push_allow_hosts=["localhost", "127.0.0.1"],
    a2a_card_legacy_fields=LEGACY_CARD,
)

OUTPUT_FILE = EmbeddedResource.blob("file:///output.txt", b"tck", "text/plain")
OUTPUT_URL = ResourceLink(uri="https://example.com/output.txt", name="output.txt",
                          mime_type="text/plain")


async def stay_open(ctx: RunContext) -> Any:
    """input-required, and again after every answer: the task never ends by itself."""
    while True:
        await ctx.ask("Send another message to continue, or cancel the task.")


async def reject(ctx: RunContext) -> Any:
    raise TaskRejected("rejected")


async def chunked(ctx: RunContext) -> Any:
    await ctx.token("chunk-1 ")
    await ctx.token("chunk-2")
    return "chunk-1 chunk-2"


async def long_running(ctx: RunContext) -> Any:
    # Something on the stream first, so a subscriber sees the task working before it ends.
    await ctx.emit(Event("node_start", {"node": "wait"}))
    await asyncio.sleep(2 * STREAMING_TIMEOUT)
    await ctx.emit(Event("node_end", {"node": "wait"}))
    return "Resubscribe test complete"


def answer(value: Any) -> Callable[[RunContext], Awaitable[Any]]:
    async def behaviour(ctx: RunContext) -> Any:
        return value
    return behaviour


#: messageId prefix -> what the agent does (docs/a2a-protocol-notes.md §8.2).
BEHAVIOURS: dict[str, Callable[[RunContext], Awaitable[Any]]] = {
    "tck-complete-task": answer("Hello from TCK"),
    "tck-artifact-text": answer("Generated text content"),
    "tck-artifact-file-url": answer(OUTPUT_URL),
    "tck-artifact-file": answer(OUTPUT_FILE),
    "tck-artifact-data": answer({"key": "value", "count": 42}),
    "tck-message-response": answer(Reply(text="Direct message response")),
    "tck-input-required": stay_open,
    "tck-reject-task": reject,
    "tck-stream-001": answer("Stream hello from TCK"),
    "tck-stream-002": answer(None),
    "tck-stream-003": answer("Stream task lifecycle"),
    "tck-stream-ordering-001": answer("Ordered output"),
    "tck-stream-artifact-text": answer("Streamed text content"),
    "tck-stream-artifact-file": answer(OUTPUT_FILE),
    "tck-stream-artifact-chunked": chunked,
    "tck-": answer("Hello from TCK"),  # any other 1.0 TCK id completes
    "test-resubscribe-message-id": long_running,
}
PREFIXES = sorted(BEHAVIOURS, key=len, reverse=True)  # tck-artifact-file-url before -file


def behaviour_for(message_id: str) -> Callable[[RunContext], Awaitable[Any]]:
    for prefix in PREFIXES:
        if message_id.startswith(prefix):
            return BEHAVIOURS[prefix]
    return stay_open


@agent_endpoint("/tck", default=True,
                a2a_skill=Skill(id="tck", name="TCK agent",
                                description="Acts on the messageId prefix as the A2A TCKs expect.",
                                tags=["tck", "conformance"],
                                examples=["Hello from the TCK"],
                                input_modes=["text/plain"],
                                output_modes=["text/plain", "application/json"]))
async def tck(message: str, ctx: RunContext) -> Any:
    """The TCK agent: what it does depends on the A2A messageId (see the module docstring)."""
    message_id = ctx.a2a.message_id if ctx.a2a is not None else ""
    return await behaviour_for(message_id)(ctx)
