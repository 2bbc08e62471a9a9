"""The interface every framework adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..core.context import RunContext
from ..core.events import Event


@dataclass(frozen=True, slots=True)
class Output:
    """Yielded last by an adapter's stream: the run's final output."""

    value: Any


class BaseAdapter(ABC):
    """Wraps one agent (a PydanticAI agent, a LangGraph graph, a function, ...).

    ``stream`` yields :class:`~fastagentic.core.events.Event` items as the agent works and ends
    with one :class:`Output`.  Durability goes through ``ctx``:

    * ``ctx.state`` is the state of the run's latest checkpoint (``None`` on a fresh run); an
      adapter resumes from it.
    * ``await ctx.checkpoint(state, metadata)`` persists new state (adapter state must be
      JSON-serializable).
    * ``await ctx.ask(...)`` pauses the run for input; the engine re-runs ``stream`` when the
      answer arrives, and ``ctx.ask`` then returns it.
    * ``await ctx.call_tool(...)`` runs a registered tool exactly once per call id.

    Events that an earlier attempt already recorded are recognised and not recorded twice, so an
    adapter may simply replay from its last checkpoint.
    """

    #: Name of the framework, for telemetry and errors.
    framework: str = "custom"
    #: How ``stream`` behaves on resume: ``"from_checkpoint"`` continues from ``ctx.state``
    #: (its events are matched against those recorded after the checkpoint);
    #: ``"from_start"`` runs the code again from the beginning (matched against all recorded
    #: events, so nothing is recorded twice).
    replay: str = "from_checkpoint"

    @abstractmethod
    def stream(self, input: BaseModel, ctx: RunContext) -> AsyncIterator[Event | Output]:
        """Run (or resume) the agent on validated ``input``."""
