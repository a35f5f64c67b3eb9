"""The sweep that records expired reservations as abandoned attempts (ledger/abandoned.py): one read of the
reservations in flight a sweep, whatever it finds expired, and the rows each stand-in written alone would leave."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.ledger.abandoned import record_abandoned
from magsag_mcp.ledger.migrations import migrate
from magsag_mcp.ledger.writes import RecordWrite

NOW = 1_796_198_667.0
TABLES = ("runs", "attempts", "usage_rollup", "agent_spend", "day_spend", "budget_reservations")

#: (id, run_id, attempt_run_id, agent, expires_at, amount_pusd): two of one run, a delegated run's (c1 from p1), a
#: later call of that delegated run naming no parent, a call with no run, one with no agent, and two still in flight
#: (one of them delegated: d1 from p2, which a stand-in of d1's naming no parent is placed under)
RESERVATIONS = [
    (1, "r", None, "ag", NOW - 5, 100_000_000_000),
    (2, "r", None, "ag", NOW - 5, 30_000_000_000),
    (3, "p1", "c1", "ag", NOW - 5, 70_000_000_000),
    (4, "c1", None, "ag", NOW - 5, 20_000_000_000),
    (5, None, None, "ag", NOW - 5, 10_000_000_000),
    (6, "q", None, None, NOW - 5, 40_000_000_000),
    (7, "d1", None, "ag", NOW - 5, 50_000_000_000),
    (8, "p2", "d1", "ag", NOW + 600, 60_000_000_000),
    (9, "live", None, "ag", NOW + 600, 80_000_000_000),
]


def _ledger(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    for rid, run, attempt_run, agent, expires, amount in RESERVATIONS:
        conn.execute(
            "INSERT INTO budget_reservations (id, run_id, attempt_run_id, agent, created_at, expires_at, amount_pusd,"
            " state, provider, model, skill) VALUES (?, ?, ?, ?, ?, ?, ?, 'held', 'openai', 'gpt-4o', 's')",
            (rid, run, attempt_run, agent, NOW - 100 - rid, expires, amount),
        )
    return conn


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_a_sweep_reads_the_reservations_in_flight_once_however_many_expired(tmp_path: Path):
    """Each stand-in was written as a record of its own, and each record read every reservation in flight (the
    delegated runs among them): a sweep of seven expired reservations read them eight times, N + 1 for N."""
    conn = _ledger(tmp_path / "l.db")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    conn.execute("BEGIN IMMEDIATE")
    assert record_abandoned(conn, NOW) == 7
    conn.execute("COMMIT")
    conn.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "budget_reservations" in s]
    # those held by this machine's processes (whether one is gone: see reservation_owners), the expired ones, then the
    # delegated runs in flight
    assert len(reads) == 3, reads
    assert conn.execute("SELECT id FROM budget_reservations ORDER BY id").fetchall() == [(8,), (9,)]
    # the stand-in of d1's call, naming no parent, is placed under the run d1's call in flight reserved against
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'd1'").fetchone() == ("p2",)
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'c1'").fetchone() == ("p1",)
    assert conn.execute("SELECT calls, unpriced_calls FROM runs WHERE run_id = 'r'").fetchone() == (2, 2)
    conn.close()


def test_a_sweep_leaves_the_rows_its_stand_ins_written_one_by_one_leave(tmp_path: Path, monkeypatch):
    """Written together, the stand-ins leave every table as written one after another (each a record of its own,
    reading the reservations left in flight after the ones before it): runs, attempts, rollups, spend, holds."""
    together = _ledger(tmp_path / "together.db")
    assert record_abandoned(together, NOW) == 7
    alone = _ledger(tmp_path / "alone.db")
    batch = RecordWrite.apply_all

    def one_by_one(conn: sqlite3.Connection, writes: list[RecordWrite]) -> list:
        return [batch(conn, [write])[0] for write in writes]

    monkeypatch.setattr(RecordWrite, "apply_all", staticmethod(one_by_one))
    assert record_abandoned(alone, NOW) == 7
    assert _tables(together) == _tables(alone)
    assert len(_tables(together)["attempts"]) == 7
    together.close()
    alone.close()


def test_a_sweep_with_nothing_expired_writes_nothing(tmp_path: Path):
    conn = _ledger(tmp_path / "l.db")
    before = _tables(conn)
    assert record_abandoned(conn, NOW - 10) == 0
    assert _tables(conn) == before
    conn.close()


#: another process holding the write lock of each ledger named (a `data prune` vacuuming, a long batch): it says so on
#: stdout once it holds them, and lets them go when its stdin closes
_LOCK_HOLDER = """
import sqlite3, sys
conns = [sqlite3.connect(path, isolation_level=None) for path in sys.argv[1:]]
for conn in conns:
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.anyio
async def test_a_read_kept_from_recording_a_dead_process_s_call_says_why_it_needed_the_lock(tmp_path: Path):
    """A read waits for no writer (WAL), but one that finds a dead process's expired reservation records it first,
    a write, which waits for the lock: held past the timeout by another process, the read failed with the lock's own
    error, "stayed locked ...; retry, or stop the process holding it", which read as if reads waited for writers and
    told a `data query` to stop the server. It now says what the read had to write first, and what reads without."""
    import subprocess
    import sys
    import time

    from magsag_mcp.errors import LedgerError
    from magsag_mcp.ledger import Ledger

    quiet, dead = tmp_path / "quiet.db", tmp_path / "dead.db"
    for path in (quiet, dead):
        async with Ledger(path):
            pass
    conn = sqlite3.connect(dead, isolation_level=None)
    now = time.time()
    conn.execute(
        "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id,"
        " provider, model, skill, call_id) VALUES ('r', 'ag', ?, ?, 5, 'held', 'r', 'openai', 'gpt-4o', 's', 'c')",
        (now - 2000, now - 1000),
    )
    conn.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(quiet), str(dead)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        async with Ledger(quiet, busy_timeout_ms=200) as ledger:
            assert (await ledger.summarize())["totals"]["calls"] == 0  # nothing to record first: read at once
        async with Ledger(dead, busy_timeout_ms=200) as ledger:
            with pytest.raises(LedgerError) as info:
                await ledger.summarize()
    finally:
        holder.communicate("")
    message = info.value.message
    assert message.startswith(f"cannot read the ledger at {dead} yet: 1 call of a process that ended with its request")
    assert "must first be recorded as the abandoned attempt it stood for" in message
    assert "kept the ledger's write lock for 0.2s" in message and "retry once that is done" in message
    assert "stop the process holding it" not in message
    async with Ledger(dead) as ledger:  # the lock gone, the same read records it and counts it
        assert (await ledger.summarize())["totals"]["calls"] == 1
