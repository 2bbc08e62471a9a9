"""Policies allow, deny (with a reason) or modify runs at before_run, after_run and
on_checkpoint, identically on REST, MCP and A2A."""

from __future__ import annotations

import json
from typing import Any

import httpx
from conftest import a2a_send, running_client
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.policy import CheckpointDraft, Policy, RunStart, deny, modify

MCP_HEADERS = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}


class Ask(BaseModel):
    question: str


def make_app(store: str) -> App:
    app = App(durable_store=store)

    @app.agent_endpoint("/echo", mcp_tool="echo")
    async def echo(body: Ask, ctx: RunContext) -> str:
        await ctx.checkpoint({"question": body.question, "card": "4111 1111 1111 1111"},
                             {"step": 1})
        return f"you asked: {body.question}"

    return app


async def mcp_call(client: httpx.AsyncClient, name: str, arguments: dict[str, Any]
                   ) -> dict[str, Any]:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}}
    r = await client.post("/mcp", content=json.dumps(init), headers=MCP_HEADERS)
    session = {"Mcp-Session-Id": r.headers["mcp-session-id"], **MCP_HEADERS}
    await client.post("/mcp", headers=session, content=json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/initialized"}))
    r = await client.post("/mcp", headers=session, content=json.dumps(
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": name, "arguments": arguments}}))
    return r.json()


async def test_before_run_denies_with_its_reason_on_every_transport(store_url: str) -> None:
    app = make_app(store_url)
    seen: list[tuple[str, str]] = []

    @app.before_run
    def no_secrets(start: RunStart) -> Any:
        seen.append((start.transport, start.endpoint))
        if "password" in start.arguments["question"]:
            return deny("questions must not contain passwords")
        return None

    async with running_client(app) as client:
        rest = await client.post("/echo", json={"question": "my password is x"})
        assert rest.status_code == 403
        assert rest.json()["code"] == "policy_denied"
        assert "questions must not contain passwords" in rest.json()["message"]

        mcp = await mcp_call(client, "echo", {"question": "password?"})
        assert "questions must not contain passwords" in json.dumps(mcp)
        assert "result" not in mcp or mcp["result"].get("isError"), mcp

        a2a = (await client.post("/a2a", json=a2a_send("password please"),
                                 headers={"A2A-Version": "1.0"})).json()
        assert a2a["error"]["code"] == -32011, a2a
        assert "questions must not contain passwords" in a2a["error"]["message"]

        assert (await client.get("/runs")).json()["runs"] == [], "no run was created"
        ok = await client.post("/echo", json={"question": "hello"})
        assert ok.json()["output"] == "you asked: hello"
        assert {t for t, _ in seen} >= {"rest", "mcp", "a2a"}


async def test_modify_arguments_output_and_checkpoint(store_url: str) -> None:
    app = make_app(store_url)

    class Redact(Policy):
        name = "redact"

        async def before_run(self, start: RunStart) -> Any:
            return modify(arguments={"question": start.arguments["question"].upper()})

        async def after_run(self, run: Any, output: Any) -> Any:
            return modify(output=output.replace("HELLO", "[greeting]"))

        async def on_checkpoint(self, run: Any, draft: CheckpointDraft) -> Any:
            return modify(state={**draft.state, "card": "[redacted]"},
                          metadata={**draft.metadata, "redacted": True})

    app.add_policy(Redact())
    async with running_client(app) as client:
        done = (await client.post("/echo", json={"question": "hello"})).json()
        assert done["output"] == "you asked: [greeting]"
        run = (await client.get(f"/runs/{done['run_id']}")).json()
        assert run["input"] == {"question": "HELLO"}, "the stored input is the modified one"
        checkpoint = await app.store.latest_checkpoint(done["run_id"])
        assert checkpoint.state == {"question": "HELLO", "card": "[redacted]"}
        assert checkpoint.metadata == {"step": 1, "redacted": True}


async def test_after_run_and_on_checkpoint_denials_fail_the_run(store_url: str) -> None:
    app = make_app(store_url)

    @app.on_checkpoint
    def no_cards(run: Any, draft: CheckpointDraft) -> Any:
        if "card" in draft.state and run.input["question"] == "store it":
            return deny("card numbers must not be stored")
        return None

    @app.after_run
    async def no_leaks(run: Any, output: str) -> Any:
        return deny("the answer leaks the question") if "leak" in output else None

    async with running_client(app) as client:
        stored = (await client.post("/echo", json={"question": "store it"})).json()
        assert stored["status"] == "failed"
        assert stored["error"]["code"] == "policy_denied"
        assert "card numbers must not be stored" in stored["error"]["message"]
        assert await app.store.latest_checkpoint(stored["run_id"]) is None

        leaked = (await client.post("/echo", json={"question": "leak"})).json()
        assert leaked["status"] == "failed" and leaked["output"] is None
        assert "leaks the question" in leaked["error"]["message"]

        fine = (await client.post("/echo", json={"question": "fine"})).json()
        assert fine["status"] == "completed"


def test_add_policy_takes_policy_objects_only() -> None:
    import pytest

    from fastagentic.exceptions import ConfigurationError

    app = make_app("memory://")
    with pytest.raises(ConfigurationError):
        app.add_policy(object())  # type: ignore[arg-type]
