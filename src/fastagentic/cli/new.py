"""``fastagentic new NAME``: a runnable project with its own passing test."""

from __future__ import annotations

import re
from pathlib import Path

from .. import __version__
from ..exceptions import ConfigurationError

APP = '''"""{name}: a fastagentic service."""

from pydantic import BaseModel

from fastagentic import App, Example, RunContext, agent_endpoint, tool

app = App(title="{name}", version="0.1.0")


@tool(examples=[Example({{"text": "hello world"}}, output=2)])
def count_words(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


class AskIn(BaseModel):
    question: str


@agent_endpoint("/ask", examples=[Example({{"question": "how many words is this"}})])
async def ask(body: AskIn, ctx: RunContext):
    """Answers by counting words (replace with your agent: PydanticAI, LangGraph, ...)."""
    words = await ctx.call_tool("count_words", {{"text": body.question}})
    for piece in ("Your ", "question ", "has ", f"{{words}} ", "words."):
        yield piece
'''

TEST = '''from fastagentic.testing import app_client

from app import app


async def test_tool():
    async with app_client(app, durable_store="memory://") as client:
        response = await client.post("/tools/count_words", json={{"text": "a b c"}})
        assert response.status_code == 200
        assert response.json() == {{"result": 3}}


async def test_agent_streams_and_finishes():
    async with app_client(app, durable_store="memory://") as client:
        response = await client.post("/ask", json={{"question": "one two three"}})
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "completed"
        assert body["output"] == "Your question has 3 words."
'''

PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["fastagentic>={version}"]

[project.optional-dependencies]
test = ["fastagentic[test]>={version}"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
pythonpath = ["."]
'''

README = '''# {name}

A fastagentic service.

```bash
fastagentic run app.py          # serve on http://127.0.0.1:8000 (docs at /docs)
fastagentic test app.py         # check schemas and run the declared examples
pytest                          # the project's tests
```
'''

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def create_project(name: str, parent: Path) -> Path:
    if not NAME_RE.match(name):
        raise ConfigurationError(
            f"invalid project name {name!r}: start with a letter; letters, digits, '-', '_'")
    root = parent / name
    if root.exists() and any(root.iterdir()):
        raise ConfigurationError(f"{root} exists and is not empty")
    (root / "tests").mkdir(parents=True, exist_ok=True)
    files = {
        "app.py": APP,
        "tests/test_app.py": TEST,
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        ".gitignore": ".venv/\n__pycache__/\n.fastagentic/\n",
    }
    for rel, template in files.items():
        (root / rel).write_text(template.format(name=name, version=__version__))
    return root
