"""Cost control: prices (genai-prices plus per-deployment overrides), budgets reserved before
each model step, usage aggregates per run, user and tenant."""

from .budget import Budget

__all__ = ["Budget"]
