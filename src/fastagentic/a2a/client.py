"""An async A2A 1.0 client on httpx: JSON-RPC and HTTP+JSON, streaming over SSE.

Results are the 1.0 JSON objects as sent (camelCase dicts): ``send`` answers a
SendMessageResponse (``{"task": ...}`` or ``{"message": ...}``), ``stream`` and ``subscribe``
yield StreamResponses.  Errors raise :class:`A2AError` subclasses, mapped from JSON-RPC codes
and from the ``google.rpc.ErrorInfo`` reason of HTTP+JSON error bodies.

The client is protocol-agnostic above its bindings: each operation is a 1.0 method name and a
params dict; a binding encodes it (a JSON-RPC request, or an HTTP+JSON path, query and body).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

import httpx
from httpx_sse import EventSource

from ..telemetry.propagation import current_headers, within

if TYPE_CHECKING:
    from .envelope import Envelope

VERSION = "1.0"
JSONRPC = "JSONRPC"
HTTP_JSON = "HTTP+JSON"
BINDINGS = (JSONRPC, HTTP_JSON)
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"

Trace = str | Mapping[str, str] | None


# errors


class A2AError(Exception):
    """An A2A error: ``code`` (JSON-RPC code), ``message``, ``data`` (the typed details)."""

    code: int = -32603
    reason: str = ""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data
        info = _error_info(data)
        if info is not None:
            self.reason = str(info.get("reason", self.reason))


class _KnownError(A2AError):
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(type(self).code, message or self.default_message, data)


class JSONParseError(_KnownError):
    """The payload is not JSON."""

    code = -32700
    reason = "PARSE_ERROR"
    default_message = "Parse error"


class InvalidRequestError(_KnownError):
    """The request is not a valid request."""

    code = -32600
    reason = "INVALID_REQUEST"
    default_message = "Invalid request"


class MethodNotFoundError(_KnownError):
    """The method (or HTTP+JSON path) does not exist."""

    code = -32601
    reason = "METHOD_NOT_FOUND"
    default_message = "Method not found"


class InvalidParamsError(_KnownError):
    """The parameters are invalid."""

    code = -32602
    reason = "INVALID_PARAMS"
    default_message = "Invalid params"


class InternalError(_KnownError):
    """The server failed."""

    code = -32603
    reason = "INTERNAL_ERROR"
    default_message = "Internal error"


class TaskNotFoundError(_KnownError):
    """No such task (or not the caller's)."""

    code = -32001
    reason = "TASK_NOT_FOUND"
    default_message = "Task not found"


class TaskNotCancelableError(_KnownError):
    """The task cannot be canceled (it already ended)."""

    code = -32002
    reason = "TASK_NOT_CANCELABLE"
    default_message = "Task cannot be canceled"


class PushNotificationNotSupportedError(_KnownError):
    """The agent does not do push notifications."""

    code = -32003
    reason = "PUSH_NOTIFICATION_NOT_SUPPORTED"
    default_message = "Push Notification is not supported"


class UnsupportedOperationError(_KnownError):
    """The operation is not supported (e.g. on a task that ended)."""

    code = -32004
    reason = "UNSUPPORTED_OPERATION"
    default_message = "This operation is not supported"


class ContentTypeNotSupportedError(_KnownError):
    """A media type is not supported."""

    code = -32005
    reason = "CONTENT_TYPE_NOT_SUPPORTED"
    default_message = "Incompatible content types"


class InvalidAgentResponseError(_KnownError):
    """The agent's answer is not valid A2A."""

    code = -32006
    reason = "INVALID_AGENT_RESPONSE"
    default_message = "Invalid agent response"


class ExtendedAgentCardNotConfiguredError(_KnownError):
    """The agent has no extended card."""

    code = -32007
    reason = "EXTENDED_AGENT_CARD_NOT_CONFIGURED"
    default_message = "Extended agent card is not configured"


class ExtensionSupportRequiredError(_KnownError):
    """The agent requires an extension the client did not declare."""

    code = -32008
    reason = "EXTENSION_SUPPORT_REQUIRED"
    default_message = "Extension support required"


class VersionNotSupportedError(_KnownError):
    """The agent does not speak this A2A version."""

    code = -32009
    reason = "VERSION_NOT_SUPPORTED"
    default_message = "Version not supported"


KNOWN_ERRORS: tuple[type[_KnownError], ...] = (
    JSONParseError, InvalidRequestError, MethodNotFoundError, InvalidParamsError, InternalError,
    TaskNotFoundError, TaskNotCancelableError, PushNotificationNotSupportedError,
    UnsupportedOperationError, ContentTypeNotSupportedError, InvalidAgentResponseError,
    ExtendedAgentCardNotConfiguredError, ExtensionSupportRequiredError, VersionNotSupportedError,
)
ERRORS_BY_CODE = {cls.code: cls for cls in KNOWN_ERRORS}
ERRORS_BY_REASON = {cls.reason: cls for cls in KNOWN_ERRORS if cls.reason}


class A2AHTTPError(A2AError):
    """An HTTP failure without an A2A error body (a proxy's 502, an HTML 404, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(InternalError.code, message, {"status": status})
        self.status = status


class AgentCardError(A2AError):
    """No usable agent card: none found, not JSON, or no A2A 1.0 interface we can speak."""

    def __init__(self, message: str) -> None:
        super().__init__(InternalError.code, message)


def _error_info(data: Any) -> dict[str, Any] | None:
    if isinstance(data, list):
        for detail in data:
            if isinstance(detail, dict) and detail.get("@type") == ERROR_INFO:
                return detail
    return None


def error_from_jsonrpc(error: Any) -> A2AError:
    """The exception for a JSON-RPC ``error`` object (by code)."""
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return InvalidAgentResponseError(f"malformed JSON-RPC error: {error!r}")
    code, message, data = error["code"], str(error.get("message", "")), error.get("data")
    cls = ERRORS_BY_CODE.get(code)
    return cls(message or None, data) if cls is not None else A2AError(code, message, data)


def error_from_status(http_status: int, body: Any) -> A2AError:
    """The exception for an HTTP+JSON error body (``google.rpc.Status``, by ErrorInfo reason)."""
    status = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(status, dict) or not ("message" in status or "details" in status):
        return A2AHTTPError(http_status, f"HTTP {http_status}")
    message, details = str(status.get("message", "")), status.get("details")
    info = _error_info(details)
    cls = ERRORS_BY_REASON.get(str(info.get("reason"))) if info is not None else None
    if cls is None:
        error = A2AHTTPError(http_status, message or f"HTTP {http_status}")
        error.data = details
        return error
    return cls(message or None, details)


# messages


def user_message(content: str | Mapping[str, Any], *, context_id: str | None = None,
                 task_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                 envelope: Envelope | None = None) -> dict[str, Any]:
    """A 1.0 user Message: a str is one text part, a dict with ``parts`` is a Message (its
    ``messageId`` and ``role`` filled in when missing), any other dict is one data part."""
    if isinstance(content, str):
        message: dict[str, Any] = {"parts": [{"text": content}]}
    elif isinstance(content, Mapping) and isinstance(content.get("parts"), list):
        message = dict(content)
    elif isinstance(content, Mapping):
        message = {"parts": [{"data": dict(content)}]}
    else:
        raise TypeError(f"a message is a str, a data dict or a Message dict, not {content!r}")
    message.setdefault("messageId", uuid.uuid4().hex)
    message.setdefault("role", "ROLE_USER")
    if context_id is not None:
        message["contextId"] = context_id
    if task_id is not None:
        message["taskId"] = task_id
    extra = dict(metadata or {})
    if envelope is not None:
        extra.update(envelope.to_message_metadata())
    if extra:
        message["metadata"] = {**(message.get("metadata") or {}), **extra}
    return message


def parts_text(parts: Any, separator: str = "") -> str:
    """The text of the text parts of a list of 1.0 Parts."""
    return separator.join(p["text"] for p in parts or () if isinstance(p, dict)
                          and isinstance(p.get("text"), str))


def trace_headers(trace: Trace) -> dict[str, str]:
    """W3C trace context headers from a ``traceparent`` string or a header mapping."""
    if trace is None:
        return {}
    if isinstance(trace, str):
        return {"traceparent": trace}
    return {k: str(trace[k]) for k in ("traceparent", "tracestate") if trace.get(k)}


def _trace_or_current(trace: Trace) -> dict[str, str]:
    """``trace``'s headers; without one, the current OpenTelemetry span's context, so a call
    made inside a traced request or run continues its trace (the current span is also the
    parent when it belongs to ``trace``'s trace)."""
    return within(trace_headers(trace)) if trace is not None else current_headers()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _state_name(status: str) -> str:
    """``working`` / ``input-required`` / ``TASK_STATE_WORKING`` -> ``TASK_STATE_WORKING``."""
    upper = status.upper().replace("-", "_")
    return upper if upper.startswith("TASK_STATE_") else "TASK_STATE_" + upper


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value)


# bindings


class _Binding:
    """Encodes 1.0 operations (method name + params) for one interface."""

    def __init__(self, http: httpx.AsyncClient, url: str, timeout: httpx.Timeout) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.stream_timeout = httpx.Timeout(timeout.connect, read=None, write=timeout.write,
                                            pool=timeout.pool)

    async def call(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        raise NotImplementedError

    def stream(self, method: str, params: dict[str, Any], headers: dict[str, str]
               ) -> AsyncGenerator[dict[str, Any], None]:
        raise NotImplementedError


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_sse(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("text/event-stream")


class _JsonRpc(_Binding):
    def __init__(self, http: httpx.AsyncClient, url: str, timeout: httpx.Timeout) -> None:
        super().__init__(http, url, timeout)
        self._ids = itertools.count(1)

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    @staticmethod
    def _result(response: httpx.Response, body: Any) -> Any:
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            if not response.is_success:
                raise A2AHTTPError(response.status_code, f"HTTP {response.status_code}")
            raise InvalidAgentResponseError(f"not a JSON-RPC response: {response.text[:200]!r}")
        if "error" in body:
            raise error_from_jsonrpc(body["error"])
        return body["result"]

    async def call(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        response = await self.http.post(self.url, json=self._request(method, params),
                                        headers=headers, timeout=self.timeout)
        return self._result(response, _json_body(response))

    async def stream(self, method: str, params: dict[str, Any], headers: dict[str, str]
                     ) -> AsyncGenerator[dict[str, Any], None]:
        headers = {**headers, "Accept": "text/event-stream"}
        async with self.http.stream("POST", self.url, json=self._request(method, params),
                                    headers=headers, timeout=self.stream_timeout) as response:
            if not _is_sse(response):  # an error before the first event (or a single answer)
                await response.aread()
                yield self._result(response, _json_body(response))
                return
            async for sse in EventSource(response).aiter_sse():
                if sse.data:
                    yield self._result(response, sse.json())


# 1.0 method -> (HTTP verb, path template, where the other params go)
REST_ROUTES: dict[str, tuple[str, str, str]] = {
    "SendMessage": ("POST", "/message:send", "body"),
    "SendStreamingMessage": ("POST", "/message:stream", "body"),
    "GetTask": ("GET", "/tasks/{id}", "query"),
    "ListTasks": ("GET", "/tasks", "query"),
    "CancelTask": ("POST", "/tasks/{id}:cancel", "body"),
    "SubscribeToTask": ("POST", "/tasks/{id}:subscribe", "none"),
    "CreateTaskPushNotificationConfig": ("POST", "/tasks/{taskId}/pushNotificationConfigs",
                                         "body"),
    "GetTaskPushNotificationConfig": ("GET", "/tasks/{taskId}/pushNotificationConfigs/{id}",
                                      "none"),
    "ListTaskPushNotificationConfigs": ("GET", "/tasks/{taskId}/pushNotificationConfigs",
                                        "query"),
    "DeleteTaskPushNotificationConfig": ("DELETE",
                                         "/tasks/{taskId}/pushNotificationConfigs/{id}", "none"),
    "GetExtendedAgentCard": ("GET", "/extendedAgentCard", "none"),
}


class _Rest(_Binding):
    def _prepare(self, method: str, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        verb, template, rest = REST_ROUTES[method]
        params = dict(params)
        tenant = params.pop("tenant", None)
        path = template
        for name in ("taskId", "id"):
            if "{" + name + "}" in path:
                value = params.get(name) if name == "id" and method == "CancelTask" \
                    else params.pop(name, None)
                if not isinstance(value, str) or not value:
                    raise InvalidParamsError(f"{method} needs a non-empty {name}")
                path = path.replace("{" + name + "}", quote(value, safe=""))
        if tenant:
            path = "/" + quote(str(tenant), safe="") + path
        kwargs: dict[str, Any] = {}
        if rest == "body":
            kwargs["json"] = params
        elif rest == "query":
            query: list[tuple[str, str]] = []
            for key, value in params.items():
                if value is None:
                    continue
                values = value if isinstance(value, list | tuple) else [value]
                query.extend((key, _query_value(v)) for v in values)
            kwargs["params"] = query
        return verb, self.url + path, kwargs

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if not response.is_success:
            raise error_from_status(response.status_code, _json_body(response))

    async def call(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        verb, url, kwargs = self._prepare(method, params)
        response = await self.http.request(verb, url, headers=headers, timeout=self.timeout,
                                           **kwargs)
        self._raise_for(response)
        if method == "DeleteTaskPushNotificationConfig":
            return None
        body = _json_body(response)
        if body is None:
            raise InvalidAgentResponseError(f"not a JSON response: {response.text[:200]!r}")
        return body

    async def stream(self, method: str, params: dict[str, Any], headers: dict[str, str]
                     ) -> AsyncGenerator[dict[str, Any], None]:
        verb, url, kwargs = self._prepare(method, params)
        headers = {**headers, "Accept": "text/event-stream"}
        async with self.http.stream(verb, url, headers=headers, timeout=self.stream_timeout,
                                    **kwargs) as response:
            if not _is_sse(response):
                await response.aread()
                self._raise_for(response)
                body = _json_body(response)
                if not isinstance(body, dict):
                    raise InvalidAgentResponseError("expected an event stream")
                yield body
                return
            async for sse in EventSource(response).aiter_sse():
                if not sse.data:
                    continue
                data = sse.json()
                if sse.event == "error" or (isinstance(data, dict) and "error" in data
                                            and len(data) == 1):
                    raise error_from_status(response.status_code, data)
                yield data


# the client


def select_interface(card: Mapping[str, Any], binding: str | None = None) -> dict[str, Any]:
    """The card's first A2A 1.x interface of ``binding`` (default: JSON-RPC, else HTTP+JSON)."""
    wanted = (normalize_binding(binding),) if binding else BINDINGS
    interfaces = [i for i in card.get("supportedInterfaces") or () if isinstance(i, dict)]
    for name in wanted:
        for interface in interfaces:
            version = str(interface.get("protocolVersion") or "")
            if str(interface.get("protocolBinding", "")).upper() == name \
                    and version.split(".")[0] == "1" and interface.get("url"):
                return interface
    offered = ", ".join(f"{i.get('protocolBinding')} {i.get('protocolVersion')}"
                        for i in interfaces) or "none"
    raise AgentCardError(f"agent {card.get('name')!r} offers no A2A 1.0 interface over "
                         f"{' or '.join(wanted)} (it offers: {offered})")


def normalize_binding(binding: str) -> str:
    name = binding.upper()
    name = {"REST": HTTP_JSON, "HTTP_JSON": HTTP_JSON, "JSON-RPC": JSONRPC}.get(name, name)
    if name not in BINDINGS:
        raise ValueError(f"unknown A2A binding {binding!r}: use {' or '.join(BINDINGS)}")
    return name


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    return timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)


async def fetch_card(http: httpx.AsyncClient, url: str, *, headers: Mapping[str, str] | None = None,
                     timeout: float | httpx.Timeout = 30.0) -> tuple[dict[str, Any], str]:
    """The agent card at ``url`` (a card URL, or a base URL: the well-known paths are tried),
    and the URL it came from."""
    path = urlsplit(url).path
    is_card = path.endswith(".json")
    candidates = [url] if is_card else [url.rstrip("/") + p for p in CARD_PATHS]
    problems = []
    for candidate in candidates:
        try:
            # The current trace, unless ``headers`` carry one.
            response = await http.get(candidate, headers={**current_headers(), **(headers or {}),
                                                          "A2A-Version": VERSION},
                                      timeout=_timeout(timeout))
        except httpx.HTTPError as exc:
            problems.append(f"{candidate}: {type(exc).__name__}: {exc}")
            continue
        body = _json_body(response) if response.is_success else None
        if isinstance(body, dict):
            return body, str(response.url)
        problems.append(f"{candidate}: HTTP {response.status_code}"
                        + ("" if response.is_error else ", not a JSON object"))
    raise AgentCardError("no agent card found: " + "; ".join(problems))


class A2AClient:
    """A client of one A2A agent, over the card's first 1.0 interface of an allowed binding.

    ``headers`` go on every request (authentication); ``trace`` (a ``traceparent`` or a mapping
    with ``traceparent``/``tracestate``) too, unless a call passes its own; with neither, the
    current OpenTelemetry span's context is sent.
    """

    def __init__(self, card: Mapping[str, Any], *, card_url: str | None = None,
                 headers: Mapping[str, str] | None = None, binding: str | None = None,
                 httpx_client: httpx.AsyncClient | None = None,
                 timeout: float | httpx.Timeout = 30.0, trace: Trace = None) -> None:
        self.card = dict(card)
        self.interface = select_interface(self.card, binding)
        self.binding: str = str(self.interface["protocolBinding"]).upper()
        self.url = str(self.interface["url"])
        if card_url is not None:
            self.url = urljoin(card_url, self.url)
        self.tenant: str | None = self.interface.get("tenant") or None
        self.headers = dict(headers or {})
        self.trace = trace
        self._owns_http = httpx_client is None
        self.http = httpx_client or httpx.AsyncClient()
        kind = _JsonRpc if self.binding == JSONRPC else _Rest
        self._binding: _Binding = kind(self.http, self.url, _timeout(timeout))

    @classmethod
    async def connect(cls, url: str, *, headers: Mapping[str, str] | None = None,
                      binding: str | None = None, httpx_client: httpx.AsyncClient | None = None,
                      timeout: float | httpx.Timeout = 30.0, trace: Trace = None) -> A2AClient:
        """Resolve the agent card at ``url`` (base or card URL) and make a client for it."""
        http = httpx_client or httpx.AsyncClient()
        try:
            card, card_url = await fetch_card(
                http, url, headers={**(headers or {}), **trace_headers(trace)}, timeout=timeout)
            client = cls(card, card_url=card_url, headers=headers, binding=binding,
                         httpx_client=http, timeout=timeout, trace=trace)
        except BaseException:
            if httpx_client is None:
                await http.aclose()
            raise
        client._owns_http = httpx_client is None
        return client

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> A2AClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # plumbing

    def _headers(self, trace: Trace, headers: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.headers, **_trace_or_current(self.trace if trace is None else trace),
                **(headers or {}), "A2A-Version": VERSION}

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        if self.tenant:
            params["tenant"] = self.tenant
        return params

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   trace: Trace = None, headers: Mapping[str, str] | None = None) -> Any:
        """Any 1.0 method by name (params as 1.0 JSON); answers its result."""
        return await self._binding.call(method, self._params(params or {}),
                                        self._headers(trace, headers))

    async def _object(self, method: str, params: dict[str, Any], trace: Trace,
                      headers: Mapping[str, str] | None) -> dict[str, Any]:
        result = await self.call(method, params, trace=trace, headers=headers)
        if not isinstance(result, dict):
            raise InvalidAgentResponseError(f"{method} answered {result!r}, not an object")
        return result

    async def call_stream(self, method: str, params: dict[str, Any] | None = None, *,
                          trace: Trace = None, headers: Mapping[str, str] | None = None
                          ) -> AsyncGenerator[dict[str, Any], None]:
        """Any streaming 1.0 method by name: its StreamResponses."""
        events = self._binding.stream(method, self._params(params or {}),
                                      self._headers(trace, headers))
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    def _send_params(self, message: str | Mapping[str, Any], context_id: str | None,
                     task_id: str | None, metadata: Mapping[str, Any] | None,
                     message_metadata: Mapping[str, Any] | None, envelope: Envelope | None,
                     configuration: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"message": user_message(
            message, context_id=context_id, task_id=task_id, metadata=message_metadata,
            envelope=envelope)}
        configuration = {k: v for k, v in configuration.items() if v is not None}
        if configuration:
            params["configuration"] = configuration
        if metadata:
            params["metadata"] = dict(metadata)
        return params

    # operations

    async def send(self, message: str | Mapping[str, Any], *, context_id: str | None = None,
                   task_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                   blocking: bool = True, history_length: int | None = None,
                   accepted_output_modes: list[str] | None = None,
                   push_config: Mapping[str, Any] | None = None,
                   message_metadata: Mapping[str, Any] | None = None,
                   envelope: Envelope | None = None,
                   trace: Trace = None, headers: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
        """SendMessage: ``{"task": Task}`` or ``{"message": Message}``.

        ``metadata`` is the request's metadata, ``message_metadata`` the message's (the
        envelope joins it); ``blocking=False`` asks the server to answer once the task exists
        (``returnImmediately``).
        """
        params = self._send_params(message, context_id, task_id, metadata, message_metadata,
                                   envelope, {
            "returnImmediately": True if not blocking else None,
            "historyLength": history_length, "acceptedOutputModes": accepted_output_modes,
            "taskPushNotificationConfig": dict(push_config) if push_config else None,
        })
        result = await self._object("SendMessage", params, trace, headers)
        if not {"task", "message"} & result.keys():
            raise InvalidAgentResponseError(f"not a SendMessageResponse: {result!r}")
        return result

    async def stream(self, message: str | Mapping[str, Any], *, context_id: str | None = None,
                     task_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                     history_length: int | None = None,
                     accepted_output_modes: list[str] | None = None,
                     push_config: Mapping[str, Any] | None = None,
                     message_metadata: Mapping[str, Any] | None = None,
                     envelope: Envelope | None = None,
                     trace: Trace = None, headers: Mapping[str, str] | None = None
                     ) -> AsyncGenerator[dict[str, Any], None]:
        """SendStreamingMessage: StreamResponses (``task``, ``message``, ``statusUpdate``,
        ``artifactUpdate``) until the task ends or needs input (options as for ``send``)."""
        params = self._send_params(message, context_id, task_id, metadata, message_metadata,
                                   envelope, {
            "historyLength": history_length, "acceptedOutputModes": accepted_output_modes,
            "taskPushNotificationConfig": dict(push_config) if push_config else None,
        })
        async for event in self.call_stream("SendStreamingMessage", params, trace=trace,
                                            headers=headers):
            yield event

    async def get_task(self, task_id: str, *, history_length: int | None = None,
                       trace: Trace = None, headers: Mapping[str, str] | None = None
                       ) -> dict[str, Any]:
        return await self._object("GetTask", {"id": task_id, "historyLength": history_length},
                                  trace, headers)

    async def list_tasks(self, *, trace: Trace = None, headers: Mapping[str, str] | None = None,
                         **filters: Any) -> dict[str, Any]:
        """ListTasks: ``context_id``, ``status`` (``working`` or ``TASK_STATE_WORKING``),
        ``page_size``, ``page_token``, ``history_length``, ``status_timestamp_after``,
        ``include_artifacts``; answers ``{tasks, nextPageToken, pageSize, totalSize}``."""
        params = {_camel(k): v for k, v in filters.items()}
        if isinstance(params.get("status"), str):
            params["status"] = _state_name(params["status"])
        if isinstance(params.get("statusTimestampAfter"), dt.datetime):
            params["statusTimestampAfter"] = _query_value(params["statusTimestampAfter"])
        return await self._object("ListTasks", params, trace, headers)

    async def cancel_task(self, task_id: str, *, metadata: Mapping[str, Any] | None = None,
                          trace: Trace = None, headers: Mapping[str, str] | None = None
                          ) -> dict[str, Any]:
        params = {"id": task_id, "metadata": dict(metadata) if metadata else None}
        return await self._object("CancelTask", params, trace, headers)

    async def subscribe(self, task_id: str, *, trace: Trace = None,
                        headers: Mapping[str, str] | None = None
                        ) -> AsyncGenerator[dict[str, Any], None]:
        """SubscribeToTask: the Task first, then its updates until it ends."""
        async for event in self.call_stream("SubscribeToTask", {"id": task_id}, trace=trace,
                                            headers=headers):
            yield event

    async def create_push_config(self, task_id: str, url: str, *, config_id: str | None = None,
                                 token: str | None = None,
                                 authentication: Mapping[str, Any] | None = None,
                                 trace: Trace = None, headers: Mapping[str, str] | None = None
                                 ) -> dict[str, Any]:
        """CreateTaskPushNotificationConfig (``authentication``: ``{scheme, credentials}``)."""
        params = {"taskId": task_id, "id": config_id, "url": url, "token": token,
                  "authentication": dict(authentication) if authentication else None}
        return await self._object("CreateTaskPushNotificationConfig", params, trace, headers)

    async def get_push_config(self, task_id: str, config_id: str, *, trace: Trace = None,
                              headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        return await self._object("GetTaskPushNotificationConfig",
                                  {"taskId": task_id, "id": config_id}, trace, headers)

    async def list_push_configs(self, task_id: str, *, page_size: int | None = None,
                                page_token: str | None = None, trace: Trace = None,
                                headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """ListTaskPushNotificationConfigs: ``{"configs": [...], "nextPageToken"?}``."""
        result = await self._object("ListTaskPushNotificationConfigs",
                                    {"taskId": task_id, "pageSize": page_size,
                                     "pageToken": page_token}, trace, headers)
        result.setdefault("configs", [])  # the SDK answers {} when there are none
        return result

    async def delete_push_config(self, task_id: str, config_id: str, *, trace: Trace = None,
                                 headers: Mapping[str, str] | None = None) -> None:
        await self.call("DeleteTaskPushNotificationConfig",
                        {"taskId": task_id, "id": config_id}, trace=trace, headers=headers)

    async def get_extended_card(self, *, trace: Trace = None,
                                headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GetExtendedAgentCard (the card for authenticated callers)."""
        return await self._object("GetExtendedAgentCard", {}, trace, headers)


__all__ = [
    "A2AClient",
    "A2AError",
    "A2AHTTPError",
    "AgentCardError",
    "ContentTypeNotSupportedError",
    "ExtendedAgentCardNotConfiguredError",
    "ExtensionSupportRequiredError",
    "InternalError",
    "InvalidAgentResponseError",
    "InvalidParamsError",
    "InvalidRequestError",
    "JSONParseError",
    "MethodNotFoundError",
    "PushNotificationNotSupportedError",
    "TaskNotCancelableError",
    "TaskNotFoundError",
    "UnsupportedOperationError",
    "VersionNotSupportedError",
    "fetch_card",
    "parts_text",
    "select_interface",
    "trace_headers",
    "user_message",
]
