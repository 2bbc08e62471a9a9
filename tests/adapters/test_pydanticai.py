"""PydanticAIAdapter: a PydanticAI agent (offline, FunctionModel) served as fastagentic runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import a2a_send, run_reaches, running_client

from fastagentic import App
from fastagentic.adapters.pydanticai import PydanticAIAdapter

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel  # noqa: E402

V10 = {"A2A-Version": "1.0"}


def returns(messages: list[Any]) -> int:
    return sum(1 for m in messages for p in getattr(m, "parts", ())
               if isinstance(p, ToolReturnPart))


def billing_agent(charges: list[int], *, approval: bool = False) -> Agent[None, str]:
    """Calls ``charge`` once, then answers in two text chunks."""

    async def script(messages: list[Any], info: AgentInfo):  # noqa: ANN202
        if returns(messages) == 0:
            yield {0: DeltaToolCall(name="charge", json_args='{"amount": 5}',
                                    tool_call_id="call_1")}
        else:
            last = [p for m in messages for p in getattr(m, "parts", ())
                    if isinstance(p, ToolReturnPart)][-1]
            yield "Done: "
            yield str(last.content)

    agent: Agent[None, str] = Agent(FunctionModel(stream_function=script,
                                                  model_name="scripted-billing"))

    @agent.tool_plain(requires_approval=approval)
    def charge(amount: int) -> str:
        """Charge the customer's card."""
        charges.append(amount)
        return f"charged {amount}"

    return agent


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    body = r.json()
    return body["events"] if isinstance(body, dict) else body


async def test_a_run_streams_tokens_tools_nodes_costs_and_checkpoints():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=PydanticAIAdapter(billing_agent(charges)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/billing", json={"message": "charge me"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["status"] == "completed" and answer["output"] == "Done: charged 5"
    assert charges == [5]
    kinds = [e["type"] for e in events]
    assert kinds == ["run_started", "status",
                     "node_start", "node_end", "cost", "checkpoint",          # model: tool call
                     "node_start", "tool_call", "tool_result", "node_end",    # the tool
                     "checkpoint",                                            # its result
                     "node_start", "token", "token", "node_end", "cost",      # model: the answer
                     "done"]
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["tool"], call["args"], call["call_id"]) == ("charge", {"amount": 5}, "call_1")
    assert (result["output"], result["call_id"]) == ("charged 5", "call_1")
    assert [e["content"] for e in events if e["type"] == "token"] == ["Done: ", "charged 5"]
    costs = [e for e in events if e["type"] == "cost"]
    # FunctionModel estimates tokens; genai-prices does not know the model: no amount.
    assert all(c["tokens"]["input"] > 0 and c["amount"] == {} for c in costs)
    assert {c["model"] for c in costs} == {"scripted-billing"}
    assert [e["node"] for e in events if e["type"] == "node_start"] == \
        ["model_request", "call_tools", "model_request"]


async def test_the_same_agent_over_a2a():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=PydanticAIAdapter(billing_agent(charges)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        r = await client.post("/a2a", headers=V10, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
                "messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "charge me"}]}}})
    task = r.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [p["text"] for a in task["artifacts"] for p in a["parts"]] == ["Done: charged 5"]
    assert charges == [5]


async def test_approval_pauses_the_run_and_the_answer_decides():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=PydanticAIAdapter(
        billing_agent(charges, approval=True)))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        first = (await client.post("/billing", json={"message": "charge me"})).json()
        assert first["status"] == "input_required" and charges == []
        request = first["input_request"]
        assert request["prompt"] == "Approve charge(amount=5)?"
        assert request["details"]["tool_call_id"] == "call_1"
        resumed = await client.post(f"/runs/{first['run_id']}/resume",
                                    json={"approved": True})
        assert resumed.status_code == 200, resumed.text


        done = await run_reaches(client, first["run_id"], "completed", timeout=5)
        assert done["output"] == "Done: charged 5" and charges == [5]

        denied = (await client.post("/billing", json={"message": "charge me"})).json()
        await client.post(f"/runs/{denied['run_id']}/resume",
                          json={"approved": False, "comment": "no"})


        refused = await run_reaches(client, denied["run_id"], "completed", timeout=5)
    # The tool did not run; the model was told the call was denied.
    assert charges == [5]
    assert refused["output"] == "Done: The user denied this tool call."


async def test_approval_over_a2a_input_required_then_yes():
    charges: list[int] = []
    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=PydanticAIAdapter(
        billing_agent(charges, approval=True)))
    async def billing(message: str) -> str: ...


    async with running_client(app) as client:
        first = (await client.post("/a2a", headers=V10,
                                   json=a2a_send("charge me"))).json()["result"]["task"]
        assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert first["status"]["message"]["parts"][0]["text"] == "Approve charge(amount=5)?"
        second = (await client.post("/a2a", headers=V10, json=a2a_send(
            "yes", first["id"]))).json()["result"]["task"]
    assert second["status"]["state"] == "TASK_STATE_COMPLETED"
    assert charges == [5]


