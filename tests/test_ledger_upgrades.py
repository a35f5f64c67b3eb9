"""Ledgers recorded by earlier releases, upgraded as a user upgrades: every number still reads right."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.ledger_schema_helpers import ledger_of_schema

pytestmark = pytest.mark.anyio

#: 0007 as it was first released (4025092): without usage_rollup's cost_bound_pusd and bounded, which a
#: later commit added to the released migration, so ledgers that had applied it never got them
FIRST_0007 = """
ALTER TABLE attempts ADD COLUMN cost_bound_pusd INTEGER;
ALTER TABLE runs ADD COLUMN cost_bound_pusd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_spend ADD COLUMN cost_bound_pusd INTEGER NOT NULL DEFAULT 0
"""


def _apply(conn: sqlite3.Connection, name: str, sql: str) -> None:
    for statement in (s.strip() for s in sql.split(";")):
        if statement:
            conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))


async def test_a_ledger_that_applied_the_first_0007_records_and_summarizes_with_its_bounds(tmp_path: Path):
    """A user ran the release that first shipped 0007, then upgraded: every call's record failed ("table
    usage_rollup has no column named cost_bound_pusd", the paid answer raised as a LedgerError) and so did
    every summary. Now the upgrade gives the rollup its columns, with the bounds of the attempts recorded
    meanwhile, and the summary equals the attempts."""
    db = tmp_path / "upgraded.db"
    conn = ledger_of_schema(db, MIGRATIONS[:6])
    _apply(conn, "0007_unknown_cost_bound", FIRST_0007)
    # what that release wrote for a call cut after it reached the vendor: the bound on the attempt and the
    # run, its rollup row without one (it had no column for it)
    day = 20_400 * 86400.0
    conn.execute(
        "INSERT INTO attempts (run_id, started_at, provider, model, agent, skill, outcome, input_tokens,"
        " output_tokens, total_tokens, cost_pusd, cost_bound_pusd) VALUES"
        " ('old', ?, 'openai', 'gpt-4o', 'ag', 's', 'error', 0, 0, 0, NULL, 7000000),"
        " ('old', ?, 'openai', 'gpt-4o', 'ag', 's', 'ok', 10, 5, 15, 3000000, NULL)",
        (day + 60, day + 70),
    )
    conn.execute(
        "INSERT INTO runs (run_id, agent, skill, started_at, ended_at, status, calls, input_tokens, output_tokens,"
        " cost_pusd, unpriced_calls, cost_bound_pusd) VALUES ('old', 'ag', 's', ?, ?, 'ok', 1, 10, 5, 3000000, 1,"
        " 7000000)",
        (day + 60, day + 71),
    )
    conn.execute(
        "INSERT INTO usage_rollup VALUES (20400, 'gpt-4o', 'openai', 'ag', 's', 'error', 1, 0, 0, 0, 0, 0, 1),"
        " (20400, 'gpt-4o', 'openai', 'ag', 's', 'ok', 1, 10, 5, 0, 0, 3000000, 0)"
    )
    conn.execute("INSERT INTO agent_spend VALUES ('ag', ?, 3000000, 7000000)", (int((day + 60) // 900),))
    for name, sql in MIGRATIONS[7:13]:  # the releases after it, up to this one's last
        _apply(conn, name, sql)
    conn.close()

    async with Ledger(db) as ledger:
        now = time.time()
        run = RunRecord("new", "ag", "s", now, ended_at=now, status="ok", input_tokens=4, output_tokens=2)
        cut = AttemptRecord(
            "new", now, "openai", "gpt-4o", "s", "ag", "error", 0, 1, cost_usd=None, cost_bound_usd=Decimal("0.00002")
        )
        answer = AttemptRecord(
            "new", now, "openai", "gpt-4o", "s", "ag", "ok", 1, 1, input_tokens=4, output_tokens=2,
            cost_usd=Decimal("0.00001"),
        )  # fmt: skip
        await ledger.record_call(run, [cut, answer])
        summary = await ledger.summarize()
        old_day = await ledger.summarize({"since": day, "until": day + 86400})
    totals = summary["totals"]
    counts = ("attempts", "attempt_errors", "input_tokens", "output_tokens")
    assert tuple(totals[k] for k in counts) == (4, 2, 14, 7)
    # the new call fell back once and was answered; the old attempts, each a first try, were two calls (0016's rule)
    assert (totals["calls"], totals["errors"]) == (3, 1)
    assert (totals["known_cost_usd"], totals["unpriced_calls"]) == ("0.000013", 2)
    assert totals["unknown_cost_bound_usd"] == "0.000027"  # both bounds, the old attempt's too
    assert old_day["totals"]["unknown_cost_bound_usd"] == "0.000007"  # read from the rollup's whole day
    assert old_day["largest_day"]["at_most_usd"] == "0.00001"


async def test_a_sag_delegated_from_a_sag_before_the_top_run_rule_counts_in_the_top_runs_scope(tmp_path: Path):
    """Before the runner recorded the top run as every delegated run's parent, MAG -> SAG -> SAG recorded the
    second SAG under the first. Every read of a run's scope goes one level down, so after the upgrade the
    MAG's `--run-id`, its summary and its run limit's spend left the second SAG out. Now it names the MAG."""
    db = tmp_path / "nested.db"
    conn = ledger_of_schema(db, MIGRATIONS[:13])
    day = 20_400 * 86400.0
    for i, (run_id, parent, cost) in enumerate(
        (("mag", None, 1), ("sag1", "mag", 20), ("sag2", "sag1", 300), ("sag3", "sag2", 4000), ("other", None, 50000))
    ):
        at = day + 10 * i
        conn.execute(
            "INSERT INTO runs (run_id, agent, skill, parent_run_id, started_at, ended_at, status, calls, cost_pusd)"
            " VALUES (?, ?, 's', ?, ?, ?, 'ok', 1, ?)",
            (run_id, run_id, parent, at, at + 1, cost),
        )
        conn.execute(
            "INSERT INTO attempts (run_id, started_at, provider, model, agent, skill, outcome, cost_pusd)"
            " VALUES (?, ?, 'openai', 'gpt-4o', ?, 's', 'ok', ?)",
            (run_id, at, run_id, cost),
        )
    conn.close()

    async with Ledger(db) as ledger:
        runs = await ledger.query_runs({"run_id": "mag"})
        summary = await ledger.summarize({"run_id": "mag"})
        spend = await ledger.run_spend("mag")
        whole = await ledger.summarize()
    assert sorted(r["run_id"] for r in runs) == ["mag", "sag1", "sag2", "sag3"]
    assert {r["run_id"]: r["parent_run_id"] for r in runs} == {"mag": None, "sag1": "mag", "sag2": "mag", "sag3": "mag"}
    assert summary["totals"]["known_cost_usd"] == spend.to_dict()["known_usd"] == "0.000000004321"
    assert whole["largest_run"]["run_id"] == "other"  # 0.00000005 > the tree's 0.000000004321
    assert summary["largest_run"] == {
        "run_id": "mag",
        "delegated_runs": 3,
        "known_cost_usd": "0.000000004321",
        "unknown_cost_bound_usd": "0",
        "at_most_usd": "0.000000004321",
        "unbounded_attempts": 0,
    }


async def test_the_first_open_after_an_upgrade_leaves_no_write_ahead_log_of_the_migration(tmp_path: Path):
    """The first open after an upgrade migrates the ledger (0014 rebuilds the usage rollup from every attempt),
    and SQLite writes all that into the -wal file, which it shrinks only when the last connection closes: the
    magsag-mcp server that upgraded a year's ledger kept a 112 MB -wal beside its 487 MB ledger for as long as
    it ran. Now the log is checkpointed into the ledger and truncated once the migrations are applied."""
    db = tmp_path / "upgraded.db"
    conn = ledger_of_schema(db, MIGRATIONS[:13])
    day = 20_000 * 86400.0
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO attempts (run_id, started_at, provider, model, agent, skill, outcome, cost_pusd)"
        " VALUES (?, ?, 'openai', ?, ?, 's', 'ok', 1000)",
        [(f"r{i}", day + i * 3600.0, f"model-{i % 50}", f"agent-{i % 7}") for i in range(20_000)],
    )
    conn.execute("COMMIT")
    conn.close()

    async with Ledger(db) as ledger:
        wal = Path(f"{db}-wal")
        assert not wal.exists() or wal.stat().st_size < 256 * 1024, wal.stat().st_size
        summary = await ledger.summarize()
    assert (summary["totals"]["calls"], summary["totals"]["known_cost_usd"]) == (20_000, "0.00002")
