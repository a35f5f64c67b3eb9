"""`magsag data backup FILE`: a consistent copy of a ledger in use, and the paths it refuses."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from magsag_mcp.cli import main


def _events(db) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT event FROM events")}
    finally:
        conn.close()


def test_a_backup_of_a_ledger_in_use_holds_its_log_s_commits_and_none_in_progress(ledger_db, tmp_path, capsys):
    """There was no way to back up a running server's ledger but `cp`, which copies the database file without the
    commits its -wal log holds (or torn, mid-checkpoint). The backup holds every commit, none in progress, and is
    one file of its own, readable by its owner only."""
    writer = sqlite3.connect(ledger_db, isolation_level=None)  # a server's connection: its commits stay in the log
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO events (at, event) VALUES (1.5, 'committed-in-the-log')")
    pending = sqlite3.connect(ledger_db, isolation_level=None)  # a call's record being written as the backup runs
    pending.execute("BEGIN IMMEDIATE")
    pending.execute("INSERT INTO events (at, event) VALUES (2.5, 'not-committed-yet')")
    try:
        assert os.path.getsize(f"{ledger_db}-wal") > 0
        backup = tmp_path / "backups" / "ledger-backup.db"
        backup.parent.mkdir()
        assert main(["data", "backup", str(backup)]) == 0
        said = json.loads(capsys.readouterr().out)
    finally:
        pending.rollback()
        pending.close()
        writer.close()
    assert said["backup"] == str(backup) and said["attempts"] == 4 and said["bytes"] == backup.stat().st_size
    assert _events(backup) == {"committed-in-the-log"}
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in backup.parent.iterdir()) == ["ledger-backup.db"]  # no -wal, no temporary left
    assert sqlite3.connect(backup).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # the backup is a ledger magsag reads, and a later backup replaces it
    assert main(["flow", "summarize", "--db", str(backup)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] == 3
    assert main(["data", "backup", str(backup)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("own", ["", "-wal"])
def test_a_backup_refuses_the_ledger_s_own_files_and_a_file_that_is_no_database(ledger_db, tmp_path, capsys, own):
    before = ledger_db.read_bytes()
    assert main(["data", "backup", f"{ledger_db}{own}"]) == 2
    assert "is the ledger's own file" in capsys.readouterr().err
    assert ledger_db.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    assert main(["data", "backup", str(notes)]) == 2
    assert "exists and is no SQLite database" in capsys.readouterr().err
    assert notes.read_text() == "keep me\n"
    assert main(["data", "backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "none.db")]) == 2
    assert "no ledger at --db" in capsys.readouterr().err
