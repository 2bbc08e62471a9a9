"""MCP Streamable HTTP on the wire: status codes, headers and JSON-RPC bodies, with raw httpx.

Most tests run against a live uvicorn server (real sockets, real streaming); the idle-reaping test
runs in process so it can watch the store without touching the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, load_quickstart, running_client, wait_for

from fastagentic import App, RunContext, Settings
from fastagentic.protocols.mcp.sessions import NAMESPACE

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

ACCEPT_BOTH = "application/json, text/event-stream"
HEADERS = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}


def rpc(method: str, params: dict[str, Any] | None = None, msg_id: int | str | None = 1
        ) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        message["id"] = msg_id
    if params is not None:
        message["params"] = params
    return message


INITIALIZE = rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                "clientInfo": {"name": "wire-test", "version": "0"}})


async def post(client: httpx.AsyncClient, body: Any, session: str | None = None,
               path: str = "/mcp", **headers: str) -> httpx.Response:
    h = dict(HEADERS)
    if session is not None:
        h["Mcp-Session-Id"] = session
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(path, content=content, headers=h)


async def initialize(client: httpx.AsyncClient, path: str = "/mcp", **headers: str) -> str:
    r = await post(client, INITIALIZE, path=path, **headers)
    assert r.status_code == 200, r.text
    session = r.headers["mcp-session-id"]
    assert session
    note = await post(client, rpc("notifications/initialized", msg_id=None), session, path,
                      **headers)
    assert note.status_code == 202
    return session


async def assert_ping(client: httpx.AsyncClient, session: str, path: str = "/mcp",
                      **headers: str) -> None:
    """The server still answers normally."""
    r = await post(client, rpc("ping", msg_id="p"), session, path, **headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"jsonrpc": "2.0", "id": "p", "result": {}}


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body, body
    return body["error"]


def parse_sse(text: str) -> list[dict[str, Any]]:
    frames = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        # A priming event (an id, empty data) lets a client resume; it carries no message.
        if fields.get("data", "").strip():
            frames.append({"event": fields.get("event"), "data": json.loads(fields["data"])})
    return frames


@contextlib.asynccontextmanager
async def live(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    with LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client


def quickstart_app(tmp_path: Path) -> Any:
    return load_quickstart(f"sqlite:///{tmp_path / 'runs.db'}")


def plain_app(tmp_path: Path, **settings: Any) -> App:
    app = App(title="wire", version="3.0.0", durable_store=f"sqlite:///{tmp_path / 'runs.db'}",
              **settings)

    @app.tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    return app


# sessions


async def test_initialize_returns_a_session_id_and_the_negotiated_version(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        r = await post(client, INITIALIZE)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        session = r.headers["mcp-session-id"]
        assert session and session.isascii() and session.isprintable() and " " not in session
        body = r.json()
        assert body["id"] == 1
        assert body["result"]["protocolVersion"] == "2025-11-25"
        assert body["result"]["serverInfo"]["name"] == "Quickstart"
        assert body["result"]["serverInfo"]["version"] == "1.0.0"

        older = await post(client, {**INITIALIZE, "params": {
            **INITIALIZE["params"], "protocolVersion": "2025-06-18"}})
        assert older.json()["result"]["protocolVersion"] == "2025-06-18"
        future = await post(client, {**INITIALIZE, "params": {
            **INITIALIZE["params"], "protocolVersion": "2099-01-01"}})
        assert future.json()["result"]["protocolVersion"] == "2025-11-25"
        assert len({session, older.headers["mcp-session-id"],
                    future.headers["mcp-session-id"]}) == 3
        await assert_ping(client, session)


async def test_requests_need_a_known_session(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)

        missing = await post(client, rpc("tools/list", msg_id=7))
        assert missing.status_code == 400
        assert error_of(missing)["code"] == INVALID_REQUEST
        assert missing.json()["id"] == 7
        await assert_ping(client, session)

        unknown = await post(client, rpc("tools/list", msg_id=8), "0" * 32)
        assert unknown.status_code == 404
        assert error_of(unknown)["code"] == INVALID_REQUEST
        assert unknown.json()["id"] == 8
        await assert_ping(client, session)

        listed = await post(client, rpc("tools/list"), session)
        assert listed.status_code == 200
        assert {t["name"] for t in listed.json()["result"]["tools"]} == {
            "add", "triage_ticket", "chat"}


async def test_unsupported_protocol_version_header_is_400(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for version in ("1999-01-01", "not-a-version"):
            r = await post(client, rpc("ping"), session, MCP_Protocol_Version=version)
            assert r.status_code == 400, version
            assert error_of(r)["code"] < 0  # a structured JSON-RPC rejection
            await assert_ping(client, session)
        ok = await post(client, rpc("ping"), session, MCP_Protocol_Version="2025-11-25")
        assert ok.status_code == 200 and ok.json()["result"] == {}
        older = await post(client, rpc("ping"), session, MCP_Protocol_Version="2025-06-18")
        assert older.status_code == 200
        await assert_ping(client, session)


async def test_delete_ends_the_session(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        other = await initialize(client)
        r = await client.delete("/mcp", headers={"Mcp-Session-Id": session})
        assert r.status_code == 200
        after = await post(client, rpc("ping"), session)
        assert after.status_code == 404
        again = await client.delete("/mcp", headers={"Mcp-Session-Id": session})
        assert again.status_code == 404
        no_header = await client.delete("/mcp")
        assert no_header.status_code == 400
        await assert_ping(client, other)  # other sessions are untouched


# JSON-RPC errors


async def test_malformed_json_is_a_parse_error(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for body in (b'{"jsonrpc": "2.0", "id": 1, "method": ', b"not json", b""):
            r = await post(client, body, session)
            assert r.status_code == 400, body
            assert error_of(r)["code"] == PARSE_ERROR
            assert r.json()["id"] is None
            await assert_ping(client, session)


async def test_invalid_requests_are_32600(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        bodies = [
            "a string", 42, None,                                  # not an object
            {"id": 1, "method": "ping"},                           # no jsonrpc
            {"jsonrpc": "1.0", "id": 1, "method": "ping"},         # wrong jsonrpc
            {"jsonrpc": "2.0", "id": 1, "method": 5},              # method not a string
            {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"},  # bad id
            {"jsonrpc": "2.0", "id": 1},                           # neither method nor result
        ]
        for body in bodies:
            r = await post(client, body, session)
            assert r.status_code == 400, body
            assert error_of(r)["code"] == INVALID_REQUEST, body
            await assert_ping(client, session)


async def test_batches_are_rejected(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for body in ([rpc("ping", msg_id=1), rpc("ping", msg_id=2)], []):
            r = await post(client, body, session)
            assert r.status_code == 400
            assert error_of(r)["code"] == INVALID_REQUEST
            assert "batch" in error_of(r)["message"].lower()
            await assert_ping(client, session)


async def test_unknown_method_is_32601(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        r = await post(client, rpc("tools/frobnicate", msg_id="u1"), session)
        assert r.status_code in (200, 404)
        assert r.json()["id"] == "u1"
        assert error_of(r)["code"] == METHOD_NOT_FOUND
        await assert_ping(client, session)


async def test_params_that_are_not_an_object_are_32602(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for params in ([1, 2], "x", 3):
            r = await post(client, {"jsonrpc": "2.0", "id": 41, "method": "tools/list",
                                    "params": params}, session)
            assert r.status_code in (200, 400)
            assert error_of(r)["code"] == INVALID_PARAMS
            # The request's id was readable, so the error answers it (JSON-RPC 2.0 §5).
            assert r.json()["id"] == 41
            await assert_ping(client, session)


async def test_notifications_and_responses_get_202_with_no_body(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for body in (rpc("notifications/initialized", msg_id=None),
                     rpc("notifications/whatever", {"x": 1}, msg_id=None),
                     rpc("notifications/cancelled", {"requestId": 99}, msg_id=None),
                     {"jsonrpc": "2.0", "id": "srv-1", "result": {}}):
            r = await post(client, body, session)
            assert r.status_code == 202, body
            assert r.content == b""
        await assert_ping(client, session)


# HTTP-level refusals


async def test_body_above_the_limit_is_413(tmp_path):
    app = plain_app(tmp_path, max_body_bytes=2048)
    async with live(app) as client:
        session = await initialize(client)
        big = rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2},
                                 "_meta": {"pad": "x" * 4096}})
        r = await post(client, big, session)
        assert r.status_code == 413
        await assert_ping(client, session)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            data = json.dumps(big).encode()
            for i in range(0, len(data), 512):
                yield data[i:i + 512]

        chunked = await client.post("/mcp", content=chunks(),
                                    headers={**HEADERS, "Mcp-Session-Id": session})
        assert chunked.status_code == 413
        await assert_ping(client, session)


async def test_wrong_content_type_is_415(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Accept": ACCEPT_BOTH, "Mcp-Session-Id": session}
            if content_type:
                headers["Content-Type"] = content_type
            r = await client.post("/mcp", content=json.dumps(rpc("ping")).encode(),
                                  headers=headers)
            assert r.status_code == 415, content_type
            await assert_ping(client, session)
        charset = await post(client, rpc("ping"), session,
                             Content_Type="application/json; charset=utf-8")
        assert charset.status_code == 200


async def test_accept_without_json_or_event_stream_is_406(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        r = await post(client, rpc("ping"), session, Accept="text/html")
        assert r.status_code == 406
        await assert_ping(client, session)
        for accept in ("application/json", "text/event-stream, application/json", "*/*"):
            ok = await post(client, rpc("ping"), session, Accept=accept)
            assert ok.status_code == 200, accept


def proxy_settings(**wanted: Any) -> dict[str, Any]:
    """Settings for a server addressed by another name / behind a proxy (the host check and
    the opt-in trust of forwarded headers are recent settings: pass the ones that exist)."""
    return {k: v for k, v in wanted.items() if k in Settings.model_fields}


async def test_origin_from_another_site_is_refused(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        port = client.base_url.port
        session = await initialize(client)

        evil = await post(client, rpc("ping"), session, Origin="https://evil.example")
        assert evil.status_code == 403
        assert error_of(evil)["code"] == INVALID_REQUEST
        init_evil = await post(client, INITIALIZE, Origin="http://evil.example")
        assert init_evil.status_code == 403
        assert "mcp-session-id" not in init_evil.headers
        delete_evil = await client.delete("/mcp", headers={"Mcp-Session-Id": session,
                                                           "Origin": "https://evil.example"})
        assert delete_evil.status_code == 403
        get_evil = await client.get("/mcp", headers={"Mcp-Session-Id": session,
                                                     "Accept": "text/event-stream",
                                                     "Origin": "https://evil.example"})
        assert get_evil.status_code == 403
        await assert_ping(client, session)  # not deleted

        # Loopback pages may talk to a loopback server, whatever their port.
        for origin in (f"http://127.0.0.1:{port}", "http://localhost:3000", "http://[::1]:8080"):
            ok = await post(client, rpc("ping"), session, Origin=origin)
            assert ok.status_code == 200, origin
        await assert_ping(client, session)


async def test_dns_rebinding_is_refused(tmp_path):
    """A page on evil.example rebound to 127.0.0.1: the browser sends Host and Origin of
    evil.example, which match each other; a loopback server must still refuse it."""
    async with live(quickstart_app(tmp_path)) as client:
        port = client.base_url.port
        session = await initialize(client)
        for body, sid in ((INITIALIZE, None), (rpc("ping"), session)):
            r = await post(client, body, sid, Host=f"evil.example:{port}",
                           Origin=f"http://evil.example:{port}")
            assert r.status_code in (403, 421), r.status_code
            assert "mcp-session-id" not in r.headers
        await assert_ping(client, session)


async def test_same_host_origin_is_allowed(tmp_path):
    app = plain_app(tmp_path, **proxy_settings(mcp_allowed_hosts=["mcp.example.com"]))
    async with live(app) as client:
        session = await initialize(client, Host="mcp.example.com",
                                   Origin="https://mcp.example.com")
        same = await post(client, rpc("ping"), session, Host="mcp.example.com",
                          Origin="https://mcp.example.com")
        assert same.status_code == 200
        cross = await post(client, rpc("ping"), session, Host="mcp.example.com",
                           Origin="https://app.example.com")
        assert cross.status_code == 403
        await assert_ping(client, session, Host="mcp.example.com")


async def test_forwarded_host_makes_the_proxied_origin_allowed(tmp_path):
    app = plain_app(tmp_path, **proxy_settings(trust_forwarded_headers=True,
                                               mcp_allowed_hosts=["public.example"]))
    proxied = "https://public.example"
    async with live(app) as client:
        forwarded_host = await post(client, INITIALIZE, Origin=proxied,
                                    X_Forwarded_Host="public.example")
        assert forwarded_host.status_code == 200
        session = forwarded_host.headers["mcp-session-id"]
        ok = await post(client, rpc("ping"), session, Origin=proxied,
                        X_Forwarded_Host="public.example")
        assert ok.status_code == 200
        forwarded = await post(client, rpc("ping"), session, Origin=proxied,
                               Forwarded='for=10.0.0.1;host="public.example";proto=https')
        assert forwarded.status_code == 200
        forwarded_list = await post(client, rpc("ping"), session, Origin=proxied,
                                    X_Forwarded_Host="public.example, internal:8000")
        assert forwarded_list.status_code == 200
        other = await post(client, rpc("ping"), session, Origin="https://other.example",
                           X_Forwarded_Host="public.example")
        assert other.status_code == 403
        assert (await post(client, rpc("ping"), session, Origin=proxied,
                           X_Forwarded_Host="public.example")).status_code == 200


async def test_forwarded_headers_are_not_trusted_by_default(tmp_path):
    if "trust_forwarded_headers" not in Settings.model_fields:
        pytest.skip("this version trusts forwarded headers unconditionally")
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        spoofed = await post(client, rpc("ping"), session, Origin="https://public.example",
                             X_Forwarded_Host="public.example")
        assert spoofed.status_code in (403, 421)
        spoofed = await post(client, rpc("ping"), session, Origin="https://public.example",
                             Forwarded="host=public.example")
        assert spoofed.status_code in (403, 421)
        await assert_ping(client, session)


async def test_allowed_origins_setting(tmp_path):
    app = plain_app(tmp_path, mcp_allowed_origins=["https://app.example"])
    async with live(app) as client:
        session = await initialize(client, Origin="https://app.example")
        ok = await post(client, rpc("ping"), session, Origin="https://app.example")
        assert ok.status_code == 200
        no = await post(client, rpc("ping"), session, Origin="https://app.example.evil")
        assert no.status_code == 403
        no = await post(client, rpc("ping"), session, Origin="https://other.example")
        assert no.status_code == 403
        await assert_ping(client, session)


# GET stream


async def test_get_opens_the_session_stream(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        async with client.stream("GET", "/mcp", headers={
                "Accept": "text/event-stream", "Mcp-Session-Id": session}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
        wrong = await client.get("/mcp", headers={"Accept": "application/json",
                                                  "Mcp-Session-Id": session})
        assert wrong.status_code == 406
        none = await client.get("/mcp", headers={"Mcp-Session-Id": session})
        assert none.status_code == 406
        no_session = await client.get("/mcp", headers={"Accept": "text/event-stream"})
        assert no_session.status_code == 400
        unknown = await client.get("/mcp", headers={"Accept": "text/event-stream",
                                                    "Mcp-Session-Id": "f" * 32})
        assert unknown.status_code == 404
        await assert_ping(client, session)


async def test_delete_ends_the_sessions_get_stream(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        async with client.stream("GET", "/mcp", headers={
                "Accept": "text/event-stream", "Mcp-Session-Id": session}) as r:
            assert r.status_code == 200
            r2 = await client.delete("/mcp", headers={"Mcp-Session-Id": session})
            assert r2.status_code == 200

            async def drain() -> None:
                async for _ in r.aiter_bytes():
                    pass

            await asyncio.wait_for(drain(), 3)  # the stream ends with the session


# streaming tool calls


async def test_agent_tool_call_streams_progress_as_sse(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        call = rpc("tools/call", {"name": "chat", "arguments": {"message": "what is 2 + 3?"},
                                  "_meta": {"progressToken": "tok-1"}}, msg_id=11)
        r = await post(client, call, session)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = parse_sse(r.text)
        assert frames and all(f["event"] == "message" for f in frames)
        *notes, last = frames
        assert notes
        for frame in notes:
            assert frame["data"]["method"] == "notifications/progress"
            assert frame["data"]["params"]["progressToken"] == "tok-1"
            assert "id" not in frame["data"]
        progress = [f["data"]["params"]["progress"] for f in notes]
        assert progress == sorted(progress) and len(set(progress)) == len(progress)
        assert last["data"]["id"] == 11
        result = last["data"]["result"]
        assert result["isError"] is False
        assert result["content"] == [{"type": "text", "text": "Let me think. 2 + 3 = 5. "}]
        run_id = result["_meta"]["io.fastagentic/run_id"]
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "completed"
        tokens = "".join(f["data"]["params"]["message"] for f in notes
                         if f["data"]["params"]["message"] not in (
                             "run_started", "status", "tool_call", "tool_result", "done"))
        assert tokens == "Let me think. 2 + 3 = 5. "

        # The same agent call with only Accept: application/json answers with JSON.
        plain_json = await post(client, call, session, Accept="application/json")
        assert plain_json.headers["content-type"].startswith("application/json")
        assert plain_json.json()["result"]["content"][0]["text"] == "Let me think. 2 + 3 = 5. "


async def test_plain_tool_answers_json_even_when_sse_is_accepted(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        session = await initialize(client)
        call = rpc("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3},
                                  "_meta": {"progressToken": "tok-2"}}, msg_id=12)
        r = await post(client, call, session)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == {"jsonrpc": "2.0", "id": 12, "result": {
            "content": [{"type": "text", "text": "5"}], "structuredContent": {"result": 5},
            "isError": False}}


async def test_cancelled_streamed_call_ends_its_stream_cleanly(tmp_path):
    """notifications/cancelled stops the run and the call's SSE response ends as a whole
    HTTP response (no truncated body), without a result for the cancelled request."""
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/loop", mcp_tool="loop")
    async def loop(ctx: RunContext) -> str:
        for i in range(1000):
            await ctx.token(f"step {i} ")
            await asyncio.sleep(0.01)
        return "finished"

    async with live(app) as client:
        session = await initialize(client)
        call = rpc("tools/call", {"name": "loop", "arguments": {},
                                  "_meta": {"progressToken": 5}}, msg_id="long")
        frames: list[dict[str, Any]] = []
        async with client.stream("POST", "/mcp", content=json.dumps(call).encode(),
                                 headers={**HEADERS, "Mcp-Session-Id": session}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.aiter_lines()
            async for line in lines:
                if line.startswith("data:") and line[5:].strip():  # skip the priming event
                    frames.append(json.loads(line[5:]))
                    if len(frames) >= 3:
                        break
            cancel = await post(client, rpc("notifications/cancelled", {
                "requestId": "long", "reason": "test"}, msg_id=None), session)
            assert cancel.status_code == 202

            async def rest() -> None:
                async for line in lines:
                    if line.startswith("data:") and line[5:].strip():
                        frames.append(json.loads(line[5:]))

            # A truncated chunked body raises httpx.RemoteProtocolError here.
            await asyncio.wait_for(rest(), 5)
        assert not any(f.get("id") == "long" for f in frames)
        runs = (await client.get("/runs", params={"endpoint": "loop"})).json()["runs"]
        run_id = runs[0]["run_id"]

        async def cancelled() -> bool:
            return (await client.get(f"/runs/{run_id}")).json()["status"] == "cancelled"

        await wait_for(cancelled, timeout=3)
        await assert_ping(client, session)


@pytest.mark.parametrize("accept", ["application/json", ACCEPT_BOTH])
async def test_cancelled_plain_tool_call_is_answered_cleanly(tmp_path, accept):
    """notifications/cancelled stops a running tool; its HTTP request still gets a proper
    answer (no 500, no result), and the server goes on serving."""
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    started = threading.Event()
    state = {"cancelled": False}

    @app.tool
    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(8)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        return "too late"

    async with live(app) as client:
        session = await initialize(client)
        call = rpc("tools/call", {"name": "slow", "arguments": {}}, msg_id="slow-1")
        pending = asyncio.create_task(client.post(
            "/mcp", content=json.dumps(call).encode(),
            headers={**HEADERS, "Accept": accept, "Mcp-Session-Id": session}))
        await wait_for(started.is_set, timeout=3)
        cancel = await post(client, rpc("notifications/cancelled", {
            "requestId": "slow-1", "reason": "test"}, msg_id=None), session)
        assert cancel.status_code == 202
        r = await asyncio.wait_for(pending, 5)
        await wait_for(lambda: state["cancelled"], timeout=3)
        assert r.status_code < 500, (r.status_code, r.text)
        if r.headers.get("content-type", "").startswith("application/json"):
            assert "result" not in r.json()
        assert "too late" not in r.text
        await assert_ping(client, session)


# schema, path, limits


async def test_schema_endpoint(tmp_path):
    async with live(quickstart_app(tmp_path)) as client:
        r = await client.get("/mcp/schema")
        assert r.status_code == 200
        body = r.json()
        assert {t["name"] for t in body["tools"]} == {"add", "triage_ticket", "chat"}
        assert body["resources"] == []
        assert [t["uriTemplate"] for t in body["resourceTemplates"]] == [
            "docs://quickstart/{topic}"]
        assert [p["name"] for p in body["prompts"]] == ["summarize"]
        assert body["serverInfo"]["name"] == "Quickstart"
        assert body["protocolVersion"] == "2025-11-25"
        add = next(t for t in body["tools"] if t["name"] == "add")
        assert add["outputSchema"]["properties"]["result"] == {"type": "integer"}


async def test_mcp_path_is_configurable(tmp_path):
    app = plain_app(tmp_path, mcp_path="/agents/mcp")
    async with live(app) as client:
        session = await initialize(client, path="/agents/mcp")
        await assert_ping(client, session, path="/agents/mcp")
        r = await post(client, rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}),
                       session, path="/agents/mcp")
        assert r.json()["result"]["structuredContent"] == {"result": 3}
        assert (await post(client, INITIALIZE)).status_code == 404
        schema = await client.get("/agents/mcp/schema")
        assert schema.status_code == 200
        assert [t["name"] for t in schema.json()["tools"]] == ["add"]
        gone = await client.delete("/agents/mcp", headers={"Mcp-Session-Id": session})
        assert gone.status_code == 200


async def test_session_cap(tmp_path):
    app = plain_app(tmp_path, mcp_max_sessions=2)
    async with live(app) as client:
        first = await initialize(client)
        second = await initialize(client)
        third = await post(client, INITIALIZE)
        assert third.status_code == 503
        assert "mcp-session-id" not in third.headers
        assert error_of(third)["code"] == INVALID_REQUEST
        await assert_ping(client, first)
        await assert_ping(client, second)
        assert (await client.delete("/mcp", headers={"Mcp-Session-Id": first})).status_code == 200
        fourth = await initialize(client)
        await assert_ping(client, fourth)
        assert (await post(client, INITIALIZE)).status_code == 503


async def test_idle_sessions_are_reaped(tmp_path):
    app = plain_app(tmp_path, mcp_session_ttl=0.3)
    async with running_client(app) as client:
        idle = await initialize(client)
        # Wait, without touching the session, until the store has expired it.
        await wait_for(lambda: _expired(app, idle), timeout=3)
        r = await post(client, rpc("ping"), idle)
        assert r.status_code == 404, "a session idle for longer than its TTL is still served"
        fresh = await initialize(client)
        await assert_ping(client, fresh)


async def test_used_sessions_outlive_their_ttl(tmp_path):
    app = plain_app(tmp_path, mcp_session_ttl=0.3)
    async with running_client(app) as client:
        session = await initialize(client)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < 0.9:  # three TTLs of steady use
            await assert_ping(client, session)
            await asyncio.sleep(0.05)
        await assert_ping(client, session)


async def _expired(app: App, session: str) -> bool:
    return await app.store.kv_get(NAMESPACE, session) is None
