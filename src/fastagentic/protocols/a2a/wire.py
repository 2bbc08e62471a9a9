"""A2A wire forms: 1.0 JSON is the internal form; 0.3 (JSON-RPC and REST) is converted at the
edge.  Also: how a message becomes an agent's arguments, and how a run's record and events
become a Task, its artifacts and its stream.

Everything here is pure (no I/O), so every binding shares it.
"""

from __future__ import annotations

import base64
import os
import posixpath
import random
import typing
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel
from pydantic_core import from_json

from ...a2a.types import REPLY_TYPE, Reply
from ...core import events as ev
from ...core import runs as rs
from ...core.runs import RunRecord
from ...core.specs import AgentSpec
from ...exceptions import InvalidInput
from .errors import invalid_params

V10 = "1.0"
V03 = "0.3"

SUBMITTED = "TASK_STATE_SUBMITTED"
WORKING = "TASK_STATE_WORKING"
INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
COMPLETED = "TASK_STATE_COMPLETED"
FAILED = "TASK_STATE_FAILED"
CANCELED = "TASK_STATE_CANCELED"
REJECTED = "TASK_STATE_REJECTED"
AUTH_REQUIRED = "TASK_STATE_AUTH_REQUIRED"
UNSPECIFIED = "TASK_STATE_UNSPECIFIED"
TERMINAL_STATES = frozenset({COMPLETED, FAILED, CANCELED, REJECTED})
STATES = (SUBMITTED, WORKING, INPUT_REQUIRED, COMPLETED, FAILED, CANCELED, REJECTED,
          AUTH_REQUIRED)

# 0.3 JSON-RPC state names, and the 0.3 gRPC/REST spelling of the one that differs.
STATE_V03 = {SUBMITTED: "submitted", WORKING: "working", INPUT_REQUIRED: "input-required",
             COMPLETED: "completed", FAILED: "failed", CANCELED: "canceled",
             REJECTED: "rejected", AUTH_REQUIRED: "auth-required", UNSPECIFIED: "unknown"}
STATE_FROM_V03 = {v: k for k, v in STATE_V03.items()}
STATE_V03_REST = {**{s: s for s in STATES}, CANCELED: "TASK_STATE_CANCELLED"}

