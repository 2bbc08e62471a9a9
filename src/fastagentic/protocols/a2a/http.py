"""The A2A HTTP endpoints: agent cards, the JSON-RPC binding and the HTTP+JSON binding, for
protocol 1.0 and 0.3 (chosen by the ``A2A-Version`` header).

Under ``a2a_path`` (default ``/a2a``):

* ``POST /a2a`` JSON-RPC (every skill); ``POST /a2a/{skill}`` JSON-RPC for one skill;
* ``/a2a/message:send`` … 1.0 HTTP+JSON, ``/a2a/v1/message:send`` … 0.3 HTTP+JSON (also under
  ``/a2a/{skill}/``);
* ``GET /a2a/{skill}/.well-known/agent-card.json``: the card of one skill.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json
from starlette.requests import Request
from starlette.responses import Response

from ...auth.base import (
    InsufficientScope,
    Unauthenticated,
    authenticate,
    bearer_token,
    challenge,
)
from ...core.context import ANONYMOUS, UserContext
from ...exceptions import PayloadTooLarge
from . import wire
from .card import Cards
from .errors import (
    CONTENT_TYPE_NOT_SUPPORTED,
    EXTENDED_CARD_NOT_CONFIGURED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    VERSION_NOT_SUPPORTED,
    A2AError,
    from_exception,
    invalid_params,
)
from .service import A2AService

if TYPE_CHECKING:
    from ...app import App

logger = logging.getLogger("fastagentic.a2a")

VERSION_HEADER = "a2a-version"
JSON = "application/json"
A2A_JSON = "application/a2a+json"
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

# JSON-RPC method -> (protocol version, operation)
METHODS: dict[str, tuple[str, str]] = {
    "SendMessage": (wire.V10, "send"),
    "SendStreamingMessage": (wire.V10, "stream"),
    "GetTask": (wire.V10, "get"),
    "ListTasks": (wire.V10, "list"),
    "CancelTask": (wire.V10, "cancel"),
    "SubscribeToTask": (wire.V10, "subscribe"),
    "CreateTaskPushNotificationConfig": (wire.V10, "push_create"),
    "GetTaskPushNotificationConfig": (wire.V10, "push_get"),
    "ListTaskPushNotificationConfigs": (wire.V10, "push_list"),
    "DeleteTaskPushNotificationConfig": (wire.V10, "push_delete"),
    "GetExtendedAgentCard": (wire.V10, "card"),
    "message/send": (wire.V03, "send"),
    "message/stream": (wire.V03, "stream"),
    "tasks/get": (wire.V03, "get"),
    "tasks/cancel": (wire.V03, "cancel"),
    "tasks/resubscribe": (wire.V03, "subscribe"),
    "tasks/pushNotificationConfig/set": (wire.V03, "push_create"),
    "tasks/pushNotificationConfig/get": (wire.V03, "push_get"),
    "tasks/pushNotificationConfig/list": (wire.V03, "push_list"),
    "tasks/pushNotificationConfig/delete": (wire.V03, "push_delete"),
    "agent/getAuthenticatedExtendedCard": (wire.V03, "card"),
}
STREAMING = frozenset({"stream", "subscribe"})
REST_ROOTS = frozenset({"message:send", "message:stream", "tasks", "extendedAgentCard", "v1",
                        ".well-known", "card"})


def parse_version(value: str | None) -> str:
    """``A2A-Version``: absent or empty is 0.3; Major.Minor is compared (patch ignored)."""
    value = (value or "").strip()
    if not value:
        return wire.V03
    parts = value.split(".")
    major, minor = parts[0], parts[1] if len(parts) > 1 else "0"
    if major == "1" and minor == "0":
        return wire.V10
    if major == "0" and minor == "3":
        return wire.V03
    raise A2AError(VERSION_NOT_SUPPORTED,
                   f"A2A version {value!r} is not supported: use 1.0 or 0.3")


def _json(body: Any, status: int = 200, media_type: str = JSON,
          headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(body), status_code=status, media_type=media_type, headers=headers)


class A2AHttp:
    """An ASGI app for everything under ``a2a_path`` plus the well-known card routes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.service = A2AService(app)
        self.cards = Cards(app)
        self.prefix = app.settings.a2a_path

    # helpers

    def base_url(self, request: Request) -> str:
        settings = self.app.settings
        if settings.public_url:
            return settings.public_url.rstrip("/")
        if settings.trust_forwarded_headers:
            host = request.headers.get("x-forwarded-host")
            proto = request.headers.get("x-forwarded-proto")
            if host:
                return f"{(proto or request.url.scheme).split(',')[0].strip()}://" \
                       f"{host.split(',')[0].strip()}"
        return str(request.base_url).rstrip("/")

    async def user(self, request: Request) -> UserContext:
        """The caller (with auth on, through the app's authenticator chain), or the A2A
        error to answer with (401/403 with ``WWW-Authenticate``)."""
        if self.app.auth is None:
            return ANONYMOUS
        base = self.base_url(request)
        token = bearer_token(request.headers)
        try:
            return await authenticate(self.app, token, request.headers, transport="a2a",
                                      path=request.url.path)
        except InsufficientScope as exc:
            raise A2AError(-32011, f"Forbidden: {exc.message}", headers={
                "WWW-Authenticate": challenge(base, self.prefix, "insufficient_scope",
                                              exc.scopes)}) from None
        except Unauthenticated as exc:
            presented = token is not None or "x-api-key" in request.headers
            raise A2AError(-32010, f"Unauthorized: {exc.message}", headers={
                "WWW-Authenticate": challenge(base, self.prefix,
                                              "invalid_token" if presented else None)}) from None

    # ASGI

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        path = scope["path"]
        try:
            if path in (self.prefix, self.prefix + "/"):  # clients join "/" to the card's URL
                response = await self.jsonrpc(request, None)
            else:
                response = await self.rest(request, path[len(self.prefix) + 1:])
        except PayloadTooLarge as exc:
            response = _json(A2AError(-32012, exc.message).status_body(), 413)
        await response(scope, receive, send)

    # cards

    async def card(self, request: Request) -> Response:
        flavor = "0.3" if request.url.path.endswith("/agent.json") else (
            "merged" if self.app.settings.a2a_card_legacy_fields else "1.0")
        return self._card_response(request, flavor, None)

    def _card_response(self, request: Request, flavor: str, skill_id: str | None) -> Response:
        skill = None
        if skill_id is not None:
            skill = next((s for s in self.service.skills() if s.skill_id == skill_id), None)
            if skill is None:
                return _json(A2AError(-32601, f"no skill {skill_id!r}").status_body(), 404)
        body, etag = self.cards.document(self.base_url(request), flavor, skill=skill)
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={self.app.settings.a2a_card_max_age}",
            "Last-Modified": email.utils.formatdate(self.cards.modified, usegmt=True),
            "Access-Control-Allow-Origin": "*",
        }
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=JSON, headers=headers)

    # JSON-RPC

    async def jsonrpc(self, request: Request, skill: str | None) -> Response:
        if request.method != "POST":
            return Response(status_code=405, headers={"Allow": "POST"})
        rid: Any = None
        version = wire.V10
        try:
            version = parse_version(request.headers.get(VERSION_HEADER)
                                    or request.query_params.get("A2A-Version"))
            body = await request.body()
            ctype = request.headers.get("content-type", "")
            if ctype and "json" not in ctype.lower():
                raise A2AError(CONTENT_TYPE_NOT_SUPPORTED,
                               f"Content-Type {ctype!r} is not supported: send application/json")
            try:
                payload = from_json(body)
            except ValueError:
                raise A2AError(PARSE_ERROR, "Parse error: the body is not JSON") from None
            if isinstance(payload, list):
                raise A2AError(INVALID_REQUEST, "Batch requests are not supported")
            if not isinstance(payload, dict):
                raise A2AError(INVALID_REQUEST, "The request must be a JSON-RPC object")
            candidate = payload.get("id")
            if candidate is None or (isinstance(candidate, str | int)
                                     and not isinstance(candidate, bool)):
                rid = candidate
            else:
                raise A2AError(INVALID_REQUEST, "id must be a string, a number or null")
            if payload.get("jsonrpc") != "2.0":
                raise A2AError(INVALID_REQUEST, 'jsonrpc must be "2.0"')
            method = payload.get("method")
            if not isinstance(method, str):
                raise A2AError(INVALID_REQUEST, "method is required")
            entry = METHODS.get(method)
            if entry is None:
                raise A2AError(METHOD_NOT_FOUND, f"Method not found: {method}")
            method_version, op = entry
            if method_version != version:
                if method_version == wire.V10:
                    version = wire.V10  # the client speaks 1.0: answer in 1.0
                raise A2AError(VERSION_NOT_SUPPORTED, (
                    f"{method} is an A2A {method_version} method: send the header "
                    f"'A2A-Version: {method_version}'" if method_version == wire.V10 else
                    f"{method} is an A2A 0.3 method; with A2A-Version {version} use the 1.0 "
                    "method names"))
            params = payload.get("params", {})
            if params is None and op == "card":
                params = {}
            if not isinstance(params, dict):
                raise invalid_params("params must be an object", field="params")
            user = await self.user(request)
            if op in STREAMING:
                try:
                    return await self._rpc_stream(request, op, params, user, version, skill,
                                                  rid)
                except Exception as exc:
                    if version == wire.V10:
                        raise
                    # 0.3 clients read a streaming method's answer as a stream, errors too.
                    error = from_exception(exc)
                    return await _sse(_one((None, {"jsonrpc": "2.0", "id": rid,
                                                   "error": error.jsonrpc(version)})),
                                      lambda item: item, lambda exc: (None, {}))
            result = await self._operation(request, op, params, user, version, skill)
            return _json({"jsonrpc": "2.0", "id": rid,
                          "result": self._rpc_result(op, result, version)})
        except Exception as exc:  # every failure is a JSON-RPC error, never a bare 500
            error = from_exception(exc)
            if not isinstance(exc, A2AError) and error.code == INTERNAL_ERROR:
                logger.exception("A2A request failed")
            status = error.http_status if error.code in (-32010, -32011, -32012) else 200
            return _json({"jsonrpc": "2.0", "id": rid, "error": error.jsonrpc(version)},
                         status, headers=error.headers)

    def _rpc_result(self, op: str, result: Any, version: str) -> Any:
        if version == wire.V10:
            if op == "push_list":
                return {"configs": result, "nextPageToken": ""}
            return result
        if op == "send":
            return wire.task_v03(result["task"]) if "task" in result else \
                wire.message_v03(result["message"])
        if op in ("get", "cancel"):
            return wire.task_v03(result)
        if op in ("push_create", "push_get"):
            return push_v03(result)
        if op == "push_list":
            return [push_v03(c) for c in result]
        return result

    async def _rpc_stream(self, request: Request, op: str, params: dict[str, Any],
                          user: UserContext, version: str, skill: str | None, rid: Any
                          ) -> Response:
        items = await self._stream(request, op, params, user, version, skill)

        def encode(item: dict[str, Any]) -> dict[str, Any]:
            result = item if version == wire.V10 else wire.stream_v03(item)
            return {"jsonrpc": "2.0", "id": rid, "result": result}

        def failure(exc: Exception) -> tuple[str | None, dict[str, Any]]:
            error = from_exception(exc)
            return ("error" if version == wire.V10 else None,
                    {"jsonrpc": "2.0", "id": rid, "error": error.jsonrpc(version)})

        return await _sse(items, encode, failure)

    # HTTP+JSON

    async def rest(self, request: Request, rest: str) -> Response:
        parts = rest.split("/") if rest else []
        if len(parts) == 2 and parts[1] == "" and parts[0] not in REST_ROOTS:
            parts = parts[:1]  # /a2a/{skill}/ is the skill's JSON-RPC endpoint too
        skill = None
        if parts and parts[0] not in REST_ROOTS:
            skill, parts = parts[0], parts[1:]
        if skill is not None and not parts:
            return await self.jsonrpc(request, skill)
        if parts[:1] == [".well-known"] and len(parts) == 2 and skill is not None:
            if parts[1] in ("agent-card.json", "agent.json"):
                flavor = "0.3" if parts[1] == "agent.json" else (
                    "merged" if self.app.settings.a2a_card_legacy_fields else "1.0")
                return self._card_response(request, flavor, skill)
        path_version = wire.V10
        if parts[:1] == ["v1"]:
            path_version, parts = wire.V03, parts[1:]
        media = A2A_JSON if A2A_JSON in (request.headers.get("accept", "") +
                                         request.headers.get("content-type", "")) else JSON
        legacy = path_version == wire.V03
        try:
            version = parse_version(request.headers.get(VERSION_HEADER)
                                    or request.query_params.get("A2A-Version"))
            route = _match(request.method, parts, legacy)
            if route is None:
                raise A2AError(METHOD_NOT_FOUND, f"no A2A operation at {request.method} "
                               f"{request.url.path}", http_status=404)
            if version != path_version:
                raise A2AError(VERSION_NOT_SUPPORTED, (
                    f"{request.url.path} is an A2A {path_version} path: send "
                    f"'A2A-Version: {path_version}'" if path_version == wire.V10 else
                    f"{request.url.path} is an A2A 0.3 path; with A2A-Version {version} "
                    "use the paths without /v1"))
            op, task_id, config_id = route
            params: dict[str, Any] = dict(request.query_params)
            params.pop("A2A-Version", None)
            if request.method in ("POST", "PUT"):
                body = await request.body()
                ctype = request.headers.get("content-type", "")
                if body.strip() and ctype and "json" not in ctype.lower():
                    raise A2AError(CONTENT_TYPE_NOT_SUPPORTED,
                                   f"Content-Type {ctype!r} is not supported: send "
                                   "application/json", http_status=415)
                if body.strip():
                    try:
                        data = from_json(body)
                    except ValueError:
                        raise A2AError(PARSE_ERROR, "the body is not JSON") from None
                    if not isinstance(data, dict):
                        raise invalid_params("the body must be a JSON object")
                    params.update(data)
            if op in ("send", "stream") and "request" in params and "message" not in params:
                params["message"] = params.pop("request")
            if task_id is not None and op != "push_create":
                params["id"] = task_id
            user = await self.user(request)
            if op in STREAMING:
                return await self._rest_stream(request, op, params, user, version, skill,
                                               legacy)
            result = await self._operation(request, op, params, user, version, skill,
                                           task_id=task_id, config_id=config_id, rest=True)
            return _json(self._rest_result(op, result, legacy), media_type=media)
        except Exception as exc:
            error = from_exception(exc)
            if not isinstance(exc, A2AError) and error.code == INTERNAL_ERROR:
                logger.exception("A2A request failed")
            return _json(error.status_body(), error.http_status, headers=error.headers)

    def _rest_result(self, op: str, result: Any, legacy: bool) -> Any:
        if op == "push_list":
            configs = [push_v03_rest(c) for c in result] if legacy else result
            return {"configs": configs, "nextPageToken": ""} if configs or not legacy else {}
        if op == "push_delete":
            return {}
        if not legacy:
            return result
        if op == "send":
            return {"task": wire.task_v03(result["task"], True)} if "task" in result else \
                {"message": wire.message_v03(result["message"], True)}
        if op in ("get", "cancel"):
            return wire.task_v03(result, True)
        if op in ("push_create", "push_get"):
            return push_v03_rest(result)
        return result

    async def _rest_stream(self, request: Request, op: str, params: dict[str, Any],
                           user: UserContext, version: str, skill: str | None, legacy: bool
                           ) -> Response:
        items = await self._stream(request, op, params, user, version, skill, rest=legacy)

        def encode(item: dict[str, Any]) -> dict[str, Any]:
            return wire.stream_v03(item, True) if legacy else item

        def failure(exc: Exception) -> tuple[str | None, dict[str, Any]]:
            return "error", from_exception(exc).status_body()

        return await _sse(items, encode, failure)

    # operations (binding-neutral)

    async def _stream(self, request: Request, op: str, params: dict[str, Any],
                      user: UserContext, version: str, skill: str | None, rest: bool = False
                      ) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
        if op == "stream":
            message = wire.message_in(params.get("message"), version, rest=rest)
            started = await self.service.start(params, message, user, request.headers,
                                               version, skill, grpc_json=rest)
            return self.service.stream(started)
        return await self.service.subscribe(params, user, request.headers.get("last-event-id"))

    async def _operation(self, request: Request, op: str, params: dict[str, Any],
                         user: UserContext, version: str, skill: str | None, *,
                         task_id: str | None = None, config_id: str | None = None,
                         rest: bool = False) -> Any:
        service = self.service
        if op == "send":
            message = wire.message_in(params.get("message"), version,
                                      rest=rest and version == wire.V03)
            started = await service.start(params, message, user, request.headers, version,
                                          skill, grpc_json=rest and version == wire.V03)
            return await service.settle(started)
        if op == "get":
            return await service.get_task(params, user)
        if op == "list":
            return await service.list_tasks(params, user)
        if op == "cancel":
            return await service.cancel(params, user)
        if op == "card":
            if not self.cards.extended_enabled():
                raise A2AError(EXTENDED_CARD_NOT_CONFIGURED)
            card = self.cards.card(self.base_url(request), extended=True, user=user)
            return self.cards.v03(card) if version == wire.V03 else card
        # push configs
        if op == "push_create":
            task_id = task_id or _param(params, "taskId", "parent")
            if rest and version == wire.V03:
                config_id = wire.pick(params, "configId")
                inner = params.get("config") or params
                if isinstance(inner, dict):
                    inner = wire.pick(inner, "pushNotificationConfig") or inner
                if isinstance(inner, dict) and config_id and "id" not in inner:
                    inner = {**inner, "id": config_id}
                params = {"pushNotificationConfig": inner}
            params.pop("id", None) if version == wire.V03 and not rest else None
            return await service.create_push(params, user, version, task_id)
        if version == wire.V10 and not rest:
            task_id = _param(params, "taskId")
            config_id = wire.pick(params, "id")
        elif not rest:  # 0.3 JSON-RPC: id is the task, pushNotificationConfigId the config
            task_id = _param(params, "id")
            config_id = wire.pick(params, "pushNotificationConfigId")
        assert task_id is not None
        if op == "push_get":
            return await service.get_push(task_id, config_id, user)
        if op == "push_list":
            return await service.list_push(task_id, user)
        if op == "push_delete":
            await service.delete_push(task_id, config_id, user)
            return None
        raise A2AError(METHOD_NOT_FOUND)


