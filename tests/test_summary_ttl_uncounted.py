"""A summary's cache_write_ttl_unsaid_tokens counts since 0033: an attempt recorded before it that wrote to the cache
holds NULL there (not counted then) and adds nothing, so the figure of an upgraded ledger may be a part. Beside it,
``cache_write_ttl_uncounted_attempts`` says how many attempts it leaves out, per model, provider, agent and skill and
in all, whatever part of the period the rollup covers (0034's index finds them); 0 for a ledger of none. Before, a
user reading the total could not tell it was partial."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.mcp_server.summary_models import UsageSummaryResult
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.usage_dicts import UsageStatsDict

pytestmark = pytest.mark.anyio
DAY = 20_400 * 86400.0


def _attempt(run_id: str, at: float, model: str, agent: str, written: int, unsaid: int = 0) -> AttemptRecord:
    return AttemptRecord(
        run_id, at, "anthropic", model, "s", agent, "ok", 0, 1, input_tokens=1_000, output_tokens=10,
        cache_write_tokens=written, cache_write_ttl_unsaid_tokens=unsaid, cost_usd=Decimal("0.01"),
    )  # fmt: skip


async def _record(ledger: Ledger, attempt: AttemptRecord) -> None:
    at, run_id = attempt.started_at, attempt.run_id
    await ledger.record_call(RunRecord(run_id, attempt.agent, "s", at, ended_at=at, status="ok"), [attempt])


def _as_before_0033(db: Path, run_ids: list[str]) -> None:
    """The runs' attempts as a version before 0033 left them: no count of unsaid writes (NULL)."""
    conn = sqlite3.connect(db)
    with conn:
        marks = ",".join("?" * len(run_ids))
        conn.execute(f"UPDATE attempts SET cache_write_ttl_unsaid_tokens = NULL WHERE run_id IN ({marks})", run_ids)
    conn.close()


async def test_a_summary_counts_beside_the_unsaid_writes_the_attempts_recorded_before_it_could_count_them(
    tmp_path: Path,
):
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, _attempt("old-1", DAY + 10, "m1", "ana", 500))  # wrote to the cache: uncounted
        await _record(ledger, _attempt("old-2", DAY + 20, "m2", "bob", 300))
        await _record(ledger, _attempt("old-none", DAY + 30, "m1", "ana", 0))  # wrote none: none of it unsaid
        await _record(ledger, _attempt("new", DAY + 86400 + 10, "m1", "ana", 800, unsaid=200))
    _as_before_0033(db, ["old-1", "old-2", "old-none"])
    async with Ledger(db) as ledger:
        whole = await ledger.summarize()
        edge = await ledger.summarize({"since": DAY + 15})  # (a partial day: read from the attempts)
        run = await ledger.summarize({"run_id": "old-1"})
        later = await ledger.summarize({"since": DAY + 86400})
        m2 = await ledger.summarize({"model": "m2"})
        plan = await ledger.read(
            lambda c: c.execute(
                "EXPLAIN QUERY PLAN SELECT 1 FROM attempts"
                " WHERE cache_write_ttl_unsaid_tokens IS NULL AND cache_write_tokens > 0 LIMIT 1"
            ).fetchall()
        )
    totals = whole["totals"]
    assert totals["cache_write_ttl_unsaid_tokens"] == 200 and totals["cache_write_ttl_uncounted_attempts"] == 2
    assert whole["model_stats"]["m1"]["cache_write_ttl_uncounted_attempts"] == 1
    assert whole["model_stats"]["m2"]["cache_write_ttl_uncounted_attempts"] == 1
    assert whole["by_agent"]["ana"]["cache_write_ttl_uncounted_attempts"] == 1
    assert whole["by_agent"]["bob"]["cache_write_ttl_uncounted_attempts"] == 1
    assert whole["by_provider"]["anthropic"]["cache_write_ttl_uncounted_attempts"] == 2
    assert whole["by_skill"]["s"]["cache_write_ttl_uncounted_attempts"] == 2
    assert edge["totals"]["cache_write_ttl_uncounted_attempts"] == 1  # old-1 is before the since
    assert run["totals"]["cache_write_ttl_uncounted_attempts"] == 1
    assert later["totals"]["cache_write_ttl_uncounted_attempts"] == 0  # the new attempt's figure is whole
    assert m2["totals"]["cache_write_ttl_uncounted_attempts"] == 1
    assert m2["totals"]["cache_write_ttl_unsaid_tokens"] == 0
    assert "attempts_cache_write_ttl_uncounted" in str(plan)  # found by 0034's index, not a scan of every attempt
    # summarize_usage's result carries it, per breakdown and in all, as the TypedDicts say
    shown = UsageSummaryResult.model_validate(whole).model_dump(by_alias=True)
    assert shown["totals"]["cache_write_ttl_uncounted_attempts"] == 2
    assert shown["model_stats"]["m1"]["cache_write_ttl_uncounted_attempts"] == 1
    assert "cache_write_ttl_uncounted_attempts" in UsageStatsDict.__annotations__


