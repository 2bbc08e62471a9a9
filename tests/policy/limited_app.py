"""A service with one global rate limit, for the two-process Redis test: ``RL_LIMIT`` (e.g.
``10/minute``) under the rule name ``RL_NAME`` (unique per test, so tests sharing the Redis
never count in each other's windows).  The store is ``FASTAGENTIC_RATE_LIMIT_STORE``."""

from __future__ import annotations

import os

from fastagentic import App

app = App(title="Rate limited")


@app.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


app.rate_limit(os.environ["RL_LIMIT"], per="global", name=os.environ["RL_NAME"])
