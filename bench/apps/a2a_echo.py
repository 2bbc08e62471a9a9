"""fastagentic for bench/a2a_send.py: the echo agent, served over A2A at ``/a2a``.

One agent endpoint (the app's default skill, ``echo``) that returns the user's text; over A2A
that is a task whose artifact holds one text part with the text, COMPLETED.  The bench runs it
on a SQLite store in a temporary directory (``FASTAGENTIC_DURABLE_STORE=sqlite:///...``), the
default kind of store.

    FASTAGENTIC_DURABLE_STORE=sqlite:////tmp/bench.db \
        python -m uvicorn --app-dir bench/apps a2a_echo:app
"""

from __future__ import annotations

from fastagentic import App, agent_endpoint

app = App(title="echo", version="1.0.0", description="Echoes the user's text.")


@agent_endpoint("/echo", default=True, a2a_skill="echo")
async def echo(message: str) -> str:
    """Echoes the user's text."""
    return message
