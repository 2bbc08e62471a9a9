"""The PostgreSQL store's schema: versioned migration steps and the code that applies them.

Every table lives in one schema (``?schema=`` in the store URL, ``fastagentic`` by default),
so several isolated stores can share a database.  ``fa_schema_version`` records the steps
applied.  :func:`migrate` applies the missing ones in one transaction under an advisory lock
named after the schema, so processes that start together apply each step once; a store
already up to date is checked without the lock and without DDL (so an application role that
may not create tables can open it once ``fastagentic store migrate`` has run).

A step is never edited once released: a change to the schema is a new step at the end.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..exceptions import ConfigurationError

#: Runs keep one column per ``RunRecord`` field (JSON text for the structured ones), so leases,
#: sequence numbers and claims are single SQL statements.  JSON is kept as text, not jsonb:
#: jsonb refuses ``\u0000`` and does not keep the text as written.  Keys compare in code-point
#: order (``COLLATE "C"``), like every other backend.
MIGRATIONS: list[str] = [
    # 1: runs, events, checkpoints, tool ledger, small documents, fair-claim turns
    """
    CREATE TABLE {schema}.fa_runs (
        id text COLLATE "C" PRIMARY KEY,
        endpoint text NOT NULL,
        status text NOT NULL,
        input text NOT NULL,
        principal text COLLATE "C" NOT NULL,
        "user" text NOT NULL,
        tenant text COLLATE "C",
        scopes text NOT NULL,
        roles text NOT NULL,
        output text NOT NULL,
        error text NOT NULL,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        started_at double precision,
        finished_at double precision,
        attempt integer NOT NULL,
        lease_owner text,
        lease_expires_at double precision,
        last_seq bigint NOT NULL,
        pending text NOT NULL,
        answers text NOT NULL,
        usage text NOT NULL,
        idempotency_key text COLLATE "C",
        request_hash text,
        cancel_requested boolean NOT NULL,
        labels text NOT NULL,
        fairness_key text COLLATE "C" GENERATED ALWAYS AS (
            CASE WHEN tenant IS NULL THEN 'p:' || principal ELSE 't:' || tenant END) STORED
    );
    CREATE UNIQUE INDEX fa_runs_idem ON {schema}.fa_runs (principal, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX fa_runs_principal ON {schema}.fa_runs (principal, created_at, id);
    CREATE INDEX fa_runs_created ON {schema}.fa_runs (created_at, id);
    CREATE INDEX fa_runs_waiting ON {schema}.fa_runs (fairness_key, created_at, id)
        WHERE status IN ('queued', 'running');
    CREATE INDEX fa_runs_finished ON {schema}.fa_runs (finished_at, id)
        WHERE status IN ('cancelled', 'completed', 'failed');
    CREATE TABLE {schema}.fa_events (
        run_id text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        type text NOT NULL,
        ts double precision NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE {schema}.fa_checkpoints (
        run_id text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        doc text NOT NULL,
        PRIMARY KEY (run_id, id)
    );
    CREATE INDEX fa_checkpoints_seq ON {schema}.fa_checkpoints (run_id, seq);
    CREATE TABLE {schema}.fa_ledger (
        run_id text COLLATE "C" NOT NULL,
        call_id text COLLATE "C" NOT NULL,
        doc text NOT NULL,
        PRIMARY KEY (run_id, call_id)
    );
    CREATE TABLE {schema}.fa_kv (
        namespace text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        doc text NOT NULL,
        expires_at double precision,
        PRIMARY KEY (namespace, key)
    );
    CREATE TABLE {schema}.fa_served (
        key text COLLATE "C" PRIMARY KEY,
        turn bigint NOT NULL,
        ord integer NOT NULL
    );
    CREATE SEQUENCE {schema}.fa_served_turn;
    """,
]

LATEST = len(MIGRATIONS)


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) serializing migrations of ``schema``."""
    digest = hashlib.sha256(f"fastagentic migrate {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(conn: Any, schema: str) -> tuple[int, int]:
    """Bring ``schema`` to :data:`LATEST` on the asyncpg connection ``conn``; return the
    (version before, version after) of the steps this call applied (equal: nothing to do).

    Raises :class:`ConfigurationError` if the schema is newer than this fastagentic."""
    s = quote_ident(schema)
    version = await _version(conn, schema)
    if version == LATEST:
        return version, version
    _check_known(schema, version)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.fa_schema_version (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())")
        version = await conn.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {s}.fa_schema_version")
        _check_known(schema, version)
        for number in range(version + 1, LATEST + 1):
            await conn.execute(MIGRATIONS[number - 1].replace("{schema}", s))
            await conn.execute(f"INSERT INTO {s}.fa_schema_version (version) VALUES ($1)",
                               number)
    return version, LATEST


async def _version(conn: Any, schema: str) -> int:
    """The schema's version, 0 when it has none yet (read without locks or DDL)."""
    table = f"{quote_ident(schema)}.fa_schema_version"
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return 0
    return await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}")


def _check_known(schema: str, version: int) -> None:
    if version > LATEST:
        raise ConfigurationError(
            f"PostgreSQL schema {schema!r} has version {version}; this fastagentic knows "
            f"versions up to {LATEST}. Upgrade fastagentic.")
