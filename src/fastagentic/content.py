"""Rich content a tool or prompt can return: text, images, audio, embedded resources.

The JSON form is MCP's content block (``{"type": "image", "data": "<base64>", "mimeType":
"image/png"}``), so REST clients and MCP clients see the same thing.  Over MCP a tool returning
these gives them as the result's ``content`` blocks.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

_CONFIG = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True,
                     frozen=True)


def _mime(default: str | None = None) -> Any:
    return Field(default=default, serialization_alias="mimeType",
                 validation_alias=AliasChoices("mimeType", "mime_type"))


class ContentBlock(BaseModel):
    """Base of the content types."""

    model_config = _CONFIG


class Text(ContentBlock):
    type: Literal["text"] = "text"
    text: str


class Image(ContentBlock):
    type: Literal["image"] = "image"
    #: Base64-encoded bytes (``Image.from_bytes`` encodes for you).
    data: str
    mime_type: str = _mime("image/png")

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str = "image/png") -> Image:
        return cls(data=base64.b64encode(data).decode(), mime_type=mime_type)


class Audio(ContentBlock):
    type: Literal["audio"] = "audio"
    data: str
    mime_type: str = _mime("audio/wav")

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str = "audio/wav") -> Audio:
        return cls(data=base64.b64encode(data).decode(), mime_type=mime_type)


class ResourceContents(BaseModel):
    """The body of an embedded resource: ``text`` or base64 ``blob``."""

    model_config = _CONFIG
    uri: str
    mime_type: str | None = _mime()
    text: str | None = None
    blob: str | None = None


class EmbeddedResource(ContentBlock):
    type: Literal["resource"] = "resource"
    resource: ResourceContents

    @classmethod
    def text(cls, uri: str, text: str, mime_type: str = "text/plain") -> EmbeddedResource:
        return cls(resource=ResourceContents(uri=uri, text=text, mime_type=mime_type))

    @classmethod
    def blob(cls, uri: str, data: bytes, mime_type: str) -> EmbeddedResource:
        return cls(resource=ResourceContents(uri=uri, blob=base64.b64encode(data).decode(),
                                             mime_type=mime_type))


class ResourceLink(ContentBlock):
    """A reference to content by URI (MCP ``resource_link``; an A2A ``url`` part)."""

    type: Literal["resource_link"] = "resource_link"
    uri: str
    name: str
    mime_type: str | None = _mime()
    description: str | None = None


Content = Annotated[Text | Image | Audio | EmbeddedResource | ResourceLink,
                    Field(discriminator="type")]


class Message(BaseModel):
    """A prompt message: a role and one content block (or plain text)."""

    model_config = _CONFIG
    role: Literal["user", "assistant"] = "user"
    content: Content | str


__all__ = ["Audio", "Content", "ContentBlock", "EmbeddedResource", "Image", "Message",
           "ResourceContents", "ResourceLink", "Text"]
