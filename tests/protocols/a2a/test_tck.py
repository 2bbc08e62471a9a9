"""The A2A TCKs against examples/a2a_tck/app.py, served by ``fastagentic run`` (SQLite store).

Three runs (docs/a2a-protocol-notes.md §8; the TCKs themselves are set up by tck.py):

* 0.3 TCK (``0.3.0.beta4``) ``--category mandatory``    against the merged card
* 0.3 TCK (``0.3.0.beta4``) ``--category capabilities`` against the merged card
* 1.0 TCK (``1.0-dev``)     ``--level must``             against the pure 1.0 card

Every failed TCK test must be listed in tck-baseline.json with the TCK bug that makes it fail;
a failure not listed fails the test, and so does a listed test that passes now (the baseline
can only shrink). Each run's pytest summary line is printed (``pytest -s`` shows it)::

    .venv/bin/python -m pytest tests/protocols/a2a/test_tck.py -s -p no:cacheprovider

Without the TCK's git mirror (see tck.py) the runs are skipped: the TCK is source, not a
service, so FASTAGENTIC_REQUIRE_SERVICES does not turn that into a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from .tck import TCK_RUNS, TckRun, TckUnavailable, app_env, compare, ensure_tck, run_tck

APP = ROOT / "examples" / "a2a_tck" / "app.py"
BASELINE = Path(__file__).with_name("tck-baseline.json")


def load_baseline() -> dict[str, dict[str, str]]:
    runs = json.loads(BASELINE.read_text())["runs"]
    assert set(runs) == {r.id for r in TCK_RUNS}, "the baseline's runs and TCK_RUNS differ"
    for run_id, tests in runs.items():
        for node, reason in tests.items():
            assert "::" in node and isinstance(reason, str) and "TCK" in reason, (
                f"{run_id} / {node}: each entry is a pytest node id with the TCK bug behind it")
    return runs


def test_baseline_file_is_well_formed() -> None:
    load_baseline()


@pytest.mark.timeout(2400)  # includes creating the TCK venvs on a clean machine
@pytest.mark.parametrize("tck_run", TCK_RUNS, ids=[r.id for r in TCK_RUNS])
def test_tck(tck_run: TckRun, server_process: Any, tmp_path: Path) -> None:
    expected = load_baseline()[tck_run.id]
    try:
        ensure_tck(tck_run.tck)  # before the server starts: the first install takes minutes
    except TckUnavailable as exc:
        pytest.skip(str(exc))
    server = server_process(APP, f"sqlite:///{tmp_path / 'runs.db'}",
                            env=app_env(tck_run)).start()
    # localhost, as the TCKs' own examples use: their webhook receivers are reached there too.
    url = f"http://localhost:{server.port}"
    try:
        result = run_tck(tck_run, url)
    finally:
        server.kill()
    print(f"\nA2A TCK {tck_run.id}: exit {result.returncode}: {result.summary}")
    for node in result.failed:
        print(f"  FAILED {node}")

    # The TCK itself must have completed: pytest's exit 0 (all passed) or 1 (tests failed)
    # and its summary line.
    assert result.returncode in (0, 1) and result.summary, (
        f"the TCK did not complete (exit {result.returncode}):\n{result.done.output[-6000:]}")
    assert result.returncode == 0 or result.failed, (
        f"the TCK failed without naming a failed test:\n{result.done.output[-6000:]}")
    unexpected, stale = compare(result, expected)
    if unexpected or stale:
        report = [f"A2A TCK {tck_run.id} against {url}: {result.summary}"]
        if unexpected:
            report += ["Failed TCK tests not in tck-baseline.json:",
                       *(f"  - {node}" for node in unexpected)]
        if stale:
            report += ["Baseline entries that pass now (remove them from tck-baseline.json):",
                       *(f"  - {node}" for node in stale)]
        output = result.done.output
        report.append(f"TCK output ({len(output)} chars), tail:\n{output[-8000:]}"
                      if os.environ.get("TCK_VERBOSE") else
                      "(set TCK_VERBOSE=1 for the TCK's output)")
        pytest.fail("\n".join(report), pytrace=False)
