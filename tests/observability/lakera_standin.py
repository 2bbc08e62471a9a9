"""A stand-in for Lakera Guard's v2 screening API, for tests (serve ``LakeraStandIn().app`` with
``conftest.LiveServer``: a real HTTP server on 127.0.0.1).

It speaks the documented format: ``POST /v2/guard`` with ``Authorization: Bearer <key>`` and
a JSON body ``{"messages": [{"role", "content"}], "project_id"?, "breakdown"?, "payload"?,
"metadata"?, "dev_info"?}``; the answer is ``{"flagged": bool, "metadata": {"request_uuid"}}``
plus, when asked, a ``breakdown`` of the detectors run.  Its one detector (``prompt_attack``)
fires when a message contains one of ``phrases``; a wrong key gets 401, a malformed body 400.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROLES = ("system", "user", "assistant", "tool")
FIELDS = {"messages", "project_id", "policy_id", "breakdown", "payload", "metadata", "dev_info"}


class LakeraStandIn:
    def __init__(self, api_key: str = "lakera-test-key",
                 phrases: tuple[str, ...] = ("ignore previous instructions",
                                             "ignore all previous instructions")) -> None:
        self.api_key = api_key
        self.phrases = phrases
        #: The bodies of the screening requests accepted, in order.
        self.requests: list[dict[str, Any]] = []
        #: How many requests were refused (bad key, bad body).
        self.refused = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v2/guard", self.guard, methods=["POST"])])

    async def guard(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._refuse(401, "Unauthorized: invalid API key")
        try:
            body = await request.json()
        except ValueError:
            return self._refuse(400, "the body is not JSON")
        problem = _problem(body)
        if problem:
            return self._refuse(400, problem)
        with self._lock:
            self.requests.append(body)
        hits = [index for index, message in enumerate(body["messages"])
                if any(p in message["content"].lower() for p in self.phrases)]
        answer: dict[str, Any] = {"flagged": bool(hits),
                                  "metadata": {"request_uuid": str(uuid.uuid4())}}
        if body.get("breakdown"):
            answer["breakdown"] = [{
                "project_id": body.get("project_id", "project-default"),
                "policy_id": "policy-test", "detector_id": "detector-prompt-attack",
                "detector_type": "prompt_attack", "detected": bool(hits),
                "message_id": hits[0] if hits else len(body["messages"]) - 1,
            }, {
                "project_id": body.get("project_id", "project-default"),
                "policy_id": "policy-test", "detector_id": "detector-hate",
                "detector_type": "moderated_content/hate", "detected": False,
                "message_id": len(body["messages"]) - 1,
            }]
        return JSONResponse(answer)

    def _refuse(self, status: int, message: str) -> JSONResponse:
        with self._lock:
            self.refused += 1
        return JSONResponse({"error": message}, status_code=status)


def _problem(body: Any) -> str | None:
    """What is wrong with a screening request's body (None: nothing)."""
    if not isinstance(body, dict):
        return "the body must be an object"
    unknown = set(body) - FIELDS
    if unknown:
        return f"unknown fields: {sorted(unknown)}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return "each message has a role and a content"
        if message["role"] not in ROLES or not isinstance(message["content"], str):
            return f"bad message {message!r}"
    if "project_id" in body and not isinstance(body["project_id"], str):
        return "project_id must be a string"
    for flag in ("breakdown", "payload", "dev_info"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    return None
