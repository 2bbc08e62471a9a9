"""``POST /tools/{name}`` and ``GET /tools`` through the real ASGI app."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import running_client, wait_for
from fastagentic import App, CallContext
from fastagentic.exceptions import ToolError


class Point(BaseModel):
    x: int
    y: int


def make_app(tmp_path: Path) -> tuple[App, dict[str, Any]]:
    app = App(title="tools", durable_store=f"sqlite:///{tmp_path / 'tools.db'}")
    seen: dict[str, Any] = {"calls": 0}
    gate = threading.Event()
    seen["gate"] = gate

    @app.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        seen["calls"] += 1
        return a + b

    @app.tool
    async def greet(name: str = "world") -> str:
        seen["greet_thread"] = threading.current_thread()
        return f"hello {name}"

    @app.tool
    def ping() -> str:
        return "pong"

    @app.tool
    def nothing() -> None:
        return None

    @app.tool
    def where() -> str:
        seen["sync_thread"] = threading.current_thread()
        return threading.current_thread().name

    @app.tool
    def blocking() -> str:
        seen["blocking_started"] = True
        # A sync tool that blocks its thread until the test says so.
        released = gate.wait(timeout=5)
        return "released" if released else "timed out"

    @app.tool
    def sleepy() -> str:
        import time

        time.sleep(0.3)
        return "slept"

    @app.tool
    async def quick() -> str:
        return "quick"

    @app.tool
    def mirror(p: Point) -> Point:
        return Point(x=p.y, y=p.x)

    @app.tool(name="math.mul", title="Multiply", description="Multiplies.")
    def mul(a: float, b: float) -> float:
        return a * b

    @app.tool
    def refuse(reason: str) -> str:
        raise ToolError(f"refused: {reason}")

    @app.tool
    def context_echo(x: int, ctx: CallContext) -> dict[str, Any]:
        return {"x": x, "transport": ctx.transport, "kind": ctx.kind, "name": ctx.name,
                "user": ctx.user.user}

    return app, seen


async def test_call_tool_returns_result(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", json={"a": 2, "b": 3})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == {"result": 5}


async def test_async_tool(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/greet", json={"name": "ada"})
        assert r.status_code == 200
        assert r.json() == {"result": "hello ada"}
        # Async tools run on the event loop (the loop of this test).
        assert seen["greet_thread"] is threading.current_thread()


async def test_default_argument_used_when_omitted(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/greet", json={})
        assert r.status_code == 200
        assert r.json() == {"result": "hello world"}


@pytest.mark.parametrize("body", [b"", b"   ", b"{}"])
async def test_empty_body_for_no_arg_tool(tmp_path: Path, body: bytes) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/ping", content=body)
        assert r.status_code == 200
        assert r.json() == {"result": "pong"}


async def test_tool_returning_none(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/nothing")
        assert r.status_code == 200
        assert r.json() == {"result": None}


async def test_invalid_argument_type_is_422_with_detail_list(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", json={"a": "two", "b": 3})
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "invalid_input"
        assert isinstance(body["detail"], list) and len(body["detail"]) == 1
        item = body["detail"][0]
        assert {"loc", "msg", "type"} <= set(item)
        assert item["loc"] == ["body", "a"]
        assert item["type"] == "int_parsing"
        assert isinstance(item["msg"], str) and item["msg"]
        assert seen["calls"] == 0


async def test_missing_argument_is_422(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", json={"a": 1})
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert [(d["loc"], d["type"]) for d in detail] == [(["body", "b"], "missing")]
        # No argument at all: both are reported.
        r = await client.post("/tools/add")
        assert r.status_code == 422
        locs = sorted(tuple(d["loc"]) for d in r.json()["detail"])
        assert locs == [("body", "a"), ("body", "b")]
        assert seen["calls"] == 0


async def test_extra_unknown_argument_is_422(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", json={"a": 1, "b": 2, "c": 3})
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert len(detail) == 1
        assert detail[0]["loc"] == ["body", "c"]
        assert detail[0]["type"] == "extra_forbidden"
        # Also for a tool that takes no arguments at all.
        r = await client.post("/tools/ping", json={"unexpected": True})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "unexpected"]
        assert seen["calls"] == 0


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b"42", b'"text"'])
async def test_non_object_json_body_is_422(tmp_path: Path, body: bytes) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", content=body,
                              headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body"]


async def test_unknown_tool_is_404(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/does_not_exist", json={})
        assert r.status_code == 404
        body = r.json()
        assert body["code"] == "not_found"
        assert "does_not_exist" in body["message"]


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b'{"a": 1,}', b"a=1&b=2", b"\xff\xfe"])
async def test_malformed_json_is_400(tmp_path: Path, body: bytes) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/add", content=body,
                              headers={"content-type": "application/json"})
        assert r.status_code == 400
        payload = r.json()
        assert payload["code"] == "bad_request"
        assert "JSON" in payload["message"]
        assert seen["calls"] == 0


async def test_sync_tool_runs_in_a_worker_thread(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/where")
        assert r.status_code == 200
        assert seen["sync_thread"] is not threading.current_thread()
        assert seen["sync_thread"] is not threading.main_thread()


async def test_blocking_sync_tool_does_not_block_the_loop(tmp_path: Path) -> None:
    app, seen = make_app(tmp_path)
    async with running_client(app) as client:
        slow = asyncio.create_task(client.post("/tools/blocking"))
        await wait_for(lambda: seen.get("blocking_started"), timeout=5)
        # While the sync tool holds its thread, other requests are served.
        r = await asyncio.wait_for(client.post("/tools/quick"), timeout=2)
        assert r.json() == {"result": "quick"}
        r = await asyncio.wait_for(client.post("/tools/add", json={"a": 1, "b": 1}), timeout=2)
        assert r.json() == {"result": 2}
        assert not slow.done()
        seen["gate"].set()
        r = await asyncio.wait_for(slow, timeout=5)
        assert r.json() == {"result": "released"}


async def test_sleeping_sync_tool_concurrent_with_async_request(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    loop = asyncio.get_running_loop()
    async with running_client(app) as client:
        async def timed(path: str) -> tuple[float, Any]:
            r = await client.post(path)
            return loop.time(), r.json()

        start = loop.time()
        slow = asyncio.create_task(timed("/tools/sleepy"))
        await asyncio.sleep(0)  # let the slow request start first
        fast_done, fast_body = await timed("/tools/quick")
        slow_done, slow_body = await slow
        assert fast_body == {"result": "quick"}
        assert slow_body == {"result": "slept"}
        assert fast_done - start < 0.25
        assert slow_done >= fast_done


async def test_model_argument_and_result(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/mirror", json={"x": 1, "y": 2})
        assert r.status_code == 200
        assert r.json() == {"result": {"x": 2, "y": 1}}


async def test_tool_with_custom_name(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/math.mul", json={"a": 1.5, "b": 4})
        assert r.status_code == 200
        assert r.json() == {"result": 6.0}
        r = await client.post("/tools/mul", json={"a": 1, "b": 2})
        assert r.status_code == 404


async def test_tool_error_is_a_client_visible_failure(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/refuse", json={"reason": "no"})
        assert r.status_code == 400
        body = r.json()
        assert body["code"] == "tool_error"
        assert body["message"] == "refused: no"


async def test_call_context_is_injected(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/context_echo", json={"x": 7})
        assert r.status_code == 200
        assert r.json() == {"result": {"x": 7, "transport": "rest", "kind": "tool",
                                       "name": "context_echo", "user": "anonymous"}}
        # The injected parameter is not an argument a caller can send.
        r = await client.post("/tools/context_echo", json={"x": 7, "ctx": {}})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "ctx"]


async def test_list_tools(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/tools")
        assert r.status_code == 200
        tools = {t["name"]: t for t in r.json()["tools"]}
        assert {"add", "greet", "ping", "math.mul", "mirror", "context_echo"} <= set(tools)
        add = tools["add"]
        assert add["description"] == "Add two integers."
        assert add["input_schema"]["properties"] == {
            "a": {"title": "A", "type": "integer"}, "b": {"title": "B", "type": "integer"}}
        assert sorted(add["input_schema"]["required"]) == ["a", "b"]
        assert add["output_schema"] == {"type": "integer"}
        assert tools["math.mul"]["title"] == "Multiply"
        assert tools["math.mul"]["description"] == "Multiplies."
        assert "ctx" not in tools["context_echo"]["input_schema"]["properties"]


async def test_get_on_tool_is_not_allowed(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/tools/add")
        assert r.status_code == 405
