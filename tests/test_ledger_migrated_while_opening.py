"""Two versions of magsag on one ledger, started at the same moment (an MCP client starts every server it knows at
launch; one was upgraded): the newer one migrates the ledger while the older one is opening it. The older one looked
for migrations it does not know (a newer version's) before the newer one committed its own, then noted the schema's
version (each write checks that version, and looks again only when it changed) after: the newer migration was in the
version it noted, so it was never seen, and the older version went on recording without what the newer migration keeps
up to date (as 0010's day_spend, which the day limit reads): spend the newer one's limits never count.

The newer version is a real process, run at that very moment (between the older one's look and its note, through the
seam the opening calls): no timing, no luck."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, opening
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

#: a newer magsag-mcp's migration, as its process applies it (BEGIN IMMEDIATE, the DDL, its name)
NEWER_MIGRATES = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE hour_spend (bucket INTEGER PRIMARY KEY, cost_pusd INTEGER NOT NULL)")
conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('0099_hour_spend', ?)", (time.time(),))
conn.execute("COMMIT")
conn.close()
"""


@pytest.mark.parametrize("ledger", ["up to date", "new"])
async def test_a_newer_version_migrating_while_an_older_one_opens_is_seen_by_the_older_ones_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: str
):
    db = tmp_path / "shared.db"
    if ledger == "up to date":
        async with Ledger(db):  # made by this version (every migration it knows)
            pass
    looked = opening.migrate

    def newer_version_migrates_as_this_one_looks(conn: sqlite3.Connection) -> list[str]:
        applied = looked(conn)  # this version's look for a newer version's migrations, and its own migrations
        done = subprocess.run([sys.executable, "-c", NEWER_MIGRATES, str(db)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return applied

    monkeypatch.setattr(opening, "migrate", newer_version_migrates_as_this_one_looks)
    now = time.time()
    run = RunRecord("r", "a", "s", now, ended_at=now, status="ok")
    attempt = AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.5"))
    # refused at open, as a ledger a newer version migrated before it is (or, at the latest, at its first write)
    with pytest.raises(LedgerError) as info:
        async with Ledger(db) as older:
            await older.record_call(run, [attempt], alone=True)
    message = info.value.message
    assert f"the ledger at {db} was migrated by a newer magsag-mcp" in message and "0099_hour_spend" in message
    assert "upgrade magsag-mcp" in message
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0  # (before: recorded, uncounted)
    finally:
        conn.close()
