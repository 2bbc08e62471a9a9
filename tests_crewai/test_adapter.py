"""CrewAIAdapter: a CrewAI crew (offline, ScriptedLLM) served as fastagentic runs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import running_client, same_run_on_every_transport, wait_for
from pydantic import BaseModel

from fastagentic import App

pytest.importorskip("crewai")

from crewai import Agent, Crew, Task
from crewai.tools import BaseTool

from fastagentic.adapters.crewai import CrewAIAdapter
from fastagentic.testing.crewai import ScriptedLLM, react

V10 = {"A2A-Version": "1.0"}
LOOKUP = {"tool": "lookup", "args": {"q": "pricing"}}
FACTS = "Pricing starts at $10."
TEXT = "Our plans start at $10 a month."


class Query(BaseModel):
    q: str


class Lookup(BaseTool):
    name: str = "lookup"
    description: str = "Look a fact up."
    args_schema: type[BaseModel] = Query
    calls: Any  # the test's list (not copied by validation)

    def _run(self, q: str) -> str:
        self.calls.append(q)
        return f"fact about {q}"


class Draft(BaseTool):
    name: str = "draft"
    description: str = "Write a draft."
    args_schema: type[BaseModel] = Query
    calls: Any  # the test's list (not copied by validation)

    def _run(self, q: str) -> str:
        self.calls.append(q)
        return f"draft on {q}"


class Publish(BaseTool):
    """Publishes; ``stuck`` set: the first call reports it and waits until ``release``."""

    name: str = "publish"
    description: str = "Publish a text."
    args_schema: type[BaseModel] = Query
    calls: Any  # the test's list (not copied by validation)
    stuck: Any = None
    release: Any = None

    def _run(self, q: str) -> str:
        self.calls.append(q)
        if self.stuck is not None and len(self.calls) == 1:
            self.stuck.set()
            self.release.wait(30)  # the worker stops while this call is in flight
            raise RuntimeError("this worker is gone")
        return f"published {q}"


def scripted(model: str = "scripted-team", writer: list[Any] | None = None) -> ScriptedLLM:
    return ScriptedLLM(model=model, script={"Researcher": [LOOKUP, FACTS],
                                            "Writer": writer or [TEXT]})


def team(calls: dict[str, list[str]], *, model: str = "scripted-team",
         writer: list[Any] | None = None, writer_tools: list[BaseTool] = (),
         llm: Any = None) -> Crew:
    """Researcher (lookup) → Writer: two agents, two tasks (on ``llm``, by default a
    ScriptedLLM)."""
    llm = llm or scripted(model, writer)
    researcher = Agent(role="Researcher", goal="Find facts", backstory="Thorough.", llm=llm,
                       tools=[Lookup(calls=calls.setdefault("lookup", []))])
    writer_agent = Agent(role="Writer", goal="Write copy", backstory="Concise.", llm=llm,
                         tools=list(writer_tools))
    research = Task(name="research", description="Research {message}.",
                    expected_output="Facts.", agent=researcher)
    write = Task(name="write", description="Write about {message}.",
                 expected_output="A sentence.", agent=writer_agent)
    return Crew(agents=[researcher, writer_agent], tasks=[research, write])


async def events_of(client: Any, run_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/runs/{run_id}/events", headers={"Accept": "application/json"})
    return r.json()["events"]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["content"] for e in events if e["type"] == "token")


async def test_a_run_streams_tasks_agents_tokens_tools_costs_and_checkpoints():
    calls: dict[str, list[str]] = {}
    app = App(durable_store="memory://")

    @app.agent_endpoint("/team", runnable=CrewAIAdapter(team(calls)))
    async def crew(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/team", json={"message": "pricing"})).json()
        events = await events_of(client, answer["run_id"])
        checkpoints = await app.store.list_checkpoints(answer["run_id"])
    assert answer["status"] == "completed", answer
    assert answer["output"] == TEXT
    assert calls["lookup"] == ["pricing"]

    kinds = [e["type"] for e in events]
    first = kinds.index("token")
    tool_call = kinds.index("tool_call")
    assert kinds[:first] == ["run_started", "status", "node_start", "node_start"]
    assert kinds[tool_call - 1:tool_call + 3] == ["cost", "tool_call", "tool_result", "token"]
    assert [k for k in kinds if k != "token"] == [
        "run_started", "status",
        "node_start", "node_start",            # task research, agent Researcher
        "cost", "tool_call", "tool_result",    # model reply 1 (a tool call), the tool
        "cost", "node_end", "node_end",        # model reply 2 (the answer); agent, task
        "checkpoint",
        "node_start", "node_start", "cost", "node_end", "node_end",  # write / Writer
        "checkpoint", "done"]

    nodes = [(e["type"], e["node"], e["kind"], e["agent"], e["task_index"])
             for e in events if e["type"] in ("node_start", "node_end")]
    assert nodes == [
        ("node_start", "research", "task", "Researcher", 0),
        ("node_start", "Researcher", "agent", "Researcher", 0),
        ("node_end", "Researcher", "agent", "Researcher", 0),
        ("node_end", "research", "task", "Researcher", 0),
        ("node_start", "write", "task", "Writer", 1),
        ("node_start", "Writer", "agent", "Writer", 1),
        ("node_end", "Writer", "agent", "Writer", 1),
        ("node_end", "write", "task", "Writer", 1)]
    ends = [e for e in events if e["type"] == "node_end"]
    assert [e["result"] for e in ends] == [FACTS, FACTS, TEXT, TEXT]
    assert [e["task"] for e in events if e.get("kind") == "agent"] == \
        ["research", "research", "write", "write"]
    assert all(isinstance(e["timestamp"], float) for e in events if e["type"] == "node_start")

    # Tokens: every chunk the model streamed, in order, tagged with its task and agent.
    tokens = [e for e in events if e["type"] == "token"]
    assert text_of(events) == react(LOOKUP) + react(FACTS) + react(TEXT)
    research_tokens = [t for t in tokens if t["delta"] == {"node": "research",
                                                           "agent": "Researcher"}]
    assert "".join(t["content"] for t in research_tokens) == react(LOOKUP) + react(FACTS)
    assert [t for t in tokens if t not in research_tokens] == \
        [t for t in tokens if t["delta"] == {"node": "write", "agent": "Writer"}]

    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["tool"], call["args"], call["call_id"]) == \
        ("lookup", {"q": "pricing"}, "task0-call0-lookup")
    assert (result["tool"], result["output"], result["call_id"]) == \
        ("lookup", "fact about pricing", "task0-call0-lookup")
    assert "replayed" not in result

    # One cost event per model response: estimated input tokens, one output token per chunk.
    costs = [e for e in events if e["type"] == "cost"]
    replies = [react(LOOKUP), react(FACTS), react(TEXT)]
    assert len(costs) == 3
    for cost, reply in zip(costs, replies, strict=True):
        # genai-prices does not know the scripted model: tokens, no amount.
        assert cost["model"] == "scripted-team" and cost["amount"] == {}
        assert cost["tokens"]["input"] > 0
        assert cost["tokens"]["output"] == len(tokens_of(reply))

    marks = [e["metadata"] for e in events if e["type"] == "checkpoint"]
    assert marks == [{"stage": "task", "task": "research", "task_index": 0},
                     {"stage": "task", "task": "write", "task_index": 1}]
    # What a checkpoint holds: the completed tasks' outputs.
    assert [sorted(c.state["tasks"]) for c in checkpoints] == [["0"], ["0", "1"]]
    stored = checkpoints[-1].state["tasks"]
    assert (stored["0"]["raw"], stored["0"]["agent"], stored["0"]["name"]) == \
        (FACTS, "Researcher", "research")
    assert stored["1"]["raw"] == TEXT


def tokens_of(reply: str) -> list[str]:
    from fastagentic.testing.crewai import _WORDS

    return _WORDS.findall(reply)


async def test_a_known_model_is_priced():
    from genai_prices import Usage, calc_price

    app = App(durable_store="memory://")

    @app.agent_endpoint("/team", runnable=CrewAIAdapter(team({}, model="gpt-4o")))
    async def crew(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/team", json={"message": "pricing"})).json()
        events = await events_of(client, answer["run_id"])
        run = (await client.get(f"/runs/{answer['run_id']}")).json()
    costs = [e for e in events if e["type"] == "cost"]
    assert len(costs) == 3
    for cost in costs:
        expected = calc_price(Usage(input_tokens=cost["tokens"]["input"],
                                    output_tokens=cost["tokens"]["output"]),
                              model_ref="gpt-4o")
        assert cost["model"] == "gpt-4o"
        assert cost["amount"]["usd"] == pytest.approx(float(expected.total_price))
    assert run["usage"]["amount"]["usd"] == pytest.approx(
        sum(c["amount"]["usd"] for c in costs))


async def test_the_same_crew_over_a2a():
    calls: dict[str, list[str]] = {}
    app = App(durable_store="memory://")

    @app.agent_endpoint("/team", runnable=CrewAIAdapter(team(calls)))
    async def crew(message: str) -> str: ...

    async with running_client(app) as client:
        r = await client.post("/a2a", headers=V10, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
                "messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "pricing"}]}}})
    task = r.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    artifacts = {a["artifactId"]: "".join(p["text"] for p in a["parts"])
                 for a in task["artifacts"]}
    assert artifacts["result"] == TEXT
    assert artifacts["stream"] == react(LOOKUP) + react(FACTS) + react(TEXT)
    assert calls["lookup"] == ["pricing"]


def test_every_transport_records_the_same_event_sequence(live_server: Any,
                                                          tmp_path: Path) -> None:
    calls: dict[str, list[str]] = {}
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/team", mcp_tool="team", runnable=CrewAIAdapter(team(calls)))
    async def crew(message: str) -> str: ...

    with live_server(app) as server:
        logs = same_run_on_every_transport(server.url, "/team", "team", "pricing")
    assert set(logs) == {"rest", "websocket", "mcp", "a2a"}
    for events in logs.values():
        assert events[-1]["type"] == "done" and events[-1]["output"] == TEXT
        kinds = [e["type"] for e in events]
        assert kinds.count("checkpoint") == 2 and kinds.count("node_start") == 4
        assert [e["call_id"] for e in events if e["type"] == "tool_result"] == \
            ["task0-call0-lookup"]
    assert calls["lookup"] == ["pricing"] * 4


async def test_a_worker_stops_during_task_2_and_another_resumes_after_task_1(
        tmp_path: Path) -> None:
    """Task 1 (research, with ``lookup``) completes and is checkpointed.  In task 2 the writer
    calls ``draft`` (completes), then ``publish``, during which the worker stops.  Another
    worker resumes from the checkpoint: task 1 and its tool do not run again, task 2 runs from
    its start with ``draft`` answered from the tool ledger, and ``publish`` (in flight at the
    stop) runs again.  The log is gapless and nothing is superseded."""
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    calls: dict[str, list[str]] = {"draft": [], "publish": []}
    stuck, release = threading.Event(), threading.Event()
    writer = [{"tool": "draft", "args": {"q": "pricing"}},
              {"tool": "publish", "args": {"q": "pricing"}}, "Published."]
    factory_calls: list[str] = []

    def build() -> App:
        app = App(durable_store=store, lease_ttl=0.5, poll_interval=0.05)

        def fresh(body: Any) -> Crew:
            """A new crew per run, its agents declared on OpenAI (there is no key here): the
            adapter's ``llm`` must replace it on every agent, in both attempts."""
            factory_calls.append(body.message)
            return team(calls, llm="gpt-4o-mini", writer_tools=[
                Draft(calls=calls["draft"]),
                Publish(calls=calls["publish"], stuck=stuck, release=release)])

        @app.agent_endpoint("/team", runnable=CrewAIAdapter(
            fresh, llm=scripted("scripted-team", writer)))
        async def team_endpoint(message: str) -> str: ...

        return app

    first, second = build(), build()
    try:
        async with running_client(first) as client:
            accepted = await client.post("/team", json={"message": "pricing"},
                                         headers={"Prefer": "respond-async"})
            run_id = accepted.json()["run_id"]

            async def publishing() -> bool:
                if stuck.is_set():
                    return True
                run = (await client.get(f"/runs/{run_id}")).json()
                assert run["status"] in ("queued", "running"), run
                return False

            await wait_for(publishing, timeout=10)

            async def publish_recorded() -> list[dict[str, Any]] | None:
                events = await events_of(client, run_id)
                return events if any(e.get("tool") == "publish" for e in events) else None

            before = await wait_for(publish_recorded, timeout=10)
        assert calls == {"lookup": ["pricing"], "draft": ["pricing"], "publish": ["pricing"]}

        async with running_client(second) as client:
            async def completed() -> dict[str, Any] | None:
                run = (await client.get(f"/runs/{run_id}")).json()
                return run if run["status"] == "completed" else None

            done = await wait_for(completed, timeout=20)
            events = await events_of(client, run_id)
    finally:
        release.set()

    assert done["output"] == "Published." and done["attempt"] == 2
    # Task 1 and its tool did not run again; draft completed before the stop: from the ledger.
    assert calls == {"lookup": ["pricing"], "draft": ["pricing"],
                     "publish": ["pricing", "pricing"]}
    assert factory_calls == ["pricing", "pricing"], "one crew per attempt"
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert not any("superseded_from_seq" in e for e in events), "the replay matched the log"
    assert events[:len(before)] == before, "what the first worker recorded is the log's start"
    statuses = [e for e in events if e["type"] == "status"]
    assert [e.get("resumed", False) for e in statuses] == [False, True]
    resumed_at = next(e["seq"] for e in statuses if e.get("resumed"))
    after = [e for e in events if e["seq"] > resumed_at]
    # The resumed attempt started at task 2: nothing of task 1 after the resume.
    assert not [e for e in after if e.get("task_index") == 0 or e.get("tool") == "lookup"]
    # Both attempts ran on the host's LLM (the declared OpenAI one would have failed).
    assert {e["model"] for e in events if e["type"] == "cost"} == {"scripted-team"}
    assert [(e["node"], e["kind"]) for e in events if e["type"] == "node_start"] == [
        ("research", "task"), ("Researcher", "agent"), ("write", "task"), ("Writer", "agent")]
    results = [(e["call_id"], e["output"]) for e in events if e["type"] == "tool_result"]
    assert results == [("task0-call0-lookup", "fact about pricing"),
                       ("task1-call0-draft", "draft on pricing"),
                       ("task1-call1-publish", "published pricing")]
    assert [e["type"] for e in events].count("tool_call") == 3
    assert [e["metadata"]["task"] for e in events if e["type"] == "checkpoint"] == \
        ["research", "write"]
    assert text_of(events) == react(LOOKUP) + react(FACTS) + "".join(map(react, writer))


