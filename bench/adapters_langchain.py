"""LangChain adapter: 10,000 tokens through LangChainAdapter to an SSE client vs the runnable's
own stream (``astream``) consumed directly in-process.

The runnable is one LCEL chain, ``messages | ScriptedChatModel | StrOutputParser``: the model
streams N words (``t0``, `` t1``, ... one chunk each).

* **served**: fastagentic serves this module's ``app`` (``python -m uvicorn adapters_langchain:app
  --app-dir bench`` with the settings of every bench, SQLite store in a temporary directory).
  ``LangChainAdapter`` runs the chain step by step through ``astream_events(version="v2")``;
  every chunk becomes a ``token`` event that is sequenced, persisted and sent as SSE, and each
  step is checkpointed.  The client (this script, a raw socket) POSTs ``{"n": N}`` to
  ``/langchain/stream`` and reads until the ``done`` frame; the frames are checked afterwards
  (N token frames whose text is the model's, gapless ids from 1, ``done`` last, the run
  completed in the store).
* **direct**: the same chain object in this process, ``async for chunk in chain.astream(...)``
  on a uvloop loop (as the server uses), the non-empty chunks counted and joined.

* **model** (context, a stricter baseline): the chain's model step alone in this process,
  ``model.astream(messages)``, without the chain around it.

Reported: tokens/s of each path (median of the rounds, interleaved), served / direct
(goal >= 0.8) and served / model (context).

    .venv/bin/python bench/adapters_langchain.py [--tokens 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import BENCH, Server, fmt_int, header, median, request, verdict, versions
from sse_throughput import check_token_run, stream_once

GOAL = 0.8


def words(n: int) -> str:
    return "".join(f"t{i % 10}" if i == 0 else f" t{i % 10}" for i in range(n))


def chain() -> Any:
    """The runnable both paths consume: messages → scripted model (n words) → text."""
    from langchain_core.messages import HumanMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableLambda

    from fastagentic.testing.langchain import ScriptedChatModel

    def reply(messages: list[Any]) -> str:
        return words(json.loads(str(messages[-1].content))["n"])

    model = ScriptedChatModel(respond=reply, model_name="bench")
    to_messages = RunnableLambda(lambda body: [HumanMessage(json.dumps(body))], name="messages")
    return to_messages | model | StrOutputParser()


def build_app() -> Any:
    from fastagentic import App
    from fastagentic.adapters.langchain import LangChainAdapter

    bench_app = App(title="LangChain adapter bench", version="1.0.0")

    @bench_app.agent_endpoint("/langchain", runnable=LangChainAdapter(chain()))
    async def langchain(n: int = 10_000) -> str:
        """Streams n words through LangChainAdapter."""

    return bench_app


def __getattr__(name: str) -> Any:
    # ``uvicorn adapters_langchain:app`` builds the app; this script itself does not need it.
    if name == "app":
        globals()["app"] = value = build_app()
        return value
    raise AttributeError(name)


async def direct(runnable: Any, n: int) -> int:
    """The chain's own stream: its text chunks."""
    parts = []
    async for chunk in runnable.astream({"n": n}):
        if chunk:
            parts.append(chunk)
    if "".join(parts) != words(n):
        raise RuntimeError("direct: the stream's text is not the words expected")
    return len(parts)


async def model_only(runnable: Any, n: int) -> int:
    """The model step's own stream alone (no prompt step, no parser): the stricter baseline."""
    model = runnable.steps[1]
    messages = runnable.steps[0].invoke({"n": n})
    parts = []
    async for chunk in model.astream(messages):
        if chunk.text:
            parts.append(str(chunk.text))
    if "".join(parts) != words(n):
        raise RuntimeError("model: the stream's text is not the words expected")
    return len(parts)


PATHS = {"direct": direct, "model": model_only}


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=10_000, help="tokens per run (10000)")
    parser.add_argument("--rounds", type=int, default=5, help="measured runs per path (5)")
    args = parser.parse_args()
    n = args.tokens

    header(f"LangChain adapter: {n:,} tokens per run, served over SSE vs astream in-process")
    print(versions("fastagentic", "langchain-core", "uvicorn", "uvloop"))
    runnable = chain()
    loop = new_loop()
    with tempfile.TemporaryDirectory(prefix="fa-bench-langchain-") as tmp:
        store = "sqlite:///" + os.path.join(tmp, "bench.db")
        server = Server("fastagentic", "adapters_langchain:app", BENCH,
                        env={"FASTAGENTIC_DURABLE_STORE": store})
        print(f"served: adapters_langchain:app, POST /langchain/stream {{\"n\": {n}}}, SQLite "
              "store (temporary); client: raw socket in this process")
        print("direct: the same chain in this process, chain.astream() on uvloop, chunks "
              "counted")
        print("model (context): the chain's model step alone in this process, "
              "model.astream(messages), text chunks counted")
        rates: dict[str, list[float]] = {"served": [], "direct": [], "model": []}
        try:
            server.start()
            # Warm-up: one unmeasured, checked run of each path.
            check_token_run("served", stream_once(server.port, "/langchain/stream", n).raw, n,
                            words(n))
            for way in PATHS.values():
                loop.run_until_complete(way(runnable, n))
            for i in range(args.rounds):
                order = list(rates) if i % 2 == 0 else list(reversed(rates))
                line = []
                for way in order:
                    if way == "served":
                        s = stream_once(server.port, "/langchain/stream", n)
                        run_id = check_token_run("served", s.raw, n, words(n))
                        status, body = request("GET", f"{server.url}/runs/{run_id}")
                        if status != 200 or json.loads(body)["status"] != "completed":
                            raise RuntimeError(f"served: run {run_id} {body[:200]!r}")
                        elapsed = s.elapsed
                    else:
                        start = time.perf_counter()
                        got = loop.run_until_complete(PATHS[way](runnable, n))
                        elapsed = time.perf_counter() - start
                        if got != n:
                            raise RuntimeError(f"{way}: {got} chunks, expected {n}")
                    rates[way].append(n / elapsed)
                    line.append(f"{way} {fmt_int(n / elapsed):>7} tokens/s ({elapsed:.3f}s)")
                print(f"  round {i + 1}: " + ", ".join(line))
            print(f"  checks: every served stream had exactly {n:,} token frames with the "
                  "model's text, ids gapless from 1, done last, the run completed; every "
                  "direct and model stream had the same text")
        finally:
            server.stop()
            loop.close()
    served, direct_rate = median(rates["served"]), median(rates["direct"])
    model_rate = median(rates["model"])
    ratio = served / direct_rate
    print(f"median served {fmt_int(served)} tokens/s, direct {fmt_int(direct_rate)} tokens/s, "
          f"model {fmt_int(model_rate)} tokens/s")
    print(f"ratio served/direct: {ratio:.3f}   (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    print(f"ratio served/model: {served / model_rate:.3f}   (context)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
