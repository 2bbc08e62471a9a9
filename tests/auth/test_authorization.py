"""Per-definition scopes and roles, enforced identically on REST, SSE, WebSocket, MCP, A2A and
inside runs; listings show each caller what it may use; public definitions and paths need no
credentials; ``current_user()`` everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from conftest import LiveServer, parse_sse, running_client
from websockets.asyncio.client import connect

from .apps import governed_app
from .issuer import Issuer

MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
WRITER = "openid agents:use reports:write"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def mcp_session(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    init = await client.post("/mcp", headers={**MCP_HEADERS, **bearer(token)}, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "authz", "version": "1"}}})
    assert init.status_code == 200, init.text
    return {**MCP_HEADERS, **bearer(token), "Mcp-Session-Id": init.headers["mcp-session-id"]}


async def mcp_call(client: httpx.AsyncClient, session: dict[str, str], method: str,
                   **params: Any) -> dict[str, Any]:
    response = await client.post("/mcp", headers=session, json={
        "jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return response.json()


async def a2a_send(client: httpx.AsyncClient, token: str, skill: str, text: str
                   ) -> httpx.Response:
    return await client.post("/a2a", headers={"A2A-Version": "1.0", **bearer(token)}, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
            "messageId": f"m-{text}", "role": "ROLE_USER", "parts": [{"text": text}],
            "metadata": {"skill": skill}}}})


async def test_scoped_definitions_on_rest_sse_mcp_and_a2a(issuer: Issuer) -> None:
    reader, writer = issuer.token(), issuer.token(scope=WRITER)
    async with running_client(governed_app(issuer.url)) as client:
        # REST tool and agent, SSE stream, tool-as-run: 403 insufficient_scope naming the scope.
        refusals = [
            await client.post("/tools/write_report", json={"title": "q3"}, headers=bearer(reader)),
            await client.post("/report", json={"topic": "q3"}, headers=bearer(reader)),
            await client.post("/report/stream", json={"topic": "q3"}, headers=bearer(reader)),
            await client.post("/tools/write_report", json={"title": "q3"},
                              headers={**bearer(reader), "Prefer": "respond-async"}),
        ]
        for refused in refusals:
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "insufficient_scope"
            assert refused.json()["details"] == ["reports:write"]
            challenge = refused.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in challenge
            assert 'scope="reports:write"' in challenge
        written = await client.post("/tools/write_report", json={"title": "q3"},
                                    headers=bearer(writer))
        assert written.json() == {"result": "written: q3"}
        agent = await client.post("/report", json={"topic": "q3"}, headers=bearer(writer))
        assert agent.json()["output"] == "report on q3 by alice"
        stream = await client.post("/report/stream", json={"topic": "q3"},
                                   headers=bearer(writer))
        assert parse_sse(stream.text)[-1]["data"]["output"] == "report on q3 by alice"
        queued = await client.post("/tools/write_report", json={"title": "q4"},
                                   headers={**bearer(writer), "Prefer": "respond-async"})
        assert queued.status_code == 202
        # MCP: the same refusal as a JSON-RPC error with the scopes to step up to.
        session = await mcp_session(client, reader)
        for name, arguments in (("write_report", {"title": "q3"}), ("report", {"topic": "q3"})):
            error = (await mcp_call(client, session, "tools/call", name=name,
                                    arguments=arguments))["error"]
            assert error["data"] == {"code": "insufficient_scope",
                                     "scopes": ["reports:write"]}, error
        listed = (await mcp_call(client, session, "tools/list"))["result"]["tools"]
        assert {t["name"] for t in listed} >= {"whoami", "echo", "ping"}
        assert {t["name"] for t in listed}.isdisjoint({"write_report", "report", "purge"})
        writer_session = await mcp_session(client, writer)
        done = (await mcp_call(client, writer_session, "tools/call", name="write_report",
                               arguments={"title": "q3"}))["result"]
        assert done["content"][0]["text"] == "written: q3"
        writer_tools = (await mcp_call(client, writer_session, "tools/list"))["result"]["tools"]
        assert {"write_report", "report"} <= {t["name"] for t in writer_tools}
        # A2A: 403 PERMISSION_DENIED; the extended card lists only usable skills.
        denied = await a2a_send(client, reader, "report", "q3")
        assert denied.status_code == 403 and denied.json()["error"]["code"] == -32011
        allowed = await a2a_send(client, writer, "report", "q3")
        assert allowed.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        cards = {}
        for who, token in (("reader", reader), ("writer", writer)):
            card = await client.post("/a2a", headers={"A2A-Version": "1.0", **bearer(token)},
                                     json={"jsonrpc": "2.0", "id": 1,
                                           "method": "GetExtendedAgentCard"})
            cards[who] = {s["id"] for s in card.json()["result"]["skills"]}
        assert "report" in cards["writer"] and "report" not in cards["reader"]
        # REST listings likewise.
        tools = (await client.get("/tools", headers=bearer(reader))).json()["tools"]
        assert "write_report" not in {t["name"] for t in tools}
        agents = (await client.get("/agents", headers=bearer(writer))).json()["agents"]
        assert "report" in {a["name"] for a in agents}


async def test_resources_and_prompts_on_rest_and_mcp(issuer: Issuer) -> None:
    plain, entitled = issuer.token(), issuer.token(scope=WRITER, roles=["auditor"])
    async with running_client(governed_app(issuer.url)) as client:
        denied_resource = await client.get("/resources/plan/q3", headers=bearer(plain))
        assert denied_resource.status_code == 403
        assert denied_resource.json()["code"] == "insufficient_scope"
        denied_prompt = await client.post("/prompts/audit_brief", json={"topic": "x"},
                                          headers=bearer(plain))
        assert denied_prompt.status_code == 403 and denied_prompt.json()["code"] == "forbidden"
        resource = await client.get("/resources/plan/q3", headers=bearer(entitled))
        assert resource.text == "plan for q3"
        prompt = await client.post("/prompts/audit_brief", json={"topic": "x"},
                                   headers=bearer(entitled))
        assert prompt.json()["messages"][0]["content"]["text"] == "Audit x"
        for token, allowed in ((plain, False), (entitled, True)):
            session = await mcp_session(client, token)
            read = await mcp_call(client, session, "resources/read", uri="plans://q3")
            got = await mcp_call(client, session, "prompts/get", name="audit_brief",
                                 arguments={"topic": "x"})
            templates = await mcp_call(client, session, "resources/templates/list")
            prompts = await mcp_call(client, session, "prompts/list")
            listed = {t["uriTemplate"] for t in templates["result"]["resourceTemplates"]} | {
                p["name"] for p in prompts["result"]["prompts"]}
            if allowed:
                assert read["result"]["contents"][0]["text"] == "plan for q3"
                assert got["result"]["messages"][0]["content"]["text"] == "Audit x"
                assert {"plans://{quarter}", "audit_brief"} <= listed
            else:
                assert read["error"]["data"]["code"] == "insufficient_scope", read
                assert got["error"]["data"]["code"] == "forbidden", got
                assert listed.isdisjoint({"plans://{quarter}", "audit_brief"})


async def test_roles_from_claims_and_from_scopes(issuer: Issuer) -> None:
    async with running_client(governed_app(issuer.url)) as client:
        plain = await client.post("/tools/purge", json={}, headers=bearer(issuer.token()))
        assert plain.status_code == 403 and plain.json()["code"] == "forbidden"
        assert plain.json()["details"] == {"roles": ["admin", "auditor"]}
        auditor = issuer.token(roles=["auditor"])
        mapped = issuer.token(scope="agents:use reports:admin")  # scope_roles: admin
        for token in (auditor, mapped):
            done = await client.post("/tools/purge", json={}, headers=bearer(token))
            assert done.json() == {"result": "purged"}
        whoami = await client.post("/tools/whoami", json={}, headers=bearer(mapped))
        assert whoami.json()["result"]["roles"] == ["admin"]


async def test_a_run_calls_tools_with_its_starters_scopes(issuer: Issuer) -> None:
    reader, writer = issuer.token(), issuer.token(scope=WRITER)
    async with running_client(governed_app(issuer.url)) as client:
        ok = await client.post("/relay", json={"title": "q3"}, headers=bearer(writer))
        assert ok.json()["output"] == "written: q3"
        failed = await client.post("/relay", json={"title": "q3"}, headers=bearer(reader))
        assert failed.json()["status"] == "failed"
        assert failed.json()["error"]["code"] == "insufficient_scope"


async def test_a_resumed_run_keeps_its_starters_scopes_in_a_new_process(
        issuer: Issuer, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    writer = issuer.token(scope=WRITER)
    async with running_client(governed_app(issuer.url, store)) as client:
        started = await client.post("/hold", json={"message": "m"}, headers=bearer(writer))
        run_id = started.json()["run_id"]
        assert started.json()["status"] == "input_required"
    # Another App (a restarted server) on the same store answers it.
    async with running_client(governed_app(issuer.url, store)) as client:
        resumed = await client.post(f"/runs/{run_id}/resume", json="go",
                                    headers={**bearer(writer), "Accept": "text/event-stream"})
        output = parse_sse(resumed.text)[-1]["data"]["output"]
    for seen in (output["run_as"], output["tool_saw"]):
        assert seen == {"user": "alice", "tenant": "acme",
                        "scopes": ["agents:use", "openid", "reports:write"], "roles": []}


async def test_current_user_in_routes_tools_and_sync_code(issuer: Issuer) -> None:
    token = issuer.token(roles=["auditor"])
    async with running_client(governed_app(issuer.url)) as client:
        me = await client.get("/me", headers=bearer(token))
        current = await client.post("/tools/current", json={}, headers=bearer(token))
        anonymous_ping = await client.post("/tools/ping", json={})
    expected = {"user": "alice", "tenant": "acme", "scopes": ["agents:use", "openid"],
                "roles": ["auditor"]}
    assert me.json() == expected
    assert current.json()["result"] == expected
    assert anonymous_ping.json()["result"]["user"] == "anonymous"


async def test_public_paths_and_public_definitions(issuer: Issuer) -> None:
    app = governed_app(issuer.url, public_paths=["/status", "/pages/*"])

    @app.get("/status")
    async def status() -> dict[str, str]:
        return {"status": "fine"}

    @app.get("/pages/{name}")
    async def page(name: str) -> dict[str, str]:
        return {"page": name}

    @app.get("/private")
    async def private() -> dict[str, str]:
        return {"secret": "yes"}

    async with running_client(app) as client:
        for path in ("/health", "/health/live", "/health/ready", "/openapi.json", "/docs",
                     "/redoc", "/.well-known/agent-card.json", "/.well-known/agent.json",
                     "/.well-known/oauth-protected-resource",
                     "/.well-known/oauth-protected-resource/mcp", "/status", "/pages/intro"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
        for method, path in (("GET", "/private"), ("GET", "/tools"), ("GET", "/runs"),
                             ("POST", "/tools/whoami"), ("GET", "/mcp/schema"),
                             ("GET", "/pages"), ("GET", "/statusx")):
            refused = await client.request(method, path)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.json()["code"] == "unauthenticated"
        # public=True: callable anonymously; a caller who sends a token is still identified,
        # and a bad token is still refused.
        anonymous = await client.post("/tools/ping", json={})
        assert anonymous.json()["result"]["user"] == "anonymous"
        known = await client.post("/tools/ping", json={}, headers=bearer(issuer.token()))
        assert known.json()["result"]["user"] == "alice"
        bad = await client.post("/tools/ping", json={}, headers=bearer("garbage"))
        assert bad.status_code == 401
        metadata = (await client.get("/.well-known/oauth-protected-resource")).json()
        assert metadata == {"resource": "http://test", "authorization_servers": [issuer.url],
                            "bearer_methods_supported": ["header"],
                            "scopes_supported": ["agents:use"]}
        card = (await client.get("/.well-known/agent-card.json")).json()
        discovery = issuer.url + "/.well-known/openid-configuration"
        assert card["securitySchemes"]["oidc"]["openIdConnectSecurityScheme"] == {
            "openIdConnectUrl": discovery}
        legacy = (await client.get("/.well-known/agent.json")).json()
        assert legacy["securitySchemes"]["oidc"] == {"type": "openIdConnect",
                                                     "openIdConnectUrl": discovery}
        assert {"schemes": {"oidc": {"list": ["agents:use"]}}} in card["securityRequirements"]


async def test_cors_preflights_reach_the_cors_middleware(issuer: Issuer) -> None:
    from fastapi.middleware.cors import CORSMiddleware

    app = governed_app(issuer.url)
    app.add_middleware(CORSMiddleware, allow_origins=["https://app.example"],
                       allow_methods=["POST"], allow_headers=["authorization"])
    async with running_client(app) as client:
        preflight = await client.options("/tools/whoami", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        plain_options = await client.options("/tools/whoami")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert plain_options.status_code == 401


async def test_refusals_are_audited(issuer: Issuer, tmp_path: Path) -> None:
    from fastagentic.audit import Filter, entries

    app = governed_app(issuer.url, f"sqlite:///{tmp_path / 'audit.db'}")
    app.settings.audit = True
    async with running_client(app) as client:
        await client.post("/tools/whoami", json={}, headers=bearer("garbage"))
        await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          headers={**MCP_HEADERS, **bearer(issuer.token(scope="openid"))})
        await client.post("/a2a", json={"jsonrpc": "2.0", "id": 1, "method": "ListTasks"},
                          headers={"A2A-Version": "1.0"})
        await client.post("/tools/purge", json={}, headers=bearer(issuer.token()))
        found = [e async for e in entries(app.store, Filter(actions=["auth.fail"]))]
    assert [(e["decision"], e["context"].get("transport"), e["context"]["code"])
            for e in found] == [("deny", "rest", "unauthenticated"),
                                ("deny", "mcp", "insufficient_scope"),
                                ("deny", "a2a", "unauthenticated"),
                                ("deny", "rest", "forbidden")]
    assert found[-1]["actor"]["user"] == "alice" and found[-1]["context"]["name"] == "purge"
    assert "garbage" not in str(found)


async def test_websocket_runs_obey_scopes(issuer: Issuer) -> None:
    with LiveServer(governed_app(issuer.url)) as server:
        url = server.url.replace("http", "ws", 1) + "/report/ws"
        for token, ok in ((issuer.token(), False), (issuer.token(scope=WRITER), True)):
            async with connect(url, additional_headers=bearer(token)) as ws:
                await ws.send(json.dumps({"type": "start", "input": {"topic": "q3"}}))
                ack = json.loads(await ws.recv())
                assert ack["ok"] is ok, ack
                if not ok:
                    assert ack["error"]["status"] == 403
                    assert ack["error"]["code"] == "insufficient_scope"
                    continue
                while (frame := json.loads(await ws.recv()))["type"] != "done":
                    pass
                assert frame["output"] == "report on q3 by alice"