async def test_a_ledger_this_version_made_counts_none_uncounted(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        await _record(ledger, _attempt("r", DAY + 10, "m1", "ana", 500, unsaid=500))
        summary = await ledger.summarize()
    assert summary["totals"]["cache_write_ttl_unsaid_tokens"] == 500
    assert summary["totals"]["cache_write_ttl_uncounted_attempts"] == 0
    assert summary["model_stats"]["m1"]["cache_write_ttl_uncounted_attempts"] == 0


async def test_a_summary_of_no_filter_counts_them_down_0034s_index_not_every_attempt(tmp_path: Path):
    """The count's own query, as the summary of a whole upgraded ledger runs it: grouped by its columns, SQLite walked
    attempts_model whole (every attempt of the ledger, to save sorting the few it counts), not 0034's index."""
    from magsag_mcp.ledger.filters import UsageFilters
    from magsag_mcp.ledger.ttl_uncounted import ttl_uncounted

    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, _attempt("old", DAY + 10, "m1", "ana", 500))
        await _record(ledger, _attempt("new", DAY + 20, "m1", "ana", 0))
    _as_before_0033(db, ["old"])
    conn = sqlite3.connect(db)
    run: list[str] = []
    conn.set_trace_callback(run.append)
    try:
        assert ttl_uncounted(conn, UsageFilters()) == {
            ("model", "m1"): 1, ("provider", "anthropic"): 1, ("agent", "ana"): 1, ("skill", "s"): 1, ("totals", ""): 1,
        }  # fmt: skip
        conn.set_trace_callback(None)
        [counted] = [sql for sql in run if "COUNT(*)" in sql]
        plan = str(conn.execute(f"EXPLAIN QUERY PLAN {counted}").fetchall())
    finally:
        conn.close()
    assert "USING INDEX attempts_cache_write_ttl_uncounted" in plan and "attempts_model" not in plan, plan


@pytest.mark.parametrize(
    "filters",
    [{"model": "m1"}, {"agent": "ana"}, {"model": "m1", "agent": "ana"}, {"model": "m1", "since": DAY + 5}],
    ids=["model", "agent", "model-and-agent", "model-since"],
)
async def test_a_summary_of_a_model_or_agent_counts_them_down_0034s_index_not_that_filters(
    tmp_path: Path, filters: dict[str, object]
):
    """A model or agent filter led SQLite down attempts_model or attempts_agent: every attempt of that model or agent
    (most of a ledger of 1,000,000 that uses one model), each row sought to test the condition, to find the few
    recorded before 0033. 0034's index holds those alone and every column the filters read."""
    from magsag_mcp.ledger.filters import UsageFilters
    from magsag_mcp.ledger.ttl_uncounted import ttl_uncounted

    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, _attempt("old", DAY + 10, "m1", "ana", 500))
        await _record(ledger, _attempt("old-bob", DAY + 11, "m2", "bob", 500))
        await _record(ledger, _attempt("new", DAY + 20, "m1", "ana", 0))
    _as_before_0033(db, ["old", "old-bob"])
    conn = sqlite3.connect(db)
    run: list[str] = []
    conn.set_trace_callback(run.append)
    try:
        counted_now = ttl_uncounted(conn, UsageFilters(**filters))  # type: ignore[arg-type]
        conn.set_trace_callback(None)
        [counted] = [sql for sql in run if "COUNT(*)" in sql]
        plan = str(conn.execute(f"EXPLAIN QUERY PLAN {counted}").fetchall())  # (the trace writes the values in)
    finally:
        conn.close()
    assert counted_now[("totals", "")] == 1 and counted_now[("model", "m1")] == 1
    assert "USING INDEX attempts_cache_write_ttl_uncounted" in plan, plan
    assert "attempts_model" not in plan and "attempts_agent" not in plan, plan


async def test_a_model_filters_count_of_a_ledger_without_0034s_index_reads_the_attempts(tmp_path: Path):
    """The version before's ledger, read where it lies, holds 0033's column but not 0034's index: the count names no
    index it lacks (SQLite would refuse the query), and counts the same."""
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, _attempt("old", DAY + 10, "m1", "ana", 500))
    _as_before_0033(db, ["old"])
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP INDEX attempts_cache_write_ttl_uncounted")
        from magsag_mcp.ledger.filters import UsageFilters
        from magsag_mcp.ledger.ttl_uncounted import ttl_uncounted

        assert ttl_uncounted(conn, UsageFilters(model="m1"))[("totals", "")] == 1
    finally:
        conn.close()
