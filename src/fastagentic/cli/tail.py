"""``fastagentic tail RUN_ID``: follow a run's events live, readably."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from httpx_sse import connect_sse
from rich.console import Console, Group
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


class _View:
    """Committed lines above; the text being streamed and a spinner in the live region."""

    def __init__(self, console: Console, raw: bool) -> None:
        self.console = console
        self.raw = raw
        self.partial = ""
        self.status = Text("connecting…")
        self.spinner = Spinner("dots", text=self.status)
        self.live = (Live(Group(Text(""), self.spinner), console=console, transient=True,
                          refresh_per_second=12)
                     if console.is_terminal and not raw else None)

    def __enter__(self) -> _View:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
        self.flush_text()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(Group(Text(self.partial), self.spinner))

    def set_status(self, message: str) -> None:
        self.spinner.update(text=Text(message, style="dim"))
        self._refresh()

    def text(self, content: str) -> None:
        if self.live is None:
            self.console.print(content, end="", highlight=False, markup=False)
            self.partial += content
            return
        self.partial += content
        if "\n" in self.partial:
            done, _, self.partial = self.partial.rpartition("\n")
            self.console.print(done, highlight=False, markup=False)
        self._refresh()

    def flush_text(self) -> None:
        if self.partial:
            if self.live is None:
                self.console.print()
            else:
                self.console.print(self.partial, highlight=False, markup=False)
            self.partial = ""
            self._refresh()

    def line(self, seq: int, event: dict[str, Any], note: str = "") -> None:
        self.flush_text()
        self.console.print(Text(f"[{seq:>5}] ", style="dim")
                           + Text(describe(event), style=STYLES.get(event["type"], ""))
                           + Text(note, style="bold"))


class Spend:
    """A run's cost so far, from its ``cost`` events."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}
        self.amount: dict[str, float] = {}

    def add(self, event: dict[str, Any]) -> str:
        for key, value in (event.get("tokens") or {}).items():
            if isinstance(value, int | float):
                self.tokens[key] = self.tokens.get(key, 0) + int(value)
        for key, value in (event.get("amount") or {}).items():
            if isinstance(value, int | float):
                self.amount[key] = self.amount.get(key, 0.0) + value
        tokens = sum(self.tokens.values())
        money = ", ".join(f"{value:.6f} {currency}" for currency, value in self.amount.items())
        return f"  (run so far: {tokens} tokens{', ' + money if money else ''})"


def tail(run_id: str, url: str, after: int, raw: bool, console: Console) -> int:
    """Follow until ``done``; reconnects with ``Last-Event-ID``.  Exit code 0 on completed."""
    last = after
    count = 0
    final: str | None = None
    spend = Spend()
    with httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(10.0, read=60.0)) as http, \
            _View(console, raw) as view:
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
                        view.set_status(f"{event['type']} · {count} events · seq {last}")
                        if raw:
                            print(sse.data, flush=True)
                        elif event["type"] == "token":
                            view.text(event.get("content", ""))
                        elif event["type"] == "cost":
                            view.line(last, event, spend.add(event))
                        else:
                            view.line(last, event)
                        if event["type"] == "done":
                            final = event.get("status")
                            break
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                attempts += 1
                if attempts > 30:
                    console.print(f"[red]giving up: {exc}[/red]")
                    return 3
                view.set_status(f"reconnecting ({exc.__class__.__name__})…")
                time.sleep(min(0.2 * attempts, 2.0))
    return 0 if final == "completed" else 1
