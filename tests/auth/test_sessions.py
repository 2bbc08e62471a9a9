"""Cookie sessions for browsers: ``POST /auth/session`` with a bearer token sets an HttpOnly,
SameSite cookie; requests then authenticate by it, state-changing ones only from this site
(Origin check); a WebSocket from a browser authenticates by it too; ``DELETE`` clears it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import LiveServer, running_client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fastagentic.auth import enable_sessions

from .apps import governed_app
from .issuer import Issuer

SITE = "http://test"


async def test_a_session_cookie_stands_in_for_the_token(issuer: Issuer) -> None:
    app = governed_app(issuer.url)
    enable_sessions(app, allowed_origins=["https://app.example"])
    async with running_client(app) as client:
        token = issuer.token()
        # A session is opened with a bearer credential only, never with a cookie.
        assert (await client.post("/auth/session")).status_code == 401
        opened = await client.post("/auth/session",
                                   headers={"Authorization": f"Bearer {token}"})
        assert opened.status_code == 200
        assert opened.json()["user"] == "alice" and opened.json()["tenant"] == "acme"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(f"fastagentic_session={token};")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert 500 < int(cookie.split("Max-Age=")[1].split(";")[0]) <= 600  # the token's exp
        assert client.cookies.get("fastagentic_session") == token
        # Reads by cookie alone.
        me = await client.get("/me")
        assert me.status_code == 200 and me.json()["user"] == "alice"
        assert (await client.get("/runs")).status_code == 200
        # State changes by cookie: from this site or an allowed origin only.
        cross = await client.post("/tools/whoami", json={},
                                  headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403 and cross.json()["code"] == "cross_site_request"
        blind = await client.post("/tools/whoami", json={})  # no Origin, no Referer
        assert blind.status_code == 403
        for origin in (SITE, "https://app.example"):
            ok = await client.post("/tools/whoami", json={}, headers={"Origin": origin})
            assert ok.status_code == 200 and ok.json()["result"]["user"] == "alice"
        referred = await client.post("/tools/whoami", json={},
                                     headers={"Referer": SITE + "/page"})
        assert referred.status_code == 200
        # A bearer token in the request wins over the cookie (and needs no Origin).
        bob = issuer.token(sub="bob", tenant_id="globex")
        as_bob = await client.post("/tools/whoami", json={},
                                   headers={"Authorization": f"Bearer {bob}"})
        assert as_bob.json()["result"]["user"] == "bob"
        # Signing out clears the cookie; then the cookie-less client is refused.
        closed = await client.delete("/auth/session")
        assert closed.status_code == 204
        assert 'fastagentic_session=""' in closed.headers["set-cookie"]
        assert "fastagentic_session" not in client.cookies
        assert (await client.get("/me")).status_code == 401


async def test_an_expired_token_in_the_cookie_is_refused(issuer: Issuer) -> None:
    app = governed_app(issuer.url)
    enable_sessions(app)
    async with running_client(app) as client:
        client.cookies.set("fastagentic_session", issuer.token(exp=1, iat=0, nbf=0))
        refused = await client.get("/me")
        assert refused.status_code == 401 and 'error="invalid_token"' in \
            refused.headers["www-authenticate"]


def test_sessions_need_auth_and_valid_options(issuer: Issuer) -> None:
    from fastagentic import App
    from fastagentic.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="configure authentication first"):
        enable_sessions(App(title="plain"))
    with pytest.raises(ConfigurationError, match="same_site"):
        enable_sessions(governed_app(issuer.url), same_site="none")


async def test_a_browser_websocket_authenticates_by_cookie(issuer: Issuer) -> None:
    app = governed_app(issuer.url)
    enable_sessions(app)
    with LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            opened = await client.post("/auth/session", headers={
                "Authorization": f"Bearer {issuer.token()}"})
            cookie = {"Cookie": f"fastagentic_session={opened.cookies['fastagentic_session']}"}
        url = server.url.replace("http", "ws", 1) + "/echo/ws"
        async with connect(url, additional_headers={**cookie, "Origin": server.url}) as ws:
            await ws.send(json.dumps({"type": "start", "input": {"message": "hi"}}))
            assert json.loads(await ws.recv())["ok"] is True
            while (frame := json.loads(await ws.recv()))["type"] != "done":
                pass
            assert frame["output"] == "alice@acme: hi"
        # Cross-site WebSocket hijacking: the browser sends the cookie, but not our Origin.
        for headers in ({**cookie, "Origin": "https://evil.example"}, cookie):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            response: Any = refused.value.response
            assert response.status_code == 403
            assert json.loads(response.body)["code"] == "cross_site_request"


async def test_sessions_from_the_environment(issuer: Issuer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAGENTIC_AUTH_SESSIONS", "1")
    monkeypatch.setenv("FASTAGENTIC_AUTH_SESSION_ORIGINS", '["https://app.example"]')
    async with running_client(governed_app(issuer.url)) as client:
        opened = await client.post("/auth/session",
                                   headers={"Authorization": f"Bearer {issuer.token()}"})
        assert opened.status_code == 200
        ok = await client.post("/tools/whoami", json={},
                               headers={"Origin": "https://app.example"})
        assert ok.json()["result"]["user"] == "alice"


async def test_reconfiguring_auth_keeps_the_sessions(issuer: Issuer) -> None:
    from fastagentic.auth import configure_oidc

    from .issuer import AUDIENCE

    app = governed_app(issuer.url)
    enable_sessions(app)
    configure_oidc(app, audience=AUDIENCE, leeway=5)
    async with running_client(app) as client:
        opened = await client.post("/auth/session",
                                   headers={"Authorization": f"Bearer {issuer.token()}"})
        assert opened.status_code == 200 and (await client.get("/me")).status_code == 200
