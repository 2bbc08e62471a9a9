"""The authentication seam on MCP: 401 with resource metadata, 403 insufficient_scope, and
the authenticated user reaching the tool (a test verifier stands in for OIDC)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from conftest import running_client
from fastagentic import App, CallContext
from fastagentic.auth.base import InsufficientScope, Unauthenticated
from fastagentic.core.context import UserContext

ACCEPT = "application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}

async def verifier(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token == "good":
        return UserContext(user="alice", tenant="acme", scopes=frozenset({"mcp:use"}))
    if token == "other":
        return UserContext(user="bob", tenant="acme", scopes=frozenset({"mcp:use"}))
    if token == "weak":
        raise InsufficientScope(["mcp:use"])
    raise Unauthenticated("a bearer token is required")

def build(tmp_path: Path) -> App:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    app.require_auth(verifier, authorization_servers=["https://auth.example"],
                     scopes=["mcp:use"])

    @app.tool
    def whoami(ctx: CallContext) -> str:
        """The caller."""
        return f"{ctx.user.user}@{ctx.user.tenant}"

    return app

async def test_mcp_requires_credentials(tmp_path: Path) -> None:
    app = build(tmp_path)
    async with running_client(app) as client:
        anonymous = await client.post("/mcp", json=INIT, headers={"Accept": ACCEPT})
        assert anonymous.status_code == 401
        challenge = anonymous.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert ('resource_metadata="http://test/.well-known/oauth-protected-resource/mcp"'
                in challenge)
        metadata = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
        assert metadata == {"resource": "http://test/mcp",
                            "authorization_servers": ["https://auth.example"],
                            "bearer_methods_supported": ["header"],
                            "scopes_supported": ["mcp:use"]}
        weak = await client.post("/mcp", json=INIT, headers={
            "Accept": ACCEPT, "Authorization": "Bearer weak"})
        assert weak.status_code == 403
        assert 'error="insufficient_scope"' in weak.headers["www-authenticate"]
        assert 'scope="mcp:use"' in weak.headers["www-authenticate"]
        good = {"Accept": ACCEPT, "Authorization": "Bearer good"}
        init = await client.post("/mcp", json=INIT, headers=good)
        assert init.status_code == 200
        session = init.headers["mcp-session-id"]
        call = await client.post("/mcp", headers={**good, "Mcp-Session-Id": session}, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}})
        assert call.json()["result"]["content"][0]["text"] == "alice@acme"
        # A session belongs to its creator: another user's valid token does not open it.
        hijack = await client.post("/mcp", headers={
            "Accept": ACCEPT, "Authorization": "Bearer other", "Mcp-Session-Id": session},
            json={"jsonrpc": "2.0", "id": 4, "method": "ping"})
        assert hijack.status_code == 404
        # A valid session id does not replace credentials.
        stolen = await client.post("/mcp", headers={"Accept": ACCEPT, "Mcp-Session-Id": session},
                                   json={"jsonrpc": "2.0", "id": 3, "method": "ping"})
        assert stolen.status_code == 401
        legacy = await client.get("/sse", headers={"Accept": "text/event-stream"})
        assert legacy.status_code == 401

async def test_no_metadata_without_auth(tmp_path: Path) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_client(app) as client:
        response = await client.get("/.well-known/oauth-protected-resource")
    assert response.status_code == 404
