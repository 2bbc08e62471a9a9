"""Observability overhead: tracing (OpenTelemetry SDK + batch OTLP/HTTP exporter), Prometheus
metrics and JSON logs on, vs all of it off, on the same app.

Two uvicorn servers of bench/apps/observed_quickstart.py run side by side (SQLite stores):

* observed: ``configure_otel(...)`` exporting to an OTLP/HTTP receiver run by this script on
  127.0.0.1 (it reads and counts what it gets), ``FASTAGENTIC_METRICS=1`` (``/metrics``) and
  ``FASTAGENTIC_LOG_FORMAT=json`` (structlog JSON lines, redaction on);
* plain: the same app, nothing configured.

Two figures, each the median of interleaved rounds, as ratios observed / plain:

* requests/s: ``wrk`` (a separate process) POSTs ``{"a": 2, "b": 3}`` to ``/tools/add``;
* events/s: one durable run streaming N ``token`` events over SSE to a raw-socket client, from
  the request to the ``done`` frame (bench/sse_throughput.py's client and checks).

Goal: both ratios >= 0.85.  At the end the receiver's span count shows the traces were
exported (a bench that silently dropped them would measure nothing), and with tracing on,
the OpenTelemetry SDK's own cost per recorded span (made and queued, then encoded: no code of
fastagentic's) is measured in this process, with the requests/s ratio it alone allows at
the chosen sampling against plain's figure of this run.

    .venv/bin/python bench/observability.py [--duration 5] [--rounds 3] [--events 20000]
        [--sample 0.1] [--parts tracing,metrics,logs]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import APPS, Server, fmt_int, header, median, request, verdict, versions  # noqa: E402
from rest_overhead import interleaved  # noqa: E402
from sse_throughput import check_token_run, stream_once  # noqa: E402

GOAL = 0.85
STREAM_PATH = "/bench/stream"


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1 that decodes and counts the spans it gets."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                count = sum(len(scope.spans) for resource in message.resource_spans
                            for scope in resource.scope_spans)
                with receiver.lock:
                    receiver.spans += count
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


#: The attributes of the span a traced ``POST /tools/add`` exports (names as the server sets).
REQUEST_SPAN = {"http.request.method": "POST", "url.scheme": "http",
                "http.response.status_code": 200, "url.path": "/tools/add",
                "http.route": "/tools/{name}", "fastagentic.transport": "rest",
                "fastagentic.kind": "tool", "fastagentic.target": "add",
                "enduser.id": "anonymous"}


def sdk_floor(spans: int = 20_000) -> tuple[float, float]:
    """The OpenTelemetry SDK's own CPU per recorded span, in this process, with nothing of
    fastagentic's: ``(make, encode)`` in microseconds.  *make*: start the span with its
    attributes, make it current, end it, queued by a ``BatchSpanProcessor`` (to an exporter
    that drops what it gets); *encode*: the OTLP exporter's protobuf encoding of those spans.
    Every traced request pays at least both; nothing we write can make them cheaper."""
    import time

    from opentelemetry import context, trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.trace import SpanKind

    class Keep(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[object] = []

        def export(self, batch: object) -> SpanExportResult:
            self.spans.extend(batch)  # type: ignore[call-overload]
            return SpanExportResult.SUCCESS

    keep = Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-floor"}))
    # Queue room for every span (none dropped) and no export while timing.
    provider.add_span_processor(BatchSpanProcessor(keep, max_queue_size=spans + 1,
                                                   schedule_delay_millis=3_600_000,
                                                   max_export_batch_size=spans + 1))
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for _ in range(spans):
        span = tracer.start_span("POST", kind=SpanKind.SERVER, attributes=REQUEST_SPAN)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.end()
    make = (time.perf_counter() - started) / spans * 1e6
    provider.force_flush()
    batch = keep.spans[:512]  # the batch processor's default export size
    rounds = max(1, len(keep.spans) // len(batch))
    started = time.perf_counter()
    for _ in range(rounds):
        encode_spans(batch).SerializeToString()
    encode = (time.perf_counter() - started) / (rounds * len(batch)) * 1e6
    provider.shutdown()
    return make, encode


def streams(args: argparse.Namespace, servers: dict[str, Server]) -> dict[str, list[float]]:
    """events/s per server: a warm-up stream each, then interleaved rounds."""
    for name, server in servers.items():
        check_token_run(name, stream_once(server.port, STREAM_PATH, 1000).raw, 1000)
    results: dict[str, list[float]] = {name: [] for name in servers}
    for i in range(args.rounds):
        order = list(servers) if i % 2 == 0 else list(reversed(servers))
        line = []
        for name in order:
            stream = stream_once(servers[name].port, STREAM_PATH, args.events)
            check_token_run(name, stream.raw, args.events)
            rate = args.events / stream.elapsed
            results[name].append(rate)
            line.append(f"{name} {fmt_int(rate):>7} events/s")
        print(f"  round {i + 1}: " + " | ".join(line))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per server (3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--events", type=int, default=20_000, help="tokens per stream")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="the share of traces recorded and exported (1.0: all)")
    parser.add_argument("--parts", default="tracing,metrics,logs",
                        help="what the observed server turns on (to see each one's cost)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    args = parser.parse_args()
    if not os.path.exists(args.wrk):
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")

    header("Observability overhead: tracing + metrics + JSON logs on vs off")
    print(versions("fastagentic", "opentelemetry-sdk", "prometheus-client", "structlog",
                   "starlette", "uvicorn"))
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="fa-bench-obs-") as tmp:
        parts = set(args.parts.split(","))
        observed = Server("observed", "observed_quickstart:app", APPS, env={
            "BENCH_OBSERVED": "1" if "tracing" in parts else "0",
            "BENCH_OTLP_ENDPOINT": receiver.url, "BENCH_SAMPLE": str(args.sample),
            "FASTAGENTIC_METRICS": "1" if "metrics" in parts else "0",
            "FASTAGENTIC_LOG_FORMAT": "json" if "logs" in parts else "off",
            "FASTAGENTIC_DURABLE_STORE": f"sqlite:///{tmp}/o.db"})
        plain = Server("plain", "observed_quickstart:app", APPS, env={
            "BENCH_OBSERVED": "0", "FASTAGENTIC_DURABLE_STORE": f"sqlite:///{tmp}/p.db"})
        lua = os.path.join(tmp, "post_add.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = \'{"a": 2, "b": 3}\'\n'
                    'wrk.headers["Content-Type"] = "application/json"\n')
        with observed, plain:
            for name, server in (("observed", observed), ("plain", plain)):
                status, body = request("POST", server.url + "/tools/add", {"a": 2, "b": 3})
                if status != 200:
                    raise SystemExit(f"{name}: POST /tools/add -> {status} {body[:200]!r}")
            if "metrics" in parts:
                status, body = request("GET", observed.url + "/metrics", None)
                if status != 200 or b"fastagentic_requests_total" not in body:
                    raise SystemExit(f"observed: GET /metrics -> {status} {body[:200]!r}")
                status, _ = request("GET", plain.url + "/metrics", None)
                print(f"  check /metrics: observed 200, plain {status}")
            print(f"requests/s: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
                  f"POST /tools/add, warm-up {args.warmup:g}s, {args.rounds} rounds interleaved")
            rps = interleaved(args, lua, {"observed": observed, "plain": plain})
            print(f"events/s: one run streaming {args.events} tokens over SSE, {args.rounds} "
                  "rounds interleaved")
            eps = streams(args, {"observed": observed, "plain": plain})
    spans = receiver.spans
    parts = set(args.parts.split(","))
    print(f"\nOTLP receiver: {spans} spans decoded from the observed server")
    r_o, r_p = median(rps["observed"]), median(rps["plain"])
    if "tracing" in parts:
        make, encode = sdk_floor()
        floor = (make + encode) * args.sample
        cap = 1 / (1 + floor * r_p / 1e6)
        print(f"OpenTelemetry SDK alone, per recorded span (this process): {make:.1f} us to make "
              f"(start, current, end, queued), {encode:.1f} us to encode as OTLP protobuf.\n"
              f"  At sampling {args.sample:g} that is {floor:.1f} us per request; against "
              f"plain's {fmt_int(r_p)} req/s it caps the requests/s ratio at {cap:.3f}, "
              "before anything of fastagentic's")
    e_o, e_p = median(eps["observed"]), median(eps["plain"])
    print(f"requests/s median: observed {fmt_int(r_o)}, plain {fmt_int(r_p)}: "
          f"ratio {r_o / r_p:.3f} (goal >= {GOAL}) {verdict(r_o / r_p >= GOAL)}")
    print(f"events/s median:   observed {fmt_int(e_o)}, plain {fmt_int(e_p)}: "
          f"ratio {e_o / e_p:.3f} (goal >= {GOAL}) {verdict(e_o / e_p >= GOAL)}")
    return 0 if spans > 0 or "tracing" not in parts else 1


if __name__ == "__main__":
    raise SystemExit(main())
