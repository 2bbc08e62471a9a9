"""The CrewAI example app and the ``crewai`` project template, offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, load_app_file, running_client

pytest.importorskip("crewai")

EXAMPLE = ROOT / "examples" / "crewai_team" / "app.py"


async def test_the_example_crew_answers_offline() -> None:
    app = load_app_file(EXAMPLE, "memory://")
    async with running_client(app) as client:
        answer = (await client.post("/copy", json={"message": "a line for our kettle"})).json()
        events: list[dict[str, Any]] = (await client.get(
            f"/runs/{answer['run_id']}/events",
            headers={"Accept": "application/json"})).json()["events"]
        headers = {"Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-11-25"}
        init = await client.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"}}})
        headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
        await client.post("/mcp", headers=headers,
                          json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = (await client.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})).json()
    assert answer["status"] == "completed", answer
    assert answer["output"] == \
        "New in the shop: Kettle K2: 1.7 litres, boils in 3 minutes, 49 EUR. Order today!"
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["tool"], call["args"]) == ("catalog", {"product": "kettle"})
    assert result["output"] == "Kettle K2: 1.7 litres, boils in 3 minutes, 49 EUR"
    assert [e["node"] for e in events if e["type"] == "node_start"] == \
        ["research", "Product researcher", "write", "Copywriter"]
    assert {e["model"] for e in events if e["type"] == "cost"} == {"offline-copywriter"}
    assert "product_copy" in [t["name"] for t in tools["result"]["tools"]]


def test_the_crewai_template_project_passes_its_own_tests(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    created = subprocess.run(
        [sys.executable, "-m", "fastagentic", "new", "crew-service", "--template", "crewai",
         "--directory", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=60, env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    root = tmp_path / "crew-service"
    assert 'dependencies = ["fastagentic[crewai]' in (root / "pyproject.toml").read_text()
    assert "crew-service" in (root / "app.py").read_text()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           check=False, cwd=root, capture_output=True, text=True,
                           timeout=120, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b2 passed\b", tests.stdout), tests.stdout
