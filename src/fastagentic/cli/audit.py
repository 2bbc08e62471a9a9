"""``fastagentic audit verify|export``: check the audit log's hash chain; write it as JSON lines.

Both read the store directly (a running server is not needed, and not asked): the one named
by ``--store``, else the one the app (``APP``, default ``app.py`` or ``main.py`` here) is
configured with.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..exceptions import ConfigurationError, FastAgenticError

audit_cli = typer.Typer(help="Check and export the tamper-evident audit log.",
                        no_args_is_help=True)

AppArg = Annotated[str | None, typer.Argument(
    help="module:attr or path/to/file.py[:attr] whose store to read (default: app.py or "
         "main.py here); not needed with --store")]
StoreOpt = Annotated[str | None, typer.Option(
    help="Store URL to read (e.g. sqlite:///.fastagentic/fastagentic.db); default: the app's")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _store(app: str | None, url: str | None) -> Any:
    """The store to read, checked to be one another process can read."""
    from ..stores.base import Store
    from ..stores.factory import store_from_url

    store: Store | None = None
    if url is None:
        from .loader import load_app

        loaded = load_app(app)
        store = loaded._store_override
        url = loaded.settings.durable_store
    if store is None:
        if url.startswith("memory:"):
            raise ConfigurationError("a memory:// store lives inside its server process; "
                                     "audit a persistent store (--store sqlite:///...)")
        if url.startswith("sqlite:"):
            from ..stores.sqlite import path_from_url

            path = path_from_url(url)
            if path != ":memory:" and not Path(path).is_file():
                raise ConfigurationError(f"no SQLite store at {path}")
        store = store_from_url(url)
    return store


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, hash_ = value.partition(":")
    if not seq.isdigit() or len(hash_) != 64:
        raise ConfigurationError(f"--anchor takes SEQ:SHA256 (as verify prints it), not "
                                 f"{value!r}")
    return int(seq), hash_.lower()


async def _verify(store: Any, anchor: tuple[int, str] | None) -> Any:
    from ..audit.integrity import verify

    await store.open()
    try:
        return await verify(store, anchor)
    finally:
        await store.close()


@audit_cli.command("verify")
def verify_command(
    app: AppArg = None,
    store: StoreOpt = None,
    anchor: Annotated[str | None, typer.Option(
        help="SEQ:SHA256 of an entry noted earlier (the head a previous verify printed): "
             "also detects a log cut back or re-hashed after it")] = None,
) -> None:
    """Check every entry's hash, the links between entries and that no seq is missing.

    Exit 0 when the chain is intact, 1 naming the first bad entry when not, 2 on a usage
    error."""
    try:
        report = asyncio.run(_verify(_store(app, store), _anchor(anchor)))
    except FastAgenticError as exc:
        raise _fail(exc.message) from None
    if not report.ok:
        first = report.problems[0]
        typer.echo(f"audit log NOT intact: {report.problem_count} problem(s) in "
                   f"{report.entries} entries; first bad entry: seq {first.seq}")
        for problem in report.problems:
            typer.echo(f"  {problem}")
        raise typer.Exit(1)
    if report.head is None:
        typer.echo("0 entries, chain intact")
        return
    seq, hash_ = report.head
    typer.echo(f"{report.entries} entries, chain intact\n"
               f"head: {seq}:{hash_}  (keep it; pass --anchor {seq}:{hash_} next time to "
               "detect a cut-back tail)")


async def _export(store: Any, where: Any, out: Any) -> int:
    from ..audit.reader import entries

    await store.open()
    count = 0
    try:
        async for entry in entries(store, where):
            out.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    finally:
        await store.close()
    return count


@audit_cli.command("export")
def export_command(
    app: AppArg = None,
    store: StoreOpt = None,
    since: Annotated[str | None, typer.Option(
        help="Only entries at or after this ISO 8601 time (naive: UTC)")] = None,
    after_seq: Annotated[int, typer.Option(min=0, help="Only entries after this seq")] = 0,
    action: Annotated[list[str] | None, typer.Option(
        help="Only these actions (repeatable; shell patterns such as 'budget.*')")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here instead of stdout")] = None,
) -> None:
    """Write the entries as JSON lines, oldest first, exactly as stored (hashes included, so
    the export can be checked again)."""
    from ..audit.reader import Filter

    try:
        where = Filter(after_seq=after_seq, since=since, actions=tuple(action or ()))
        target = _store(app, store)
        if output is None:
            count = asyncio.run(_export(target, where, sys.stdout))
        else:
            with output.open("w", encoding="utf-8") as handle:
                count = asyncio.run(_export(target, where, handle))
    except FastAgenticError as exc:
        raise _fail(exc.message) from None
    if output is not None:
        typer.echo(f"{count} entries written to {output}", err=True)
