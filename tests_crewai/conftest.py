"""CrewAI tests: they run in their own venv (``.venv-crewai``; ``make test`` builds it).

CrewAI pins ``pydantic<2.13`` and ``mcp<2``, which cannot share the main venv.  CrewAI is told
to stay offline and keep its files in a temporary directory before anything imports it.  The
main suite's helpers (``tests/conftest.py``) are loaded under another module name and
re-exported here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

os.environ.update({
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_STORAGE_DIR": tempfile.mkdtemp(prefix="fastagentic-crewai-"),
})
os.environ.pop("OPENAI_API_KEY", None)  # a crew that tried to reach OpenAI would fail loudly

import pytest

if os.environ.get("FASTAGENTIC_REQUIRE_SERVICES") == "1":
    import crewai  # noqa: F401  (in CI a venv without CrewAI fails, it does not skip)

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def crash_helpers() -> object:
    """``tests/test_crash_recovery.py``'s helpers (``read_sse``, ``poll``, ``get_run``,
    ``all_events``)."""
    name = "fastagentic_main_crash_helpers"
    if name in sys.modules:
        return sys.modules[name]
    return _load(name, ROOT / "tests" / "test_crash_recovery.py")


_helpers = _load("fastagentic_main_test_helpers", ROOT / "tests" / "conftest.py")
LiveServer = _helpers.LiveServer  # type: ignore[attr-defined]
load_app_file = _helpers.load_app_file  # type: ignore[attr-defined]
parse_sse = _helpers.parse_sse  # type: ignore[attr-defined]
running_client = _helpers.running_client  # type: ignore[attr-defined]
same_run_on_every_transport = _helpers.same_run_on_every_transport  # type: ignore[attr-defined]
wait_for = _helpers.wait_for  # type: ignore[attr-defined]
# fixtures
live_server = _helpers.live_server  # type: ignore[attr-defined]
server_process = _helpers.server_process  # type: ignore[attr-defined]

__all__ = ["ROOT", "LiveServer", "crash_helpers", "live_server", "load_app_file", "parse_sse",
           "running_client", "same_run_on_every_transport", "server_process", "wait_for"]


def pytest_configure(config: pytest.Config) -> None:
    # CrewAI warns about its own deprecated fields as it uses them; nothing for us to act on.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:crewai.*")
