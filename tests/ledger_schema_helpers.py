"""What the ledger migration tests (test_ledger_migrations.py, test_unsent_attempts_migration.py and others) share: a
ledger an earlier version left, built by applying just the migrations it knew, and processes that open one ledger at
the same moment."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: open the ledger at argv[1] once told to (a line on stdin, written to every process once all have said they are
#: ready), and log an 'opened' event in it unless argv[2] is "quiet"
OPEN_AT_ONCE = """
import asyncio, sys
from magsag_mcp.ledger import Ledger

async def main():
    async with Ledger(sys.argv[1]) as ledger:
        if sys.argv[2] != "quiet":
            await ledger.log_event(None, None, "opened", {})

print("ready", flush=True)
if sys.stdin.readline():  # every process starts opening at the same moment
    asyncio.run(main())
"""


def ledger_of_schema(db: Path, migrations: Iterable[tuple[str, str]]) -> sqlite3.Connection:
    """A ledger at ``db`` as a version knowing only ``migrations`` made it (each applied and recorded, with no
    rows), open in autocommit for the test to fill."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for name, sql in migrations:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
    return conn


def open_at_once(db: Path, processes: int, *, event: bool = True) -> list[int]:
    """Start ``processes`` interpreters that open ``db`` at one moment (once every one has started and imported
    magsag: a pipe says so, then tells them all to go, whatever the machine's load) and log an 'opened' event (unless
    not ``event``); their exit codes. (A start time two seconds ahead, as before, passed with no race at all when
    starting took longer.)"""
    said = "event" if event else "quiet"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, str(db), said], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        return [proc.wait(120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


def when_0027_ran(db: Path) -> str:
    """When ``db``'s 0027_attempt_data_classes ran, as a summary of it gives its ``data_classes_since`` (where it holds
    a call begun before)."""
    from magsag_mcp.ledger.times import iso_time

    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT applied_at FROM schema_migrations WHERE name = '0027_attempt_data_classes'")
        at = iso_time(float(row.fetchone()[0]))
    finally:
        conn.close()
    assert at is not None
    return at


def since_set_apart(reads: Any, since: str | None) -> Any:
    """``reads`` (a summary, or lists and dicts holding summaries) with each summary's ``data_classes_since`` checked
    to be ``since`` and then set apart: it is when that ledger's 0027 ran (:func:`when_0027_ran`), which for two
    ledgers made one after the other may be a second apart on a loaded machine; everything else compared whole."""
    if isinstance(reads, dict):
        out = {key: since_set_apart(value, since) for key, value in reads.items()}
        if "data_classes_since" in reads:
            assert reads["data_classes_since"] == since, (reads["data_classes_since"], since)
            out["data_classes_since"] = "<checked>"
        return out
    if isinstance(reads, list):
        return [since_set_apart(value, since) for value in reads]
    return reads
