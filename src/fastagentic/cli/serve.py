"""What ``fastagentic run`` hands to uvicorn: a factory that loads the App and applies the
command line's overrides (also in ``--reload`` child processes, through the environment)."""

from __future__ import annotations

import os
from typing import Any

TARGET_ENV = "FASTAGENTIC_CLI_TARGET"
STORE_ENV = "FASTAGENTIC_CLI_STORE"
WORKER_ENV = "FASTAGENTIC_CLI_WORKER"


def factory() -> Any:
    from .loader import load_app

    app = load_app(os.environ.get(TARGET_ENV) or None)
    store = os.environ.get(STORE_ENV)
    if store:
        app.settings.durable_store = store
        app._store_override = None
    worker = os.environ.get(WORKER_ENV)
    if worker is not None:
        app.settings.worker = worker == "1"
    return app
