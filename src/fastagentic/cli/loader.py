"""Find the App a user means: ``module:attr`` or ``path/to/file.py[:attr]``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError

DEFAULT_FILES = ("app.py", "main.py")


def split_target(target: str | None) -> tuple[str, str | None, str | None]:
    """Return (module name, directory to import from or None, attribute or None)."""
    if not target:
        for name in DEFAULT_FILES:
            if Path(name).is_file():
                target = name
                break
        else:
            raise ConfigurationError(
                "no APP given and no app.py or main.py here; "
                "pass module:attr or path/to/file.py[:attr]")
    path_part, _, attr = target.partition(":")
    if path_part.endswith(".py") or os.sep in path_part or "/" in path_part:
        path = Path(path_part).resolve()
        if path.is_dir():
            path = path / "app.py"
        if not path.is_file():
            raise ConfigurationError(f"no such file: {path_part}")
        return path.stem, str(path.parent), attr or None
    return path_part, None, attr or None


def load_app(target: str | None) -> Any:
    from ..app import App

    module_name, directory, attr = split_target(target)
    if directory is not None and directory not in sys.path:
        sys.path.insert(0, directory)
    elif directory is None and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from exc
        raise
    if attr:
        try:
            obj = getattr(module, attr)
        except AttributeError:
            raise ConfigurationError(f"{module_name!r} has no attribute {attr!r}") from None
        if callable(obj) and not isinstance(obj, App):
            obj = obj()  # an app factory
        if not isinstance(obj, App):
            raise ConfigurationError(f"{module_name}:{attr} is not a fastagentic App")
        return obj
    apps = [v for v in vars(module).values() if isinstance(v, App)]
    if len(apps) != 1:
        found = "no App" if not apps else f"{len(apps)} Apps"
        raise ConfigurationError(f"{module_name!r} has {found}; name one as {module_name}:attr")
    return apps[0]
