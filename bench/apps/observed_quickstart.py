"""The quickstart app plus a streaming endpoint, with observability on or off
(bench/observability.py).

With ``BENCH_OBSERVED=1``: tracing through the OpenTelemetry SDK with its batch exporter to the
OTLP/HTTP endpoint in ``BENCH_OTLP_ENDPOINT`` (``configure_otel``; ``BENCH_SAMPLE=0.1`` samples
one trace in ten), Prometheus metrics at
``/metrics`` and JSON logs (``FASTAGENTIC_METRICS=1 FASTAGENTIC_LOG_FORMAT=json``, set by the
bench).  With ``BENCH_OBSERVED=0`` it is the plain quickstart with the same extra endpoint.

``POST /bench/stream`` with ``{"n": N}`` starts a durable run whose generator yields N short
tokens as fast as it can (each one a ``token`` event, sequenced, persisted and streamed).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "app.py"
spec = importlib.util.spec_from_file_location("quickstart_app", QUICKSTART)
assert spec is not None and spec.loader is not None
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
app = module.app


class StreamIn(BaseModel):
    n: int = 10_000


@app.agent_endpoint("/bench", description="Streams n short tokens as fast as possible.")
async def bench(body: StreamIn) -> AsyncIterator[str]:
    for i in range(body.n):
        yield "t" + str(i % 10)


if os.environ.get("BENCH_OBSERVED") == "1":
    from fastagentic.telemetry import configure_otel

    ratio = float(os.environ.get("BENCH_SAMPLE", "1"))
    configure_otel(app, service_name="bench-observed",
                   exporter_endpoint=os.environ["BENCH_OTLP_ENDPOINT"],
                   sampler_ratio=None if ratio >= 1 else ratio)
