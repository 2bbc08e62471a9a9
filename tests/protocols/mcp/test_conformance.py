"""The official MCP conformance suite against examples/mcp_everything/app.py, as a real server.

Three runs (see docs/mcp-conformance-fixtures.md):

* ``@modelcontextprotocol/conformance@0.1.16 server --suite all``               (stateful wire)
* ``@modelcontextprotocol/conformance@0.2.0-alpha.12 server --requirements 2025-11-25``
* ``@modelcontextprotocol/conformance@0.2.0-alpha.12 server --requirements 2026-07-28``
  (stateless wire; also runs the not-scored extension and pending scenarios)

Every FAILURE check is compared with conformance-baseline.json, which lists per run the
scenarios and check ids that are expected to fail today, each with its reason. A failure
that is not listed fails the test, and so does a listed one that passes now: the baseline
can only shrink. To see the current failures in the baseline's shape::

    .venv/bin/python tests/protocols/mcp/conformance.py failures

Node 22 and the suites are installed into .cache/ on first use (see conformance.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import REQUIRE_SERVICES, ROOT

from .conformance import (
    SUITE_RUNS,
    NpmMissing,
    SuiteRun,
    compare,
    ensure_conformance,
    run_suite,
    summary,
)

APP = ROOT / "examples" / "mcp_everything" / "app.py"
BASELINE = Path(__file__).with_name("conformance-baseline.json")


def load_baseline() -> dict[str, Any]:
    runs = json.loads(BASELINE.read_text())["runs"]
    assert set(runs) == {s.id for s in SUITE_RUNS}, "the baseline's runs and SUITE_RUNS differ"
    for run_id, scenarios in runs.items():
        for name, entry in scenarios.items():
            assert entry.get("reason") and entry.get("checks"), f"{run_id} / {name}"
    return runs


def test_baseline_file_is_well_formed() -> None:
    load_baseline()


@pytest.mark.timeout(1800)  # includes installing Node 22 and the suite on a clean machine
@pytest.mark.parametrize("suite", SUITE_RUNS, ids=[s.id for s in SUITE_RUNS])
def test_conformance_suite(suite: SuiteRun, server_process: Any, tmp_path: Path) -> None:
    baseline = load_baseline()[suite.id]
    try:
        ensure_conformance(suite.version)  # before the server starts: may take a minute
    except NpmMissing as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(str(exc))
    server = server_process(APP, "memory://").start()
    # localhost, not 127.0.0.1: dns-rebinding-protection needs a localhost Host to accept.
    url = f"http://localhost:{server.port}/mcp"
    try:
        done, results = run_suite(suite, url, tmp_path / "results")
    finally:
        server.kill()

    # The harness itself must have completed: exit 0/1 and its closing summary line.
    assert done.returncode in (0, 1) and "Total:" in done.output and results, (
        f"the suite did not complete (exit {done.returncode}):\n{done.output[-6000:]}")
    unexpected, stale = compare(results, baseline)
    if unexpected or stale:
        report = [f"conformance {suite.id} against {url}", summary(results, baseline)]
        if unexpected:
            report += ["Failed checks not in conformance-baseline.json:",
                       *(f"  - {line}" for line in unexpected)]
        if stale:
            report += ["Baseline entries that pass now (remove them from the baseline):",
                       *(f"  - {line}" for line in stale)]
        report.append(f"Full output ({len(done.output)} chars), tail:\n{done.output[-3000:]}"
                      if os.environ.get("CONFORMANCE_VERBOSE") else
                      "(set CONFORMANCE_VERBOSE=1 for the suite's output)")
        pytest.fail("\n".join(report), pytrace=False)
