"""The audit stage through a running app: every invocation on every transport becomes one
entry, in order, with its actor and decision; refusals are ``deny``, user-code failures
``error``; no credentials and (by default) no argument values are stored."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_client, wait_for
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from fastagentic import App, RunContext
from fastagentic.audit.integrity import verify
from fastagentic.auth.base import InsufficientScope, Unauthenticated
from fastagentic.core.context import UserContext
from fastagentic.exceptions import (
    BudgetExceeded,
    Forbidden,
    PolicyDenied,
    QuotaExceeded,
    RateLimited,
    ToolError,
)

from .helpers import read_url, stored

SECRET_TOKEN = "alice-secret-token-4f1c9e"


async def known_tokens(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token != SECRET_TOKEN:
        raise Unauthenticated("unknown token")
    return UserContext(user="alice", tenant="acme", scopes=frozenset({"tools", "runs"}),
                       roles=frozenset({"analyst"}), claims={"sub": "alice"})


def make_app(store: str, **settings: Any) -> App:
    app = App(durable_store=store, audit=True, **settings)

    @app.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.tool
    def wire_money(account: str, amount: float) -> str:
        """Refused by the test's policy stage."""
        return "sent"

    @app.tool
    def jammed(reason: str) -> str:
        raise ToolError(f"jammed: {reason}")

    @app.tool
    def crashes(secret_note: str) -> str:
        raise ValueError(f"bug while handling {secret_note}")

    @app.use
    async def no_wires(call: Any, call_next: Any) -> Any:
        if call.spec.name == "wire_money":
            raise PolicyDenied("wires need a second approver")
        return await call_next(call)

    return app


def summary(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry["seq"], entry["action"], entry["context"]["transport"],
            entry["context"].get("tool"), entry["decision"])


