"""What the guardrails that ask a service over HTTP share: a client, a timeout, and one error
for "the service gave no usable answer"."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import httpx


class GuardrailUnavailable(Exception):
    """The guardrail's service could not be reached, or gave no usable answer."""


class Clients:
    """An ``httpx.AsyncClient`` per event loop (a client's connections belong to the loop
    that opened them; an App may be served on more than one loop in a process's life).
    A client given by the user is used as it is, on its own loop."""

    def __init__(self, timeout: float, client: httpx.AsyncClient | None = None) -> None:
        self.timeout = timeout
        self._given = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                 httpx.AsyncClient] = \
            weakref.WeakKeyDictionary()

    def get(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = self._clients[loop] = httpx.AsyncClient(timeout=self.timeout)
        return client

    async def aclose(self) -> None:
        """Close the client of the running loop (a given client is the user's to close)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


async def post_json(clients: Clients, url: str, body: dict[str, Any],
                    headers: dict[str, str], service: str) -> Any:
    """POST ``body`` and return the JSON answer; anything else is
    :class:`GuardrailUnavailable` (naming ``service``)."""
    try:
        response = await clients.get().post(url, json=body, headers=headers,
                                            timeout=clients.timeout)
    except httpx.HTTPError as exc:
        raise GuardrailUnavailable(f"{service} did not answer: {type(exc).__name__}"
                                   f"{': ' + str(exc) if str(exc) else ''}") from exc
    if response.status_code != 200:
        hint = " (check the API key)" if response.status_code in (401, 403) else ""
        raise GuardrailUnavailable(f"{service} answered HTTP {response.status_code}{hint}: "
                                   f"{response.text[:200]}")
    try:
        return response.json()
    except ValueError as exc:
        raise GuardrailUnavailable(f"{service} answered with something that is not JSON"
                                   ) from exc


__all__ = ["Clients", "GuardrailUnavailable", "post_json"]
