"""Types agent code uses to shape its A2A answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..content import Content

REPLY_TYPE = "a2a_reply"


class Reply(BaseModel):
    """Returned by an agent (declare ``-> str | Reply``): the A2A client gets a Message, not a
    Task.  ``text`` becomes a text part; ``parts`` may hold content blocks
    (``fastagentic.content``), strings, or A2A part dicts (``{"data": {...}}``)."""

    model_config = ConfigDict(frozen=True)
    type: Literal["a2a_reply"] = REPLY_TYPE
    text: str | None = None
    parts: list[Content | str | dict[str, Any]] = []
    metadata: dict[str, Any] | None = None


__all__ = ["REPLY_TYPE", "Reply"]
