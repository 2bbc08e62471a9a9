"""Delegation through the AgentRegistry: in process (an agent endpoint of the same app) and
over A2A (a real a2a-sdk server in a subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import running_client

from fastagentic import App, RunContext
from fastagentic.a2a.client import (
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from fastagentic.a2a.registry import AgentRegistry, DelegationResult
from fastagentic.core.context import CallContext, UserContext
from fastagentic.core.pipeline import Invocation
from fastagentic.exceptions import ConfigurationError, NotFound, TaskRejected

from .sdk_echo_server import subprocess_server

TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "tracestate": "vendor=1"}


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[str]:
    with subprocess_server() as base:
        yield base


def make_app() -> tuple[App, AgentRegistry]:
    app = App(title="delegating", version="1.0.0", durable_store="memory://")
    registry = AgentRegistry(app)

    @app.tool
    def lookup(order: int) -> str:
        """Finds an order."""
        return f"order {order} shipped"

    @app.agent_endpoint("/child", a2a_skill="helper")
    async def child(text: str, ctx: RunContext) -> str:
        await ctx.token("thinking ")
        found = await ctx.call_tool("lookup", {"order": 42}, call_id="lookup-1")
        await ctx.add_cost({"input": 3, "output": 4}, {"usd": 0.5}, model="m")
        return f"{text}: {found}"

    @app.agent_endpoint("/asker")
    async def asker(ctx: RunContext) -> str:
        name = await ctx.ask("What is your name?")
        return f"hello, {name}"

    @app.agent_endpoint("/rejects")
    async def rejects(text: str) -> str:
        raise TaskRejected("not my job")

    @app.agent_endpoint("/numbers")
    async def numbers(a: int, b: int) -> dict:
        return {"sum": a + b}

    @app.agent_endpoint("/parent")
    async def parent(agent: str, text: str, ctx: RunContext) -> dict:
        await ctx.token("asking ")
        result = await registry.delegate(ctx, agent, text, metadata={"why": "test"})
        await ctx.token("done")
        return {"result": result.to_dict(), "streamed": ctx.streamed_text,
                "labels": dict(ctx.labels)}

    @app.agent_endpoint("/conversation")
    async def conversation(ctx: RunContext) -> list:
        first = await registry.delegate(ctx, "asker", "hi")
        second = await registry.delegate(ctx, "asker", "Ada", task_id=first.task_id,
                                         context_id=first.context_id)
        try:
            await registry.delegate(ctx, "asker", "again", task_id=first.task_id)
        except UnsupportedOperationError as exc:
            late = exc.message
        try:
            await registry.delegate(ctx, "helper", "other agent", task_id=first.task_id)
        except TaskNotFoundError as exc:
            late += " / " + exc.message
        return [first.to_dict(), second.to_dict(), late]

    @app.agent_endpoint("/twice")
    async def twice(ctx: RunContext) -> list:
        results = [await registry.delegate(ctx, "helper", "once", idempotency_key="k-1")
                   for _ in range(2)]
        return [r.task_id for r in results]

    @app.agent_endpoint("/misuse")
    async def misuse(ctx: RunContext) -> list:
        problems = []
        for agent, message in (("numbers", "not numbers"), ("nobody", "hi")):
            try:
                await registry.delegate(ctx, agent, message)
            except (InvalidParamsError, NotFound) as exc:
                problems.append(type(exc).__name__)
        result = await registry.delegate(ctx, "numbers", {"a": 2, "b": 3})
        problems.append(result.output)
        return problems

    return app, registry


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    assert r.status_code == 200
    return r.json()["events"]


async def start(client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


# in process


async def test_in_process_delegation_nests_the_child_events_in_the_parent_log():
    app, _ = make_app()
    async with running_client(app) as client:
        answer = await start(client, "/parent", {"agent": "helper", "text": "where is it"})
        assert answer["status"] == "completed"
        result = DelegationResult.from_dict(answer["output"]["result"])
        assert result.state == "completed" and result.ok
        assert result.output == "where is it: order 42 shipped"
        assert result.agent == "helper" and result.task_id.startswith("run_")
        assert result.error is None and result.context_id
        assert [a["artifactId"] for a in result.artifacts] == ["stream", "result"]
        # Nested tokens are not the parent's text.
        assert answer["output"]["streamed"] == "asking done"

        parent_events = await events_of(client, answer["run_id"])
        child_events = await events_of(client, result.task_id)
        kinds = [(e["type"], e.get("node")) for e in parent_events]
        assert kinds == [
            ("run_started", None), ("status", None), ("token", None),
            ("node_start", "delegate:helper"),
            ("token", None), ("tool_call", None), ("tool_result", None), ("cost", None),
            ("node_end", "delegate:helper"),
            ("token", None), ("done", None)]
        nested = [e for e in parent_events if "delegate" in e]
        info = {"agent": "helper", "task_id": result.task_id}
        assert nested[0]["delegate"] == info and nested[-1]["delegate"] == {
            **info, "state": "completed"}
        assert nested[-1]["state"] == "completed"
        assert nested[-1]["result"] == result.output
        # Each nested event is the child's, with the child's seq.
        by_seq = {e["seq"]: e for e in child_events}
        for event in nested[1:-1]:
            assert event["delegate"]["agent"] == "helper"
            assert event["delegate"]["task_id"] == result.task_id
            original = by_seq[event["delegate"]["seq"]]
            assert original["type"] == event["type"]
            assert {k: v for k, v in event.items()
                    if k not in ("run_id", "seq", "ts", "delegate")} \
                == {k: v for k, v in original.items() if k not in ("run_id", "seq", "ts")}
        assert nested[1]["content"] == "thinking "
        assert nested[2]["tool"] == "lookup" and nested[3]["output"] == "order 42 shipped"

        child = (await client.get(f"/runs/{result.task_id}")).json()
        assert child["endpoint"] == "child" and child["status"] == "completed"
        assert child["labels"]["parent"] == {"run_id": answer["run_id"], "agent": "parent"}
        assert child["labels"]["a2a"]["skill"] == "helper"
        assert child["labels"]["a2a"]["metadata"] == {"why": "test"}
        assert child["labels"]["a2a"]["message"]["parts"] == [{"text": "where is it"}]
        assert child["user"] == "anonymous"


async def test_an_agent_is_found_by_skill_id_or_endpoint_name():
    app, registry = make_app()
    assert registry.internal("helper") is registry.internal("child") is not None
    assert "helper" in registry and "nobody" not in registry
    assert {"helper", "asker", "parent"} <= set(registry.names())
    async with running_client(app) as client:
        answer = await start(client, "/parent", {"agent": "child", "text": "by name"})
        assert answer["output"]["result"]["output"] == "by name: order 42 shipped"


async def test_input_required_then_answered_with_the_task_id():
    app, _ = make_app()
    async with running_client(app) as client:
        answer = await start(client, "/conversation", {})
        assert answer["status"] == "completed", answer
        first, second, late = answer["output"]
        assert first["state"] == "input_required" and first["output"] is None
        assert first["message"]["role"] == "ROLE_AGENT"
        assert first["message"]["parts"][0] == {"text": "What is your name?"}
        assert second["task_id"] == first["task_id"]
        assert second["context_id"] == first["context_id"]
        assert (second["state"], second["output"]) == ("completed", "hello, Ada")
        assert "not waiting for input" in late
        assert f"agent 'helper' has no task {first['task_id']!r}" in late

        child = (await client.get(f"/runs/{first['task_id']}")).json()
        history = child["labels"]["a2a"]["history"]
        assert [m["role"] for m in history] == ["ROLE_USER", "ROLE_AGENT", "ROLE_USER"]
        ends = [e for e in await events_of(client, answer["run_id"])
                if e["type"] == "node_end"]
        assert [e["state"] for e in ends] == ["input_required", "completed"]


async def test_an_idempotency_key_attaches_to_the_task_it_started():
    app, _ = make_app()
    async with running_client(app) as client:
        answer = await start(client, "/twice", {})
        first, second = answer["output"]
        assert first == second
        runs = (await client.get("/runs", params={"endpoint": "child"})).json()["runs"]
        assert [r["run_id"] for r in runs] == [first]
        ends = [e for e in await events_of(client, answer["run_id"]) if e["type"] == "node_end"]
        assert len(ends) == 2  # both calls saw the task's events and its end


async def test_a_rejected_child_is_a_result_not_an_error():
    app, _ = make_app()
    async with running_client(app) as client:
        answer = await start(client, "/parent", {"agent": "rejects", "text": "x"})
        result = answer["output"]["result"]
        assert result["state"] == "rejected"
        assert result["error"]["code"] == "rejected"
        assert result["message"]["parts"] == [{"text": "not my job"}]


async def test_bad_arguments_and_unknown_agents_raise_in_the_caller():
    app, _ = make_app()
    async with running_client(app) as client:
        answer = await start(client, "/misuse", {})
        assert answer["output"] == ["InvalidParamsError", "NotFound", {"sum": 5}]


async def test_remote_names_cannot_shadow_this_apps_agents():
    _, registry = make_app()
    with pytest.raises(ConfigurationError):
        registry.add_remote("helper", "http://127.0.0.1:1")
    registry.add_remote("far", "http://127.0.0.1:1")
    with pytest.raises(ConfigurationError):
        registry.add_remote("far", "http://127.0.0.1:2")
    assert "far" in registry


# over A2A (an a2a-sdk agent)


async def parent_run(app: App, text: str, labels: dict[str, Any] | None = None) -> str:
    spec = app.registry.agents["parent"]
    model = spec.signature.validate_python({"agent": "echo", "text": text})
    context = CallContext(user=UserContext(user="alice", tenant="acme"), transport="test")
    run, _ = await app.pipeline.invoke(Invocation(spec, model, context,
                                                  options={"labels": labels or {}}))
    return run.id


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_delegating_to_an_external_agent_streams_its_events_in(sdk_server: str,
                                                                     binding: str):
    app, registry = make_app()
    registry.add_remote("echo", sdk_server, binding=binding)
    async with app.running():
        run_id = await parent_run(app, "hello there")
        run = await app.engine.wait_settled(run_id)
        assert run.status == "completed", run.error
        result = DelegationResult.from_dict(run.output["result"])
        assert (result.state, result.output) == ("completed", "echo:hello there")
        assert result.artifacts[0]["parts"] == [{"text": "echo:"}, {"text": "hello there"}]
        assert result.context_id and result.task_id
        assert run.output["streamed"] == "asking done"

        events = [e.to_dict() for e in await app.store.read_events(run_id, 0, 100)]
        nested = [e for e in events if "delegate" in e]
        assert [(e["type"], e.get("node")) for e in nested] == [
            ("node_start", "delegate:echo"),
            ("node_start", "echo:working"),
            ("token", None), ("token", None),
            ("node_start", "echo:completed"),
            ("node_end", "delegate:echo")]
        assert all(e["delegate"]["task_id"] == result.task_id for e in nested)
        assert [e["content"] for e in nested if e["type"] == "token"] \
            == ["echo:", "hello there"]
        assert nested[2]["delegate"]["artifact_id"] == "a1"
        assert nested[-1]["state"] == "completed"
        await registry.aclose()


async def test_external_delegation_carries_the_trace_and_the_caller(sdk_server: str):
    app, registry = make_app()
    registry.add_remote("echo", sdk_server)
    async with app.running():
        run = await app.engine.wait_settled(await parent_run(app, "headers", {"trace": TRACE}))
        seen = run.output["result"]["output"]
        assert seen["traceparent"] == TRACE["traceparent"]
        assert seen["tracestate"] == TRACE["tracestate"]
        assert seen["a2a-version"] == "1.0"

        run = await app.engine.wait_settled(await parent_run(app, "meta"))
        seen = run.output["result"]["output"]
        assert seen["request"] == {"why": "test", "fastagentic.caller": {
            "user": "alice", "tenant": "acme", "run_id": run.id}}
        await registry.aclose()


async def test_external_results_for_replies_questions_and_failures(sdk_server: str):
    app, registry = make_app()
    registry.add_remote("echo", sdk_server, binding="HTTP+JSON")
    async with app.running():
        async def delegated(text: str) -> dict[str, Any]:
            run = await app.engine.wait_settled(await parent_run(app, text))
            assert run.status == "completed", run.error
            return run.output["result"]

        reply = await delegated("reply pong")
        assert (reply["state"], reply["output"], reply["task_id"]) \
            == ("completed", "reply:pong", None)
        assert reply["message"]["role"] == "ROLE_AGENT"

        asked = await delegated("ask")
        assert asked["state"] == "input_required"
        assert asked["message"]["parts"] == [{"text": "What is your name?"}]

        failed = await delegated("fail")
        assert failed["state"] == "failed"
        assert failed["error"] == {"code": "failed", "message": "it failed"}

        data = await delegated("data")  # no data parts sent: an empty data artifact
        assert data["state"] == "completed"
        await registry.aclose()


async def test_an_unreachable_remote_fails_the_delegation():
    app, registry = make_app()
    registry.add_remote("echo", "http://127.0.0.1:9")
    async with app.running():
        run = await app.engine.wait_settled(await parent_run(app, "hi"))
        assert run.status == "failed"
        assert "no agent card found" in run.error["message"]


# through ctx.delegate and app.agents (exactly once)


async def test_ctx_delegate_runs_the_child_once_across_a_resume():
    app = App(title="once", version="1.0.0", durable_store="memory://")
    calls: list[str] = []

    @app.agent_endpoint("/worker")
    async def worker(text: str, ctx: RunContext) -> str:
        calls.append(text)
        await ctx.token("working ")
        return text.upper()

    @app.agent_endpoint("/boss")
    async def boss(text: str, ctx: RunContext) -> dict:
        result = await ctx.delegate("worker", text)
        ok = await ctx.ask("Ship it?")
        return {"output": result.output, "ok": ok, "state": result.state}

    assert app.agents.internal("worker") is not None
    async with running_client(app) as client:
        r = await client.post("/boss", json={"text": "job"})
        run = r.json()
        assert run["status"] == "input_required", run
        resumed = await client.post(f"/runs/{run['run_id']}/resume", json="yes")
        assert resumed.status_code == 200
        done = await app.engine.wait_settled(run["run_id"])
        assert done.output == {"output": "JOB", "ok": "yes", "state": "completed"}
        assert calls == ["job"]  # the resumed boss got the recorded result

        events = await events_of(client, run["run_id"])
        assert not [e for e in events if "superseded_from_seq" in e]
        nested = [e for e in events if "delegate" in e]
        assert [(e["type"], e.get("node")) for e in nested] == [
            ("node_start", "delegate:worker"), ("token", None), ("node_end", "delegate:worker")]


async def test_cancelling_the_caller_cancels_the_task_it_waits_for():
    import asyncio

    from conftest import wait_for

    app = App(durable_store="memory://")
    started = asyncio.Event()

    @app.agent_endpoint("/slow")
    async def slow(text: str) -> str:
        started.set()
        await asyncio.sleep(60)
        return "too late"

    @app.agent_endpoint("/boss")
    async def boss(text: str, ctx: RunContext) -> str:
        result = await ctx.delegate("slow", text)
        return str(result.output)

    async with running_client(app) as client:
        accepted = await client.post("/boss", json={"text": "go"},
                                     headers={"Prefer": "respond-async"})
        boss_id = accepted.json()["run_id"]
        await asyncio.wait_for(started.wait(), 5)
        child = next(e for e in await events_of(client, boss_id)
                     if e["type"] == "node_start" and "delegate" in e)
        child_id = child["delegate"]["task_id"]
        cancelled = await client.post(f"/runs/{boss_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"

        async def child_status() -> str | None:
            status = (await client.get(f"/runs/{child_id}")).json()["status"]
            return status if status == "cancelled" else None

        assert await wait_for(child_status, timeout=5) == "cancelled"


async def test_cancelling_the_caller_cancels_the_external_task(sdk_server: str):
    from conftest import wait_for

    from fastagentic.a2a import A2AClient

    app = App(durable_store="memory://")
    app.agents.add_remote("far", sdk_server)

    @app.agent_endpoint("/boss")
    async def boss(text: str, ctx: RunContext) -> str:
        result = await ctx.delegate("far", text)
        return str(result.output)

    async with running_client(app) as client, \
            await A2AClient.connect(sdk_server) as sdk:
        accepted = await client.post("/boss", json={"text": "slow please"},
                                     headers={"Prefer": "respond-async"})
        boss_id = accepted.json()["run_id"]

        async def remote_task() -> str | None:
            for e in await events_of(client, boss_id):
                if e.get("delegate", {}).get("task_id"):
                    return e["delegate"]["task_id"]
            return None

        task_id = await wait_for(remote_task, timeout=10)
        cancelled = await client.post(f"/runs/{boss_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"

        async def remote_state() -> str | None:
            state = (await sdk.get_task(task_id))["status"]["state"]
            return state if state == "TASK_STATE_CANCELED" else None

        assert await wait_for(remote_state, timeout=10) == "TASK_STATE_CANCELED"
