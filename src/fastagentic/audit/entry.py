"""One audit entry: its fields, its canonical encoding and its hash.

An entry is a JSON object::

    {"seq": 7, "ts": "2025-05-01T09:30:00.123456Z", "action": "tool.call",
     "actor": {"user": "alice", "tenant": "acme", "kind": "user"},
     "decision": "allow", "reason": null, "run_id": null,
     "context": {"transport": "rest", "tool": "add", "arguments": ["a", "b"]},
     "prev": "<hash of entry 6>", "hash": "<SHA-256 of this entry>"}

``hash`` is the SHA-256 (hex) of the entry's canonical JSON without ``hash`` (``prev``
included): object keys sorted by code point at every level, no whitespace, UTF-8 with
non-ASCII characters unescaped, numbers as pydantic-core's ``to_json`` writes them (integers
plainly, floats in their shortest round-trip form).  Entry 1's ``prev`` is 64 zeros.
Changing any field of any entry changes its hash; changing the hash too breaks the next
entry's ``prev``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json, to_json

from ..core.context import UserContext

#: The kv namespace the entries live in.
NAMESPACE = "audit"
#: The ``prev`` of the first entry.
GENESIS = "0" * 64
#: Key width: keys are zero-padded so that key order is seq order.
KEY_WIDTH = 16


def key_of(seq: int) -> str:
    return f"{seq:0{KEY_WIDTH}d}"


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def timestamp(now: float | None = None) -> str:
    """UTC, ISO 8601 with microseconds and ``Z`` (fixed width, so text order is time order)."""
    now = time.time() if now is None else now
    second = int(now)
    if _second[0] != second:
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = second
    return f"{_second[1]}.{int((now - second) * 1_000_000):06d}Z"


_CONTAINERS = (dict, list)


def in_order(value: Any) -> Any:
    """JSON data with every object's keys in canonical (sorted) order."""
    if type(value) is dict:
        return {key: in_order(item) if type(item) in _CONTAINERS else item
                for key, item in sorted(value.items())}
    if type(value) is list:
        return [in_order(item) if type(item) in _CONTAINERS else item for item in value]
    return value


def canonical_json(value: Any) -> bytes:
    """JSON data in the canonical encoding (see above)."""
    return to_json(in_order(value))


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its canonical JSON without ``hash``."""
    return canonical_json({key: value for key, value in entry.items() if key != "hash"})


def digest(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` as the JSON data a store gives back (tuples → lists, NaN → "NaN", objects →
    their repr): what is hashed is exactly what is stored."""
    return from_json(to_json(value, fallback=repr, inf_nan_mode="strings"))


def actor_of(user: UserContext | None) -> dict[str, Any]:
    """Who acted: ``kind`` is ``anonymous`` (no credentials), ``service`` (a service
    account's API key, named by ``api_key``: its id, never the secret), ``user``, or
    ``system`` (fastagentic itself, no caller).  Keys in canonical order."""
    if user is None:
        return {"kind": "system", "tenant": None, "user": None}
    key_id = user.claims.get("api_key_id") if user.claims else None
    if key_id is not None:
        return {"api_key": str(key_id), "kind": "service", "tenant": user.tenant,
                "user": user.user}
    kind = "anonymous" if user.user == "anonymous" and not user.claims else "user"
    return {"kind": kind, "tenant": user.tenant, "user": user.user}


#: An entry without its place in the chain (``seq``, ``prev``, ``ts``, ``hash``), as
#: :func:`seal` takes it: ``(head, reason, run_id)``, where ``head`` is the canonical JSON of
#: the fields before ``prev`` (``{"action":…,"actor":…,"context":…,"decision":…``, no closing
#: brace; :func:`head_of`).  A plain tuple: one is made per call.
Draft = tuple[bytes, str | None, str | None]


def head_of(action: str, actor: UserContext | None, context: Mapping[str, Any],
            decision: str) -> bytes:
    """The canonical JSON of an entry's first four fields, without the closing brace;
    ``context`` is JSON data in canonical order (see :func:`in_order`)."""
    return to_json({"action": action, "actor": actor_of(actor), "context": context,
                    "decision": decision})[:-1]


def draft(action: str, *, actor: UserContext | None, decision: str, reason: str | None,
          context: Mapping[str, Any] | None, run_id: str | None,
          ordered: bool = False) -> Draft:
    """An entry to append.  ``ordered``: ``context`` is JSON data in canonical order already
    (see :func:`in_order`)."""
    if not context:
        context = {}
    elif not ordered:
        context = in_order(jsonable(dict(context)))
    return head_of(action, actor, context, decision), reason, run_id


_NULL = b"null"


def seal(body: Draft, seq: int, prev: str, ts: bytes) -> tuple[bytes, str]:
    """``body`` as entry ``seq`` after the entry whose hash is ``prev``, written at ``ts`` (a
    :func:`timestamp`, encoded): its stored JSON and its hash.

    The fields after ``context`` are put after the draft's head in canonical order, each
    encoded by ``to_json``, so the bytes hashed are the entry's canonical JSON without any
    sorting on the write path; ``hash`` is then added at the end."""
    head, reason, run_id = body
    unsigned = b'%s,"prev":"%s","reason":%s,"run_id":%s,"seq":%d,"ts":"%s"}' % (
        head, prev.encode(), _NULL if reason is None else to_json(reason),
        _NULL if run_id is None else to_json(run_id), seq, ts)
    hashed = hashlib.sha256(unsigned).hexdigest()
    return b'%s,"hash":"%s"}' % (unsigned[:-1], hashed.encode()), hashed
