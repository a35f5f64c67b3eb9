"""A run whose attempts a prune deleted while its row stays (the spend its run limit counts: a delegating run whose
delegated runs go on, a run paused less than two days): ``query_runs`` showed its calls and cost with an empty list
of attempts, as if the run had called nothing and its cost came from nowhere. It now says its attempts were pruned
(``attempts_pruned``), in the MCP result and the CLI's table; a run listing its attempts, or one with no cost, says
nothing new."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.ledger_models import QueryRunsResult, UsageSummaryResult
from tests.pruned_runs_helpers import record_mag_and_sag_then_prune


async def _pruned(db: Path) -> None:
    async with Ledger(db) as ledger:
        await record_mag_and_sag_then_prune(ledger)


@pytest.mark.anyio
async def test_query_runs_says_a_kept_runs_attempts_were_pruned(tmp_path: Path):
    db = tmp_path / "l.db"
    await _pruned(db)
    async with Ledger(db) as ledger:
        page = await ledger.query_runs_page()
        listed_none = await ledger.query_runs_page(None, 0)  # (the CLI's table lists none: attempts_omitted)
        spend = await ledger.run_spend("mag")
    runs = {r["run_id"]: r for r in page["runs"]}
    mag, sag = runs["mag"], runs["sag"]
    # its row's cost and calls stay (its run limit counts them), with no attempt left
    assert (mag["calls"], mag["cost_usd"], mag["attempts"]) == (1, "0.01", []), mag
    assert mag["attempts_pruned"] is True, mag  # before: no word of it
    assert "attempts_pruned" not in sag and len(sag["attempts"]) == 1, sag
    assert spend.known_usd == Decimal("0.02")  # counted once each: mag's row and sag's
    by_id = {r["run_id"]: r for r in listed_none["runs"]}
    assert by_id["mag"].get("attempts_pruned") is True and "attempts_pruned" not in by_id["sag"], by_id
    assert QueryRunsResult.model_validate({**page, "notes": []}).runs[1].attempts_pruned is True


def test_the_runs_table_says_so_in_place_of_its_models(tmp_path: Path, monkeypatch, capsys):
    db = tmp_path / "l.db"
    anyio.run(_pruned, db)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert main(["data", "query"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["mag"].rstrip().endswith("(attempts pruned)"), lines  # before: an empty models cell
    assert lines["sag"].rstrip().endswith("m"), lines


@pytest.mark.anyio
async def test_the_summarys_largest_run_says_its_figures_hold_a_pruned_cost(tmp_path: Path):
    """largest_run counts the tree as its run limit does, mag's kept row with sag's ($0.02), while the totals, read from
    the attempts left, hold sag's alone ($0.01): a run costlier than everything, unexplained. It says why."""
    db = tmp_path / "l.db"
    await _pruned(db)
    async with Ledger(db) as ledger:
        summary = await ledger.summarize()
        sag_alone = await ledger.summarize(UsageFilters.build({"run_id": "sag"}))
    largest = summary["largest_run"]
    assert (largest["run_id"], largest["known_cost_usd"]) == ("mag", "0.02")
    assert summary["totals"]["known_cost_usd"] == "0.01"
    assert largest["attempts_pruned"] is True, largest  # before: no word of it
    # sag's figure alone holds no pruned cost
    assert sag_alone["largest_run"]["known_cost_usd"] == "0.01", sag_alone["largest_run"]
    assert "attempts_pruned" not in sag_alone["largest_run"], sag_alone["largest_run"]
    assert UsageSummaryResult.model_validate(summary).largest_run.attempts_pruned is True


@pytest.mark.anyio
async def test_a_free_runs_pruned_attempts_are_said_too(tmp_path: Path):
    """A run of a free model (local, recorded at $0) whose attempts a prune deleted showed its call and tokens beside
    an empty list of attempts and an empty models cell, no word of the prune: its tokens, which only an attempt
    gives, say that it had some."""
    async with Ledger(tmp_path / "l.db") as ledger:
        await record_mag_and_sag_then_prune(ledger, free=True)
        page = await ledger.query_runs_page()
    runs = {r["run_id"]: r for r in page["runs"]}
    mag, sag = runs["mag"], runs["sag"]
    assert (mag["calls"], mag["total_tokens"], mag["cost_usd"], mag["attempts"]) == (1, 150, "0", []), mag
    assert mag.get("attempts_pruned") is True, mag  # before: no word of it
    assert "attempts_pruned" not in sag and len(sag["attempts"]) == 1, sag
