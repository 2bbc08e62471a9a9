"""Tenants mapped to their own stores: a tenant's runs, events, checkpoints, ledger and adapter
state are in its store and nowhere else; the routing store passes the store contract."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import running_client
from pydantic import BaseModel

from fastagentic import App, RunContext, UserContext
from fastagentic.auth.base import Unauthenticated
from fastagentic.stores.memory import MemoryStore
from fastagentic.stores.tenants import TenantStores
from fastagentic.testing.store_contract import CHECKS, Check, check_id

USERS = {"a": UserContext(user="ann", tenant="acme"), "g": UserContext(user="gus",
                                                                       tenant="globex"),
         "n": UserContext(user="nobody")}


async def by_token(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token not in USERS:
        raise Unauthenticated("unknown token")
    return USERS[token]


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_routing_store_passes_the_contract(check: Check) -> None:
    store = TenantStores(MemoryStore(), {"acme": MemoryStore(), "globex": MemoryStore()})
    await store.open()
    try:
        await check(store)
    finally:
        await store.close()


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


class Note(BaseModel):
    text: str


async def test_each_tenants_runs_live_in_its_own_store(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.db" for name in ("main", "acme", "globex")}

    def make() -> App:
        app = App(durable_store=f"sqlite:///{files['main']}", tenant_stores={
            "acme": f"sqlite:///{files['acme']}", "globex": f"sqlite:///{files['globex']}"})
        app.require_auth(by_token)

        @app.agent_endpoint("/note")
        async def note(body: Note, ctx: RunContext) -> str:
            await ctx.store.kv_put("adapter.state", ctx.run_id, {"text": body.text})
            await ctx.checkpoint({"text": body.text})
            return body.text.upper()

        return app

    ids = {}
    async with running_client(make()) as client:
        for token in USERS:
            done = (await client.post("/note", json={"text": f"from {token}"},
                                      headers={"Authorization": f"Bearer {token}"})).json()
            assert done["status"] == "completed", done
            ids[token] = done["run_id"]

    def run_ids(name: str) -> set[str]:
        return {r[0] for r in rows(files[name], "SELECT id FROM fa_runs")}

    assert run_ids("acme") == {ids["a"]}
    assert run_ids("globex") == {ids["g"]}
    assert run_ids("main") == {ids["n"]}
    for name, token in (("acme", "a"), ("globex", "g"), ("main", "n")):
        db = files[name]
        assert {r[0] for r in rows(db, "SELECT DISTINCT run_id FROM fa_events")} == \
            {ids[token]}
        assert {r[0] for r in rows(db, "SELECT run_id FROM fa_checkpoints")} == {ids[token]}
        assert {r[0] for r in rows(db, "SELECT key FROM fa_kv WHERE namespace = "
                                       "'adapter.state'")} == {ids[token]}

    # A new process (a new App on the same files) finds every run by its id.
    async with running_client(make()) as client:
        for token, run_id in ids.items():
            auth = {"Authorization": f"Bearer {token}"}
            run = (await client.get(f"/runs/{run_id}", headers=auth)).json()
            assert run["output"] == f"FROM {token.upper()}"
            listed = (await client.get("/runs", headers=auth)).json()["runs"]
            assert [r["run_id"] for r in listed] == [run_id]
        other = await client.get(f"/runs/{ids['a']}", headers={"Authorization": "Bearer g"})
        assert other.status_code == 404
