"""Node tooling for the MCP conformance and Inspector tests, installed on demand.

Everything lands in ``<repo>/.cache/`` (git-ignored), or in ``$FASTAGENTIC_TOOL_CACHE``:

* ``node22/``                      Node 22 from the npm registry (``npm install node@22``); the
                                   suite's bundle needs ``fs.globSync``, which Node 20 lacks
* ``conformance-<version>/``       ``@modelcontextprotocol/conformance@<version>`` (exact)
* ``inspector/``                   ``@modelcontextprotocol/inspector@2``

Installs use the machine's ``npm`` and run under a file lock, so parallel test processes
neither collide nor install twice. Each one goes to a staging directory that is renamed into
place only once complete, so an interrupted install is never mistaken for a finished one.
When the tools are present, ``ensure_*`` only reads two small files.

Also usable by hand (see ``docs/mcp-conformance-fixtures.md``)::

    python tests/protocols/mcp/conformance.py install     # install everything, print paths
    python tests/protocols/mcp/conformance.py failures    # run the suites, print the failures
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CACHE_ENV = "FASTAGENTIC_TOOL_CACHE"
CONFORMANCE = "@modelcontextprotocol/conformance"
INSPECTOR = "@modelcontextprotocol/inspector"
INSTALL_TIMEOUT = 900  # seconds, per npm install (the Node download is ~30 MB)


class ToolingError(RuntimeError):
    """A tool could not be installed."""


class NpmMissing(ToolingError):
    """There is no ``npm`` on PATH to install with."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or ROOT / ".cache").resolve()


# ---------------------------------------------------------------------------------- installing


def _satisfies(installed: str, spec: str) -> bool:
    """``spec`` is an exact version (``0.2.0-alpha.12``) or a prefix of one (``22``, ``2.12``)."""
    if re.fullmatch(r"\d+\.\d+\.\d+(-.+)?", spec):
        return installed == spec
    want = spec.split(".")
    have = installed.split("-")[0].split(".")
    return not re.search(r"-", installed) and have[: len(want)] == want


def _installed_version(prefix: Path, name: str) -> str | None:
    try:
        return json.loads((prefix / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
    npm = shutil.which("npm", path=(env or os.environ).get("PATH"))
    if npm is None:
        raise NpmMissing("npm is not on PATH; it is needed to install the MCP test tooling")
    cmd = [npm, *args, "--no-audit", "--no-fund", "--loglevel=error"]
    try:  # in its own process group, so a timeout also stops npm's install scripts
        done = run(cmd, timeout=INSTALL_TIMEOUT, env=env)
    except AssertionError as exc:
        raise ToolingError(str(exc)) from None
    if done.returncode != 0:
        raise ToolingError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.output[-6000:]}")


def _install(target: Path, check: Any, install: Any) -> None:
    """Run ``install(staging_dir)`` under the target's lock unless ``check(target)`` holds."""
    if check(target):
        return
    with _locked(target.parent / ".locks" / f"{target.name}.lock"):
        if check(target):  # another process finished it while we waited
            return
        staging = target.parent / f".staging-{target.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        (staging / "package.json").write_text(
            json.dumps({"name": target.name.lower(), "private": True}) + "\n")
        try:
            install(staging)
            if not check(staging):
                raise ToolingError(f"installing into {staging} left the expected files missing")
            shutil.rmtree(target, ignore_errors=True)  # an older or broken install
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _node_platform_package() -> str:
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    return f"node-{system}-{arch}"


def _node_binary(prefix: Path) -> Path | None:
    for package in ("node", _node_platform_package()):
        binary = prefix / "node_modules" / package / "bin" / "node"
        version = _installed_version(prefix, package)
        if binary.is_file() and os.access(binary, os.X_OK) and version and _satisfies(version, "22"):
            return binary
    return None


def ensure_node22() -> Path:
    """The Node 22 binary, installed from the npm registry if missing."""
    target = cache_dir() / "node22"

    def install(staging: Path) -> None:
        _npm(["install", "--prefix", str(staging), "--save-exact", "node@22"])
        if _node_binary(staging) is None:
            # The `node` package fetches the platform package in its preinstall script. When
            # scripts are disabled (npm's ignore-scripts), install the platform package itself.
            version = _installed_version(staging, "node") or "22"
            _npm(["install", "--prefix", str(staging), "--save-exact", "--ignore-scripts",
                  f"{_node_platform_package()}@{version}"])

    _install(target, lambda p: _node_binary(p) is not None, install)
    binary = _node_binary(target)
    assert binary is not None
    return binary


