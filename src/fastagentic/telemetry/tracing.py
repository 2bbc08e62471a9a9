"""OpenTelemetry spans for everything an App does: requests, calls, runs and their steps.

Two pieces, both fed by one tracer (``configure_otel`` makes it):

* :class:`TracingMiddleware`, a pure ASGI wrapper: one ``SERVER`` span per HTTP request or
  WebSocket connection, continuing the caller's trace (``traceparent``).  An SSE response gets
  the number of events it sent as an attribute, a WebSocket the messages each way (and a span
  event per message received): no span per event.
* :class:`TracingWatcher`, a lifecycle :class:`~fastagentic.core.lifecycle.Watcher`: the call
  a request was made for (a tool, a resource, a prompt, an agent run started) is described on
  the request's span (``fastagentic.kind``, ``fastagentic.target``, ...: one span per request
  keeps tracing cheap); a call with no request span of its own (stdio, a delegation, the second
  call of a batch) gets a span (``tool add``, ``agent /triage``).  Then a span per run attempt
  (``run triage``, continuing the trace stored with the run, on whichever process executes
  it), per model call (``chat gpt-4o``, GenAI semantic conventions), tool call
  (``execute_tool lookup``), adapter node (``node plan``) and store operation
  (``store append_events``).

Span attributes carry names, ids and counts, never arguments, prompts or results; the user and
tenant ids and exception messages go through :func:`fastagentic.telemetry.redact.redact_value`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..core.lifecycle import Watcher
from .redact import redact_value
from .routes import RouteTemplates

#: Step attributes that may be exported as they are (names, ids, counts; no content).
STEP_ATTRIBUTES = frozenset({
    "gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons",
    "gen_ai.request.max_tokens", "gen_ai.request.temperature", "gen_ai.request.top_p",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.conversation.id",
    "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.type", "gen_ai.agent.name",
    "db.system", "db.system.name", "db.operation.name",
})

#: Short names the points use for the same things.
_ALIASES = {"model": "gen_ai.request.model", "provider": "gen_ai.provider.name",
            "system": "gen_ai.system", "input_tokens": "gen_ai.usage.input_tokens",
            "output_tokens": "gen_ai.usage.output_tokens", "tool": "gen_ai.tool.name",
            "call_id": "gen_ai.tool.call.id", "operation": "db.operation.name"}

#: ``durable_store`` URL schemes -> ``db.system``.
_DB_SYSTEMS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql",
               "redis": "redis", "rediss": "redis"}

_W3C = TraceContextTextMapPropagator()


@functools.lru_cache(maxsize=4096)
def _redacted(value: str) -> str:
    """User and tenant ids repeat: each is redacted once."""
    return str(redact_value(value))


def _record(span: Any, error: BaseException) -> None:
    """Record ``error`` on ``span`` (its message and traceback redacted)."""
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    span.record_exception(error, attributes={
        "exception.message": str(redact_value(str(error))),
        "exception.stacktrace": str(redact_value(stack))})
    span.set_attribute("error.type", type(error).__qualname__)


def _fail(span: Any, error: BaseException) -> None:
    """Record ``error`` on ``span`` and mark the span failed."""
    _record(span, error)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class _Request:
    """The span of the request being served, until a pipeline call claims it (then the
    call's attributes, set with the request's own when it ends)."""

    __slots__ = ("attributes", "span")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.attributes: dict[str, Any] | None = None


_REQUEST: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "fastagentic_request_span", default=None)
#: Marks a call token whose span is the request's (not ended by the call).
_ON_REQUEST = object()


def _task() -> Any:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


def _end(token: Any, error: BaseException | None = None,
         attributes: Mapping[str, Any] | None = None) -> None:
    """End a span started by :meth:`TracingWatcher._start` (``token``: span, attach, task)."""
    if token is None:
        return
    span, attached, task = token
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        _fail(span, error)
    # Only the task that made the span current may restore the context, and only while the
    # span is still current there (a step ended out of order leaves the context alone).
    if attached is not None and _task() is task and trace.get_current_span() is span:
        otel_context.detach(attached)
    span.end()


def _call_attributes(call: Any) -> dict[str, Any]:
    spec, ctx = call.spec, call.context
    kind = spec.kind
    # The definition, never the concrete call: an agent's path, a resource's URI template.
    target = (getattr(spec, "path", "") if kind == "agent" else
              getattr(spec, "uri", "") if kind == "resource" else "") or spec.name
    attributes: dict[str, Any] = {"fastagentic.transport": ctx.transport,
                                  "fastagentic.kind": kind, "fastagentic.target": target}
    user = ctx.user
    if user is not None:
        if user.user:
            attributes["enduser.id"] = _redacted(user.user)
        if user.tenant:
            attributes["fastagentic.tenant"] = _redacted(user.tenant)
    if ctx.run_id:
        attributes["fastagentic.run_id"] = ctx.run_id
    return attributes


def _step_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        key = _ALIASES.get(key, key)
        if key in STEP_ATTRIBUTES and isinstance(value, (str, bool, int, float)):
            out[key] = value
    return out


class TracingWatcher(Watcher):
    """Spans for the lifecycle points of one App (see the module's docstring)."""

    def __init__(self, tracer: trace.Tracer, *, settings: Any = None,
                 tracer_provider: Any = None) -> None:
        self.tracer = tracer
        #: The App's settings (``durable_store`` gives the store spans their ``db.system``).
        self.settings = settings
        #: The provider ``tracer`` came from (``configure_otel``'s, or the one passed to it).
        self.tracer_provider = tracer_provider
        self._db: tuple[Any, str | None] = (None, None)

    @property
    def db_system(self) -> str | None:
        """``db.system`` of the store spans, from the App's ``durable_store`` (if known)."""
        url = getattr(self.settings, "durable_store", None)
        if self._db[0] != url:
            self._db = (url, db_system_of(url))
        return self._db[1]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export the spans that ended so far (True when done in time)."""
        flush = getattr(self.tracer_provider, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True

    def shutdown(self) -> None:
        """Flush and stop the provider's processors (the SDK also does this at exit)."""
        shutdown = getattr(self.tracer_provider, "shutdown", None)
        if shutdown is not None:
            shutdown()

    # spans

    def _start(self, name: str, attributes: dict[str, Any],
               parent: otel_context.Context | None = None, current: bool = True,
               links: Sequence[trace.Link] | None = None) -> tuple[Any, object, Any]:
        """Start a span; ``current``: the parent of what starts after it in this task."""
        span = self.tracer.start_span(name, context=parent, attributes=attributes, links=links)
        if not current:
            return span, None, None
        return span, otel_context.attach(trace.set_span_in_context(span, parent)), _task()

    # pipeline calls (every transport)

    def call_started(self, call: Any) -> Any:
        current = trace.get_current_span()
        if not current.is_recording() and current.get_span_context().is_valid:
            return None  # inside a trace that was sampled out: so is everything in it
        spec, ctx = call.spec, call.context
        in_run = ctx.run_id is not None and spec.kind == "tool"
        request = _REQUEST.get()
        if not in_run and request is not None and request.span is not None \
                and current is request.span:
            # The call a request was made for is described on the request's span (one span
            # per request keeps tracing cheap); a second call in it (a batch) gets its own.
            span, request.span = request.span, None
            if span.is_recording():
                request.attributes = _call_attributes(call)
            return span, None, _ON_REQUEST
        attributes = _call_attributes(call)
        if in_run:  # a run's tool call: a GenAI tool execution
            attributes["gen_ai.operation.name"] = "execute_tool"
            attributes["gen_ai.tool.name"] = spec.name
            call_id = call.options.get("call_id")
            if call_id:
                attributes["gen_ai.tool.call.id"] = str(call_id)
            return self._start(f"execute_tool {spec.name}", attributes)
        return self._start(f"{spec.kind} {attributes['fastagentic.target']}", attributes)

    def call_ended(self, token: Any, call: Any, error: BaseException | None) -> None:
        if token is not None and token[2] is _ON_REQUEST:
            if error is not None:  # the request's status is the HTTP status: only recorded
                _record(token[0], error)
            return
        _end(token, error)

    # runs (each attempt, on the process executing it)

    def run_started(self, run: Any) -> Any:
        attributes: dict[str, Any] = {
            "fastagentic.run_id": run.id, "fastagentic.endpoint": run.endpoint,
            "fastagentic.run.attempt": run.attempt,
        }
        if run.user:
            attributes["enduser.id"] = _redacted(run.user)
        if run.tenant:
            attributes["fastagentic.tenant"] = _redacted(run.tenant)
        parent, link = _run_parent(run)
        return self._start(f"run {run.endpoint}", attributes, parent, links=link)

    def run_ended(self, token: Any, run: Any, status: str, error: dict[str, Any] | None
                  ) -> None:
        if token is None:
            return
        span = token[0]
        span.set_attribute("fastagentic.run.status", status)
        if error is not None:
            code = str(error.get("code") or "error")
            span.add_event("run.error", {
                "error.type": code,
                "exception.message": str(redact_value(str(error.get("message") or "")))})
            span.set_status(Status(StatusCode.ERROR, code))
        _end(token)

    # steps inside a run

    def step_started(self, kind: str, name: str, run_id: str | None,
                     attributes: dict[str, Any]) -> Any:
        if kind == "store":
            # Store operations are traced inside something traced (a request, a run); the
            # engine's own polling would otherwise start a trace per tick.
            if not trace.get_current_span().is_recording():
                return None
            found = {"db.operation.name": name}
            db_system = self.db_system
            if db_system:
                found["db.system"] = db_system
            return self._start(f"store {name}", found)
        found = _step_attributes(attributes)
        if run_id:
            found["fastagentic.run_id"] = run_id
        if kind == "llm":
            model = found.get("gen_ai.request.model") or name
            found.setdefault("gen_ai.request.model", model)
            found["gen_ai.operation.name"] = "chat"
            # A model call contains nothing traced, and frameworks may end it in another task
            # than the one that started it: it never becomes the current span.
            return self._start(f"chat {model}", found, current=False)
        if kind == "tool":
            found["gen_ai.operation.name"] = "execute_tool"
            found.setdefault("gen_ai.tool.name", name)
            return self._start(f"execute_tool {name}", found)
        found["fastagentic.node"] = name
        return self._start(f"{kind} {name}", found)

    def step_ended(self, token: Any, attributes: dict[str, Any],
                   error: BaseException | None) -> None:
        _end(token, error, _step_attributes(attributes) if token is not None else None)

    def trace_context(self) -> dict[str, str] | None:
        return trace_context()


def trace_context() -> dict[str, str] | None:
    """The current span's W3C trace context (``traceparent``, ``tracestate``), or None."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier or None


def _run_parent(run: Any) -> tuple[otel_context.Context | None, list[trace.Link] | None]:
    """The parent of a run's span: the trace context stored with the run (it may have been
    accepted on another process), unless the current span continues that trace more precisely
    (an attempt started inside the request that submitted it).  An attempt started within
    another trace (a resume request) continues the run's trace, linked to that one."""
    stored = run.labels.get("trace") if isinstance(run.labels, dict) else None
    if isinstance(stored, str):
        stored = {"traceparent": stored}
    if not isinstance(stored, Mapping) or not stored.get("traceparent"):
        return None, None
    parent = _W3C.extract({k: str(v) for k, v in stored.items()})
    remote = trace.get_current_span(parent).get_span_context()
    current = trace.get_current_span().get_span_context()
    if not remote.is_valid:
        return None, None
    if current.is_valid:
        if current.trace_id == remote.trace_id:
            return None, None
        return parent, [trace.Link(current)]
    return parent, None


