"""Health endpoints, the body limit, and client mistakes (never a 500)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import load_quickstart, running_client
from fastagentic import App, RunContext

LIMIT = 1000


def limited_app(tmp_path: Path) -> tuple[App, dict[str, int]]:
    app = App(durable_store=f"sqlite:///{tmp_path / 'lim.db'}", max_body_bytes=LIMIT)
    calls = {"echo": 0, "agent": 0}

    @app.tool
    def echo(text: str) -> int:
        calls["echo"] += 1
        return len(text)

    @app.agent_endpoint("/talk")
    async def talk(text: str, ctx: RunContext) -> int:
        calls["agent"] += 1
        return len(text)

    @app.prompt
    def say(text: str) -> str:
        return text

    return app, calls


def body_of_size(size: int) -> bytes:
    overhead = len(json.dumps({"text": ""}))
    body = json.dumps({"text": "x" * (size - overhead)}).encode()
    assert len(body) == size
    return body


async def chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def sync_chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


# health


@pytest.mark.parametrize("store", ["sqlite", "memory"])
async def test_health_endpoints(tmp_path: Path, store: str) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}" if store == "sqlite" else "memory://"
    app = App(title="Healthy", version="3.1.4", durable_store=url)
    async with running_client(app) as client:
        r = await client.get("/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "title": "Healthy", "version": "3.1.4"}
        r = await client.get("/health/live")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "store": store}


async def test_quickstart_health(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        assert (await client.get("/health")).json()["title"] == "Quickstart"
        assert (await client.get("/health/ready")).json()["store"] == "sqlite"


# body limit


@pytest.mark.parametrize("path", ["/tools/echo", "/talk", "/talk/stream", "/prompts/say"])
async def test_body_over_the_limit_is_413(tmp_path: Path, path: str) -> None:
    app, calls = limited_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post(path, content=body_of_size(2 * LIMIT),
                              headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert calls == {"echo": 0, "agent": 0}
        assert (await client.get("/runs")).json()["runs"] == []


@pytest.mark.parametrize("path", ["/tools/echo", "/talk", "/talk/stream"])
async def test_chunked_body_over_the_limit_is_413(tmp_path: Path, path: str) -> None:
    app, calls = limited_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post(path, content=chunks(body_of_size(2 * LIMIT)),
                              headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert calls == {"echo": 0, "agent": 0}


async def test_lying_content_length_is_413(tmp_path: Path) -> None:
    """A body larger than its declared Content-Length is still cut off at the limit."""
    app, calls = limited_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/tools/echo", content=chunks(body_of_size(2 * LIMIT)),
                              headers={"content-type": "application/json",
                                       "content-length": "10"})
        assert r.status_code in (400, 413)
        assert calls["echo"] == 0


async def test_body_at_the_limit_is_accepted(tmp_path: Path) -> None:
    app, calls = limited_app(tmp_path)
    async with running_client(app) as client:
        body = body_of_size(LIMIT)
        r = await client.post("/tools/echo", content=body)
        assert r.status_code == 200
        assert r.json() == {"result": LIMIT - len('{"text": ""}')}
        r = await client.post("/tools/echo", content=chunks(body))
        assert r.status_code == 200
        r = await client.post("/talk", content=chunks(body))
        assert r.status_code == 200
        assert r.json()["status"] == "completed"
        r = await client.post("/tools/echo", content=body_of_size(LIMIT + 1))
        assert r.status_code == 413


async def test_body_limit_on_a_live_server(tmp_path: Path, live_server: Any) -> None:
    app, calls = limited_app(tmp_path)
    with live_server(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            r = await client.post("/tools/echo", content=body_of_size(2 * LIMIT))
            assert r.status_code == 413
            r = await client.post("/tools/echo", content=chunks(body_of_size(2 * LIMIT)))
            assert r.request.headers.get("transfer-encoding") == "chunked"
            assert r.status_code == 413
            assert r.json()["code"] == "payload_too_large"
        # A fresh connection still works after the refusals.
        with httpx.Client(base_url=server.url, timeout=5) as sync_client:
            r = sync_client.post("/talk", content=sync_chunks(body_of_size(2 * LIMIT)))
            assert r.status_code == 413
            r = sync_client.post("/tools/echo", json={"text": "ok"})
            assert r.status_code == 200
            assert r.json() == {"result": 2}
        assert calls == {"echo": 1, "agent": 0}


async def test_get_requests_are_not_limited(tmp_path: Path) -> None:
    app, _ = limited_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/runs", params={"endpoint": "x" * (2 * LIMIT)})
        assert r.status_code == 200


# malformed requests


@pytest.mark.parametrize("path", ["/chat", "/chat/stream", "/refund"])
@pytest.mark.parametrize("body", [b"{", b'{"message": }', b"not json", b'{"message": "a"'])
async def test_malformed_json_on_agent_endpoints_is_400(quickstart: Any, path: str,
                                                        body: bytes) -> None:
    async with running_client(quickstart) as client:
        r = await client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/json"
        assert r.json()["code"] == "bad_request"
        assert (await client.get("/runs")).json()["runs"] == []


@pytest.mark.parametrize("body", [b"[]", b"null", b"3", b'"hi"'])
async def test_non_object_agent_body_is_422(quickstart: Any, body: bytes) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422


async def test_idempotency_key_too_long_is_400(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/chat", json={"message": "x"},
                              headers={"Idempotency-Key": "k" * 256})
        assert r.status_code == 400
        r = await client.post("/chat", json={"message": "x"},
                              headers={"Idempotency-Key": "k" * 255})
        assert r.status_code == 200


async def test_deeply_nested_json_is_a_client_error(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        body = b'{"message": ' + b"[" * 10000 + b"]" * 10000 + b"}"
        r = await client.post("/chat", content=body)
        assert 400 <= r.status_code < 500
        r = await client.post("/tools/add", content=body.replace(b"message", b"a"))
        assert 400 <= r.status_code < 500


CLIENT_MISTAKES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/nope", {}),
    ("DELETE", "/tools/add", {}),
    ("GET", "/chat", {}),
    ("PUT", "/runs", {}),
    ("POST", "/tools/add", {"content": b"\x00\x01\x02"}),
    ("POST", "/tools/add", {"content": b'{"a": 1, "a": 2, "b": 3}'}),
    ("POST", "/tools/add", {"content": b'{"a": 99999999999999999999999999, "b": 1}'}),
    ("POST", "/tools/triage_ticket", {"json": {"subject": "x" * 500}}),
    ("POST", "/tools/triage_ticket", {"json": {"subject": "ok!", "customer_tier": 7}}),
    ("POST", "/tools/add", {"content": "{\"a\": \"\u00e9\", \"b\": 1}".encode()}),
    ("POST", "/chat", {"content": b'{"message": "\\ud800"}'}),
    ("POST", "/chat", {"json": {"message": "x"}, "headers": {"Idempotency-Key": ""}}),
    ("GET", "/resources/docs", {"params": {"topic": ["a", "b"]}}),
    ("GET", "/resources/docs/%00", {}),
    ("GET", "/runs", {"params": {"cursor": "abc:def"}}),
    ("GET", "/runs", {"params": {"cursor": "nan:x"}}),
    ("GET", "/runs", {"params": {"limit": "99999999999999999999999"}}),
    ("GET", "/runs/x/events", {"params": {"after": "99999999999999999999999"}}),
    ("POST", "/runs/x/resume", {"content": b"{"}),
    ("POST", "/prompts/summarize", {"content": b"[1"}),
]


@pytest.mark.parametrize("method,path,kwargs", CLIENT_MISTAKES,
                         ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(CLIENT_MISTAKES)])
async def test_client_mistakes_are_never_500(quickstart: Any, method: str, path: str,
                                             kwargs: dict[str, Any]) -> None:
    async with running_client(quickstart) as client:
        r = await client.request(method, path, **kwargs)
        assert r.status_code < 500, (r.status_code, r.text)
        assert r.headers.get("content-type", "").split(";")[0] in (
            "application/json", "text/markdown", "text/plain"), r.headers


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
async def test_non_finite_number_for_an_int_is_422(quickstart: Any, number: bytes) -> None:
    """The 422 body echoes the bad input; a non-finite float must not turn it into a 500."""
    async with quickstart.running():
        # Report server errors as responses (what a real client sees), not as exceptions.
        transport = httpx.ASGITransport(app=quickstart, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post("/tools/add", content=b'{"a": ' + number + b', "b": 1}',
                                  headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), (r.status_code, r.text)
        if r.status_code == 422:
            assert r.json()["detail"][0]["loc"] == ["body", "a"]


def strict_json(text: str) -> Any:
    """Parse as standard JSON (no NaN/Infinity extensions)."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"not valid JSON: {name} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


async def test_non_finite_number_in_agent_input(store_url: str) -> None:
    """``1e999`` is valid JSON but overflows a float: answer promptly, with valid JSON."""
    app = load_quickstart(store_url)
    async with app.running():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await asyncio.wait_for(
                client.post("/refund", content=b'{"order_id": "x", "amount": 1e999}',
                            headers={"content-type": "application/json"}), timeout=1.5)
            assert r.status_code < 500, r.text
            body = strict_json(r.text)
            if r.status_code == 200:
                run_id = body["run_id"]
                run = await client.get(f"/runs/{run_id}")
                strict_json(run.text)
                assert run.json()["status"] in ("input_required", "completed", "failed")
                if run.json()["status"] == "input_required":
                    assert (await client.post(f"/runs/{run_id}/cancel")).status_code == 200
                # Every SSE data line is standard JSON too (what a browser's JSON.parse takes).
                stream = await asyncio.wait_for(client.get(f"/runs/{run_id}/events"), timeout=2)
                data = [line[len("data: "):] for line in stream.text.splitlines()
                        if line.startswith("data: ")]
                assert data
                for item in data:
                    strict_json(item)
            listing = await client.get("/runs")
            assert listing.status_code == 200
            strict_json(listing.text)
