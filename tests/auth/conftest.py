"""Fixtures of the auth tests: the OIDC issuer and the governed app, served for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LiveServer

from .apps import governed_app
from .issuer import Issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """A fresh issuer (its own keys) on 127.0.0.1 for the test module."""
    issuer = Issuer()
    with LiveServer(issuer.asgi) as server:
        issuer.url = server.url
        yield issuer


@pytest.fixture(scope="module")
def served(issuer: Issuer) -> Iterator[Any]:
    """The governed app under uvicorn (``served.url``), shared by a module's tests."""
    with LiveServer(governed_app(issuer.url)) as server:
        yield server
