"""``/openapi.json`` (OpenAPI 3.1, validated) and ``/docs``."""

from __future__ import annotations

import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from conftest import running_client
from fastagentic import App, Example, Output, RunContext, events


class Level(str, Enum):
    low = "low"
    high = "high"


class Geo(BaseModel):
    lat: float
    lon: float


class Place(BaseModel):
    name: str
    geo: Geo
    level: Level = Level.low
    tags: list[str] = []


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool = True


class Search(BaseModel):
    query: Annotated[str, Field(min_length=1)]
    places: list[Place] = []


class Answer(BaseModel):
    text: str
    places: list[Place]


def make_item_model(module: str, field: str) -> type[BaseModel]:
    """Two different models with the same class name (as from two modules)."""
    ns: dict[str, Any] = {"__annotations__": {field: int}, "__module__": module}
    return types.new_class("Item", (BaseModel,), {}, lambda d: d.update(ns))


ItemA = make_item_model("shop_a", "price")
ItemB = make_item_model("shop_b", "weight")


def full_app(tmp_path: Path) -> App:
    app = App(title="Everything", version="2.0.0", description="All kinds.",
              durable_store=f"sqlite:///{tmp_path / 'oa.db'}")

    @app.tool(examples=[Example({"place": {"name": "x", "geo": {"lat": 1, "lon": 2}}})])
    def locate(place: Place) -> Geo:
        """Locate a place."""
        return place.geo

    @app.tool
    def pet(animal: Annotated[Union[Cat, Dog], Field(discriminator="kind")],
            level: Optional[Level] = None) -> Union[Cat, Dog]:
        return animal

    @app.tool(name="math.add", tags=["math"])
    def add(a: Annotated[int, Field(ge=0)], b: int = 1) -> int:
        return a + b

    @app.tool
    def price(item: ItemA) -> int:  # type: ignore[valid-type]
        return 1

    @app.tool
    def weigh(item: ItemB) -> int:  # type: ignore[valid-type]
        return 2

    @app.tool
    def nothing() -> None:
        return None

    @app.resource("config://app")
    def config() -> dict[str, Any]:
        return {}

    @app.resource("places://{region}/{name}", mime_type="application/json")
    def place(region: str, name: str) -> Place:
        return Place(name=name, geo=Geo(lat=0, lon=0))

    @app.resource("logo://png", mime_type="image/png")
    def logo() -> bytes:
        return b""

    @app.prompt
    def brief(topic: str, level: Level = Level.low) -> str:
        """A brief."""
        return topic

    @app.agent_endpoint("/search", description="Searches.")
    async def search(body: Search, ctx: RunContext) -> Answer:
        return Answer(text=body.query, places=body.places)

    @app.agent_endpoint("/stream", examples=[Example({"prompt": "hi"})])
    async def stream(prompt: str, ctx: RunContext):
        yield events.node_start("n")
        yield prompt

    @app.agent_endpoint("/nested/deep/path", output_model=dict[str, Any])
    async def deep(ctx: RunContext, level: Level = Level.high):
        yield Output({"level": level.value})

    @app.get("/hello")
    async def hello(name: str = "world") -> dict[str, str]:
        return {"hello": name}

    return app


async def test_openapi_is_valid_and_complete(tmp_path: Path) -> None:
    app = full_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/openapi.json")
        assert r.status_code == 200
        spec = r.json()
        validate(spec)
        assert spec["openapi"].startswith("3.1")
        assert spec["info"]["title"] == "Everything"
        assert spec["info"]["version"] == "2.0.0"
        paths = spec["paths"]
        for path in ["/tools/locate", "/tools/pet", "/tools/math.add", "/tools/price",
                     "/tools/weigh", "/tools/nothing",
                     "/resources/config", "/resources/place", "/resources/place/{region}/{name}",
                     "/resources/logo", "/prompts/brief",
                     "/search", "/search/stream", "/stream", "/stream/stream",
                     "/nested/deep/path", "/nested/deep/path/stream",
                     "/runs", "/runs/{run_id}", "/runs/{run_id}/events",
                     "/runs/{run_id}/cancel", "/runs/{run_id}/resume",
                     "/tools", "/resources", "/prompts", "/agents",
                     "/health", "/health/live", "/health/ready", "/hello"]:
            assert path in paths, path
        assert "post" in paths["/tools/locate"]
        assert "get" in paths["/resources/place/{region}/{name}"]
        op_ids = [op["operationId"] for item in paths.values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op]
        assert len(op_ids) == len(set(op_ids))


