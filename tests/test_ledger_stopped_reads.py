"""A read of the ledger whose caller is cancelled (Ctrl-C, SIGTERM, a deadline) stops where it stands.

The caller stopped waiting, but the statement ran on in the reader's thread to its end, and the ledger's close
(and every read queued after it) waited behind it: Ctrl-C on ``magsag data search`` over a large ledger took up to
the search's 10 s bound to stop, on ``magsag data prune``'s VACUUM as long as copying the whole ledger takes.

The statements here go on until the test lets them end (a function of SQLite's asks an event at every row), so
that whether the cancellation stopped them is seen in what they did, with no clock: the bounds on the waits only
keep a broken build from hanging the suite.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.signals import signalled_at, start_cli

pytestmark = pytest.mark.anyio

#: a count that goes on while go() says so: go() is asked at every row
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE go()) SELECT count(*) FROM c"
#: a bound on each wait for the reader thread, only so that a broken build fails instead of hanging
HANG = 60


class Held:
    """A statement that runs until :meth:`release`, and what became of it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()
        self.ended = threading.Event()
        self.outcome: str | None = None

    def read(self, conn: sqlite3.Connection) -> int:
        conn.create_function("go", 0, lambda: not self.released.is_set())
        self.started.set()
        try:
            count = conn.execute(ENDLESS).fetchone()[0]
            self.outcome = "ran to its end"
            return count
        except sqlite3.OperationalError as exc:
            self.outcome = str(exc)
            raise
        finally:
            self.ended.set()

    def release(self) -> None:
        self.released.set()


async def _cancelled_once_started(ledger: Ledger, held: Held) -> None:
    """``held.read`` on the ledger's reader, its caller cancelled once the statement is running."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(ledger.read, held.read)
        assert await anyio.to_thread.run_sync(held.started.wait, HANG)
        tg.cancel_scope.cancel()


async def test_a_read_whose_caller_is_cancelled_is_interrupted(tmp_path: Path):
    async with Ledger(tmp_path / "ledger.db") as ledger:
        held = Held()
        try:
            await _cancelled_once_started(ledger, held)
            await anyio.to_thread.run_sync(held.ended.wait, HANG)
        finally:
            held.release()  # (before the fix: the statement ends here, run to its end)
        assert held.outcome == "interrupted"
        # the reader is free: the next read is answered, not interrupted
        assert await ledger.read(lambda conn: conn.execute("SELECT COUNT(*) FROM runs").fetchone()) == (0,)


async def test_a_read_cancelled_before_it_began_is_not_run_and_stops_no_other(tmp_path: Path):
    """The reader is shared: one caller's cancellation stops its own read, never another's that is running."""
    async with Ledger(tmp_path / "ledger.db") as ledger:
        running, queued = Held(), Held()
        answer: list[int] = []

        async def first() -> None:
            answer.append(await ledger.read(running.read))

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                assert await anyio.to_thread.run_sync(running.started.wait, HANG)
                async with anyio.create_task_group() as second:  # queued behind the first, then cancelled
                    second.start_soon(ledger.read, queued.read)
                    await anyio.sleep(0)
                    second.cancel_scope.cancel()
                running.release()
        finally:
            running.release()
            queued.release()
        await ledger.read(lambda conn: None)  # queued after both: once it is answered, the queued one ran or never will
        assert running.outcome == "ran to its end"
        assert answer and answer[0] > 0
        assert not queued.started.is_set()  # never begun: its caller had gone


DAYS = 40
#: attempts a day, each of some 2 KB of text: a ledger of some 40 MB, whose VACUUM copies what a prune keeps
PER_DAY = 500
TEXT = "upstream said no. " * 110


def _filled(db: Path) -> None:
    # the machine's clock, which the prune's own process reads its cutoff on: not this process's time.time(), which a
    # test may move (to a midnight), and the days past 30 then were not the ones the prune deleted
    now = time.clock_gettime(time.CLOCK_REALTIME)

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for day in range(DAYS):
                run = RunRecord(f"r-{day}", "ana", "skill.analysis", now - day * 86400 - 3600)
                attempts = [
                    AttemptRecord(
                        run.run_id,
                        run.started_at + i,
                        "fake",
                        "echo",
                        run.skill,
                        "ana",
                        "error",
                        0,
                        1,
                        error_message=TEXT,
                    )
                    for i in range(PER_DAY)
                ]
                await ledger.record_call(run, attempts)

    anyio.run(fill)


def _vacuum_copy_size(pid: int, folder: Path) -> int:
    """The size of the largest of the temporary files the process has open in ``folder``: VACUUM's copy of the
    ledger is one, which grows to what the prune keeps (a step's sorting files stay small)."""
    largest = 0
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            if str(folder) in str(fd.readlink()):
                largest = max(largest, fd.stat().st_size)
        except OSError:
            continue
    return largest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc tells which files the prune has open")
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_prune_stopped_in_its_vacuum_stops_there_and_leaves_the_ledger_whole(tmp_path: Path, signum: str):
    db = tmp_path / "ledger.db"
    _filled(db)
    size = db.stat().st_size
    temp = tmp_path / "sqlite-temp"
    temp.mkdir()

    def start() -> subprocess.Popen[bytes]:
        return start_cli("data", "prune", "--older-than", "30d", "--db", str(db), env={"SQLITE_TMPDIR": str(temp)})

    # in its VACUUM, its copy of the ledger a quarter made: held there (SIGSTOP) until the signal is sent
    stopped = signalled_at(start, lambda proc: _vacuum_copy_size(proc.pid, temp) >= size // 4, getattr(signal, signum))
    # the records were deleted (every step committed) before the signal: the prune reports them and exits 0, the
    # vacuum stopped, which it says (it exited 130 or 143 with no report: a script read it as deleting nothing)
    assert stopped.returncode == 0, stopped.said
    assert b"Traceback" not in stopped.err
    assert json.loads(stopped.out)["deleted"] == {"attempts": 10 * PER_DAY, "runs": 10, "events": 0, "answers": 0,
                                                 "vacuum": 0}
    shown = "Ctrl-C" if signum == "SIGINT" else "SIGTERM"
    assert f"the vacuum was stopped ({shown}) before it ended, so the ledger file was not shrunk" in stopped.said
    # the VACUUM stopped where it was, rolled back: the file is as large as before, not shrunk
    assert db.stat().st_size == size
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # what the prune's steps deleted is gone (each step a transaction, committed): the days past 30
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (30 * PER_DAY,)
    finally:
        conn.close()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0  # checkpointed as it closed


async def test_a_read_cancelled_before_its_statement_began_is_interrupted_when_it_begins(tmp_path: Path):
    # Cancelled once its function ran but before the function's statement started (the window this file's first test
    # hit now and then on a loaded machine): SQLite's interrupt reaches only a running statement, so it was lost and
    # the statement ran to its end. Here the function waits, after saying it began, until the cancellation is done.
    cancelled = threading.Event()

    class Late(Held):
        def read(self, conn: sqlite3.Connection) -> int:
            self.started.set()
            assert cancelled.wait(HANG)
            return super().read(conn)

    async with Ledger(tmp_path / "ledger.db") as ledger:
        held = Late()
        try:
            await _cancelled_once_started(ledger, held)
            cancelled.set()
            await anyio.to_thread.run_sync(held.ended.wait, HANG)
        finally:
            cancelled.set()
            held.release()
        assert held.outcome == "interrupted"
        assert await ledger.read(lambda conn: conn.execute("SELECT COUNT(*) FROM runs").fetchone()) == (0,)
