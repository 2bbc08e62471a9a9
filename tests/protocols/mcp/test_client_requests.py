"""Tools and agents that ask their client: elicitation, sampling, runs' input requests.

2025-11-25 asks with real server-to-client requests; 2026-07-28 with multi round-trip
``input_required`` results.  The official SDK client answers through its callbacks in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import types
from mcp.client import Client
from mcp.client.sse import sse_client

from conftest import ROOT, LiveServer, running_client, wait_for
from fastagentic import App, CallContext

ASKING = ROOT / "tests" / "apps" / "mcp_asking.py"
MODES = ["legacy", "2026-07-28"]


def load_asking(tmp_path: Path) -> Any:
    import importlib.util
    import sys
    import time

    name = f"mcp_asking_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(name, ASKING)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.app.settings.durable_store = f"sqlite:///{tmp_path / 'runs.db'}"
    return module.app


class Answers:
    """The SDK client's callbacks, recording what they were asked."""

    def __init__(self, *elicit_replies: dict[str, Any], action: str = "accept") -> None:
        self.replies = list(elicit_replies)
        self.action = action
        self.elicited: list[Any] = []
        self.sampled: list[Any] = []

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.elicited.append(params)
        if self.action != "accept":
            return types.ElicitResult(action=self.action)
        return types.ElicitResult(action="accept", content=self.replies.pop(0))

    async def sample(self, context: Any, params: Any) -> types.CreateMessageResult:
        self.sampled.append(params)
        return types.CreateMessageResult(
            role="assistant", model="test-model", stopReason="endTurn",
            content=types.TextContent(type="text", text="Paris"))

    def client(self, url: Any, mode: str) -> Client:
        return Client(url, mode=mode, cache=None, elicitation_callback=self.elicit,
                      sampling_callback=self.sample)


@pytest.mark.parametrize("mode", MODES)
async def test_elicitation_reaches_the_user_and_its_answer_the_tool(tmp_path: Path,
                                                                   mode: str) -> None:
    app = load_asking(tmp_path)
    answers = Answers({"name": "Ada", "age": 36})
    with LiveServer(app) as server:
        async with answers.client(server.url + "/mcp", mode) as client:
            result = await client.call_tool("greet", {})
    assert not result.is_error, result.content
    assert result.content[0].text == "Hello Ada, 36!"
    assert len(answers.elicited) == 1
    asked = answers.elicited[0]
    assert asked.message == "Who are you?"
    assert set(asked.requested_schema["properties"]) == {"name", "age"}


@pytest.mark.parametrize("mode", MODES)
async def test_sampling_and_multiple_rounds(tmp_path: Path, mode: str) -> None:
    app = load_asking(tmp_path)
    answers = Answers({"a": "one"}, {"b": "two"})
    with LiveServer(app) as server:
        async with answers.client(server.url + "/mcp", mode) as client:
            capital = await client.call_tool("capital", {"country": "France"})
            both = await client.call_tool("two_questions", {})
    assert capital.content[0].text == "model says: Paris"
    assert "France" in str(answers.sampled[0].messages[0].content)
    assert both.content[0].text == "one+two"
    assert [e.message for e in answers.elicited] == ["First?", "Second?"]


@pytest.mark.parametrize("mode", MODES)
async def test_declining_is_reported_to_the_tool(tmp_path: Path, mode: str) -> None:
    app = load_asking(tmp_path)
    answers = Answers(action="decline")
    with LiveServer(app) as server:
        async with answers.client(server.url + "/mcp", mode) as client:
            result = await client.call_tool("greet", {})
    assert result.content[0].text == "No greeting (decline)"


@pytest.mark.parametrize("mode", MODES)
async def test_a_runs_input_request_is_asked_over_mcp_and_resumes_the_run(
        tmp_path: Path, mode: str) -> None:
    app = load_asking(tmp_path)
    answers = Answers({"approved": True})
    with LiveServer(app) as server:
        async with answers.client(server.url + "/mcp", mode) as client:
            result = await client.call_tool("refund", {"order": "A-7"})
        assert result.content[0].text == "A-7: refunded"
        run_id = result.meta["io.fastagentic/run_id"]
        async with httpx.AsyncClient(base_url=server.url) as http:
            run = (await http.get(f"/runs/{run_id}")).json()
            events = (await http.get(f"/runs/{run_id}/events",
                                     headers={"Accept": "application/json"})).json()
    assert run["status"] == "completed" and run["output"] == "A-7: refunded"
    kinds = [e["type"] for e in events["events"]]
    assert kinds.count("input_required") == 1 and kinds[-1] == "done"
    assert answers.elicited[0].message == "Refund A-7?"


