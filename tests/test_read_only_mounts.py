"""A ledger or an output on a file system mounted read-only, told apart from a folder this user cannot write: no
user may write there, root neither, and no chmod is the fix ("this user cannot write in ..., or make the folder
writable" sent a container's user to permissions that were never the cause)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from magsag_mcp.ledger.connection import unmakeable_ledger_problem
from magsag_mcp.ledger.problems import read_only_error

pytestmark = pytest.mark.skipif(not hasattr(os, "statvfs"), reason="ST_RDONLY is statvfs's (POSIX)")


@pytest.fixture
def mounted_read_only(monkeypatch, tmp_path: Path) -> Path:
    """``tmp_path`` as statvfs reports a read-only mount (ST_RDONLY in f_flag), every other path as it is."""
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, result: os.statvfs_result) -> None:
            self._result = result
            self.f_flag = result.f_flag | os.ST_RDONLY

        def __getattr__(self, name: str) -> object:
            return getattr(self._result, name)

    def statvfs(path: object) -> object:
        result = real_statvfs(path)  # type: ignore[arg-type]
        inside = Path(os.fspath(path)).resolve()  # type: ignore[arg-type]
        return ReadOnly(result) if inside == tmp_path.resolve() or tmp_path.resolve() in inside.parents else result

    monkeypatch.setattr(os, "statvfs", statvfs)
    return tmp_path


def test_doctor_says_a_ledger_on_a_read_only_mount_cannot_be_made_and_why(mounted_read_only: Path):
    db = mounted_read_only / "data" / "ledger.db"
    problem = unmakeable_ledger_problem(db, {"MAGSAG_DB": str(db)})
    assert problem == (
        f"the ledger at {db} cannot be made: {mounted_read_only} is on a read-only file system, where no user may "
        "write, so every call fails before it is sent (ledger_error); give MAGSAG_DB a file's path on a file system "
        "mounted read-write (in a container, a volume's)"
    )


def test_a_first_call_on_a_read_only_mount_is_told_so_not_this_user_cannot_write(mounted_read_only: Path):
    db = mounted_read_only / "ledger.db"
    message = read_only_error(db, OSError(errno.EROFS, os.strerror(errno.EROFS))).message
    assert message.startswith(f"the ledger at {db} cannot be made: {mounted_read_only} is on a read-only file system")
    assert message.endswith(
        "give db= (or MAGSAG_DB) a file's path on a file system mounted read-write (in a container, a volume's)"
    )
    assert "this user cannot write" not in message and "make the folder writable" not in message


def test_a_ledger_there_on_a_read_only_mount_is_told_to_be_copied_or_remounted(mounted_read_only: Path):
    db = mounted_read_only / "ledger.db"
    db.write_bytes(b"")
    message = read_only_error(db, None).message
    assert message == (
        f"the ledger at {db} is on a read-only file system: magsag-mcp writes the file and the -wal and -shm files "
        "beside it to record a call, a reservation or an event, which no user may do there; remount it read-write, "
        "or copy the ledger (with its -wal file, if there is one) to a file system mounted read-write and pass the "
        "copy with db="
    )


def test_a_ledger_elsewhere_is_not_said_to_be_on_a_read_only_mount(mounted_read_only: Path, tmp_path_factory):
    db = tmp_path_factory.mktemp("writable") / "ledger.db"
    assert unmakeable_ledger_problem(db, {"MAGSAG_DB": str(db)}) is None


def test_an_output_on_a_read_only_mount_is_told_so(tmp_path: Path):
    from magsag_mcp.cli.output import _output_fix

    output = str(tmp_path / "summary.json")
    assert _output_fix(output, OSError(errno.EROFS, os.strerror(errno.EROFS))) == (
        "; its file system is mounted read-only: give --output a file on one mounted read-write"
    )
    assert _output_fix(output, OSError(errno.EACCES, os.strerror(errno.EACCES))) == (
        "; give --output a file in a folder this user may write to"
    )