def node_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment with Node 22 first on PATH (the packages' bins use ``env node``)."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(ensure_node22().parent), env.get("PATH", "")])
    return env


def ensure_package(name: str, version: str, *, dirname: str | None = None,
                   bin: str | None = None) -> Path:
    """The executable of npm package ``name@version``, installed under the cache if missing.

    ``version`` is exact (saved with ``--save-exact``) or a major/minor prefix (``2``). The
    install directory is ``dirname``, by default ``<last part of name>-<version>``. The
    executable is ``bin``, by default the package's bin named like its last name part.
    """
    short = name.rsplit("/", 1)[-1]
    target = cache_dir() / (dirname or f"{short}-{version}")
    bin = bin or short

    def check(prefix: Path) -> bool:
        installed = _installed_version(prefix, name)
        return (installed is not None and _satisfies(installed, version)
                and (prefix / "node_modules" / ".bin" / bin).exists())

    def install(staging: Path) -> None:
        _npm(["install", "--prefix", str(staging), "--save-exact", f"{name}@{version}"],
             env=node_env())

    _install(target, check, install)
    return target / "node_modules" / ".bin" / bin


def ensure_conformance(version: str) -> Path:
    return ensure_package(CONFORMANCE, version)


def ensure_inspector() -> Path:
    return ensure_package(INSPECTOR, "2", dirname="inspector", bin="mcp-inspector")


# ------------------------------------------------------------------------------------ running


@dataclass
class Completed:
    args: list[str]
    returncode: int
    output: str  # stdout (and stderr, interleaved, unless kept apart), ANSI colours removed
    stderr: str = ""


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run(args: Sequence[str | Path], *, timeout: float, env: dict[str, str] | None = None,
        cwd: Path | None = None, merge_stderr: bool = True) -> Completed:
    """Run a command in its own process group with a hard timeout.

    On timeout the whole group (e.g. a stdio server the Inspector launched) is killed and an
    AssertionError carries the output so far. Stray members of the group left behind after a
    normal exit are killed too.
    """
    cmd = [str(a) for a in args]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        raise AssertionError(f"timed out after {timeout}s: {' '.join(cmd)}\n"
                             f"{_text(out)[-6000:]}\n{_text(err)[-3000:]}") from None
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
    _reap_group(proc.pid)
    return Completed(cmd, proc.returncode, _text(out), _text(err))


def _text(data: bytes | None) -> str:
    return ANSI.sub("", (data or b"").decode(errors="replace"))


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _reap_group(pgid: int, grace: float = 5.0) -> None:
    """Give what is left of our process group ``grace`` seconds to exit, then kill it."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    _kill_group(pgid)


# ------------------------------------------------------------------------- conformance results


@dataclass
class Scenario:
    name: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Ids of the FAILURE checks, sorted, without duplicates (one id can repeat)."""
        return sorted({c["id"] for c in self.checks if c.get("status") == "FAILURE"})

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.get("status") == status)


# DIR/server-<scenario>-<ISO timestamp with ':' and '.' replaced by '-'>/checks.json
RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


def read_results(output_dir: Path) -> dict[str, Scenario]:
    """The per-scenario ``checks.json`` files the suite wrote with ``-o output_dir``."""
    scenarios: dict[str, Scenario] = {}
    for path in sorted(output_dir.glob("*/checks.json")):
        match = RESULT_DIR.match(path.parent.name)
        if match is None:
            raise AssertionError(f"unexpected result directory {path.parent.name}")
        name = match["name"]
        if name in scenarios:
            raise AssertionError(f"scenario {name} has two result directories in {output_dir}")
        scenarios[name] = Scenario(name, json.loads(path.read_text()))
    return scenarios


def failures(scenarios: dict[str, Scenario]) -> dict[str, list[str]]:
    """``{scenario: [failed check ids]}`` for the scenarios with at least one FAILURE."""
    return {name: s.failed for name, s in scenarios.items() if s.failed}


