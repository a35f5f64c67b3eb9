"""The ledger's -wal file: a prune's VACUUM (succeeded or failed on a full disk) and a burst of writes beside a long
read leave no log as large as they made it beside a server that keeps its connections open."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


async def test_a_prune_beside_a_running_server_leaves_no_write_ahead_log_as_large_as_the_ledger(tmp_path: Path):
    """`magsag data prune` vacuums to reclaim space. In WAL mode VACUUM writes the whole ledger into the -wal
    file, and SQLite truncates that file only when the last connection closes: with magsag-mcp running beside
    the prune (its connections open), the -wal stayed as large as the ledger for as long as the server ran, so a
    prune to free disk space nearly doubled what the ledger took (41 MB -> 70 MB, measured). Now the prune
    checkpoints the log into the ledger and truncates it."""
    db = tmp_path / "l.db"
    old = time.time() - 100 * 86400
    async with Ledger(db) as server:  # stays open, idle, for the whole prune
        failed = {"error_class": "server_error", "error_message": "x" * 500, "cost_usd": Decimal(0)}
        records = [
            (
                RunRecord(f"r{i}", "a", "s", old + i, ended_at=old + i, status="error"),
                [AttemptRecord(f"r{i}", old + i, "openai", "gpt-4o", "s", "a", "error", 0, 1, **failed)],
                None,
            )
            for i in range(2000)
        ]
        *earlier, (run, attempts, _) = records
        await server.record_call(run, attempts, earlier=earlier)
        await server.log_event(None, None, "now", {})  # one row the prune keeps
        async with Ledger(db, create=False) as cli:
            counts = await cli.prune(90 * 86400)
            assert counts["attempts"] == 2000 and "vacuum" not in counts
        wal = Path(f"{db}-wal")
        assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size
        assert [h["event"] for h in await server.search("now", 5)] == ["now"]  # the server reads on, as before


async def test_a_prune_whose_vacuum_fails_on_a_full_disk_gives_back_the_log_it_grew(tmp_path: Path, monkeypatch):
    """On a disk with less room than a copy of the ledger, the prune's VACUUM grew the -wal file until the disk
    was full and failed; the prune said only "vacuum": 0, and with magsag-mcp running beside it the -wal kept
    that size: the disk stayed full, and every call the server made next failed to record ("on a full disk").
    Now the log is checkpointed and truncated whether the vacuum succeeded or not."""
    from magsag_mcp.ledger import prune

    def vacuum_fills_the_disk(conn):
        conn.execute("BEGIN IMMEDIATE")  # what VACUUM writes into the log before the disk fills
        conn.executemany("INSERT INTO events (at, event, data) VALUES (0, 'copy', ?)", [("x" * 500,)] * 10_000)
        conn.execute("ROLLBACK")
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = 13
        raise exc

    monkeypatch.setattr(prune, "_vacuum", vacuum_fills_the_disk)
    db = tmp_path / "l.db"
    async with Ledger(db) as server:
        await server.log_event(None, None, "now", {})
        async with Ledger(db, create=False) as cli:
            assert await cli.prune(90 * 86400) == {"attempts": 0, "runs": 0, "events": 0, "answers": 0, "vacuum": 0}
        wal = Path(f"{db}-wal")
        assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size
        await server.log_event(None, None, "after", {})  # the server records on
        assert [h["event"] for h in await server.search("now|after", 5)] == ["after", "now"]


async def test_a_burst_of_writes_beside_a_long_read_leaves_no_large_write_ahead_log_behind(tmp_path: Path):
    """A burst of writes (a batch of many records, or another process's prune whose checkpoint found a reader)
    while a reader held its snapshot (a `flow summarize` or an export of a large ledger, in another process)
    grew the -wal file past what SQLite checkpoints at (4 MB), and SQLite reuses the file without shrinking it
    until the last connection closes: beside a long-running server it stayed at its largest. Now, once the log
    is checkpointed and begun again, it is cut back to JOURNAL_SIZE_LIMIT."""
    from magsag_mcp.ledger.connection import JOURNAL_SIZE_LIMIT

    db = tmp_path / "l.db"
    now = time.time()
    failed = {"error_class": "server_error", "error_message": "x" * 4000, "cost_usd": Decimal(0)}

    def call(i: int) -> tuple[RunRecord, list[AttemptRecord], None]:
        run = RunRecord(f"r{i}", "a", "s", now, ended_at=now, status="error")
        return run, [AttemptRecord(f"r{i}", now, "openai", "gpt-4o", "s", "a", "error", 0, 1, **failed)], None

    async with Ledger(db) as server:
        await server.log_event(None, None, "first", {})
        reader = sqlite3.connect(db, isolation_level=None)  # another process's long read
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM events").fetchone()
        *earlier, (run, attempts, _) = [call(i) for i in range(3000)]
        await server.record_call(run, attempts, earlier=earlier)
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size > JOURNAL_SIZE_LIMIT  # the burst, which no checkpoint could take in
        reader.execute("COMMIT")
        reader.close()
        for i in range(3):  # the server records on: its log is checkpointed and begun again
            await server.log_event(None, None, f"after{i}", {})
        assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT, wal.stat().st_size
        assert len(await server.query_runs(UsageFilters(limit=5000))) == 3000
