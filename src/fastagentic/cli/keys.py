"""``fastagentic keys create|list|revoke``: API keys for service accounts.

Keys live (hashed) in the app's store: the one named by ``--store``, else the one the app
(``APP``, default ``app.py`` or ``main.py`` here) is configured with.  A running server sees a
new or revoked key on its next request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from ..exceptions import ConfigurationError, FastAgenticError

keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

T = TypeVar("T")
AppOpt = Annotated[str | None, typer.Option(
    "--app", help="module:attr or path/to/file.py[:attr] whose store holds the keys "
                  "(default: app.py or main.py here); not needed with --store")]
StoreOpt = Annotated[str | None, typer.Option(
    help="Store URL (e.g. sqlite:///.fastagentic/fastagentic.db); default: the app's")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _with_keys(app: str | None, url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the store, run ``work(ApiKeys)``, close it; configuration errors exit 2."""
    from ..auth.api_keys import ApiKeys
    from ..stores.factory import store_from_url

    try:
        store = None
        if url is None:
            from .loader import load_app

            loaded = load_app(app)
            store, url = loaded._store_override, loaded.settings.durable_store
        if store is None:
            if url.startswith("memory:"):
                raise ConfigurationError("a memory:// store lives inside its server process; "
                                         "keep keys in a persistent store (--store ...)")
            store = store_from_url(url)

        async def run() -> T:
            await store.open()
            try:
                return await work(ApiKeys(lambda: store))
            finally:
                await store.close()

        return asyncio.run(run())
    except FastAgenticError as exc:
        raise _fail(exc.message) from None


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


@keys_cli.command("create")
def create(
    user: Annotated[str, typer.Option(help="The user (service account) the key acts as.")],
    tenant: Annotated[str | None, typer.Option(help="Its tenant.")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="A scope it carries (repeat).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role it carries (repeat).")] = None,
    name: Annotated[str | None, typer.Option(help="A label for listings.")] = None,
    expires_in: Annotated[float | None, typer.Option(
        min=1, help="Seconds until it expires (default: never).")] = None,
    app: AppOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key; it is printed once (only its hash is kept)."""
    key, info = _with_keys(app, store, lambda keys: keys.create(
        user, tenant=tenant, scopes=scope or (), roles=role or (), name=name,
        expires_in=expires_in))
    if as_json:
        typer.echo(json.dumps({"key": key, **info.to_dict()}))
    else:
        typer.echo(key)
        typer.echo(f"id {info.id}: user {info.user}, tenant {info.tenant or '-'}, scopes "
                   f"{' '.join(info.scopes) or '-'}, roles {' '.join(info.roles) or '-'} "
                   "(store the key now: it is not shown again)", err=True)


@keys_cli.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also revoked keys.")] = False,
    app: AppOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (ids and what they carry; never the keys)."""
    infos = _with_keys(app, store, lambda keys: keys.list(include_revoked=include_revoked))
    if as_json:
        typer.echo(json.dumps([info.to_dict() for info in infos]))
        return
    for info in infos:
        state = "revoked" if info.revoked_at else ("active" if info.active else "expired")
        typer.echo(f"{info.id}  {state:8} user={info.user} tenant={info.tenant or '-'} "
                   f"scopes={','.join(info.scopes) or '-'} roles={','.join(info.roles) or '-'} "
                   f"name={info.name or '-'} created={_when(info.created_at)} "
                   f"expires={_when(info.expires_at)}")


@keys_cli.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (or the key itself).")],
    app: AppOpt = None,
    store: StoreOpt = None,
) -> None:
    """Revoke a key: refused from the next request on."""
    info = _with_keys(app, store, lambda keys: keys.revoke(key_id))
    typer.echo(f"revoked {info.id} (user {info.user})")
