"""The A2A agent cards as a client fetches them: the 1.0 card (with the 0.3 compat fields or
without), the 0.3 card, caching, per-skill cards, the extended card, authentication and JWS
signatures checked with the official a2a-sdk verifier."""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from conftest import running_client

from fastagentic import App, RunContext
from fastagentic.a2a import Skill
from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext

V10 = {"A2A-Version": "1.0"}
CARD = "/.well-known/agent-card.json"
LEGACY_CARD = "/.well-known/agent.json"
INTERFACES = [("JSONRPC", "1.0"), ("HTTP+JSON", "1.0"), ("JSONRPC", "0.3"), ("HTTP+JSON", "0.3")]
CARD_1_0_KEYS = {"name", "description", "supportedInterfaces", "version", "capabilities",
                 "defaultInputModes", "defaultOutputModes", "skills"}
LEGACY_KEYS = {"url", "preferredTransport", "protocolVersion", "additionalInterfaces"}


def make_app(**settings: Any) -> App:
    """Two public skills (one described by a ``Skill``, one by its endpoint) and a private one."""
    app = App(title="Support desk", version="2.1.0", description="Answers support questions",
              durable_store="memory://", **settings)

    @app.agent_endpoint("/support", default=True, a2a_skill=Skill(
        id="support", name="Support", description="Answers questions about orders",
        tags=["support", "orders"], examples=["my order is late", "where is order 7?"],
        input_modes=["text/plain"], output_modes=["text/plain", "application/json"]))
    async def support(message: str, ctx: RunContext) -> str:
        return "support: " + message

    @app.agent_endpoint("/translate", tags=["language"])
    async def translate(message: str, ctx: RunContext) -> str:
        """Translates a sentence to French."""
        return "fr: " + message

    @app.agent_endpoint("/audit", a2a_skill=Skill(id="audit", name="Audit",
                                                  description="Internal audit", public=False))
    async def audit(message: str, ctx: RunContext) -> str:
        return "audited: " + message

    return app


USERS = {"alice-token": UserContext(user="alice"), "bob-token": UserContext(user="bob")}


