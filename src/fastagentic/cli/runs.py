"""``fastagentic runs``: retention on demand and archived runs.

``prune`` applies time-to-live settings once (worker processes also do it periodically when
``FASTAGENTIC_RETENTION_*`` are set); ``archived`` prints a run read back from the archive.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer

from ..exceptions import ConfigurationError, FastAgenticError

runs_cli = typer.Typer(help="Retention and archives of runs.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option(
    help="Durable store URL (default: FASTAGENTIC_DURABLE_STORE, else the embedded SQLite).")]
ArchiveOpt = Annotated[str | None, typer.Option(
    "--archive", help="s3://bucket/prefix to copy runs to before deleting them "
                      "(default: FASTAGENTIC_ARCHIVE_STORE).")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@runs_cli.command()
def prune(
    store: StoreOpt = None,
    events: Annotated[str | None, typer.Option(
        help="Delete the events (and tool ledger) of runs finished longer ago, e.g. 7d.")
    ] = None,
    checkpoints: Annotated[str | None, typer.Option(
        help="Delete the checkpoints of runs finished longer ago, e.g. 1d.")] = None,
    runs: Annotated[str | None, typer.Option(
        "--runs", help="Delete runs (everything) finished longer ago, e.g. 30d.")] = None,
    archive: ArchiveOpt = None,
    checkpoint_store: Annotated[str | None, typer.Option(
        help="s3:// where the checkpoints are (default: FASTAGENTIC_CHECKPOINT_STORE).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Count only; delete nothing.")] = False,
) -> None:
    """Delete (archiving first with --archive) what finished runs keep past its time."""
    from ..stores.retention import RetentionPolicy, parse_duration
    from ..stores.retention import prune as prune_store

    try:
        policy = RetentionPolicy(events=parse_duration(events),
                                 checkpoints=parse_duration(checkpoints),
                                 runs=parse_duration(runs))
    except ConfigurationError as exc:
        raise _fail(exc.message) from None
    if not policy.active:
        raise _fail("nothing to prune: give --events, --checkpoints and/or --runs")
    archive = archive or os.environ.get("FASTAGENTIC_ARCHIVE_STORE")
    checkpoint_store = checkpoint_store or os.environ.get("FASTAGENTIC_CHECKPOINT_STORE")

    async def main() -> dict[str, int]:
        opened = await _open_store(store, checkpoint_store)
        blobs = None
        try:
            archiver = None
            if archive:
                from ..stores.archive import Archive
                from ..stores.s3 import blobs_from_url

                blobs = blobs_from_url(archive)
                await blobs.open()
                archiver = Archive(blobs)
            report = await prune_store(opened, policy, archive=archiver, dry_run=dry_run)
            return report.as_dict()
        finally:
            if blobs is not None:
                await blobs.close()
            await opened.close()

    try:
        counts = asyncio.run(main())
    except FastAgenticError as exc:
        raise _fail(exc.message) from None
    verb = "would prune" if dry_run else "pruned"
    typer.echo(f"{verb}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@runs_cli.command()
def archived(
    run_id: Annotated[str | None, typer.Argument(
        help="The run (or its archive key); without it, list the archived runs.")] = None,
    archive: ArchiveOpt = None,
    delete: Annotated[bool, typer.Option(help="Delete the run from the archive.")] = False,
    tenant: Annotated[str | None, typer.Option(help="List only this tenant's runs.")] = None,
    month: Annotated[str | None, typer.Option(
        help="List only the runs that finished this month (YYYY-MM).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="List at most this many.")] = 1000,
) -> None:
    """Print an archived run as JSON lines (the run, its events, its checkpoints), delete it,
    or list the archived runs (one JSON line each: key, run id, tenant, month)."""
    archive = archive or os.environ.get("FASTAGENTIC_ARCHIVE_STORE")
    if not archive:
        raise _fail("give --archive s3://bucket/prefix (or FASTAGENTIC_ARCHIVE_STORE)")
    if delete and run_id is None:
        raise _fail("--delete needs the RUN_ID to delete")

    async def main() -> list[str]:
        from ..stores.archive import Archive
        from ..stores.s3 import blobs_from_url

        blobs = blobs_from_url(archive)
        await blobs.open()
        try:
            store = Archive(blobs)
            if run_id is None:
                entries = await store.list(tenant=tenant if tenant is not None else ...,
                                           month=month, limit=limit)
                return [json.dumps({"key": e.key, "run_id": e.run_id, "tenant": e.tenant,
                                    "month": e.month}) for e in entries]
            if delete:
                if not await store.delete(run_id):
                    raise ConfigurationError(f"run {run_id!r} is not in the archive {archive}")
                return []
            found = await store.get_run(run_id)
        finally:
            await blobs.close()
        if found is None:
            raise ConfigurationError(f"run {run_id!r} is not in the archive {archive}")
        return [json.dumps({"kind": "run", **found.run.public()}),
                *(json.dumps({"kind": "event", **e.to_dict()}) for e in found.events),
                *(json.dumps({"kind": "checkpoint", **c.to_dict()}) for c in found.checkpoints)]

    try:
        lines = asyncio.run(main())
    except FastAgenticError as exc:
        raise _fail(exc.message) from None
    for line in lines:
        typer.echo(line)


async def _open_store(url: str | None, checkpoint_store: str | None):  # noqa: ANN202
    from ..stores.factory import store_from_url

    store = store_from_url(url or os.environ.get("FASTAGENTIC_DURABLE_STORE"))
    if checkpoint_store:
        from ..stores.s3 import blobs_from_url
        from ..stores.split import SplitStore

        store = SplitStore(store, blobs_from_url(checkpoint_store))
    await store.open()
    return store
