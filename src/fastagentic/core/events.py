"""Unified run events.

Adapters and user code produce :class:`Event` (a type and a payload).  The run engine gives
each one the run's next gapless ``seq`` and a timestamp, persists it, and only then hands the
resulting :class:`RunEvent` to the transports, which encode it (SSE frame, WebSocket message,
MCP notification, A2A update) without touching the payload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_json

# Payload events (the seeds' table) and lifecycle events (produced by the engine).
TOKEN = "token"
NODE_START = "node_start"
NODE_END = "node_end"
TOOL_CALL = "tool_call"
TOOL_RESULT = "tool_result"
CHECKPOINT = "checkpoint"
COST = "cost"
RUN_STARTED = "run_started"
STATUS = "status"
INPUT_REQUIRED = "input_required"
ERROR = "error"
DONE = "done"

PAYLOAD_TYPES = frozenset({TOKEN, NODE_START, NODE_END, TOOL_CALL, TOOL_RESULT, CHECKPOINT, COST})
LIFECYCLE_TYPES = frozenset({RUN_STARTED, STATUS, INPUT_REQUIRED, ERROR, DONE})
EVENT_TYPES = PAYLOAD_TYPES | LIFECYCLE_TYPES
# Keys every wire event carries; a payload may not use them.
RESERVED_KEYS = frozenset({"run_id", "seq", "type", "ts"})


@dataclass(slots=True)
class Event:
    """An event as produced by an adapter, before the engine sequences it."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A persisted event: ``json`` is the exact wire payload every transport sends."""

    run_id: str
    seq: int
    type: str
    ts: float
    json: str

    def to_dict(self) -> dict[str, Any]:
        from pydantic_core import from_json

        return from_json(self.json)

    @property
    def data(self) -> dict[str, Any]:
        payload = self.to_dict()
        for key in RESERVED_KEYS:
            payload.pop(key, None)
        return payload


def encode(run_id: str, seq: int, type: str, ts: float, data: dict[str, Any]) -> RunEvent:
    """Build the wire form once; it is stored and sent as is."""
    body = to_json({"run_id": run_id, "seq": seq, "type": type, "ts": ts, **data},
                   fallback=repr, inf_nan_mode="strings").decode()
    return RunEvent(run_id=run_id, seq=seq, type=type, ts=ts, json=body)


def now() -> float:
    return time.time()


# Constructors for the payload events (the seeds' field names).


def token(content: str, delta: dict[str, Any] | None = None) -> Event:
    return Event(TOKEN, {"content": content, "delta": delta or {}})


def node_start(node: str, **extra: Any) -> Event:
    return Event(NODE_START, {"node": node, "timestamp": now(), **extra})


def node_end(node: str, result: Any = None, **extra: Any) -> Event:
    return Event(NODE_END, {"node": node, "result": result, **extra})


def tool_call(tool: str, args: dict[str, Any], call_id: str | None = None) -> Event:
    return Event(TOOL_CALL, {"tool": tool, "args": args, "call_id": call_id})


def tool_result(tool: str, output: Any, call_id: str | None = None, **extra: Any) -> Event:
    return Event(TOOL_RESULT, {"tool": tool, "output": output, "call_id": call_id, **extra})


def cost(
    tokens: dict[str, int], amount: dict[str, float] | None = None, model: str | None = None
) -> Event:
    return Event(COST, {"tokens": tokens, "amount": amount or {}, "model": model})


__all__ = [
    "EVENT_TYPES",
    "Event",
    "RunEvent",
    "cost",
    "encode",
    "node_end",
    "node_start",
    "token",
    "tool_call",
    "tool_result",
]
