"""Asking the client: elicitation, sampling and roots, in both MCP eras.

* 2025-11-25 (``LiveAsk``): real server-to-client JSON-RPC requests on the call's stream; the
  client POSTs (or writes) its responses back and they resolve the waiting futures.
* 2026-07-28 (``RoundTripAsk``): the call answers ``resultType: "input_required"`` with the
  requests still open; the client retries with ``inputResponses``, and the call runs again from
  the start, getting the answers it already has.  Answers from earlier rounds travel in an
  HMAC-sealed ``requestState`` bound to the caller, the method, the target and the arguments.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json

from ...exceptions import InvalidInput, MissingClientCapability, NeedsClientInput, ToolError
from .. import jsonrpc
from ..jsonrpc import INVALID_PARAMS, JsonRpcError

if TYPE_CHECKING:
    from .server import McpCall

CAPABILITY = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling",
              "roots/list": "roots"}
STATE_SECONDS = 600
ELICIT_ACTIONS = ("accept", "decline", "cancel")


def check_capability(method: str, params: dict[str, Any], capabilities: dict[str, Any]
                     ) -> None:
    needed = CAPABILITY.get(method)
    if needed is None:
        raise ToolError(f"cannot ask the client with {method}")
    if needed not in capabilities:
        raise MissingClientCapability({needed: {}})
    if method == "elicitation/create":
        declared = capabilities.get("elicitation") or {}
        mode = params.get("mode", "form")
        # A bare ``elicitation: {}`` means form mode only.
        if mode == "url" and "url" not in declared:
            raise MissingClientCapability({"elicitation": {"url": {}}})
        if mode == "form" and declared and "form" not in declared:
            raise MissingClientCapability({"elicitation": {"form": {}}})


def check_response(key: str, method: str, response: Any) -> dict[str, Any]:
    """A malformed answer is refused, never taken as input."""
    ok = isinstance(response, dict)
    if ok and method == "elicitation/create":
        ok = response.get("action") in ELICIT_ACTIONS
    elif ok and method == "sampling/createMessage":
        ok = "content" in response
    elif ok and method == "roots/list":
        ok = isinstance(response.get("roots"), list)
    if not ok:
        raise InvalidInput(f"inputResponses.{key} is not a valid answer to {method}")
    return response


class LiveAsk:
    """2025-11-25: requests on the call's stream, answered through ``McpServer.answer``."""

    def __init__(self, server: Any, call: McpCall, timeout: float) -> None:
        self.server = server
        self.call = call
        self.timeout = timeout

    async def __call__(self, requests: dict[str, tuple[str, dict[str, Any]]]
                       ) -> dict[str, Any]:
        answers = {}
        for key, (method, params) in requests.items():
            check_capability(method, params, self.call.client_capabilities)
            if params.get("mode") == "url":  # 2025-11-25 correlates URL elicitations by id
                params = {**params, "elicitationId": uuid.uuid4().hex}
            answers[key] = await self._one(key, method, params)
        return answers

    async def _one(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        send = self.call.send
        if send is None:
            raise ToolError("this call cannot reach its client (no stream to send on)")
        request_id = "fa-" + uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        pending_key = (self.call.session_id, request_id)
        self.server.pending_requests[pending_key] = future
        try:
            await send({"jsonrpc": "2.0", "id": request_id, "method": method,
                        "params": params})
            response = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise ToolError(f"the client did not answer {method} in {self.timeout:g} s") \
                from None
        finally:
            self.server.pending_requests.pop(pending_key, None)
        if response.get("error") is not None:
            error = response["error"]
            raise ToolError(f"the client refused {method}: {error.get('message', error)}")
        return check_response(key, method, response.get("result"))


class RoundTripAsk:
    """2026-07-28: answers from ``inputResponses`` (and the sealed state), else a new round."""

    def __init__(self, call: McpCall, answers: dict[str, Any]) -> None:
        self.call = call
        self.answers = answers

    async def __call__(self, requests: dict[str, tuple[str, dict[str, Any]]]
                       ) -> dict[str, Any]:
        missing: dict[str, dict[str, Any]] = {}
        found: dict[str, Any] = {}
        for key, (method, params) in requests.items():
            if key in self.answers:
                found[key] = check_response(key, method, self.answers[key])
                continue
            check_capability(method, params, self.call.client_capabilities)
            missing[key] = {"method": method, "params": params}
        if missing:
            raise NeedsClientInput(missing)
        return found


class StateSeal:
    """HMAC-sealed ``requestState``: tampering, replay on another target or by another caller,
    and staleness are refused."""

    def __init__(self, secret: str | None) -> None:
        self.key = (secret or secrets.token_hex(32)).encode()

    def _binding(self, call: McpCall, method: str, params: dict[str, Any]) -> str:
        target = {k: v for k, v in params.items()
                  if k not in ("_meta", "inputResponses", "requestState")}
        digest = hashlib.sha256(to_json([method, target], fallback=repr)).hexdigest()
        return f"{call.user.principal_key}|{digest}"

    def seal(self, call: McpCall, method: str, params: dict[str, Any],
             data: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(to_json({
            "b": self._binding(call, method, params), "exp": time.time() + STATE_SECONDS,
            "d": data}, fallback=repr)).decode()
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        return f"v1.{body}.{mac}"

    def open(self, call: McpCall, method: str, params: dict[str, Any], state: Any
             ) -> dict[str, Any]:
        invalid = JsonRpcError(INVALID_PARAMS, "Invalid params: requestState is not valid")
        if not isinstance(state, str) or state.count(".") != 2 or not state.startswith("v1."):
            raise invalid
        _, body, mac = state.split(".")
        expected = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            raise invalid
        try:
            payload = from_json(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            raise invalid from None
        if payload.get("b") != self._binding(call, method, params) \
                or payload.get("exp", 0) < time.time():
            raise invalid
        return payload.get("d") or {}


def input_required(requests: dict[str, dict[str, Any]], state: str) -> dict[str, Any]:
    return {"resultType": "input_required", "inputRequests": requests, "requestState": state}


def response_for(message: jsonrpc.Message) -> dict[str, Any]:
    return {"result": message.result, "error": message.error}
