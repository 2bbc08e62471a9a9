"""Import time: ``import fastagentic`` and ``from fastagentic import App`` vs ``import fastapi``.

Each statement runs in a fresh interpreter (``python -c ...``, the wall time of the whole
process, interpreter start-up included), N times, the statements interleaved round by round
after one discarded warm-up round (byte-code caches); reported: each median and the ratios to
``import fastapi`` (goal: ``import fastagentic`` <= 1.3x; the ``App`` ratio is for information).
``python -c pass`` is measured alongside as the interpreter's own start-up.

    .venv/bin/python bench/import_time.py [-n 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import PYTHON, ROOT, header, median, verdict, versions  # noqa: E402

GOAL = 1.3
STATEMENTS = {
    "pass": "pass",
    "import fastapi": "import fastapi",
    "import fastagentic": "import fastagentic",
    "from fastagentic import App": "from fastagentic import App",
}


def wall(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", statement], check=True, cwd=ROOT,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def imported(statement: str) -> dict[str, int]:
    """Module -> self time (µs) from ``python -X importtime -c statement``."""
    proc = subprocess.run([PYTHON, "-X", "importtime", "-c", statement], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    out: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:") or "self" in parts[0]:
            continue
        out[parts[2].strip()] = int(parts[0].removeprefix("import time:").strip())
    return out


def extra_imports(statement: str, baseline: dict[str, int], count: int
                  ) -> tuple[int, list[tuple[int, int, str]]]:
    """What ``statement`` imports beyond ``baseline``: total self µs and the top packages."""
    by_package: dict[str, list[int]] = {}
    for module, micros in imported(statement).items():
        if module not in baseline:
            by_package.setdefault(module.split(".")[0], []).append(micros)
    rows = sorted(((sum(v), len(v), pkg) for pkg, v in by_package.items()), reverse=True)
    return sum(r[0] for r in rows), rows[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=15,
                        help="fresh interpreter runs per statement (15)")
    parser.add_argument("--top", type=int, default=0, metavar="K",
                        help="also list the K packages that add the most import time "
                             "beyond 'import fastapi' (python -X importtime)")
    args = parser.parse_args()

    header("Import time: fresh interpreter per run (wall time of python -c ...)")
    print(versions("fastagentic", "fastapi", "starlette", "pydantic", "pydantic-core"))
    print(f"{args.runs} runs per statement, interleaved, after 1 discarded warm-up round")
    for statement in STATEMENTS.values():
        wall(statement)
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    names = list(STATEMENTS)
    for i in range(args.runs):
        order = names[i % len(names):] + names[:i % len(names)]  # rotate who goes first
        for name in order:
            times[name].append(wall(STATEMENTS[name]))

    med = {name: median(values) for name, values in times.items()}
    width = max(len(n) for n in names) + 16
    for name in names:
        values = sorted(times[name])
        print(f"  {'python -c ' + repr(STATEMENTS[name]):<{width}} median {med[name] * 1e3:7.1f} ms"
              f"   (min {values[0] * 1e3:6.1f}, max {values[-1] * 1e3:6.1f})")
    base = med["import fastapi"]
    ratio = med["import fastagentic"] / base
    app_ratio = med["from fastagentic import App"] / base
    print(f"ratio import fastagentic / import fastapi: {ratio:.3f}   "
          f"(goal <= {GOAL}: {verdict(ratio <= GOAL)})")
    print(f"ratio from fastagentic import App / import fastapi: {app_ratio:.3f}   (information)")
    startup = med["pass"]
    print(f"net of interpreter start-up ({startup * 1e3:.1f} ms): import fastapi "
          f"{(base - startup) * 1e3:.1f} ms, import fastagentic "
          f"{(med['import fastagentic'] - startup) * 1e3:.1f} ms, from fastagentic import App "
          f"{(med['from fastagentic import App'] - startup) * 1e3:.1f} ms (information)")
    if args.top:
        baseline = imported(STATEMENTS["import fastapi"])
        for name in names[2:]:
            total, rows = extra_imports(STATEMENTS[name], baseline, args.top)
            print(f"{STATEMENTS[name]!r} imports beyond 'import fastapi' "
                  f"(-X importtime self time, one run): {total / 1e3:.1f} ms; top packages:")
            for micros, modules, package in rows:
                print(f"  {micros / 1e3:7.1f} ms  {package} ({modules} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