def _param(params: dict[str, Any], *names: str) -> str:
    for name in names:
        value = wire.pick(params, name)
        if isinstance(value, str) and value:
            return value[len("tasks/"):] if value.startswith("tasks/") else value
    raise invalid_params(f"{names[0]} is required", field=names[0])


def _match(method: str, parts: list[str], legacy: bool
           ) -> tuple[str, str | None, str | None] | None:
    """(operation, task id, config id) of an HTTP+JSON request, or None."""
    n = len(parts)
    if n == 1 and method == "POST" and parts[0] == "message:send":
        return "send", None, None
    if n == 1 and method == "POST" and parts[0] == "message:stream":
        return "stream", None, None
    if n == 1 and method == "GET" and parts[0] == ("card" if legacy else "extendedAgentCard"):
        return "card", None, None
    if not parts or parts[0] != "tasks":
        return None
    if n == 1 and method == "GET":
        return "list", None, None
    if n == 2:
        task, _, verb = parts[1].partition(":")
        if not task:
            return None
        if verb == "" and method == "GET":
            return "get", task, None
        if verb == "cancel" and method == "POST":
            return "cancel", task, None
        if verb == "subscribe" and method in ("GET", "POST"):
            return "subscribe", task, None
        return None
    if n >= 3 and parts[2] == "pushNotificationConfigs" and parts[1]:
        if n == 3 and method == "POST":
            return "push_create", parts[1], None
        if n == 3 and method == "GET":
            return "push_list", parts[1], None
        if n == 4 and parts[3] and method == "GET":
            return "push_get", parts[1], parts[3]
        if n == 4 and parts[3] and method == "DELETE":
            return "push_delete", parts[1], parts[3]
    return None


