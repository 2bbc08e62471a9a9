"""An app for the a2a-sdk client tests (``tests/protocols/a2a/test_sdk_client.py``).

Every agent endpoint is an A2A skill; the tests pick one with ``message.metadata.skill``.
Agents that run for a while talk to the test through files in ``$A2A_SDK_DIR``:
``{task_id}.count`` is a side-effect counter (one write per step), ``{task_id}.ready`` says a
gated agent has reached its gate, and the test creates ``{task_id}.go`` to open it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from fastagentic import App, RunContext, agent_endpoint
from fastagentic.a2a import Reply, Skill

SIGNALS = Path(os.environ.get("A2A_SDK_DIR", "."))
#: The gated agent's text before and after its gate.
GATED_BEFORE = ["a0 ", "a1 ", "a2 "]
GATED_AFTER = ["b0 ", "b1 ", "b2 "]
TICK = 0.01

app = App(title="A2A SDK tests", version="1.2.3", description="Agents for the a2a-sdk tests.",
          a2a_push_allow_hosts=["127.0.0.1", "localhost"])


@agent_endpoint("/echo", default=True,
                a2a_skill=Skill(id="echo", name="Echo", description="Echoes the text back.",
                                tags=["test", "echo"], examples=["hello"],
                                input_modes=["text/plain"], output_modes=["text/plain"]))
async def echo(message: str, ctx: RunContext) -> str:
    """Answers ``echo: <text>`` in one final artifact."""
    return f"echo: {message}"


@agent_endpoint("/words", a2a_skill="words")
async def words(message: str, ctx: RunContext) -> str:
    """Streams the text back word by word; the output is the streamed text."""
    text = ""
    for word in message.split():
        await ctx.token(word + " ")
        text += word + " "
    return text


@agent_endpoint("/gated")
async def gated(message: str, ctx: RunContext) -> str:
    """Streams three words, waits for ``{task_id}.go``, streams three more."""
    for word in GATED_BEFORE:
        await ctx.token(word)
    (SIGNALS / f"{ctx.run_id}.ready").touch()
    while not (SIGNALS / f"{ctx.run_id}.go").exists():
        await asyncio.sleep(TICK)
    for word in GATED_AFTER:
        await ctx.token(word)
    return "".join(GATED_BEFORE + GATED_AFTER)


@agent_endpoint("/ticker", a2a_skill="ticker")
async def ticker(message: str, ctx: RunContext) -> str:
    """Counts up in ``{task_id}.count`` every 10 ms for up to 30 s."""
    counter = SIGNALS / f"{ctx.run_id}.count"
    scratch = SIGNALS / f"{ctx.run_id}.count.tmp"
    for i in range(3000):
        scratch.write_text(str(i + 1))
        scratch.replace(counter)  # atomic: a reader never sees a half-written number
        await asyncio.sleep(TICK)
    return "ticked"


@agent_endpoint("/ask", a2a_skill="ask")
async def ask(message: str, ctx: RunContext) -> str:
    """Asks which order, then answers ``order <answer>``."""
    answer = await ctx.ask("Which order?")
    return f"order {answer}"


@agent_endpoint("/reply", a2a_skill="reply")
async def reply(message: str, ctx: RunContext) -> str | Reply:
    """Answers with an A2A Message, not a Task."""
    return Reply(text=f"reply: {message}")


@agent_endpoint("/whoami", a2a_skill="whoami")
async def whoami(message: str, ctx: RunContext) -> dict[str, Any]:
    """What the agent sees of its A2A request (``ctx.a2a``), as a data part."""
    info = ctx.a2a
    if info is None:
        raise RuntimeError("whoami only answers A2A requests")
    return {"task_id": info.task_id, "context_id": info.context_id, "skill": info.skill,
            "message_id": info.message_id, "text": info.text}
