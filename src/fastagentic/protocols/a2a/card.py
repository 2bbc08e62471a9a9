"""Agent cards generated from the registry: the app's card (every agent endpoint a skill), one
card per skill, the 0.3 form, the extended card; optional JWS signatures (RFC 8785)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from ...core.context import UserContext
from ...core.specs import AgentSpec
from ...exceptions import ConfigurationError, MissingDependency
from ...policy.authz import visible

if TYPE_CHECKING:
    from ...app import App

MODES = ["text/plain", "application/json"]


def _skill_examples(spec: AgentSpec) -> list[str]:
    if spec.a2a_skill.examples is not None:
        return list(spec.a2a_skill.examples)
    out = []
    params = spec.signature.params
    for example in spec.examples:
        values = example.input
        if len(params) == 1 and isinstance(values.get(params[0]), str) and len(values) == 1:
            out.append(values[params[0]])
        else:
            out.append(to_json(values).decode())
    return out


def skill_json(spec: AgentSpec) -> dict[str, Any]:
    skill = spec.a2a_skill
    out: dict[str, Any] = {
        "id": spec.skill_id,
        "name": skill.name or spec.title or spec.name,
        "description": skill.description or spec.description or spec.title or spec.name,
        "tags": list(skill.tags if skill.tags is not None else spec.tags) or [spec.skill_id],
    }
    examples = _skill_examples(spec)
    if examples:
        out["examples"] = examples
    if skill.input_modes is not None:
        out["inputModes"] = list(skill.input_modes)
    if skill.output_modes is not None:
        out["outputModes"] = list(skill.output_modes)
    return out


class Cards:
    def __init__(self, app: App) -> None:
        self.app = app
        self.modified = time.time()
        self._cache: dict[tuple[Any, ...], tuple[bytes, str]] = {}
        self._key: Any = None

    @property
    def settings(self) -> Any:
        return self.app.settings

    def extended_enabled(self) -> bool:
        configured = self.settings.a2a_extended_card
        return self.app.auth is not None if configured is None else configured

    def _security(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The auth configuration as securitySchemes: a bearer token (a JWT, or an API key),
        and with ``configure_oidc`` the issuer's OpenID Connect discovery document;
        requirements are alternatives, each with the required scopes."""
        auth = self.app.auth
        if auth is None:
            return {}, []
        schemes: dict[str, Any] = {"bearer": {"httpAuthSecurityScheme": {
            "scheme": "Bearer", "bearerFormat": "JWT"}}}
        if auth.oidc is not None:
            discovery = auth.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
            schemes["oidc"] = {"openIdConnectSecurityScheme": {"openIdConnectUrl": discovery}}
        scopes = list(auth.scopes_supported)
        return schemes, [{"schemes": {name: {"list": scopes}}} for name in schemes]

    def card(self, base: str, *, skill: AgentSpec | None = None, extended: bool = False,
             user: UserContext | None = None) -> dict[str, Any]:
        """The 1.0 card (no 0.3 fields); the extended card for ``user`` lists the skills it
        may use."""
        settings = self.settings
        path = settings.a2a_path + (f"/{skill.skill_id}" if skill is not None else "")
        url = base.rstrip("/") + path
        specs = [skill] if skill is not None else \
            self.app.a2a.service.skills(private=extended)
        if user is not None:
            specs = visible(self.app, specs, user)  # type: ignore[arg-type,assignment]
        name = settings.title if skill is None else f"{settings.title}: {skill.title or skill.name}"
        description = (skill.description if skill is not None else settings.description) \
            or settings.title or "An agent service built with fastagentic"
        card: dict[str, Any] = {
            "name": name,
            "description": description,
            "supportedInterfaces": [
                {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
                {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
                {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
                {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "0.3"},
            ],
            "version": settings.version,
        }
        if settings.a2a_provider_organization:
            card["provider"] = {"organization": settings.a2a_provider_organization,
                                "url": settings.a2a_provider_url or base}
        if settings.a2a_documentation_url:
            card["documentationUrl"] = settings.a2a_documentation_url
        card["capabilities"] = {
            "streaming": True,
            "pushNotifications": settings.a2a_push_notifications,
            "extendedAgentCard": self.extended_enabled(),
        }
        schemes, requirements = self._security()
        if schemes:
            card["securitySchemes"] = schemes
            card["securityRequirements"] = requirements
        card["defaultInputModes"] = list(MODES)
        card["defaultOutputModes"] = list(MODES)
        card["skills"] = [skill_json(s) for s in specs]
        if settings.a2a_icon_url:
            card["iconUrl"] = settings.a2a_icon_url
        if settings.a2a_signing_key:
            card["signatures"] = [self.sign(card)]
        return card

    @staticmethod
    def legacy_fields(card: dict[str, Any]) -> dict[str, Any]:
        """The 0.3 fields a 0.3 client reads from the same document."""
        v03 = [i for i in card["supportedInterfaces"] if i["protocolVersion"] == "0.3"]
        out: dict[str, Any] = {
            "url": v03[0]["url"],
            "preferredTransport": v03[0]["protocolBinding"],
            "protocolVersion": "0.3.0",
            "additionalInterfaces": [{"url": i["url"], "transport": i["protocolBinding"]}
                                     for i in v03],
        }
        if card["capabilities"].get("extendedAgentCard"):
            out["supportsAuthenticatedExtendedCard"] = True
        if card.get("securityRequirements"):
            out["security"] = [{name: scopes.get("list", []) for name, scopes
                                in req["schemes"].items()} for req in card["securityRequirements"]]
        return out

    @staticmethod
    def _flat_schemes(card: dict[str, Any]) -> dict[str, Any]:
        """The 0.3 (OpenAPI-style) spelling of the schemes."""
        out = {}
        for name, wrapped in (card.get("securitySchemes") or {}).items():
            http = wrapped.get("httpAuthSecurityScheme")
            oidc = wrapped.get("openIdConnectSecurityScheme")
            if http is not None:
                out[name] = {"type": "http", **http}
            elif oidc is not None:
                out[name] = {"type": "openIdConnect", **oidc}
        return out

    def merged(self, card: dict[str, Any]) -> dict[str, Any]:
        """1.0 card plus the 0.3 fields (what 0.3 clients at the 1.0 path need)."""
        out = {**card, **self.legacy_fields(card)}
        if card.get("securitySchemes"):
            out["securitySchemes"] = {
                name: {**wrapped, **self._flat_schemes(card)[name]}
                for name, wrapped in card["securitySchemes"].items()}
        return out

    def v03(self, card: dict[str, Any]) -> dict[str, Any]:
        """The 0.3 card (``/.well-known/agent.json``)."""
        out: dict[str, Any] = {"name": card["name"], "description": card["description"],
                               **self.legacy_fields(card), "version": card["version"]}
        for key in ("provider", "iconUrl", "documentationUrl"):
            if key in card:
                out[key] = card[key]
        out["capabilities"] = {"streaming": card["capabilities"]["streaming"],
                               "pushNotifications": card["capabilities"]["pushNotifications"],
                               "stateTransitionHistory": False}
        if card.get("securitySchemes"):
            out["securitySchemes"] = self._flat_schemes(card)
        out["defaultInputModes"] = card["defaultInputModes"]
        out["defaultOutputModes"] = card["defaultOutputModes"]
        out["skills"] = card["skills"]
        return out

    def document(self, base: str, flavor: str, *, skill: AgentSpec | None = None,
                 extended: bool = False) -> tuple[bytes, str]:
        """(JSON body, ETag) of a card: ``flavor`` is ``1.0``, ``merged`` or ``0.3``."""
        key = (base, flavor, skill.skill_id if skill else None, extended,
               self.app.registry.version)
        cached = self._cache.get(key)
        if cached is None:
            card = self.card(base, skill=skill, extended=extended)
            if flavor == "merged":
                card = self.merged(card)
            elif flavor == "0.3":
                card = self.v03(card)
            body = to_json(card)
            etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if len(self._cache) > 256:
                self._cache.clear()
            cached = self._cache[key] = (body, etag)
        return cached

    # signing

    def _signing_key(self) -> Any:
        if self._key is None:
            try:
                from cryptography.hazmat.primitives.serialization import load_pem_private_key
            except ImportError:
                raise MissingDependency(
                    'card signing needs: pip install "fastagentic[signing]"') from None
            raw = self.settings.a2a_signing_key
            text = raw if "-----BEGIN" in raw else Path(raw).read_text()
            try:
                self._key = load_pem_private_key(text.encode(), password=None)
            except ValueError as exc:
                raise ConfigurationError(f"a2a_signing_key: not a PEM private key ({exc})") \
                    from None
        return self._key

    def sign(self, card: dict[str, Any]) -> dict[str, Any]:
        """A detached JWS over the card's canonical form (RFC 8785, ``signatures`` removed,
        empty values dropped as ProtoJSON does)."""
        try:
            import jwt
            import rfc8785
        except ImportError:
            raise MissingDependency(
                'card signing needs: pip install "fastagentic[signing]"') from None
        key = self._signing_key()
        alg = _algorithm(key)
        header: dict[str, Any] = {"alg": alg, "typ": "JOSE",
                                  "kid": self.settings.a2a_signing_kid or "fastagentic"}
        if self.settings.a2a_signing_jku:
            header["jku"] = self.settings.a2a_signing_jku
        payload = rfc8785.dumps(canonical_payload(card))
        # A compact JWS over base64url(payload) (A2A §8.4); the card itself is the payload,
        # so only the protected header and the signature are kept.
        token = jwt.api_jws.PyJWS().encode(payload, key, algorithm=alg, headers=header)
        protected, _, signature = token.split(".")
        return {"protected": protected, "signature": signature}


def canonical_payload(card: dict[str, Any]) -> Any:
    """The card as signed: no ``signatures``; empty strings, lists and objects dropped."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                v = clean(v)
                if v in ("", [], {}, None):
                    continue
                out[k] = v
            return out
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean({k: v for k, v in card.items() if k != "signatures"})


def _algorithm(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigurationError("a2a_signing_key: use an EC, RSA or Ed25519 private key")


__all__ = ["Cards", "canonical_payload", "skill_json"]