async def test_concurrent_runs_see_only_their_own_events():
    """CrewAI's event bus is process-wide; each run gets only its own crew's events."""
    app = App(durable_store="memory://")

    def crew_for(input: Any) -> Crew:
        llm = ScriptedLLM(model=f"scripted-{input.message}", delay=0.002, script={
            "Researcher": [LOOKUP, f"facts for {input.message}"],
            "Writer": [f"text for {input.message}"]})
        built = team({})
        for agent in built.agents:
            agent.llm = llm
        return built

    @app.agent_endpoint("/team", runnable=CrewAIAdapter(crew_for))
    async def crew(message: str) -> str: ...

    async with running_client(app) as client:
        answers = await asyncio.gather(*(client.post("/team", json={"message": name})
                                         for name in ("alpha", "beta", "gamma")))
        runs = [r.json() for r in answers]
        logs = [await events_of(client, r["run_id"]) for r in runs]
    for name, run, events in zip(("alpha", "beta", "gamma"), runs, logs, strict=True):
        assert run["output"] == f"text for {name}", run
        assert text_of(events) == react(LOOKUP) + react(f"facts for {name}") + \
            react(f"text for {name}")
        assert {e["model"] for e in events if e["type"] == "cost"} == {f"scripted-{name}"}
        assert [e["type"] for e in events].count("node_start") == 4


