"""LangChainAdapter: LangChain runnables (offline, ScriptedChatModel) served as fastagentic runs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, load_app_file, run_reaches, running_client, wait_for
from pydantic_core import to_json

pytest.importorskip("langchain_core")

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnableSequence
from langchain_core.tools import tool

from fastagentic import App
from fastagentic.adapters.langchain import LangChainAdapter, LedgerTool, ledger_tool
from fastagentic.testing.langchain import ScriptedChatModel


def answer_from_tools(messages: list[BaseMessage]) -> Any:
    """Reply 1: look the question up; reply 2: quote what the tools returned."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return [{"name": "lookup", "args": {"topic": "pricing"}, "id": "call_lookup"}]
    return "Pricing: " + "; ".join(str(r.content) for r in results)


def support_chain(model: ScriptedChatModel, tools: list[Any],
                  stop: Any = None) -> RunnableSequence:
    """prompt → model (asks for tools) → tools → model (answers) → text: five steps."""
    by_name = {t.name: ledger_tool(t) for t in tools}

    async def ask_model(value: Any) -> list[BaseMessage]:
        messages = value.to_messages() if hasattr(value, "to_messages") else list(value)
        return [*messages, await model.ainvoke(messages)]

    async def run_tools(messages: list[BaseMessage]) -> list[BaseMessage]:
        results = []
        for call in messages[-1].tool_calls:
            results.append(await by_name[call["name"]].ainvoke(call))
        if stop is not None:
            await stop()
        return [*messages, *results]

    prompt = ChatPromptTemplate.from_messages([
        ("system", "You answer questions about our product."), ("human", "{message}")])
    return (prompt
            | RunnableLambda(ask_model, name="plan")
            | RunnableLambda(run_tools, name="tools")
            | RunnableLambda(ask_model, name="answer")
            | RunnableLambda(lambda messages: messages[-1], name="last")
            | StrOutputParser())


def lookup_tool(calls: list[str]) -> Any:
    @tool
    async def lookup(topic: str) -> str:
        """Look a topic up in the handbook."""
        calls.append(topic)
        return f"{topic} starts at $10"

    return lookup


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    return r.json()["events"]


