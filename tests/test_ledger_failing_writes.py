"""Writes that fail under the ledger: a full disk (or an I/O error) in the middle of a transaction.

On such an error SQLite may roll the whole transaction back by itself (it does when a page it must write
cannot be: the cache spilling into the log, the file growing past what it may). What the ledger then does
to undo a part of it (``ROLLBACK TO`` a savepoint, ``ROLLBACK``) fails in turn, with SQLite's "no such
savepoint" or "no transaction is active", and that error, not the full disk, was what the user was told.

The full disk is SQLite's own: ``PRAGMA max_page_count`` caps the file just above its size, and the
statement that needs a page more fails with SQLITE_FULL, the transaction rolled back, as on a disk with no
room left (measured on a full tmpfs: ``magsag data prune`` said "ledger error at ...: no such savepoint: op").
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger
from tests.refused_writes import every_write_refused

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
FULL = "is on a full disk (database or disk is full): free some space there, then retry"


def fills_the_disk(conn: sqlite3.Connection) -> None:
    """Write until the file may grow no more: SQLite's SQLITE_FULL, which rolls the transaction back.
    The cap is lifted again whatever happens (the connection is the ledger's own)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    try:
        for _ in range(1000):
            conn.execute(
                "INSERT INTO events (run_id, agent, at, event, data) VALUES (NULL, NULL, ?, 'filler', ?)",
                (time.time(), "x" * 3000),
            )
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")


async def test_a_full_disk_in_a_queued_write_says_the_disk_is_full(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        failures: list[BaseException] = []

        async def submit(fn) -> None:
            try:
                await ledger.submit(fn)
            except LedgerError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:  # one batch: the disk fills under all of it
            tg.start_soon(submit, fills_the_disk)
            tg.start_soon(submit, lambda conn: conn.execute("INSERT INTO events (at, event) VALUES (1, 'company')"))
        assert [e.message for e in failures] == [f"the ledger at {ledger.path} {FULL}"] * 2
        # nothing of the failed batch was kept, and the next write goes through
        await ledger.log_event(None, None, "after", {})
        events = await ledger.read(lambda conn: [r[0] for r in conn.execute("SELECT event FROM events")])
    assert events == ["after"]


async def test_a_full_disk_in_an_inline_write_leaves_it_to_the_queue(tmp_path: Path):
    # The inline write's own ROLLBACK, after SQLite had rolled back, raised "cannot rollback - no transaction
    # is active" in place of the full disk: a budget reservation made inline then failed the call with it.
    async with Ledger(tmp_path / "l.db") as ledger:
        assert ledger.try_now(fills_the_disk) == (False, None)  # not made here: the queue says why
        with pytest.raises(LedgerError) as info:
            await ledger.submit(fills_the_disk)
        assert info.value.message == f"the ledger at {ledger.path} {FULL}"
        assert ledger.try_now(lambda conn: conn.execute("INSERT INTO events (at, event) VALUES (1, 'x')").rowcount) == (
            True,
            1,
        )


class _CommitFailsOnce:
    """The inline connection's cursor, whose first COMMIT meets a full disk as SQLite does: the transaction
    rolled back, SQLITE_FULL raised (a log rotated onto the ledger's disk, freed a moment later)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor, self.failed = cursor, False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT" and not self.failed:
            self.failed = True
            self.cursor.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.cursor.execute(sql, *args)

    def executescript(self, script: str) -> sqlite3.Cursor:  # a change of synchronous mode with its BEGIN
        return self.cursor.executescript(script)


async def test_a_reservation_whose_inline_commit_meets_a_full_disk_is_made_through_the_queue(
    tmp_path: Path, fake_scripts
):
    from magsag_mcp.service import Service

    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        cursor = svc.ledger._inline_cursor
        svc.ledger._inline_cursor = _CommitFailsOnce(cursor)  # the call's budget reservation commits first
        result = await svc.invoke_skill("skill.analysis", {"data": "x"}, agent="ana")
        assert svc.ledger._inline_cursor.failed
        svc.ledger._inline_cursor = cursor
        runs = (await svc.query_runs_page())["runs"]
    assert [(r["run_id"], r["status"]) for r in runs] == [(result.run_id, "ok")]


async def test_a_write_ahead_log_deleted_while_open_records_nothing_more_and_says_so(tmp_path: Path):
    """The -wal and -shm files deleted while a server had the ledger open (a cleanup of "temporary" files, a
    sync tool): SQLite went on writing to the -wal it had open, which no other process could see, while a
    process opening the ledger after made a new one. Measured with two processes: every call of both said
    "recorded", the second's 1,324 records were lost, and the ledger was left damaged ("Rowid out of order").
    A write now refuses, saying why and what to do, as for the ledger's own file deleted while open."""
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.log_event(None, None, "before", {})
        for side in ("-wal", "-shm"):
            Path(f"{db}{side}").unlink()
        for message in await every_write_refused(ledger):
            assert f"the ledger at {db} lost its -wal file ({db}-wal)" in message
            assert "restart this process" in message and "while a process has the ledger open" in message
        with pytest.raises(LedgerError, match="lost its -wal file"):  # a budget reservation: before any spend
            ledger.try_now(lambda conn: None)
