"""The fixtures of the official MCP conformance suite, built with fastagentic's public API.

    fastagentic run examples/mcp_everything/app.py --port 3001
    npx @modelcontextprotocol/conformance server --url http://localhost:3001/mcp --suite all
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from pydantic import Field

from fastagentic import App, CallContext, prompt, resource, tool
from fastagentic.content import Audio, EmbeddedResource, Image, Message, Text
from fastagentic.exceptions import MissingClientCapability, ToolError

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
       "rkJggg==")
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

app = App(title="mcp-conformance-test-server", version="1.0.0",
          description="Conformance fixtures for the MCP test suite.")


# tools


@tool
def test_simple_text() -> str:
    """Returns a simple text response."""
    return "This is a simple text response for testing."


@tool
def test_image_content() -> Image:
    """Returns a small PNG image."""
    return Image(data=PNG, mime_type="image/png")


@tool
def test_audio_content() -> Audio:
    """Returns a short WAV sound."""
    return Audio(data=WAV, mime_type="audio/wav")


@tool
def test_embedded_resource() -> EmbeddedResource:
    """Returns an embedded text resource."""
    return EmbeddedResource.text("test://embedded-resource",
                                 "This is an embedded resource content.")


@tool
def test_multiple_content_types() -> list[Text | Image | EmbeddedResource]:
    """Returns text, an image and an embedded resource."""
    return [
        Text(text="Multiple content types test:"),
        Image(data=PNG, mime_type="image/png"),
        EmbeddedResource.text("test://mixed-content-resource",
                              json.dumps({"test": "data", "value": 123}), "application/json"),
    ]


@tool
async def test_tool_with_logging(ctx: CallContext) -> str:
    """Logs three messages while it works."""
    await ctx.log("info", "Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return "Tool with logging executed successfully"


@tool
async def test_tool_with_progress(ctx: CallContext) -> str:
    """Reports progress in three steps."""
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
        if step < 100:
            await asyncio.sleep(0.05)
    return "Progress completed"


@tool
def test_error_handling() -> str:
    """Always fails, as a tool-level error."""
    raise ToolError("This tool intentionally returns an error for testing")


@tool
def test_missing_capability(ctx: CallContext) -> str:
    """Needs the client's sampling capability."""
    if "sampling" not in ctx.client_capabilities:
        raise MissingClientCapability({"sampling": {}})
    return "Success"


@tool
async def test_streaming_elicitation(ctx: CallContext) -> str:
    """Streams a progress notification before its result."""
    await ctx.report_progress(1, 1, "streaming")
    return "Streaming completed"


@tool
async def test_logging_tool(ctx: CallContext) -> str:
    """Logs a message (delivered only to callers that asked for logs)."""
    await ctx.log("info", "test_logging_tool ran")
    return "Logged"


@tool
async def test_trigger_tool_change() -> str:
    """Adds a tool, so the tool list changes."""
    number = len(app.registry.tools) + 1
    app.tool(name=f"dynamic_tool_{number}", description="A tool added at runtime.")(
        lambda: f"dynamic tool {number}")
    return f"Added dynamic_tool_{number}"


@tool
async def test_trigger_prompt_change() -> str:
    """Adds a prompt, so the prompt list changes."""
    number = len(app.registry.prompts) + 1
    app.prompt(name=f"dynamic_prompt_{number}", description="A prompt added at runtime.")(
        lambda: f"dynamic prompt {number}")
    return f"Added dynamic_prompt_{number}"


@tool
async def test_sampling(prompt: str, ctx: CallContext) -> str:
    """Asks the client's model."""
    reply = await ctx.sample(prompt, max_tokens=100)
    content = reply.get("content") or {}
    return f"LLM response: {content.get('text', '') if isinstance(content, dict) else content}"


@tool
async def test_elicitation(message: str, ctx: CallContext) -> str:
    """Asks the user for a username and an email."""
    reply = await ctx.elicit(message, {
        "type": "object",
        "properties": {"username": {"type": "string", "description": "Your username"},
                       "email": {"type": "string", "description": "Your email address"}},
        "required": ["username", "email"]})
    return f"User response: action={reply['action']}, content={reply.get('content')}"


@tool
async def test_elicitation_sep1034_defaults(ctx: CallContext) -> str:
    """Asks with defaults for every field."""
    reply = await ctx.elicit("Please review and update the form fields with defaults", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive", "pending"],
                       "default": "active"},
            "verified": {"type": "boolean", "default": True}},
        "required": []})
    return f"Elicitation completed: action={reply['action']}, content={reply.get('content')}"


@tool
async def test_elicitation_sep1330_enums(ctx: CallContext) -> str:
    """Asks with every kind of enum field."""
    options = ["option1", "option2", "option3"]
    reply = await ctx.elicit("Please select options from the enum fields", {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": options},
            "titledSingle": {"type": "string", "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                           "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "minItems": 1, "maxItems": 3,
                              "items": {"type": "string", "enum": options}},
            "titledMulti": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"},
                {"const": "value2", "title": "Second Choice"},
                {"const": "value3", "title": "Third Choice"}]}}},
        "required": []})
    return f"Elicitation completed: action={reply['action']}, content={reply.get('content')}"


NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@tool
async def test_input_required_result_elicitation(ctx: CallContext) -> str:
    """Asks for the user's name (multi round-trip in 2026-07-28)."""
    reply = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    return f"Hello, {(reply.get('content') or {}).get('name', 'stranger')}!"


