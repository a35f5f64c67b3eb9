"""A run whose attempts a prune deleted in part: its row keeps what they all added up to (the spend its run limit
counts), and the attempts left add up to less. ``query_runs`` flagged ``attempts_pruned`` only for a run with none
left, so a run of some left showed a cost they did not add up to with no word why, and counted its attempts of no
known bound among those left only (0 where the one of unknown price was pruned). It now says its attempts were pruned
whenever its row holds more than its attempts left, and counts the pruned ones of unknown cost that the row's bound
shows had none."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.ledger_models import QueryRunsResult
from magsag_mcp.records import AttemptRecord, RunRecord

OLD = 100 * 86400


def _attempt(run: str, at: float, cost: str | None, bound: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        run, at, "fake", "m", "s", "a", "ok", 0, 1,
        cost_usd=None if cost is None else Decimal(cost), cost_bound_usd=None if bound is None else Decimal(bound),
    )  # fmt: skip


async def _ledger(db: Path) -> None:
    """Each run: an old call (100 days) and a recent one (a minute); then a prune of what is 90 days old."""
    now = time.time()
    calls = {
        "priced": (("0.01", None), ("0.02", None)),  # an old call of known cost
        "unpriced": ((None, None), ("0.02", None)),  # an old call of unknown price: no bound
        "bounded": ((None, "0.5"), ("0.02", None)),  # an old call of unknown cost, bounded
        "recent": ((None, None), ("0.02", None)),  # the same calls, both recent: nothing pruned
    }
    async with Ledger(db) as ledger:
        for run, ((old_cost, old_bound), (cost, _)) in calls.items():
            first = now - (60 if run == "recent" else OLD)
            await ledger.record_call(RunRecord(run, "a", "s", first), [_attempt(run, first, old_cost, old_bound)])
            await ledger.record_call(RunRecord(run, "a", "s", now - 30), [_attempt(run, now - 30, cost)])
        await ledger.prune(90 * 86400)


@pytest.mark.anyio
async def test_query_runs_says_a_runs_attempts_were_pruned_when_some_are_left(tmp_path: Path):
    db = tmp_path / "l.db"
    await _ledger(db)
    async with Ledger(db) as ledger:
        page = await ledger.query_runs_page()
        listed_none = await ledger.query_runs_page(None, 0)
    runs = {r["run_id"]: r for r in page["runs"]}
    priced, unpriced, bounded, recent = (runs[r] for r in ("priced", "unpriced", "bounded", "recent"))
    # the row keeps both calls' cost; one attempt left
    assert (priced["calls"], priced["cost_usd"], len(priced["attempts"])) == (2, "0.03", 1), priced
    assert priced.get("attempts_pruned") is True, priced  # before: no word of it
    assert unpriced.get("attempts_pruned") is True and bounded.get("attempts_pruned") is True, (unpriced, bounded)
    # the pruned attempt of no known price still counts (before: 0, counted from the attempt left)
    assert (unpriced["unpriced_attempts"], unpriced["unbounded_attempts"], unpriced["unbounded_calls"]) == (1, 1, 1)
    # the pruned one had a bound (the row keeps it): not counted as of no bound
    assert (bounded["unpriced_attempts"], bounded["unbounded_attempts"], bounded["cost_bound_usd"]) == (1, 0, "0.5")
    assert "attempts_pruned" not in recent and recent["unbounded_attempts"] == 1, recent
    assert len(recent["attempts"]) == 2
    flagged = {r["run_id"] for r in listed_none["runs"] if r.get("attempts_pruned")}
    assert flagged == {"priced", "unpriced", "bounded"}, listed_none  # listing none of them says the same
    # (read from the ledger there, from the attempts listed here: the same counts)
    counts = {r["run_id"]: (r["unpriced_attempts"], r["unbounded_attempts"]) for r in listed_none["runs"]}
    assert counts == {r: (runs[r]["unpriced_attempts"], runs[r]["unbounded_attempts"]) for r in runs}, counts
    result = QueryRunsResult.model_validate({**page, "notes": []})
    assert {r.run_id for r in result.runs if r.attempts_pruned} == flagged


def test_the_runs_table_names_the_models_left_and_says_some_attempts_were_pruned(
    tmp_path: Path, monkeypatch, capsys
):
    db = tmp_path / "l.db"
    anyio.run(_ledger, db)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert main(["data", "query"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["priced"].rstrip().endswith("m (attempts pruned)"), lines  # before: "m", as if it were all
    assert lines["recent"].rstrip().endswith("m"), lines
    assert "(attempts pruned)" not in lines["recent"], lines


@pytest.mark.anyio
async def test_the_summarys_largest_run_says_its_figures_hold_a_cost_pruned_in_part(tmp_path: Path):
    """largest_run counts a run's row, which holds its pruned attempts' cost, beside totals read from the attempts
    left: it said so (attempts_pruned) only for a run with none left."""
    db = tmp_path / "l.db"
    await _ledger(db)
    async with Ledger(db) as ledger:
        summary = await ledger.summarize()
        priced = await ledger.summarize(UsageFilters.build({"run_id": "priced"}))
        recent = await ledger.summarize(UsageFilters.build({"run_id": "recent"}))
    largest = summary["largest_run"]
    figures = (largest["run_id"], largest["known_cost_usd"], largest["unknown_cost_bound_usd"])
    assert figures == ("bounded", "0.02", "0.5"), largest
    assert largest.get("attempts_pruned") is True, largest  # before: no word of it
    assert (priced["largest_run"]["known_cost_usd"], priced["totals"]["known_cost_usd"]) == ("0.03", "0.02")
    assert priced["largest_run"].get("attempts_pruned") is True, priced["largest_run"]
    assert "attempts_pruned" not in recent["largest_run"], recent["largest_run"]
