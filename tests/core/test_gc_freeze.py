"""``gc_freeze``: once a served app has started, what was alive at startup is out of the
collector's sight (``gc.freeze``), once per process, and the young generation is collected
every ``gc_young_threshold`` allocations; garbage made afterwards is still collected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, gc, json, weakref
from fastagentic import App

def make():
    app = App(durable_store="memory://")

    @app.tool
    def add(a: int, b: int) -> int:
        return a + b

    return app

async def serve(app):
    # The ASGI lifespan, as a server drives it.
    inbox, outbox = asyncio.Queue(), asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                    "state": {}}, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    frozen = gc.get_freeze_count(), gc.get_threshold()[0]
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await task
    return frozen

class Node:
    pass

async def main():
    before = gc.get_freeze_count(), gc.get_threshold()[0]
    first = await serve(make())
    second = await serve(make())
    # A cycle made while serving goes with the young generation's next pass, not a full one.
    gc.collect()
    cycle = Node(); cycle.self = cycle; ref = weakref.ref(cycle); del cycle
    alive = [Node() for _ in range(gc.get_threshold()[0] + 1)]  # sets off a young pass
    young_pass = ref() is None
    del alive
    print(json.dumps({"before": before, "first": first, "second": second,
                      "cycle_collected": young_pass}))

asyncio.run(main())
"""


def served(tmp_path: Path, **env: str) -> dict[str, object]:
    import os

    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_first_served_app_freezes_what_startup_left_alive(tmp_path: Path) -> None:
    seen = served(tmp_path)
    assert seen["before"] == [0, 700]
    frozen, threshold = seen["first"]
    assert frozen > 10_000, "the modules and the app are frozen at startup"
    assert threshold == 10_000, "the young generation is collected in larger passes"
    # (frozen objects freed since, by their reference counts, leave the count)
    assert seen["second"][0] <= frozen, "only the first app of the process freezes"
    assert seen["cycle_collected"], "garbage made after startup is still collected"


def test_the_young_threshold_is_a_setting(tmp_path: Path) -> None:
    seen = served(tmp_path, FASTAGENTIC_GC_YOUNG_THRESHOLD="2000")
    assert seen["first"][1] == 2000 and seen["cycle_collected"]
    kept = served(tmp_path, FASTAGENTIC_GC_YOUNG_THRESHOLD="0")
    assert kept["first"][0] > 10_000 and kept["first"][1] == 700


def test_gc_freeze_off_leaves_the_collector_alone(tmp_path: Path) -> None:
    seen = served(tmp_path, FASTAGENTIC_GC_FREEZE="false")
    assert seen["first"] == [0, 700] and seen["second"] == [0, 700]
    assert seen["cycle_collected"]