STREAM_ARTIFACT = "stream"
RESULT_ARTIFACT = "result"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def parse_iso(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        raise invalid_params(f"not an ISO 8601 timestamp: {value!r}") from None


_SNAKE: dict[str, str] = {}


def pick(obj: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    """ProtoJSON parsers accept the camelCase name and the proto (snake_case) name."""
    if camel in obj:
        return obj[camel]
    snake = _SNAKE.get(camel)
    if snake is None:
        snake = _SNAKE[camel] = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake, default)


# Context and message ids need to be unique, not secret (tasks are scoped to their caller):
# drawn from a PRNG seeded from the OS once, not a system call each.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


def new_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


# messages in -----------------------------------------------------------------------------

def _part_v10(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise invalid_params(f"{where} must be an object", field=where)
    kinds = [k for k in ("text", "raw", "url", "data") if k in part]
    if len(kinds) != 1:
        raise invalid_params(f"{where} must have exactly one of text, raw, url, data",
                             field=where)
    kind = kinds[0]
    value = part[kind]
    if kind in ("text", "raw", "url") and not isinstance(value, str):
        raise invalid_params(f"{where}.{kind} must be a string", field=f"{where}.{kind}")
    if kind == "raw":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise invalid_params(f"{where}.raw must be base64", field=f"{where}.raw") from None
    out: dict[str, Any] = {kind: value}
    for key in ("metadata", "filename", "mediaType"):
        found = pick(part, key)
        if found is not None:
            out[key] = found
    return out


def _part_from_v03(part: Any, where: str) -> dict[str, Any]:
    """A 0.3 JSON-RPC part (``kind``) or a 0.3 REST part (gRPC JSON) to the 1.0 form."""
    if not isinstance(part, dict):
        raise invalid_params(f"{where} must be an object", field=where)
    out: dict[str, Any] = {}
    if part.get("metadata") is not None:
        out["metadata"] = part["metadata"]
    kind = part.get("kind")
    if kind == "text" or (kind is None and "text" in part):
        if not isinstance(part.get("text"), str):
            raise invalid_params(f"{where}.text must be a string", field=f"{where}.text")
        return {"text": part["text"], **out}
    if kind == "file" or (kind is None and "file" in part):
        file = part.get("file")
        if not isinstance(file, dict):
            raise invalid_params(f"{where}.file must be an object", field=f"{where}.file")
        mime = pick(file, "mimeType") or pick(file, "mediaType")
        if mime:
            out["mediaType"] = mime
        if file.get("name"):
            out["filename"] = file["name"]
        data = file.get("bytes", pick(file, "fileWithBytes"))
        uri = file.get("uri", pick(file, "fileWithUri"))
        if isinstance(data, str):
            return {"raw": data, **out}
        if isinstance(uri, str):
            return {"url": uri, **out}
        raise invalid_params(f"{where}.file needs bytes or uri", field=f"{where}.file")
    if kind == "data" or (kind is None and "data" in part):
        data = part.get("data")
        if kind is None and isinstance(data, dict) and set(data) == {"data"}:
            data = data["data"]  # gRPC JSON: DataPart{data: Struct}
        if (part.get("metadata") or {}).get("data_part_compat") and isinstance(data, dict):
            data = data.get("value")
        return {"data": data, **out}
    raise invalid_params(f"{where} has no text, file or data", field=where)


ROLES_IN = {"ROLE_USER": "ROLE_USER", "user": "ROLE_USER", "ROLE_AGENT": "ROLE_AGENT",
            "agent": "ROLE_AGENT"}


def message_in(raw: Any, version: str, *, rest: bool = False) -> dict[str, Any]:
    """Validate a client's message and return its 1.0 form."""
    if not isinstance(raw, dict):
        raise invalid_params("message is required and must be an object", field="message")
    message_id = pick(raw, "messageId")
    if not isinstance(message_id, str) or not message_id:
        raise invalid_params("message.messageId is required", field="message.messageId")
    role = ROLES_IN.get(raw.get("role"))
    if role is None:
        raise invalid_params("message.role must be ROLE_USER or ROLE_AGENT",
                             field="message.role")
    parts_key = "content" if rest and version == V03 and "content" in raw else "parts"
    parts = raw.get(parts_key)
    if not isinstance(parts, list) or not parts:
        raise invalid_params(f"message.{parts_key} must be a non-empty list",
                             field=f"message.{parts_key}")
    convert = _part_v10 if version == V10 else _part_from_v03
    out: dict[str, Any] = {
        "messageId": message_id, "role": role,
        "parts": [convert(p, f"message.{parts_key}[{i}]") for i, p in enumerate(parts)],
    }
    for key in ("contextId", "taskId"):
        value = pick(raw, key)
        if value not in (None, ""):
            if not isinstance(value, str):
                raise invalid_params(f"message.{key} must be a string", field=f"message.{key}")
            out[key] = value
    for key in ("metadata",):
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, dict):
                raise invalid_params(f"message.{key} must be an object", field=f"message.{key}")
            out[key] = value
    for key in ("extensions", "referenceTaskIds"):
        value = pick(raw, key)
        if value:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid_params(f"message.{key} must be a list of strings",
                                     field=f"message.{key}")
            out[key] = value
    return out


def text_of(message: dict[str, Any]) -> str:
    return "\n".join(p["text"] for p in message.get("parts", ()) if "text" in p)


def _data_of(message: dict[str, Any]) -> list[Any]:
    return [p["data"] for p in message.get("parts", ()) if "data" in p]


def _single_param(spec: AgentSpec) -> tuple[str, Any] | None:
    sig = spec.signature
    if sig.raw_schema is not None or sig.body_param is not None or len(sig.params) != 1:
        return None
    name = sig.params[0]
    return name, sig.input_model.model_fields[name].annotation


def _is_text_type(tp: Any) -> bool:
    if tp is str:
        return True
    args = typing.get_args(tp)
    return bool(args) and str in args


def _text_field(spec: AgentSpec) -> str | None:
    """The one text field a plain-text message fills: the agent's only required argument (or
    only argument) when it is a string, also inside a single input model (computed once)."""
    sig = spec.signature
    if "a2a_text_field" not in sig.cache:
        found = None
        if sig.raw_schema is None:
            fields = sig.input_model.model_fields
            required = [name for name, f in fields.items() if f.is_required()]
            candidates = required or list(fields)
            if len(candidates) == 1 and _is_text_type(fields[candidates[0]].annotation):
                found = candidates[0]
        sig.cache["a2a_text_field"] = found
    return sig.cache["a2a_text_field"]


def message_to_arguments(spec: AgentSpec, message: dict[str, Any]) -> BaseModel:
    """An agent's arguments from a message: one data part with the arguments object; or the
    text, for an agent whose one (required) argument is a string; or a JSON object in the
    text; or, for one non-text argument, its value."""
    sig = spec.signature
    data = _data_of(message)
    text = text_of(message)
    single = _single_param(spec)
    try:
        if len(data) == 1 and isinstance(data[0], dict) and not text:
            try:
                return sig.validate_python(data[0])
            except InvalidInput:
                if single is None:
                    raise
                return sig.validate_python({single[0]: data[0]})
        field = _text_field(spec)
        if field is not None and not data:
            return sig.validate_python({field: text})
        if single is not None:
            name = single[0]
            if data and not text:
                return sig.validate_python({name: data[0]})
            try:
                parsed = from_json(text)
            except ValueError:
                return sig.validate_python({name: text})
            if isinstance(parsed, dict) and name in parsed:
                return sig.validate_python(parsed)  # the arguments object itself
            return sig.validate_python({name: parsed})
        if text.strip().startswith("{"):
            try:
                parsed = from_json(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return sig.validate_python(parsed)
        if not sig.params and sig.raw_schema is None:
            return sig.validate_python({})
    except InvalidInput as exc:
        raise invalid_params(
            f"skill {spec.skill_id!r}: the message does not match its input ({exc.message})",
            details=exc.details) from None
    fields = ", ".join(sig.input_model.model_fields) or "its JSON Schema"
    raise invalid_params(
        f"skill {spec.skill_id!r} takes structured input ({fields}): send the arguments as "
        "one data part (or as a JSON object in a text part)")


def answer_from_message(pending: dict[str, Any], message: dict[str, Any]) -> Any:
    """The answer to a run's input request from the follow-up message."""
    schema = pending.get("schema") or None
    data = _data_of(message)
    text = text_of(message)
    if data and not text:
        return data[0]
    if not schema or schema.get("type") == "string":
        return text
    props = schema.get("properties") or {}
    if "approved" in props:  # ctx.approve(): "yes" / "no" are answers too
        word = text.strip().lower().rstrip(".!")
        if word in ("yes", "y", "approve", "approved", "ok", "true", "accept"):
            return {"approved": True}
        if word in ("no", "n", "deny", "denied", "reject", "rejected", "false", "decline"):
            return {"approved": False}
    try:
        return from_json(text)
    except ValueError:
        if len(props) == 1:
            return {next(iter(props)): text}
        return text


# content out -----------------------------------------------------------------------------

def _filename(uri: str) -> str | None:
    name = posixpath.basename(urlparse(uri).path)
    return name or None


def content_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """A ``fastagentic.content`` block (JSON form) as a 1.0 part; None if it is not one."""
    kind = block.get("type")
    mime = block.get("mimeType")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"text": block["text"]}
    if kind in ("image", "audio") and isinstance(block.get("data"), str):
        return {"raw": block["data"], **({"mediaType": mime} if mime else {})}
    if kind == "resource" and isinstance(block.get("resource"), dict):
        res = block["resource"]
        extra: dict[str, Any] = {}
        if res.get("mimeType"):
            extra["mediaType"] = res["mimeType"]
        if name := _filename(res.get("uri", "")):
            extra["filename"] = name
        if isinstance(res.get("blob"), str):
            return {"raw": res["blob"], **extra}
        return {"text": res.get("text") or "", **extra}
    if kind == "resource_link" and isinstance(block.get("uri"), str):
        out: dict[str, Any] = {"url": block["uri"]}
        if block.get("name"):
            out["filename"] = block["name"]
        if mime:
            out["mediaType"] = mime
        return out
    return None


def parts_of(value: Any) -> list[dict[str, Any]]:
    """A run's output as 1.0 parts (text, a content block or a list of them, else data)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"text": value}]
    if isinstance(value, dict):
        part = content_part(value)
        return [part] if part is not None else [{"data": value}]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        parts = [content_part(v) for v in value]
        if all(p is not None for p in parts):
            return parts  # type: ignore[return-value]
    return [{"data": value}]


def is_reply(output: Any) -> bool:
    return isinstance(output, dict) and output.get("type") == REPLY_TYPE


def reply_parts(output: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if output.get("text"):
        parts.append({"text": output["text"]})
    for item in output.get("parts") or ():
        if isinstance(item, str):
            parts.append({"text": item})
        elif isinstance(item, dict):
            part = content_part(item)
            parts.append(part if part is not None else _part_v10(item, "reply.parts"))
    return parts or [{"text": ""}]


def may_reply(spec: AgentSpec) -> bool:
    """Whether the agent's declared output type admits a :class:`Reply`."""
    seen: set[int] = set()

    def walk(tp: Any) -> bool:
        if id(tp) in seen:
            return False
        seen.add(id(tp))
        if tp is Reply or tp is Any:
            return tp is Reply
        return any(walk(arg) for arg in typing.get_args(tp))

    return walk(spec.signature.output_type)


def agent_message(parts: list[dict[str, Any]], task_id: str | None, context_id: str | None,
                  *, message_id: str | None = None, metadata: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    msg: dict[str, Any] = {"messageId": message_id or new_id(), "role": "ROLE_AGENT",
                           "parts": parts}
    if context_id:
        msg["contextId"] = context_id
    if task_id:
        msg["taskId"] = task_id
    if metadata:
        msg["metadata"] = metadata
    return msg


# runs -> tasks ---------------------------------------------------------------------------

def a2a_labels(run: RunRecord) -> dict[str, Any]:
    info = run.labels.get("a2a")
    return info if isinstance(info, dict) else {}


def context_of(run: RunRecord) -> str:
    return a2a_labels(run).get("context_id") or run.id


def state_of(status: str, error: dict[str, Any] | None, started: bool) -> str:
    if status == rs.QUEUED:
        return WORKING if started else SUBMITTED
    if status == rs.RUNNING:
        return WORKING
    if status == rs.INPUT_REQUIRED:
        return INPUT_REQUIRED
    if status == rs.COMPLETED:
        return COMPLETED
    if status == rs.CANCELLED:
        return CANCELED
    if (error or {}).get("code") == "rejected":
        return REJECTED
    return FAILED


def prompt_message(pending: dict[str, Any], task_id: str, context_id: str,
                   message_id: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": pending.get("prompt") or "Input required"}]
    request = {k: pending[k] for k in ("key", "schema", "details") if pending.get(k) is not None}
    if request.get("schema") or request.get("details") is not None:
        parts.append({"data": request, "mediaType": "application/json"})
    return agent_message(parts, task_id, context_id,
                         message_id=message_id or f"{task_id}-ask-{pending.get('key', '')}")


def error_message(error: dict[str, Any], task_id: str, context_id: str) -> dict[str, Any]:
    return agent_message([{"text": error.get("message") or error.get("code") or "failed"}],
                         task_id, context_id, message_id=f"{task_id}-error")


class TaskView:
    """What a task looks like after a sequence of run events (the snapshot builder)."""

    def __init__(self, run: RunRecord) -> None:
        self.run = run
        self.task_id = run.id
        self.context_id = context_of(run)
        self.status = run.status
        self.error = run.error
        self.output = run.output
        self.pending = run.pending
        self.timestamp = run.updated_at
        self.started = run.started_at is not None
        self.tokens: list[str] = []
        self.last_seq = 0

    @classmethod
    def blank(cls, run: RunRecord) -> TaskView:
        """The task before any of its events (to rebuild it as of some point of its log)."""
        view = cls(run)
        view.status, view.error, view.output, view.pending = rs.QUEUED, None, None, None
        view.timestamp, view.started = run.created_at, False
        return view

    def feed(self, events: Iterable[ev.RunEvent]) -> None:
        for event in events:
            self.last_seq = event.seq
            if event.type == ev.TOKEN:
                data = event.data
                if "delegate" not in data:
                    self.tokens.append(str(data.get("content", "")))
            elif event.type == ev.STATUS:
                data = event.data
                if data.get("status") == rs.RUNNING:
                    self.started = True
                    self.status = rs.RUNNING
                    self.pending = None
                if "superseded_from_seq" in data:
                    self.tokens = []  # the resumed run re-streams what counts
                self.timestamp = event.ts
            elif event.type == ev.INPUT_REQUIRED:
                self.status = rs.INPUT_REQUIRED
                self.pending = event.data
                self.timestamp = event.ts
            elif event.type == ev.DONE:
                data = event.data
                self.status = data.get("status", rs.COMPLETED)
                self.output = data.get("output")
                self.error = data.get("error")
                self.pending = None
                self.timestamp = event.ts
            elif event.type == ev.RUN_STARTED:
                self.started = True

    @property
    def state(self) -> str:
        return state_of(self.status, self.error, self.started)

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "timestamp": iso(self.timestamp)}
        if self.status == rs.INPUT_REQUIRED and self.pending:
            out["message"] = prompt_message(self.pending, self.task_id, self.context_id)
        elif self.status == rs.FAILED and self.error:
            out["message"] = error_message(self.error, self.task_id, self.context_id)
        return out

    def artifacts(self) -> list[dict[str, Any]]:
        out = []
        streamed = "".join(self.tokens)
        if self.tokens:
            out.append({"artifactId": STREAM_ARTIFACT, "name": "response",
                        "parts": [{"text": streamed}]})
        if self.status == rs.COMPLETED and not is_reply(self.output):
            parts = result_parts(self.output, streamed if self.tokens else None)
            if parts:
                out.append({"artifactId": RESULT_ARTIFACT, "name": "result", "parts": parts})
        return out

    def history(self, length: int | None) -> list[dict[str, Any]]:
        items = list(a2a_labels(self.run).get("history") or ())
        if length is not None:
            items = items[-length:] if length > 0 else []
        return [{**m, "taskId": self.task_id, "contextId": self.context_id} for m in items]

    def task(self, *, history_length: int | None = None, artifacts: bool = True
             ) -> dict[str, Any]:
        task: dict[str, Any] = {"id": self.task_id, "contextId": self.context_id,
                                "status": self.status_json()}
        if artifacts:
            found = self.artifacts()
            if found:
                task["artifacts"] = found
        history = self.history(history_length)
        if history:
            task["history"] = history
        return task


def result_parts(output: Any, streamed: str | None) -> list[dict[str, Any]]:
    """The result artifact's parts; none when the output is just the text already streamed."""
    if output is None or (streamed is not None and output == streamed):
        return []
    return parts_of(output)


class StreamMapper:
    """Run events -> 1.0 ``StreamResponse`` dicts (``feed`` returns those one event makes).

    Tokens become chunks of the ``stream`` artifact; one token is held back so the last one can
    say ``lastChunk``.  Tool and node events become WORKING status updates with the event in
    their metadata.  ``done`` gives the result artifact and the final status.
    """

    FORWARDED = frozenset({ev.NODE_START, ev.NODE_END, ev.TOOL_CALL, ev.TOOL_RESULT})

    def __init__(self, view: TaskView, *, announce_working: bool = True) -> None:
        self.view = view
        self._held: str | None = None
        self._chunks = 0
        # A subscriber joining mid-stream got the text so far in the snapshot: append to it.
        self._append_next = bool(view.tokens)
        self._streamed: list[str] = list(view.tokens)
        self._working_sent = not announce_working

    def _status(self, status: dict[str, Any], metadata: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        update: dict[str, Any] = {"taskId": self.view.task_id,
                                  "contextId": self.view.context_id, "status": status}
        if metadata:
            update["metadata"] = metadata
        return {"statusUpdate": update}

    def working(self) -> dict[str, Any]:
        self._working_sent = True
        return self._status({"state": WORKING, "timestamp": iso(self.view.timestamp)})

    def _chunk(self, text: str, last: bool) -> dict[str, Any]:
        update: dict[str, Any] = {
            "taskId": self.view.task_id, "contextId": self.view.context_id,
            "artifact": {"artifactId": STREAM_ARTIFACT, "name": "response",
                         "parts": [{"text": text}]}}
        if self._append_next:
            update["append"] = True
        if last:
            update["lastChunk"] = True
        self._append_next = True
        self._chunks += 1
        return {"artifactUpdate": update}

    def _flush(self, last: bool) -> list[dict[str, Any]]:
        if self._held is None:
            return []
        text, self._held = self._held, None
        return [self._chunk(text, last)]

    def feed(self, event: ev.RunEvent) -> list[dict[str, Any]]:
        view = self.view
        out: list[dict[str, Any]] = []
        view.feed((event,))
        kind = event.type
        if kind == ev.TOKEN:
            data = event.data
            if "delegate" in data:
                return out
            out.extend(self._flush(False))
            self._held = str(data.get("content", ""))
            self._streamed.append(self._held)
            return out
        if kind == ev.STATUS:
            data = event.data
            if "superseded_from_seq" in data:
                self._streamed = []
            if data.get("status") == rs.RUNNING and (not self._working_sent or
                                                     data.get("resumed")):
                self._working_sent = True
                out.extend(self._flush(False))
                out.append(self._status(view.status_json()))
            return out
        if kind in self.FORWARDED:
            out.extend(self._flush(False))
            out.append(self._status({"state": WORKING, "timestamp": iso(event.ts)},
                                    {"fastagentic": {"type": kind, **event.data}}))
            return out
        if kind == ev.INPUT_REQUIRED:
            out.extend(self._flush(False))
            out.append(self._status(view.status_json()))
            return out
        if kind == ev.DONE:
            out.extend(self._flush(True))
            if self._chunks and not out:
                out.append(self._chunk("", True))  # close the streamed artifact
            if view.status == rs.COMPLETED and not is_reply(view.output):
                streamed = "".join(self._streamed)
                parts = result_parts(view.output, streamed if self._streamed else None)
                if parts:
                    out.append({"artifactUpdate": {
                        "taskId": view.task_id, "contextId": view.context_id,
                        "artifact": {"artifactId": RESULT_ARTIFACT, "name": "result",
                                     "parts": parts},
                        "lastChunk": True}})
            out.append(self._status(view.status_json()))
            return out
        return out


def event_id(seq: int, index: int) -> str:
    """The SSE id of the ``index``-th update made from run event ``seq``."""
    return f"{seq}.{index}"


def parse_event_id(value: str | None) -> tuple[int, int | None] | None:
    """``"7"``: everything through run event 7 was seen; ``"7.1"``: the first two updates
    made from event 7 were."""
    if not value:
        return None
    head, _, tail = value.strip().partition(".")
    try:
        seq = max(0, int(head))
        return seq, (int(tail) if tail else None)
    except ValueError:
        return None


# 1.0 -> 0.3 ------------------------------------------------------------------------------

def part_v03(part: dict[str, Any]) -> dict[str, Any]:
    meta = part.get("metadata")
    if "text" in part:
        out: dict[str, Any] = {"kind": "text", "text": part["text"]}
    elif "raw" in part or "url" in part:
        file: dict[str, Any] = {"bytes": part["raw"]} if "raw" in part else {"uri": part["url"]}
        if part.get("mediaType"):
            file["mimeType"] = part["mediaType"]
        if part.get("filename"):
            file["name"] = part["filename"]
        out = {"kind": "file", "file": file}
    else:
        data = part.get("data")
        if not isinstance(data, dict):
            data = {"value": data}
            meta = {**(meta or {}), "data_part_compat": True}
        out = {"kind": "data", "data": data}
    if meta:
        out["metadata"] = meta
    return out


def part_v03_rest(part: dict[str, Any]) -> dict[str, Any]:
    if "text" in part:
        out: dict[str, Any] = {"text": part["text"]}
    elif "raw" in part or "url" in part:
        file: dict[str, Any] = ({"fileWithBytes": part["raw"]} if "raw" in part
                                else {"fileWithUri": part["url"]})
        if part.get("mediaType"):
            file["mimeType"] = part["mediaType"]
        if part.get("filename"):
            file["name"] = part["filename"]
        out = {"file": file}
    else:
        data = part.get("data")
        out = {"data": {"data": data if isinstance(data, dict) else {"value": data}}}
    if part.get("metadata"):
        out["metadata"] = part["metadata"]
    return out


def message_v03(msg: dict[str, Any], rest: bool = False) -> dict[str, Any]:
    if rest:
        out: dict[str, Any] = {"messageId": msg["messageId"], "role": msg["role"],
                               "content": [part_v03_rest(p) for p in msg["parts"]]}
    else:
        out = {"kind": "message", "messageId": msg["messageId"],
               "role": "agent" if msg["role"] == "ROLE_AGENT" else "user",
               "parts": [part_v03(p) for p in msg["parts"]]}
    for key in ("contextId", "taskId", "metadata", "extensions", "referenceTaskIds"):
        if msg.get(key):
            out[key] = msg[key]
    return out


def status_v03(status: dict[str, Any], rest: bool = False) -> dict[str, Any]:
    state = status["state"]
    out: dict[str, Any] = {"state": STATE_V03_REST[state] if rest else STATE_V03[state]}
    if status.get("message"):
        out["message"] = message_v03(status["message"], rest)
    if status.get("timestamp"):
        out["timestamp"] = status["timestamp"]
    return out


def artifact_v03(artifact: dict[str, Any], rest: bool = False) -> dict[str, Any]:
    convert = part_v03_rest if rest else part_v03
    out = {k: v for k, v in artifact.items() if k != "parts"}
    out["parts"] = [convert(p) for p in artifact["parts"]]
    return out


def task_v03(task: dict[str, Any], rest: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {} if rest else {"kind": "task"}
    out.update(id=task["id"], contextId=task["contextId"],
               status=status_v03(task["status"], rest))
    if task.get("artifacts"):
        out["artifacts"] = [artifact_v03(a, rest) for a in task["artifacts"]]
    if task.get("history"):
        out["history"] = [message_v03(m, rest) for m in task["history"]]
    if task.get("metadata"):
        out["metadata"] = task["metadata"]
    return out


def stream_v03(item: dict[str, Any], rest: bool = False) -> dict[str, Any]:
    """A 1.0 StreamResponse as a 0.3 stream result (JSON-RPC: flat with ``kind``; REST: the
    gRPC JSON oneof)."""
    if "task" in item:
        task = task_v03(item["task"], rest)
        return {"task": task} if rest else task
    if "message" in item:
        msg = message_v03(item["message"], rest)
        return {"message": msg} if rest else msg
    if "statusUpdate" in item:
        update = item["statusUpdate"]
        state = update["status"]["state"]
        out: dict[str, Any] = {} if rest else {"kind": "status-update"}
        out.update(taskId=update["taskId"], contextId=update["contextId"],
                   status=status_v03(update["status"], rest),
                   final=state in TERMINAL_STATES or state == INPUT_REQUIRED)
        if update.get("metadata"):
            out["metadata"] = update["metadata"]
        return {"statusUpdate": out} if rest else out
    update = item["artifactUpdate"]
    out = {} if rest else {"kind": "artifact-update"}
    out.update(taskId=update["taskId"], contextId=update["contextId"],
               artifact=artifact_v03(update["artifact"], rest),
               append=bool(update.get("append")), lastChunk=bool(update.get("lastChunk")))
    return {"artifactUpdate": out} if rest else out


__all__ = ["StreamMapper", "TaskView", "message_in", "message_to_arguments"]