async def test_a_client_without_elicitation_leaves_the_run_waiting(tmp_path: Path) -> None:
    app = load_asking(tmp_path)
    with LiveServer(app) as server:
        async with Client(server.url + "/mcp", mode="legacy", cache=None) as client:
            result = await client.call_tool("refund", {"order": "B-1"})
        assert result.is_error
        assert "waiting for input" in result.content[0].text
        async with httpx.AsyncClient(base_url=server.url) as http:
            runs = (await http.get("/runs")).json()["runs"]
            assert runs[0]["status"] == "input_required"
            resumed = await http.post(f"/runs/{runs[0]['run_id']}/resume",
                                      json={"approved": False})
            assert resumed.status_code == 200


async def test_over_rest_a_tool_that_asks_its_client_is_refused_clearly(tmp_path: Path
                                                                       ) -> None:
    app = load_asking(tmp_path)
    async with running_client(app) as client:
        response = await client.post("/tools/greet", json={})
    assert response.status_code == 409
    assert response.json()["code"] == "client_input_unavailable"


async def test_tampered_request_state_is_refused(tmp_path: Path) -> None:
    app = load_asking(tmp_path)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
               "Mcp-Name": "greet", "Accept": "application/json"}

    def body(**params: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "greet", "arguments": {}, "_meta": meta, **params}}

    async with running_client(app) as client:
        first = (await client.post("/mcp", json=body(), headers=headers)).json()["result"]
        assert first["resultType"] == "input_required"
        key = next(iter(first["inputRequests"]))
        state = first["requestState"]
        answer = {key: {"action": "accept", "content": {"name": "Eve", "age": 1}}}
        bad = await client.post("/mcp", json=body(requestState=state + "x",
                                                  inputResponses=answer), headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32602
        # The state is bound to its target: it cannot be replayed on other arguments.
        other = await client.post("/mcp", json={**body(requestState=state, inputResponses=answer),
                                                "params": {**body()["params"],
                                                           "arguments": {"x": 1},
                                                           "requestState": state,
                                                           "inputResponses": answer}},
                                  headers=headers)
        assert other.json()["error"]["code"] == -32602
        good = await client.post("/mcp", json=body(requestState=state, inputResponses=answer),
                                 headers=headers)
        assert good.json()["result"]["content"][0]["text"] == "Hello Eve, 1!"


async def test_legacy_http_sse_transport(tmp_path: Path) -> None:
    app = load_asking(tmp_path)
    answers = Answers({"name": "Lin", "age": 5})
    with LiveServer(app) as server:
        async with Client(sse_client(server.url + "/sse"), mode="legacy", cache=None,
                          elicitation_callback=answers.elicit) as client:
            assert client.protocol_version == "2025-11-25"
            assert {t.name for t in (await client.list_tools()).tools} >= {"greet", "refund"}
            result = await client.call_tool("greet", {})
        assert result.content[0].text == "Hello Lin, 5!"
        async with httpx.AsyncClient(base_url=server.url) as http:
            missing = await http.post("/messages", json={"jsonrpc": "2.0", "id": 1,
                                                         "method": "ping"})
            unknown = await http.post("/messages?session_id=nope",
                                      json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert missing.status_code == 400 and unknown.status_code == 404


@pytest.mark.parametrize("mode", MODES)
async def test_url_elicitation_needs_the_url_capability(tmp_path: Path, mode: str) -> None:
    app = load_asking(tmp_path)
    seen: list[Any] = []

    async def accept(context: Any, params: Any) -> types.ElicitResult:
        seen.append(params)
        return types.ElicitResult(action="accept")

    with LiveServer(app) as server:
        async with Client(server.url + "/mcp", mode=mode, cache=None,
                          elicitation_callback=accept) as client:
            result = await client.call_tool("sign_in", {})
    # The SDK client declares both modes when it has an elicitation callback.
    assert result.content[0].text == "sign-in accept", result.content
    assert seen[0].mode == "url" and seen[0].url == "https://auth.example/sign-in"


async def test_form_only_clients_are_not_sent_to_urls(tmp_path: Path) -> None:
    app = load_asking(tmp_path)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
               "Mcp-Name": "sign_in", "Accept": "application/json"}
    async with running_client(app) as client:
        reply = await client.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "sign_in", "arguments": {}, "_meta": meta}})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == -32021
    assert error["data"]["requiredCapabilities"] == {"elicitation": {"url": {}}}


