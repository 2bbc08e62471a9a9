"""Prometheus metrics at ``/metrics``: :func:`enable_metrics`.

Every App has a registry of its own (two Apps in one process never share a series), served in
the Prometheus text format (OpenMetrics when the scraper asks for it).  Names carry the
``fastagentic_`` prefix; labels are bounded: route templates, never raw paths; definition,
model, tool and node names (at most :data:`LABEL_LIMIT` values each, then ``other``);
tenants only up to ``tenant_labels`` of them.  Never run ids or user ids.

What is measured, and where from:

* HTTP and WebSocket traffic (a pure ASGI middleware around the App, MCP and A2A fast paths
  included): ``fastagentic_requests_total{transport,route,method,status}``,
  ``fastagentic_request_duration_seconds{transport,route}`` and
  ``fastagentic_active_streams{transport}`` (SSE responses and WebSocket connections open).
  ``transport`` is ``mcp`` (the MCP endpoints), ``a2a`` (the A2A endpoints and agent cards),
  ``websocket``, ``sse`` (an event-stream response elsewhere) or ``rest``.
* Pipeline invocations on every transport (the App's lifecycle):
  ``fastagentic_invocations_total{transport,kind,target,outcome}`` and
  ``fastagentic_invocation_duration_seconds{transport,kind,target}``; ``outcome`` is ``ok``,
  ``error``, ``rejected`` (authorization, policy, hook, rate limit, quota, budget),
  ``input_required`` or ``cancelled``.
* Runs (each attempt, wherever it executes): ``fastagentic_runs_total{endpoint,status}``,
  ``fastagentic_run_duration_seconds{endpoint,status}``, ``fastagentic_runs_active{endpoint}``.
* Tokens and cost (each new ``cost`` event):
  ``fastagentic_tokens_total{endpoint,model,tenant,kind}`` (``input``, ``output``,
  ``cache_read``, ``cache_write``) and ``fastagentic_cost_usd_total{endpoint,model,tenant}``.
* Steps inside runs: ``fastagentic_llm_calls_total{model,outcome}``,
  ``fastagentic_llm_call_duration_seconds{model}``, ``fastagentic_tool_calls_total{tool,outcome}``
  and ``fastagentic_tool_call_duration_seconds{tool}`` (registered tools a run calls and a
  framework's own tools alike), ``fastagentic_node_duration_seconds{node}`` and
  ``fastagentic_store_operation_seconds{operation}``.
* At each scrape: ``fastagentic_runs_queued`` (runs waiting for a worker, counted up to
  ``queue_depth_limit``; the same figure in every process sharing the store: aggregate with
  ``max``), ``fastagentic_leases_active`` (runs executing in this process) and
  ``fastagentic_store_pool_connections{backend,state}`` (``in_use``, ``idle``, ``max``; for
  the PostgreSQL and Redis stores).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth.base import InsufficientScope, Unauthenticated
from ..core.lifecycle import Watcher
from ..exceptions import (
    BudgetExceeded,
    ConfigurationError,
    Forbidden,
    InputRequired,
    NeedsClientInput,
    RateLimited,
)
from .routes import RouteTemplates

if TYPE_CHECKING:
    from ..app import App

logger = logging.getLogger("fastagentic.metrics")

#: At most this many distinct values per name label (endpoint, target, model, tool, node);
#: later ones are counted as ``other``.
LABEL_LIMIT = 200
OTHER = "other"
#: Refusals (``outcome="rejected"``) as opposed to failures.
REJECTIONS = (Forbidden, RateLimited, BudgetExceeded, Unauthenticated, InsufficientScope)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TOKEN_KINDS = frozenset({"input", "output", "cache_read", "cache_write"})

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 300.0)
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
               600.0, 1800.0, 3600.0)
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0, 120.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5)


class _Family:
    """A labelled counter or histogram kept as plain numbers, for the metrics every request
    moves (requests and pipeline calls): one dictionary update under the owner's lock, where
    prometheus-client's children take a lock per counter and per bucket.  Collected at each
    scrape into the same families (``_total``, ``_bucket``/``_sum``/``_count``, ``_created``).

    ``buckets`` None: a counter (``rows[key]`` is ``[value]``); else a histogram (``rows[key]``
    holds a count per bucket, ``+Inf`` last, then the sum)."""

    __slots__ = ("bounds", "created", "doc", "labels", "name", "rows")

    def __init__(self, name: str, doc: str, labels: list[str],
                 buckets: tuple[float, ...] | None = None) -> None:
        self.name = name
        self.doc = doc
        self.labels = labels
        self.bounds = buckets
        self.rows: dict[tuple[str, ...], list[float]] = {}
        self.created: dict[tuple[str, ...], float] = {}

    def row(self, key: tuple[str, ...]) -> list[float]:
        """The numbers of one label set (made on first use; call with the lock held)."""
        row = self.rows.get(key)
        if row is None:
            size = 1 if self.bounds is None else len(self.bounds) + 2
            row = self.rows[key] = [0.0] * size
            self.created[key] = time.time()
        return row

    def collect(self) -> Any:
        """This family's metric (call with the lock held: the numbers are read as they are)."""
        rows = self.rows
        if self.bounds is None:
            counter = CounterMetricFamily(self.name, self.doc, labels=self.labels)
            for key, row in rows.items():
                counter.add_metric(key, row[0], created=self.created[key])
            return counter
        histogram = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        edges = [*(floatToGoString(b) for b in self.bounds), "+Inf"]
        for key, row in rows.items():
            histogram.add_metric(key, list(zip(edges, accumulate(row[:-1]), strict=True)),
                                 sum_value=row[-1])
            histogram.add_sample(self.name + "_created", dict(zip(self.labels, key,
                                                                  strict=True)),
                                 self.created[key])
        return histogram


