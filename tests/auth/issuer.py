"""A real OIDC issuer for the tests: keys generated at test time, discovery and JWKS served
over HTTP on 127.0.0.1 by uvicorn, tokens minted with PyJWT (and, for the forgeries PyJWT
refuses to make, by hand)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

AUDIENCE = "fastagentic-tests"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """``issuer.url`` once served (``with LiveServer(issuer.asgi)``); ``issuer.token(...)``
    mints; ``issuer.rotate()`` publishes a new key and returns its kid."""

    def __init__(self) -> None:
        self.url = ""
        self.private: dict[str, Any] = {}
        self.algorithms: dict[str, str] = {}
        self.published: list[str] = []
        self.jwks_hits = 0
        self.discovery_hits = 0
        self._rotations = 0
        self.add_key("rsa-1", "RS256")
        self.add_key("ec-1", "ES256")
        self.asgi = Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/jwks", self._jwks),
        ])

    def add_key(self, kid: str, alg: str, *, publish: bool = True) -> str:
        if alg.startswith("ES"):
            self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.algorithms[kid] = alg
        if publish:
            self.published.append(kid)
        return kid

    def rotate(self) -> str:
        """A new RSA key, published alongside the old ones (as issuers rotate)."""
        self._rotations += 1
        return self.add_key(f"rsa-rotated-{self._rotations}", "RS256")

    def public_pem(self, kid: str = "rsa-1") -> bytes:
        return self.private[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, kid: str) -> dict[str, Any]:
        public = self.private[kid].public_key()
        algorithm = ECAlgorithm if self.algorithms[kid].startswith("ES") else RSAAlgorithm
        out = algorithm.to_jwk(public, as_dict=True)
        return {**out, "kid": kid, "use": "sig", "alg": self.algorithms[kid]}

    async def _discovery(self, request: Request) -> JSONResponse:
        self.discovery_hits += 1
        return JSONResponse({"issuer": self.url, "jwks_uri": self.url + "/jwks",
                             "id_token_signing_alg_values_supported": ["RS256", "ES256"]})

    async def _jwks(self, request: Request) -> JSONResponse:
        self.jwks_hits += 1
        return JSONResponse({"keys": [self.jwk(kid) for kid in self.published]})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "alice", "tenant_id": "acme",
                  "scope": "openid agents:use", "iat": now, "nbf": now - 5, "exp": now + 600}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str = "rsa-1", *, signing_kid: str | None = None,
              header: dict[str, Any] | None = None, **claims: Any) -> str:
        """A JWT with ``kid`` in its header, signed with ``signing_kid``'s key (default: the
        same key)."""
        signer = signing_kid or kid
        return jwt.encode(self.claims(**claims), self.private[signer],
                          algorithm=self.algorithms[signer], headers={"kid": kid, **(header or {})})

    def unsigned(self, **claims: Any) -> str:
        """``alg: none``."""
        head = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
        return f"{head}.{_b64(json.dumps(self.claims(**claims)).encode())}."

    def hs256_with_public_key(self, **claims: Any) -> str:
        """The algorithm-confusion forgery: HMAC-SHA256 keyed with the public key's PEM."""
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
        body = _b64(json.dumps(self.claims(**claims)).encode())
        mac = hmac.new(self.public_pem(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(mac)}"


def bad_tokens(issuer: Issuer) -> dict[str, str]:
    """Tokens every transport must refuse with 401, by case."""
    now = int(time.time())
    if "forger" not in issuer.private:
        issuer.add_key("forger", "RS256", publish=False)
    return {
        "expired": issuer.token(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "not_yet_valid": issuer.token(nbf=now + 3600, exp=now + 7200),
        "wrong_audience": issuer.token(aud="someone-else"),
        "wrong_issuer": issuer.token(iss="https://evil.example"),
        "bad_signature": issuer.token("rsa-1", signing_kid="forger"),
        "alg_none": issuer.unsigned(),
        "hs256_public_key": issuer.hs256_with_public_key(),
        "unknown_kid": issuer.token("never-published", signing_kid="forger"),
        "garbage": "not-a-jwt",
    }
