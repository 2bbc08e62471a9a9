"""The control plane's A2A message format (seed 003), carried inside A2A messages.

An :class:`Envelope` says which task a message belongs to, who sends it to whom, where its
payload lives and how far the work got.  It rides in the A2A message's ``metadata`` under
``"fastagentic.envelope"``, so any A2A agent can pass it on while fastagentic agents read it::

    envelope = Envelope(task_id=run_id, from_="BillingNormalizer:v1.0",
                        to="AnomalyDetector:v1.1", payload_ref="gs://bucket/normalized.json",
                        status="completed")
    await client.send("normalized billing is ready", envelope=envelope)
    Envelope.from_message(message)          # on the receiving side
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

METADATA_KEY = "fastagentic.envelope"


class Envelope(BaseModel):
    """``{"task_id", "from", "to", "payload_ref", "status", "meta"}`` (seed 003)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    KEY: ClassVar[str] = METADATA_KEY

    task_id: str
    from_: str = Field(alias="from")
    to: str
    payload_ref: str | None = None
    status: str = "submitted"
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The seed's JSON form (``from``, not ``from_``)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_message_metadata(self) -> dict[str, Any]:
        """What to merge into an A2A message's ``metadata``."""
        return {METADATA_KEY: self.to_json_dict()}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Envelope | None:
        """The envelope a 1.0 Message (or its ``metadata``) carries; None if it has none."""
        metadata = message.get("metadata") if "metadata" in message else None
        if metadata is None and METADATA_KEY in message:
            metadata = message
        raw = (metadata or {}).get(METADATA_KEY) if isinstance(metadata, Mapping) else None
        return None if raw is None else cls.model_validate(raw)


__all__ = ["METADATA_KEY", "Envelope"]
