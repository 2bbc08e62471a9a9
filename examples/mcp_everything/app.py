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
def test_prompt_with_image() -> list[Message]:
    """A prompt with an image."""
    return [Message(content=Image(data=PNG, mime_type="image/png")),
            Message(content="Please analyze the image above.")]
