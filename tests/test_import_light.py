"""``import fastagentic`` stays light: web servers, CLI libraries, store drivers and agent
frameworks are loaded only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Top-level packages of the agent frameworks (and their model clients) fastagentic adapts.
AGENT_FRAMEWORKS = ("pydantic_ai", "langgraph", "langchain", "langchain_core", "crewai",
                    "openai", "anthropic", "llama_index", "autogen", "agents")


def modules_after(statement: str, cwd: Path) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


def test_import_fastagentic_is_light(tmp_path: Path) -> None:
    modules = modules_after("import fastagentic\nassert fastagentic.__version__", tmp_path)
    assert "fastagentic" in modules
    heavy = ["uvicorn", "rich", "typer", "fastapi", "starlette", "sqlite3", "_sqlite3",
             "httpx", *AGENT_FRAMEWORKS]
    assert [p for p in heavy if loaded(modules, p)] == []


def test_importing_app_does_not_load_the_server_the_cli_or_sqlite(tmp_path: Path) -> None:
    modules = modules_after("from fastagentic import App\nassert App", tmp_path)
    assert "fastagentic.app" in modules
    heavy = ["uvicorn", "rich", "typer", "sqlite3", "_sqlite3", *AGENT_FRAMEWORKS]
    assert [p for p in heavy if loaded(modules, p)] == []


@pytest.mark.parametrize("statement", [
    "from fastagentic import tool, resource, prompt, agent_endpoint, RunContext, Example",
    "from fastagentic import App\napp = App(title='x')",
])
def test_defining_an_app_does_not_load_the_server_or_cli(tmp_path: Path,
                                                         statement: str) -> None:
    modules = modules_after(statement, tmp_path)
    heavy = ["uvicorn", "rich", "typer", "sqlite3", *AGENT_FRAMEWORKS]
    assert [p for p in heavy if loaded(modules, p)] == []


@pytest.mark.parametrize(("module", "blocked", "extra"), [
    ("fastagentic.adapters.pydanticai", "pydantic_ai", "pydanticai"),
    ("fastagentic.adapters.langgraph", "langgraph", "langgraph"),
    ("fastagentic.adapters.langchain", "langchain_core", "langchain"),
    ("fastagentic.testing.langchain", "langchain_core", "langchain"),
    ("fastagentic.adapters.crewai", "crewai", "crewai"),
    ("fastagentic.stores.s3", "aiobotocore", "s3"),
])
def test_an_adapter_without_its_framework_names_the_extra(module: str, blocked: str,
                                                          extra: str) -> None:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            f"try:\n    import {module}\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingDependency "), done.stdout
    assert f'pip install "fastagentic[{extra}]"' in done.stdout
