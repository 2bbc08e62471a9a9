"""OpenAPI 3.1 for every definition, fused with the user's own FastAPI routes.

All schemas come from the registry's specs in one pass (``TypeAdapter.json_schemas``), so model
names are shared and unique across definitions.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from ..core.runs import STATUSES
from ..core.specs import AgentSpec, ResourceSpec, Spec

if TYPE_CHECKING:
    from ..app import App

REF = "#/components/schemas/{model}"

ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "detail": {},
    },
    "required": ["code", "message"],
}
VALIDATION_ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "const": "invalid_input"},
        "message": {"type": "string"},
        "detail": {"type": "array", "items": {
            "type": "object",
            "properties": {"loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                           "msg": {"type": "string"}, "type": {"type": "string"}},
            "required": ["loc", "msg", "type"]}},
    },
    "required": ["code", "message", "detail"],
}
RUN_EVENT = {
    "type": "object",
    "description": "One run event; the SSE frame is `id: <seq>`, `event: <type>`, `data: <this>`.",
    "properties": {
        "run_id": {"type": "string"}, "seq": {"type": "integer", "minimum": 1},
        "type": {"type": "string", "enum": [
            "token", "node_start", "node_end", "tool_call", "tool_result", "checkpoint", "cost",
            "run_started", "status", "input_required", "error", "done"]},
        "ts": {"type": "number"},
    },
    "required": ["run_id", "seq", "type", "ts"],
    "additionalProperties": True,
}
RUN = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string"}, "endpoint": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "input": {}, "output": {}, "error": {"type": ["object", "null"]},
        "input_request": {"type": ["object", "null"]},
        "created_at": {"type": "number"}, "updated_at": {"type": "number"},
        "started_at": {"type": ["number", "null"]}, "finished_at": {"type": ["number", "null"]},
        "attempt": {"type": "integer"}, "last_seq": {"type": "integer"},
        "usage": {"type": "object"}, "user": {"type": "string"},
        "tenant": {"type": ["string", "null"]},
    },
    "required": ["run_id", "endpoint", "status", "created_at"],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Malformed request"),
    "404": _json(_ref("Error"), "Not found"),
    "413": _json(_ref("Error"), "Request body too large"),
    "422": _json(_ref("ValidationError"), "Invalid arguments"),
}
SSE = {"text/event-stream": {"schema": {"type": "string"},
                             "x-event-schema": _ref("RunEvent")}}


def _examples(spec: Spec) -> dict[str, Any]:
    if not spec.examples:
        return {}
    return {"examples": {f"example{i + 1}": {"value": ex.input}
                         for i, ex in enumerate(spec.examples)}}


def _op(spec: Spec, summary_prefix: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.title or f"{summary_prefix} {spec.name}",
        "operationId": f"{spec.kind}_{spec.name}".replace(".", "_").replace("-", "_"),
        "tags": [f"{spec.kind}s", *spec.tags],
    }
    if spec.description:
        op["description"] = spec.description
    return op


def build(app: App) -> dict[str, Any]:
    cached = app._openapi_cache
    if cached is not None and cached[0] == app.registry.version:
        return cached[1]
    settings = app.settings
    base = get_openapi(title=settings.title, version=settings.version,
                       description=settings.description or None,
                       routes=app.fastapi.routes, openapi_version="3.1.0")
    reg = app.registry
    inputs: list[tuple[tuple[str, str], Any, TypeAdapter[Any]]] = []
    raw_inputs: dict[str, dict[str, Any]] = {}
    for spec in reg.all():
        if spec.signature.raw_schema is not None:
            raw_inputs[spec.kind + ":" + spec.name] = spec.signature.raw_schema
        else:
            inputs.append(((spec.kind + ":" + spec.name, "in"), "validation",
                           TypeAdapter(spec.signature.input_model)))
        inputs.append(((spec.kind + ":" + spec.name, "out"), "serialization",
                       spec.signature.output_adapter))
    keyed, defs = TypeAdapter.json_schemas(
        [(key, mode, adapter) for key, mode, adapter in inputs], ref_template=REF)
    schemas = dict(defs.get("$defs", {}))
    schemas.update(Error=ERROR, ValidationError=VALIDATION_ERROR, RunEvent=RUN_EVENT, Run=RUN)

    def schema(spec: Spec, which: str) -> dict[str, Any]:
        key = spec.kind + ":" + spec.name
        if which == "in" and key in raw_inputs:
            return _hoist(raw_inputs[key], f"{spec.kind}.{spec.name}", schemas)
        mode = "validation" if which == "in" else "serialization"
        return keyed[((key, which), mode)]

    paths: dict[str, Any] = dict(base.get("paths", {}))
    for spec in reg.tools.values():
        op = _op(spec, "Call tool")
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": schema(spec, "in"), **_examples(spec)}}}
        op["responses"] = {"200": _json({"type": "object", "properties": {
            "result": schema(spec, "out")}, "required": ["result"]}), **ERRORS}
        paths[f"/tools/{spec.name}"] = {"post": op}
    for spec in reg.resources.values():
        paths.update(_resource_paths(spec, schema(spec, "in"), schema(spec, "out"), schemas))
    for spec in reg.prompts.values():
        op = _op(spec, "Render prompt")
        op["requestBody"] = {"required": False, "content": {"application/json": {
            "schema": schema(spec, "in"), **_examples(spec)}}}
        op["responses"] = {"200": _json({"type": "object", "properties": {
            "description": {"type": "string"},
            "messages": {"type": "array", "items": {"type": "object"}}}}), **ERRORS}
        paths[f"/prompts/{spec.name}"] = {"post": op}
    for spec in reg.agents.values():
        paths.update(_agent_paths(spec, schema(spec, "in"), schema(spec, "out")))
    paths.update(_run_paths())
    paths.update(_listing_paths())
    base["paths"] = paths
    components = base.setdefault("components", {})
    components.setdefault("schemas", {}).update(schemas)
    app._openapi_cache = (reg.version, base)
    return base


def _hoist(raw: dict[str, Any], prefix: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """A raw JSON Schema inside the OpenAPI document: its ``$defs`` become components, and
    its local ``$ref``s point there (``#`` means the whole document in OpenAPI)."""
    raw = copy.deepcopy(raw)
    defs = raw.pop("$defs", {})

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node = {**node, "$ref": REF.format(model=f"{prefix}.{ref[len('#/$defs/'):]}")}
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, definition in defs.items():
        schemas[f"{prefix}.{name}"] = rewrite(definition)
    return rewrite(raw)


def _resource_paths(spec: ResourceSpec, params_schema: dict[str, Any], out: dict[str, Any],
                    schemas: dict[str, Any]) -> dict[str, Any]:
    model_schema = params_schema
    if "$ref" in params_schema:
        model_schema = schemas[params_schema["$ref"].rsplit("/", 1)[-1]]
    props = model_schema.get("properties", {})
    required = set(model_schema.get("required", []))
    media = spec.mime_type or "application/json"
    responses = {"200": {"description": "The resource content",
                         "content": {media: {"schema": out}}}, **ERRORS}
    op = _op(spec, "Read resource")
    op["description"] = (spec.description + "\n\n" if spec.description else "") + \
        f"URI: `{spec.uri}`"
    query = [{"name": v, "in": "query", "required": v in required,
              "schema": props.get(v, {})} for v in spec.variables]
    paths = {f"/resources/{spec.name}": {"get": {**op, "parameters": query,
                                                  "responses": responses}}}
    if spec.variables:
        path = f"/resources/{spec.name}/" + "/".join(f"{{{v}}}" for v in spec.variables)
        params = [{"name": v, "in": "path", "required": True, "schema": props.get(v, {})}
                  for v in spec.variables]
        paths[path] = {"get": {**op, "operationId": op["operationId"] + "_by_path",
                               "parameters": params, "responses": responses}}
    return paths


def _agent_paths(spec: AgentSpec, inp: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "object", "properties": {
        "run_id": {"type": "string"}, "status": {"type": "string", "enum": list(STATUSES)},
        "output": {"anyOf": [out, {"type": "null"}]}, "error": {"type": "object"},
        "input_request": {"type": "object"}}, "required": ["run_id", "status", "output"]}
    headers = [{"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": 255}}]
    body = {"required": True, "content": {"application/json": {"schema": inp,
                                                               **_examples(spec)}}}
    op = _op(spec, "Run agent")
    start = {**op, "parameters": headers, "requestBody": body, "responses": {
        "200": {"description": "The run settled (finished or waiting for input); with "
                               "`Accept: text/event-stream`, the run's events as SSE",
                "content": {"application/json": {"schema": result}, **SSE}},
        "202": _json(result, "Accepted (`Prefer: respond-async`)"), **ERRORS}}
    stream = {**op, "operationId": op["operationId"] + "_stream", "parameters": headers,
              "requestBody": body,
              "responses": {"200": {"description": "The run's events as SSE", "content": SSE},
                            **ERRORS}}
    if not spec.stream:
        start["responses"]["200"]["content"] = {"application/json": {"schema": result}}
        start["responses"]["200"]["description"] = "The run settled (finished or waiting for input)"
        return {spec.path: {"post": start}}
    return {spec.path: {"post": start}, spec.path + "/stream": {"post": stream}}