@dataclass(frozen=True)
class SuiteRun:
    id: str          # the key in conformance-baseline.json
    version: str     # of @modelcontextprotocol/conformance
    args: tuple[str, ...]


SUITE_RUNS = (
    SuiteRun("0.1.16 --suite all", "0.1.16", ("--suite", "all")),
    SuiteRun("0.2.0-alpha.12 --requirements 2025-11-25", "0.2.0-alpha.12",
             ("--requirements", "2025-11-25")),
    SuiteRun("0.2.0-alpha.12 --requirements 2026-07-28", "0.2.0-alpha.12",
             ("--requirements", "2026-07-28")),
)
SUITE_TIMEOUT = 300  # seconds; a healthy run takes 1-3, a stuck scenario 30 (alpha.12)


def run_suite(suite: SuiteRun, url: str, output_dir: Path) -> tuple[Completed, dict[str, Scenario]]:
    binary = ensure_conformance(suite.version)
    done = run([binary, "server", "--url", url, *suite.args, "-o", output_dir],
               timeout=SUITE_TIMEOUT, env=node_env())
    return done, read_results(output_dir)


def compare(results: dict[str, Scenario], baseline: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(unexpected failures, baseline entries that now pass), as readable lines."""
    unexpected, stale = [], []
    failed = failures(results)
    for name, ids in failed.items():
        expected = set(baseline.get(name, {}).get("checks", []))
        for check_id in ids:
            if check_id not in expected:
                messages = [c.get("errorMessage") or c.get("description") or ""
                            for c in results[name].checks
                            if c["id"] == check_id and c.get("status") == "FAILURE"]
                unexpected.append(f"{name} [{check_id}]: {' / '.join(messages)[:400]}")
    for name, entry in baseline.items():
        if name not in results:
            stale.append(f"{name}: not run any more")
            continue
        for check_id in entry.get("checks", []):
            if check_id not in failed.get(name, []):
                stale.append(f"{name} [{check_id}]: passes now")
    return unexpected, stale


def summary(results: dict[str, Scenario], baseline: dict[str, Any]) -> str:
    lines = []
    for name, scenario in results.items():
        failed = scenario.failed
        mark = "PASS" if not failed else "FAIL"
        note = ""
        if failed:
            expected = set(baseline.get(name, {}).get("checks", []))
            new = [i for i in failed if i not in expected]
            note = " (in the baseline)" if not new else f" NEW: {', '.join(new)}"
        elif name in baseline:
            note = " (listed in the baseline: remove it)"
        lines.append(f"  {mark} {name}: {scenario.count('SUCCESS')} passed, "
                     f"{scenario.count('FAILURE')} failed, {scenario.count('WARNING')} warnings"
                     f"{note}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ command line


def _main(argv: list[str]) -> int:
    command = argv[0] if argv else "install"
    if command == "install":
        print("node 22       ", ensure_node22())
        for version in dict.fromkeys(suite.version for suite in SUITE_RUNS):
            print(f"conformance {version}".ljust(14), ensure_conformance(version))
        print("inspector     ", ensure_inspector())
        return 0
    if command == "failures":
        # Runs the suites against examples/mcp_everything/app.py and prints the failures in
        # the shape of conformance-baseline.json (reasons taken from the current baseline).
        import tempfile

        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import ServerProcess

        baseline_file = Path(__file__).with_name("conformance-baseline.json")
        old = json.loads(baseline_file.read_text())["runs"] if baseline_file.exists() else {}
        out: dict[str, Any] = {}
        for suite in SUITE_RUNS:
            server = ServerProcess(ROOT / "examples" / "mcp_everything" / "app.py", "memory://")
            server.start()
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    _, results = run_suite(suite, f"http://localhost:{server.port}/mcp",
                                           Path(tmp))
            finally:
                server.kill()
            previous = old.get(suite.id, {})
            out[suite.id] = {name: {"reason": previous.get(name, {}).get("reason", "TODO"),
                                    "checks": ids}
                             for name, ids in failures(results).items()}
        print(json.dumps({"runs": out}, indent=2))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
