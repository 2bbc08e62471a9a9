"""Agent endpoint options and App configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from conftest import running_client
from fastagentic import App, RunContext
from fastagentic.exceptions import ConfigurationError


def build_app(tmp_path: Path) -> App:
    app = App(durable_store=f"sqlite:///{tmp_path / 'runs.db'}")

    @app.agent_endpoint("/quiet", stream=False)
    async def quiet(text: str, ctx: RunContext) -> str:
        await ctx.token(text)
        return text[::-1]

    return app


async def test_stream_false_serves_results_only(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with running_client(app) as client:
        # Asking for SSE still gets the settled JSON result.
        response = await client.post("/quiet", json={"text": "abc"},
                                     headers={"Accept": "text/event-stream"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["output"] == "cba"
        assert (await client.post("/quiet/stream", json={"text": "abc"})).status_code == 404
        # The run itself is still a run: its events can be followed by id.
        run_id = response.json()["run_id"]
        events = await client.get(f"/runs/{run_id}/events",
                                  headers={"Accept": "application/json"})
        assert [e["type"] for e in events.json()["events"]][-2:] == ["token", "done"]
        spec = (await client.get("/openapi.json")).json()
        validate(spec)
        assert "/quiet" in spec["paths"] and "/quiet/stream" not in spec["paths"]
        agents = (await client.get("/agents")).json()["agents"]
        assert agents[0]["stream"] is False


async def test_settings_come_from_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAGENTIC_TITLE", "From Env")
    monkeypatch.setenv("FASTAGENTIC_VERSION", "9.9.9")
    monkeypatch.setenv("FASTAGENTIC_MAX_BODY_BYTES", "64")
    monkeypatch.setenv("FASTAGENTIC_DURABLE_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    app = App()

    @app.tool
    def echo(text: str) -> str:
        return text

    assert app.settings.title == "From Env" and app.settings.max_body_bytes == 64
    async with running_client(app) as client:
        health = (await client.get("/health")).json()
        assert health == {"status": "ok", "title": "From Env", "version": "9.9.9"}
        assert (await client.post("/tools/echo", json={"text": "x" * 100})).status_code == 413
        assert (await client.post("/tools/echo", json={"text": "ok"})).json() == {"result": "ok"}
    assert (tmp_path / "env.db").exists()
    # Arguments win over the environment.
    assert App(title="Explicit").settings.title == "Explicit"


def test_bad_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        App(max_body_bytes=0)
    with pytest.raises(ConfigurationError, match="no_such_option"):
        App(no_such_option=1)
    monkeypatch.setenv("FASTAGENTIC_LEASE_TTL", "soon")
    with pytest.raises(ConfigurationError, match="lease_ttl"):
        App()


async def test_unknown_store_scheme_fails_at_startup(tmp_path: Path) -> None:
    app = App(durable_store="mongodb://localhost/x")
    with pytest.raises(ConfigurationError, match="unknown store URL"):
        async with app.running():
            pass
