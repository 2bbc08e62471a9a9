"""From verified token claims to the ``UserContext`` every transport hands to your code.

* user: ``sub``;
* tenant: the first present of ``tenant_claims`` (default ``tenant_id``, then ``org_id``);
* scopes: ``scope`` (space separated) or ``scp`` (a list, or space separated);
* roles: the ``roles_claim`` (a list or a space-separated string; a dotted path such as
  ``realm_access.roles`` reaches into nested claims), plus the roles ``scope_roles`` grants
  for the scopes the token carries;
* claims: every claim, as verified.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.context import UserContext
from .base import Unauthenticated

DEFAULT_TENANT_CLAIMS = ("tenant_id", "org_id")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple | set | frozenset):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


def _lookup(claims: Mapping[str, Any], path: str) -> Any:
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True, slots=True)
class ClaimsMapping:
    """How claims become a ``UserContext`` (``configure_oidc`` builds one from its options)."""

    tenant_claims: Sequence[str] = DEFAULT_TENANT_CLAIMS
    roles_claim: str | None = "roles"
    #: ``{"scope": ["role", ...]}``: roles granted by scopes the caller holds.
    scope_roles: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        scope = claims.get("scope")
        return frozenset(_names(scope if scope is not None else claims.get("scp")))

    def roles(self, claims: Mapping[str, Any], scopes: Iterable[str]) -> frozenset[str]:
        roles = set(_names(_lookup(claims, self.roles_claim))) if self.roles_claim else set()
        for scope in scopes:
            roles.update(self.scope_roles.get(scope, ()))
        return frozenset(roles)

    def tenant(self, claims: Mapping[str, Any]) -> str | None:
        for name in self.tenant_claims:
            value = _lookup(claims, name)
            if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                return str(value)
        return None

    def user(self, claims: Mapping[str, Any]) -> UserContext:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token has no subject (sub)")
        scopes = self.scopes(claims)
        return UserContext(user=subject, tenant=self.tenant(claims), scopes=scopes,
                           roles=self.roles(claims, scopes), claims=dict(claims))
