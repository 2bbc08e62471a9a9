"""The seed-003 envelope: its JSON form and its place in an A2A message's metadata."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fastagentic.a2a.client import user_message
from fastagentic.a2a.envelope import METADATA_KEY, Envelope

SEED = {
    "task_id": "uuid",
    "from": "BillingNormalizer:v1.0",
    "to": "AnomalyDetector:v1.1",
    "payload_ref": "gs://org-bucket/audit/normalized-2025-12-01.json",
    "status": "completed",
    "meta": {"run_start": "2025-12-01T09:00:00Z", "run_end": "2025-12-01T09:01:40Z"},
}


def test_the_seed_example_round_trips():
    envelope = Envelope.model_validate(SEED)
    assert envelope.from_ == "BillingNormalizer:v1.0"
    assert envelope.to_json_dict() == SEED
    assert Envelope(task_id="t", from_="a", to="b").to_json_dict() == {
        "task_id": "t", "from": "a", "to": "b", "payload_ref": None, "status": "submitted",
        "meta": {}}


def test_it_rides_in_message_metadata_next_to_other_keys():
    envelope = Envelope.model_validate(SEED)
    message = user_message("ready", metadata={"other": True}, envelope=envelope)
    assert message["metadata"] == {"other": True, METADATA_KEY: SEED}
    assert Envelope.from_message(message) == envelope
    assert Envelope.from_message(message["metadata"]) == envelope  # the metadata alone
    assert Envelope.from_message(user_message("no envelope")) is None
    assert envelope.to_message_metadata() == {"fastagentic.envelope": SEED}


def test_an_invalid_envelope_is_an_error():
    with pytest.raises(ValidationError):
        Envelope.from_message({"metadata": {METADATA_KEY: {"task_id": "t"}}})