class Report(BaseModel):
    title: str
    words: int


async def test_a_pydantic_output_is_the_runs_output():
    llm = ScriptedLLM(model="scripted", script=['{"title": "Pricing", "words": 7}'])
    analyst = Agent(role="Analyst", goal="Report", backstory="Exact.", llm=llm)
    report = Task(name="report", description="Report on {message}.",
                  expected_output="A report.", agent=analyst, output_pydantic=Report)
    app = App(durable_store="memory://")

    @app.agent_endpoint("/report", runnable=CrewAIAdapter(
        Crew(agents=[analyst], tasks=[report]), llm=llm))
    async def report_endpoint(message: str) -> Report: ...

    async with running_client(app) as client:
        answer = (await client.post("/report", json={"message": "pricing"})).json()
        checkpoint = await app.store.latest_checkpoint(answer["run_id"])
    assert answer["status"] == "completed", answer
    assert answer["output"] == {"title": "Pricing", "words": 7}
    assert checkpoint.state["tasks"]["0"]["pydantic"] == {"title": "Pricing", "words": 7}


async def test_a_failing_crew_fails_the_run():
    llm = ScriptedLLM(model="scripted", script={"Researcher": [], "Writer": []})
    app = App(durable_store="memory://")

    @app.agent_endpoint("/team", runnable=CrewAIAdapter(team({}), llm=llm))
    async def crew(message: str) -> str: ...

    async with running_client(app) as client:
        answer = (await client.post("/team", json={"message": "pricing"})).json()
        events = await events_of(client, answer["run_id"])
    assert answer["status"] == "failed", answer
    assert "no reply scripted" in answer["error"]["message"]
    task_end = [e for e in events if e["type"] == "node_end" and e["kind"] == "task"]
    assert task_end and "no reply scripted" in task_end[0]["error"]["message"]


def test_the_adapter_wraps_a_crew_or_a_factory():
    with pytest.raises(TypeError, match="crewai.Crew"):
        CrewAIAdapter("not a crew")
    adapter = CrewAIAdapter(lambda: "still not a crew")
    with pytest.raises(TypeError, match="not a crewai.Crew"):
        adapter.crew_for_run()
