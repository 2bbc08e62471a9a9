"""``fastagentic store migrate``: bring a durable store's schema up to date.

A store applies its schema when it opens, so servers and workers migrate on startup (several
starting at once is safe).  Run this once per release with a database role allowed to change
the schema, and the servers can then run with a role that may only read and write.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from ..exceptions import ConfigurationError, FastAgenticError

store_cli = typer.Typer(help="Manage the durable store.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option(
    "--store", envvar="FASTAGENTIC_DURABLE_STORE", show_envvar=True,
    help="Store URL, e.g. postgresql://user@host/db?schema=fastagentic (default: the "
         "app default, sqlite:///.fastagentic/fastagentic.db)")]


@store_cli.callback()
def _group() -> None:
    """Manage the durable store."""


def shown(url: str) -> str:
    """``url`` without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@store_cli.command()
def migrate(store: StoreOpt = None) -> None:
    """Open the store, applying its schema migrations, and report its schema version."""
    from ..stores.factory import DEFAULT_URL, store_from_url

    url = store or DEFAULT_URL

    async def run() -> tuple[int, int] | None:
        target = store_from_url(url)
        await target.open()
        try:
            await target.ping()
            # Stores with versioned migrations (PostgreSQL) say what the opening applied.
            return getattr(target, "migration", None)
        finally:
            await target.close()

    try:
        migration = asyncio.run(run())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except FastAgenticError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if migration is None:
        typer.echo(f"{shown(url)}: ok (its schema is applied when it opens)")
    elif migration[0] == migration[1]:
        typer.echo(f"{shown(url)}: up to date (schema version {migration[1]})")
    else:
        typer.echo(f"{shown(url)}: migrated from schema version {migration[0]} to "
                   f"{migration[1]}")
