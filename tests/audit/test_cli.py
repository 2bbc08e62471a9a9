"""``fastagentic audit verify`` and ``export`` in real subprocesses: an edited, re-hashed,
deleted or cut-back entry is detected and named; the export is the stored entries as JSON
lines, filterable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fastagentic import App
from fastagentic.audit.entry import digest, key_of
from fastagentic.cli.main import cli as fastagentic_cli
from fastagentic.core.context import UserContext

from .helpers import cli

ACTIONS = ["run.start", "tool.call", "policy.block", "tool.call", "budget.alert",
           "run.finish"]


async def write_log(path: Path) -> str:
    """Six entries, one per stored block (each recorded after the previous one was stored)."""
    url = f"sqlite:///{path}"
    app = App(durable_store=url, audit=True)
    async with app.running():
        for i, action in enumerate(ACTIONS):
            await app.audit.record(action, actor=UserContext(user=f"u{i % 2}", tenant="t"),
                                   decision="deny" if action == "policy.block" else "allow",
                                   context={"step": i}, run_id="run_1")
    return url


def edit(path: Path, seq: int, change: Any) -> None:
    """Rewrite stored entry ``seq`` with ``change(entry)`` straight in the SQLite file."""
    with sqlite3.connect(path) as db:
        (doc,) = db.execute("SELECT doc FROM fa_kv WHERE namespace = 'audit' AND key = ?",
                            (key_of(seq),)).fetchone()
        block = json.loads(doc)
        change(block[0])
        db.execute("UPDATE fa_kv SET doc = ? WHERE namespace = 'audit' AND key = ?",
                   (json.dumps(block), key_of(seq)))


def delete(path: Path, seq: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM fa_kv WHERE namespace = 'audit' AND key = ?", (key_of(seq),))


async def test_an_untouched_log_verifies_and_prints_its_head(tmp_path: Path) -> None:
    url = await write_log(tmp_path / "audit.db")
    done = cli("audit", "verify", "--store", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "6 entries, chain intact"
    head = lines[1].split()[1]
    assert head.startswith("6:") and len(head) == 2 + 64
    anchored = cli("audit", "verify", "--store", url, "--anchor", head)
    assert anchored.returncode == 0 and anchored.stdout.startswith("6 entries, chain intact")


async def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    url = await write_log(path)

    def to_allow(entry: dict[str, Any]) -> None:
        entry["decision"] = "allow"

    edit(path, 3, to_allow)
    done = cli("audit", "verify", "--store", url)
    assert done.returncode == 1
    assert "first bad entry: seq 3" in done.stdout
    assert "entry 3: altered: its content does not match its hash" in done.stdout


async def test_an_edited_and_rehashed_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    url = await write_log(path)

    def forge(entry: dict[str, Any]) -> None:
        entry["actor"]["user"] = "someone-else"
        entry["hash"] = digest(entry)

    edit(path, 2, forge)
    done = cli("audit", "verify", "--store", url)
    assert done.returncode == 1
    assert "first bad entry: seq 2" in done.stdout
    assert "entry 2: rewritten: entry 3 records a different hash for it" in done.stdout


async def test_deleted_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    url = await write_log(path)
    delete(path, 4)
    done = cli("audit", "verify", "--store", url)
    assert done.returncode == 1
    assert "entry 4: missing: entry 4 is missing (deleted)" in done.stdout
    delete(path, 1)
    delete(path, 2)
    again = cli("audit", "verify", "--store", url)
    assert "first bad entry: seq 1" in again.stdout
    assert "entry 1: missing: entries 1..2 are missing (deleted)" in again.stdout


async def test_a_cut_back_tail_needs_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    url = await write_log(path)
    head = cli("audit", "verify", "--store", url).stdout.splitlines()[1].split()[1]
    delete(path, 6)
    assert cli("audit", "verify", "--store", url).returncode == 0  # a valid, shorter chain
    done = cli("audit", "verify", "--store", url, "--anchor", head)
    assert done.returncode == 1
    assert "entry 6: truncated" in done.stdout


async def test_usage_errors(tmp_path: Path) -> None:
    missing = cli("audit", "verify", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 2 and "no SQLite store at" in missing.stderr
    url = await write_log(tmp_path / "audit.db")
    bad = cli("audit", "verify", "--store", url, "--anchor", "six")
    assert bad.returncode == 2 and "--anchor takes SEQ:SHA256" in bad.stderr
    memory = cli("audit", "export", "--store", "memory://")
    assert memory.returncode == 2 and "memory://" in memory.stderr


async def test_verify_finds_the_store_of_the_app(tmp_path: Path) -> None:
    url = await write_log(tmp_path / "audit.db")
    (tmp_path / "app.py").write_text(f"from fastagentic import App\n\napp = App(durable_store="
                                     f"{url!r}, audit=True)\n")
    done = cli("audit", "verify", cwd=tmp_path)  # app.py here, as `fastagentic run` finds it
    assert done.returncode == 0 and done.stdout.startswith("6 entries, chain intact")


def test_export_writes_json_lines_with_filters(tmp_path: Path) -> None:
    # Not async: the in-process CLI runner (typer's) runs its own event loop.
    url = asyncio.run(write_log(tmp_path / "audit.db"))
    everything = cli("audit", "export", "--store", url)
    assert everything.returncode == 0, everything.stderr
    entries = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e["action"] for e in entries] == ACTIONS
    assert all(digest(e) == e["hash"] for e in entries)  # exactly as stored: checkable again

    runner = CliRunner()

    def export(*args: str) -> list[dict[str, Any]]:
        result = runner.invoke(fastagentic_cli, ["audit", "export", "--store", url, *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert [e["seq"] for e in export("--action", "tool.call")] == [2, 4]
    assert [e["seq"] for e in export("--action", "run.*", "--action", "budget.*")] == \
        [1, 5, 6]
    assert [e["seq"] for e in export("--after-seq", "4")] == [5, 6]
    assert [e["seq"] for e in export("--after-seq", "2", "--action", "tool.call")] == [4]
    assert export("--since", entries[3]["ts"]) == entries[3:]
    assert export("--since", "2999-01-01") == []
    assert len(export("--since", "2000-01-01T00:00:00+02:00")) == 6
    out = tmp_path / "export.jsonl"
    result = runner.invoke(fastagentic_cli, ["audit", "export", "--store", url, "-o", str(out),
                                             "--after-seq", "3"])
    assert result.exit_code == 0 and "3 entries written" in result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == entries[3:]
    bad = runner.invoke(fastagentic_cli, ["audit", "export", "--store", url, "--since", "May"])
    assert bad.exit_code == 2 and "not an ISO 8601 date or time" in bad.output
