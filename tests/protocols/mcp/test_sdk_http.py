"""MCP over Streamable HTTP, driven by the official MCP Python SDK client against a live server.

Every test starts its own uvicorn server (``live_server``) and talks to it with
``mcp.client.session.ClientSession`` over ``streamable_http_client``, so what is checked is what
a real MCP client sees, not our own reading of the spec.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import warnings
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from conftest import wait_for
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.exceptions import ToolError

INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002
RUN_ID_META = "io.fastagentic/run_id"


@contextlib.asynccontextmanager
async def mcp_session(url: str, **kwargs: Any) -> AsyncIterator[ClientSession]:
    """An initialized SDK session on ``url``/mcp."""
    async with streamable_http_client(url + "/mcp") as (read, write), \
            ClientSession(read, write, **kwargs) as session:
        await session.initialize()
        yield session


# a test App with the features the quickstart does not have


class Kind(str, Enum):
    bug = "bug"
    billing = "billing"
    feature = "feature"


class Report(BaseModel):
    name: str
    count: int


def make_app(tmp_path: Path) -> tuple[App, dict[str, Any]]:
    app = App(title="MCP features", version="2.5.0",
              durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    state: dict[str, Any] = {"calls": 0, "steps": 0, "cancelled": False}

    @app.tool
    def counted(amount: int, label: str = "x") -> int:
        """Counts its calls."""
        state["calls"] += 1
        return amount * 2

    @app.tool
    def broken(reason: str = "the widget is jammed") -> str:
        """Always reports a failure to its caller."""
        raise ToolError(reason)

    @app.resource("res://text", mime_type="text/plain")
    def text_resource() -> str:
        """Some text."""
        return "hello, resource"

    @app.resource("res://bytes", mime_type="image/png")
    def bytes_resource() -> bytes:
        """Some bytes."""
        return b"\x89PNG\x00\x01\xff"

    @app.resource("res://model")
    def model_resource() -> Report:
        """A model."""
        return Report(name="weekly", count=7)

    @app.resource("res://items/{item_id}", mime_type="text/plain")
    def item(item_id: str) -> str:
        """One item by id."""
        return f"item {item_id}"

    @app.prompt(title="File a ticket")
    def file_ticket(kind: Kind, severity: Literal["low", "high", "highest"] = "low",
                    note: str = "") -> str:
        """Files a ticket."""
        return f"File a {kind.value} ticket of {severity} severity. {note}".strip()

    @app.agent_endpoint("/loop", mcp_tool="loop", description="Streams for a long time.")
    async def loop(ctx: RunContext) -> str:
        try:
            for i in range(1000):
                state["steps"] += 1
                await ctx.token(f"step {i} ")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        return "finished"

    return app, state


# lifecycle


async def test_initialize_negotiates_2025_11_25_and_reports_the_app(live_server, quickstart):
    with live_server(quickstart) as server:
        async with streamable_http_client(server.url + "/mcp") as (read, write), \
                ClientSession(read, write) as session:
            result = await session.initialize()
            assert result.protocol_version == "2025-11-25"
            assert result.server_info.name == "Quickstart"
            assert result.server_info.version == "1.0.0"
            caps = result.capabilities
            assert caps.tools is not None and caps.resources is not None
            assert caps.prompts is not None and caps.logging is not None
            assert caps.completions is not None
            await session.send_ping()


# tools


async def test_tools_list_names_and_schemas(live_server, quickstart):
    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == {"add", "triage_ticket", "chat"}
    assert listed.next_cursor is None

    add = tools["add"]
    assert add.description == "Add two integers."
    assert add.input_schema["type"] == "object"
    assert set(add.input_schema["properties"]) == {"a", "b"}
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    assert sorted(add.input_schema["required"]) == ["a", "b"]
    # A non-object return is wrapped: structured content is always an object.
    assert add.output_schema == {"type": "object", "properties": {"result": {"type": "integer"}},
                                 "required": ["result"]}

    triage = tools["triage_ticket"]
    assert triage.title == "Triage a support ticket"
    assert triage.input_schema["type"] == "object"
    assert set(triage.input_schema["properties"]) == {"subject", "body", "customer_tier"}
    assert triage.input_schema["required"] == ["subject"]
    # The model's own object schema, not wrapped.
    out = triage.output_schema
    assert out is not None and out["type"] == "object"
    assert set(out["properties"]) == {"priority", "queue", "reasons"}
    assert "result" not in out["properties"]
    assert out["$defs"]["Priority"]["enum"] == ["low", "normal", "urgent"]

    chat = tools["chat"]
    assert chat.input_schema["type"] == "object"
    assert "message" in chat.input_schema["properties"]


async def test_call_tool_returns_text_and_structured_content(live_server, quickstart):
    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            result = await session.call_tool("add", {"a": 2, "b": 3})
            triage = await session.call_tool("triage_ticket", {
                "subject": "Site is down", "body": "outage since 9am", "customer_tier": 3})
    assert result.is_error is False
    assert len(result.content) == 1
    assert result.content[0].type == "text" and result.content[0].text == "5"
    assert result.structured_content == {"result": 5}

    assert triage.is_error is False
    assert triage.structured_content["priority"] == "urgent"
    assert triage.structured_content["queue"] == "support"
    assert json.loads(triage.content[0].text) == triage.structured_content


async def test_invalid_arguments_are_a_tool_error_and_the_tool_does_not_run(live_server,
                                                                            tmp_path):
    app, state = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            bad_type = await session.call_tool("counted", {"amount": "not a number"})
            missing = await session.call_tool("counted", {"label": "y"})
            bad_label = await session.call_tool("counted", {"amount": 1, "label": ["no"]})
            assert state["calls"] == 0  # the function never ran
            good = await session.call_tool("counted", {"amount": 4})
    for result, field in ((bad_type, "amount"), (missing, "amount"), (bad_label, "label")):
        # Reported to the model as a failed call (it can correct itself), not a protocol error.
        assert result.is_error is True
        assert result.structured_content is None
        text = result.content[0].text
        assert "counted" in text
        assert f"{field}:" in text, text
    assert "required" in missing.content[0].text.lower()
    assert good.is_error is False and good.structured_content == {"result": 8}
    assert state["calls"] == 1


async def test_unknown_tool_is_a_protocol_error(live_server, quickstart):
    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            with pytest.raises(MCPError) as info:
                await session.call_tool("no_such_tool", {})
            assert info.value.code == INVALID_PARAMS
            assert "no_such_tool" in info.value.message
            # The session is still usable.
            assert (await session.call_tool("add", {"a": 1, "b": 1})).structured_content == {
                "result": 2}


async def test_tool_error_is_reported_with_its_message(live_server, tmp_path):
    app, _ = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            result = await session.call_tool("broken", {})
            custom = await session.call_tool("broken", {"reason": "out of paper"})
    assert result.is_error is True
    assert result.content[0].text == "the widget is jammed"
    assert custom.is_error is True and custom.content[0].text == "out of paper"


# resources


async def test_resources_and_templates_are_listed(live_server, tmp_path):
    app, _ = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            resources = await session.list_resources()
            templates = await session.list_resource_templates()
    by_uri = {str(r.uri): r for r in resources.resources}
    assert set(by_uri) == {"res://text", "res://bytes", "res://model"}
    assert by_uri["res://text"].mime_type == "text/plain"
    assert by_uri["res://bytes"].mime_type == "image/png"
    assert by_uri["res://text"].description == "Some text."
    assert [t.uri_template for t in templates.resource_templates] == ["res://items/{item_id}"]
    assert templates.resource_templates[0].name == "item"


async def test_quickstart_template_resource_is_listed_and_read(live_server, quickstart):
    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            resources = await session.list_resources()
            templates = await session.list_resource_templates()
            page = await session.read_resource("docs://quickstart/tools")
            other = await session.read_resource("docs://quickstart/anything")
    assert resources.resources == []
    assert [t.uri_template for t in templates.resource_templates] == ["docs://quickstart/{topic}"]
    assert templates.resource_templates[0].mime_type == "text/markdown"
    (content,) = page.contents
    assert str(content.uri) == "docs://quickstart/tools"
    assert content.mime_type == "text/markdown"
    assert content.text.startswith("# Tools")
    assert other.contents[0].text.startswith("# anything")


async def test_read_static_resources_text_bytes_and_model(live_server, tmp_path):
    app, _ = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            text = (await session.read_resource("res://text")).contents[0]
            blob = (await session.read_resource("res://bytes")).contents[0]
            model = (await session.read_resource("res://model")).contents[0]
            templated = (await session.read_resource("res://items/42")).contents[0]
    assert isinstance(text, types.TextResourceContents)
    assert text.text == "hello, resource" and text.mime_type == "text/plain"

    assert isinstance(blob, types.BlobResourceContents)
    assert blob.mime_type == "image/png"
    assert base64.b64decode(blob.blob) == b"\x89PNG\x00\x01\xff"

    assert isinstance(model, types.TextResourceContents)
    assert model.mime_type == "application/json"
    assert json.loads(model.text) == {"name": "weekly", "count": 7}

    assert templated.text == "item 42" and str(templated.uri) == "res://items/42"


async def test_unknown_resource_is_error_32002(live_server, tmp_path):
    app, _ = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            for uri in ("res://nothing", "res://items/1/2", "other://text"):
                with pytest.raises(MCPError) as info:
                    await session.read_resource(uri)
                assert info.value.code == RESOURCE_NOT_FOUND, uri
            await session.send_ping()


# prompts and completion


async def test_prompts_list_and_get(live_server, tmp_path, quickstart):
    app, _ = make_app(tmp_path)
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            listed = await session.list_prompts()
            got = await session.get_prompt("file_ticket", {"kind": "bug", "severity": "high"})
            with pytest.raises(MCPError) as unknown:
                await session.get_prompt("no_such_prompt", {})
    (p,) = listed.prompts
    assert p.name == "file_ticket" and p.title == "File a ticket"
    assert p.description == "Files a ticket."
    required = {a.name: a.required for a in p.arguments}
    assert required == {"kind": True, "severity": False, "note": False}
    assert got.messages[0].role == "user"
    assert got.messages[0].content.type == "text"
    assert got.messages[0].content.text == "File a bug ticket of high severity."
    assert unknown.value.code == INVALID_PARAMS

    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            listed = await session.list_prompts()
            got = await session.get_prompt("summarize", {"subject": "Printer on fire"})
    (p,) = listed.prompts
    assert p.name == "summarize"
    assert {a.name: a.required for a in p.arguments} == {"subject": True, "tone": False}
    assert "Printer on fire" in got.messages[0].content.text
    assert "neutral" in got.messages[0].content.text


async def test_completion_of_enum_and_literal_prompt_arguments(live_server, tmp_path):
    app, _ = make_app(tmp_path)
    ref = types.PromptReference(type="ref/prompt", name="file_ticket")
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            enum_b = await session.complete(ref, {"name": "kind", "value": "b"})
            enum_all = await session.complete(ref, {"name": "kind", "value": ""})
            literal_hi = await session.complete(ref, {"name": "severity", "value": "hi"})
            literal_none = await session.complete(ref, {"name": "severity", "value": "z"})
            free_text = await session.complete(ref, {"name": "note", "value": "a"})
    assert enum_b.completion.values == ["bug", "billing"]
    assert enum_all.completion.values == ["bug", "billing", "feature"]
    assert literal_hi.completion.values == ["high", "highest"]
    assert literal_hi.completion.total == 2
    assert literal_hi.completion.has_more is False
    assert literal_none.completion.values == []
    assert free_text.completion.values == []


# logging


async def test_logging_set_level(live_server, quickstart):
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    with live_server(quickstart) as server:
        async with mcp_session(server.url, logging_callback=on_log) as session:
            with warnings.catch_warnings():  # deprecated in the SDK's newest revision only
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                assert isinstance(await session.set_logging_level("info"), types.EmptyResult)
            bad = types.SetLevelRequest(
                params=types.SetLevelRequestParams.model_construct(level="loud"))
            with pytest.raises(MCPError) as info:
                await session.send_request(bad, types.EmptyResult)
            assert info.value.code == INVALID_PARAMS
            # With a level set, an agent tool's run events are also sent as log messages.
            result = await session.call_tool("chat", {"message": "hello"})
            assert result.is_error is False
            await wait_for(lambda: any(p.data.get("type") == "done" for p in logs), timeout=2)
    assert all(p.level == "info" for p in logs)
    assert {p.data["type"] for p in logs} >= {"run_started", "done"}


# agent tools


async def test_agent_tool_streams_progress_and_returns_the_run_output(live_server, quickstart):
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    with live_server(quickstart) as server:
        async with mcp_session(server.url) as session:
            result = await session.call_tool("chat", {"message": "what is 2 + 3?"},
                                             progress_callback=on_progress)
        assert result.is_error is False
        assert result.content[0].text == "Let me think. 2 + 3 = 5. "
        run_id = result.meta[RUN_ID_META]
        async with httpx.AsyncClient(base_url=server.url) as http:
            run = (await http.get(f"/runs/{run_id}")).json()
            events = (await http.get(f"/runs/{run_id}/events",
                                     headers={"Accept": "application/json"})).json()["events"]
    assert run["status"] == "completed"
    assert run["endpoint"] == "chat"
    assert run["output"] == result.content[0].text

    # One progress notification per run event, in order, tokens carrying their text.
    assert [p[0] for p in progress] == [e["seq"] for e in events]
    expected = [e["content"] if e["type"] == "token" else e["type"] for e in events]
    assert [p[2] for p in progress] == expected
    tokens = [p[2] for p, e in zip(progress, events, strict=True) if e["type"] == "token"]
    assert "".join(tokens) == result.content[0].text
    assert events[-1]["type"] == "done"


async def test_cancelling_an_agent_tool_call_cancels_the_run(live_server, tmp_path):
    app, state = make_app(tmp_path)
    started = asyncio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if message and message.startswith("step"):
            started.set()

    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            async with mcp_session(server.url) as session:
                call = asyncio.create_task(
                    session.call_tool("loop", {}, progress_callback=on_progress))
                await asyncio.wait_for(started.wait(), 5)
                call.cancel()  # the SDK sends notifications/cancelled for the abandoned call
                with pytest.raises(asyncio.CancelledError):
                    await call
                runs = (await http.get("/runs", params={"endpoint": "loop"})).json()["runs"]
                assert len(runs) == 1
                run_id = runs[0]["run_id"]

                async def cancelled() -> bool:
                    r = await http.get(f"/runs/{run_id}")
                    return r.json()["status"] == "cancelled"

                await wait_for(cancelled, timeout=3)
                await session.send_ping()  # the session outlives the cancelled call
            await wait_for(lambda: state["cancelled"], timeout=3)  # the agent code was stopped
            assert state["steps"] < 1000


# pagination


async def test_tools_list_pagination(live_server, tmp_path):
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    def make(i: int) -> Any:
        def fn(x: int = 0) -> int:
            return x + i

        return fn

    names = [f"tool_{i:03d}" for i in range(150)]
    for i, name in enumerate(names):
        app.tool(make(i), name=name, description=f"Tool number {i}.")

    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            first = await session.list_tools()
            assert len(first.tools) == 100
            assert first.next_cursor is not None
            second = await session.list_tools(
                params=types.PaginatedRequestParams(cursor=first.next_cursor))
            assert len(second.tools) == 50
            assert second.next_cursor is None
            listed = [t.name for t in first.tools] + [t.name for t in second.tools]
            assert sorted(listed) == names and len(set(listed)) == 150

            for cursor in ("not a cursor", "%%%", "MTA"):
                with pytest.raises(MCPError) as info:
                    await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                assert info.value.code == INVALID_PARAMS, cursor
            assert (await session.call_tool("tool_149", {"x": 1})).structured_content == {
                "result": 150}


async def test_a_forged_negative_cursor_is_invalid(live_server, tmp_path):
    """Cursors the server never issued (offsets out of range) are refused, not served."""
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    for i in range(150):
        app.tool(lambda x=0: x, name=f"tool_{i:03d}")
    with live_server(app) as server:
        async with mcp_session(server.url) as session:
            for offset in (b"-5", b"1000"):  # before the start, past the end
                forged = base64.urlsafe_b64encode(offset).decode()
                with pytest.raises(MCPError) as info:
                    await session.list_tools(params=types.PaginatedRequestParams(cursor=forged))
                assert info.value.code == INVALID_PARAMS, offset
            await session.send_ping()
