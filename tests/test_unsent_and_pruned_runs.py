"""A run that a prune took calls from, with no cost to show it (a call at $0: a request the vendor refused, a
free model's), was reported whole: its calls outnumber the attempts left, and ``query_runs`` and the summary's
``largest_run`` (which now decides it as query_runs does, see pruned_runs) say its attempts were pruned."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.pruned_runs_helpers import PRUNED_AFTER_S, record_mag_and_sag_then_prune

pytestmark = pytest.mark.anyio


async def _zero_cost_call_pruned(db: Path) -> None:
    """Run mag's first call, 100 days old, a request its vendor refused ($0, no tokens); its second a minute ago
    ($0.01); sag, delegated from mag a minute ago; then a prune of what is 90 days old."""
    now = time.time()
    async with Ledger(db) as ledger:
        old = now - 100 * 86400
        refused = AttemptRecord(
            "mag", old, "fake", "m", "s", "a", "error", 0, 1, "bad_request", "400", cost_usd=Decimal(0)
        )
        await ledger.record_call(RunRecord("mag", "a", "s", old), [refused])
        paid = AttemptRecord("mag", now - 60, "fake", "m", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.01"))
        await ledger.record_call(RunRecord("mag", "a", "s", now - 60), [paid])
        sag = AttemptRecord("sag", now - 60, "fake", "m", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.01"))
        await ledger.record_call(RunRecord("sag", "a", "s", now - 60, parent_run_id="mag"), [sag])
        await ledger.prune(PRUNED_AFTER_S)


async def test_a_run_with_more_calls_than_attempts_left_says_its_attempts_were_pruned(tmp_path: Path):
    db = tmp_path / "l.db"
    await _zero_cost_call_pruned(db)
    async with Ledger(db) as ledger:
        page = await ledger.query_runs_page()
        listed_none = await ledger.query_runs_page(None, 0)
    runs = {r["run_id"]: r for r in page["runs"]}
    mag = runs["mag"]
    assert (mag["calls"], len(mag["attempts"])) == (2, 1), mag
    assert mag.get("attempts_pruned") is True, mag  # before: no word of it
    assert "attempts_pruned" not in runs["sag"], runs["sag"]
    assert {r["run_id"]: r.get("attempts_pruned") for r in listed_none["runs"]} == {"mag": True, "sag": None}


async def test_the_largest_run_says_a_zero_cost_call_was_pruned(tmp_path: Path):
    db = tmp_path / "l.db"
    await _zero_cost_call_pruned(db)
    async with Ledger(db) as ledger:
        summary = await ledger.summarize()
    largest = summary["largest_run"]
    assert (largest["run_id"], largest["known_cost_usd"]) == ("mag", "0.02"), largest
    assert largest.get("attempts_pruned") is True, largest  # before: reported whole


async def test_the_largest_run_says_a_free_runs_attempts_were_pruned(tmp_path: Path):
    """A free model's run ($0, its tokens kept on its row) whose attempts a prune deleted: query_runs said so (its
    tokens), the summary's largest_run, deciding it apart (a cost left to add up), did not."""
    async with Ledger(tmp_path / "l.db") as ledger:
        await record_mag_and_sag_then_prune(ledger, free=True)
        runs = {r["run_id"]: r for r in await ledger.query_runs()}
        summary = await ledger.summarize()
    assert runs["mag"].get("attempts_pruned") is True
    largest = summary["largest_run"]
    assert (largest["run_id"], largest["delegated_runs"]) == ("mag", 1), largest
    assert largest.get("attempts_pruned") is True, largest  # before: reported whole


async def test_a_call_that_recorded_no_attempt_is_no_prune(tmp_path: Path):
    """A call that failed before any attempt (an invalid payload) records its run's call and no attempt: a run begun so
    in a ledger never pruned has more calls than attempts, and lost none."""
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        await ledger.record_call(RunRecord("mag", "a", "s", now - 120, status="error"), [])
        paid = AttemptRecord("mag", now - 60, "fake", "m", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.01"))
        await ledger.record_call(RunRecord("mag", "a", "s", now - 60), [paid])
        (run,) = await ledger.query_runs()
        listed_none = (await ledger.query_runs_page(None, 0))["runs"]
        largest = (await ledger.summarize())["largest_run"]
    assert (run["calls"], len(run["attempts"])) == (2, 1), run
    assert "attempts_pruned" not in run and "attempts_pruned" not in listed_none[0], run
    assert largest["run_id"] == "mag" and "attempts_pruned" not in largest, largest