# the ASGI side


class _ScopeHeaders(Getter[list[tuple[bytes, bytes]]]):
    """Reads propagation headers from an ASGI scope's header list."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_GETTER = _ScopeHeaders()


class TracingMiddleware:
    """One ``SERVER`` span per HTTP request or WebSocket connection (pure ASGI).

    The span is named after the route template (``POST /runs/{run_id}/cancel``): the router's
    routes come from ``routes()`` (looked up by the endpoint the router chose); ``fixed`` maps
    paths served outside the router (the MCP and A2A fast paths) to their templates,
    ``{"/mcp": "/mcp", "/a2a/": "/a2a/{rest}"}`` (a key ending with ``/`` is a prefix).
    ``exclude`` paths (health probes, ``/metrics``) are not traced.
    """

    def __init__(self, app: Any, tracer: trace.Tracer, *,
                 routes: Callable[[], Sequence[Any]] | None = None,
                 fixed: Mapping[str, str] | None = None, exclude: Iterable[str] = ()) -> None:
        self.app = app
        self.tracer = tracer
        self.routes = routes
        self.exact = {k: v for k, v in (fixed or {}).items() if not k.endswith("/")}
        self.prefixes = [(k, v) for k, v in (fixed or {}).items() if k.endswith("/")]
        self.exclude = frozenset(exclude)
        self._textmap: Any = None
        self._fields: frozenset[bytes] = frozenset()
        self.templates = RouteTemplates(routes or (lambda: ()), attr="path_format")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"] not in self.exclude:
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _parent(self, scope: Any) -> otel_context.Context | None:
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._textmap = textmap
            self._fields = frozenset(f.lower().encode("latin-1") for f in textmap.fields)
        headers = scope.get("headers") or ()
        fields = self._fields
        for name, _ in headers:
            if name in fields:
                return propagate.extract(headers, getter=_GETTER)
        return None

    def _route(self, scope: Any) -> str | None:
        """The route template of the request (None when no route matched)."""
        route = self.templates(scope)
        if route is not None:
            return route
        path = scope["path"]
        if path in self.exact:
            return self.exact[path]
        for prefix, template in self.prefixes:
            if path.startswith(prefix):
                return template
        return None

    def _begin(self, scope: Any, name: str, attributes: dict[str, Any]
               ) -> tuple[Any, tuple[object, contextvars.Token[_Request | None], _Request]]:
        parent = self._parent(scope)
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                                      attributes=attributes)
        return span, self._current(span, parent)

    @staticmethod
    def _current(span: Any, parent: otel_context.Context | None
                 ) -> tuple[object, contextvars.Token[_Request | None], _Request]:
        """Make ``span`` the current span and the request's (the tokens to undo it)."""
        attached = otel_context.attach(trace.set_span_in_context(span, parent))
        request = _Request(span)
        return attached, _REQUEST.set(request), request

    def _finish(self, scope: Any, span: Any,
                tokens: tuple[object, contextvars.Token[_Request | None], _Request],
                name: str, attributes: dict[str, Any]) -> None:
        attached, reset, request = tokens
        _REQUEST.reset(reset)
        otel_context.detach(attached)
        if span.is_recording():  # (sampled out: nothing to describe)
            if request.attributes:  # the call the request was made for
                attributes.update(request.attributes)
            # A path may carry personal data (a resource URI): redacted like the rest.
            attributes["url.path"] = _redacted(scope["path"])
            route = self._route(scope)
            if route is not None:
                span.update_name(f"{name} {route}")
                attributes["http.route"] = route
            span.set_attributes(attributes)
        span.end()

    async def _http(self, scope: Any, receive: Any, send: Any) -> None:
        method = scope["method"]
        parent = self._parent(scope)
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes={
            "http.request.method": method, "url.scheme": scope.get("scheme") or "http"})
        if not span.is_recording():
            # Sampled out: the span only carries the trace's context (and its decision) to
            # what the request starts; nothing in the request is recorded.
            attached = otel_context.attach(trace.set_span_in_context(span, parent))
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(attached)
            return
        tokens = self._current(span, parent)
        status = 0
        sse = False
        events = 0

        async def traced_send(message: Any) -> None:
            nonlocal status, sse, events
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers") or ():
                    if name.lower() == b"content-type":
                        sse = value.startswith(b"text/event-stream")
                        break
            elif sse and kind == "http.response.body":
                body = message.get("body") or b""
                events += body.count(b"\n\n") + body.count(b"\r\n\r\n")
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except Exception as exc:
            _record(span, exc)
            status = status or 500
            raise
        finally:
            attributes: dict[str, Any] = {}
            if status:
                attributes["http.response.status_code"] = status
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            if sse:
                attributes["fastagentic.sse.events"] = events
            self._finish(scope, span, tokens, method, attributes)

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None:
        span, tokens = self._begin(scope, "WEBSOCKET", {
            "url.scheme": scope.get("scheme") or "ws"})
        received = sent = 0
        close_code: int | None = None

        async def traced_receive() -> Any:
            nonlocal received, close_code
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                received += 1
                span.add_event("websocket.receive", {"fastagentic.websocket.message": received})
            elif kind == "websocket.disconnect":
                close_code = message.get("code")
            return message

        async def traced_send(message: Any) -> None:
            nonlocal sent, close_code
            kind = message["type"]
            if kind == "websocket.send":
                sent += 1
            elif kind == "websocket.close":
                close_code = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, traced_receive, traced_send)
        except Exception as exc:
            _fail(span, exc)
            raise
        finally:
            attributes: dict[str, Any] = {"fastagentic.websocket.received": received,
                                          "fastagentic.websocket.sent": sent}
            if close_code is not None:
                attributes["fastagentic.websocket.close_code"] = close_code
            self._finish(scope, span, tokens, "WEBSOCKET", attributes)


def db_system_of(store_url: Any) -> str | None:
    """``db.system`` for a ``durable_store`` URL (None for memory or an unknown store)."""
    if not isinstance(store_url, str) or "://" not in store_url:
        return None
    scheme = store_url.split("://", 1)[0].split("+", 1)[0].lower()
    return _DB_SYSTEMS.get(scheme)


__all__ = ["STEP_ATTRIBUTES", "TracingMiddleware", "TracingWatcher", "db_system_of",
           "trace_context"]