def push_v03(config: dict[str, Any]) -> dict[str, Any]:
    inner: dict[str, Any] = {"id": config["id"], "url": config["url"]}
    if config.get("token"):
        inner["token"] = config["token"]
    auth = config.get("authentication")
    if auth:
        inner["authentication"] = {"schemes": [auth["scheme"]],
                                   **({"credentials": auth["credentials"]}
                                      if auth.get("credentials") else {})}
    return {"taskId": config["taskId"], "pushNotificationConfig": inner}


def push_v03_rest(config: dict[str, Any]) -> dict[str, Any]:
    inner = push_v03(config)["pushNotificationConfig"]
    return {"name": f"tasks/{config['taskId']}/pushNotificationConfigs/{config['id']}",
            "pushNotificationConfig": inner}


async def _one(item: tuple[str | None, dict[str, Any]]
               ) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
    yield item


def _frame(event_id: str | None, payload: Any) -> bytes:
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"data: " + to_json(payload) + b"\n\n"


async def _sse(items: AsyncIterator[tuple[str | None, dict[str, Any]]],
               encode: Callable[[dict[str, Any]], Any],
               failure: Callable[[Exception], tuple[str | None, dict[str, Any]]]) -> Response:
    """An SSE answer; the first item is awaited first, so an early failure is a plain error."""
    from sse_starlette import EventSourceResponse

    try:
        first = await anext(items)
    except StopAsyncIteration:
        first = None

    async def body() -> AsyncIterator[bytes]:
        if first is None:
            return
        event_id, item = first
        yield _frame(event_id, encode(item))
        try:
            async for event_id, item in items:
                yield _frame(event_id, encode(item))
        except Exception as exc:  # after the stream started: an error event, then the end
            event, payload = failure(exc)
            head = f"event: {event}\n".encode() if event else b""
            yield head + b"data: " + to_json(payload) + b"\n\n"

    return EventSourceResponse(body(), ping=15, headers=SSE_HEADERS)