@tool
async def test_input_required_result_sampling(ctx: CallContext) -> str:
    """Asks the client's model a question."""
    reply = await ctx.sample("What is the capital of France?", max_tokens=100,
                             key="sample_request")
    return f"The model said: {(reply.get('content') or {}).get('text', '')}"


@tool
async def test_input_required_result_list_roots(ctx: CallContext) -> str:
    """Asks for the client's roots."""
    reply = await ctx.list_roots(key="roots_request")
    return f"Found {len(reply.get('roots', []))} root(s)"


@tool
async def test_input_required_result_request_state(ctx: CallContext) -> str:
    """Asks for a confirmation."""
    reply = await ctx.elicit("Confirm?", {"type": "object", "properties": {
        "ok": {"type": "boolean"}}, "required": ["ok"]}, key="confirm")
    return "state-ok" if (reply.get("content") or {}).get("ok") else "state-declined"


@tool
async def test_input_required_result_multiple_inputs(ctx: CallContext) -> str:
    """Asks three things at once."""
    replies = await ctx.ask_client({
        "user_name": ("elicitation/create", {"mode": "form", "message": "What is your name?",
                                             "requestedSchema": NAME_FORM}),
        "greeting": ("sampling/createMessage", {"messages": [{"role": "user", "content": {
            "type": "text", "text": "Write a greeting."}}], "maxTokens": 50}),
        "client_roots": ("roots/list", {}),
    })
    return f"Got {len(replies)} answers"


@tool
async def test_input_required_result_multi_round(ctx: CallContext) -> str:
    """Asks two questions, one after the other."""
    first = await ctx.elicit("What is your name?", NAME_FORM, key="step1")
    colour = await ctx.elicit("What is your favourite colour?", {
        "type": "object", "properties": {"colour": {"type": "string"}},
        "required": ["colour"]}, key="step2")
    name = (first.get("content") or {}).get("name")
    return f"{name} likes {(colour.get('content') or {}).get('colour')}"


@tool
async def test_input_required_result_tampered_state(ctx: CallContext) -> str:
    """Asks a question; a tampered state is refused."""
    reply = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    return f"Hello, {(reply.get('content') or {}).get('name')}!"


@tool
async def test_input_required_result_capabilities(ctx: CallContext) -> str:
    """Asks only what the client declared it can answer."""
    if "elicitation" in ctx.client_capabilities:
        reply = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
        return f"Hello, {(reply.get('content') or {}).get('name')}!"
    reply = await ctx.sample("What is your name?", max_tokens=20, key="fallback_sample")
    return f"The model said: {(reply.get('content') or {}).get('text', '')}"


ADDRESS_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {
        "street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@tool(input_schema=ADDRESS_FORM)
def json_schema_2020_12_tool(**contact: object) -> str:
    """Takes a contact described by a JSON Schema 2020-12 document."""
    return f"contact: {json.dumps(contact, sort_keys=True)}"


# fixtures of the tasks extension (2026-07-28): long tools run as tasks (runs)


@tool(task_support="forbidden")
def greet(name: str) -> str:
    """Greets right away (never a task)."""
    return f"Hello, {name}!"


@tool(task_support="optional")
async def slow_compute(seconds: float, label: str = "") -> str:
    """Works for a while; runs as a task."""
    await asyncio.sleep(seconds)
    return f"computed {label} after {seconds:g}s"


@tool(task_support="required")
async def failing_job() -> str:
    """Fails as a tool after a second."""
    await asyncio.sleep(1)
    raise ToolError("the job failed")


@tool(task_support="optional")
async def protocol_error_job() -> str:
    """Crashes (a protocol-level failure)."""
    raise RuntimeError("protocol error job crashed")


@tool(task_support="optional")
async def confirm_delete(filename: str, ctx: CallContext) -> str:
    """Asks for confirmation before deleting (the task waits for the answer)."""
    reply = await ctx.elicit(f"Delete {filename}?", {"type": "object", "properties": {
        "confirm": {"type": "boolean"}}, "required": ["confirm"]}, key="confirm")
    return "deleted" if (reply.get("content") or {}).get("confirm") else "kept"


# resources


@resource("test://static-text", name="static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource."""
    return "This is the content of the static text resource."


@resource("test://static-binary", name="static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (a PNG image)."""
    import base64

    return base64.b64decode(PNG)


@resource("test://template/{id}/data", name="template-data", mime_type="application/json")
def template_data(id: str) -> dict[str, object]:
    """Data for an id, from a URI template."""
    return {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}


@resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
def watched_resource() -> str:
    """A resource clients can subscribe to."""
    return "Watched resource content"


# prompts


@prompt
def test_simple_prompt() -> str:
    """A prompt without arguments."""
    return "This is a simple prompt for testing."


@prompt
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    """A prompt with two required arguments."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # noqa: N803
) -> list[Message]:
    """A prompt that embeds a resource."""
    return [
        Message(content=EmbeddedResource.text(resourceUri,
                                              "Embedded resource content for testing.")),
        Message(content="Please process the embedded resource above."),
    ]


@prompt
async def test_input_required_result_prompt(ctx: CallContext) -> str:
    """A prompt that asks for context first."""
    reply = await ctx.elicit("What context should the prompt use?", {
        "type": "object", "properties": {"context": {"type": "string"}},
        "required": ["context"]}, key="user_context")
    return f"Use this context: {(reply.get('content') or {}).get('context')}"


@prompt
def test_prompt_with_image() -> list[Message]:
    """A prompt with an image."""
    return [Message(content=Image(data=PNG, mime_type="image/png")),
            Message(content="Please analyze the image above.")]
