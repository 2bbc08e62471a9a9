"""Run records, checkpoints and ledger entries: the data the run engine keeps in a store."""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
RUNNING = "running"
INPUT_REQUIRED = "input_required"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING})
STATUSES = (QUEUED, RUNNING, INPUT_REQUIRED, COMPLETED, FAILED, CANCELLED)


#: Signal kinds between processes sharing a store (``Store.listen``): events of a run were
#: committed (with the last seq); a run waits for a worker; a run's cancellation was requested.
EVENTS_SIGNAL, QUEUED_SIGNAL, CANCEL_SIGNAL = "events", "queue", "cancel"


def new_run_id() -> str:
    return "run_" + uuid.uuid4().hex


@dataclass(slots=True)
class RunRecord:
    id: str
    endpoint: str
    status: str
    input: Any
    principal: str
    user: str = "anonymous"
    tenant: str | None = None
    #: The starter's scopes and roles: the run (and its tool calls) act with them, also when
    #: it resumes in another process.
    scopes: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempt: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    last_seq: int = 0
    pending: dict[str, Any] | None = None  # the open input request
    answers: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    request_hash: str | None = None
    cancel_requested: bool = False
    #: Free-form metadata set by whoever started the run (e.g. an MCP task's settings).
    labels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _RUN_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**{k: v for k, v in data.items() if k in _RUN_FIELD_SET})

    def public(self) -> dict[str, Any]:
        """The representation clients see (``GET /runs/{id}``)."""
        return {
            "run_id": self.id,
            "endpoint": self.endpoint,
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "input_request": self.pending,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempt": self.attempt,
            "last_seq": self.last_seq,
            "usage": self.usage,
            "user": self.user,
            "tenant": self.tenant,
            "labels": self.labels,
        }


_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))
_RUN_FIELD_SET = frozenset(_RUN_FIELDS)


@dataclass(slots=True)
class Checkpoint:
    """Adapter state, the event offset it covers (``seq``) and the usage counters so far."""

    id: str
    run_id: str
    seq: int
    state: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(**data)


@dataclass(slots=True)
class LedgerEntry:
    """The recorded outcome of one tool call of a run (exactly-once side effects)."""

    run_id: str
    call_id: str
    tool: str
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(**data)