async def test_a_completed_tool_call_is_not_run_again_after_the_worker_stops(
        tmp_path: Path) -> None:
    """Two tools in one step: ``charge`` completes, then the worker stops while ``notify``
    runs.  Another worker resumes from the checkpoint taken before the tools: ``charge`` is
    answered from the ledger, ``notify`` runs again."""
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    charges: list[int] = []
    notified: list[int] = []
    stuck = asyncio.Event()

    async def script(messages: list[Any], info: AgentInfo):  # noqa: ANN202
        if returns(messages) == 0:
            yield {0: DeltaToolCall(name="charge", json_args='{"amount": 7}',
                                    tool_call_id="c-charge"),
                   1: DeltaToolCall(name="notify", json_args='{"amount": 7}',
                                    tool_call_id="c-notify")}
        else:
            yield "all done"

    def build(worker: bool) -> App:
        agent: Agent[None, str] = Agent(FunctionModel(stream_function=script))
        agent_app = App(durable_store=store, worker=worker, lease_ttl=0.5, poll_interval=0.05)

        @agent.tool_plain(sequential=True)
        def charge(amount: int) -> str:
            """Charge."""
            charges.append(amount)
            return "charged"

        @agent.tool_plain(sequential=True)
        async def notify(amount: int) -> str:
            """Notify."""
            notified.append(amount)
            if len(notified) == 1:
                stuck.set()
                await asyncio.sleep(60)  # the first worker stops here
            return "notified"

        @agent_app.agent_endpoint("/pay", runnable=PydanticAIAdapter(agent))
        async def pay(message: str) -> str: ...

        return agent_app

    first, second = build(True), build(True)
    async with running_client(first) as client:
        accepted = await client.post("/pay", json={"message": "pay"},
                                     headers={"Prefer": "respond-async"})
        run_id = accepted.json()["run_id"]
        await asyncio.wait_for(stuck.wait(), 5)
    # The first worker has stopped (its lease released); the second takes the run over.
    async with running_client(second) as client:

        done = await run_reaches(client, run_id, "completed", timeout=10)
        events = await events_of(client, run_id)
    assert done["output"] == "all done"
    assert charges == [7], "the completed charge ran again"
    assert notified == [7, 7]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    results = [(e["call_id"], e["output"]) for e in events if e["type"] == "tool_result"]
    assert ("c-charge", "charged") in results and ("c-notify", "notified") in results


def test_every_transport_records_the_same_event_sequence(live_server: Any,
                                                          tmp_path: Path) -> None:
    """REST, WebSocket, MCP (agent tool) and A2A start the same kind of run: the same event
    types in the same order, and what the WebSocket sends is the stored log itself."""
    from conftest import same_run_on_every_transport

    charges: list[int] = []
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/billing", mcp_tool="billing",
                        runnable=PydanticAIAdapter(billing_agent(charges)))
    async def billing(message: str) -> str: ...

    with live_server(app) as server:
        logs = same_run_on_every_transport(server.url, "/billing", "billing", "charge me")
    for events in logs.values():
        assert events[-1]["type"] == "done" and events[-1]["output"] == "Done: charged 5"
    assert charges == [5, 5, 5, 5]


async def test_the_example_app_answers_and_waits_for_refund_approvals(tmp_path: Path) -> None:
    from conftest import ROOT, load_app_file

    app = load_app_file(ROOT / "examples" / "pydanticai_chat" / "app.py",
                        f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_client(app) as client:
        chat = (await client.post("/chat", json={"message": "where is order 42?"})).json()
        refund = (await client.post("/refund", json={"message": "refund order 7"})).json()
        assert refund["status"] == "input_required"
        assert refund["input_request"]["prompt"] == "Approve refund(order_id='7')?"
        await client.post(f"/runs/{refund['run_id']}/resume", json={"approved": True})


        done = await run_reaches(client, refund["run_id"], "completed", timeout=5)
    assert chat["output"].strip() == "Here is what I found: order 42 is shipped on Monday."
    assert done["output"].strip() == "Here is what I found: order 7 was refunded."


async def test_two_rounds_of_approvals_in_one_run():
    charges: list[int] = []

    async def script(messages: list[Any], info: AgentInfo):  # noqa: ANN202
        done = returns(messages)
        if done < 2:
            yield {0: DeltaToolCall(name="charge", json_args=f'{{"amount": {done + 1}}}',
                                    tool_call_id=f"call_{done + 1}")}
        else:
            yield "two charges decided"

    agent: Agent[None, str] = Agent(FunctionModel(stream_function=script))

    @agent.tool_plain(requires_approval=True)
    def charge(amount: int) -> str:
        """Charge."""
        charges.append(amount)
        return f"charged {amount}"

    app = App(durable_store="memory://")

    @app.agent_endpoint("/billing", runnable=PydanticAIAdapter(agent))
    async def billing(message: str) -> str: ...

    async with running_client(app) as client:
        run = (await client.post("/billing", json={"message": "go"})).json()
        prompts = []
        for answer in (True, False):

            got = await run_reaches(client, run["run_id"], "input_required", "completed",
                                    timeout=5)
            assert got["status"] == "input_required"
            prompts.append(got["input_request"]["prompt"])
            await client.post(f"/runs/{run['run_id']}/resume", json={"approved": answer})


        done = await run_reaches(client, run["run_id"], "completed", timeout=5)
    assert prompts == ["Approve charge(amount=1)?", "Approve charge(amount=2)?"]
    assert charges == [1] and done["output"] == "two charges decided"
