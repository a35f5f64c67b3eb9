"""This user's disk quota used up (EDQUOT) on the ledger's file system: the disk has room (statvfs shows it, not the
quota), and SQLite reports the refused write as a bare "disk I/O error", its errno kept to itself. A prune, a
backup, any write said only "ledger error at l.db: disk I/O error" (a backup: "a full disk"), naming neither the
quota nor its fix. The write is tried again (room.write_refused) and its errno told."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from magsag_mcp.cli import main

EDQUOT = getattr(errno, "EDQUOT", None)
pytestmark = pytest.mark.skipif(EDQUOT is None, reason="no disk quotas' errno here (Windows)")
REPO = Path(__file__).resolve().parents[1]


def _disk_io_error() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorcode = 778  # SQLITE_IOERR_WRITE: a write the OS refused
    return exc


def test_the_write_tried_again_says_the_os_errno_and_leaves_nothing(tmp_path: Path):
    """The probe is a real write: under a file size limit smaller than one of SQLite's pages the OS refuses it (EFBIG,
    in a child given the limit); with room it is taken; either way no file of it is left."""
    from magsag_mcp.ledger.room import write_refused

    assert write_refused(tmp_path) is None
    code = (
        "from pathlib import Path; from magsag_mcp.ledger.room import write_refused; "
        f"print(write_refused(Path({str(tmp_path)!r})))"
    )
    resource = pytest.importorskip("resource")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == errno.EFBIG
    assert list(tmp_path.iterdir()) == []
    assert write_refused(tmp_path / "no-such-folder") == errno.ENOENT


@pytest.fixture
def over_quota(ledger_db, monkeypatch):
    """The ledger's file system has room, and this user's quota on it is used up: a writable open fails as SQLite
    makes its -shm file (an I/O error), and a write tried there is refused with EDQUOT."""
    from magsag_mcp.ledger import opening, room

    def cannot_write(conn):
        raise _disk_io_error()

    monkeypatch.setattr(opening, "migrate", cannot_write)
    monkeypatch.setattr(room, "write_refused", lambda folder: EDQUOT, raising=False)
    return ledger_db


def test_a_prune_over_the_quota_says_the_quota_and_its_fix(over_quota, capsys):
    assert main(["data", "prune", "--older-than", "90d"]) == 2
    err = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "disk quota is used up" in err and "EDQUOT" in err and "quota -s" in err, err
    assert "full disk" not in err and "read-only" not in err


def test_reading_commands_read_a_ledger_over_the_quota(over_quota, capsys):
    """As on a full disk: reading needs no room, so the reports read the ledger for reading only."""
    assert main(["flow", "summarize"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["attempts"] == 4


def test_a_disk_io_error_with_room_and_no_quota_is_not_told_as_a_quota(ledger_db, monkeypatch):
    from magsag_mcp.ledger import problems, room

    monkeypatch.setattr(room, "write_refused", lambda folder: None)
    assert problems.cause(_disk_io_error(), ledger_db) is None


def test_a_backup_over_the_quota_says_the_quota_not_a_full_disk(tmp_path: Path, monkeypatch):
    from magsag_mcp.ledger import backup, room

    ledger = tmp_path / "l.db"
    ledger.write_bytes(b"\0" * 4096)
    monkeypatch.setattr(room, "write_refused", lambda folder: EDQUOT, raising=False)
    said = backup._what_failed(_disk_io_error(), ledger, tmp_path / ".b.db.tmp")
    assert "disk quota where the backup goes is used up" in said and "quota -s" in said, said
    assert "full disk" not in said
    monkeypatch.setattr(room, "write_refused", lambda folder: errno.ENOSPC)
    assert "a full disk" in backup._what_failed(_disk_io_error(), ledger, tmp_path / ".b.db.tmp")


def test_a_write_refused_at_close_is_told_and_its_probe_removed(tmp_path: Path, monkeypatch):
    # NFS reports a write it could not place at close(2) (EDQUOT, ENOSPC: close(2)'s own list), after a fsync that
    # failed too: the probe's close in its `finally` raised out of write_refused, out of the cause being told (a bare
    # OSError in place of the ledger's error), and its file was left in the ledger's folder.
    from magsag_mcp.ledger import room

    def refused(fd: int, *args: object) -> None:
        raise OSError(EDQUOT, os.strerror(EDQUOT))

    real_close = os.close

    def close(fd: int) -> None:
        real_close(fd)
        raise OSError(EDQUOT, os.strerror(EDQUOT))

    monkeypatch.setattr(room.os, "fsync", refused)
    monkeypatch.setattr(room.os, "close", close)
    assert room.write_refused(tmp_path) == EDQUOT
    monkeypatch.setattr(room.os, "fsync", lambda fd: None)  # (the write taken until the close refuses it)
    assert room.write_refused(tmp_path) == EDQUOT
    assert list(tmp_path.iterdir()) == []
