"""Specs → MCP definitions, and call results → MCP result shapes."""

from __future__ import annotations

import base64
import copy
import re
import types
import typing
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import to_json

from ...content import ContentBlock
from ...core.specs import AgentSpec, PromptSpec, ResourceSpec, Spec, ToolSpec

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _common(spec: Spec, out: dict[str, Any]) -> dict[str, Any]:
    if spec.title:
        out["title"] = spec.title
    if spec.description:
        out["description"] = spec.description
    if spec.icons:
        out["icons"] = [dict(icon) for icon in spec.icons]
    return out


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """MCP wants ``type: object`` at the top of an input schema."""
    if schema.get("type") != "object":
        schema = {**schema, "type": "object"}
    schema.setdefault("properties", {})
    return schema


def _is_content_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (list, tuple, typing.Union, types.UnionType, typing.Annotated):
        return all(_is_content_type(a) for a in typing.get_args(tp)
                   if a is not Ellipsis and not isinstance(a, FieldInfo))
    return isinstance(tp, type) and issubclass(tp, ContentBlock)


def structured_output(spec: Spec) -> tuple[dict[str, Any] | None, bool]:
    """The tool's outputSchema and whether values are wrapped as ``{"result": value}``.

    Text and ``None`` returns have no outputSchema; object schemas are used as they are; any
    other type is wrapped, since MCP's structured content is always an object.  Computed once
    per definition (it is on every call's path).
    """
    cached = spec.signature.cache.get("mcp_output")
    if cached is None:
        cached = spec.signature.cache["mcp_output"] = _structured_output(spec)
    return cached


def _structured_output(spec: Spec) -> tuple[dict[str, Any] | None, bool]:
    output_type = spec.signature.output_type
    if output_type in (str, type(None)) or _is_content_type(output_type):
        return None, False
    schema = spec.signature.output_schema()
    if schema.get("type") == "object" and "properties" in schema:
        return schema, False
    wrapped = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
    if "$defs" in schema:
        wrapped["$defs"] = schema.pop("$defs")
    return wrapped, True


def tool_name(spec: Spec) -> str:
    return spec.mcp_tool if isinstance(spec, AgentSpec) and spec.mcp_tool else spec.name


def tool_definition(spec: ToolSpec | AgentSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool_name(spec),
                           "inputSchema": _object_schema(spec.signature.input_schema())}
    _common(spec, out)
    schema, _ = structured_output(spec)
    if schema is not None:
        out["outputSchema"] = copy.deepcopy(schema)
    annotations = getattr(spec, "annotations", None)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def tool_result(spec: Spec, value: Any) -> dict[str, Any]:
    """A CallToolResult for a successful call.

    Content blocks (``fastagentic.content``) are the result's content as they are.
    """
    if isinstance(value, ContentBlock):
        return {"content": [value.model_dump(mode="json", exclude_none=True)], "isError": False}
    if isinstance(value, list | tuple) and value and all(isinstance(v, ContentBlock)
                                                          for v in value):
        return {"content": [v.model_dump(mode="json", exclude_none=True) for v in value],
                "isError": False}
    return tool_result_dumped(spec, spec.signature.dump_output(value))


def tool_result_dumped(spec: Spec, dumped: Any) -> dict[str, Any]:
    """A CallToolResult from an output already in its JSON form (e.g. a run's output)."""
    if isinstance(dumped, str):
        return {"content": [{"type": "text", "text": dumped}], "isError": False}
    if dumped is None:
        return {"content": [], "isError": False}
    _, wrapped = structured_output(spec)
    structured = {"result": dumped} if wrapped else dumped
    return {"content": [{"type": "text", "text": to_json(dumped).decode()}],
            "structuredContent": structured, "isError": False}


def tool_error(message: str) -> dict[str, Any]:
    """A failed call reported to the model (not a protocol error)."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def resource_definition(spec: ResourceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name}
    if spec.is_template:
        out["uriTemplate"] = spec.uri
    else:
        out["uri"] = spec.uri
    if spec.mime_type:
        out["mimeType"] = spec.mime_type
    return _common(spec, out)


def template_regex(uri_template: str) -> re.Pattern[str]:
    pattern, last = "", 0
    for match in _VAR.finditer(uri_template):
        pattern += re.escape(uri_template[last:match.start()]) + f"(?P<{match.group(1)}>[^/]+)"
        last = match.end()
    return re.compile(pattern + re.escape(uri_template[last:]) + r"\Z")


def resource_contents(spec: ResourceSpec, uri: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"uri": uri, "mimeType": spec.mime_type or "application/octet-stream",
                "blob": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"uri": uri, "mimeType": spec.mime_type or "text/plain", "text": value}
    text = spec.signature.dump_output_json(value).decode()
    return {"uri": uri, "mimeType": spec.mime_type or "application/json", "text": text}


def prompt_definition(spec: PromptSpec) -> dict[str, Any]:
    schema = spec.signature.input_schema()
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    arguments = []
    for name, prop in props.items():
        argument: dict[str, Any] = {"name": name, "required": name in required}
        if prop.get("description"):
            argument["description"] = prop["description"]
        if prop.get("title"):
            argument["title"] = prop["title"]
        arguments.append(argument)
    return _common(spec, {"name": spec.name, "arguments": arguments})


def elicitation_schema(schema: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """A flat object schema of primitives, as elicitation allows; ``True`` when a non-object
    answer had to be wrapped as ``{"answer": ...}``."""
    if not schema or schema.get("type") != "object":
        inner = dict(schema or {"type": "string"})
        return {"type": "object", "properties": {"answer": inner}, "required": ["answer"]}, True
    properties = {}
    for name, prop in (schema.get("properties") or {}).items():
        options = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
        flat = {**prop, **options[0]} if len(options) == 1 else dict(prop)
        flat.pop("anyOf", None)
        properties[name] = flat
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    return out, False
