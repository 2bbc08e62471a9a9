"""Idempotency keys (same key → same run, under concurrency) and isolation between Apps."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import textwrap
import types
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import running_client, wait_for
from fastagentic import App
from fastagentic.exceptions import ConfigurationError

# idempotency


def idem_app(store: str) -> tuple[App, dict[str, int]]:
    app = App(durable_store=store)
    calls = {"n": 0}

    @app.agent_endpoint("/order")
    async def order(item: str, qty: int = 1) -> dict[str, Any]:
        calls["n"] += 1
        return {"item": item, "qty": qty}

    @app.agent_endpoint("/other")
    async def other(item: str, qty: int = 1) -> str:
        return item

    return app, calls


async def test_same_key_same_run(store_url: str) -> None:
    app, calls = idem_app(store_url)
    async with running_client(app) as client:
        headers = {"Idempotency-Key": "order-1"}
        first = await client.post("/order", json={"item": "tea"}, headers=headers)
        assert first.status_code == 200
        assert "Idempotent-Replayed" not in first.headers
        second = await client.post("/order", json={"item": "tea"}, headers=headers)
        assert second.status_code == 200
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json()["run_id"] == first.json()["run_id"]
        assert second.json() == first.json()
        assert second.json()["output"] == {"item": "tea", "qty": 1}
        # Async and streaming replays point at the same run too.
        third = await client.post("/order", json={"item": "tea"},
                                  headers={**headers, "Prefer": "respond-async"})
        assert third.status_code == 202
        assert third.json()["run_id"] == first.json()["run_id"]
        assert third.headers["Idempotent-Replayed"] == "true"
        stream = await client.post("/order/stream", json={"item": "tea"}, headers=headers)
        assert stream.headers["X-Run-Id"] == first.json()["run_id"]
        assert stream.headers["Idempotent-Replayed"] == "true"
        assert "event: done" in stream.text
        assert calls["n"] == 1
        runs = (await client.get("/runs")).json()["runs"]
        assert [r["run_id"] for r in runs] == [first.json()["run_id"]]


async def test_same_key_different_body_is_422(store_url: str) -> None:
    app, calls = idem_app(store_url)
    async with running_client(app) as client:
        headers = {"Idempotency-Key": "k-1"}
        first = await client.post("/order", json={"item": "tea"}, headers=headers)
        r = await client.post("/order", json={"item": "coffee"}, headers=headers)
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_input"
        # The same arguments spelled differently are the same request.
        r = await client.post("/order", json={"qty": 1, "item": "tea"}, headers=headers)
        assert r.status_code == 200
        assert r.json()["run_id"] == first.json()["run_id"]
        # The same key on another endpoint is another request.
        r = await client.post("/other", json={"item": "tea"}, headers=headers)
        assert r.status_code == 422
        assert calls["n"] == 1
        assert len((await client.get("/runs")).json()["runs"]) == 1


async def test_different_keys_different_runs(store_url: str) -> None:
    app, calls = idem_app(store_url)
    async with running_client(app) as client:
        a = await client.post("/order", json={"item": "tea"}, headers={"Idempotency-Key": "a"})
        b = await client.post("/order", json={"item": "tea"}, headers={"Idempotency-Key": "b"})
        c = await client.post("/order", json={"item": "tea"})
        d = await client.post("/order", json={"item": "tea"})
        ids = {x.json()["run_id"] for x in (a, b, c, d)}
        assert len(ids) == 4
        assert calls["n"] == 4
        assert len((await client.get("/runs")).json()["runs"]) == 4


@pytest.mark.parametrize("prefer", ["", "respond-async"])
async def test_concurrent_duplicates_make_one_run(store_url: str, prefer: str) -> None:
    app, calls = idem_app(store_url)
    async with running_client(app) as client:
        headers = {"Idempotency-Key": f"dup-{uuid.uuid4().hex}"}
        if prefer:
            headers["Prefer"] = prefer
        responses = await asyncio.wait_for(asyncio.gather(*[
            client.post("/order", json={"item": "tea", "qty": 2}, headers=headers)
            for _ in range(50)]), timeout=10)
        assert {r.status_code for r in responses} == ({202} if prefer else {200})
        run_ids = {r.json()["run_id"] for r in responses}
        assert len(run_ids) == 1
        replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
        assert replayed.count(None) == 1
        assert replayed.count("true") == 49
        runs = (await client.get("/runs")).json()["runs"]
        assert [r["run_id"] for r in runs] == list(run_ids)

        async def done() -> bool:
            run = (await client.get(f"/runs/{next(iter(run_ids))}")).json()
            return run["status"] == "completed"

        await wait_for(done, timeout=5)
        assert calls["n"] == 1


# isolation between Apps


MODULE_A = """
from fastagentic import App, tool

@tool
def early_a() -> str:
    return "a-early"

app = App(title="A", durable_store="memory://")

@tool
def alpha(x: int) -> int:
    return x + 1

@app.tool
def shared_name() -> str:
    return "from A"
"""

MODULE_B = """
from fastagentic import App, tool, resource, prompt

app = App(title="B", durable_store="memory://")

@tool
def beta(x: int) -> int:
    return x * 10

@app.tool
def shared_name() -> str:
    return "from B"

@resource("b://thing")
def thing() -> str:
    return "b"

@prompt
def b_prompt() -> str:
    return "b"
