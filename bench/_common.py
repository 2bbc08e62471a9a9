"""Shared helpers for the benchmark scripts (standard library only).

* :class:`Server`: a uvicorn server in a subprocess on a free port, with the settings every
  benchmark uses (1 worker, uvloop, httptools, access log off, log level warning), waited on
  until healthy and stopped with SIGINT (SIGKILL after a timeout).
* small HTTP, statistics and reporting helpers.

The machine these run on is small and shared, so every benchmark measures its candidates side
by side in one run, interleaved, and reports ratios; absolute numbers are for context only.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
APPS = BENCH / "apps"
PYTHON = sys.executable
HOST = "127.0.0.1"

#: The uvicorn settings shared by every server a benchmark starts.
UVICORN_SETTINGS = ["--workers", "1", "--loop", "uvloop", "--http", "httptools",
                    "--no-access-log", "--log-level", "warning"]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far (Linux
    ``/proc``; clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """``python -m uvicorn <target> --app-dir <app_dir>`` in a subprocess.

    ``profile``: a path; the server then runs under ``cProfile`` and writes its stats there when
    it stops (for hotspot analysis, not for timing).
    """

    def __init__(self, name: str, target: str, app_dir: Path, *, health_path: str = "/health",
                 env: dict[str, str] | None = None, profile: str | None = None) -> None:
        self.name = name
        self.target = target
        self.app_dir = Path(app_dir)
        self.health_path = health_path
        self.env = env or {}
        self.profile = profile
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        prefix = [PYTHON]
        if self.profile:
            prefix += ["-m", "cProfile", "-o", self.profile]
        return [*prefix, "-m", "uvicorn", self.target, "--app-dir", str(self.app_dir),
                "--host", HOST, "--port", str(self.port), *UVICORN_SETTINGS]

    def start(self, timeout: float = 60.0) -> Server:
        self.port = free_port()
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with code {self.proc.returncode}"
                                   f":\n{self.output()}")
            try:
                status, _ = request("GET", self.url + self.health_path, timeout=2)
                if status == 200:
                    return
                last = RuntimeError(f"GET {self.health_path} answered {status}")
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} server not healthy after {timeout:.0f}s ({last}):\n"
                           f"{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request(method: str, url: str, body: Any = None, *, timeout: float = 10.0,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP request (a JSON body when ``body`` is given): ``(status, response body)``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, parts.path or "/", body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def environment() -> str:
    try:
        load = "load avg %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load avg n/a"
    return (f"python {platform.python_version()} ({PYTHON}), {os.cpu_count()} CPUs, {load}, "
            f"{platform.platform()}")


def versions(*modules: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in modules:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def header(title: str) -> None:
    print(title)
    print("=" * len(title))
    print(environment())
