"""Token usage → a ``cost`` event, priced with genai-prices when it knows the model.

Unknown models (test models, private deployments, a provider genai-prices has no data for) get
their tokens counted and no amount; pricing never fails a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core import events as ev


@dataclass(frozen=True, slots=True)
class Usage:
    """The token counts genai-prices reads (its ``calc_price`` takes any object with these)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def cost_event(usage: Any, model: str | None, provider: str | None = None) -> ev.Event | None:
    """A ``cost`` event for one model response's ``usage`` (anything with genai-prices' token
    attributes), or None when it used no tokens."""
    tokens = {name: value for name, value in (
        ("input", getattr(usage, "input_tokens", 0)),
        ("output", getattr(usage, "output_tokens", 0)),
        ("cache_read", getattr(usage, "cache_read_tokens", 0)),
        ("cache_write", getattr(usage, "cache_write_tokens", 0)),
    ) if value}
    if not tokens:
        return None
    return ev.cost(tokens, price(usage, model, provider), model)


def langchain_cost_event(message: Any, metadata: Mapping[str, Any]) -> ev.Event | None:
    """The ``cost`` event of a LangChain AI message (LangChain and LangGraph adapters): its
    ``usage_metadata``; the model from the response, else LangChain's ``ls_model_name``."""
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    details = usage.get("input_token_details") or {}
    model = (getattr(message, "response_metadata", None) or {}).get("model_name") \
        or metadata.get("ls_model_name")
    return cost_event(
        Usage(input_tokens=usage.get("input_tokens", 0) or 0,
              output_tokens=usage.get("output_tokens", 0) or 0,
              cache_read_tokens=details.get("cache_read", 0) or 0,
              cache_write_tokens=details.get("cache_creation", 0) or 0),
        model, metadata.get("ls_provider"))


def price(usage: Any, model: str | None, provider: str | None = None) -> dict[str, float]:
    """``{"usd": amount}``, or ``{}`` when genai-prices does not know the model."""
    if not model:
        return {}
    try:
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - every adapter extra brings genai-prices
        return {}
    # A provider name genai-prices does not use (a framework's own label) must not hide a
    # model it knows: then the model name alone decides.
    for provider_id in dict.fromkeys((provider or None, None)):
        try:
            calculated = calc_price(usage, model_ref=model, provider_id=provider_id)
        except (LookupError, ValueError):
            continue
        return {"usd": float(calculated.total_price)}
    return {}


__all__ = ["Usage", "cost_event", "langchain_cost_event", "price"]
