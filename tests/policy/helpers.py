"""Helpers of the rate limit and quota tests: Redis on 127.0.0.1:6379 (skipped when it is not
running, failed when ``FASTAGENTIC_REQUIRE_SERVICES=1``), an authenticator whose bearer
tokens name the caller (``alice@t1``) and raw MCP calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from conftest import REDIS_HOST, REDIS_PORT, require_service

from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext


def redis_url(db: int = 0) -> str:
    """The test Redis, or a skip (a failure when services are required)."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


async def token_user(token: str | None, headers: Mapping[str, str]) -> UserContext:
    """``Bearer alice@t1`` is user alice of tenant t1 (``Bearer alice``: no tenant)."""
    if not token:
        raise Unauthenticated("a bearer token naming the user is required")
    user, _, tenant = token.partition("@")
    return UserContext(user=user, tenant=tenant or None)


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}"}


MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}


class RawMcp:
    """Raw MCP over an httpx client: one initialized session per caller (``who`` names the
    bearer token, None for none)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.sessions: dict[str | None, dict[str, str]] = {}

    async def _session(self, who: str | None) -> dict[str, str]:
        headers = self.sessions.get(who)
        if headers is None:
            base = {**MCP_HEADERS, **(bearer(who) if who else {})}
            init = await self.client.post("/mcp", headers=base, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"}}})
            assert init.status_code == 200, init.text
            headers = {**base, "Mcp-Session-Id": init.headers["mcp-session-id"]}
            await self.client.post("/mcp", headers=headers, json={
                "jsonrpc": "2.0", "method": "notifications/initialized"})
            self.sessions[who] = headers
        return headers

    async def call(self, tool: str, arguments: dict[str, Any], who: str | None = None
                   ) -> tuple[int, dict[str, Any]]:
        """``tools/call``: the HTTP status and the JSON-RPC response."""
        response = await self.client.post("/mcp", headers=await self._session(who), json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}})
        body = response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            body = [line[5:] for line in body.splitlines()
                    if line.startswith("data:") and '"id":2' in line.replace(" ", "")][-1]
        return response.status_code, json.loads(body)
