"""An app file of the tests, served traced: ``TRACED_APP`` is the file (its ``app``), and
``configure_otel`` finds the OTLP endpoint in ``FASTAGENTIC_OTEL_ENDPOINT`` and the service
name in ``OTEL_SERVICE_NAME`` (as a deployment would set them)."""

import importlib.util
import os

from fastagentic.telemetry import configure_otel

_spec = importlib.util.spec_from_file_location("traced_target", os.environ["TRACED_APP"])
assert _spec is not None and _spec.loader is not None
_target = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_target)

app = _target.app
configure_otel(app)
