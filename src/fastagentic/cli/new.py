"""``fastagentic new NAME --template T``: a runnable project with its own passing tests.

Each template is a folder under ``templates/``: its files (``.tmpl`` suffix dropped) become the
project, with ``{{project}}`` replaced by the project's name.  ``pyproject.toml`` and
``.gitignore`` are written here, with the template's extra as the dependency.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .. import __version__
from ..exceptions import ConfigurationError

#: Template → the fastagentic extra its project depends on.
TEMPLATES = {
    "function": None,
    "pydanticai": "pydanticai",
    "langgraph": "langgraph",
    "langchain": "langchain",
    "crewai": "crewai",
}

PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["{requirement}"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.24"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
pythonpath = ["."]
'''

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for item in folder.iterdir():
        if item.name == "__pycache__":
            continue
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            found.extend(_files(item, rel + "/"))
        else:
            found.append((rel.removesuffix(".tmpl"), item.read_text()))
    return found


def create_project(name: str, parent: Path, template: str = "function") -> Path:
    if not NAME_RE.match(name):
        raise ConfigurationError(
            f"invalid project name {name!r}: start with a letter; letters, digits, '-', '_'")
    if template not in TEMPLATES:
        raise ConfigurationError(
            f"unknown template {template!r}: choose one of {', '.join(TEMPLATES)}")
    root = parent / name
    if root.exists() and any(root.iterdir()):
        raise ConfigurationError(f"{root} exists and is not empty")
    extra = TEMPLATES[template]
    requirement = f"fastagentic[{extra}]>={__version__}" if extra else \
        f"fastagentic>={__version__}"
    files = _files(resources.files("fastagentic.cli") / "templates" / template)
    files += [("pyproject.toml", PYPROJECT.format(name=name, requirement=requirement)),
              (".gitignore", ".venv/\n__pycache__/\n.fastagentic/\n")]
    for rel, text in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{{project}}", name))
    return root
