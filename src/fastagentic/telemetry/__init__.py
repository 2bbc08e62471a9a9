"""Telemetry: OpenTelemetry traces (:func:`configure_otel`), Prometheus metrics
(:func:`enable_metrics`), structured logs (:func:`configure_logging`) and PII redaction.

Public names are imported lazily: ``fastagentic.telemetry.propagation`` (used on every A2A
call) does not load the tracing, metrics or logging machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "configure_otel": "fastagentic.telemetry.otlp",
    "TracingWatcher": "fastagentic.telemetry.tracing",
    "TracingMiddleware": "fastagentic.telemetry.tracing",
    "trace_context": "fastagentic.telemetry.tracing",
    "enable_metrics": "fastagentic.telemetry.metrics",
    "configure_logging": "fastagentic.telemetry.logs",
    "Redactor": "fastagentic.telemetry.redact",
    "redact_value": "fastagentic.telemetry.redact",
}

__all__ = ["Redactor", "TracingMiddleware", "TracingWatcher", "configure_logging",
           "configure_otel", "enable_metrics", "redact_value", "trace_context"]

if TYPE_CHECKING:
    from .logs import configure_logging
    from .metrics import enable_metrics
    from .otlp import configure_otel
    from .redact import Redactor, redact_value
    from .tracing import TracingMiddleware, TracingWatcher, trace_context


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastagentic.telemetry' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
