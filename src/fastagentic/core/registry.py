"""The registry: every definition of one App, by kind and name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exceptions import ConfigurationError
from .specs import AgentSpec, PromptSpec, ResourceSpec, Spec, ToolSpec

Listener = Callable[[str, str, str], Any]  # (change, kind, name)


class Registry:
    def __init__(self) -> None:
        self.tools: dict[str, ToolSpec] = {}
        self.resources: dict[str, ResourceSpec] = {}
        self.prompts: dict[str, PromptSpec] = {}
        self.agents: dict[str, AgentSpec] = {}
        self.version = 0
        self._listeners: list[Listener] = []

    def _table(self, kind: str) -> dict[str, Any]:
        tables = {
            "tool": self.tools,
            "resource": self.resources,
            "prompt": self.prompts,
            "agent": self.agents,
        }
        try:
            return tables[kind]
        except KeyError:
            raise ConfigurationError(f"unknown definition kind {kind!r}") from None

    def add(self, spec: Spec) -> Spec:
        table = self._table(spec.kind)
        if spec.name in table:
            raise ConfigurationError(f"a {spec.kind} named {spec.name!r} is already registered")
        if isinstance(spec, AgentSpec):
            for other in self.agents.values():
                if other.path == spec.path:
                    raise ConfigurationError(f"agent endpoint path {spec.path!r} is taken")
        table[spec.name] = spec
        self._changed("added", spec.kind, spec.name)
        return spec

    def remove(self, kind: str, name: str) -> Spec:
        table = self._table(kind)
        try:
            spec = table.pop(name)
        except KeyError:
            raise ConfigurationError(f"no {kind} named {name!r}") from None
        self._changed("removed", kind, name)
        return spec

    def all(self) -> list[Spec]:
        return [*self.tools.values(), *self.resources.values(), *self.prompts.values(),
                *self.agents.values()]

    def agent_by_path(self, path: str) -> AgentSpec | None:
        for spec in self.agents.values():
            if spec.path == path:
                return spec
        return None

    def default_agent(self) -> AgentSpec | None:
        for spec in self.agents.values():
            if spec.default:
                return spec
        return next(iter(self.agents.values()), None)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, change: str, kind: str, name: str) -> None:
        self.version += 1
        for listener in self._listeners:
            listener(change, kind, name)