def gapless(events: list[dict[str, Any]]) -> bool:
    return [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_a_sequence_streams_steps_tokens_tools_costs_and_checkpoints():
    calls: list[str] = []
    model = ScriptedChatModel(respond=answer_from_tools, model_name="scripted-support")
    app = App(durable_store="memory://")

    @app.agent_endpoint("/support", runnable=LangChainAdapter(
        support_chain(model, [lookup_tool(calls)])))
    async def support(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/support", json={"message": "how much?"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["status"] == "completed", answer
    assert answer["output"] == "Pricing: pricing starts at $10"
    assert calls == ["pricing"]
    assert gapless(events)
    kinds = [e["type"] for e in events]
    assert kinds == ["run_started", "status",
                     "node_start", "node_end", "checkpoint",                  # prompt
                     "node_start", "cost", "node_end", "checkpoint",          # plan: a call
                     "node_start", "tool_call", "tool_result", "node_end",    # tools
                     "checkpoint",
                     "node_start", "token", "token", "token", "token", "token", "cost",
                     "node_end", "checkpoint",                                # answer
                     "node_start", "node_end", "checkpoint",                  # last
                     "node_start", "node_end", "checkpoint",                  # text
                     "done"]
    steps = ["ChatPromptTemplate", "plan", "tools", "answer", "last", "StrOutputParser"]
    starts = [e for e in events if e["type"] == "node_start"]
    ends = [e for e in events if e["type"] == "node_end"]
    assert [(e["node"], e["step"]) for e in starts] == [(n, i) for i, n in enumerate(steps)]
    assert [(e["node"], e["step"]) for e in ends] == [(n, i) for i, n in enumerate(steps)]
    assert all(isinstance(e["timestamp"], float) for e in starts)
    assert ends[0]["result"] == [
        {"type": "system", "content": "You answer questions about our product."},
        {"type": "human", "content": "how much?"}]
    plan = ends[1]["result"][-1]
    assert plan == {"type": "ai", "content": "", "tool_calls": [
        {"name": "lookup", "args": {"topic": "pricing"}, "id": "call_lookup",
         "type": "tool_call"}]}, "message ids (new on every execution) are left out"
    assert ends[2]["result"][-1] == {"type": "tool", "content": "pricing starts at $10",
                                     "name": "lookup", "tool_call_id": "call_lookup",
                                     "status": "success"}
    assert ends[4]["result"] == {"type": "ai", "content": "Pricing: pricing starts at $10"}
    assert ends[5]["result"] == "Pricing: pricing starts at $10"
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["tool"], call["args"], call["call_id"]) == \
        ("lookup", {"topic": "pricing"}, "call_lookup")
    assert (result["tool"], result["output"], result["call_id"]) == \
        ("lookup", "pricing starts at $10", "call_lookup")
    assert "replayed" not in result and "error" not in result
    tokens = [e for e in events if e["type"] == "token"]
    assert [t["content"] for t in tokens] == ["Pricing:", " pricing", " starts", " at", " $10"]
    assert all(t["delta"] == {"node": "answer", "step": 3} for t in tokens)
    costs = [e for e in events if e["type"] == "cost"]
    # Scripted usage: input = characters / 4, output = chunks (a tool call is 2 chunks).
    assert [c["tokens"]["output"] for c in costs] == [2, 5]
    assert all(c["tokens"]["input"] > 0 for c in costs)
    assert all(c["model"] == "scripted-support" and c["amount"] == {} for c in costs)
    checkpoints = [e["metadata"] for e in events if e["type"] == "checkpoint"]
    assert checkpoints == [{"stage": "step", "step": i, "node": n} for i, n in enumerate(steps)]


async def test_a_runnable_that_is_not_a_sequence_reports_its_children_and_replays_from_start():
    calls: list[str] = []
    lookup = ledger_tool(lookup_tool(calls))
    model = ScriptedChatModel(respond=answer_from_tools, model_name="scripted-support")

    async def agent(question: str) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            reply = await model.ainvoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return reply.text
            messages += [await lookup.ainvoke(call) for call in reply.tool_calls]

    adapter = LangChainAdapter(RunnableLambda(agent, name="agent"))
    assert adapter.replay == "from_start" and adapter.steps is None
    app = App(durable_store="memory://")

    @app.agent_endpoint("/agent", runnable=adapter)
    async def run_agent(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/agent", json={"message": "how much?"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["output"] == "Pricing: pricing starts at $10"
    shape = [(e["type"], e.get("node"), e.get("index")) for e in events
             if e["type"] in ("node_start", "node_end", "tool_call", "tool_result")]
    assert shape == [
        ("node_start", "ScriptedChatModel", 0), ("node_end", "ScriptedChatModel", 0),
        ("node_start", "lookup", 1), ("tool_call", None, None), ("tool_result", None, None),
        ("node_end", "lookup", 1),
        ("node_start", "ScriptedChatModel", 2), ("node_end", "ScriptedChatModel", 2)]
    assert "checkpoint" not in [e["type"] for e in events]
    tokens = [e for e in events if e["type"] == "token"]
    assert tokens and all(t["delta"] == {"node": "ScriptedChatModel"} for t in tokens)


async def test_tools_that_are_parts_of_the_runnable_go_through_the_ledger():
    """A tool as a step (and ``tool.map()``) is wrapped in a copy; the user's chain is left as
    it is; the ledger records each call by its tool call id."""
    calls: list[str] = []
    lookup = lookup_tool(calls)
    chain = RunnableLambda(lambda text: [
        {"name": "lookup", "args": {"topic": word}, "id": f"call-{word}", "type": "tool_call"}
        for word in text.split()], name="calls") | lookup.map()
    adapter = LangChainAdapter(chain)
    assert isinstance(adapter.steps[1].bound, LedgerTool)
    assert adapter.steps[1].bound.tool is lookup
    assert chain.steps[1].bound is lookup, "the user's runnable is not changed"
    # Also inside parallels, bindings and fallbacks, at any depth.
    nested = LangChainAdapter(RunnableParallel(
        a=lookup.with_config(tags=["x"]), b=RunnableLambda(str).with_fallbacks([lookup])))
    assert isinstance(nested.runnable.steps__["a"].bound, LedgerTool)
    assert isinstance(nested.runnable.steps__["b"].fallbacks[0], LedgerTool)
    app = App(durable_store="memory://")

    @app.agent_endpoint("/many", runnable=adapter)
    async def many(message: str) -> list[dict[str, Any]]: ...

    async with running_client(app) as client:
        answer = (await client.post("/many", json={"message": "pricing shipping"})).json()
        events = await events_of(client, answer["run_id"])
        entries = [await app.store.ledger_get(answer["run_id"], f"langchain:1:call-{w}")
                   for w in ("pricing", "shipping")]
    assert answer["status"] == "completed", answer
    assert [m["content"] for m in answer["output"]] == \
        ["pricing starts at $10", "shipping starts at $10"]
    assert sorted(calls) == ["pricing", "shipping"]
    assert [e.output for e in entries] == [{"content": "pricing starts at $10"},
                                           {"content": "shipping starts at $10"}]
    results = sorted((e["call_id"], e["output"]) for e in events if e["type"] == "tool_result")
    assert results == [("call-pricing", "pricing starts at $10"),
                       ("call-shipping", "shipping starts at $10")]


async def test_a_sync_function_calling_a_ledger_tool_with_plain_arguments():
    calls: list[str] = []

    @tool
    def lookup(topic: str) -> int:
        """Count a topic's letters."""
        calls.append(topic)
        return len(topic)

    wrapped = ledger_tool(lookup)
    chain = RunnableLambda(lambda text: text.upper(), name="shout") | RunnableLambda(
        lambda text: [wrapped.invoke({"topic": text}), wrapped.invoke({"topic": text})],
        name="count")
    app = App(durable_store="memory://")

    @app.agent_endpoint("/count", runnable=LangChainAdapter(chain))
    async def count(message: str) -> list[int]: ...

    async with running_client(app) as client:
        answer = (await client.post("/count", json={"message": "abc"})).json()
        events = await events_of(client, answer["run_id"])
        digest = hashlib.sha256(to_json({"topic": "ABC"})).hexdigest()[:16]
        entries = [await app.store.ledger_get(answer["run_id"],
                                              f"langchain:1:lookup-{digest}-{n}")
                   for n in (1, 2)]
    assert answer["output"] == [3, 3], "a plain call returns the tool's own value"
    assert calls == ["ABC", "ABC"], "two calls with the same arguments are two calls"
    assert [e.output for e in entries] == [{"content": 3}, {"content": 3}]
    tool_events = [(e["type"], e["call_id"], e.get("args"), e.get("output"))
                   for e in events if e["type"].startswith("tool_")]
    assert tool_events == [
        ("tool_call", "step1.lookup#1", {"topic": "ABC"}, None),
        ("tool_result", "step1.lookup#1", None, 3),
        ("tool_call", "step1.lookup#2", {"topic": "ABC"}, None),
        ("tool_result", "step1.lookup#2", None, 3)]


async def test_a_tool_called_from_a_function_without_the_wrapper_is_reported_not_recorded():
    """The adapter cannot reach a tool inside a function: its calls are reported (with the
    tool call id) but not kept in the ledger — wrap it with ledger_tool for that."""
    calls: list[str] = []
    lookup = lookup_tool(calls)

    async def run_tools(question: str) -> str:
        call = {"name": "lookup", "args": {"topic": question}, "id": "call-x",
                "type": "tool_call"}
        return (await lookup.ainvoke(call)).content

    app = App(durable_store="memory://")

    @app.agent_endpoint("/plain", runnable=LangChainAdapter(RunnableLambda(run_tools)))
    async def plain(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/plain", json={"message": "pricing"})).json()
        events = await events_of(client, answer["run_id"])
        entry = await app.store.ledger_get(answer["run_id"], "langchain::call-x")
    assert answer["output"] == "pricing starts at $10"
    assert [(e["type"], e["call_id"]) for e in events if e["type"].startswith("tool_")] == \
        [("tool_call", "call-x"), ("tool_result", "call-x")]
    assert entry is None


async def test_a_known_model_is_priced_and_an_unknown_one_is_counted():
    app = App(durable_store="memory://")
    prompt = ChatPromptTemplate.from_messages([("human", "{message}")])

    @app.agent_endpoint("/known", runnable=LangChainAdapter(
        prompt | ScriptedChatModel(script=["Hello there"], model_name="gpt-4o")))
    async def known(message: str) -> str: ...

    @app.agent_endpoint("/unknown", runnable=LangChainAdapter(
        prompt | ScriptedChatModel(script=["Hello there"], model_name="in-house-7b")))
    async def unknown(message: str) -> str: ...

    async with running_client(app) as client:
        priced = (await client.post("/known", json={"message": "hi"})).json()
        counted = (await client.post("/unknown", json={"message": "hi"})).json()
        priced_cost = next(e for e in await events_of(client, priced["run_id"])
                           if e["type"] == "cost")
        counted_cost = next(e for e in await events_of(client, counted["run_id"])
                            if e["type"] == "cost")
        run = (await client.get(f"/runs/{priced['run_id']}")).json()
    assert priced["output"] == counted["output"] == "Hello there"
    from genai_prices import Usage, calc_price

    tokens = priced_cost["tokens"]
    assert tokens == {"input": 1, "output": 2}
    expected = calc_price(Usage(input_tokens=1, output_tokens=2), model_ref="gpt-4o")
    assert priced_cost["model"] == "gpt-4o"
    assert float(expected.total_price) > 0
    assert priced_cost["amount"]["usd"] == pytest.approx(float(expected.total_price))
    assert run["usage"]["amount"]["usd"] == pytest.approx(float(expected.total_price))
    assert counted_cost["model"] == "in-house-7b"
    assert counted_cost["tokens"] == tokens and counted_cost["amount"] == {}


async def test_a_worker_that_stops_mid_sequence_is_resumed_from_the_next_step(
        tmp_path: Path) -> None:
    """The worker stops in the tools step, after ``charge`` completed and while ``notify``
    runs.  Another worker resumes after the last finished step: the prompt and the model's
    first reply are not made again, ``charge`` is answered from the ledger, ``notify`` runs
    again, and the log is the first worker's log continued, without superseded events."""
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    replies: list[int] = []
    charges: list[int] = []
    notified: list[int] = []
    stuck = asyncio.Event()

    def script(messages: list[BaseMessage]) -> Any:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        replies.append(len(results))
        if not results:
            return [{"name": "charge", "args": {"amount": 7}, "id": "c-charge"},
                    {"name": "notify", "args": {"amount": 7}, "id": "c-notify"}]
        return "all done"

    @tool
    async def charge(amount: int) -> str:
        """Charge."""
        charges.append(amount)
        return "charged"

    @tool
    async def notify(amount: int) -> str:
        """Notify."""
        notified.append(amount)
        if len(notified) == 1:
            stuck.set()
            await asyncio.Event().wait()  # the first worker stops here
        return "notified"

    def build() -> App:
        model = ScriptedChatModel(respond=script, model_name="scripted-billing")
        agent_app = App(durable_store=store, lease_ttl=0.5, poll_interval=0.05)

        @agent_app.agent_endpoint("/pay", runnable=LangChainAdapter(
            support_chain(model, [charge, notify])))
        async def pay(message: str) -> str: ...

        return agent_app

    first, second = build(), build()
    async with running_client(first) as client:
        accepted = await client.post("/pay", json={"message": "pay"},
                                     headers={"Prefer": "respond-async"})
        run_id = accepted.json()["run_id"]
        await asyncio.wait_for(stuck.wait(), 10)

        async def notify_recorded() -> list[dict[str, Any]] | None:
            events = await events_of(client, run_id)
            return events if any(e.get("call_id") == "c-notify" for e in events) else None

        before = await wait_for(notify_recorded, timeout=10)
    async with running_client(second) as client:

        done = await run_reaches(client, run_id, "completed", timeout=20)
        events = await events_of(client, run_id)
    assert done["output"] == "all done"
    assert replies == [0, 2], "the model's first reply (a finished step) was not made again"
    assert charges == [7], "the completed charge ran again"
    assert notified == [7, 7]
    assert gapless(events)
    assert not any("superseded_from_seq" in e for e in events), "the replay matched the log"
    assert events[:len(before)] == before
    resumed = [e for e in events if e["type"] == "status" and e.get("resumed")]
    assert len(resumed) == 1
    checkpoint = next(e for e in before if e["type"] == "checkpoint"
                      and e["metadata"]["node"] == "plan")
    assert resumed[0]["checkpoint_id"] == checkpoint["checkpoint_id"]
    nodes = [e["node"] for e in events if e["type"] == "node_start"]
    assert nodes == ["ChatPromptTemplate", "plan", "tools", "answer", "last",
                     "StrOutputParser"], "each step is recorded once"
    results = [(e["call_id"], e["output"]) for e in events if e["type"] == "tool_result"]
    assert results == [("c-charge", "charged"), ("c-notify", "notified")]
    assert [e["type"] for e in events].count("tool_call") == 2


async def test_a_worker_that_stops_inside_a_runnable_that_is_not_a_sequence(
        tmp_path: Path) -> None:
    """Not a sequence: the whole runnable runs again, repeating what the log holds; the tool
    call that completed (the scripted model repeats its ids) is answered from the ledger."""
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    charges: list[int] = []
    notified: list[int] = []
    stuck = asyncio.Event()

    def build() -> App:
        model = ScriptedChatModel(respond=lambda messages: [
            {"name": "charge", "args": {"amount": 3}}, {"name": "notify", "args": {}}]
            if len(messages) == 1 else "paid")

        @tool
        async def charge(amount: int) -> str:
            """Charge."""
            charges.append(amount)
            return "charged"

        @tool
        async def notify() -> str:
            """Notify."""
            notified.append(1)
            if len(notified) == 1:
                stuck.set()
                await asyncio.Event().wait()
            return "notified"

        tools = {t.name: ledger_tool(t) for t in (charge, notify)}

        async def agent(question: str) -> str:
            messages: list[BaseMessage] = [HumanMessage(question)]
            reply = await model.ainvoke(messages)
            messages += [reply, *[await tools[c["name"]].ainvoke(c) for c in reply.tool_calls]]
            return (await model.ainvoke(messages)).text

        agent_app = App(durable_store=store, lease_ttl=0.5, poll_interval=0.05)

        @agent_app.agent_endpoint("/pay", runnable=LangChainAdapter(RunnableLambda(agent)))
        async def pay(message: str) -> str: ...

        return agent_app

    first, second = build(), build()
    async with running_client(first) as client:
        run_id = (await client.post("/pay", json={"message": "pay"},
                                    headers={"Prefer": "respond-async"})).json()["run_id"]
        await asyncio.wait_for(stuck.wait(), 10)

        async def notify_recorded() -> list[dict[str, Any]] | None:
            events = await events_of(client, run_id)
            return events if any(e.get("tool") == "notify" for e in events) else None

        before = await wait_for(notify_recorded, timeout=10)
    async with running_client(second) as client:

        done = await run_reaches(client, run_id, "completed", timeout=20)
        events = await events_of(client, run_id)
    assert done["output"] == "paid"
    assert charges == [3] and len(notified) == 2
    assert gapless(events)
    assert not any("superseded_from_seq" in e for e in events)
    assert events[:len(before)] == before
    assert [e["call_id"] for e in events if e["type"] == "tool_result"] == \
        ["call_1_0", "call_1_1"]


def test_every_transport_records_the_same_event_sequence(live_server: Any,
                                                          tmp_path: Path) -> None:
    from conftest import same_run_on_every_transport

    calls: list[str] = []
    model = ScriptedChatModel(respond=answer_from_tools, model_name="gpt-4o")
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/support", mcp_tool="support", runnable=LangChainAdapter(
        support_chain(model, [lookup_tool(calls)])))
    async def support(message: str) -> str: ...

    with live_server(app) as server:
        logs = same_run_on_every_transport(server.url, "/support", "support", "how much?")
    for events in logs.values():
        assert events[-1]["type"] == "done"
        assert events[-1]["output"] == "Pricing: pricing starts at $10"
        assert [e["type"] for e in events].count("checkpoint") == 6
        assert all(e["amount"]["usd"] > 0 for e in events if e["type"] == "cost")
    assert calls == ["pricing"] * 4


async def test_the_example_app_answers_from_its_documents(tmp_path: Path) -> None:
    app = load_app_file(ROOT / "examples" / "langchain_rag" / "app.py",
                        f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_client(app) as client:
        answer = (await client.post("/ask", json={
            "question": "How long does standard shipping take?"})).json()
        unknown = (await client.post("/ask", json={"question": "Who painted the moon?"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["status"] == "completed", answer
    assert answer["output"].startswith("According to shipping.txt:")
    assert "Standard shipping takes 3 to 5 business days" in answer["output"]
    assert unknown["output"] == "The documents do not say."
    retrieved = next(e for e in events if e["type"] == "node_end")
    assert retrieved["node"] == "retrieve" and "shipping.txt" in retrieved["result"]["context"]
    text = "".join(e["content"] for e in events if e["type"] == "token")
    assert text == answer["output"]


def test_the_langchain_template_makes_a_project_whose_tests_pass(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fastagentic.cli.main import cli

    result = CliRunner().invoke(cli, ["new", "lc-service", "--template", "langchain",
                                      "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "lc-service"
    assert 'fastagentic[langchain]' in (root / "pyproject.toml").read_text()
    assert "lc-service" in (root / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, timeout=120, env=env,
                           check=False)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b2 passed\b", tests.stdout), tests.stdout


def test_without_langchain_core_the_import_names_the_extra() -> None:
    code = ("import sys; sys.modules['langchain_core'] = None\n"
            "try:\n    import fastagentic.adapters.langchain\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingDependency ")
    assert 'pip install "fastagentic[langchain]"' in done.stdout


def test_a_runnable_is_required() -> None:
    with pytest.raises(TypeError, match="langchain Runnable"):
        LangChainAdapter(lambda x: x)
    with pytest.raises(TypeError, match="BaseTool"):
        ledger_tool(lambda x: x)  # type: ignore[arg-type]
