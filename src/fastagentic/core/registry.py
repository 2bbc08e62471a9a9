"""The registry: every definition of one App, by kind and name."""

from __future__ import annotations

from typing import Any

from ..exceptions import ConfigurationError
from .specs import AgentSpec, PromptSpec, ResourceSpec, Spec, ToolSpec

TOOL_RUN_PREFIX = "tool:"


def tool_as_agent(tool: ToolSpec) -> AgentSpec:
    """A tool as a runnable spec: same function, signature and schemas, executed by the run
    engine (durable, visible at ``/runs``)."""
    cached = tool.meta.get("_as_agent")
    if cached is None:
        from ..adapters.function import FunctionAdapter

        cached = AgentSpec(name=TOOL_RUN_PREFIX + tool.name, title=tool.title,
                           description=tool.description, fn=tool.fn, signature=tool.signature,
                           path="", adapter=FunctionAdapter(tool.fn, tool.signature))
        tool.meta["_as_agent"] = cached
    return cached


class Registry:
    def __init__(self) -> None:
        self.tools: dict[str, ToolSpec] = {}
        self.resources: dict[str, ResourceSpec] = {}
        self.prompts: dict[str, PromptSpec] = {}
        self.agents: dict[str, AgentSpec] = {}
        #: Bumped on every change (cached views such as the OpenAPI document compare it).
        self.version = 0

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
                if other.skill_id == spec.skill_id:
                    raise ConfigurationError(f"A2A skill id {spec.skill_id!r} is taken (by "
                                             f"agent {other.name!r})")
        table[spec.name] = spec
        self.version += 1
        return spec

    def runnable(self, endpoint: str) -> AgentSpec | None:
        """What a run named ``endpoint`` executes: an agent, or a tool run as a run
        (``tool:<name>``, e.g. an MCP task)."""
        if endpoint.startswith(TOOL_RUN_PREFIX):
            tool = self.tools.get(endpoint[len(TOOL_RUN_PREFIX):])
            return tool_as_agent(tool) if tool is not None else None
        return self.agents.get(endpoint)

    def all(self) -> list[Spec]:
        return [*self.tools.values(), *self.resources.values(), *self.prompts.values(),
                *self.agents.values()]
