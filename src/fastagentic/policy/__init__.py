"""Policies: authorization, rate limits, quotas and your own allow/deny/modify rules."""

from .base import (
    ALLOW,
    CheckpointDraft,
    Decision,
    Policy,
    RunStart,
    allow,
    deny,
    modify,
)

__all__ = ["ALLOW", "CheckpointDraft", "Decision", "Policy", "RunStart", "allow", "deny",
           "modify"]
