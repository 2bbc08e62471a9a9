"""The MCP Inspector (``@modelcontextprotocol/inspector`` 2.x, CLI mode) as a client.

It calls the quickstart's ``add`` tool over Streamable HTTP (a real ``fastagentic run``
process, /mcp) and over stdio (``fastagentic mcp serve``, launched by the Inspector).

The Inspector keeps state under ``~/.mcp-inspector/`` and can open a browser (web UI, OAuth).
Here it runs with HOME and all its storage paths inside tmp_path, ``--stored-auth-only`` (never
starts an interactive OAuth flow), and browser launchers on PATH that only leave a marker, so
the test checks it neither writes outside tmp_path nor tries to open a browser.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import QUICKSTART, REQUIRE_SERVICES, ROOT

from .conformance import Completed, NpmMissing, ensure_inspector, node_env, run

TIMEOUT = 60  # seconds per Inspector call; one takes about a second
BROWSERS = ("xdg-open", "open", "x-www-browser", "www-browser", "sensible-browser",
            "gnome-open", "kde-open", "wslview")


@pytest.fixture
def inspector(tmp_path: Path) -> Any:
    """``inspector(*args)`` runs ``mcp-inspector --cli --format json --stored-auth-only *args``."""
    try:
        binary = ensure_inspector()
        env = node_env()
    except NpmMissing as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(str(exc))
    home = tmp_path / "home"
    home.mkdir()
    shims = tmp_path / "browser-shims"
    shims.mkdir()
    opened = tmp_path / "browser-opened"
    for name in BROWSERS:
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> "{opened}"\nexit 1\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env.update({
        "HOME": str(home), "USERPROFILE": str(home),
        "MCP_STORAGE_DIR": str(tmp_path / "storage"),
        "MCP_CATALOG_PATH": str(tmp_path / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(tmp_path / "client.json"),
        "MCP_INSPECTOR_OAUTH_STATE_PATH": str(tmp_path / "oauth.json"),
        "BROWSER": str(shims / "xdg-open"),
        "PATH": os.pathsep.join([str(shims), env["PATH"]]),
        "NO_COLOR": "1", "CI": "1",
    })
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)

    def call(*args: str) -> Any:
        done: Completed = run([binary, "--cli", "--format", "json", "--stored-auth-only", *args],
                              timeout=TIMEOUT, env=env, cwd=ROOT, merge_stderr=False)
        assert done.returncode == 0, (f"exit {done.returncode}: {' '.join(done.args)}\n"
                                      f"{done.output}\n{done.stderr}")
        assert not opened.exists(), f"the Inspector tried to open a browser: {opened.read_text()}"
        assert list(home.iterdir()) == [], f"the Inspector wrote to HOME: {list(home.iterdir())}"
        return json.loads(done.output)

    return call


def check_add(call: Any, *target: str) -> None:
    tools = call("--method", "tools/list", *target)["result"]["tools"]
    add = next(t for t in tools if t["name"] == "add")
    assert add["inputSchema"]["required"] == ["a", "b"]
    result = call("--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=3",
                  *target)["result"]
    assert result["structuredContent"] == {"result": 5}
    assert result["content"] == [{"type": "text", "text": "5"}] and not result["isError"]


@pytest.mark.timeout(900)  # includes installing Node 22 and the Inspector on a clean machine
def test_inspector_over_http(inspector: Any, server_process: Any) -> None:
    server = server_process(QUICKSTART, "memory://").start()
    try:
        check_add(inspector, "--transport", "http", f"http://localhost:{server.port}/mcp")
    finally:
        server.kill()


@pytest.mark.timeout(900)
def test_inspector_over_stdio(inspector: Any) -> None:
    check_add(inspector, "--transport", "stdio", "--",
              sys.executable, "-m", "fastagentic", "mcp", "serve", str(QUICKSTART),
              "--store", "memory://")
