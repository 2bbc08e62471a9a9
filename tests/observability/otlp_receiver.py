"""A local OTLP/HTTP traces receiver for the tests: what a collector would get, decoded.

``with OtlpReceiver() as receiver:`` serves ``POST /v1/traces`` on 127.0.0.1 (a thread), decodes
each ``ExportTraceServiceRequest`` protobuf payload (gzip or not) with the official
``opentelemetry-proto`` classes and keeps the spans as :class:`ReceivedSpan`; ``receiver.url``
is the base URL to give an exporter (``/v1/traces`` is the exporter's to add).
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = "application/x-protobuf"


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, with ids as lowercase hex (as in ``traceparent``)."""

    service: str
    name: str
    kind: str  # SERVER, INTERNAL, CLIENT, ...
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status: str  # UNSET, OK, ERROR
    scope: str


@dataclass
class Export:
    """One export request: its headers and how many spans it carried."""

    headers: dict[str, str]
    spans: int = 0
    errors: list[str] = field(default_factory=list)


def decode(payload: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    service=service, name=span.name,
                    kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    attributes={kv.key: any_value(kv.value) for kv in span.attributes},
                    events=[(e.name, {kv.key: any_value(kv.value) for kv in e.attributes})
                            for e in span.events],
                    status=Status.StatusCode.Name(span.status.code).removeprefix(
                        "STATUS_CODE_"),
                    scope=scope_spans.scope.name))
    return spans


class OtlpReceiver:
    """Receives OTLP/HTTP trace exports on 127.0.0.1 (see the module's docstring)."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.exports: list[Export] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                export = Export({k.lower(): v for k, v in self.headers.items()})
                status = 200
                if self.path != "/v1/traces":
                    status = 404
                elif not (self.headers.get("Content-Type") or "").startswith(PROTOBUF):
                    status = 415
                else:
                    if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                        body = gzip.decompress(body)
                    try:
                        spans = decode(body)
                    except Exception as exc:  # a malformed payload: the exporter's bug
                        export.errors.append(f"{type(exc).__name__}: {exc}")
                        status = 400
                    else:
                        export.spans = len(spans)
                        with receiver._changed:
                            receiver.spans.extend(spans)
                with receiver._changed:
                    receiver.exports.append(export)
                    receiver._changed.notify_all()
                reply = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def of(self, service: str) -> list[ReceivedSpan]:
        with self._changed:
            return [s for s in self.spans if s.service == service]

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], Any], timeout: float = 30.0
                 ) -> Any:
        """Block until ``predicate(spans so far)`` is truthy (returned), or fail."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(list(self.spans))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = sorted({f"{s.service}: {s.name}" for s in self.spans})
                    raise AssertionError(f"the expected spans did not arrive in {timeout}s; "
                                         f"received: {names}")
                self._changed.wait(remaining)
