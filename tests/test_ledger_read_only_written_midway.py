"""A ledger read for reading only while no writer was at work is read as ``immutable`` (SQLite's promise that the file
will not change: no -shm file, no lock, for a folder this user cannot write). A writer of another process that begins
and checkpoints while one read is under way (the owner's `magsag invoke`, run to its end; a server started and
stopped) changed the file under SQLite's feet: the read mixed pages of two versions of the ledger. It said a result of
two moments, or failed with "database disk image is malformed", told to the user as a damaged ledger to restore from a
backup. The read is now made again, on the ledger as it is now, when the file changed while it ran.

The writer is a real process, and the reader waits for it between its statements on an event: no sleep, no timing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent

#: another process of the ledger's owner: opens it, records a call (and, with "bulk", many events), closes it (its
#: checkpoint writes all of that into the file, and the -wal file goes)
WRITER = """
import sys, time, anyio
from decimal import Decimal
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

async def main():
    async with Ledger(sys.argv[1]) as ledger:
        now = time.time()
        attempt = AttemptRecord("r9", now, "openai", "gpt-4o", None, "bo", "ok", 0, 1, cost_usd=Decimal("0.5"))
        await ledger.record_call(RunRecord("r9", "bo", None, now), [attempt])
        if sys.argv[2] == "bulk":
            rows = [(f"w{i}", "bo", now, "e", "w" * 200) for i in range(20000)]
            sql = "INSERT INTO events (run_id, agent, at, event, data) VALUES (?, ?, ?, ?, ?)"
            await ledger.submit(lambda c: c.executemany(sql, rows))

anyio.run(main)
"""


async def _ledger(db: Path) -> None:
    """A closed ledger of one call and 20,000 events: more pages than a connection's cache keeps."""
    async with Ledger(db) as ledger:
        now = time.time()
        attempt = AttemptRecord("r1", now, "openai", "gpt-4o", None, "ana", "ok", 0, 1, cost_usd=Decimal("0.25"))
        await ledger.record_call(RunRecord("r1", "ana", None, now), [attempt])
        rows = [(f"r{i}", "ana", now, "e", "x" * 200) for i in range(20000)]
        sql = "INSERT INTO events (run_id, agent, at, event, data) VALUES (?, ?, ?, ?, ?)"
        await ledger.submit(lambda c: c.executemany(sql, rows))
    assert not Path(f"{db}-wal").exists()  # no writer: a reader opens it as immutable


def _counts(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM attempts), (SELECT COUNT(*) FROM events)"
        ).fetchone()
    finally:
        conn.close()


@pytest.mark.parametrize("writes", ["one call", "bulk"])
async def test_a_writer_that_came_and_went_during_a_read_is_read_again_not_mixed_in_nor_called_damage(
    tmp_path: Path, writes: str
):
    db = tmp_path / "ledger.db"
    await _ledger(db)
    midway, resume = threading.Event(), threading.Event()
    reads = 0

    def counts_over_a_while(conn: sqlite3.Connection) -> tuple[int, int, int]:
        """Three counts in one snapshot, the first read before the writer comes (the first time only)."""
        nonlocal reads
        reads += 1
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        events = conn.execute("SELECT id, data FROM events ORDER BY id")
        seen = len(events.fetchmany(5000))
        if reads == 1:
            midway.set()
            assert resume.wait(120), "the test never let the read go on"
        seen += len(events.fetchall())
        attempts = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        return runs, attempts, seen

    async with Ledger(db, read_only=True) as reader:
        assert reader._writer_log is not None  # read as immutable
        answer: list[tuple[int, int, int]] = []

        async def read() -> None:
            answer.append(await reader.read(counts_over_a_while))

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                assert await anyio.to_thread.run_sync(midway.wait, 120)
                done = await anyio.run_process([sys.executable, "-c", WRITER, str(db), writes], env=env, check=False)
                assert done.returncode == 0, done.stderr.decode()
                resume.set()
        finally:
            resume.set()
        assert not Path(f"{db}-wal").exists()  # the writer came and went
        # (before: "the ledger ... is damaged (SQLite: database disk image is malformed): restore it from a backup",
        # or the runs before the writer beside the attempts after it, (1, 2, ...))
        assert answer == [_counts(db)], answer
        assert reads == 2
        # and the next read, of the ledger as it is now, is made once
        assert await reader.read(counts_over_a_while) == _counts(db)
        assert reads == 3


async def test_a_ledger_written_during_every_read_is_refused_saying_so(tmp_path: Path):
    """A writer that comes and goes during each of the reads made (three): none of them is used, and the error says
    why and what to do, not that the ledger is damaged."""
    from magsag_mcp.errors import LedgerError
    from magsag_mcp.ledger.read_only import IMMUTABLE_READ_TRIES

    db = tmp_path / "ledger.db"
    await _ledger(db)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    reads = 0

    def written_meanwhile(conn: sqlite3.Connection) -> int:
        """A count, with a writer process run to its end between its two statements, every time."""
        nonlocal reads
        reads += 1
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        done = subprocess.run([sys.executable, "-c", WRITER, str(db), "one call"], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        return runs + conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]

    async with Ledger(db, read_only=True) as reader:
        with pytest.raises(LedgerError) as info:
            await reader.read(written_meanwhile)
    assert reads == IMMUTABLE_READ_TRIES == 3
    message = info.value.message
    assert f"the ledger at {db} was written by another process during each of the 3 reads made of it" in message
    assert "retry, or copy the ledger to a folder you can write and pass the copy with --db" in message
    assert "damaged" not in message
