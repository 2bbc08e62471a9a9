"""Tools described by a JSON Schema document instead of type hints."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from conftest import running_client
from fastagentic import App
from fastagentic.exceptions import ConfigurationError

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}},
                        "required": ["x"]}},
    "properties": {"kind": {"enum": ["circle", "square"]}, "center": {"$ref": "#/$defs/point"},
                   "radius": {"type": "number", "exclusiveMinimum": 0}},
    "required": ["kind", "center"],
    "if": {"properties": {"kind": {"const": "circle"}}},
    "then": {"required": ["radius"]},
    "additionalProperties": False,
}


def build(tmp_path: Path) -> App:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")
    calls: list[dict] = []

    @app.tool(input_schema=SCHEMA)
    def shape(kind: str, center: dict, radius: float = 1.0) -> str:
        """A shape."""
        calls.append({"kind": kind, "center": center, "radius": radius})
        return f"{kind} at {center['x']} r={radius}"

    app.state_calls = calls  # type: ignore[attr-defined]
    return app


async def test_the_schema_is_advertised_and_enforced(tmp_path: Path) -> None:
    app = build(tmp_path)
    async with running_client(app) as client:
        ok = await client.post("/tools/shape", json={"kind": "circle", "center": {"x": 2},
                                                    "radius": 3})
        assert ok.json() == {"result": "circle at 2 r=3"}
        square = await client.post("/tools/shape", json={"kind": "square", "center": {"x": 1}})
        assert square.json() == {"result": "square at 1 r=1.0"}, "the function's default applies"
        no_radius = await client.post("/tools/shape", json={"kind": "circle",
                                                           "center": {"x": 1}})
        assert no_radius.status_code == 422, "if/then is enforced"
        extra = await client.post("/tools/shape", json={"kind": "square", "center": {"x": 1},
                                                       "colour": "red"})
        assert extra.status_code == 422
        assert extra.json()["detail"][0]["type"] == "additionalProperties"
        assert (await client.post("/tools/shape", content=b"{oops")).status_code == 400
        assert len(app.state_calls) == 2, "invalid calls never reach the function"  # type: ignore[attr-defined]
        listed = (await client.get("/tools")).json()["tools"][0]["input_schema"]
        assert listed == SCHEMA
        document = (await client.get("/openapi.json")).json()
        validate(document)
        body = document["paths"]["/tools/shape"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        assert body["properties"]["center"] == {"$ref": "#/components/schemas/tool.shape.point"}
        assert "tool.shape.point" in document["components"]["schemas"]


async def test_over_mcp(tmp_path: Path) -> None:
    app = build(tmp_path)
    async with running_client(app) as client:
        init = await client.post("/mcp", headers={"Accept": "application/json"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
        headers = {"Accept": "application/json", "MCP-Protocol-Version": "2025-11-25",
                   "Mcp-Session-Id": init.headers["mcp-session-id"]}
        tools = await client.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert tools.json()["result"]["tools"][0]["inputSchema"] == SCHEMA
        bad = await client.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "shape", "arguments": {"kind": "circle", "center": {"x": 0}}}})
        assert bad.json()["result"]["isError"] is True


def test_a_broken_schema_is_a_configuration_error() -> None:
    app = App()
    with pytest.raises(ConfigurationError, match="object schema"):
        app.tool(name="stringy", input_schema={"type": "string"})(lambda: None)
    with pytest.raises(ConfigurationError, match="invalid input_schema"):
        app.tool(name="broken", input_schema={"type": "object", "minProperties": -1})(
            lambda: None)