def _run_paths() -> dict[str, Any]:
    run_id = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
    not_found = {"404": _json(_ref("Error"), "Unknown run")}
    conflict = {"409": _json(_ref("Error"), "Not allowed in the run's current state")}
    tags = ["runs"]
    return {
        "/runs": {"get": {"operationId": "runs_list", "tags": tags, "summary": "List runs",
                          "parameters": [
                              {"name": "limit", "in": "query",
                               "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                              {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                              {"name": "status", "in": "query",
                               "schema": {"type": "string", "enum": list(STATUSES)}},
                              {"name": "endpoint", "in": "query", "schema": {"type": "string"}}],
                          "responses": {"200": _json({"type": "object", "properties": {
                              "runs": {"type": "array", "items": _ref("Run")},
                              "next_cursor": {"type": ["string", "null"]}}}),
                              "400": ERRORS["400"]}}},
        "/runs/{run_id}": {"get": {"operationId": "runs_get", "tags": tags,
                                   "summary": "Get a run", "parameters": [run_id],
                                   "responses": {"200": _json(_ref("Run")), **not_found}}},
        "/runs/{run_id}/events": {"get": {
            "operationId": "runs_events", "tags": tags,
            "summary": "Follow a run's events (SSE), or a page of them (JSON)",
            "parameters": [run_id,
                           {"name": "after", "in": "query",
                            "schema": {"type": "integer", "minimum": 0}},
                           {"name": "Last-Event-ID", "in": "header",
                            "schema": {"type": "string"}},
                           {"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}],
            "responses": {"200": {"description": "Events after `after`", "content": {
                **SSE, "application/json": {"schema": {"type": "object", "properties": {
                    "events": {"type": "array", "items": _ref("RunEvent")},
                    "next_after": {"type": "integer"}}}}}}, **not_found}}},
        "/runs/{run_id}/cancel": {"post": {"operationId": "runs_cancel", "tags": tags,
                                           "summary": "Cancel a run", "parameters": [run_id],
                                           "responses": {"200": _json(_ref("Run")),
                                                         **not_found, **conflict}}},
        "/runs/{run_id}/resume": {"post": {
            "operationId": "runs_resume", "tags": tags,
            "summary": "Answer an input request, or continue an interrupted run",
            "parameters": [run_id],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
            "responses": {"200": _json(_ref("Run")), **not_found, **conflict,
                          "422": ERRORS["422"]}}},
    }


def _listing_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for kind in ("tools", "resources", "prompts", "agents"):
        paths[f"/{kind}"] = {"get": {"operationId": f"list_{kind}", "tags": [kind],
                                     "summary": f"List {kind}",
                                     "responses": {"200": _json({"type": "object"})}}}
    for path, summary in (("/health", "Health"), ("/health/live", "Liveness"),
                          ("/health/ready", "Readiness (checks the store)")):
        op = path.strip("/").replace("/", "_")
        paths[path] = {"get": {"operationId": op, "tags": ["health"], "summary": summary,
                               "responses": {"200": _json({"type": "object"}),
                                             "503": _json({"type": "object"}, "Not ready")}}}
    return paths
