"""``GET /resources/{name}``, ``POST /prompts/{name}`` and the definition listings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import running_client
from fastagentic import App

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


class Profile(BaseModel):
    org: str
    user: str
    admin: bool


def make_app(tmp_path: Path) -> tuple[App, dict[str, int]]:
    app = App(durable_store=f"sqlite:///{tmp_path / 'res.db'}")
    calls: dict[str, int] = {}

    @app.resource("config://app")
    def config() -> dict[str, Any]:
        """The app's configuration."""
        return {"debug": False, "features": ["a", "b"]}

    @app.resource("file://logo.png", mime_type="image/png")
    def logo() -> bytes:
        return PNG

    @app.resource("blob://raw")
    def raw() -> bytes:
        return b"\x00\x01\x02"

    @app.resource("text://motd")
    def motd() -> str:
        return "héllo"

    @app.resource("users://{org}/{user}", name="member")
    async def member(org: str, user: str) -> Profile:
        calls["member"] = calls.get("member", 0) + 1
        return Profile(org=org, user=user, admin=user == "root")

    @app.resource("items://{item_id}", mime_type="application/json")
    def item(item_id: int) -> dict[str, int]:
        calls["item"] = calls.get("item", 0) + 1
        return {"id": item_id, "double": item_id * 2}

    @app.resource
    def shelf(row: str) -> str:
        return f"row {row}"

    @app.prompt
    def brief(topic: str, words: int = 50) -> str:
        """Write a brief."""
        return f"Write {words} words about {topic}."

    @app.prompt(name="conversation", title="A conversation")
    def conversation(question: str) -> list[dict[str, Any]]:
        return [
            {"role": "assistant", "content": "You are terse."},
            {"role": "user", "content": question},
            {"role": "user", "content": {"type": "text", "text": "Thanks."}},
        ]

    @app.prompt
    async def hello() -> str:
        return "Say hello."

    return app, calls


# resources


