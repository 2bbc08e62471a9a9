"""The bare decorators: ``from fastagentic import tool`` then ``@tool``.

They register with the App created in the same module (before or after the decorated
function); definitions in other modules join an App with ``app.include(module)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .app import register_bare


def tool(fn: Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
    if fn is not None:
        return register_bare("tool", fn, (), options)
    return lambda f: register_bare("tool", f, (), options)


def resource(uri: str | Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
    if callable(uri):
        return register_bare("resource", uri, (), options)
    args = (uri,) if uri is not None else ()
    return lambda f: register_bare("resource", f, args, options)


def prompt(fn: Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
    if fn is not None:
        return register_bare("prompt", fn, (), options)
    return lambda f: register_bare("prompt", f, (), options)


def agent_endpoint(path: str, /, **options: Any):  # noqa: ANN201
    return lambda f: register_bare("agent_endpoint", f, (path,), options)
