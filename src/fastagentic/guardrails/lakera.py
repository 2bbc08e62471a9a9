"""Lakera Guard: prompt attacks, data leaks and content violations screened by Lakera's API.

``add_guardrail(app, LakeraGuard())`` sends the texts of each hook point to Lakera's
``POST /v2/guard`` as chat messages with their roles: a model call's whole prompt (system
prompt, user prompt, earlier answers, tool returns) in one request, so Lakera judges the
last interaction in its context; the arguments of a call as ``user`` messages; a response
or a result as an ``assistant`` message.  When Lakera answers ``flagged: true`` the point is
refused, with the detectors that fired (from the ``breakdown``) in the reason.

Lakera's policy decides what is flagged: pass the ``project_id`` whose policy to apply
(without one, the account's default policy, which Lakera itself calls strict).

Unreachable, slow (``timeout``), refusing the key or answering nonsense, Lakera cannot
decide: by default the point is refused (fail closed: a guard that disappears when its
service is down protects nothing).  ``fail_open=True`` lets it through with a warning.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import httpx

from ..exceptions import ConfigurationError
from .base import ALLOW, Guardrail, Stage, Verdict
from .http import Clients, GuardrailUnavailable, post_json

if TYPE_CHECKING:
    from ..core.lifecycle import HookEvent
    from .texts import Segment

logger = logging.getLogger("fastagentic.guardrails")

#: Where the API key is read from when none is given.
API_KEY_ENV = "LAKERA_GUARD_API_KEY"


class LakeraGuard(Guardrail):
    """A guardrail asking Lakera Guard (its v2 API at ``base_url``)."""

    name = "Lakera Guard"

    def __init__(self, api_key: str | None = None, *, base_url: str = "https://api.lakera.ai",
                 project_id: str | None = None, timeout: float = 5.0,
                 fail_open: bool = False, breakdown: bool = True,
                 client: httpx.AsyncClient | None = None) -> None:
        """* ``api_key``: default ``LAKERA_GUARD_API_KEY``.
        * ``base_url``: Lakera's API (a regional or self-hosted one); ``/v2/guard`` is added.
        * ``project_id``: the project whose policy screens the texts.
        * ``timeout``: seconds to wait for an answer.
        * ``fail_open``: when Lakera cannot answer, let the text through (default: refuse).
        * ``breakdown``: ask which detectors fired (named in the reason of a refusal).
        * ``client``: an ``httpx.AsyncClient`` of your own (proxies, certificates)."""
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not key:
            raise ConfigurationError(
                f"LakeraGuard needs an API key: pass api_key= or set {API_KEY_ENV}")
        self.url = base_url.rstrip("/") + "/v2/guard"
        self.project_id = project_id
        self.fail_open = fail_open
        self.breakdown = breakdown
        self._headers = {"Authorization": f"Bearer {key}"}
        self._clients = Clients(timeout, client)

    def request(self, stage: Stage, texts: list[Segment]) -> dict[str, Any]:
        """The body of the ``/v2/guard`` request for ``texts``."""
        body: dict[str, Any] = {
            "messages": [{"role": t.role, "content": t.text} for t in texts if t.text.strip()]}
        if self.project_id:
            body["project_id"] = self.project_id
        if self.breakdown:
            body["breakdown"] = True
        return body

    async def screen(self, stage: Stage, texts: list[Segment], event: HookEvent
                     ) -> list[Verdict | None]:
        body = self.request(stage, texts)
        if not body["messages"]:
            return [ALLOW] * len(texts)
        answer = await post_json(self._clients, self.url, body, self._headers, self.name)
        flagged = answer.get("flagged") if isinstance(answer, dict) else None
        if not isinstance(flagged, bool):
            raise GuardrailUnavailable(f"{self.name} answered without a 'flagged' decision")
        if not flagged:
            return [ALLOW] * len(texts)
        detectors = sorted({str(d.get("detector_type")) for d in answer.get("breakdown") or ()
                            if isinstance(d, dict) and d.get("detected")
                            and d.get("detector_type")})
        reason = f"{self.name} flagged the {stage}"
        if detectors:
            reason += f" ({', '.join(detectors)})"
        request_id = (answer.get("metadata") or {}).get("request_uuid") \
            if isinstance(answer.get("metadata"), dict) else None
        logger.info("Lakera Guard flagged the %s of %s (%s)%s", stage, event.target, event.hook,
                    f", request {request_id}" if request_id else "")
        return [Verdict.block(reason)]

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop."""
        await self._clients.aclose()


__all__ = ["API_KEY_ENV", "LakeraGuard"]