class _Limited:
    """A label's values: the first ``limit`` distinct ones as they are, later ones ``other``
    (a dictionary hit per use; values past the limit are not remembered)."""

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> str:
        label = self.seen.get(value)
        if label is None:
            if not isinstance(value, str):
                value = "" if value is None else str(value)
                label = self.seen.get(value)
                if label is not None:
                    return label
            if len(self.seen) >= self.limit:
                return OTHER
            label = self.seen[value] = value
        return label


def outcome_of(error: BaseException | None) -> str:
    """``ok``, ``rejected`` (a refusal), ``input_required``, ``cancelled`` or ``error``."""
    if error is None:
        return "ok"
    if isinstance(error, REJECTIONS):
        return "rejected"
    if isinstance(error, InputRequired | NeedsClientInput):
        return "input_required"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return "error"


class Metrics(Watcher):
    """An App's metrics: the collectors, the lifecycle watcher, the ASGI middleware's counters
    and the scrape endpoint (see the module's documentation)."""

    def __init__(self, app: App, *, registry: CollectorRegistry | None = None,
                 path: str = "/metrics", tenant_labels: int = 20,
                 queue_depth_limit: int = 1000, scrape_timeout: float = 2.0) -> None:
        if tenant_labels < 0 or queue_depth_limit < 0:
            raise ConfigurationError("tenant_labels and queue_depth_limit must be >= 0")
        self.app = app
        self.path = path
        self.registry = registry if registry is not None else CollectorRegistry()
        self.queue_depth_limit = queue_depth_limit
        self.scrape_timeout = scrape_timeout
        r = self.registry
        # The metrics every request moves: plain numbers under one lock (see _Family).
        self._lock = threading.Lock()
        self.requests = _Family("fastagentic_requests",
                                "HTTP requests and WebSocket connections served",
                                ["transport", "route", "method", "status"])
        self.request_duration = _Family(
            "fastagentic_request_duration_seconds",
            "Time to serve a request (for streams and WebSockets: how long they stayed open)",
            ["transport", "route"], REQUEST_BUCKETS)
        self.invocations = _Family("fastagentic_invocations",
                                   "Calls through the pipeline (tools, resources, prompts, "
                                   "run starts), on every transport",
                                   ["transport", "kind", "target", "outcome"])
        self.invocation_duration = _Family(
            "fastagentic_invocation_duration_seconds", "Time a pipeline call took",
            ["transport", "kind", "target"], REQUEST_BUCKETS)
        self._families = (self.requests, self.request_duration, self.invocations,
                          self.invocation_duration)
        self.active_streams = Gauge("fastagentic_active_streams",
                                    "SSE responses and WebSocket connections open now",
                                    ["transport"], registry=r)
        self.runs = Counter("fastagentic_runs_total", "Run attempts settled, by status",
                            ["endpoint", "status"], registry=r)
        self.run_duration = Histogram("fastagentic_run_duration_seconds",
                                      "Time a run attempt executed",
                                      ["endpoint", "status"], buckets=RUN_BUCKETS, registry=r)
        self.runs_active = Gauge("fastagentic_runs_active",
                                 "Runs executing in this process now", ["endpoint"],
                                 registry=r)
        self.tokens = Counter("fastagentic_tokens_total", "Model tokens used",
                              ["endpoint", "model", "tenant", "kind"], registry=r)
        self.cost_usd = Counter("fastagentic_cost_usd_total", "Model cost in US dollars",
                            ["endpoint", "model", "tenant"], registry=r)
        self.llm_calls = Counter("fastagentic_llm_calls_total", "Model calls made by runs",
                                 ["model", "outcome"], registry=r)
        self.llm_duration = Histogram("fastagentic_llm_call_duration_seconds",
                                      "Time a model call took", ["model"],
                                      buckets=STEP_BUCKETS, registry=r)
        self.tool_calls = Counter("fastagentic_tool_calls_total", "Tool calls made by runs",
                                  ["tool", "outcome"], registry=r)
        self.tool_duration = Histogram("fastagentic_tool_call_duration_seconds",
                                       "Time a tool call made by a run took", ["tool"],
                                       buckets=STEP_BUCKETS, registry=r)
        self.node_duration = Histogram("fastagentic_node_duration_seconds",
                                       "Time an adapter node (graph step) took", ["node"],
                                       buckets=STEP_BUCKETS, registry=r)
        self.store_duration = Histogram("fastagentic_store_operation_seconds",
                                        "Time a store operation took", ["operation"],
                                        buckets=STORE_BUCKETS, registry=r)
        r.register(_ScrapeCollector(self))
        self._names = _Limited(LABEL_LIMIT)
        self._models = _Limited(LABEL_LIMIT)
        self._tenants = _Limited(tenant_labels)
        self._token_kinds = _Limited(16)
        # Rows and labelled children by their label values (``labels()`` costs a lock and a
        # tuple).
        self._request_rows: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._stream_children: dict[str, Any] = {}
        self._invocation_rows: dict[tuple[Any, ...], tuple[Any, Any, Any, Any]] = {}
        self._step_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._queued: float | None = None

    # the lifecycle watcher

    def call_started(self, call: Any) -> Any:
        return time.perf_counter()

    def call_ended(self, token: Any, call: Any, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - token
        spec, context = call.spec, call.context
        key = (context.transport, spec.kind, self._names(spec.name), outcome_of(error),
               context.run_id is not None)
        rows = self._invocation_rows.get(key)
        if rows is None:
            rows = self._invocation_rows[key] = self._invocation(*key)
        count, duration, tool_count, tool_duration = rows
        bucket = bisect_left(self.invocation_duration.bounds, elapsed)  # type: ignore[arg-type]
        with self._lock:
            count[0] += 1
            duration[bucket] += 1
            duration[-1] += elapsed
        if tool_count is not None:
            tool_count.inc()
            tool_duration.observe(elapsed)

    def _invocation(self, transport: str, kind: str, target: str, outcome: str,
                    in_run: bool) -> tuple[Any, Any, Any, Any]:
        """What a call counts in: a registered tool called by a run is one of the run's tool
        calls too (a framework's own tools are ``tool`` steps)."""
        tool = kind == "tool" and in_run
        with self._lock:
            count = self.invocations.row((transport, kind, target, outcome))
            duration = self.invocation_duration.row((transport, kind, target))
        return (count, duration, self.tool_calls.labels(target, outcome) if tool else None,
                self.tool_duration.labels(target) if tool else None)

    def run_started(self, run: Any) -> Any:
        endpoint = self._names(run.endpoint)
        self.runs_active.labels(endpoint).inc()
        return endpoint, time.perf_counter()

    def run_ended(self, token: Any, run: Any, status: str, error: dict[str, Any] | None
                  ) -> None:
        endpoint, started = token
        self.runs_active.labels(endpoint).dec()
        self.runs.labels(endpoint, status).inc()
        self.run_duration.labels(endpoint, status).observe(time.perf_counter() - started)

    def step_started(self, kind: str, name: str, run_id: str | None,
                     attributes: dict[str, Any]) -> Any:
        if kind == "llm":
            name = self._models(attributes.get("gen_ai.request.model") or name)
        elif kind != "store":
            name = self._names(name)
        return kind, name, time.perf_counter()

    def step_ended(self, token: Any, attributes: dict[str, Any],
                   error: BaseException | None) -> None:
        kind, name, started = token
        elapsed = time.perf_counter() - started
        outcome = outcome_of(error)
        key = (kind, name, outcome)
        children = self._step_children.get(key)
        if children is None:
            children = self._step_children[key] = self._step(kind, name, outcome)
        if children[0] is not None:
            children[0].inc()
        if children[1] is not None:
            children[1].observe(elapsed)

    def _step(self, kind: str, name: str, outcome: str) -> tuple[Any, Any]:
        """The children a step of ``kind`` counts in (``name`` is a bounded label already)."""
        if kind == "store":
            return None, self.store_duration.labels(name)
        if kind == "llm":
            return self.llm_calls.labels(name, outcome), self.llm_duration.labels(name)
        if kind == "tool":
            return self.tool_calls.labels(name, outcome), self.tool_duration.labels(name)
        if kind == "node":
            return None, self.node_duration.labels(name)
        return None, None

    def cost(self, run: Any, data: dict[str, Any]) -> None:
        endpoint = self._names(run.endpoint)
        model = self._models(data.get("model") or "unknown")
        tenant = self._tenants(run.tenant) if run.tenant else ""
        for kind, count in (data.get("tokens") or {}).items():
            if isinstance(count, int | float) and count > 0:
                kind = kind if kind in TOKEN_KINDS else self._token_kinds(kind)
                self.tokens.labels(endpoint, model, tenant, kind).inc(count)
        usd = (data.get("amount") or {}).get("usd")
        if isinstance(usd, int | float) and usd > 0:
            self.cost_usd.labels(endpoint, model, tenant).inc(usd)

    # the middleware's counters

    def request_done(self, transport: str, route: str, method: str, status: int,
                     elapsed: float) -> None:
        key = (transport, route, method, status)
        rows = self._request_rows.get(key)
        bucket = bisect_left(self.request_duration.bounds, elapsed)  # type: ignore[arg-type]
        with self._lock:
            if rows is None:
                rows = self._request_rows[key] = (
                    self.requests.row((transport, route, method, str(status))),
                    self.request_duration.row((transport, route)))
            count, duration = rows
            count[0] += 1
            duration[bucket] += 1
            duration[-1] += elapsed

    def streams(self, transport: str) -> Any:
        child = self._stream_children.get(transport)
        if child is None:
            child = self._stream_children[transport] = self.active_streams.labels(transport)
        return child

    # scraping

    async def refresh(self) -> None:
        """Read what needs awaiting (the queue depth) before the registry is collected."""
        engine = self.app._engine
        if engine is None or self.queue_depth_limit == 0:
            self._queued = None
            return
        try:
            async with asyncio.timeout(self.scrape_timeout):
                queued = await engine.store.list_runs(status="queued",
                                                      limit=self.queue_depth_limit)
        except Exception:  # a scrape reports what it can; the gauge keeps its last value
            logger.warning("metrics: reading the queue depth failed", exc_info=True)
            return
        self._queued = float(len(queued))

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``."""
        await self.refresh()
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(self.registry), headers={"Content-Type": content_type})


class _ScrapeCollector:
    """What is made at each scrape: the request and call metrics (from their
    :class:`_Family` numbers) and the gauges read then (queue depth, leases, store pool
    connections)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        metrics = self.metrics
        with metrics._lock:
            families = [family.collect() for family in metrics._families]
        yield from families
        if metrics._queued is not None:
            yield GaugeMetricFamily("fastagentic_runs_queued",
                                    f"Runs waiting for a worker (counted up to "
                                    f"{metrics.queue_depth_limit})", value=metrics._queued)
        engine = metrics.app._engine
        yield GaugeMetricFamily("fastagentic_leases_active",
                                "Runs this process executes now (leases it holds)",
                                value=engine.in_flight if engine is not None else 0)
        if engine is None:
            return
        pools = GaugeMetricFamily("fastagentic_store_pool_connections",
                                  "Store connection pool: connections in use, idle, and the "
                                  "maximum", labels=["backend", "state"])
        totals: dict[tuple[str, str], float] = {}
        for backend, in_use, idle, most in _pool_stats(engine.store):
            for state, value in (("in_use", in_use), ("idle", idle), ("max", most)):
                totals[backend, state] = totals.get((backend, state), 0) + value
        for (backend, state), value in totals.items():
            pools.add_metric([backend, state], value)
        if totals:
            yield pools


def _stores(store: Any) -> Iterator[Any]:
    """The backend stores behind ``store`` (split and per-tenant stores unwrapped)."""
    records = getattr(store, "records", None)  # SplitStore
    if records is not None:
        yield from _stores(records)
        return
    tenants = getattr(store, "tenants", None)  # TenantStores
    if isinstance(tenants, dict) and hasattr(store, "default"):
        yield from _stores(store.default)
        for tenant_store in tenants.values():
            yield from _stores(tenant_store)
        return
    yield store


def _pool_stats(store: Any) -> Iterator[tuple[str, int, int, int]]:
    """``(backend, in use, idle, max)`` of each connection pool the store has open."""
    for backend in _stores(store):
        pool = getattr(backend, "_pool", None)
        if pool is not None and hasattr(pool, "get_idle_size"):  # asyncpg
            size, idle = pool.get_size(), pool.get_idle_size()
            yield "postgres", size - idle, idle, pool.get_max_size()
            continue
        client = getattr(backend, "_redis", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None and hasattr(pool, "_in_use_connections"):  # redis-py
            yield ("redis", len(pool._in_use_connections), len(pool._available_connections),
                   pool.max_connections)


class MetricsMiddleware:
    """Counts requests and open streams (pure ASGI, around the App's dispatch so the MCP and
    A2A fast paths are counted too)."""

    def __init__(self, app: Any, metrics: Metrics, settings: Any, router: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = RouteTemplates(lambda: router.routes)
        self.mcp_paths = frozenset({settings.mcp_path, settings.mcp_sse_path,
                                    settings.mcp_messages_path, settings.mcp_path + "/schema"})
        self.a2a_path = settings.a2a_path
        self.a2a_prefix = settings.a2a_path + "/"
        self.a2a_rest = settings.a2a_path + "/{rest:path}"
        self.cards = frozenset({"/.well-known/agent-card.json", "/.well-known/agent.json"})

    def _transport(self, path: str) -> str:
        if path in self.mcp_paths:
            return "mcp"
        if path == self.a2a_path or path.startswith(self.a2a_prefix) or path in self.cards:
            return "a2a"
        return "rest"

    def _route(self, scope: Any, transport: str) -> str:
        route = self.templates(scope)
        if route is not None:
            return route
        path = scope["path"]
        if transport == "mcp":
            return path  # one of the MCP paths (served without the router)
        if transport == "a2a":
            return self.a2a_path if path == self.a2a_path else self.a2a_rest
        return "unmatched"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        transport = self._transport(scope["path"])
        status = 500
        stream: Any = None

        async def counted_send(message: Any) -> None:
            nonlocal status, stream, transport
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers") or ():
                    if name.lower() == b"content-type":
                        if value.startswith(b"text/event-stream"):
                            if transport == "rest":
                                transport = "sse"
                            stream = self.metrics.streams(transport)
                            stream.inc()
                        break
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            if stream is not None:
                stream.dec()
            method = scope["method"]
            self.metrics.request_done(transport, self._route(scope, transport),
                                      method if method in METHODS else "other", status,
                                      time.perf_counter() - started)

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 500
        stream: Any = None

        async def counted_send(message: Any) -> None:
            nonlocal status, stream
            kind = message["type"]
            if kind == "websocket.accept":
                status = 101
                stream = self.metrics.streams("websocket")
                stream.inc()
            elif kind == "websocket.close" and stream is None:
                status = 403  # closed before the handshake completed: refused
            elif kind == "websocket.http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            if stream is not None:
                stream.dec()
            self.metrics.request_done("websocket", self._route(scope, "websocket"), "GET",
                                      status, time.perf_counter() - started)


def enable_metrics(app: App, *, path: str = "/metrics", registry: CollectorRegistry | None = None,
                   tenant_labels: int = 20, queue_depth_limit: int = 1000) -> Metrics:
    """Serve Prometheus metrics for ``app`` at ``path`` (public: no credentials needed) and
    start counting.  ``registry``: collect into this one instead of a new one of the App's
    own; ``tenant_labels``: how many distinct tenants get a ``tenant`` label value of their
    own (the rest are ``other``; 0: none); ``queue_depth_limit``: ``fastagentic_runs_queued``
    counts up to this many (0: not read).  Calling it again returns the same
    :class:`Metrics`."""
    existing: Metrics | None = getattr(app, "_fastagentic_metrics", None)
    if existing is not None:
        if existing.path != path:
            raise ConfigurationError(f"metrics are already served at {existing.path}")
        return existing
    if not path.startswith("/"):
        raise ConfigurationError(f"the metrics path must start with '/': {path!r}")
    metrics = Metrics(app, registry=registry, path=path, tenant_labels=tenant_labels,
                      queue_depth_limit=queue_depth_limit)
    app.lifecycle.add_watcher(metrics)
    app.fastapi.router.routes.append(Route(path, metrics.endpoint, methods=["GET"],
                                           include_in_schema=False))
    _make_public(app, path)
    app._serve = MetricsMiddleware(app._serve, metrics, app.settings, app.fastapi.router)
    app._fastagentic_metrics = metrics
    return metrics


def _make_public(app: App, path: str) -> None:
    """Scrapers carry no credentials: ``path`` joins the public paths (now, and when
    authentication is configured later)."""
    import dataclasses

    if path not in app.settings.auth_public_paths:
        app.settings.auth_public_paths.append(path)
    if app.auth is not None and path not in app.auth.public_paths:
        app.auth = dataclasses.replace(app.auth, public_paths=[*app.auth.public_paths, path])


__all__ = ["LABEL_LIMIT", "Metrics", "MetricsMiddleware", "enable_metrics", "outcome_of"]
