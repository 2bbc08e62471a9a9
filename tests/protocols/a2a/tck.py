"""The A2A TCKs (``a2aproject/a2a-tck``), installed on demand from a local git mirror.

Two pinned revisions are used (see ``docs/a2a-protocol-notes.md`` §8):

* ``0.3.0.beta4`` (commit ``eb1f804``): the 0.3 TCK, ``./run_tck.py --sut-url URL --category C``
* ``1.0-dev``     (commit ``357c4a8``): the 1.0 TCK, ``./run_tck.py --sut-host URL --level L``

The TCK is not on PyPI and is never vendored here. Its source comes from a git mirror on the
machine: ``$FASTAGENTIC_A2A_TCK_GIT`` (a bare or ordinary git directory), by default
``/work/.mirror/a2aproject+a2a-tck/repo``. Each pinned commit is exported with ``git archive``
into ``<cache>/a2a-tck/<name>-<commit>/`` (``<cache>`` is ``<repo>/.cache`` or
``$FASTAGENTIC_TOOL_CACHE``), which gets its own venv with ``pip install -e .`` (its
dependencies come from the package index; the first install takes a minute or two, later ones
only read a marker file, so a finished install runs even without the mirror). Installs run
under a file lock, and a directory without its ``.installed`` marker (an interrupted install) is
removed and installed again.

Also usable by hand::

    python tests/protocols/a2a/tck.py install                 # install both, print the paths
    python tests/protocols/a2a/tck.py run URL [RUN_ID ...]    # run against a server, print results
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

if __package__:
    from ..mcp.conformance import Completed, _locked, cache_dir, run
else:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from protocols.mcp.conformance import Completed, _locked, cache_dir, run

MIRROR_ENV = "FASTAGENTIC_A2A_TCK_GIT"
DEFAULT_MIRROR = Path("/work/.mirror/a2aproject+a2a-tck/repo")
INSTALL_TIMEOUT = 1200  # seconds: pip resolving and downloading grpcio, protobuf, ...
MARKER = ".installed"
#: The TCKs' streaming timeout (``TCK_STREAMING_TIMEOUT``); the TCK app reads it too.
STREAMING_TIMEOUT = "2.0"


class TckUnavailable(RuntimeError):
    """The TCK's source is not on this machine (no mirror, or the pinned commit is missing)."""


class TckInstallError(RuntimeError):
    """The TCK could not be installed."""


@dataclass(frozen=True)
class Tck:
    """One pinned TCK revision."""

    name: str    # the tag or branch it was pinned from
    commit: str

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.commit[:7]}"


TCK_03 = Tck("0.3.0.beta4", "eb1f804c27ea25db8805264d9ed2d7ca077a7776")
TCK_10 = Tck("1.0-dev", "357c4a87afa2818731590647cccbea31c31733a2")


@dataclass(frozen=True)
class TckRun:
    """One invocation of a TCK against the TCK app."""

    id: str                 # the key in tck-baseline.json
    tck: Tck
    args: tuple[str, ...]   # after ``--sut-url URL`` / ``--sut-host URL``
    legacy_card: bool       # serve the merged card (0.3 fields) or the pure 1.0 card
    timeout: float          # seconds for the whole run

    def command(self, python: Path, base_url: str) -> list[str]:
        if self.tck is TCK_03:  # its --sut-url is the JSON-RPC endpoint; it reads the card first
            return [str(python), "run_tck.py", "--sut-url", f"{base_url}/a2a", *self.args]
        return [str(python), "run_tck.py", "--sut-host", base_url, *self.args]


TCK_RUNS = (
    TckRun("0.3 mandatory", TCK_03, ("--category", "mandatory"), True, 300),
    TckRun("0.3 capabilities", TCK_03, ("--category", "capabilities"), True, 300),
    TckRun("1.0 must", TCK_10, ("--level", "must"), False, 600),
)


# ---------------------------------------------------------------------------------- installing


def mirror() -> Path:
    """The TCK's git directory, or TckUnavailable saying why not."""
    path = Path(os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR)
    if not path.exists():
        raise TckUnavailable(f"no A2A TCK git mirror at {path} (set {MIRROR_ENV} to a clone "
                             "of https://github.com/a2aproject/a2a-tck)")
    return path


