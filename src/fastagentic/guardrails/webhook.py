"""A guardrail that asks a service of your own over HTTP.

``add_guardrail(app, WebhookGuardrail("https://guard.internal/check"))`` POSTs each text as

.. code-block:: json

    {"stage": "input", "hook": "on_llm_start", "text": "...", "target": "chat",
     "transport": "run", "user": "alice", "tenant": null, "run_id": "..."}

and reads ``{"action": "allow" | "block" | "rewrite", "reason": "...", "text": "..."}``:
``block`` refuses with ``reason``, ``rewrite`` replaces the text with ``text``.

The service is asked about each text on its own (``Guardrail.check_input``/``check_output``),
once per run and stage.  An answer that is not HTTP 200 with a valid action, or no answer in
``timeout`` seconds, refuses the point unless ``fail_open=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .base import Guardrail, Verdict
from .http import Clients, GuardrailUnavailable, post_json

if TYPE_CHECKING:
    from ..core.lifecycle import HookEvent


class WebhookGuardrail(Guardrail):
    """A guardrail whose verdicts come from ``url``."""

    name = "webhook"

    def __init__(self, url: str, *, headers: dict[str, str] | None = None,
                 timeout: float = 5.0, fail_open: bool = False, name: str | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        """``headers`` go with every request (a token); ``name`` names the guardrail in
        refusals and logs; ``client``: an ``httpx.AsyncClient`` of your own."""
        self.url = url
        self.headers = dict(headers or {})
        self.fail_open = fail_open
        if name:
            self.name = name
        self._clients = Clients(timeout, client)

    async def check_input(self, text: str, event: HookEvent) -> Verdict:
        return await self._ask("input", text, event)

    async def check_output(self, text: str, event: HookEvent) -> Verdict:
        return await self._ask("output", text, event)

    def request(self, stage: str, text: str, event: HookEvent) -> dict[str, Any]:
        """The body POSTed for ``text``."""
        user = event.user
        return {"stage": stage, "hook": event.hook, "text": text, "target": event.target,
                "transport": event.transport,
                "user": user.user if user is not None else None,
                "tenant": user.tenant if user is not None else None,
                "run_id": event.run_id}

    async def _ask(self, stage: str, text: str, event: HookEvent) -> Verdict:
        answer = await post_json(self._clients, self.url, self.request(stage, text, event),
                                 self.headers, f"the {self.label} guardrail")
        action = answer.get("action") if isinstance(answer, dict) else None
        if action == "allow":
            return Verdict.allow()
        if action == "block":
            reason = answer.get("reason")
            return Verdict.block(reason if isinstance(reason, str) and reason else
                                 f"refused by the {self.label} guardrail")
        if action == "rewrite" and isinstance(answer.get("text"), str):
            reason = answer.get("reason")
            return Verdict.rewrite(answer["text"], reason if isinstance(reason, str) else None)
        raise GuardrailUnavailable(
            f"the {self.label} guardrail answered {answer!r:.200}: expected an action allow, "
            "block or rewrite (with a text)")

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop."""
        await self._clients.aclose()


__all__ = ["WebhookGuardrail"]
