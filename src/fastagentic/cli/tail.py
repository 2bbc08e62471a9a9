"""``fastagentic tail RUN_ID``: follow a run's events live, readably."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import httpx
from httpx_sse import connect_sse
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

STYLES = {
    "run_started": "bold cyan", "status": "cyan", "node_start": "magenta",
    "node_end": "magenta", "tool_call": "yellow", "tool_result": "green",
    "checkpoint": "blue", "cost": "bright_black", "input_required": "bold yellow",
    "error": "bold red", "done": "bold",
}


def describe(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind == "run_started":
        return f"run started on {event.get('endpoint')} with {json.dumps(event.get('input'))}"
    if kind == "status":
        extra = " (resumed)" if event.get("resumed") else ""
        return f"status {event.get('status')}, attempt {event.get('attempt')}{extra}"
    if kind == "tool_call":
        return f"→ {event.get('tool')}({json.dumps(event.get('args'))})"
    if kind == "tool_result":
        return f"← {event.get('tool')} = {json.dumps(event.get('output'))}"
    if kind in ("node_start", "node_end"):
        return f"{kind.replace('_', ' ')} {event.get('node')}"
    if kind == "checkpoint":
        return f"checkpoint {event.get('checkpoint_id')}"
    if kind == "cost":
        return f"cost tokens={event.get('tokens')} amount={event.get('amount')}"
    if kind == "input_required":
        return f"waiting for input: {event.get('prompt')}  (POST /runs/<id>/resume)"
    if kind == "error":
        return f"error {event.get('code')}: {event.get('message')}"
    if kind == "done":
        return f"done: {event.get('status')}  output={json.dumps(event.get('output'))}"
    return json.dumps(event)


def tail(run_id: str, url: str, after: int, raw: bool, console: Console) -> int:
    """Follow until ``done``; reconnects with ``Last-Event-ID``.  Exit code 0 on completed."""
    last = after
    count = 0
    final: str | None = None
    in_text = False
    spinner = Spinner("dots", text=Text("connecting…"))
    with httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(10.0, read=60.0)) as http:
        live_view = (Live(spinner, console=console, transient=True, refresh_per_second=10)
                     if console.is_terminal and not raw else contextlib.nullcontext())
        with live_view:
            attempts = 0
            while final is None:
                try:
                    headers = {"Last-Event-ID": str(last)} if last else {}
                    with connect_sse(http, "GET", f"/runs/{run_id}/events",
                                     headers=headers) as source:
                        if source.response.status_code == 404:
                            console.print(f"[red]unknown run {run_id}[/red]")
                            return 2
                        source.response.raise_for_status()
                        attempts = 0
                        for sse in source.iter_sse():
                            if not sse.data:
                                continue
                            event = json.loads(sse.data)
                            last = event["seq"]
                            count += 1
                            spinner.update(text=Text(f"{event['type']} · {count} events · "
                                                     f"seq {last}"))
                            if raw:
                                console.print_json(sse.data) if console.is_terminal else \
                                    print(sse.data, flush=True)
                            elif event["type"] == "token":
                                console.print(event.get("content", ""), end="",
                                                   highlight=False, markup=False)
                                in_text = True
                            else:
                                if in_text:
                                    console.print()
                                    in_text = False
                                console.print(Text(f"[{last:>5}] ", style="dim")
                                                   + Text(describe(event),
                                                          style=STYLES.get(event["type"], "")))
                            if event["type"] == "done":
                                final = event.get("status")
                                break
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    attempts += 1
                    if attempts > 30:
                        console.print(f"[red]giving up: {exc}[/red]")
                        return 3
                    spinner.update(text=Text(f"reconnecting ({exc.__class__.__name__})…"))
                    time.sleep(min(0.2 * attempts, 2.0))
    if in_text:
        console.print()
    return 0 if final == "completed" else 1