"""


def import_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def make_module(source: str, name: str | None = None) -> types.ModuleType:
    module = types.ModuleType(name or f"dyn_{uuid.uuid4().hex}")
    exec(compile(textwrap.dedent(source), module.__name__, "exec"), module.__dict__)
    return module


async def names(app: App, path: str = "/tools") -> set[str]:
    async with running_client(app) as client:
        r = await client.get(path)
        assert r.status_code == 200
        return {x["name"] for x in r.json()[path.strip("/")]}


async def test_two_apps_in_two_file_modules(tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex
    (tmp_path / f"mod_a_{suffix}.py").write_text(MODULE_A)
    (tmp_path / f"mod_b_{suffix}.py").write_text(MODULE_B)
    try:
        a = import_file(tmp_path / f"mod_a_{suffix}.py", f"mod_a_{suffix}")
        b = import_file(tmp_path / f"mod_b_{suffix}.py", f"mod_b_{suffix}")
        assert await names(a.app) == {"early_a", "alpha", "shared_name"}
        assert await names(b.app) == {"beta", "shared_name"}
        assert await names(a.app, "/resources") == set()
        assert await names(b.app, "/resources") == {"thing"}
        assert await names(a.app, "/prompts") == set()
        assert await names(b.app, "/prompts") == {"b_prompt"}
        async with running_client(a.app) as client:
            assert (await client.post("/tools/shared_name")).json() == {"result": "from A"}
            assert (await client.post("/tools/alpha", json={"x": 1})).json() == {"result": 2}
            assert (await client.post("/tools/beta", json={"x": 1})).status_code == 404
        async with running_client(b.app) as client:
            assert (await client.post("/tools/shared_name")).json() == {"result": "from B"}
            assert (await client.post("/tools/beta", json={"x": 1})).json() == {"result": 10}
            assert (await client.post("/tools/alpha", json={"x": 1})).status_code == 404
    finally:
        sys.modules.pop(f"mod_a_{suffix}", None)
        sys.modules.pop(f"mod_b_{suffix}", None)


async def test_two_apps_in_two_dynamic_modules() -> None:
    a = make_module(MODULE_A)
    b = make_module(MODULE_B)
    assert await names(a.app) == {"early_a", "alpha", "shared_name"}
    assert await names(b.app) == {"beta", "shared_name"}


async def test_same_module_loaded_twice_gives_two_separate_apps() -> None:
    name = f"twice_{uuid.uuid4().hex}"
    first = make_module(MODULE_A, name)
    second = make_module(MODULE_A, name)
    assert first.app is not second.app
    assert await names(first.app) == {"early_a", "alpha", "shared_name"}
    assert await names(second.app) == {"early_a", "alpha", "shared_name"}


async def test_two_apps_in_one_module_with_app_decorators() -> None:
    module = make_module("""
        from fastagentic import App

        one = App(title="one", durable_store="memory://")
        two = App(title="two", durable_store="memory://")

        @one.tool
        def only_one() -> int:
            return 1

        @two.tool
        def only_two() -> int:
            return 2

        @one.tool(name="same")
        def same_one() -> str:
            return "one"

        @two.tool(name="same")
        def same_two() -> str:
            return "two"

        @one.agent_endpoint("/agent")
        async def agent_one(q: str) -> str:
            return "one:" + q

        @two.agent_endpoint("/agent")
        async def agent_two(q: str) -> str:
            return "two:" + q
    """)
    assert await names(module.one) == {"only_one", "same"}
    assert await names(module.two) == {"only_two", "same"}
    async with running_client(module.one) as client:
        assert (await client.post("/tools/same")).json() == {"result": "one"}
        assert (await client.post("/agent", json={"q": "x"})).json()["output"] == "one:x"
    async with running_client(module.two) as client:
        assert (await client.post("/tools/same")).json() == {"result": "two"}
        assert (await client.post("/agent", json={"q": "x"})).json()["output"] == "two:x"
        assert (await client.post("/tools/only_one")).status_code == 404


def test_bare_decorator_in_a_module_with_two_apps_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="several Apps"):
        make_module("""
            from fastagentic import App, tool

            one = App(durable_store="memory://")
            two = App(durable_store="memory://")

            @tool
            def ambiguous() -> int:
                return 0
        """)


@pytest.mark.parametrize("decorator", ['@resource("x://y")', "@prompt", '@agent_endpoint("/p")'])
def test_every_bare_decorator_refuses_two_apps(decorator: str) -> None:
    with pytest.raises(ConfigurationError):
        make_module(f"""
            from fastagentic import App, agent_endpoint, prompt, resource

            one = App(durable_store="memory://")
            two = App(durable_store="memory://")

            {decorator}
            async def ambiguous() -> str:
                return ""
        """)


async def test_apps_in_the_test_module_do_not_share() -> None:
    first = App(durable_store="memory://")
    second = App(durable_store="memory://")

    @first.tool
    def mine() -> int:
        return 1

    assert await names(first) == {"mine"}
    assert await names(second) == set()


async def test_runs_of_two_apps_on_separate_stores(tmp_path: Path) -> None:
    a, _ = idem_app(f"sqlite:///{tmp_path / 'a.db'}")
    b, _ = idem_app(f"sqlite:///{tmp_path / 'b.db'}")
    async with running_client(a) as ca, running_client(b) as cb:
        run_a = (await ca.post("/order", json={"item": "a"})).json()["run_id"]
        assert (await cb.get(f"/runs/{run_a}")).status_code == 404
        assert (await cb.get("/runs")).json()["runs"] == []
        assert (await ca.get(f"/runs/{run_a}")).status_code == 200