async def test_declared_completions(tmp_path: Path) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    async def cities(prefix: str) -> list[str]:
        return [c for c in ("Paris", "Padua", "Porto", "Lyon") if c.startswith(prefix)]

    @app.prompt(complete={"city": cities, "style": ["brief", "detailed"]})
    def trip(city: str, style: str = "brief") -> str:
        """Plan a trip."""
        return f"Plan a {style} trip to {city}."

    @app.resource("weather://{city}", complete={"city": ["Paris", "Porto"]})
    def weather(city: str) -> str:
        """Weather by city."""
        return f"sunny in {city}"

    async with running_client(app) as client:
        init = await client.post("/mcp", headers={"Accept": "application/json"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
        session = {"Accept": "application/json", "Mcp-Session-Id":
                   init.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}

        async def complete(ref: dict[str, Any], name: str, value: str) -> list[str]:
            reply = await client.post("/mcp", headers=session, json={
                "jsonrpc": "2.0", "id": 2, "method": "completion/complete",
                "params": {"ref": ref, "argument": {"name": name, "value": value}}})
            return reply.json()["result"]["completion"]["values"]

        prompt = {"type": "ref/prompt", "name": "trip"}
        assert await complete(prompt, "city", "Pa") == ["Paris", "Padua"]
        assert await complete(prompt, "style", "d") == ["detailed"]
        resource = {"type": "ref/resource", "uri": "weather://{city}"}
        assert await complete(resource, "city", "Po") == ["Porto"]
    with pytest.raises(Exception, match="not one of its arguments"):
        app.prompt(name="bad", complete={"nope": ["x"]})(lambda city: city)


async def test_over_rest_a_tool_run_turns_elicitation_into_an_input_request(tmp_path: Path
                                                                           ) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.tool(task_support="optional")
    async def rename(old: str, ctx: CallContext) -> str:
        """Renames after asking for the new name."""
        reply = await ctx.elicit(f"New name for {old}?", {
            "type": "object", "properties": {"name": {"type": "string"}},
            "required": ["name"]}, key="name")
        return f"{old} -> {reply['content']['name']}"

    @app.tool
    async def quick(ctx: CallContext) -> str:
        """Synchronous only."""
        return (await ctx.elicit("?", {"type": "object", "properties": {}}))["action"]

    async with running_client(app) as client:
        inline = await client.post("/tools/rename", json={"old": "a.txt"})
        assert inline.status_code == 409 and "respond-async" in inline.json()["message"]
        started = await client.post("/tools/rename", json={"old": "a.txt"},
                                    headers={"Prefer": "respond-async"})
        assert started.status_code == 202
        run_id = started.json()["run_id"]

        async def run_in(status: str) -> dict[str, Any] | None:
            run = (await client.get(f"/runs/{run_id}")).json()
            return run if run["status"] == status else None

        waiting = await wait_for(lambda: run_in("input_required"))
        assert waiting["input_request"]["prompt"] == "New name for a.txt?"
        bad = await client.post(f"/runs/{run_id}/resume", json={"title": 1})
        assert bad.status_code == 422
        await client.post(f"/runs/{run_id}/resume", json={"name": "b.txt"})
        done = await wait_for(lambda: run_in("completed"))
        assert done["output"] == "a.txt -> b.txt"
        forbidden = await client.post("/tools/quick", json={},
                                      headers={"Prefer": "respond-async"})
        assert forbidden.status_code == 409


async def test_icons_and_titles_reach_mcp_clients(tmp_path: Path) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    icon = {"src": "https://example.com/calc.png", "mimeType": "image/png", "sizes": ["48x48"]}

    @app.tool(title="Calculator", icons=[icon])
    def calc(a: int) -> int:
        """Doubles."""
        return a * 2

    @app.prompt(title="Greeting", icons=[icon])
    def hello() -> str:
        """Says hello."""
        return "hello"

    @app.resource("note://today", title="Today's note", icons=[icon])
    def today() -> str:
        """A note."""
        return "note"

    with LiveServer(app) as server:
        async with Client(server.url + "/mcp", mode="legacy", cache=None) as client:
            tool = (await client.list_tools()).tools[0]
            prompt = (await client.list_prompts()).prompts[0]
            resource = (await client.list_resources()).resources[0]
    for item, title in ((tool, "Calculator"), (prompt, "Greeting"), (resource, "Today's note")):
        assert item.title == title
        assert item.icons is not None and item.icons[0].src == icon["src"]
        assert item.icons[0].sizes == ["48x48"]
