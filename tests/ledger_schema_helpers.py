"""What the ledger migration tests (test_ledger_migrations.py, test_unsent_attempts_migration.py and others) share: a
ledger an earlier version left, built by applying just the migrations it knew, and processes that open one ledger at
the same moment."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: open the ledger at argv[1] once time.time() reaches argv[2], and log an 'opened' event in it
OPEN_AT_ONCE = """
import asyncio, sys, time
from magsag_mcp.ledger import Ledger

async def main():
    while time.time() < float(sys.argv[2]):  # every process starts opening at the same moment
        await asyncio.sleep(0.001)
    async with Ledger(sys.argv[1]) as ledger:
        await ledger.log_event(None, None, "opened", {})

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


def open_at_once(db: Path, processes: int) -> list[int]:
    """Start ``processes`` interpreters that open ``db`` at one moment (once every one has started) and log an
    'opened' event; their exit codes."""
    start = time.time() + 2  # after every interpreter has started (the wait below bounds a hang)
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, str(db), str(start)], cwd=ROOT) for _ in range(processes)
    ]
    return [p.wait(120) for p in procs]
