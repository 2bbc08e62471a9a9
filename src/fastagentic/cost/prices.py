"""What a model step costs: the deployment's own prices first, then genai-prices.

``App(model_prices={"my-model": {"input": 0.5, "output": 1.5}})`` sets USD per million tokens
(``input``, ``output``, ``cache_read``, ``cache_write``) for models genai-prices does not know
or that you pay differently for (a negotiated rate, a private deployment).  Costs are kept as
integer nano-dollars in counters, so concurrent additions never lose a fraction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NANO = 1_000_000_000
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


def to_nano(usd: float) -> int:
    return round(usd * NANO)


def to_usd(nano: int) -> float:
    return round(nano / NANO, 9)


class Prices:
    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.overrides = {model: dict(rates) for model, rates in (overrides or {}).items()}

    def usd(self, model: str | None, tokens: Mapping[str, Any],
            provider: str | None = None) -> float | None:
        """The price of ``tokens`` (``{"input": n, "output": m, ...}``) on ``model``, or None
        when nobody knows it."""
        if not model:
            return None
        rates = self.overrides.get(model)
        if rates is not None:
            return sum(float(tokens.get(kind) or 0) * rates.get(kind, 0.0)
                       for kind in TOKEN_KINDS) / 1_000_000
        from ..adapters.pricing import Usage, price

        usage = Usage(input_tokens=int(tokens.get("input") or 0),
                      output_tokens=int(tokens.get("output") or 0),
                      cache_read_tokens=int(tokens.get("cache_read") or 0),
                      cache_write_tokens=int(tokens.get("cache_write") or 0))
        return price(usage, model, provider).get("usd")

    def reprice(self, data: dict[str, Any]) -> dict[str, Any]:
        """A ``cost`` event's payload with the deployment's price where it has one."""
        model = data.get("model")
        if model in self.overrides:
            amount = self.usd(model, data.get("tokens") or {})
            return {**data, "amount": {"usd": amount}}
        return data
