"""Framework adapters: 10,000 tokens through each adapter to an SSE client vs the framework's
own stream consumed directly in-process.

Served path: fastagentic serves ``bench/apps/adapters_app.py`` (uvicorn, the settings of every
bench, SQLite store in a temporary directory); this script POSTs ``{"n": N}`` to
``/<framework>`` with ``Accept: text/event-stream`` and reads until the ``done`` frame.  Every
token is an event that is sequenced, persisted and streamed; the frames are checked afterwards
(N token frames, gapless ids from 1, ``done`` last, the run completed).

Direct path: the same agent object, in this process, its own stream consumed and the text
chunks counted.  PydanticAI has two: ``run_stream_events`` (its streaming API) and ``iter`` with
``node.stream`` (what the adapter drives, faster here); LangGraph ``astream(stream_mode=
"messages")`` on the graph compiled without a checkpointer.  Reported per framework: tokens/s
of each path, median of the rounds (interleaved), and served / the fastest direct path (goal
>= 0.8).

LangChain and CrewAI have their own scripts (``bench/adapters_langchain.py``, and
``bench/adapters_crewai.py`` for CrewAI's own virtualenv); this one runs them afterwards
(CrewAI only when ``.venv-crewai`` exists; ``make test`` creates it).

    .venv/bin/python bench/adapters.py [--tokens 10000] [--rounds 3] [--only pydanticai]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps"))

from _common import APPS, Server, fmt_int, header, median, request, verdict, versions  # noqa: E402
from sse_throughput import check_token_run, stream_once  # noqa: E402

GOAL = 0.8


async def direct_pydanticai(n: int) -> int:
    from adapters_app import agent
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

    count = 0
    async with agent.run_stream_events(json.dumps({"n": n})) as stream:
        async for event in stream:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                count += bool(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                count += bool(event.delta.content_delta)
    return count


async def direct_pydanticai_nodes(n: int) -> int:
    from adapters_app import agent
    from pydantic_ai import Agent
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

    count = 0
    async with agent.iter(json.dumps({"n": n})) as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        if isinstance(event, PartStartEvent) and isinstance(event.part,
                                                                            TextPart):
                            count += bool(event.part.content)
                        elif isinstance(event, PartDeltaEvent) and isinstance(
                                event.delta, TextPartDelta):
                            count += bool(event.delta.content_delta)
    return count


_compiled = None


async def direct_langgraph(n: int) -> int:
    global _compiled
    from adapters_app import graph

    if _compiled is None:
        _compiled = graph.compile()
    count = 0
    async for chunk, _ in _compiled.astream(
            {"messages": [{"role": "user", "content": json.dumps({"n": n})}]},
            stream_mode="messages"):
        count += bool(chunk.text)
    return count


DIRECT: dict[str, dict[str, Callable[[int], Awaitable[int]]]] = {
    "pydanticai": {"run_stream_events": direct_pydanticai, "iter+node.stream":
                   direct_pydanticai_nodes},
    "langgraph": {"astream": direct_langgraph},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=10_000, help="tokens per run (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per path (3)")
    parser.add_argument("--only", choices=sorted(DIRECT), action="append",
                        help="just this framework (repeatable)")
    args = parser.parse_args()
    n = args.tokens
    frameworks = args.only or list(DIRECT)

    header(f"Framework adapters: {n:,} tokens per run, served over SSE vs direct in-process")
    print(versions("fastagentic", "pydantic-ai-slim", "langgraph", "langchain-core", "uvicorn",
                   "uvloop"))
    loop = asyncio.new_event_loop()
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fa-bench-adapters-") as tmp:
        store = "sqlite:///" + os.path.join(tmp, "bench.db")
        server = Server("fastagentic", "adapters_app:app", APPS,
                        env={"FASTAGENTIC_DURABLE_STORE": store})
        print(f"served: adapters_app:app, POST /<framework> {{\"n\": {n}}}, SQLite store "
              "(temporary); client: raw socket in this process")
        print("direct: the same agent in this process, its own stream consumed (text chunks "
              "counted)")
        try:
            server.start()
            for framework in frameworks:
                path = f"/{framework}"
                # Warm-up: one unmeasured, checked run of each path.
                check_token_run(framework, stream_once(server.port, path, n).raw, n)
                for name, direct in DIRECT[framework].items():
                    if (got := loop.run_until_complete(direct(n))) != n:
                        raise RuntimeError(f"{framework} {name}: {got} chunks, expected {n}")
                ways = ["served", *DIRECT[framework]]
                rates: dict[str, list[float]] = {way: [] for way in ways}
                for i in range(args.rounds):
                    order = ways if i % 2 == 0 else ways[::-1]
                    line = []
                    for way in order:
                        if way == "served":
                            s = stream_once(server.port, path, n)
                            run_id = check_token_run(framework, s.raw, n)
                            status, body = request("GET", f"{server.url}/runs/{run_id}")
                            if status != 200 or json.loads(body)["status"] != "completed":
                                raise RuntimeError(f"{framework}: run {run_id} {body[:200]!r}")
                            elapsed = s.elapsed
                        else:
                            start = time.perf_counter()
                            got = loop.run_until_complete(DIRECT[framework][way](n))
                            elapsed = time.perf_counter() - start
                            if got != n:
                                raise RuntimeError(f"{framework} {way}: {got} chunks")
                        rates[way].append(n / elapsed)
                        line.append(f"{way} {fmt_int(n / elapsed):>7}/s ({elapsed:.3f}s)")
                    print(f"  {framework:<10} round {i + 1}: " + ", ".join(line))
                medians = {way: median(values) for way, values in rates.items()}
                fastest = max((w for w in ways if w != "served"), key=medians.__getitem__)
                ratios[framework] = medians["served"] / medians[fastest]
                print(f"  {framework:<10} medians: " + ", ".join(
                    f"{way} {fmt_int(rate)} tokens/s" for way, rate in medians.items()))
                print(f"  {framework:<10} served / {fastest} (the fastest direct path): "
                      f"{ratios[framework]:.3f} (goal >= {GOAL}: "
                      f"{verdict(ratios[framework] >= GOAL)})")
        finally:
            server.stop()
            loop.close()
    print("summary: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    if args.only:
        return 0
    here = os.path.dirname(os.path.abspath(__file__))
    others = [(sys.executable, os.path.join(here, "adapters_langchain.py"))]
    crewai_python = os.path.join(os.path.dirname(here), ".venv-crewai", "bin", "python")
    if os.path.exists(crewai_python):
        others.append((crewai_python, os.path.join(here, "adapters_crewai.py")))
    else:
        print("CrewAI: .venv-crewai does not exist (make test creates it); skipped")
    for python, script in others:
        print(flush=True)
        subprocess.run([python, script, "--tokens", str(n)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
