"""Helpers for testing fastagentic apps (in process, through the real ASGI app)."""

from .client import app_client

__all__ = ["app_client"]
