"""``configure_otel``: trace an App and send its spans over OTLP/HTTP.

The library needs only ``opentelemetry-api``; the SDK and the OTLP exporter come with the
``otel`` extra (``pip install "fastagentic[otel]"``) and are imported here, when asked for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..exceptions import ConfigurationError, MissingDependency
from .tracing import TracingMiddleware, TracingWatcher

logger = logging.getLogger("fastagentic.telemetry")

#: Environment variables for the OTLP endpoint, in the order they are read: a base URL
#: (``/v1/traces`` is added), except ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL).
ENDPOINT_ENV = ("FASTAGENTIC_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACES_PATH = "/v1/traces"

#: Requests that are not traced (probes and scrapes would drown the traces that matter).
DEFAULT_EXCLUDE = ("/health", "/health/live", "/health/ready", "/metrics")

INSTRUMENTATION = "fastagentic"


def traces_url(endpoint: str) -> str:
    """The traces URL of an OTLP/HTTP endpoint: a base URL gets ``/v1/traces``."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def endpoint_from_env() -> str | None:
    """The traces URL from ``FASTAGENTIC_OTEL_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
    or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the first one set), or None."""
    for name in ENDPOINT_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value if name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" else traces_url(value)
    return None


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import resources
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.trace import export, sampling
    except ImportError:
        raise MissingDependency(
            "configure_otel needs the OpenTelemetry SDK (opentelemetry-sdk), which is not "
            'installed; install it with: pip install "fastagentic[otel]"') from None
    return resources, sdk_trace, export, sampling


def _exporter(url: str, headers: Mapping[str, str] | None) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise MissingDependency(
            "exporting spans over OTLP needs opentelemetry-exporter-otlp-proto-http, which is "
            'not installed; install it with: pip install "fastagentic[otel]"') from None
    # Headers None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself.
    return OTLPSpanExporter(endpoint=url, headers=dict(headers) if headers else None)


def _provider(service_name: str, sampler_ratio: float | None) -> Any:
    resources, sdk_trace, _, sampling = _sdk()
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (deployment.environment, ...).
    resource = resources.Resource.create({"service.name": service_name})
    sampler = None
    if sampler_ratio is not None:
        if not 0.0 <= sampler_ratio <= 1.0:
            raise ConfigurationError(f"sampler_ratio must be between 0 and 1, not {sampler_ratio}")
        # A caller's sampling decision wins; new traces are kept with this probability.
        sampler = sampling.ParentBased(sampling.TraceIdRatioBased(sampler_ratio))
    return sdk_trace.TracerProvider(resource=resource, sampler=sampler)


def configure_otel(
    app: Any,
    service_name: str | None = None,
    exporter_endpoint: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    sampler_ratio: float | None = None,
    span_processor: Any = None,
    tracer_provider: Any = None,
    set_global: bool = False,
    exclude_paths: tuple[str, ...] | list[str] = DEFAULT_EXCLUDE,
) -> TracingWatcher:
    """Trace ``app`` with OpenTelemetry; spans go over OTLP/HTTP to ``exporter_endpoint``.

    * ``service_name``: the ``service.name`` resource attribute (default: ``OTEL_SERVICE_NAME``,
      else the App's title).
    * ``exporter_endpoint``: an OTLP/HTTP base URL (``http://localhost:4318``; ``/v1/traces``
      is added) or a traces URL.  When None: ``FASTAGENTIC_OTEL_ENDPOINT``, then
      ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, then ``OTEL_EXPORTER_OTLP_ENDPOINT``.  Spans are
      batched (``BatchSpanProcessor``; ``OTEL_BSP_*`` tune it).
    * ``headers``: sent with every export (authentication: Langfuse, Logfire); default
      ``OTEL_EXPORTER_OTLP_HEADERS``.
    * ``sampler_ratio``: the share of new traces kept (a caller's decision is followed).
    * ``span_processor``: another processor for the spans (tests: ``SimpleSpanProcessor(
      InMemorySpanExporter())``); ``tracer_provider``: a provider of your own instead of
      the App's (then endpoint, headers and sampling are yours to set on it).
    * ``set_global``: also make the provider OpenTelemetry's global one (off: the App's
      provider is its own, so libraries in the same process are not affected).
    * ``exclude_paths``: requests not traced (health probes, ``/metrics``).

    Call it before the App starts.  Returns the :class:`TracingWatcher` (its
    ``tracer_provider`` flushes and shuts down with ``force_flush()``/``shutdown()``).
    """
    if getattr(app, "_fastagentic_tracing", None) is not None:
        raise ConfigurationError("configure_otel was already called for this App")
    provider = tracer_provider
    if provider is None:
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or app.settings.title
        provider = _provider(name, sampler_ratio)
        url = traces_url(exporter_endpoint) if exporter_endpoint else endpoint_from_env()
        if url is not None:
            export = _sdk()[2]
            provider.add_span_processor(export.BatchSpanProcessor(_exporter(url, headers)))
        elif span_processor is None:
            logger.warning("configure_otel: no OTLP endpoint (exporter_endpoint, or %s): "
                           "spans are not exported", ", ".join(ENDPOINT_ENV))
    elif exporter_endpoint or headers or sampler_ratio is not None:
        raise ConfigurationError("configure_otel: with tracer_provider=, configure the "
                                 "exporter and the sampler on that provider")
    if span_processor is not None:
        if not hasattr(provider, "add_span_processor"):
            raise ConfigurationError(f"{provider!r} takes no span processors")
        provider.add_span_processor(span_processor)
    if set_global:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
    from .. import __version__

    tracer = provider.get_tracer(INSTRUMENTATION, __version__)
    watcher = TracingWatcher(tracer, settings=app.settings, tracer_provider=provider)
    app.lifecycle.add_watcher(watcher)
    settings = app.settings
    fixed = {settings.mcp_path: settings.mcp_path, settings.a2a_path: settings.a2a_path,
             settings.a2a_path + "/": settings.a2a_path + "/{rest}"}
    # Around the App's dispatch, so the MCP and A2A fast paths are traced too.
    app._serve = TracingMiddleware(app._serve, tracer, routes=lambda: app.fastapi.router.routes,
                                   fixed=fixed, exclude=exclude_paths)
    app._fastagentic_tracing = watcher
    return watcher


__all__ = ["ENDPOINT_ENV", "configure_otel", "endpoint_from_env", "traces_url"]