def _git(args: Sequence[str], stdout: int | IO[bytes] = subprocess.PIPE
         ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", f"--git-dir={_git_dir(mirror())}", *args], stdout=stdout,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def _export(tck: Tck, dest: Path) -> None:
    """``git archive`` the pinned commit into ``dest`` (an empty directory)."""
    if _git(["cat-file", "-e", f"{tck.commit}^{{commit}}"]).returncode != 0:
        raise TckUnavailable(f"the A2A TCK mirror {mirror()} lacks commit {tck.commit} "
                             f"({tck.name}); fetch it there")
    with tempfile.TemporaryFile() as archive:
        done = _git(["archive", "--format=tar", tck.commit], stdout=archive)
        if done.returncode != 0:
            raise TckInstallError(f"git archive {tck.commit} failed: {done.stderr.decode()}")
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(dest, filter="data")


def _installed(target: Path, tck: Tck) -> bool:
    try:
        return (target / MARKER).read_text().strip() == tck.commit
    except OSError:
        return False


def python_of(target: Path) -> Path:
    return target / ".venv" / "bin" / "python"


def ensure_tck(tck: Tck) -> Path:
    """The TCK's directory with its venv ready (installed on first use)."""
    target = cache_dir() / "a2a-tck" / tck.dirname
    if _installed(target, tck):
        return target
    mirror()  # no mirror: TckUnavailable before taking any lock
    with _locked(target.parent / ".locks" / f"{target.name}.lock"):
        if _installed(target, tck):  # another process finished it while we waited
            return target
        # The venv and the editable install hold absolute paths, so install in place; the
        # marker is written last, and a directory without it is started over.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _export(tck, target)
        steps = [[sys.executable, "-m", "venv", str(target / ".venv")],
                 [str(python_of(target)), "-m", "pip", "install", "--quiet", "-e", "."]]
        for step in steps:
            try:
                done = run(step, timeout=INSTALL_TIMEOUT, cwd=target)
            except AssertionError as exc:  # timed out
                raise TckInstallError(str(exc)) from None
            if done.returncode != 0:
                raise TckInstallError(f"{' '.join(step)} failed ({done.returncode}):\n"
                                      f"{done.output[-6000:]}")
        (target / MARKER).write_text(tck.commit + "\n")
    return target


# ------------------------------------------------------------------------------------ running


@dataclass
class Result:
    """What one TCK run reported."""

    run: TckRun
    done: Completed
    counts: dict[str, int]   # from pytest's summary line: {"passed": 27, "failed": 4, ...}
    summary: str             # that line: "4 failed, 27 passed, 2 skipped, 67 deselected in 1.5s"
    failed: list[str]        # pytest node ids of the FAILED and ERROR tests, sorted

    @property
    def returncode(self) -> int:
        return self.done.returncode


SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s(?: \([^)]*\))?\s*=*$", re.M)
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+::\S+?)(?: - .*)?$", re.M)


def parse(output: str) -> tuple[dict[str, int], str, list[str]]:
    """Counts, the summary line and the failed node ids from a pytest run's output."""
    matches = list(SUMMARY.finditer(output))
    if not matches:
        return {}, "", []
    line = matches[-1].group(0).strip("= \n")
    counts = {}
    for number, word in re.findall(r"(\d+) (\w+)", matches[-1].group(1)):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[word] = int(number)
    failed = sorted(set(FAILED_LINE.findall(output)))
    return counts, line, failed


def run_tck(tck_run: TckRun, base_url: str) -> Result:
    """Run ``tck_run`` against the server at ``base_url`` (no trailing slash)."""
    target = ensure_tck(tck_run.tck)
    env = {**os.environ, "TCK_STREAMING_TIMEOUT": STREAMING_TIMEOUT, "PYTHONUNBUFFERED": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = run(tck_run.command(python_of(target), base_url), timeout=tck_run.timeout,
               env=env, cwd=target)
    counts, line, failed = parse(done.output)
    return Result(tck_run, done, counts, line, failed)


def app_env(tck_run: TckRun) -> dict[str, str]:
    """The environment of the TCK app (examples/a2a_tck/app.py) for ``tck_run``."""
    return {"TCK_STREAMING_TIMEOUT": STREAMING_TIMEOUT,
            "A2A_TCK_LEGACY_CARD": "1" if tck_run.legacy_card else "0"}


def compare(result: Result, expected: dict[str, str]) -> tuple[list[str], list[str]]:
    """(failures not in ``expected``, entries of ``expected`` that passed), as node ids."""
    return ([t for t in result.failed if t not in expected],
            [t for t in expected if t not in result.failed])


# ------------------------------------------------------------------------------ command line


def _main(argv: list[str]) -> int:
    command = argv[0] if argv else "install"
    if command == "install":
        for tck in (TCK_03, TCK_10):
            print(f"{tck.name}".ljust(13), ensure_tck(tck))
        return 0
    if command == "run" and len(argv) >= 2:
        # Against a server you started yourself, e.g. (legacy card on for 0.3, off for 1.0):
        #   A2A_TCK_LEGACY_CARD=0 fastagentic run examples/a2a_tck/app.py --port 9999
        #   python tests/protocols/a2a/tck.py run http://localhost:9999 "1.0 must"
        url, wanted = argv[1].rstrip("/"), argv[2:]
        status = 0
        for tck_run in TCK_RUNS:
            if wanted and tck_run.id not in wanted:
                continue
            result = run_tck(tck_run, url)
            print(f"{tck_run.id}: exit {result.returncode}: {result.summary or '(no summary)'}")
            for node in result.failed:
                print(f"  FAILED {node}")
            status |= result.returncode
        return status
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