async def test_quickstart_template_resource_query_and_path(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        by_query = await client.get("/resources/docs", params={"topic": "tools"})
        assert by_query.status_code == 200
        assert by_query.headers["content-type"].startswith("text/markdown")
        assert by_query.text.startswith("# Tools\n")
        by_path = await client.get("/resources/docs/tools")
        assert by_path.status_code == 200
        assert by_path.headers["content-type"].startswith("text/markdown")
        assert by_path.text == by_query.text
        other = await client.get("/resources/docs/pricing")
        assert other.text == "# pricing\nNo page yet."


async def test_quickstart_resource_errors(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.get("/resources/docs")
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail[0]["loc"][-1] == "topic" and detail[0]["type"] == "missing"
        r = await client.get("/resources/docs/tools/extra")
        assert r.status_code == 404
        r = await client.get("/resources/nope")
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        r = await client.get("/resources/nope/x")
        assert r.status_code == 404


async def test_static_resource_json(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources/config")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"debug": False, "features": ["a", "b"]}
        # A resource without variables takes no path segments.
        r = await client.get("/resources/config/extra")
        assert r.status_code == 404


async def test_bytes_resources(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources/logo")
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/png"
        assert r.content == PNG
        r = await client.get("/resources/raw")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.content == b"\x00\x01\x02"


async def test_str_resource_default_mime(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources/motd")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "utf-8" in r.headers["content-type"].lower()
        assert r.text == "héllo"


async def test_model_resource_with_two_variables(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        expected = {"org": "acme", "user": "root", "admin": True}
        r = await client.get("/resources/member/acme/root")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.json() == expected
        r = await client.get("/resources/member", params={"org": "acme", "user": "root"})
        assert r.json() == expected
        # Wrong number of path segments.
        assert (await client.get("/resources/member/acme")).status_code == 404
        assert (await client.get("/resources/member/acme/root/x")).status_code == 404
        # Missing query parameter.
        r = await client.get("/resources/member", params={"org": "acme"})
        assert r.status_code == 422
        assert [d["loc"][-1] for d in r.json()["detail"]] == ["user"]
        assert calls["member"] == 2


async def test_typed_template_variable(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources/item/21")
        assert r.status_code == 200
        assert r.json() == {"id": 21, "double": 42}
        r = await client.get("/resources/item", params={"item_id": "4"})
        assert r.json() == {"id": 4, "double": 8}
        r = await client.get("/resources/item/abc")
        assert r.status_code == 422
        assert r.json()["detail"][0]["type"] == "int_parsing"
        assert calls["item"] == 2


async def test_resource_with_default_uri(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources/shelf/top")
        assert r.status_code == 200
        assert r.text == "row top"
        listing = {x["name"]: x for x in (await client.get("/resources")).json()["resources"]}
        assert listing["shelf"]["uri"] == "resource://shelf/{row}"
        assert listing["shelf"]["variables"] == ["row"]


async def test_list_resources(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/resources")
        assert r.status_code == 200
        listing = {x["name"]: x for x in r.json()["resources"]}
        assert set(listing) == {"config", "logo", "raw", "motd", "member", "item", "shelf"}
        assert listing["config"]["uri"] == "config://app"
        assert listing["config"]["variables"] == []
        assert listing["config"]["description"] == "The app's configuration."
        assert listing["logo"]["mime_type"] == "image/png"
        assert listing["member"]["uri"] == "users://{org}/{user}"
        assert listing["member"]["variables"] == ["org", "user"]
        assert set(listing["member"]["input_schema"]["properties"]) == {"org", "user"}


# prompts


async def test_render_prompt(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/prompts/brief", json={"topic": "otters"})
        assert r.status_code == 200
        assert r.json() == {
            "description": "Write a brief.",
            "messages": [{"role": "user", "content": {
                "type": "text", "text": "Write 50 words about otters."}}],
        }
        r = await client.post("/prompts/brief", json={"topic": "otters", "words": 5})
        assert r.json()["messages"][0]["content"]["text"] == "Write 5 words about otters."


async def test_prompt_returning_messages(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/prompts/conversation", json={"question": "Why?"})
        assert r.status_code == 200
        assert r.json()["messages"] == [
            {"role": "assistant", "content": {"type": "text", "text": "You are terse."}},
            {"role": "user", "content": {"type": "text", "text": "Why?"}},
            {"role": "user", "content": {"type": "text", "text": "Thanks."}},
        ]


async def test_prompt_without_arguments_and_empty_body(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/prompts/hello")
        assert r.status_code == 200
        assert r.json()["messages"][0]["content"]["text"] == "Say hello."


async def test_prompt_errors(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.post("/prompts/brief", json={})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "topic"]
        r = await client.post("/prompts/brief", json={"topic": "x", "tone": "y"})
        assert r.status_code == 422
        r = await client.post("/prompts/brief", content=b"{oops")
        assert r.status_code == 400
        r = await client.post("/prompts/nope", json={})
        assert r.status_code == 404


async def test_quickstart_prompt(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        r = await client.post("/prompts/summarize", json={"subject": "Login fails",
                                                          "tone": "friendly"})
        assert r.status_code == 200
        body = r.json()
        assert body["description"] == "A prompt template for summarizing a ticket."
        assert body["messages"] == [{"role": "user", "content": {
            "type": "text",
            "text": "Summarize the support ticket 'Login fails' in two sentences, "
                    "in a friendly tone."}}]


async def test_list_prompts(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/prompts")
        assert r.status_code == 200
        listing = {x["name"]: x for x in r.json()["prompts"]}
        assert set(listing) == {"brief", "conversation", "hello"}
        assert listing["conversation"]["title"] == "A conversation"
        assert listing["brief"]["input_schema"]["required"] == ["topic"]


# the quickstart's listings


async def test_quickstart_listings(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        tools = (await client.get("/tools")).json()["tools"]
        assert {t["name"] for t in tools} == {"add", "triage_ticket"}
        triage = next(t for t in tools if t["name"] == "triage_ticket")
        assert triage["title"] == "Triage a support ticket"
        assert set(triage["input_schema"]["properties"]) == {"subject", "body", "customer_tier"}

        resources = (await client.get("/resources")).json()["resources"]
        assert [(x["name"], x["uri"], x["mime_type"]) for x in resources] == [
            ("docs", "docs://quickstart/{topic}", "text/markdown")]

        prompts = (await client.get("/prompts")).json()["prompts"]
        assert [p["name"] for p in prompts] == ["summarize"]

        agents = {a["name"]: a for a in (await client.get("/agents")).json()["agents"]}
        assert set(agents) == {"chat", "refund"}
        assert agents["chat"]["path"] == "/chat"
        assert agents["chat"]["description"] == "Answers a message, streaming token by token."
        assert agents["chat"]["framework"] == "function"
        assert agents["chat"]["stream"] is True and agents["chat"]["durable"] is True
        assert set(agents["chat"]["input_schema"]["properties"]) == {"message"}
        assert agents["refund"]["path"] == "/refund"
        assert set(agents["refund"]["input_schema"]["properties"]) == {"order_id", "amount"}


@pytest.mark.parametrize("path", ["/tools", "/resources", "/prompts", "/agents"])
async def test_empty_listings(tmp_path: Path, path: str) -> None:
    app = App(durable_store="memory://")
    async with running_client(app) as client:
        r = await client.get(path)
        assert r.status_code == 200
        assert r.json() == {path.strip("/"): []}
