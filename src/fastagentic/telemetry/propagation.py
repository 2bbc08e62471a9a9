"""W3C trace context for outgoing requests (A2A calls, push webhooks).

Costs nothing in a process that never loaded OpenTelemetry: without it there is no span to
carry, so :func:`current_headers` does not import it.
"""

from __future__ import annotations

import sys


def current_headers() -> dict[str, str]:
    """The current span's context as headers (``traceparent``, ``tracestate``, and whatever
    else the global propagator writes); empty when no span is active."""
    if "opentelemetry.trace" not in sys.modules:
        return {}
    from opentelemetry import propagate, trace

    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def within(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` (a trace context to send), or the current span's context when that span
    belongs to the same trace: the same trace, with the most precise parent."""
    parent = headers.get("traceparent", "")
    if not parent or "opentelemetry.trace" not in sys.modules:
        return headers
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid and parent[3:35] == format(context.trace_id, "032x"):
        return current_headers() or headers
    return headers


__all__ = ["current_headers", "within"]
