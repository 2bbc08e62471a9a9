"""LangGraphAdapter: a LangGraph graph (offline, ScriptedChatModel) served as fastagentic runs."""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any

import pytest
from conftest import a2a_send, run_reaches, running_client

pytest.importorskip("langgraph")

from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.types import interrupt  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from fastagentic import App  # noqa: E402
from fastagentic.adapters.langgraph import LangGraphAdapter  # noqa: E402
from fastagentic.testing.langchain import ScriptedChatModel  # noqa: E402

V10 = {"A2A-Version": "1.0"}


def billing_graph(charges: list[int], *, approval: bool = False,
                  script: list[Any] | None = None, delay: float = 0.0) -> StateGraph:
    """agent → tools (charge) → agent → [approve] → end."""
    model = ScriptedChatModel(script=script or [
        [{"name": "charge", "args": {"amount": 5}, "id": "call_1"}],
        "Done: charged 5",
    ], model_name="scripted-billing", delay=delay)

    @tool
    async def charge(amount: int) -> str:
        """Charge the customer's card."""
        charges.append(amount)
        return f"charged {amount}"

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def approve(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Send the receipt?", "amount": 5})
        return {"messages": [AIMessage(content=f"receipt: {answer}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([charge]))
    builder.add_edge(START, "agent")
    if approval:
        builder.add_node("approve", approve)
        builder.add_conditional_edges("agent", tools_condition, {"tools": "tools",
                                                                  END: "approve"})
        builder.add_edge("approve", END)
    else:
        builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    return r.json()["events"]


async def test_a_run_streams_nodes_tokens_tools_costs_and_checkpoints():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=LangGraphAdapter(billing_graph(charges)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/billing", json={"message": "charge me"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["status"] == "completed", answer
    assert answer["output"] == "Done: charged 5"
    assert charges == [5]
    kinds = [e["type"] for e in events]
    assert kinds == ["run_started", "status",
                     "checkpoint",                                            # step 0
                     "node_start", "cost", "node_end", "checkpoint",          # agent: a call
                     "node_start", "tool_call", "tool_result", "node_end",    # tools
                     "checkpoint",
                     "node_start", "token", "token", "token", "cost", "node_end",  # answer
                     "checkpoint", "done"]
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["tool"], call["args"], call["call_id"]) == ("charge", {"amount": 5}, "call_1")
    assert (result["tool"], result["output"], result["call_id"]) == \
        ("charge", "charged 5", "call_1")
    assert "replayed" not in result
    tokens = [e for e in events if e["type"] == "token"]
    assert "".join(t["content"] for t in tokens) == "Done: charged 5"
    assert all(t["delta"] == {"node": "agent"} for t in tokens)
    starts = [e for e in events if e["type"] == "node_start"]
    ends = [e for e in events if e["type"] == "node_end"]
    assert [e["node"] for e in starts] == ["agent", "tools", "agent"]
    assert [e["task_id"] for e in starts] == [e["task_id"] for e in ends]
    assert ends[0]["result"]["messages"][0]["tool_calls"][0]["id"] == "call_1"
    assert ends[1]["result"]["messages"][0] == {
        "type": "tool", "content": "charged 5", "name": "charge", "tool_call_id": "call_1",
        "status": "success"}
    costs = [e for e in events if e["type"] == "cost"]
    # The scripted model estimates tokens; genai-prices does not know it: no amount.
    assert all(c["tokens"]["input"] > 0 and c["tokens"]["output"] > 0 for c in costs)
    assert all(c["amount"] == {} and c["model"] == "scripted-billing" for c in costs)
    checkpoints = [e["metadata"] for e in events if e["type"] == "checkpoint"]
    assert [(c["step"], c["next"]) for c in checkpoints] == \
        [(0, ["agent"]), (1, ["tools"]), (2, ["agent"]), (3, [])]


async def test_a_known_model_is_priced():
    app = App(durable_store="memory://")
    model = ScriptedChatModel(script=["Hello there"], model_name="gpt-4o")

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")

    @app.agent_endpoint("/hello", runnable=LangGraphAdapter(builder))
    async def hello(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/hello", json={"message": "hi"})).json()
        events = await events_of(client, answer["run_id"])
    cost = next(e for e in events if e["type"] == "cost")
    assert answer["output"] == "Hello there"
    assert cost["model"] == "gpt-4o" and cost["amount"]["usd"] > 0
    from genai_prices import Usage, calc_price

    tokens = cost["tokens"]
    expected = calc_price(Usage(input_tokens=tokens["input"], output_tokens=tokens["output"]),
                          model_ref="gpt-4o")
    assert cost["amount"]["usd"] == pytest.approx(float(expected.total_price))


async def test_an_interrupt_pauses_the_run_and_the_answer_resumes_it():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=LangGraphAdapter(
        billing_graph(charges, approval=True)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        first = (await client.post("/billing", json={"message": "charge me"})).json()
        assert first["status"] == "input_required", first
        request = first["input_request"]
        assert request["prompt"] == "Send the receipt?"
        assert request["details"] == {"question": "Send the receipt?", "amount": 5}
        assert request["key"].startswith("interrupt-")
        assert charges == [5]
        resumed = await client.post(f"/runs/{first['run_id']}/resume", json="by email")
        assert resumed.status_code == 200, resumed.text


        done = await run_reaches(client, first["run_id"], "completed", timeout=5)
        events = await events_of(client, first["run_id"])
    assert charges == [5], "the tool step before the interrupt did not run again"
    assert done["output"] == "receipt: by email"
    kinds = [e["type"] for e in events]
    assert kinds.count("input_required") == 1 and kinds[-1] == "done"
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    approve = [e for e in events if e.get("node") == "approve"]
    # The interrupted node ran twice (LangGraph re-runs it from its start on resume).
    assert [e["type"] for e in approve] == ["node_start", "node_end", "node_start", "node_end"]
    assert approve[1]["interrupts"] and "interrupts" not in approve[3]


async def test_an_interrupt_over_a2a_is_input_required_and_the_next_message_answers():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=LangGraphAdapter(
        billing_graph(charges, approval=True)))
    async def billing(message: str) -> str: ...


    async with running_client(app) as client:
        first = (await client.post("/a2a", headers=V10,
                                   json=a2a_send("charge me"))).json()["result"]["task"]
        assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert first["status"]["message"]["parts"][0]["text"] == "Send the receipt?"
        second = (await client.post("/a2a", headers=V10, json=a2a_send(
            "yes", first["id"]))).json()["result"]["task"]
    assert second["status"]["state"] == "TASK_STATE_COMPLETED"
    assert charges == [5]
    artifacts = {a["artifactId"]: [p["text"] for p in a["parts"]] for a in second["artifacts"]}
    # The node's AI message is streamed too (LangGraph reports it as a message).
    assert artifacts == {"stream": ["Done: charged 5receipt: yes"], "result": ["receipt: yes"]}


async def test_a_completed_tool_call_is_not_run_again_after_the_worker_stops(
        tmp_path: Path) -> None:
    """Two tool calls in one ToolNode step: ``charge`` completes, then the worker stops while
    ``notify`` runs.  Another worker resumes from the step's checkpoint: ``charge`` is
    answered from the ledger, ``notify`` runs again, and the log has no duplicates."""
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    charges: list[int] = []
    notified: list[int] = []
    stuck = asyncio.Event()

    def build() -> App:
        model = ScriptedChatModel(script=[
            [{"name": "charge", "args": {"amount": 7}, "id": "c-charge"},
             {"name": "notify", "args": {"amount": 7}, "id": "c-notify"}],
            "all done"])

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
                await asyncio.sleep(0.05)
                stuck.set()
                await asyncio.sleep(60)  # the first worker stops here
            return "notified"

        async def agent(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("agent", agent)
        builder.add_node("tools", ToolNode([charge, notify]))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        agent_app = App(durable_store=store, lease_ttl=0.5, poll_interval=0.05)

        @agent_app.agent_endpoint("/pay", runnable=LangGraphAdapter(builder))
        async def pay(message: str) -> str: ...

        return agent_app

    first, second = build(), build()
    async with running_client(first) as client:
        accepted = await client.post("/pay", json={"message": "pay"},
                                     headers={"Prefer": "respond-async"})
        run_id = accepted.json()["run_id"]
        await asyncio.wait_for(stuck.wait(), 5)
        before = await events_of(client, run_id)
    async with running_client(second) as client:

        done = await run_reaches(client, run_id, "completed", timeout=10)
        events = await events_of(client, run_id)
    assert done["output"] == "all done"
    assert charges == [7], "the completed charge ran again"
    assert notified == [7, 7]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert not any("superseded_from_seq" in e for e in events), "the replay matched the log"
    # What the first worker recorded is the start of the final log, unchanged.
    assert [e["json"] if "json" in e else e for e in events[:len(before)]] == before
    results = [(e["call_id"], e["output"], e.get("replayed", False))
               for e in events if e["type"] == "tool_result"]
    assert sorted(results) == [("c-charge", "charged", False), ("c-notify", "notified", False)]
    assert [e["type"] for e in events].count("tool_call") == 2


def test_every_transport_records_the_same_event_sequence(live_server: Any,
                                                          tmp_path: Path) -> None:
    from conftest import same_run_on_every_transport

    charges: list[int] = []
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/billing", mcp_tool="billing",
                        runnable=LangGraphAdapter(billing_graph(charges)))
    async def billing(message: str) -> str: ...

    with live_server(app) as server:
        logs = same_run_on_every_transport(server.url, "/billing", "billing", "charge me")
    for events in logs.values():
        assert events[-1]["type"] == "done" and events[-1]["output"] == "Done: charged 5"
        assert [e["type"] for e in events].count("checkpoint") == 4
    assert charges == [5, 5, 5, 5]


async def test_the_example_workflow_waits_for_approval_then_refunds(tmp_path: Path) -> None:
    from conftest import ROOT, load_app_file

    app = load_app_file(ROOT / "examples" / "langgraph_workflow" / "app.py",
                        f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_client(app) as client:
        asked = (await client.post("/refund", json={"message": "refund order 42"})).json()
        assert asked["status"] == "input_required", asked
        assert asked["input_request"]["prompt"] == "Refund order 42 (49.0 EUR)?"
        await client.post(f"/runs/{asked['run_id']}/resume", json="yes")
        declined = (await client.post("/refund", json={"message": "refund order 7"})).json()
        await client.post(f"/runs/{declined['run_id']}/resume", json="no")
        unknown = (await client.post("/refund", json={"message": "refund order 9"})).json()


        done = await run_reaches(client, asked["run_id"], "completed", timeout=5)
        refused = await run_reaches(client, declined["run_id"], "completed", timeout=5)
        events = await events_of(client, asked["run_id"])
    assert done["output"] == "Done: refunded 49.0 EUR for order 42."
    assert refused["output"] == "The refund was not approved, so nothing was refunded."
    assert unknown["status"] == "completed"
    assert unknown["output"] == "I could not find order 9."
    tools = [(e["tool"], e["call_id"]) for e in events if e["type"] == "tool_result"]
    assert tools == [("lookup_order", "lookup"), ("refund_order", "refund")]


async def test_subgraph_events_carry_their_namespace_and_an_interrupt_inside_resumes():
    """A subgraph node: its tasks and tokens say where they come from; an interrupt inside it
    pauses the whole run, and the answer reaches the subgraph's node."""
    model = ScriptedChatModel(model_name="scripted", respond=lambda messages: (
        "Reviewed" if any("signed" in str(m.content) for m in messages) else "Draft ready"))

    async def draft(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def sign_off(state: MessagesState) -> dict[str, Any]:
        answer = interrupt("Sign the review off?")
        return {"messages": [AIMessage(content=f" signed: {answer}")]}

    inner = StateGraph(MessagesState)
    inner.add_node("draft", draft)
    inner.add_node("sign_off", sign_off)
    inner.add_edge(START, "draft")
    inner.add_edge("draft", "sign_off")
    review = inner.compile()

    async def publish(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    outer = StateGraph(MessagesState)
    outer.add_node("review", review)
    outer.add_node("publish", publish)
    outer.add_edge(START, "review")
    outer.add_edge("review", "publish")

    app = App(durable_store="memory://")

    @app.agent_endpoint("/doc", runnable=LangGraphAdapter(outer))
    async def doc(message: str) -> str: ...

    async with running_client(app) as client:
        first = (await client.post("/doc", json={"message": "write it"})).json()
        assert first["status"] == "input_required", first
        assert first["input_request"]["prompt"] == "Sign the review off?"
        await client.post(f"/runs/{first['run_id']}/resume", json="ok")


        done = await run_reaches(client, first["run_id"], "completed", timeout=5)
        events = await events_of(client, first["run_id"])
    assert done["output"] == "Reviewed"
    nodes = [(e["type"], e["node"], e.get("namespace")) for e in events
             if e["type"] in ("node_start", "node_end")]
    assert nodes[:3] == [("node_start", "review", None), ("node_start", "draft", ["review"]),
                         ("node_end", "draft", ["review"])]
    assert ("node_start", "sign_off", ["review"]) in nodes
    assert nodes[-2:] == [("node_start", "publish", None), ("node_end", "publish", None)]
    tokens = [(e["content"], e["delta"]) for e in events if e["type"] == "token"]
    assert tokens[0] == ("Draft", {"node": "draft", "namespace": ["review"]})
    assert (" signed: ok", {"node": "sign_off", "namespace": ["review"]}) in tokens
    assert tokens[-1] == ("Reviewed", {"node": "publish"})
    # Only the root graph's super-steps are run checkpoints.
    assert all(e["metadata"]["stage"] in ("step", "interrupt")
               for e in events if e["type"] == "checkpoint")


class LogState(TypedDict):
    log: Annotated[list[str], operator.add]


async def test_two_interrupts_at_once_are_asked_one_after_the_other():
    def left(state: LogState) -> dict[str, Any]:
        return {"log": [f"left: {interrupt('Left?')}"]}

    def right(state: LogState) -> dict[str, Any]:
        return {"log": [f"right: {interrupt({'question': 'Right?'})}"]}

    builder = StateGraph(LogState)
    builder.add_node("left", left)
    builder.add_node("right", right)
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    app = App(durable_store="memory://")

    @app.agent_endpoint("/both", runnable=LangGraphAdapter(
        builder, input=lambda body: {"log": []}, output=lambda state: state["log"]))
    async def both(message: str) -> list[str]: ...

    async with running_client(app) as client:
        run = (await client.post("/both", json={"message": "go"})).json()
        prompts = []
        for answer in ("yes", "no"):

            got = await run_reaches(client, run["run_id"], "input_required", "completed",
                                    timeout=5)
            assert got["status"] == "input_required", got
            prompts.append(got["input_request"]["prompt"])
            await client.post(f"/runs/{run['run_id']}/resume", json=answer)


        done = await run_reaches(client, run["run_id"], "completed", timeout=5)
    assert prompts == ["Left?", "Right?"]
    assert sorted(done["output"]) == ["left: yes", "right: no"]
