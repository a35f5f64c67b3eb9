"""An upgrade's migration of a ledger is said in the log: a magsag-mcp of the version before, still serving on it,
refuses to record its calls from then on, and the operator of a rolling upgrade (two servers on one ledger, one
restarted with the new version) read nothing of why the other began failing every call."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from tests.older_version import LAST, leave_as_the_version_before

pytestmark = pytest.mark.anyio


async def _left_by_the_version_before(db: Path) -> None:
    async with Ledger(db):
        pass
    conn = sqlite3.connect(db)
    try:
        leave_as_the_version_before(conn)
        conn.commit()
    finally:
        conn.close()


async def test_an_upgrade_s_migration_is_logged_and_a_new_ledger_s_is_not(tmp_path: Path, caplog):
    db = tmp_path / "l.db"
    with caplog.at_level(logging.INFO, logger="magsag_mcp.ledger"):
        await _left_by_the_version_before(db)
        assert not [r for r in caplog.records if "migrated" in r.getMessage()]  # made, not upgraded
        async with Ledger(db):
            pass
    [said] = [r for r in caplog.records if "migrated" in r.getMessage()]
    assert said.levelno == logging.INFO
    assert said.getMessage() == f"ledger {db} migrated: 1 schema migration applied ({LAST})"
    caplog.clear()
    async with Ledger(db):  # up to date: nothing to say
        pass
    assert not [r for r in caplog.records if "migrated" in r.getMessage()]


async def test_a_migration_of_a_ledger_another_process_has_open_warns_that_an_older_one_refuses_its_calls(
    tmp_path: Path, caplog
):
    db = tmp_path / "l.db"
    await _left_by_the_version_before(db)
    # the version before, serving on it: its connection holds the -wal file open
    older = sqlite3.connect(db)
    try:
        older.execute("PRAGMA journal_mode=WAL")
        older.execute("SELECT COUNT(*) FROM runs").fetchone()
        assert Path(f"{db}-wal").exists()
        with caplog.at_level(logging.INFO, logger="magsag_mcp.ledger"):
            async with Ledger(db):
                pass
    finally:
        older.close()
    [said] = [r for r in caplog.records if "migrated" in r.getMessage()]
    assert said.levelno == logging.WARNING
    assert said.getMessage().startswith(
        f"ledger {db} migrated: 1 schema migration applied ({LAST}) while another process may have it open"
    )
    assert "refuses to record its calls" in said.getMessage() and "restart it with this version" in said.getMessage()
