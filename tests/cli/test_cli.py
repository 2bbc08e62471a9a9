"""The ``fastagentic`` command line: new, test, run, tail, version.

Commands run in process through ``typer.testing.CliRunner`` where they can; a real server (for
``run`` and as the target of ``tail``) runs as a subprocess.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import fastagentic
from fastagentic.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart" / "app.py"
APPS = ROOT / "tests" / "apps"
SLOW_APP = APPS / "slow_stream.py"
WRONG_APP = APPS / "wrong_example.py"
WIDE = {"COLUMNS": "300", "NO_COLOR": "1"}


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    """The CLI imports user apps by file stem (``app``); forget them after each test."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    roots = (str(ROOT / "examples"), str(APPS), str(tmp_path))
    for name in set(sys.modules) - modules:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if file.startswith(roots):
            del sys.modules[name]
    sys.path[:] = path
    # fastagentic keeps weak references to Apps by module name: let the forgotten ones go
    gc.collect()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), env={**WIDE, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the command raised {result.exception!r}\n{result.output}") \
            from result.exception
    return result


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastagentic", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **WIDE})


# version


def test_version_prints_the_version() -> None:
    result = invoke("version")
    assert result.exit_code == 0
    assert result.output.strip() == fastagentic.__version__ == dist_version("fastagentic")


def test_no_arguments_shows_help() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code != 0 or "Usage" in result.output
    for command in ("run", "new", "tail", "test", "version"):
        assert command in result.output


# new


def test_new_creates_a_project_whose_own_tests_pass(tmp_path: Path) -> None:
    result = invoke("new", "my-service", "--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-service"
    assert str(root) in result.output
    for rel in ("app.py", "tests/test_app.py", "pyproject.toml", "README.md", ".gitignore"):
        assert (root / rel).is_file(), rel
    assert 'name = "my-service"' in (root / "pyproject.toml").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, timeout=60, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b2 passed\b", tests.stdout), tests.stdout


@pytest.mark.parametrize("template", ["pydanticai", "langgraph"])
def test_new_framework_templates_generate_projects_whose_tests_pass(tmp_path: Path,
                                                                    template: str) -> None:
    result = invoke("new", "agent-svc", "--template", template, "--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = tmp_path / "agent-svc"
    assert f'"fastagentic[{template}]>=' in (root / "pyproject.toml").read_text()
    assert "agent-svc" in (root / "app.py").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b1 passed\b", tests.stdout), tests.stdout
    checked = invoke("test", str(root / "app.py"))
    assert checked.exit_code == 0, checked.output


def test_new_refuses_an_unknown_template(tmp_path: Path) -> None:
    result = invoke("new", "svc", "--template", "autogen", "--directory", str(tmp_path))
    assert result.exit_code != 0
    assert "unknown template 'autogen'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_project_passes_fastagentic_test(tmp_path: Path) -> None:
    assert invoke("new", "svc", "--directory", str(tmp_path)).exit_code == 0
    result = invoke("test", str(tmp_path / "svc" / "app.py"))
    assert result.exit_code == 0, result.output
    assert re.search(r"\b[1-9]\d* passed, 0 failed\b", result.output), result.output


def test_new_in_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("new", "empty", "--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "app.py").is_file()


@pytest.mark.parametrize("name", ["1service", "has space", "a/b", "../escape", "dot.name",
                                  "x" * 65, "naïve"])
def test_new_refuses_an_invalid_name(tmp_path: Path, name: str) -> None:
    result = invoke("new", name, "--directory", str(tmp_path))
    assert result.exit_code != 0
    assert "invalid project name" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "escape").exists()


def test_new_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    result = invoke("new", "taken", "--directory", str(tmp_path))
    assert result.exit_code != 0
    assert "exists and is not empty" in result.output
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]
    assert (existing / "notes.txt").read_text() == "keep me"


# test


def test_test_command_passes_on_the_quickstart() -> None:
    result = invoke("test", str(QUICKSTART))
    assert result.exit_code == 0, result.output
    match = re.search(r"\b(\d+) passed, (\d+) failed\b", result.output)
    assert match, result.output
    assert int(match.group(1)) > 0 and match.group(2) == "0"
    assert "FAIL" not in result.output
    assert "output matches" in result.output  # add's declared example was checked
    for name in ("add", "triage_ticket", "chat", "refund"):
        assert name in result.output


def test_test_command_fails_on_a_wrong_example_output() -> None:
    result = invoke("test", str(WRONG_APP))
    assert result.exit_code == 1, result.output
    assert re.search(r"\b1 failed\b", result.output), result.output
    assert "FAIL" in result.output
    assert "expected 4, got 3" in result.output
    assert "Traceback" not in result.output


def test_test_command_with_a_missing_file() -> None:
    result = invoke("test", "no/such/app.py")
    assert result.exit_code != 0
    assert "no such file" in result.output
    assert "Traceback" not in result.output


# run


def test_run_with_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = invoke("run", str(tmp_path / "missing.py"))
    assert result.exit_code != 0
    assert "error:" in result.output and "no such file" in result.output
    assert "Traceback" not in result.output


def test_run_with_a_missing_attribute_fails_clearly() -> None:
    result = invoke("run", f"{QUICKSTART}:missing_attr")
    assert result.exit_code != 0
    assert "error:" in result.output and "missing_attr" in result.output
    assert "Traceback" not in result.output


def test_run_with_an_unknown_module_fails_clearly(tmp_path: Path) -> None:
    result = invoke("run", "no_such_module_here:app")
    assert result.exit_code != 0
    assert "error:" in result.output and "no_such_module_here" in result.output


def test_run_errors_in_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    for target, words in ((f"{QUICKSTART}:missing_attr", "missing_attr"),
                          (str(tmp_path / "nope.py"), "no such file")):
        done = run_cli("run", target, "--port", "1")
        assert done.returncode != 0
        assert words in done.stderr
        assert "Traceback" not in done.stderr + done.stdout


def test_run_serves_the_quickstart(server_process: Any, tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    server = server_process(QUICKSTART, f"sqlite:///{db}").start()
    try:
        health = httpx.get(server.url + "/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["title"] == "Quickstart"
        added = httpx.post(server.url + "/tools/add", json={"a": 2, "b": 3}, timeout=5)
        assert added.status_code == 200 and added.json() == {"result": 5}
        ready = httpx.get(server.url + "/health/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["store"] == "sqlite"
        run = httpx.post(server.url + "/chat", json={"message": "what is 2 + 3?"}, timeout=10)
        assert run.status_code == 200 and run.json()["status"] == "completed"
        assert db.is_file(), "--store was not used"
    finally:
        server.stop()


# tail


def start_run(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url + path, json=body, timeout=20)
    assert response.status_code == 200, response.text
    return response.json()


def stored_events(url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/runs/{run_id}/events", headers={"Accept": "application/json"},
                         timeout=10)
    assert response.status_code == 200
    return response.json()["events"]


@pytest.fixture
def tail_server(server_process: Any, tmp_path: Path) -> Iterator[Any]:
    server = server_process(SLOW_APP, f"sqlite:///{tmp_path / 'tail.db'}").start()
    try:
        yield server
    finally:
        server.stop()


def raw_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_tail_raw_prints_every_event_and_exits_by_status(tail_server: Any) -> None:
    url = tail_server.url
    completed = start_run(url, "/echo", {"message": "one two three"})
    assert completed["status"] == "completed"
    result = invoke("tail", completed["run_id"], "--url", url, "--raw")
    assert result.exit_code == 0, result.output
    printed = raw_lines(result.stdout)
    assert printed == stored_events(url, completed["run_id"])
    assert [e["seq"] for e in printed] == list(range(1, len(printed) + 1))
    assert printed[-1]["type"] == "done" and printed[-1]["status"] == "completed"

    # --after skips what the caller has
    result = invoke("tail", completed["run_id"], "--url", url, "--raw", "--after", "2")
    assert result.exit_code == 0
    assert raw_lines(result.stdout) == printed[2:]

    failed = start_run(url, "/fail", {"reason": "kaput"})
    assert failed["status"] == "failed"
    result = invoke("tail", failed["run_id"], "--url", url, "--raw")
    assert result.exit_code == 1, result.output
    printed = raw_lines(result.stdout)
    assert printed == stored_events(url, failed["run_id"])
    assert [e["type"] for e in printed][-2:] == ["error", "done"]
    assert printed[-1]["status"] == "failed"

    result = invoke("tail", "run_does_not_exist", "--url", url, "--raw")
    assert result.exit_code == 2
    assert "unknown run" in result.output


def test_tail_follows_a_live_run_to_the_end(tail_server: Any) -> None:
    url = tail_server.url
    response = httpx.post(url + "/stream", json={"tokens": 150, "delay": 0.005},
                          headers={"Prefer": "respond-async"}, timeout=10)
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    result = invoke("tail", run_id, "--url", url, "--raw")
    assert result.exit_code == 0, result.output
    printed = raw_lines(result.stdout)
    assert [e["seq"] for e in printed] == list(range(1, len(printed) + 1))
    text = "".join(e["content"] for e in printed if e["type"] == "token")
    assert text == "".join(f"w{i} " for i in range(150))
    assert printed == stored_events(url, run_id)


def test_tail_pretty_prints_tokens_and_event_lines(tail_server: Any) -> None:
    url = tail_server.url
    completed = start_run(url, "/echo", {"message": "hello tail world"})
    result = invoke("tail", completed["run_id"], "--url", url)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "hello tail world " in out
    assert re.search(r"\[\s*1\] run started on echo", out), out
    assert re.search(r"\[\s*2\] status running, attempt 1", out), out
    assert re.search(r"\[\s*\d+\] done: completed", out), out
    # the tokens are printed as text, not as event lines
    assert '"type": "token"' not in out and '"type":"token"' not in out

    failed = start_run(url, "/fail", {"reason": "kaput"})
    result = invoke("tail", failed["run_id"], "--url", url)
    assert result.exit_code == 1
    assert "about to fail" in result.stdout
    assert "error run_failed: RuntimeError: kaput" in result.stdout
    assert "done: failed" in result.stdout


def test_long_running_commands_run_on_uvloop() -> None:
    """``fastagentic worker`` and ``mcp serve`` run on uvloop, as uvicorn serves the API."""
    import asyncio

    import uvloop

    from fastagentic.cli.worker import run_service

    async def loop_kind() -> type:
        return type(asyncio.get_running_loop())

    assert run_service(loop_kind()) is uvloop.Loop
