"""CrewAI adapter: 10,000 tokens through CrewAIAdapter to an SSE client vs CrewAI's own stream
(``Crew(stream=True)``) consumed directly in-process.

The crew is one agent with one task; its LLM is fastagentic's ``ScriptedLLM``, whose final
answer streams as exactly N chunks (``Thought: ... Final Answer: t0 t1 ...``), each one a
CrewAI ``LLMStreamChunkEvent``.  Runs in the CrewAI venv (``make test`` builds it):

* **served**: fastagentic serves this module's ``app`` (``python -m uvicorn adapters_crewai:app
  --app-dir bench`` with the settings of every bench, SQLite store in a temporary directory).
  ``CrewAIAdapter`` copies the crew, kicks it off with ``akickoff`` and turns every chunk into a
  ``token`` event that is sequenced, persisted and sent as SSE; the task is checkpointed.  The
  client (this script, a raw socket) POSTs ``{"n": N}`` to ``/crewai/stream`` and reads until
  the ``done`` frame; the frames are checked afterwards (N token frames whose text is the
  model's, gapless ids from 1, ``done`` last, the run completed in the store).
* **direct**: the same crew in this process, copied, ``stream = True``, ``await
  crew.akickoff(...)`` and ``async for chunk in`` its ``CrewStreamingOutput`` on a uvloop loop
  (as the server uses); the chunks counted and joined.

Reported: tokens/s of each path (median of the rounds, interleaved) and served / direct (goal
>= 0.8).

    .venv-crewai/bin/python bench/adapters_crewai.py [--tokens 10000] [--rounds 5]
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

# Before CrewAI is imported (here and in the server, which imports this module): offline.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
if "CREWAI_STORAGE_DIR" not in os.environ:
    os.environ["CREWAI_STORAGE_DIR"] = tempfile.mkdtemp(prefix="fa-bench-crewai-storage-")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import BENCH, Server, fmt_int, header, median, request, verdict, versions
from sse_throughput import check_token_run, stream_once

GOAL = 0.8


def words(n: int) -> str:
    return "".join(f"t{i % 10}" if i == 0 else f" t{i % 10}" for i in range(n))


def reply_text(n: int) -> str:
    """What the model streams: a final answer of exactly n chunks."""
    from fastagentic.testing.crewai import _WORDS, react

    return react(words(n - len(_WORDS.findall(react(""))) + 1))


def crew() -> Any:
    """The crew both paths run: one writer whose final answer is n chunks long."""
    from crewai import Agent, Crew, Task

    from fastagentic.testing.crewai import ScriptedLLM

    def respond(messages: list[dict[str, Any]], role: str | None) -> str:
        n = int(json.loads(str(messages[-1]["content"]).split("WORDS=", 1)[1].split()[0]))
        return reply_text(n).split("Final Answer: ", 1)[1]

    llm = ScriptedLLM(model="bench", respond=respond)
    writer = Agent(role="Writer", goal="Write", backstory="Fast.", llm=llm)
    task = Task(name="write", description="Write this many words: WORDS={n} .",
                expected_output="The words.", agent=writer)
    return Crew(agents=[writer], tasks=[task])


def build_app() -> Any:
    from fastagentic import App
    from fastagentic.adapters.crewai import CrewAIAdapter

    bench_app = App(title="CrewAI adapter bench", version="1.0.0")

    @bench_app.agent_endpoint("/crewai", runnable=CrewAIAdapter(crew()))
    async def crewai(n: int = 10_000) -> str:
        """Streams n chunks through CrewAIAdapter."""

    return bench_app


def __getattr__(name: str) -> Any:
    # ``uvicorn adapters_crewai:app`` builds the app; this script itself does not need it.
    if name == "app":
        globals()["app"] = value = build_app()
        return value
    raise AttributeError(name)


async def direct(template: Any, n: int) -> int:
    """CrewAI's own stream of a copy of the crew (as the adapter copies it): its chunks."""
    run = template.copy()
    run.stream = True
    streaming = await run.akickoff(inputs={"n": n})
    parts = [chunk.content async for chunk in streaming if chunk.content]
    if "".join(parts) != reply_text(n):
        raise RuntimeError("direct: the stream's text is not the model's")
    return len(parts)


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

    header(f"CrewAI adapter: {n:,} tokens per run, served over SSE vs CrewAI's stream "
           "in-process")
    print(versions("fastagentic", "crewai", "pydantic", "uvicorn", "uvloop"))
    template = crew()
    loop = new_loop()
    with tempfile.TemporaryDirectory(prefix="fa-bench-crewai-") as tmp:
        store = "sqlite:///" + os.path.join(tmp, "bench.db")
        server = Server("fastagentic", "adapters_crewai:app", BENCH,
                        env={"FASTAGENTIC_DURABLE_STORE": store})
        print(f"served: adapters_crewai:app, POST /crewai/stream {{\"n\": {n}}}, SQLite "
              "store (temporary); client: raw socket in this process")
        print("direct: the same crew in this process, copied, stream=True, akickoff() and "
              "its CrewStreamingOutput iterated on uvloop, chunks counted")
        rates: dict[str, list[float]] = {"served": [], "direct": []}
        try:
            server.start()
            # Warm-up: one unmeasured, checked run of each path.
            check_token_run("served", stream_once(server.port, "/crewai/stream", n).raw, n,
                            reply_text(n))
            loop.run_until_complete(direct(template, n))
            for i in range(args.rounds):
                order = list(rates) if i % 2 == 0 else list(reversed(rates))
                line = []
                for way in order:
                    if way == "served":
                        s = stream_once(server.port, "/crewai/stream", n)
                        run_id = check_token_run("served", s.raw, n, reply_text(n))
                        status, body = request("GET", f"{server.url}/runs/{run_id}")
                        if status != 200 or json.loads(body)["status"] != "completed":
                            raise RuntimeError(f"served: run {run_id} {body[:200]!r}")
                        elapsed = s.elapsed
                    else:
                        start = time.perf_counter()
                        got = loop.run_until_complete(direct(template, n))
                        elapsed = time.perf_counter() - start
                        if got != n:
                            raise RuntimeError(f"direct: {got} chunks, expected {n}")
                    rates[way].append(n / elapsed)
                    line.append(f"{way} {fmt_int(n / elapsed):>7} tokens/s ({elapsed:.3f}s)")
                print(f"  round {i + 1}: " + ", ".join(line))
            print(f"  checks: every served stream had exactly {n:,} token frames with the "
                  "model's text, ids gapless from 1, done last, the run completed; every "
                  "direct stream had the same text")
        finally:
            server.stop()
            loop.close()
    served, direct_rate = median(rates["served"]), median(rates["direct"])
    ratio = served / direct_rate
    print(f"median served {fmt_int(served)} tokens/s, direct {fmt_int(direct_rate)} tokens/s")
    print(f"ratio served/direct: {ratio:.3f}   (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