async def test_openapi_schemas_follow_the_definitions(tmp_path: Path) -> None:
    app = full_app(tmp_path)
    async with running_client(app) as client:
        spec = (await client.get("/openapi.json")).json()
        schemas = spec["components"]["schemas"]

        def deref(schema: dict[str, Any]) -> dict[str, Any]:
            while "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            return schema

        locate = spec["paths"]["/tools/locate"]["post"]
        body = deref(locate["requestBody"]["content"]["application/json"]["schema"])
        assert set(body["properties"]) == {"name", "geo", "level", "tags"}
        assert deref(body["properties"]["geo"])["required"] == ["lat", "lon"]
        assert deref(body["properties"]["level"])["enum"] == ["low", "high"]
        result = locate["responses"]["200"]["content"]["application/json"]["schema"]
        assert set(deref(result["properties"]["result"])["properties"]) == {"lat", "lon"}
        assert "422" in locate["responses"] and "404" in locate["responses"]

        pet = spec["paths"]["/tools/pet"]["post"]
        pet_body = deref(pet["requestBody"]["content"]["application/json"]["schema"])
        animal = pet_body["properties"]["animal"]
        variants = animal.get("oneOf") or animal.get("anyOf")
        assert {deref(v)["title"] for v in variants} == {"Cat", "Dog"}

        add = spec["paths"]["/tools/math.add"]["post"]
        add_body = deref(add["requestBody"]["content"]["application/json"]["schema"])
        assert add_body["properties"]["a"]["minimum"] == 0
        assert add_body["required"] == ["a"]
        assert "math" in add["tags"]

        # Two different models called "Item" keep their own fields.
        price = deref(spec["paths"]["/tools/price"]["post"]["requestBody"]["content"]
                      ["application/json"]["schema"])
        weigh = deref(spec["paths"]["/tools/weigh"]["post"]["requestBody"]["content"]
                      ["application/json"]["schema"])
        assert set(price["properties"]) == {"price"}
        assert set(weigh["properties"]) == {"weight"}

        by_path = spec["paths"]["/resources/place/{region}/{name}"]["get"]
        assert {p["name"]: p["in"] for p in by_path["parameters"]} == {"region": "path",
                                                                        "name": "path"}
        by_query = spec["paths"]["/resources/place"]["get"]
        assert {p["name"]: p["in"] for p in by_query["parameters"]} == {"region": "query",
                                                                         "name": "query"}
        assert "image/png" in spec["paths"]["/resources/logo"]["get"]["responses"]["200"][
            "content"]

        search = spec["paths"]["/search"]["post"]
        search_body = deref(search["requestBody"]["content"]["application/json"]["schema"])
        assert set(search_body["properties"]) == {"query", "places"}  # no ctx
        assert "text/event-stream" in search["responses"]["200"]["content"]
        assert "202" in search["responses"]
        assert any(p["name"] == "Idempotency-Key" for p in search["parameters"])
        stream = spec["paths"]["/stream/stream"]["post"]
        assert "text/event-stream" in stream["responses"]["200"]["content"]
        stream_body = deref(spec["paths"]["/stream"]["post"]["requestBody"]["content"]
                            ["application/json"]["schema"])
        assert set(stream_body["properties"]) == {"prompt"}

        hello = spec["paths"]["/hello"]["get"]
        assert any(p["name"] == "name" for p in hello["parameters"])


async def test_user_routes_work(tmp_path: Path) -> None:
    app = full_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/hello", params={"name": "ada"})
        assert r.status_code == 200
        assert r.json() == {"hello": "ada"}


async def test_docs_page(tmp_path: Path) -> None:
    app = full_app(tmp_path)
    async with running_client(app) as client:
        r = await client.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "openapi.json" in r.text
        assert "swagger" in r.text.lower()


async def test_spec_updates_when_a_definition_is_added(tmp_path: Path) -> None:
    app = full_app(tmp_path)
    async with running_client(app) as client:
        first = (await client.get("/openapi.json")).json()
        assert "/tools/late" not in first["paths"]

        @app.tool
        def late(x: Level) -> str:
            return x.value

        second = (await client.get("/openapi.json")).json()
        validate(second)
        assert "/tools/late" in second["paths"]
        assert "/tools/locate" in second["paths"]
        r = await client.post("/tools/late", json={"x": "high"})
        assert r.json() == {"result": "high"}

        @app.agent_endpoint("/late-agent")
        async def late_agent(q: str) -> str:
            return q

        third = (await client.get("/openapi.json")).json()
        validate(third)
        assert "/late-agent" in third["paths"] and "/late-agent/stream" in third["paths"]
        assert (await client.post("/late-agent", json={"q": "z"})).json()["output"] == "z"


async def test_quickstart_openapi(quickstart: Any) -> None:
    async with running_client(quickstart) as client:
        spec = (await client.get("/openapi.json")).json()
        validate(spec)
        assert spec["info"]["title"] == "Quickstart"
        add = spec["paths"]["/tools/add"]["post"]
        examples = add["requestBody"]["content"]["application/json"]["examples"]
        assert examples["example1"]["value"] == {"a": 2, "b": 3}


@pytest.mark.parametrize("with_store", [True, False])
async def test_empty_app_openapi(tmp_path: Path, with_store: bool) -> None:
    app = App(durable_store=f"sqlite:///{tmp_path / 'e.db'}" if with_store else "memory://")
    async with running_client(app) as client:
        spec = (await client.get("/openapi.json")).json()
        validate(spec)
        assert "/runs" in spec["paths"]
