"""The latest `magsag data prune` mark, read by every summary and list of runs and every budget status of a windowed
limit (prune.pruned_before), and a prune step's look for a later mark (prune._mark), down 0035_events_prune_marks: the
marks alone, by time. Read among the run-less events by events_run and sorted, the latest took 0.29-0.36 s of a ledger
of 1,000,000 events (500,000 run-less); down the index, one step. A ledger without the index (the version before's)
answers the same."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger, prune
from magsag_mcp.ledger.prune import (
    _DELETE_MARKS_BEFORE,
    _LATEST_MARK,
    _MARK_FROM,
    _MARKS_INDEX,
    PRUNED_EVENT,
    pruned_before,
)
from tests.older_version import leave_as_before_0035, leave_as_the_version_before

DAY = 86400.0
START = 20_000 * DAY


def _ledger(db: Path) -> sqlite3.Connection:
    """A ledger this version made, holding 3,000 events of other names (half of them run-less, some later than every
    mark) and three prune marks: the latest run-less one at START + 20 days, an earlier one, and one a run names at a
    later time, which no prune writes."""

    async def make() -> None:
        async with Ledger(db):
            pass

    anyio.run(make)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")  # (one commit: in autocommit each of the 3,000 rows was a synced commit of its own)
    conn.executemany(
        "INSERT INTO events (run_id, agent, at, event, data) VALUES (?, NULL, ?, 'overloaded upstream', '{}')",
        [(None if i % 2 else f"r-{i}", START + i * 60) for i in range(3000)],
    )

    def mark(at: float, pruned_at: str, run_id: str | None = None) -> None:
        data = json.dumps({"before": "-", "pruned_at": pruned_at})
        conn.execute(
            "INSERT INTO events (run_id, agent, at, event, data) VALUES (?, NULL, ?, ?, ?)",
            (run_id, at, PRUNED_EVENT, data),
        )

    mark(START + 20 * DAY, "the latest prune")
    mark(START + 5 * DAY, "an earlier prune")
    mark(START + 30 * DAY, "a run's event of that name", run_id="r-7")
    conn.execute("COMMIT")
    return conn


def _plan(conn: sqlite3.Connection, sql: str, *args: object) -> str:
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def test_a_new_ledger_holds_the_index_of_the_prune_marks(tmp_path: Path):
    conn = _ledger(tmp_path / "l.db")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_prune_marks'").fetchone()[0]
    assert sql == "CREATE INDEX events_prune_marks ON events (at) WHERE event = 'ledger_pruned'"
    # the marks alone are in it (the 3,000 other events add no entry)
    counted = "SELECT COUNT(*) FROM events INDEXED BY events_prune_marks WHERE event = 'ledger_pruned'"
    assert conn.execute(counted).fetchone()[0] == 3


def test_the_latest_mark_is_read_down_the_index_not_among_every_run_less_event(tmp_path: Path):
    """Named by the index, the read walks the marks alone from the latest: no search of events_run (every run-less
    event, each sought to test its name) and no sort of them for the latest."""
    conn = _ledger(tmp_path / "l.db")
    plan = _plan(conn, _LATEST_MARK)
    assert plan == "SCAN events USING INDEX events_prune_marks", plan


def test_the_latest_run_less_mark_is_the_one_read(tmp_path: Path):
    """Of several marks, the latest written with no run (a prune writes none with one): not the earlier prune's, nor an
    event of that name a run wrote later."""
    conn = _ledger(tmp_path / "l.db")
    assert pruned_before(conn) == (START + 20 * DAY, "the latest prune")


def test_a_ledger_without_the_index_reads_the_same_mark(tmp_path: Path):
    """A ledger of a version before 0035 (two back since 0036), read where it lies, holds no 0035 index: the read
    names no index it lacks (SQLite would refuse the query: "no such index") and finds the same mark."""
    db = tmp_path / "l.db"
    _ledger(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    leave_as_the_version_before(conn)
    leave_as_before_0035(conn)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_prune_marks'").fetchone() is None
    assert pruned_before(conn) == (START + 20 * DAY, "the latest prune")
    conn.execute("DELETE FROM events WHERE event = ?", (PRUNED_EVENT,))
    assert pruned_before(conn) is None


def test_a_never_pruned_ledger_has_no_mark(tmp_path: Path):
    conn = _ledger(tmp_path / "l.db")
    conn.execute("DELETE FROM events WHERE event = ?", (PRUNED_EVENT,))
    assert pruned_before(conn) is None


@pytest.mark.parametrize("sql", [_MARK_FROM, _DELETE_MARKS_BEFORE])
def test_a_prune_steps_look_at_the_marks_is_down_the_index(tmp_path: Path, sql: str):
    """Each prune step looks for a mark at or after its end and deletes those before it, holding the write lock: down
    the time index the look walked every event after the end."""
    conn = _ledger(tmp_path / "l.db")
    plan = _plan(conn, sql, START + DAY)
    assert "USING INDEX events_prune_marks" in plan and "events_at" not in plan, plan


def _read_sql(conn: sqlite3.Connection) -> list[str]:
    """The statements :func:`pruned_before` runs on ``conn``, as SQLite ran them."""
    ran: list[str] = []
    conn.set_trace_callback(ran.append)
    try:
        pruned_before(conn)
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in ran if "FROM events" in sql]


def test_a_migrated_ledgers_latest_mark_is_read_down_the_index(tmp_path: Path):
    """What pruned_before runs, not the constant's plan alone: a look for the index that never found it would read
    every ledger the slow way, with the same answers, which the tests of the mark read cannot tell apart."""
    conn = _ledger(tmp_path / "l.db")
    [read] = _read_sql(conn)
    assert f"INDEXED BY {_MARKS_INDEX}" in read, read
    assert _plan(conn, read) == f"SCAN events USING INDEX {_MARKS_INDEX}"
    conn.execute(f"DROP INDEX {_MARKS_INDEX}")  # (a user's: schema_migrations still lists 0035)
    [read] = _read_sql(conn)
    assert "INDEXED BY" not in read, read
    assert pruned_before(conn) == (START + 20 * DAY, "the latest prune")


def test_an_index_dropped_by_another_process_as_a_read_runs_reaches_no_user(tmp_path: Path):
    """A read's look for the index and its read of the mark are one snapshot (Ledger.read): another process dropping
    the index between them ("no such index", named by the read) changes nothing the read sees. The next read, and a
    summary's note, read without it."""
    db = tmp_path / "l.db"
    _ledger(db).close()
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)  # (used on the reader's thread)
    looked = prune._has_marks_index
    latest = (START + 20 * DAY, "the latest prune")

    def look_then_drop(conn: sqlite3.Connection) -> bool:
        found = looked(conn)
        if found:
            other.execute(f"DROP INDEX {_MARKS_INDEX}")
        return found

    async def read() -> None:
        async with Ledger(db) as ledger:
            with pytest.MonkeyPatch.context() as m:
                m.setattr(prune, "_has_marks_index", look_then_drop)
                assert await ledger.read(pruned_before) == latest
            assert other.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{_MARKS_INDEX}'").fetchone() is None
            assert await ledger.read(pruned_before) == latest
            note = await ledger.pruned_note(None)
            assert note is not None and "at the latest prune" in note, note
        async with Ledger(db) as ledger:  # reopened: 0035 is applied, so no open makes the index again
            assert await ledger.read(pruned_before) == latest

    try:
        anyio.run(read)
    finally:
        other.close()
