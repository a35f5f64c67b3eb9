"""An export (``magsag data query --format csv|json``) written into a pipe whose reader stops: stopped by SIGTERM
while the pipe is full, or left by a reader that closed it (``| head -1``).

The export writes from inside its event loop. SIGTERM is taken as Ctrl-C, and asyncio's runner takes the first
Ctrl-C as "cancel the main task at its next await"; but the write blocked on the full pipe is retried after the
signal's handler returns, and blocks again: the process never reached an await, and ran on until it was killed
(a host's SIGKILL, after its grace period), its ledger left as a killed process leaves it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.signals import blocked_writing, signalled_at, start_cli

RUNS = 300
#: each attempt's error text: 300 of them make an export of some 600 KB, ten times what a pipe holds
TEXT = "upstream said no. " * 110


def _filled(db: Path) -> None:
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for i in range(RUNS):
                run = RunRecord(f"r-{i}", "ana", "skill.analysis", now - i)
                attempt = AttemptRecord(
                    run.run_id, run.started_at, "fake", "echo", run.skill, "ana", "error", 0, 1, error_message=TEXT
                )
                await ledger.record_call(run, [attempt])

    anyio.run(fill)


def _export(db: Path, fmt: str, sigint: Any = signal.SIG_DFL, *more: str) -> subprocess.Popen[bytes]:
    return start_cli("data", "query", "--db", str(db), "--format", fmt, *more, sigint=sigint)


def _begun_and_blocked() -> Callable[[subprocess.Popen[bytes]], bool]:
    """The marker :func:`~tests.signals.signalled_at` waits for: the export has begun writing (a byte of it read,
    once; nothing more is: the pipe fills) and waits to write into its full pipe."""
    begun = False

    def reached(proc: subprocess.Popen[bytes]) -> bool:
        nonlocal begun
        if not begun:
            assert proc.stdout is not None
            begun = bool(proc.stdout.read(1))
        return begun and blocked_writing(proc)

    return reached


def _ledger_whole(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (RUNS,)
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (RUNS,)
        conn.execute("BEGIN IMMEDIATE")  # nothing holds its write lock
        conn.rollback()
    finally:
        conn.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM and pipes as POSIX has them")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sigterm_stops_an_export_blocked_on_a_full_pipe(tmp_path: Path, fmt: str):
    _stopped_while_blocked(tmp_path, fmt, signal.SIGTERM)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and pipes as POSIX has them")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_one_ctrl_c_stops_an_export_blocked_on_a_full_pipe(tmp_path: Path, fmt: str):
    """Ctrl-C once: asyncio's runner took the first SIGINT as "cancel at the next await", which the blocked write
    never reached; a second Ctrl-C was needed. One is sent here, and the export must end with 130."""
    _stopped_while_blocked(tmp_path, fmt, signal.SIGINT)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM and pipes as POSIX has them")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sigterm_stops_a_background_export_blocked_on_a_full_pipe(tmp_path: Path, fmt: str):
    """Started as a script's background job (SIGINT ignored), SIGTERM kept its default for an export: killed on the
    spot (an --output left half-made beside its file). It is watched for now, as for `magsag invoke`, and a write
    blocked on a full pipe must not keep the watcher from stopping it."""
    _stopped_while_blocked(tmp_path, fmt, signal.SIGTERM, sigint=signal.SIG_IGN)


def _stopped_while_blocked(tmp_path: Path, fmt: str, signum: int, sigint: Any = signal.SIG_DFL, *more: str) -> None:
    db = tmp_path / "audit.db"
    _filled(db)
    # stdout is not read until the export has ended (reading it would free the write): before the fix the process
    # waited on the pipe until it was killed
    stopped = signalled_at(lambda: _export(db, fmt, sigint, *more), _begun_and_blocked(), signum, pause=False)
    assert stopped.returncode == 128 + signum, stopped.said
    assert b"Traceback" not in stopped.err
    _ledger_whole(db)


@pytest.mark.skipif(sys.platform == "win32", reason="pipes as POSIX has them")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_whose_reader_left_ends_quietly(tmp_path: Path, fmt: str):
    """``magsag data query --format csv | head -1``: the reader takes a line and closes the pipe."""
    db = tmp_path / "audit.db"
    _filled(db)
    proc = _export(db, fmt)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.stderr.close()  # (left to the collector: a ResourceWarning in whichever test ran then)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert err == b""
    _ledger_whole(db)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM and pipes as POSIX has them")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_export_to_output_dev_stdout_blocked_on_a_full_pipe_stops_as_stdouts_does(tmp_path: Path, signum: int):
    """``--output /dev/stdout`` into a pipe: it resolved (through /proc/self/fd/1) to no file, "pipe:[...]", and the
    export failed at once ("No such file or directory") where the guide's plain stdout works; once written, it must
    stop on a full pipe as stdout does."""
    _stopped_while_blocked(tmp_path, "csv", signum, signal.SIG_DFL, "--output", "/dev/stdout")


@pytest.mark.skipif(sys.platform == "win32", reason="pipes as POSIX has them")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_to_output_dev_stdout_is_the_export_written_to_stdout(tmp_path: Path, fmt: str):
    db = tmp_path / "audit.db"
    _filled(db)
    plain, named = _export(db, fmt), _export(db, fmt, signal.SIG_DFL, "--output", "/dev/stdout")
    try:
        out, err = plain.communicate(timeout=60)
        named_out, named_err = named.communicate(timeout=60)
    finally:
        plain.kill()
        named.kill()
    assert named.returncode == 0, named_err.decode(errors="replace")
    assert named_out == out and out
    _ledger_whole(db)


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes and SIGTERM as POSIX has them")
@pytest.mark.parametrize(("signum", "sigint"), [(signal.SIGTERM, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_IGN)])
def test_an_export_to_a_named_pipe_whose_reader_stopped_stops_on_sigterm(tmp_path: Path, signum: int, sigint: Any):
    """``--output FIFO`` is written in place, as a pipe: a write blocked on its stopped reader was not ended by
    SIGTERM, as stdout's is, and the export waited on it until it was killed."""
    db, fifo = tmp_path / "audit.db", tmp_path / "audit.fifo"
    _filled(db)
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there before the export opens it: its open does not wait

    def begun_and_blocked(proc: subprocess.Popen[bytes]) -> bool:  # a byte of it read; nothing more is: it fills
        try:
            if not begun and os.read(reader, 1):
                begun.append(True)
        except BlockingIOError:
            pass
        return bool(begun) and blocked_writing(proc)

    begun: list[bool] = []
    try:
        start = lambda: _export(db, "csv", sigint, "--output", str(fifo))  # noqa: E731
        stopped = signalled_at(start, begun_and_blocked, signum, pause=False)
    finally:
        os.close(reader)
    assert begun, stopped.said  # it wrote into the pipe before it was stopped
    assert stopped.returncode == 128 + signum, stopped.said
    assert b"Traceback" not in stopped.err
    _ledger_whole(db)


@pytest.mark.skipif(sys.platform == "win32", reason="/dev/stdout as POSIX has it")
def test_an_export_to_output_dev_stdout_appended_to_a_file_keeps_what_the_file_held(tmp_path: Path):
    """``--output /dev/stdout >> all.csv``: /dev/stdout resolved to all.csv, which the export then replaced whole by
    a rename, losing every earlier export ``>>`` had kept there."""
    db, all_csv = tmp_path / "audit.db", tmp_path / "all.csv"
    _filled(db)
    all_csv.write_bytes(b"an earlier export\n")
    plain = _export(db, "csv")
    out, _ = plain.communicate(timeout=60)
    with open(all_csv, "ab") as appended:
        done = start_cli(
            "data", "query", "--db", str(db), "--format", "csv", "--output", "/dev/stdout", stdout=appended
        )
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err.decode(errors="replace")
    assert all_csv.read_bytes() == b"an earlier export\n" + out
