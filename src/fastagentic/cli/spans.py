"""``fastagentic tail --spans``: an OTLP/HTTP receiver that prints spans as they arrive.

Point an app at it (``configure_otel(app, exporter_endpoint="http://127.0.0.1:4318")``) and
watch its requests, runs, model calls (model, tokens, cost), tool calls and store operations
go by, one line per span, indented under their parent when the parent came first.  Takes
OTLP's protobuf and JSON encodings of ``/v1/traces``; anything else gets 404.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rich.console import Console
from rich.text import Text

from ..exceptions import MissingDependency

#: Attributes worth a place on a span's line, in this order, with a short label.
SHOWN = (
    ("gen_ai.request.model", "model"), ("gen_ai.response.model", "answered by"),
    ("gen_ai.usage.input_tokens", "in"), ("gen_ai.usage.output_tokens", "out"),
    ("fastagentic.cost_usd", "usd"), ("gen_ai.tool.name", "tool"),
    ("fastagentic.run_id", "run"), ("fastagentic.status", "status"),
    ("http.response.status_code", "http"), ("fastagentic.transport", "via"),
    ("enduser.id", "user"),
)
_KINDS = {2: "server", 3: "client"}
#: Spans remembered per trace to indent children (the oldest traces are forgotten).
_TRACES_KEPT = 1000


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


class SpanPrinter:
    """Formats decoded OTLP spans, one line each."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()
        self._depth: dict[bytes, dict[bytes, int]] = {}
        self.count = 0

    def export(self, request: Any) -> None:
        with self.lock:
            for resource in request.resource_spans:
                service = next((_value(a.value) for a in resource.resource.attributes
                                if a.key == "service.name"), "?")
                for scope in resource.scope_spans:
                    for span in sorted(scope.spans, key=lambda s: s.start_time_unix_nano):
                        self._print(service, span)

    def _print(self, service: str, span: Any) -> None:
        trace = self._depth.setdefault(span.trace_id, {})
        if len(self._depth) > _TRACES_KEPT:
            self._depth.pop(next(iter(self._depth)))
        depth = trace.get(span.parent_span_id, -1) + 1 if span.parent_span_id else 0
        trace[span.span_id] = depth
        self.count += 1
        millis = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        attributes = {a.key: _value(a.value) for a in span.attributes}
        failed = span.status.code == 2
        line = Text(f"{span.trace_id.hex()[:8]} ", style="dim")
        line += Text(f"{service:<12.12} ", style="cyan")
        line += Text("  " * depth + span.name, style="bold red" if failed else "bold")
        kind = _KINDS.get(span.kind)
        if kind:
            line += Text(f" [{kind}]", style="dim")
        line += Text(f"  {millis:.1f} ms", style="yellow")
        shown = [f"{label}={attributes[key]}" for key, label in SHOWN
                 if attributes.get(key) not in (None, "")]
        if failed and span.status.message:
            shown.append(f"error={span.status.message}")
        if shown:
            line += Text("  " + " ".join(shown), style="green" if not failed else "red")
        self.console.print(line, highlight=False)


def serve(host: str, port: int, console: Console) -> ThreadingHTTPServer:
    """Start the receiver (in a thread); ``server.shutdown()`` stops it."""
    try:
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )
    except ImportError:
        raise MissingDependency(
            'tail --spans decodes OTLP with opentelemetry-proto: pip install '
            '"fastagentic[otel]"') from None
    printer = SpanPrinter(console)
    answer = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/traces":
                self.send_error(404, "only /v1/traces is received here")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = ExportTraceServiceRequest()
            json_body = "json" in (self.headers.get("Content-Type") or "")
            try:
                if json_body:
                    json_format.Parse(body, request)
                else:
                    request.ParseFromString(body)
            except Exception as exc:  # a malformed export: the exporter is told so
                self.send_error(400, f"not an OTLP trace export: {exc}")
                return
            printer.export(request)
            payload = b"{}" if json_body else answer
            self.send_response(200)
            self.send_header("Content-Type",
                             "application/json" if json_body else "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.printer = printer  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True,
                     name="fastagentic-tail-spans").start()
    return server


def tail_spans(listen: str, console: Console) -> int:
    host, _, port = listen.rpartition(":")
    try:
        server = serve(host or "127.0.0.1", int(port), console)
    except ValueError:
        console.print(f"[red]--listen takes HOST:PORT, not {listen!r}[/red]")
        return 2
    except OSError as exc:
        console.print(f"[red]cannot listen on {listen}: {exc}[/red]")
        return 2
    address = f"http://{server.server_address[0]}:{server.server_address[1]}"
    console.print(f"receiving spans at {address}/v1/traces  (configure_otel(app, "
                  f'exporter_endpoint="{address}"); Ctrl-C stops)', style="dim",
                  highlight=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
