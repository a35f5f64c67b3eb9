"""An export (``magsag data query --format csv|json``) written to a file and stopped part way (Ctrl-C, SIGTERM) or
failed: the file holds the whole export or what it held before, never the part that was written.

A CSV cut between two rows shows no sign of it: stopped, the export left an ``audit.csv`` that passed for the whole
audit. ``--output FILE`` is written beside the file and renamed over it once whole; stdout redirected to a regular
file (``> audit.csv``, ``>> all.csv``) has what the export wrote cut off again. The signals are sent to a real
process, stopped (SIGSTOP) once it has written part of its output, so that it cannot finish first.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.signals import signalled_at, start_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals and file limits as POSIX has them")

#: one run of this many attempts, each of some 2 KB of text: an export of 10 MB, read 900 attempts at a time
ATTEMPTS = 5000
TEXT = "upstream said no. " * 110
#: what the export has written when it is stopped: more than one chunk (WRITE_CHUNK_CHARS), so rows and not a header
PART = 1 << 17


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ledger") / "audit.db"
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("long-lived", "ana", "skill.analysis", now - 60)
            attempts = [
                AttemptRecord(
                    run.run_id,
                    run.started_at + i / 1000,
                    "fake",
                    "echo",
                    run.skill,
                    "ana",
                    "error",
                    0,
                    1,
                    error_message=TEXT,
                )
                for i in range(ATTEMPTS)
            ]
            await ledger.record_call(run, attempts)

    anyio.run(fill)
    return db


def _export(
    db: Path,
    fmt: str,
    *extra: str,
    stdout: IO[bytes] | int,
    limit_bytes: int | None = None,
    sigint: Any = signal.SIG_DFL,
) -> subprocess.Popen:
    return start_cli(
        "data", "query", "--db", str(db), "--format", fmt, *extra, stdout=stdout, sigint=sigint, limit_bytes=limit_bytes
    )


def _stopped_part_way(
    start: Callable[[], subprocess.Popen], written: Callable[[], int], signum: int
) -> tuple[int, str]:
    """The export ``start`` starts, sent ``signum`` once it has written ``PART`` bytes (``written`` says how many):
    its exit status and stderr (see :func:`~tests.signals.signalled_at`, which starts again an export that ended
    before it could be stopped)."""
    stopped = signalled_at(start, lambda _: written() >= PART, signum, tries=5)
    return stopped.returncode, stopped.said


def _ledger_whole(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (ATTEMPTS,)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("fmt", "signum", "sigint"),
    [
        ("csv", signal.SIGINT, signal.SIG_DFL),
        ("json", signal.SIGTERM, signal.SIG_DFL),
        ("csv", signal.SIGTERM, signal.SIG_IGN),  # a background job: killed on the spot, it left its temporary file
    ],
)
def test_a_stopped_export_to_output_leaves_the_file_as_it_was(
    tmp_path: Path, ledger_db: Path, fmt: str, signum: int, sigint: Any
):
    audit = tmp_path / f"audit.{fmt}"

    def written() -> int:  # the export, as it is written beside the file
        return sum(p.stat().st_size for p in tmp_path.glob(f".{audit.name}.*.tmp"))

    def start() -> subprocess.Popen:
        audit.write_text("the last whole audit\n")  # again, where an export ended before it could be stopped
        return _export(ledger_db, fmt, "--output", str(audit), stdout=subprocess.DEVNULL, sigint=sigint)

    code, err = _stopped_part_way(start, written, signum)
    assert code == 128 + signum, err
    assert "Traceback" not in err
    assert audit.read_text() == "the last whole audit\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [audit.name]  # nothing left beside it
    assert f"--output {audit} was not written (what was there is left as it was)" in err
    _ledger_whole(ledger_db)


@pytest.mark.parametrize(("fmt", "signum"), [("csv", signal.SIGINT), ("json", signal.SIGTERM)])
@pytest.mark.parametrize("mode", ["wb", "ab"])  # `> audit.csv`, `>> audit.csv`
def test_a_stopped_export_to_stdout_as_a_file_takes_back_what_it_wrote(
    tmp_path: Path, ledger_db: Path, fmt: str, signum: int, mode: str
):
    audit = tmp_path / f"audit.{fmt}"
    before = b"" if mode == "wb" else b"earlier lines\n"  # `>` empties the file before the export begins

    def start() -> subprocess.Popen:
        audit.write_text("earlier lines\n")  # again, where an export ended before it could be stopped
        with open(audit, mode) as out:  # the child's stdout, as the shell opens it
            return _export(ledger_db, fmt, stdout=out)

    code, err = _stopped_part_way(start, lambda: audit.stat().st_size - len(before), signum)
    assert code == 128 + signum, err
    assert "Traceback" not in err
    assert audit.read_bytes() == before
    assert "what it wrote to stdout was removed from the file" in err
    assert "--output FILE" in err  # the way to a file written only once whole
    _ledger_whole(ledger_db)


def test_a_failed_export_to_stdout_as_a_file_takes_back_what_it_wrote(tmp_path: Path, ledger_db: Path):
    """The file may not grow past 1 MB (a full disk, a quota): the write fails part way, with exit 1."""
    audit = tmp_path / "all.csv"
    audit.write_text("last week's audit\n")
    with open(audit, "ab") as out:  # `>> all.csv`
        proc = _export(ledger_db, "csv", stdout=out, limit_bytes=1 << 20)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert audit.read_text() == "last week's audit\n"
    assert b"what it wrote to stdout was removed from the file" in err
    assert b"cannot write the output: File too large" in err


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_to_output_is_the_export_written_to_stdout(tmp_path: Path, ledger_db: Path, fmt: str):
    audit = tmp_path / f"audit.{fmt}"
    audit.write_text("the last whole audit\n")
    to_file = _export(ledger_db, fmt, "--output", str(audit), stdout=subprocess.PIPE)
    out, err = to_file.communicate(timeout=60)
    assert (to_file.returncode, out, err) == (0, b"", f"wrote {audit}\n".encode())
    to_stdout = _export(ledger_db, fmt, stdout=subprocess.PIPE)
    expected, _ = to_stdout.communicate(timeout=60)
    assert to_stdout.returncode == 0
    assert audit.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [audit.name]


def test_output_is_refused_for_the_table_and_for_the_ledger(tmp_path: Path, ledger_db: Path, capsys):
    from magsag_mcp.cli import main

    assert main(["data", "query", "--db", str(ledger_db), "--output", str(tmp_path / "t.txt")]) == 2
    assert "give --format csv or json" in capsys.readouterr().err
    assert main(["data", "query", "--db", str(ledger_db), "--format", "csv", "--output", str(ledger_db)]) == 2
    assert "writing it would destroy the ledger" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    _ledger_whole(ledger_db)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc tells which files the export has open")
def test_a_background_export_stopped_before_its_ledger_opens_leaves_nothing_beside_its_output(
    tmp_path: Path, ledger_db: Path
):
    """A script's background job (SIGINT ignored) keeps SIGTERM's default until its export is watched: stopped while
    the ledger was still being opened (here: held by another process), it left its temporary `.audit.csv.*.tmp`
    beside --output, made before the ledger was opened. Nothing is made beside the file until then."""
    audit = tmp_path / "out" / "audit.csv"
    audit.parent.mkdir()
    audit.write_text("the last whole audit\n")
    holder = sqlite3.connect(ledger_db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # the export waits on it as it opens the ledger
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM events WHERE 0")

    def opening_the_ledger(proc: subprocess.Popen) -> bool:
        for fd in Path(f"/proc/{proc.pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                if fd.readlink() == ledger_db:
                    return True
        return False

    def start() -> subprocess.Popen:
        return _export(ledger_db, "csv", "--output", str(audit), stdout=subprocess.DEVNULL, sigint=signal.SIG_IGN)

    try:
        stopped = signalled_at(start, opening_the_ledger, signal.SIGTERM)
    finally:
        holder.rollback()
        holder.close()
    # killed on the spot (SIGTERM's default) or stopped (143): either way, nothing was written
    assert stopped.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), stopped.said
    assert "Traceback" not in stopped.said
    assert audit.read_text() == "the last whole audit\n"
    assert sorted(p.name for p in audit.parent.iterdir()) == [audit.name]  # no .audit.csv.*.tmp beside it
    _ledger_whole(ledger_db)