async def test_rest_mcp_and_a_refused_call_are_recorded_in_order(tmp_path: Path,
                                                                  live_server: Any) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    app = make_app(url)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.post("/tools/add", json={"a": 2, "b": 3})).json() == \
                {"result": 5}
            async with streamable_http_client(server.url + "/mcp") as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool("add", {"a": 4, "b": 5})
                assert result.structured_content == {"result": 9}
            refused = await http.post("/tools/wire_money",
                                      json={"account": "DE89 3704", "amount": 10.5})
            assert refused.status_code == 403
    entries, report = await read_url(url)
    assert [summary(e) for e in entries] == [
        (1, "tool.call", "rest", "add", "allow"),
        (2, "tool.call", "mcp", "add", "allow"),
        (3, "tool.call", "rest", "wire_money", "deny"),
    ]
    assert report.ok and report.entries == 3 and report.head == (3, entries[-1]["hash"])
    assert all(e["actor"] == {"kind": "anonymous", "tenant": None, "user": "anonymous"}
               for e in entries)
    denied = entries[2]
    assert denied["reason"] == "wires need a second approver"
    assert denied["context"] == {"transport": "rest", "tool": "wire_money",
                                 "arguments": ["account", "amount"], "error": "policy_denied"}
    assert entries[0]["prev"] == "0" * 64
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert datetime.strptime(entries[0]["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC) <= datetime.now(UTC)


async def test_authenticated_actor_runs_and_tools_inside_runs(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'audit.db'}")
    app.require_auth(known_tokens)

    @app.agent_endpoint("/sum")
    async def summing(a: int, b: int, ctx: RunContext) -> int:
        return await ctx.call_tool("add", {"a": a, "b": b})

    bearer = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    async with running_client(app) as client:
        assert (await client.post("/tools/add", json={"a": 1, "b": 1},
                                  headers=bearer)).status_code == 200
        started = await client.post("/sum", json={"a": 2, "b": 2},
                                    headers={**bearer, "Idempotency-Key": "k1"})
        run_id = started.json()["run_id"]
        again = await client.post("/sum", json={"a": 2, "b": 2},
                                  headers={**bearer, "Idempotency-Key": "k1"})
        assert again.json()["run_id"] == run_id

        async def settled() -> list[dict[str, Any]]:
            found = await stored(app.store)
            inside = [e for e in found if e["context"].get("transport") == "run"]
            return found if inside else []

        entries = await wait_for(settled)
        raw = sqlite3.connect(tmp_path / "audit.db").execute(
            "SELECT group_concat(doc) FROM fa_kv WHERE namespace = 'audit'").fetchone()[0]
    alice = {"kind": "user", "tenant": "acme", "user": "alice"}
    assert {e["actor"]["user"] for e in entries} == {"alice"}
    tool, start = entries[:2]
    assert (tool["action"], tool["actor"], tool["decision"]) == ("tool.call", alice, "allow")
    assert tool["context"] == {"transport": "rest", "tool": "add", "arguments": ["a", "b"],
                               "scopes": ["runs", "tools"], "roles": ["analyst"]}
    assert (start["action"], start["run_id"], start["actor"]) == ("run.start", run_id, alice)
    assert start["context"]["endpoint"] == "sum" and "replayed" not in start["context"]
    # The run executes while the replay is being answered: their entries come in either order.
    (replay,) = [e for e in entries[2:] if e["action"] == "run.start"]
    assert (replay["run_id"], replay["context"]["replayed"]) == (run_id, True)
    # The tool the run called, on the run's behalf.
    (inner,) = [e for e in entries if e["context"].get("transport") == "run"]
    assert (inner["action"], inner["run_id"], inner["actor"]) == ("tool.call", run_id, alice)
    assert SECRET_TOKEN not in raw


async def test_service_account_actor(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'audit.db'}")
    app.require_auth(known_tokens)
    async with running_client(app) as client:
        key, info = await app.api_keys.create("billing-bot", tenant="acme", scopes=["tools"])
        response = await client.post("/tools/add", json={"a": 1, "b": 2},
                                     headers={"X-API-Key": key})
        assert response.status_code == 200
        entries = await stored(app.store)
    assert entries[-1]["actor"] == {"api_key": info.id, "kind": "service", "tenant": "acme",
                                    "user": "billing-bot"}
    assert key not in str(entries)


@pytest.mark.parametrize(("error", "code"), [
    (Forbidden("needs role admin"), "forbidden"),
    (InsufficientScope(["admin:write"]), "insufficient_scope"),
    (RateLimited("10 per minute", retry_after=3), "rate_limited"),
    (QuotaExceeded("100 runs per day", retry_after=60), "quota_exceeded"),
    (BudgetExceeded("tenant budget of 5 USD spent"), "budget_exceeded"),
])
async def test_every_governance_refusal_is_a_denial(error: Exception, code: str) -> None:
    app = make_app("memory://")

    @app.use
    async def refuse(call: Any, call_next: Any) -> Any:
        raise error

    async with running_client(app) as client:
        response = await client.post("/tools/add", json={"a": 1, "b": 2})
        entries = await stored(app.store)
    assert response.status_code == error.status  # type: ignore[attr-defined]
    (entry,) = entries
    assert (entry["decision"], entry["context"]["error"]) == ("deny", code)
    assert entry["reason"] == error.message  # type: ignore[attr-defined]


async def test_the_built_in_checks_decide_inside_the_audited_call() -> None:
    """Authorization and the rate limit run in the audit stage's frame (``stage_with``): what
    they pass is recorded ``allow``, what they refuse ``deny`` with their code, whichever
    check refuses and whether it decided fast or in its stage."""
    app = make_app("memory://")
    app.require_auth(known_tokens)
    app.rate_limit("2/minute", per="user", endpoints=["add"])

    @app.tool(scopes=["admin"])
    def purge() -> str:
        return "purged"

    bearer = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    async with running_client(app) as client:
        statuses = [(await client.post("/tools/add", json={"a": 1, "b": n}, headers=bearer)
                     ).status_code for n in range(3)]
        statuses.append((await client.post("/tools/purge", json={}, headers=bearer)).status_code)
        statuses.append((await client.post("/tools/jammed", json={"reason": "x"},
                                           headers=bearer)).status_code)
        entries = await stored(app.store)
    assert statuses == [200, 200, 429, 403, 400]
    # A refusing check records its own entry first, then the call's entry says how it ended.
    assert [(e["action"], e["decision"], e["context"].get("tool"),
             e["context"].get("error") or e["context"].get("code")) for e in entries] == [
        ("tool.call", "allow", "add", None), ("tool.call", "allow", "add", None),
        ("rate.limit", "deny", None, None), ("tool.call", "deny", "add", "rate_limited"),
        ("auth.fail", "deny", None, "insufficient_scope"),
        ("tool.call", "deny", "purge", "insufficient_scope"),
        ("tool.call", "error", "jammed", "tool_error")]
    assert {e["actor"]["user"] for e in entries} == {"alice"}


async def test_user_code_failures_are_errors_without_their_message() -> None:
    app = make_app("memory://")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # the 500 as served
    async with app.running(), httpx.AsyncClient(transport=transport,
                                                base_url="http://test") as client:
        jammed = await client.post("/tools/jammed", json={"reason": "gears"})
        crashed = await client.post("/tools/crashes", json={"secret_note": "ssn 123-45-6789"})
        entries = await stored(app.store)
    assert (jammed.status_code, crashed.status_code) == (400, 500)
    assert [(e["decision"], e["reason"], e["context"]["error"]) for e in entries] == [
        ("error", None, "tool_error"), ("error", None, "ValueError")]
    assert "123-45-6789" not in str(entries)


@pytest.mark.parametrize("mode", ["names", "hash", "full"])
async def test_what_is_kept_of_the_arguments(mode: str) -> None:
    app = make_app("memory://", audit_arguments=mode)
    async with running_client(app) as client:
        await client.post("/tools/wire_money", json={"account": "DE89 3704", "amount": 10.5})
        await client.post("/tools/wire_money", json={"amount": 10.5, "account": "DE89 3704"})
        await client.post("/tools/wire_money", json={"account": "FR76 3000", "amount": 10.5})
        entries = await stored(app.store)
    contexts = [e["context"] for e in entries]
    if mode == "names":
        assert [c["arguments"] for c in contexts] == [["account", "amount"]] * 3
        assert "DE89" not in str(entries)
    elif mode == "hash":
        same, reordered, other = (c["arguments_sha256"] for c in contexts)
        assert same == reordered != other and len(same) == 64
        assert "DE89" not in str(entries)
    else:
        assert contexts[0]["arguments"] == {"account": "DE89 3704", "amount": 10.5}


async def test_record_keeps_any_context_as_json_and_the_chain_holds() -> None:
    app = App(durable_store="memory://", audit=True)
    async with app.running():
        entry = await app.audit.record(
            "budget.downgrade", actor=UserContext(user="bob", tenant="t2"),
            decision="downgrade", reason="tenant budget at 92%",
            context={"z": (1, 2), "a": {"y": math.nan, "b": 0.1}, "model": "gpt-4o"},
            run_id="run_1")
        system = await app.audit.record("checkpoint.write", context={"checkpoint": "cp-3"})
        entries = await stored(app.store)
        report = await verify(app.store)
    assert entry is not None and entries[0] == entry
    assert entry["context"] == {"a": {"b": 0.1, "y": "NaN"}, "model": "gpt-4o", "z": [1, 2]}
    assert (entry["seq"], entry["run_id"], entry["decision"]) == (1, "run_1", "downgrade")
    assert system is not None and system["actor"]["kind"] == "system"
    assert report.ok and report.entries == 2


async def test_off_by_default_and_on_from_settings_at_startup() -> None:
    app = make_app("memory://")
    app.settings.audit = False
    async with running_client(app) as client:
        await client.post("/tools/add", json={"a": 1, "b": 2})
        assert await app.audit.record("run.finish") is None
        assert await stored(app.store) == []
    app.settings.audit = True  # e.g. FASTAGENTIC_AUDIT=1 read after the App was built
    async with running_client(app) as client:
        await client.post("/tools/add", json={"a": 1, "b": 2})
        assert [e["action"] for e in await stored(app.store)] == ["tool.call"]
