"""The ledger benchmark's database: built as a user's ledger is, and never reused across code versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from benchmarks import ledger_bench


def test_the_benchmark_ledger_has_no_planner_statistics(tmp_path: Path):
    # Before: the build ended with ANALYZE, which magsag never runs, so the summarize and filtered
    # query targets were timed with a planner no user's ledger has.
    db = tmp_path / "l.db"
    ledger_bench.build(db, 300)
    conn = sqlite3.connect(db)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (300,)
    finally:
        conn.close()
    assert not {t for t in tables if t.startswith("sqlite_stat")}


def test_the_cached_ledger_is_keyed_by_the_migrations(monkeypatch: pytest.MonkeyPatch):
    # Before: /tmp/magsag-bench-ledger-N.db was reused whatever code had built it.
    from magsag_mcp.ledger import migrations

    before = ledger_bench.db_path(1000)
    assert ledger_bench.db_path(1000) == before and ledger_bench.db_path(2000) != before
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("9999_new", "SELECT 1")])
    assert ledger_bench.db_path(1000) != before
