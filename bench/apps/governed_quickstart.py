"""The quickstart app with governance on (bench/governance.py): JWT auth from the environment
(``FASTAGENTIC_OIDC_*``), a rate limit counted in ``FASTAGENTIC_RATE_LIMIT_STORE`` (Redis) and
the audit log (``FASTAGENTIC_AUDIT=1``).  With ``BENCH_GOVERNED=0`` it is the plain quickstart.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "app.py"
spec = importlib.util.spec_from_file_location("quickstart_app", QUICKSTART)
assert spec is not None and spec.loader is not None
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
app = module.app

if os.environ.get("BENCH_GOVERNED") == "1":
    # High enough never to refuse during the bench: every request is counted, none limited.
    app.rate_limit("100000000/minute", per="user")