async def authenticate(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token not in USERS:
        raise Unauthenticated("a valid bearer token is required")
    return USERS[token]


def bearer(token: str) -> dict[str, str]:
    return {**V10, "Authorization": f"Bearer {token}"}


def rpc(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method}
    if params is not None:
        body["params"] = params
    return body


def message(text: str, **fields: Any) -> dict[str, Any]:
    return {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": text}],
            **fields}


def skill_ids(card: dict[str, Any]) -> list[str]:
    return [s["id"] for s in card["skills"]]


# the 1.0 card


async def test_card_lists_the_1_0_interfaces_first_then_0_3_all_at_the_a2a_url():
    async with running_client(make_app()) as client:
        response = await client.get(CARD)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        card = response.json()
    interfaces = card["supportedInterfaces"]
    assert [(i["protocolBinding"], i["protocolVersion"]) for i in interfaces] == INTERFACES
    assert all(i["url"] == "http://test/a2a" for i in interfaces)
    assert card["name"] == "Support desk"
    assert card["version"] == "2.1.0"
    assert card["description"] == "Answers support questions"
    assert card["capabilities"] == {"streaming": True, "pushNotifications": True,
                                    "extendedAgentCard": False}
    assert card["defaultInputModes"] and card["defaultOutputModes"]


async def test_every_public_agent_endpoint_is_a_skill_with_the_skill_fields():
    async with running_client(make_app()) as client:
        card = (await client.get(CARD)).json()
    skills = {s["id"]: s for s in card["skills"]}
    assert list(skills) == ["support", "translate"]  # the private "audit" is not listed
    assert skills["support"] == {
        "id": "support", "name": "Support", "description": "Answers questions about orders",
        "tags": ["support", "orders"], "examples": ["my order is late", "where is order 7?"],
        "inputModes": ["text/plain"], "outputModes": ["text/plain", "application/json"]}
    # Without a Skill: the endpoint's name, its docstring and its tags.
    translate = skills["translate"]
    assert translate["id"] == "translate"
    assert translate["name"]
    assert translate["description"] == "Translates a sentence to French."
    assert translate["tags"] == ["language"]


async def test_the_card_carries_the_0_3_compat_fields_by_default():
    async with running_client(make_app()) as client:
        card = (await client.get(CARD)).json()
    assert LEGACY_KEYS <= set(card)
    assert card["url"] == "http://test/a2a"
    assert card["preferredTransport"] == "JSONRPC"
    assert card["protocolVersion"].startswith("0.3")
    assert {(i["transport"], i["url"]) for i in card["additionalInterfaces"]} == {
        ("JSONRPC", "http://test/a2a"), ("HTTP+JSON", "http://test/a2a")}
    # The 1.0 fields are all there as well.
    assert CARD_1_0_KEYS <= set(card)


async def test_the_pure_1_0_card_has_exactly_the_1_0_fields():
    async with running_client(make_app(a2a_card_legacy_fields=False)) as client:
        card = (await client.get(CARD)).json()
        legacy = (await client.get(LEGACY_CARD)).json()
    assert set(card) == CARD_1_0_KEYS
    assert set(card["capabilities"]) <= {"streaming", "pushNotifications", "extendedAgentCard",
                                         "extensions"}
    for interface in card["supportedInterfaces"]:
        assert set(interface) == {"url", "protocolBinding", "protocolVersion"}
    for skill in card["skills"]:
        assert set(skill) <= {"id", "name", "description", "tags", "examples", "inputModes",
                              "outputModes", "securityRequirements"}
    # The 0.3 path still serves a 0.3 card.
    assert legacy["url"] == "http://test/a2a"


async def test_agent_json_is_the_0_3_card():
    async with running_client(make_app()) as client:
        response = await client.get(LEGACY_CARD)
        assert response.status_code == 200
        card = response.json()
    assert "supportedInterfaces" not in card
    assert card["url"] == "http://test/a2a"
    assert card["preferredTransport"] == "JSONRPC"
    assert card["protocolVersion"].startswith("0.3")
    assert {i["transport"] for i in card["additionalInterfaces"]} == {"JSONRPC", "HTTP+JSON"}
    for key in ("name", "description", "version", "capabilities", "defaultInputModes",
                "defaultOutputModes", "skills"):
        assert key in card
    assert "extendedAgentCard" not in card["capabilities"]  # a 1.0 name
    assert card["capabilities"]["streaming"] is True
    assert skill_ids(card) == ["support", "translate"]


# caching


async def test_etag_and_if_none_match_answer_304():
    async with running_client(make_app()) as client:
        first = await client.get(CARD)
        etag = first.headers["etag"]
        assert etag
        again = await client.get(CARD, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        listed = await client.get(CARD, headers={"If-None-Match": f'"other", {etag}'})
        assert listed.status_code == 304
        stale = await client.get(CARD, headers={"If-None-Match": 'W/"stale"'})
        assert stale.status_code == 200
        assert stale.json() == first.json()
        # The 0.3 card is another document with another tag.
        legacy = await client.get(LEGACY_CARD)
        assert legacy.headers["etag"] != etag
        assert (await client.get(LEGACY_CARD, headers={"If-None-Match": etag})).status_code \
            == 200


async def test_cache_control_max_age_follows_the_setting_and_last_modified_is_a_date():
    async with running_client(make_app()) as client:
        default = await client.get(CARD)
    assert "max-age=300" in default.headers["cache-control"]
    modified = email.utils.parsedate_to_datetime(default.headers["last-modified"])
    assert modified.tzinfo is not None
    async with running_client(make_app(a2a_card_max_age=42)) as client:
        custom = await client.get(CARD)
    assert "max-age=42" in custom.headers["cache-control"]


async def test_public_url_sets_the_interface_urls():
    app = make_app(public_url="https://agents.example.com/")
    async with running_client(app) as client:
        card = (await client.get(CARD)).json()
        skill_card = (await client.get("/a2a/support" + CARD)).json()
    assert {i["url"] for i in card["supportedInterfaces"]} == {
        "https://agents.example.com/a2a"}
    assert card["url"] == "https://agents.example.com/a2a"
    assert {i["url"] for i in skill_card["supportedInterfaces"]} == {
        "https://agents.example.com/a2a/support"}


# per-skill cards


async def test_a_skill_has_its_own_card_pointing_at_its_own_endpoint():
    async with running_client(make_app()) as client:
        response = await client.get("/a2a/translate" + CARD)
        assert response.status_code == 200
        card = response.json()
        assert response.headers.get("etag")
        # The card's endpoint answers as that skill.
        url = card["supportedInterfaces"][0]["url"]
        assert url == "http://test/a2a/translate"
        sent = await client.post(url.removeprefix("http://test"), headers=V10,
                                 json=rpc("SendMessage", {"message": message("bonjour")}))
    assert skill_ids(card) == ["translate"]
    assert [(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]] \
        == INTERFACES
    assert all(i["url"] == "http://test/a2a/translate" for i in card["supportedInterfaces"])
    task = sent.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][-1]["parts"] == [{"text": "fr: bonjour"}]


async def test_an_unknown_skill_card_is_404():
    async with running_client(make_app()) as client:
        response = await client.get("/a2a/nope" + CARD)
    assert response.status_code == 404


# the extended card


async def test_a_private_skill_is_only_on_the_extended_card():
    async with running_client(make_app(a2a_extended_card=True)) as client:
        card = (await client.get(CARD)).json()
        assert card["capabilities"]["extendedAgentCard"] is True
        extended = (await client.post("/a2a", headers=V10,
                                      json=rpc("GetExtendedAgentCard"))).json()["result"]
        over_rest = await client.get("/a2a/extendedAgentCard", headers=V10)
        legacy = (await client.post("/a2a", json=rpc("agent/getAuthenticatedExtendedCard"))
                  ).json()["result"]
        # A private skill is still reachable by id.
        sent = await client.post("/a2a", headers=V10, json=rpc("SendMessage", {
            "message": message("the books", metadata={"skill": "audit"})}))
    assert skill_ids(card) == ["support", "translate"]
    assert skill_ids(extended) == ["support", "translate", "audit"]
    assert "url" not in extended  # a 1.0 card
    assert over_rest.status_code == 200
    assert legacy["url"] == "http://test/a2a" and "supportedInterfaces" not in legacy  # 0.3
    assert skill_ids(legacy) == ["support", "translate", "audit"]
    assert skill_ids(over_rest.json()) == ["support", "translate", "audit"]
    assert sent.json()["result"]["task"]["artifacts"][-1]["parts"] == [
        {"text": "audited: the books"}]


async def test_without_auth_and_without_the_setting_the_extended_card_is_not_configured():
    async with running_client(make_app()) as client:
        response = await client.post("/a2a", headers=V10, json=rpc("GetExtendedAgentCard"))
        rest = await client.get("/a2a/extendedAgentCard", headers=V10)
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32007
    assert error["data"][0]["reason"] == "EXTENDED_AGENT_CARD_NOT_CONFIGURED"
    assert rest.status_code == 400
    assert rest.json()["error"]["details"][0]["reason"] == "EXTENDED_AGENT_CARD_NOT_CONFIGURED"


# authentication


def auth_app(**settings: Any) -> App:
    app = make_app(**settings)
    app.require_auth(authenticate, scopes=["agents:use"])

    @app.agent_endpoint("/hold")
    async def hold(message: str, ctx: RunContext) -> str:
        return "held: " + str(await ctx.ask("Anything else?"))

    return app


async def test_with_auth_the_card_stays_public_and_declares_the_security():
    async with running_client(auth_app()) as client:
        response = await client.get(CARD)
        legacy = (await client.get(LEGACY_CARD)).json()
    assert response.status_code == 200
    card = response.json()
    assert card["capabilities"]["extendedAgentCard"] is True
    schemes = card["securitySchemes"]
    assert schemes, card
    name, scheme = next(iter(schemes.items()))
    assert scheme["httpAuthSecurityScheme"]["scheme"].lower() == "bearer"
    assert card["securityRequirements"] == [{"schemes": {name: {"list": ["agents:use"]}}}]
    # The 0.3 spelling alongside.
    assert card["security"] == [{name: ["agents:use"]}]
    assert legacy["securitySchemes"][name]["type"] == "http"
    assert legacy["security"] == [{name: ["agents:use"]}]


async def test_with_auth_a2a_calls_need_a_token():
    async with running_client(auth_app()) as client:
        denied = await client.post("/a2a", headers=V10,
                                   json=rpc("SendMessage", {"message": message("hi")}))
        wrong = await client.post("/a2a", headers=bearer("nobody"),
                                  json=rpc("SendMessage", {"message": message("hi")}))
        denied_rest = await client.post("/a2a/message:send", headers=V10,
                                        json={"message": message("hi")})
        allowed = await client.post("/a2a", headers=bearer("alice-token"),
                                    json=rpc("SendMessage", {"message": message("hi")}))
    for response in (denied, wrong, denied_rest):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert "error" in denied.json()
    assert allowed.status_code == 200
    task = allowed.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][-1]["parts"] == [{"text": "support: hi"}]


