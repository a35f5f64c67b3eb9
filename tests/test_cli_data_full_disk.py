"""A ledger on a full disk: the reading commands read it, and what must write (a prune, a migration) says to free
space, not that the file is read-only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.cli import main


@pytest.fixture
def disk_full(ledger_db, monkeypatch):
    """The ledger's disk is full: a writable open fails as SQLite makes its -shm file (SQLITE_IOERR_SHMSIZE, what a
    full disk gives at the first read of a ledger no process has open), and there is no space left there."""
    from magsag_mcp.ledger import opening, room

    def shm_cannot_grow(conn):
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = 4874
        raise exc

    monkeypatch.setattr(opening, "migrate", shm_cannot_grow)
    monkeypatch.setattr(room, "free_bytes", lambda folder: 0)
    return ledger_db


def test_reading_commands_read_a_ledger_on_a_full_disk(disk_full, capsys):
    """Reading needs no space, yet on a full disk every reading command failed ("is on a full disk: free some space
    there"): the cost report that shows what to prune, the audit export, the CI gate's summary. They read it now."""
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}
    assert main(["data", "query"]) == 0
    assert "r-priced" in capsys.readouterr().out
    assert main(["data", "search", "overloaded"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == "r-priced"
    assert main(["flow", "summarize"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["attempts"] == 4
    assert main(["budget", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["limits"]
    # nothing made beside the ledger: tried for writing, SQLite left an empty -wal and a -shm it could not grow,
    # on which every later read failed until they were deleted by hand
    assert not Path(f"{disk_full}-wal").exists() and not Path(f"{disk_full}-shm").exists()


def test_prune_and_doctor_on_a_full_disk_say_the_disk_is_full(disk_full, capsys):
    # a prune writes: it is refused, saying why (not that the file is read-only)
    assert main(["data", "prune", "--older-than", "90d"]) == 2
    err = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "full disk" in err and "free some space" in err and "read-only" not in err
    # doctor reads the ledger, and lists the full disk as the problem every call will meet
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["db_exists"] and any("full disk" in p and "read-only" not in p for p in report["problems"])


def test_a_ledger_an_upgrade_must_migrate_on_a_full_disk_says_to_free_space(ledger_db, monkeypatch, capsys):
    """Before reading commands read a ledger on a full disk for reading only, one that an upgrade still had to migrate
    said "is on a full disk: free some space there"; read for reading only, it said the ledger "cannot be written
    here" and to copy it to a folder one can write: a copy, on a full disk, of a file that can be written once there
    is room."""
    import sqlite3

    from magsag_mcp.ledger import room
    from magsag_mcp.ledger.migrations import MIGRATIONS
    from tests.older_version import leave_as_the_version_before

    conn = sqlite3.connect(ledger_db)
    with conn:  # the ledger as the version before this one left it: its last migration still to make
        leave_as_the_version_before(conn)
    conn.close()
    monkeypatch.setattr(room, "free_bytes", lambda folder: 0)
    assert main(["flow", "summarize"]) == 2
    err = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "full disk" in err and "free some space" in err, err
    assert "cannot be written here" not in err and "copy it" not in err
    assert MIGRATIONS[-1][0] in err  # what the first open with room makes
