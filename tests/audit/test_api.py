"""``GET /audit``: admins read the log (their own tenant's entries), page by page; others get
403, and every read is itself recorded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conftest import running_client

from fastagentic import App
from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext

# Bearer tokens of the test: "<user>@<tenant>" ("-" for no tenant), "+admin" for the role.
USERS = {"alice@acme": ("alice", "acme", False), "bob@globex": ("bob", "globex", False),
         "root@acme+admin": ("root", "acme", True), "ops@-+admin": ("ops", None, True)}


async def by_token(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token not in USERS:
        raise Unauthenticated("unknown token")
    user, tenant, admin = USERS[token]
    return UserContext(user=user, tenant=tenant, roles=frozenset({"admin"} if admin else ()),
                       claims={"sub": user})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_app(**settings: Any) -> App:
    app = App(durable_store="memory://", **settings)

    @app.tool
    def add(a: int, b: int) -> int:
        return a + b

    app.require_auth(by_token)
    return app


async def test_admins_read_their_tenants_entries_page_by_page() -> None:
    app = make_app(audit=True)
    async with running_client(app) as client:
        for token in ["alice@acme", "bob@globex", "alice@acme", "bob@globex", "alice@acme"]:
            assert (await client.post("/tools/add", json={"a": 1, "b": 2},
                                      headers=auth(token))).status_code == 200
        refused = await client.get("/audit", headers=auth("alice@acme"))
        tenant_admin = (await client.get("/audit", headers=auth("root@acme+admin"))).json()
        everything = (await client.get("/audit", headers=auth("ops@-+admin"))).json()
        first = (await client.get("/audit", params={"limit": 2, "action": "tool.*"},
                                  headers=auth("ops@-+admin"))).json()
        second = (await client.get("/audit", params={
            "limit": 2, "action": "tool.*", "after_seq": first["next_after_seq"]},
            headers=auth("ops@-+admin"))).json()
        bad = await client.get("/audit", params={"limit": 0}, headers=auth("ops@-+admin"))
    assert refused.status_code == 403
    assert [(e["actor"]["user"], e["action"]) for e in tenant_admin["entries"]] == \
        [("alice", "tool.call")] * 3 + [("alice", "audit.read")]
    assert tenant_admin["next_after_seq"] is None
    users = [e["actor"]["user"] for e in everything["entries"]]
    assert users == ["alice", "bob", "alice", "bob", "alice", "alice", "root"]
    # Every read is recorded, the refused one as a denial.
    reads = [(e["actor"]["user"], e["decision"]) for e in everything["entries"]
             if e["action"] == "audit.read"]
    assert reads == [("alice", "deny"), ("root", "allow")]
    assert [e["seq"] for e in first["entries"]] == [1, 2] and first["next_after_seq"] == 2
    assert [e["seq"] for e in second["entries"]] == [3, 4]
    assert bad.status_code == 400


async def test_not_found_while_the_audit_log_is_off() -> None:
    app = make_app()
    async with running_client(app) as client:
        response = await client.get("/audit", headers=auth("ops@-+admin"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "audit log is off" in response.json()["message"]
