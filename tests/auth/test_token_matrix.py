"""Every token case on every transport, against a real issuer and a real server: valid tokens
(RSA, EC, signed with a key the issuer rotated in after the server cached its keys) are
accepted and reach the code as the right user; expired, not-yet-valid, wrong-audience,
wrong-issuer, badly signed, ``alg: none``, HS256-with-the-public-key, unknown-kid and garbage
tokens get 401, a token without the required scope 403 ``insufficient_scope``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from conftest import parse_sse
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .issuer import Issuer, bad_tokens

ACCEPTED = ("valid", "valid_ec", "rotated")
REFUSED = ("expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "bad_signature",
           "alg_none", "hs256_public_key", "unknown_kid", "garbage")
CASES = (*ACCEPTED, *REFUSED, "missing_scope")
ALICE = "alice@acme: hi"


@dataclass
class Outcome:
    status: int
    challenge: str | None = None


def token_for(issuer: Issuer, case: str) -> str:
    if case == "valid":
        return issuer.token()
    if case == "valid_ec":
        return issuer.token("ec-1")
    if case == "rotated":  # a kid the server has not seen: it must refresh the JWKS once
        return issuer.token(issuer.rotate())
    if case == "missing_scope":
        return issuer.token(scope="openid")
    return bad_tokens(issuer)[case]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def rest_tool(base: str, token: str) -> Outcome:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/tools/whoami", json={}, headers=auth(token))
    if response.status_code == 200:
        assert response.json()["result"] == {"user": "alice", "tenant": "acme",
                                             "scopes": ["agents:use", "openid"], "roles": []}
    return Outcome(response.status_code, response.headers.get("www-authenticate"))


async def rest_run(base: str, token: str) -> Outcome:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/echo", json={"message": "hi"}, headers=auth(token))
    if response.status_code == 200:
        assert response.json()["status"] == "completed"
        assert response.json()["output"] == ALICE
    return Outcome(response.status_code, response.headers.get("www-authenticate"))


async def sse(base: str, token: str) -> Outcome:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/echo/stream", json={"message": "hi"},
                                     headers={**auth(token), "Accept": "text/event-stream"})
    if response.status_code == 200:
        frames = parse_sse(response.text)
        assert frames[-1]["event"] == "done" and frames[-1]["data"]["output"] == ALICE
    return Outcome(response.status_code, response.headers.get("www-authenticate"))


async def websocket(base: str, token: str) -> Outcome:
    url = base.replace("http", "ws", 1) + "/echo/ws"
    try:
        async with connect(url, additional_headers=auth(token), open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "start", "input": {"message": "hi"}}))
            ack = json.loads(await ws.recv())
            assert ack["ok"] is True, ack
            while (frame := json.loads(await ws.recv()))["type"] != "done":
                pass
            assert frame["output"] == ALICE
    except InvalidStatus as exc:
        return Outcome(exc.response.status_code,
                       exc.response.headers.get("www-authenticate"))
    return Outcome(200)


async def mcp(base: str, token: str) -> Outcome:
    """Valid tokens through the official client; refusals are HTTP answers to initialize."""
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/mcp", headers={
            **auth(token), "Accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "matrix", "version": "1"}}})
    if response.status_code != 200:
        assert "error" in response.json()
        return Outcome(response.status_code, response.headers.get("www-authenticate"))
    async with httpx2.AsyncClient(headers=auth(token), timeout=10) as http, \
            streamable_http_client(base + "/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        tool = await session.call_tool("whoami", {})
        assert json.loads(tool.content[0].text)["user"] == "alice", tool
        agent = await session.call_tool("echo", {"message": "hi"})
        assert agent.is_error is False and ALICE in agent.content[-1].text, agent
    return Outcome(200)


async def a2a(base: str, token: str) -> Outcome:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/a2a", headers={**auth(token), "A2A-Version": "1.0"},
                                     json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                                           "params": {"message": {
                                               "messageId": "m1", "role": "ROLE_USER",
                                               "parts": [{"text": "hi"}],
                                               "metadata": {"skill": "echo"}}}})
    body: dict[str, Any] = response.json()
    if response.status_code == 200:
        task = body["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED", body
        assert task["artifacts"][-1]["parts"] == [{"text": ALICE}]
    else:
        assert body["error"]["code"] == (-32010 if response.status_code == 401 else -32011)
    return Outcome(response.status_code, response.headers.get("www-authenticate"))


TRANSPORTS = {"rest_tool": rest_tool, "rest_run": rest_run, "sse": sse, "websocket": websocket,
              "mcp": mcp, "a2a": a2a}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_token_matrix(issuer: Issuer, served: Any, transport: str, case: str) -> None:
    outcome = await TRANSPORTS[transport](served.url, token_for(issuer, case))
    if case in ACCEPTED:
        assert outcome.status == 200, outcome
        return
    assert outcome.challenge is not None and outcome.challenge.startswith("Bearer "), outcome
    assert "resource_metadata=" in outcome.challenge
    if case == "missing_scope":
        assert outcome.status == 403, outcome
        assert 'error="insufficient_scope"' in outcome.challenge
        assert 'scope="agents:use"' in outcome.challenge
    else:
        assert outcome.status == 401, outcome
        assert 'error="invalid_token"' in outcome.challenge


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_no_credentials_is_401_without_an_error_code(served: Any, transport: str) -> None:
    """RFC 6750: a request without credentials gets the bare challenge."""
    outcome = await TRANSPORTS[transport](served.url, "")
    assert outcome.status == 401, outcome
    assert outcome.challenge is not None and "error=" not in outcome.challenge
