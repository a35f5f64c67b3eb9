"""Pruning the ledger (``magsag data prune``): what goes, what a run's limit still counts and so stays, and
summaries that still equal a scan of the attempts left."""

from __future__ import annotations

import re
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


async def test_prune_and_vacuum(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        # (past the 90 days kept and the 33 days of spend buckets kept before them for a month limit)
        old = time.time() - 130 * 86400
        paid = {"cost_usd": Decimal("0.01")}
        await ledger.record_call(
            RunRecord("old", "a", "s", old), [AttemptRecord("old", old, "fake", "m", "s", "a", "ok", 0, 1, **paid)]
        )
        now = time.time()
        await ledger.record_call(
            RunRecord("new", "a", "s", now), [AttemptRecord("new", now, "fake", "m", "s", "a", "ok", 0, 1, **paid)]
        )
        counts = await ledger.prune(90 * 86400)
        assert counts["attempts"] == 1 and counts["runs"] == 1
        assert [r["run_id"] for r in await ledger.query_runs()] == ["new"]
        # the old day's spend buckets go too, the agent's and every call's
        kept = await ledger.read(
            lambda conn: [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("agent_spend", "day_spend")]
        )
        assert kept == [1, 1]


async def test_a_retention_given_as_text_is_read_by_the_ledger_as_data_prune_reads_it(tmp_path: Path):
    """`data prune --older-than 90d`'s reading of its text (hours, days or weeks; minutes and seconds refused:
    "3m" meant as three months) is the ledger's, for a Python caller to prune as the CLI does."""
    from magsag_mcp.ledger.prune import retention_seconds

    assert [retention_seconds(t) for t in ("90d", "12w", " 48h ", "1.5d")] == [7776000, 7257600, 172800, 129600]
    for text, unit in (("3m", "minutes (m is minutes, not months)"), ("30s", "seconds")):
        with pytest.raises(InputError, match=rf"counts in {re.escape(unit)}, which no retention is counted in"):
            retention_seconds(text)
    with pytest.raises(InputError, match="is not a duration"):
        retention_seconds("three months")
    async with Ledger(tmp_path / "l.db") as ledger:
        for run_id, at in (("old", time.time() - 100 * 86400), ("new", time.time())):
            attempt = AttemptRecord(run_id, at, "fake", "m", "s", "a", "ok", 0, 1)
            await ledger.record_call(RunRecord(run_id, "a", "s", at), [attempt])
        counts = await ledger.prune(retention_seconds("90d"))
        assert counts["attempts"] == 1 and [r["run_id"] for r in await ledger.query_runs()] == ["new"]


async def test_prune_keeps_the_row_of_a_run_with_a_call_in_flight(tmp_path: Path):
    # A long agent run whose recorded calls are all older than the cutoff, with a call in flight now.
    # Before, prune deleted its row, and with it the spend its run limit counts: the limit started
    # again from $0 in the middle of the run. The same for a delegating run whose child is calling.
    async with Ledger(tmp_path / "l.db") as ledger:
        # (past the 90 days kept and the 33 days of spend buckets kept before them for a month limit)
        old = time.time() - 130 * 86400
        paid = {"cost_usd": Decimal("0.01")}
        for run in ("long", "mag", "done"):
            await ledger.record_call(
                RunRecord(run, "a", "s", old), [AttemptRecord(run, old, "fake", "m", "s", "a", "ok", 0, 1, **paid)]
            )
        now = time.time()
        for budget_run, attempt_run in (("long", "long"), ("mag", "sag-1")):
            await ledger.submit(
                lambda c, b=budget_run, r=attempt_run: c.execute(
                    "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
                    " attempt_run_id) VALUES (?, 'a', ?, ?, 1000, 'held', ?)",
                    (b, now, now + 900, r),
                )
            )
        counts = await ledger.prune(90 * 86400)
        kept = await ledger.read(lambda c: sorted(r[0] for r in c.execute("SELECT run_id FROM runs")))
        long_spend = await ledger.run_spend("long")
        mag_spend = await ledger.run_spend("mag")
    assert counts["attempts"] == 3 and counts["runs"] == 1  # "done" goes; its attempts go in every case
    assert kept == ["long", "mag"]
    assert long_spend.known_usd == Decimal("0.01") and mag_spend.known_usd == Decimal("0.01")


async def test_prune_mid_day_keeps_summaries_equal_to_a_scan(tmp_path: Path):
    # The cutoff falls inside a UTC day: that day's rollup must lose exactly the pruned attempts.
    async with Ledger(tmp_path / "l.db") as ledger:
        cutoff = time.time() - 100 * 86400
        for h in range(-30, 31):
            t = cutoff + (h + 0.5) * 3600
            run = RunRecord(f"r{h}", "a", "s", t)
            attempt = AttemptRecord(
                run.run_id,
                t,
                "openai",
                "gpt-4o",
                "s",
                "a",
                "ok",
                0,
                1,
                input_tokens=100 + h,
                output_tokens=10,
                cost_usd=Decimal("0.001") if h % 5 else None,  # some timed out: unknown, bounded
                cost_bound_usd=None if h % 5 else Decimal("0.02"),
            )
            await ledger.record_call(run, [attempt])
        counts = await ledger.prune(100 * 86400)
        assert counts["attempts"] == 30
        summary = await ledger.summarize(UsageFilters())
        conn = sqlite3.connect(tmp_path / "l.db")
        n, tokens, cost, unknown, bound = conn.execute(
            "SELECT COUNT(*), SUM(input_tokens), SUM(cost_pusd), SUM(cost_pusd IS NULL), SUM(cost_bound_pusd)"
            " FROM attempts"
        ).fetchone()
        stats = summary["model_stats"]["gpt-4o"]
        assert (stats["calls"], stats["input_tokens"]) == (n, tokens) == (31, sum(100 + h for h in range(31)))
        assert Decimal(stats["known_cost_usd"]) == Decimal(cost) / 10**12 and stats["cost_usd_exact"] is None
        assert (stats["unpriced_calls"], stats["unbounded_calls"]) == (unknown, 0) == (7, 0)
        assert Decimal(stats["unknown_cost_bound_usd"]) == Decimal(bound) / 10**12 == Decimal("0.14")


async def test_prune_keeps_the_rows_whose_spend_a_live_run_limit_counts(tmp_path: Path):
    # A run's row is the spend its run limit counts. Before, `data prune --older-than 1h` deleted the row of a
    # run paused for two hours (an MCP session's, an agent's), and a 90d prune the row of a delegating run whose
    # own calls were old while its delegated runs went on: either run's limit started again from $0.
    now = time.time()
    paid = {"cost_usd": Decimal("0.01")}

    def call(run: str, at: float, parent: str | None = None) -> tuple[RunRecord, list[AttemptRecord]]:
        record = RunRecord(run, "a", "s", at, parent_run_id=parent)
        return record, [AttemptRecord(run, at, "fake", "m", "s", "a", "ok", 0, 1, **paid)]

    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(*call("paused", now - 2 * 3600))
        await ledger.record_call(*call("idle", now - 3 * 86400))
        await ledger.record_call(*call("mag", now - 100 * 86400))
        await ledger.record_call(*call("sag", now - 60, parent="mag"))
        await ledger.record_call(*call("old", now - 100 * 86400))
        short = await ledger.prune(3600)
        spend = {run: (await ledger.run_spend(run)).known_usd for run in ("paused", "mag")}
        assert await ledger.read(lambda c: sorted(r[0] for r in c.execute("SELECT run_id FROM runs"))) == [
            "mag",
            "paused",
            "sag",
        ]
    # the calls older than the cutoff go; the rows of runs idle for two days and more too ("idle", "old")
    assert short == {
        "attempts": 4,
        "runs": 2,
        "events": 0,
        "answers": 0,
        **({"vacuum": 0} if "vacuum" in short else {}),
    }
    assert spend == {"paused": Decimal("0.01"), "mag": Decimal("0.02")}  # mag's own call and its delegated run's
