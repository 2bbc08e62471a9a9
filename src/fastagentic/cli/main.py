"""``fastagentic``: run, new, tail, test, audit, keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..exceptions import ConfigurationError
from .audit import audit_cli
from .keys import keys_cli
from .runs import runs_cli
from .store import store_cli

cli = typer.Typer(help="fastagentic: ship agents as production services.",
                  no_args_is_help=True, add_completion=False)

AppArg = Annotated[str | None, typer.Argument(
    help="module:attr or path/to/file.py[:attr] (default: app.py or main.py here)")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@cli.command()
def run(
    app: AppArg = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes.")] = False,
    store: Annotated[str | None, typer.Option(
        help="Durable store URL (overrides the app's), e.g. sqlite:///runs.db")] = None,
    worker: Annotated[bool, typer.Option(
        "--worker/--no-worker", help="Execute runs in this process.")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    stdio: Annotated[bool, typer.Option(
        "--stdio", help="Also serve MCP on stdin/stdout (the hybrid mode; logs go to stderr)."
    )] = False,
) -> None:
    """Serve an app over HTTP (REST, SSE, WebSocket, MCP), and with --stdio over stdio too."""
    import uvicorn

    from .loader import load_app, split_target
    from .serve import STORE_ENV, TARGET_ENV, WORKER_ENV

    try:
        loaded = load_app(app)  # fail fast, with a clear message, before uvicorn starts
        _, directory, _ = split_target(app)
    except ConfigurationError as exc:
        raise _fail(exc.message) from None
    if stdio:
        if reload:
            raise _fail("--stdio cannot be combined with --reload")
        from .hybrid import run_hybrid

        if store:
            loaded.settings.durable_store = store
            loaded._store_override = None
        loaded.settings.worker = worker
        run_hybrid(loaded, host=host, port=port, log_level=log_level)
        return
    os.environ[TARGET_ENV] = app or ""
    if store:
        os.environ[STORE_ENV] = store
    os.environ[WORKER_ENV] = "1" if worker else "0"
    uvicorn.run(
        "fastagentic.cli.serve:factory", factory=True, host=host, port=port, reload=reload,
        reload_dirs=[directory or os.getcwd()] if reload else None, log_level=log_level,
        timeout_graceful_shutdown=15,
    )


mcp_cli = typer.Typer(help="Serve an app over MCP.", no_args_is_help=True)
cli.add_typer(mcp_cli, name="mcp")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(runs_cli, name="runs")
cli.add_typer(store_cli, name="store")


def _load(app: str | None, store: str | None) -> Any:
    """The App at ``app``, on ``store`` when given (a clear error, not a traceback)."""
    from .loader import load_app

    try:
        loaded = load_app(app)
    except ConfigurationError as exc:
        raise _fail(exc.message) from None
    if store:
        loaded.settings.durable_store = store
        loaded._store_override = None
    return loaded


def _stderr_logging(level: str) -> None:
    import logging
    import sys

    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@mcp_cli.command("serve")
def mcp_serve(
    app: AppArg = None,
    store: Annotated[str | None, typer.Option(
        help="Durable store URL (overrides the app's), e.g. sqlite:///runs.db")] = None,
    log_level: Annotated[str, typer.Option(help="Log level (logs go to stderr).")] = "warning",
) -> None:
    """Serve an app over MCP on stdin/stdout (stdout carries protocol messages only)."""
    from ..protocols.mcp.stdio import serve_stdio
    from .worker import run_service

    _stderr_logging(log_level)
    run_service(serve_stdio(_load(app, store)))


@cli.command()
def worker(
    app: AppArg = None,
    store: Annotated[str | None, typer.Option(
        help="Durable store URL (overrides the app's), e.g. postgresql://host/db")] = None,
    concurrency: Annotated[int, typer.Option(
        min=1, help="At most this many runs execute at once.")] = 16,
    drain: Annotated[float, typer.Option(
        min=0, help="On SIGTERM, seconds in-flight runs may take to finish before they are "
                    "released to another worker.")] = 30.0,
    health_port: Annotated[int | None, typer.Option(
        help="Serve /health/live and /health/ready on this port.")] = None,
    log_level: Annotated[str, typer.Option(help="Log level (logs go to stderr).")] = "info",
) -> None:
    """Execute runs from the store without serving the API (scale these independently)."""
    from .worker import run_service, run_worker

    _stderr_logging(log_level)
    loaded = _load(app, store)
    loaded.settings.worker = True
    loaded.settings.worker_concurrency = concurrency
    loaded.settings.shutdown_drain = drain
    try:
        run_service(run_worker(loaded, health_port=health_port))
    except ConfigurationError as exc:
        raise _fail(exc.message) from None


@cli.command()
def new(name: Annotated[str, typer.Argument(help="Project (directory) name.")],
        directory: Annotated[Path, typer.Option(help="Where to create it.")] = Path("."),
        template: Annotated[str, typer.Option(
            "--template", "-t",
            help="function, pydanticai, langgraph, langchain or crewai.")] = "function",
        ) -> None:
    """Create a runnable project (offline, with its own passing tests)."""
    from .new import create_project

    try:
        root = create_project(name, directory, template)
    except ConfigurationError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"created {root}\n  cd {root}\n  fastagentic run app.py\n  pytest")


@cli.command()
def tail(
    run_id: Annotated[str | None, typer.Argument(help="The run to follow.")] = None,
    url: Annotated[str, typer.Option(help="Base URL of the service.")] = "http://127.0.0.1:8000",
    after: Annotated[int, typer.Option(min=0, help="Start after this seq.")] = 0,
    raw: Annotated[bool, typer.Option(help="Print the raw JSON events.")] = False,
    spans: Annotated[bool, typer.Option(
        help="Receive OpenTelemetry spans (OTLP/HTTP) and print them as they arrive.")] = False,
    listen: Annotated[str, typer.Option(
        help="Where --spans listens (the app's exporter_endpoint).")] = "127.0.0.1:4318",
) -> None:
    """Follow a run's events live (with its running cost), or print spans as they arrive."""
    from rich.console import Console

    if spans:
        from .spans import tail_spans

        try:
            raise typer.Exit(tail_spans(listen, Console()))
        except ConfigurationError as exc:
            raise _fail(exc.message) from None
    if run_id is None:
        raise _fail("name the run to follow, or pass --spans")
    from .tail import tail as follow

    raise typer.Exit(follow(run_id, url, after, raw, Console()))


@cli.command("test")
def test_app(app: AppArg = None) -> None:
    """Check every definition's schemas and run the declared examples."""
    from rich.console import Console

    from .check import check_app
    from .loader import load_app

    try:
        loaded = load_app(app)
    except ConfigurationError as exc:
        raise _fail(exc.message) from None
    raise typer.Exit(check_app(loaded, Console()))


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    cli()
