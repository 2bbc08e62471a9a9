"""Guardrails and evaluators on the hooks.

``add_guardrail(app, guardrail)`` checks what goes in (a call's arguments, a model's prompt)
and what comes out (a model's response, a result): allow, block (``hook_rejected`` on every
transport) or rewrite.  ``LakeraGuard`` asks Lakera Guard, ``WebhookGuardrail`` a service of
your own.  ``add_evaluator(app, evaluator)`` scores responses off the caller's path.
Names are imported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ALLOW": "fastagentic.guardrails.base",
    "Guardrail": "fastagentic.guardrails.base",
    "Verdict": "fastagentic.guardrails.base",
    "add_guardrail": "fastagentic.guardrails.base",
    "Segment": "fastagentic.guardrails.texts",
    "segments": "fastagentic.guardrails.texts",
    "GuardrailUnavailable": "fastagentic.guardrails.http",
    "LakeraGuard": "fastagentic.guardrails.lakera",
    "WebhookGuardrail": "fastagentic.guardrails.webhook",
    "Evaluation": "fastagentic.guardrails.evals",
    "Evaluations": "fastagentic.guardrails.evals",
    "Evaluator": "fastagentic.guardrails.evals",
    "add_evaluator": "fastagentic.guardrails.evals",
}

__all__ = ["ALLOW", "Evaluation", "Evaluations", "Evaluator", "Guardrail",
           "GuardrailUnavailable", "LakeraGuard", "Segment", "Verdict", "WebhookGuardrail",
           "add_evaluator", "add_guardrail", "segments"]

if TYPE_CHECKING:
    from .base import ALLOW, Guardrail, Verdict, add_guardrail
    from .evals import Evaluation, Evaluations, Evaluator, add_evaluator
    from .http import GuardrailUnavailable
    from .lakera import LakeraGuard
    from .texts import Segment, segments
    from .webhook import WebhookGuardrail


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastagentic.guardrails' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
