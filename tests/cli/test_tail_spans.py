"""``fastagentic tail --spans``: a real OTLP/HTTP receiver (a subprocess) prints the spans an
app exports to it as they arrive, nested, with the model, tokens and tool of each step."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import free_port
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from fastagentic import App
from fastagentic.adapters.pydanticai import PydanticAIAdapter
from fastagentic.telemetry import configure_otel


def start_receiver(port: int) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastagentic", "tail", "--spans", "--listen",
         f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout],
                     daemon=True).start()
    return proc, lines


def read_until(lines: queue.Queue[str], done, timeout: float = 20) -> list[str]:  # noqa: ANN001
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        try:
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
        except queue.Empty:
            raise AssertionError("spans did not arrive:\n" + "".join(seen)) from None
    return seen


async def test_spans_of_a_run_are_printed_as_they_arrive(tmp_path: Path) -> None:
    port = free_port()
    proc, lines = start_receiver(port)
    try:
        banner = read_until(lines, lambda seen: any("receiving spans" in s for s in seen))
        assert f"http://127.0.0.1:{port}/v1/traces" in banner[-1]
        app = App(title="traced", durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
        agent = Agent(TestModel(custom_output_text="done"))

        @agent.tool_plain
        def lookup(city: str) -> str:
            return f"sunny in {city}"

        @app.agent_endpoint("/weather", runnable=PydanticAIAdapter(agent))
        async def weather(message: str) -> str: ...

        watcher = configure_otel(app, service_name="weather-svc",
                                 exporter_endpoint=f"http://127.0.0.1:{port}")
        async with app.running():
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url="http://test")
            async with client:
                run = (await client.post("/weather", json={"message": "Paris?"})).json()
            assert run["status"] == "completed", run
            watcher.force_flush()
        seen = read_until(lines, lambda seen: any("run weather" in s for s in seen)
                          and any("execute_tool lookup" in s for s in seen)
                          and sum("chat test" in s for s in seen) >= 2)
        text = "".join(seen)
        spans = [s for s in seen if "weather-svc" in s]
        chat = [s for s in spans if "chat test" in s]
        assert all("model=test" in s and "in=" in s and "out=" in s for s in chat), text
        tool = [s for s in spans if "execute_tool lookup" in s]
        assert "tool=lookup" in tool[0] and run["run_id"] in tool[0], text
        assert any("POST /weather [server]" in s and "http=200" in s for s in spans), text
        # One trace: the request, the run and its steps (the first column is the trace id).
        assert len({s.split()[0] for s in spans}) == 1, text
        # A malformed export is refused, not printed.
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=b"\xff\x00garbage",
                         headers={"Content-Type": "application/x-protobuf"})
        assert bad.status_code == 400
        assert httpx.post(f"http://127.0.0.1:{port}/v1/metrics", content=b"").status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tail_without_a_run_or_spans_says_what_it_needs() -> None:
    out = subprocess.run([sys.executable, "-m", "fastagentic", "tail"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert "name the run to follow, or pass --spans" in out.stdout + out.stderr
