"""The OIDC verifier against a real issuer: discovery, key caching and rotation (one refresh,
shared by concurrent requests, rate limited), the verified-token cache, leeway, an unreachable
issuer, claims mapping, configuration from the environment and configuration errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from conftest import free_port, running_client, wait_for

from fastagentic import App
from fastagentic.auth import ClaimsMapping, configure_oidc
from fastagentic.exceptions import ConfigurationError

from .apps import governed_app
from .issuer import AUDIENCE, Issuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/tools/whoami", json={}, headers=bearer(token))


async def test_keys_are_discovered_cached_and_refreshed_once_per_rotation(
        issuer: Issuer) -> None:
    app = governed_app(issuer.url, jwks_min_refresh_interval=60)
    jwks = app.auth.oidc.jwks
    discovery, fetched = issuer.discovery_hits, issuer.jwks_hits
    async with running_client(app) as client:
        for _ in range(3):
            assert (await whoami(client, issuer.token())).status_code == 200
        assert issuer.discovery_hits == discovery + 1  # jwks_uri found by discovery
        assert (jwks.fetches, issuer.jwks_hits) == (1, fetched + 1)
        # Rotation: 20 requests at once with the new key's kid share one refresh.
        rotated = issuer.token(issuer.rotate())
        answers = await asyncio.gather(*(whoami(client, rotated) for _ in range(20)))
        assert [a.status_code for a in answers] == [200] * 20
        assert jwks.fetches == 2
        # Within min_refresh_interval another unknown kid does not reach the issuer again.
        again = issuer.token(issuer.rotate())
        refused = await whoami(client, again)
        assert refused.status_code == 401 and "unknown key" in refused.json()["message"]
        assert jwks.fetches == 2 and issuer.jwks_hits == fetched + 2


async def test_an_explicit_jwks_url_skips_discovery(issuer: Issuer) -> None:
    app = governed_app(issuer.url, jwks_url=issuer.url + "/jwks")
    discovery = issuer.discovery_hits
    async with running_client(app) as client:
        assert (await whoami(client, issuer.token("ec-1"))).status_code == 200
    assert issuer.discovery_hits == discovery


async def test_verified_tokens_are_cached_until_they_expire(issuer: Issuer) -> None:
    app = governed_app(issuer.url, leeway=0)
    verifier = app.auth.oidc
    verified: list[str] = []
    verify = verifier.verify

    async def counting(token: str) -> Any:
        verified.append(token)
        return await verify(token)

    verifier.verify = counting  # type: ignore[method-assign]
    token = issuer.token(exp=int(time.time()) + 2)
    async with running_client(app) as client:
        for _ in range(10):
            assert (await whoami(client, token)).status_code == 200
        assert len(verified) == 1

        async def expired() -> bool:
            return (await whoami(client, token)).status_code == 401

        await wait_for(expired, timeout=10, interval=0.1)


async def test_a_cached_token_without_a_required_scope_stays_refused(issuer: Issuer) -> None:
    # The gate admits tokens it verified before without verifying them again; a token the
    # verifier accepted but that lacks a scope every caller needs must still get 403.
    app = governed_app(issuer.url)
    good, weak = issuer.token(), issuer.token(scope="openid", sub="bob")
    async with running_client(app) as client:
        for _ in range(3):
            ok = await whoami(client, good)
            assert ok.status_code == 200 and ok.json()["result"]["user"] == "alice"
            refused = await whoami(client, weak)
            assert refused.status_code == 403
            assert refused.json()["code"] == "insufficient_scope"
    assert weak in app.auth.oidc.verified_tokens, "the weak token's signature was verified"


async def test_made_up_tokens_leave_nothing_behind_in_the_gate(issuer: Issuer) -> None:
    # The gate keeps the header values of tokens it verified, so that a client repeating its
    # token costs a lookup; a flood of made-up tokens must neither pass nor be kept.
    app = governed_app(issuer.url)
    good = issuer.token()
    async with running_client(app) as client:
        for n in range(50):
            assert (await whoami(client, f"made.up.{n}" + "x" * 2000)).status_code == 401
        for _ in range(3):
            assert (await whoami(client, good)).status_code == 200
        assert list(app._gate._tokens.values()) == [good]


async def test_leeway_tolerates_small_clock_skew(issuer: Issuer) -> None:
    now = int(time.time())
    async with running_client(governed_app(issuer.url)) as client:  # leeway 30 s
        skewed = issuer.token(exp=now - 10, iat=now - 600, nbf=now + 10)
        assert (await whoami(client, skewed)).status_code == 200
        late = issuer.token(exp=now - 60, iat=now - 600)
        assert (await whoami(client, late)).status_code == 401


async def test_an_unreachable_issuer_is_503_not_401(issuer: Issuer) -> None:
    app = governed_app(f"http://127.0.0.1:{free_port()}")
    async with running_client(app) as client:
        response = await whoami(client, issuer.token())
    assert response.status_code == 503 and response.json()["code"] == "auth_unavailable"


async def test_configured_from_the_environment(issuer: Issuer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAGENTIC_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv("FASTAGENTIC_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("FASTAGENTIC_OIDC_JWKS_URL", issuer.url + "/jwks")
    monkeypatch.setenv("FASTAGENTIC_OIDC_REQUIRED_SCOPES", '["agents:use"]')
    app = App(title="from env", durable_store="memory://")

    @app.tool
    def hello() -> str:
        return "hello"

    assert app.auth.oidc.jwks.jwks_url == issuer.url + "/jwks"
    async with running_client(app) as client:
        assert (await client.post("/tools/hello", json={})).status_code == 401
        ok = await client.post("/tools/hello", json={}, headers=bearer(issuer.token()))
        assert ok.json() == {"result": "hello"}
        weak = await client.post("/tools/hello", json={},
                                 headers=bearer(issuer.token(scope="openid")))
        assert weak.status_code == 403


def test_configuration_errors(issuer: Issuer) -> None:
    app = App(title="x", durable_store="memory://")
    with pytest.raises(ConfigurationError, match="issuer"):
        configure_oidc(app, audience="a")
    with pytest.raises(ConfigurationError, match="audience"):
        configure_oidc(app, issuer=issuer.url)
    for algorithms in (["HS256"], ["none"], ["RS256", "HS512"], []):
        with pytest.raises(ConfigurationError, match="algorithm"):
            configure_oidc(app, issuer=issuer.url, audience="a", algorithms=algorithms)
    assert app.auth is None


async def test_only_the_allowed_algorithms_are_accepted(issuer: Issuer) -> None:
    app = governed_app(issuer.url, algorithms=["ES256"])
    async with running_client(app) as client:
        assert (await whoami(client, issuer.token("ec-1"))).status_code == 200
        refused = await whoami(client, issuer.token("rsa-1"))
    assert refused.status_code == 401 and "RS256" in refused.json()["message"]


def test_claims_mapping() -> None:
    mapping = ClaimsMapping(tenant_claims=("tid", "org_id"), roles_claim="realm_access.roles",
                            scope_roles={"billing:admin": ["admin"]})
    user = mapping.user({"sub": "u1", "org_id": 42, "scp": ["a", "billing:admin"],
                         "realm_access": {"roles": ["viewer"]}})
    assert (user.user, user.tenant) == ("u1", "42")
    assert user.scopes == {"a", "billing:admin"} and user.roles == {"viewer", "admin"}
    assert user.claims["realm_access"] == {"roles": ["viewer"]}
    default = ClaimsMapping().user({"sub": "u2", "tenant_id": "t", "org_id": "o",
                                    "scope": "x y", "roles": "r1 r2"})
    assert (default.tenant, default.scopes, default.roles) == ("t", {"x", "y"}, {"r1", "r2"})
    assert ClaimsMapping().user({"sub": "u3"}).tenant is None
