"""API keys for service accounts: created with ``fastagentic keys create``, accepted as a
bearer token or ``X-API-Key`` on REST, MCP (HTTP and stdio) and A2A, stored hashed, listed
without their secret, refused once revoked or expired."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, running_client, wait_for
from typer.testing import CliRunner

from fastagentic.cli.main import cli

from .apps import governed_app
from .issuer import AUDIENCE, Issuer

MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
ENV_APP = ROOT / "tests" / "auth" / "env_app.py"


async def keys(*args: str, ok: bool = True) -> Any:
    """``fastagentic keys ...`` (in a thread: the CLI runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


async def mcp_whoami(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    init = await client.post("/mcp", headers={**MCP_HEADERS, **headers}, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "keys", "version": "1"}}})
    if init.status_code != 200:
        return init
    session = {**MCP_HEADERS, **headers, "Mcp-Session-Id": init.headers["mcp-session-id"]}
    return await client.post("/mcp", headers=session, json={
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}})


async def a2a_echo(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/a2a", headers={"A2A-Version": "1.0", **headers}, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
            "messageId": "k1", "role": "ROLE_USER", "parts": [{"text": "hi"}],
            "metadata": {"skill": "echo"}}}})


async def test_a_cli_key_works_everywhere_until_revoked(issuer: Issuer, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'keys.db'}"
    made = await keys("create", "--user", "ci-bot", "--tenant", "acme", "--scope",
                      "agents:use", "--role", "auditor", "--name", "ci", "--store", store,
                      "--json")
    created = json.loads(made.stdout)
    key = created["key"]
    assert key.startswith("fak_") and created["id"] in key
    as_bearer, as_header = {"Authorization": f"Bearer {key}"}, {"X-API-Key": key}
    app = governed_app(issuer.url, store)
    async with running_client(app) as client:
        for headers in (as_bearer, as_header):
            whoami = await client.post("/tools/whoami", json={}, headers=headers)
            assert whoami.json()["result"] == {"user": "ci-bot", "tenant": "acme",
                                               "scopes": ["agents:use"], "roles": ["auditor"]}
            assert (await client.post("/tools/purge", json={}, headers=headers)).json() == {
                "result": "purged"}  # the key's role opens the role-gated tool
            mcp = (await mcp_whoami(client, headers)).json()
            assert json.loads(mcp["result"]["content"][0]["text"])["user"] == "ci-bot"
            task = (await a2a_echo(client, headers)).json()["result"]["task"]
            assert task["artifacts"][-1]["parts"] == [{"text": "ci-bot@acme: hi"}]
        # Neither the listing nor the store holds the secret.
        listed = json.loads((await keys("list", "--store", store, "--json")).stdout)
        assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
        secret = key.removeprefix(f"fak_{created['id']}_")  # may itself hold "_"
        assert len(secret) >= 40
        with sqlite3.connect(tmp_path / "keys.db") as db:
            dump = "\n".join(db.iterdump())
        assert created["id"] in dump and secret not in dump
        # A wrong secret for a real id, and a key without the required scope.
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        wrong = await client.post("/tools/whoami", json={}, headers={"X-API-Key": forged})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
        weak, weak_info = await app.api_keys.create("weak-bot", tenant="acme")
        scoped = await client.post("/tools/whoami", json={}, headers={"X-API-Key": weak})
        assert scoped.status_code == 403 and scoped.json()["code"] == "insufficient_scope"
        # Revoked from the CLI (another process could do the same): refused from now on.
        assert "revoked" in (await keys("revoke", created["id"], "--store", store)).stdout
        for headers in (as_bearer, as_header):
            assert (await client.post("/tools/whoami", json={}, headers=headers)
                    ).status_code == 401
            assert (await mcp_whoami(client, headers)).status_code == 401
            assert (await a2a_echo(client, headers)).status_code == 401
        active = json.loads((await keys("list", "--store", store, "--json")).stdout)
        assert [k["id"] for k in active] == [weak_info.id]
        every = json.loads((await keys("list", "--all", "--store", store, "--json")).stdout)
        assert {k["id"]: k["revoked_at"] is not None for k in every} == {
            created["id"]: True, weak_info.id: False}


async def test_an_expiring_key_stops_working(issuer: Issuer) -> None:
    app = governed_app(issuer.url)
    async with running_client(app) as client:
        key, info = await app.api_keys.create("temp-bot", scopes=["agents:use"],
                                              expires_in=0.3)
        assert info.expires_at is not None
        first = await client.post("/tools/whoami", json={}, headers={"X-API-Key": key})
        assert first.status_code == 200

        async def refused() -> bool:
            response = await client.post("/tools/whoami", json={}, headers={"X-API-Key": key})
            return response.status_code == 401

        await wait_for(refused, timeout=5)


async def test_cli_errors_are_clear(tmp_path: Path) -> None:
    missing = await keys("revoke", "0123456789abcdef", "--store",
                         f"sqlite:///{tmp_path / 'k.db'}", ok=False)
    assert missing.exit_code == 2 and "no API key" in missing.output
    memory = await keys("list", "--store", "memory://", ok=False)
    assert memory.exit_code == 2 and "memory://" in memory.output


async def stdio_whoami(env: dict[str, str], store: str) -> tuple[int | None, bytes, bytes]:
    """Initialize and call whoami over ``fastagentic mcp serve``; (exit code, out, err)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastagentic", "mcp", "serve", str(ENV_APP), "--store", store,
        cwd=str(ROOT), env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "stdio", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "whoami", "arguments": {}}}]
    stdin = "".join(json.dumps(line) + "\n" for line in lines).encode()
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    return proc.returncode, out, err


async def test_stdio_takes_a_jwt_or_an_api_key_from_the_environment(issuer: Issuer,
                                                                    tmp_path: Path) -> None:
    """The env-configured app (OIDC from FASTAGENTIC_OIDC_*) on stdio: the credential in
    FASTAGENTIC_MCP_TOKEN goes through the same chain as HTTP bearer tokens."""
    store = f"sqlite:///{tmp_path / 'stdio.db'}"
    created = await keys("create", "--user", "stdio-bot", "--tenant", "ops", "--scope", "x",
                         "--store", store, "--json")
    key = json.loads(created.stdout)["key"]
    base = {**os.environ, "FASTAGENTIC_OIDC_ISSUER": issuer.url,
            "FASTAGENTIC_OIDC_AUDIENCE": AUDIENCE}
    for token, expected in [(issuer.token(), "alice@acme agents:use openid"),
                            (key, "stdio-bot@ops x")]:
        code, out, _ = await stdio_whoami({**base, "FASTAGENTIC_MCP_TOKEN": token}, store)
        answers = {m["id"]: m for m in map(json.loads, out.decode().splitlines())}
        assert answers[2]["result"]["content"][0]["text"] == expected, answers
    for token in (issuer.token(exp=1, iat=0, nbf=0), key + "x", ""):
        code, out, err = await stdio_whoami({**base, "FASTAGENTIC_MCP_TOKEN": token}, store)
        assert code == 2 and out == b"", err
        assert b"FASTAGENTIC_MCP_TOKEN" in err
