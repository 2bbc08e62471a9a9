"""OAuth2/OIDC bearer tokens: JWTs verified with PyJWT against the issuer's JWKS.

``configure_oidc(app, audience=..., jwks_url=..., required_scopes=[...])`` turns it on for every
transport.  A token is accepted when its signature verifies with one of the issuer's keys
under an allowed asymmetric algorithm (``none`` and HMAC are never accepted, so a token "signed"
with the public key as an HMAC secret is refused), ``iss`` and ``aud`` match, ``exp`` and
``nbf`` hold (with ``leeway`` seconds of clock skew) and it names a subject; then every caller
needs the required scopes (API keys too).  Verified tokens are remembered until they expire
(at most ``cache_size`` of them), so a client reusing its token costs one dictionary lookup.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jwt

from ..core.context import UserContext
from ..exceptions import ConfigurationError
from .base import Unauthenticated
from .claims import DEFAULT_TENANT_CLAIMS, ClaimsMapping
from .jwks import JwksCache

if TYPE_CHECKING:
    from ..app import App

#: Every asymmetric JWS algorithm PyJWT verifies.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")
#: The JWK key type each algorithm family needs.
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def _check_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(algorithms)
    if not chosen:
        raise ConfigurationError("configure_oidc: algorithms must name at least one algorithm")
    refused = [a for a in chosen if a not in ASYMMETRIC]
    if refused:
        raise ConfigurationError(
            f"configure_oidc: algorithms {refused} are not accepted; use asymmetric ones "
            f"({', '.join(ASYMMETRIC)}); 'none' and HMAC (HS*) never are")
    return chosen


class OidcVerifier:
    """The authenticator ``configure_oidc`` installs: a bearer JWT in, a ``UserContext`` out."""

    def __init__(self, *, issuer: str, audience: str | Sequence[str], jwks: JwksCache,
                 mapping: ClaimsMapping, leeway: float = 30.0,
                 algorithms: Sequence[str] = ASYMMETRIC, cache_size: int = 10_000) -> None:
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.jwks = jwks
        self.mapping = mapping
        self.leeway = leeway
        self.algorithms = _check_algorithms(algorithms)
        self.cache_size = cache_size
        #: Tokens verified before: token -> (its caller, until when (``exp``)).
        self.verified_tokens: dict[str, tuple[UserContext, float]] = {}
        self._keys: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}

    async def __call__(self, token: str | None, headers: Mapping[str, str]) -> UserContext:
        if not token:
            raise Unauthenticated("a bearer token is required")
        user = self.cached(token)
        if user is not None:
            return user
        user = await self.verify(token)
        self._remember(token, user)
        return user

    def cached(self, token: str) -> UserContext | None:
        """The caller of a token verified before and not expired since, or None (no I/O)."""
        hit = self.verified_tokens.get(token)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        return None

    async def verify(self, token: str) -> UserContext:
        """Check a token fully (no cache): its caller, or Unauthenticated."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthenticated(f"tokens signed with {alg!r} are not accepted")
        kid = header.get("kid")
        jwk = await self.jwks.key(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(token, self._key(jwk, alg), algorithms=[alg],
                                audience=self.audience, issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf/iat)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        return self.mapping.user(claims)

    def _key(self, jwk: dict[str, Any], alg: str) -> Any:
        """The verification key of ``jwk`` for ``alg``; the key's type (and its own ``alg``,
        when it names one) must fit."""
        if jwk.get("alg") not in (None, alg) or jwk.get("kty") != KEY_TYPES.get(alg[:2]):
            raise Unauthenticated(f"the signing key does not fit the token's algorithm {alg}")
        cache_key = (str(jwk.get("kid", "")), alg)
        cached = self._keys.get(cache_key)
        if cached is not None and cached[0] is jwk:
            return cached[1]
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the issuer's key cannot be used: {exc}") from None
        self._keys[cache_key] = (jwk, key)
        return key

    def _remember(self, token: str, user: UserContext) -> None:
        exp = user.claims.get("exp")
        if not isinstance(exp, int | float):
            return
        if len(self.verified_tokens) >= self.cache_size:
            now = time.time()
            for stale in [d for d, (_, until) in self.verified_tokens.items() if until <= now]:
                del self.verified_tokens[stale]
            while len(self.verified_tokens) >= self.cache_size:
                del self.verified_tokens[next(iter(self.verified_tokens))]
        self.verified_tokens[token] = (user, float(exp))


def configure_oidc(
    app: App,
    *,
    audience: str | Sequence[str] | None = None,
    jwks_url: str | None = None,
    required_scopes: Sequence[str] | None = None,
    issuer: str | None = None,
    tenant_claims: Sequence[str] = DEFAULT_TENANT_CLAIMS,
    roles_claim: str | None = "roles",
    scope_roles: Mapping[str, Sequence[str]] | None = None,
    leeway: float = 30.0,
    algorithms: Sequence[str] = ASYMMETRIC,
    jwks_cache_ttl: float = 300.0,
    jwks_min_refresh_interval: float = 30.0,
    token_cache_size: int = 10_000,
    public_paths: Sequence[str] = (),
    resource: str | None = None,
) -> OidcVerifier:
    """Require OIDC bearer tokens on every transport of ``app``.

    ``issuer`` defaults to ``App(oidc_issuer=...)`` (``FASTAGENTIC_OIDC_ISSUER``), ``audience``
    and ``jwks_url`` to their settings too; without ``jwks_url`` the keys are found through the
    issuer's ``/.well-known/openid-configuration``.  ``required_scopes`` must all be held by
    every caller, API keys included (else 403 ``insufficient_scope``).  ``tenant_claims``,
    ``roles_claim`` and ``scope_roles`` say how claims map to the ``UserContext`` (see
    ``auth.claims``).
    ``public_paths`` are reachable without a token (besides health, docs and the agent cards).
    Returns the verifier (``verifier.jwks.fetches`` counts key fetches).
    """
    settings = app.settings
    issuer = issuer or settings.oidc_issuer
    audience = audience or settings.oidc_audience
    if not issuer:
        raise ConfigurationError("configure_oidc needs the issuer: App(oidc_issuer=...), "
                                 "FASTAGENTIC_OIDC_ISSUER or issuer=...")
    if not audience:
        raise ConfigurationError("configure_oidc needs the audience your tokens are issued "
                                 "for: audience=... or FASTAGENTIC_OIDC_AUDIENCE")
    if leeway < 0 or jwks_cache_ttl <= 0 or jwks_min_refresh_interval < 0 \
            or token_cache_size < 1:
        raise ConfigurationError("configure_oidc: leeway, jwks_min_refresh_interval >= 0; "
                                 "jwks_cache_ttl > 0; token_cache_size >= 1")
    scopes = list(required_scopes if required_scopes is not None
                  else settings.oidc_required_scopes)
    jwks = JwksCache(issuer, jwks_url or settings.oidc_jwks_url, ttl=jwks_cache_ttl,
                     min_refresh_interval=jwks_min_refresh_interval)
    mapping = ClaimsMapping(tenant_claims=tuple(tenant_claims), roles_claim=roles_claim,
                            scope_roles={k: tuple(v) for k, v in (scope_roles or {}).items()})
    verifier = OidcVerifier(issuer=issuer, audience=audience, jwks=jwks, mapping=mapping,
                            leeway=leeway, algorithms=algorithms, cache_size=token_cache_size)
    app.require_auth(verifier, authorization_servers=[issuer], scopes=scopes,
                     required_scopes=scopes, resource=resource, public_paths=list(public_paths))
    app.auth.oidc = verifier
    return verifier