async def test_with_auth_the_extended_card_lists_the_private_skill():
    async with running_client(auth_app()) as client:
        anonymous = await client.post("/a2a", headers=V10, json=rpc("GetExtendedAgentCard"))
        extended = await client.post("/a2a", headers=bearer("alice-token"),
                                     json=rpc("GetExtendedAgentCard"))
        public = (await client.get(CARD)).json()
    assert anonymous.status_code == 401
    card = extended.json()["result"]
    assert "audit" in skill_ids(card)
    assert "audit" not in skill_ids(public)
    assert card["securityRequirements"] == public["securityRequirements"]


async def test_another_users_task_is_not_found():
    async with running_client(auth_app()) as client:
        sent = await client.post("/a2a", headers=bearer("alice-token"), json=rpc(
            "SendMessage", {"message": message("wait", metadata={"skill": "hold"})}))
        task = sent.json()["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        task_id = task["id"]

        async def as_bob(method: str, params: dict[str, Any]) -> dict[str, Any]:
            response = await client.post("/a2a", headers=bearer("bob-token"),
                                         json=rpc(method, params))
            assert response.status_code == 200
            return response.json()

        for method, params in [
            ("GetTask", {"id": task_id}),
            ("CancelTask", {"id": task_id}),
            ("SubscribeToTask", {"id": task_id}),
            ("CreateTaskPushNotificationConfig",
             {"taskId": task_id, "url": "https://example.com/hook"}),
            ("ListTaskPushNotificationConfigs", {"taskId": task_id}),
            ("SendMessage", {"message": message("answer", taskId=task_id)}),
        ]:
            answer = await as_bob(method, params)
            assert answer.get("error", {}).get("code") == -32001, (method, answer)
            assert answer["error"]["data"][0]["reason"] == "TASK_NOT_FOUND"
        listed = (await as_bob("ListTasks", {}))["result"]
        assert listed["tasks"] == [] and listed["totalSize"] == 0
        rest = await client.get(f"/a2a/tasks/{task_id}", headers=bearer("bob-token"))
        assert rest.status_code == 404
        # Alice's task is untouched by Bob's attempts.
        mine = await client.post("/a2a", headers=bearer("alice-token"),
                                 json=rpc("GetTask", {"id": task_id}))
        assert mine.json()["result"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"


# signatures


def ec_key_pem() -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


def sdk_verify(card: dict[str, Any], public_key: bytes) -> None:
    from a2a.client.card_resolver import parse_agent_card
    from a2a.utils.signing import create_signature_verifier

    kids: list[str | None] = []

    def key_for(kid: str | None, jku: str | None) -> bytes:
        kids.append(kid)
        return public_key

    verify = create_signature_verifier(key_for, algorithms=["ES256"])
    verify(parse_agent_card(dict(card)))
    assert kids and kids[0] == "k1"


@pytest.mark.parametrize("legacy", [True, False])
async def test_a_signed_card_verifies_with_the_sdk_and_a_tampered_one_does_not(legacy: bool):
    from a2a.utils.signing import InvalidSignaturesError

    pem, public = ec_key_pem()
    app = make_app(a2a_signing_key=pem, a2a_signing_kid="k1", a2a_card_legacy_fields=legacy)
    async with running_client(app) as client:
        card = (await client.get(CARD)).json()
    assert len(card["signatures"]) == 1
    signature = card["signatures"][0]
    assert signature["protected"] and signature["signature"]
    sdk_verify(card, public)

    tampered = {**card, "description": "Sends your money elsewhere"}
    with pytest.raises(InvalidSignaturesError):
        sdk_verify(tampered, public)
    moved = {**card, "supportedInterfaces": [
        {**i, "url": "https://evil.example/a2a"} for i in card["supportedInterfaces"]]}
    with pytest.raises(InvalidSignaturesError):
        sdk_verify(moved, public)
    _, other_public = ec_key_pem()
    with pytest.raises(InvalidSignaturesError):
        sdk_verify(card, other_public)


async def test_the_signature_header_names_the_algorithm_and_the_key():
    import base64
    import json

    pem, _ = ec_key_pem()
    async with running_client(make_app(a2a_signing_key=pem, a2a_signing_kid="k1")) as client:
        card = (await client.get(CARD)).json()
    protected = card["signatures"][0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    assert header["alg"] == "ES256"
    assert header["kid"] == "k1"
    assert header.get("typ") == "JOSE"
    assert "jku" not in header  # unset: omitted, not null
    # A2A §8.4 signs base64url(payload): not an RFC 7797 unencoded payload.
    assert header.get("b64", True) is True
