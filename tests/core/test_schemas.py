"""Schemas from type hints, and validation before user code runs (seen through HTTP)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import pytest
from pydantic import BaseModel, Field

from conftest import running_client
from fastagentic import App, CallContext, RunContext
from fastagentic.core.signature import CallSignature
from fastagentic.exceptions import ConfigurationError


class Color(str, Enum):
    red = "red"
    green = "green"


class Address(BaseModel):
    city: str
    zip: Annotated[str, Field(pattern=r"^\d{5}$")]


class Person(BaseModel):
    name: str
    address: Address
    nickname: Optional[str] = None


class Item(BaseModel):
    sku: str
    qty: Annotated[int, Field(ge=1)] = 1


class Ticket(BaseModel):
    subject: Annotated[str, Field(min_length=3)]
    priority: int = 2


class Receipt(BaseModel):
    total: int
    colors: list[Color]


def make_app(tmp_path: Path) -> tuple[App, dict[str, int]]:
    app = App(durable_store=f"sqlite:///{tmp_path / 'schemas.db'}")
    calls: dict[str, int] = {}

    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    @app.tool
    def optional(note: Optional[str] = None) -> Optional[str]:
        count("optional")
        return note

    @app.tool
    def either(value: Union[int, str]) -> dict[str, Any]:
        count("either")
        return {"value": value, "type": type(value).__name__}

    @app.tool
    def register(person: Person, tags: list[str] = []) -> dict[str, Any]:  # noqa: B006
        count("register")
        return {"city": person.address.city, "tags": tags,
                "is_model": isinstance(person, Person)}

    @app.tool
    def paint(color: Color) -> str:
        count("paint")
        assert isinstance(color, Color)
        return color.value.upper()

    @app.tool
    def bounded(n: Annotated[int, Field(ge=1, le=10)]) -> int:
        count("bounded")
        return n * 2

    @app.tool
    def order(items: list[Item], colors: list[Color] = [Color.red]) -> Receipt:  # noqa: B006
        count("order")
        return Receipt(total=sum(i.qty for i in items), colors=colors)

    @app.tool
    def paged(query: str, limit: int = 10, exact: bool = False) -> dict[str, Any]:
        count("paged")
        return {"query": query, "limit": limit, "exact": exact}

    @app.tool
    def field_default(n: int = Field(default=3, ge=0, description="how many")) -> int:
        count("field_default")
        return n

    @app.tool
    def open_ticket(ticket: Ticket) -> dict[str, Any]:
        count("open_ticket")
        return {"subject": ticket.subject, "priority": ticket.priority,
                "is_model": isinstance(ticket, Ticket)}

    @app.tool
    def with_context(x: int, ctx: CallContext) -> int:
        count("with_context")
        assert isinstance(ctx, CallContext)
        return x

    @app.agent_endpoint("/agent")
    async def agent(question: str, ctx: RunContext, depth: int = 1) -> str:
        return f"{question}:{depth}:{ctx.run_id is not None}"

    return app, calls


async def tool_schemas(client: Any) -> dict[str, dict[str, Any]]:
    r = await client.get("/tools")
    assert r.status_code == 200
    return {t["name"]: t for t in r.json()["tools"]}


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/$defs/"), ref
    return root["$defs"][ref.rsplit("/", 1)[-1]]


async def test_optional(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["optional"]["input_schema"]
        note = schema["properties"]["note"]
        assert {"type": "string"} in note["anyOf"] and {"type": "null"} in note["anyOf"]
        assert note["default"] is None
        assert "note" not in schema.get("required", [])
        assert (await client.post("/tools/optional", json={})).json() == {"result": None}
        assert (await client.post("/tools/optional", json={"note": None})).json() == \
            {"result": None}
        assert (await client.post("/tools/optional", json={"note": "hi"})).json() == \
            {"result": "hi"}
        r = await client.post("/tools/optional", json={"note": 5})
        assert r.status_code == 422
        assert calls["optional"] == 3


async def test_union(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["either"]["input_schema"]
        variants = schema["properties"]["value"]["anyOf"]
        assert {"type": "integer"} in variants and {"type": "string"} in variants
        r = await client.post("/tools/either", json={"value": 4})
        assert r.json() == {"result": {"value": 4, "type": "int"}}
        r = await client.post("/tools/either", json={"value": "4"})
        assert r.json() == {"result": {"value": "4", "type": "str"}}
        r = await client.post("/tools/either", json={"value": [1]})
        assert r.status_code == 422
        assert all(d["loc"][:2] == ["body", "value"] for d in r.json()["detail"])
        assert calls["either"] == 2


async def test_nested_models(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["register"]["input_schema"]
        assert sorted(schema["required"]) == ["person"]
        person = resolve(schema["properties"]["person"], schema)
        assert set(person["properties"]) == {"name", "address", "nickname"}
        address = resolve(person["properties"]["address"], schema)
        assert address["properties"]["zip"]["pattern"] == r"^\d{5}$"
        assert schema["properties"]["tags"]["default"] == []

        ok = {"person": {"name": "Ada", "address": {"city": "Paris", "zip": "75001"}},
              "tags": ["x"]}
        r = await client.post("/tools/register", json=ok)
        assert r.status_code == 200
        assert r.json() == {"result": {"city": "Paris", "tags": ["x"], "is_model": True}}

        bad = {"person": {"name": "Ada", "address": {"zip": "7500"}}}
        r = await client.post("/tools/register", json=bad)
        assert r.status_code == 422
        locs = sorted((tuple(d["loc"]), d["type"]) for d in r.json()["detail"])
        assert locs == [(("body", "person", "address", "city"), "missing"),
                        (("body", "person", "address", "zip"), "string_pattern_mismatch")]
        assert calls["register"] == 1


async def test_enum(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["paint"]["input_schema"]
        color = resolve(schema["properties"]["color"], schema)
        assert color["enum"] == ["red", "green"]
        r = await client.post("/tools/paint", json={"color": "green"})
        assert r.json() == {"result": "GREEN"}
        r = await client.post("/tools/paint", json={"color": "blue"})
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail[0]["loc"] == ["body", "color"] and detail[0]["type"] == "enum"
        assert calls["paint"] == 1


async def test_annotated_field_constraints(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        n = (await tool_schemas(client))["bounded"]["input_schema"]["properties"]["n"]
        assert n["minimum"] == 1 and n["maximum"] == 10 and n["type"] == "integer"
        assert (await client.post("/tools/bounded", json={"n": 10})).json() == {"result": 20}
        r = await client.post("/tools/bounded", json={"n": 0})
        assert r.status_code == 422
        assert r.json()["detail"][0]["type"] == "greater_than_equal"
        r = await client.post("/tools/bounded", json={"n": 11})
        assert r.status_code == 422
        assert r.json()["detail"][0]["type"] == "less_than_equal"
        assert calls["bounded"] == 1


async def test_list_of_models_and_model_output(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        spec = (await tool_schemas(client))["order"]
        schema = spec["input_schema"]
        items = schema["properties"]["items"]
        assert items["type"] == "array"
        item = resolve(items["items"], schema)
        assert item["properties"]["qty"]["minimum"] == 1
        assert item["properties"]["qty"]["default"] == 1
        assert schema["properties"]["colors"]["default"] == ["red"]
        out = spec["output_schema"]
        receipt = resolve(out, out)
        assert set(receipt["properties"]) == {"total", "colors"}

        r = await client.post("/tools/order", json={"items": [{"sku": "a"}, {"sku": "b",
                                                                           "qty": 3}]})
        assert r.status_code == 200
        assert r.json() == {"result": {"total": 4, "colors": ["red"]}}
        r = await client.post("/tools/order", json={"items": [{"sku": "a"}, {"sku": "b",
                                                                           "qty": 0}]})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "items", 1, "qty"]
        assert calls["order"] == 1


async def test_defaults(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schemas = await tool_schemas(client)
        schema = schemas["paged"]["input_schema"]
        assert schema["required"] == ["query"]
        assert schema["properties"]["limit"]["default"] == 10
        assert schema["properties"]["exact"]["default"] is False
        r = await client.post("/tools/paged", json={"query": "q"})
        assert r.json() == {"result": {"query": "q", "limit": 10, "exact": False}}
        r = await client.post("/tools/paged", json={"query": "q", "limit": 2, "exact": True})
        assert r.json() == {"result": {"query": "q", "limit": 2, "exact": True}}

        n = schemas["field_default"]["input_schema"]["properties"]["n"]
        assert n["default"] == 3 and n["minimum"] == 0 and n["description"] == "how many"
        assert (await client.post("/tools/field_default")).json() == {"result": 3}
        r = await client.post("/tools/field_default", json={"n": -1})
        assert r.status_code == 422
        assert calls["field_default"] == 1


async def test_single_model_parameter_is_the_whole_body(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["open_ticket"]["input_schema"]
        # The body *is* the Ticket, not {"ticket": Ticket}.
        assert set(schema["properties"]) == {"subject", "priority"}
        assert schema["required"] == ["subject"]
        r = await client.post("/tools/open_ticket", json={"subject": "Broken", "priority": 1})
        assert r.status_code == 200
        assert r.json() == {"result": {"subject": "Broken", "priority": 1, "is_model": True}}
        r = await client.post("/tools/open_ticket", json={"subject": "ab"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "subject"]
        r = await client.post("/tools/open_ticket",
                              json={"ticket": {"subject": "Broken", "priority": 1}})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "subject"]
        assert calls["open_ticket"] == 1


async def test_injected_parameters_are_not_in_the_schema(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        schema = (await tool_schemas(client))["with_context"]["input_schema"]
        assert set(schema["properties"]) == {"x"}
        assert schema["required"] == ["x"]
        assert (await client.post("/tools/with_context", json={"x": 1})).json() == {"result": 1}

        agents = {a["name"]: a for a in (await client.get("/agents")).json()["agents"]}
        agent_schema = agents["agent"]["input_schema"]
        assert set(agent_schema["properties"]) == {"question", "depth"}
        assert agent_schema["required"] == ["question"]
        r = await client.post("/agent", json={"question": "q"})
        assert r.status_code == 200
        assert r.json()["output"] == "q:1:True"
        r = await client.post("/agent", json={"question": "q", "ctx": None})
        assert r.status_code == 422
        assert calls["with_context"] == 1


async def test_validation_happens_before_user_code(tmp_path: Path) -> None:
    app, calls = make_app(tmp_path)
    async with running_client(app) as client:
        for body in ({"items": "nope"}, {"items": [{"qty": 2}]}, {"items": [], "extra": 1}):
            r = await client.post("/tools/order", json=body)
            assert r.status_code == 422, body
        r = await client.post("/tools/order", content=b"{not json")
        assert r.status_code == 400
        assert calls.get("order", 0) == 0
        r = await client.post("/tools/order", json={"items": []})
        assert r.status_code == 200
        assert calls["order"] == 1


# The signature layer directly: definitions that cannot be described are refused up front.


def test_var_args_are_refused() -> None:
    def f(*args: int) -> int:
        return 0

    with pytest.raises(ConfigurationError):
        CallSignature.from_function(f, model_name="F")

    def g(**kwargs: int) -> int:
        return 0

    with pytest.raises(ConfigurationError):
        CallSignature.from_function(g, model_name="G")


def test_unresolvable_hint_is_a_configuration_error() -> None:
    def f(x: "NoSuchType") -> int:  # type: ignore[name-defined]  # noqa: F821
        return 0

    with pytest.raises(ConfigurationError):
        CallSignature.from_function(f, model_name="F")


def test_unannotated_parameter_accepts_anything() -> None:
    def f(x, y: int = 1):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        return x

    sig = CallSignature.from_function(f, model_name="F")
    assert sig.params == ("x", "y")
    model = sig.validate_json(b'{"x": {"any": ["thing"]}}')
    assert sig.kwargs(model) == {"x": {"any": ["thing"]}, "y": 1}
