"""A pruned run tree's attempts of unknown cost with no bound (a model of no known price): the runs' rows keep them
when a prune deletes the attempts (their run limit counts them), but a run's spend (``run_spend``, which
``obs.get_current_cost()`` and ``magsag budget --run-id`` show, and ``check_budget``'s "N attempts of unknown cost")
and a summary's largest run counted them among the attempts left only: too few, as if the prune had priced them. Both
now count those a prune took as ``query_runs`` does for one run (pruned_runs.run_pruned). And ``query_runs`` no longer
adds up again the attempts of a run no prune can have taken from."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

OLD = 100 * 86400


def _attempt(run: str, at: float, cost: str | None, bound: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        run, at, "fake", "m", "s", "a", "ok", 0, 1,
        cost_usd=None if cost is None else Decimal(cost), cost_bound_usd=None if bound is None else Decimal(bound),
    )  # fmt: skip


async def _tree(db: Path, *, prune: bool = True) -> None:
    """``top`` and ``kid`` (delegated from it): each an old call of no known price (100 days) and a recent one, then
    a prune of what is 90 days old. ``top``'s recent call is priced, ``kid``'s of no known price; ``bounded`` (a run
    of its own) an old call of unknown cost that had a bound: not counted as of no bound once pruned."""
    now = time.time()
    calls = {"top": (None, "1"), "kid": (None, None)}
    async with Ledger(db) as ledger:
        for run, (old, recent) in calls.items():
            parent = "top" if run == "kid" else None
            for at, cost in ((now - OLD, old), (now - 30, recent)):
                await ledger.record_call(RunRecord(run, "a", "s", at, parent_run_id=parent), [_attempt(run, at, cost)])
        for at, cost, bound in ((now - OLD, None, "0.5"), (now - 20, "0.01", None)):
            await ledger.record_call(RunRecord("bounded", "a", "s", at), [_attempt("bounded", at, cost, bound)])
        if prune:
            await ledger.prune(90 * 86400)


@pytest.mark.anyio
@pytest.mark.parametrize("prune", [True, False])
async def test_a_runs_spend_counts_the_attempts_of_no_known_price_a_prune_took(tmp_path: Path, prune: bool):
    db = tmp_path / "l.db"
    await _tree(db, prune=prune)
    async with Ledger(db) as ledger:
        top, kid, bounded = [await ledger.run_spend(run) for run in ("top", "kid", "bounded")]
    # top's scope: its old call, kid's old call (both pruned) and kid's recent one (before: 1, the one left)
    assert (top.unknown_attempts, top.unbounded_attempts) == (3, 3), top
    assert (kid.unknown_attempts, kid.unbounded_attempts) == (2, 2), kid
    assert (bounded.unknown_attempts, bounded.unbounded_attempts) == (1, 0), bounded  # its bound kept: not unbounded
    assert bounded.unknown_cost_bound_usd == Decimal("0.5"), bounded


@pytest.mark.anyio
@pytest.mark.parametrize("prune", [True, False])
async def test_the_summarys_largest_run_counts_the_attempts_of_no_known_price_a_prune_took(tmp_path: Path, prune: bool):
    db = tmp_path / "l.db"
    await _tree(db, prune=prune)
    async with Ledger(db) as ledger:
        every = await ledger.summarize()
        by_run = await ledger.summarize(UsageFilters.build({"run_id": "top"}))
        by_model = await ledger.summarize(UsageFilters.build({"model": "m"}))
    left = 1 if prune else 3  # the summary's own: the attempts left
    for summary in (every, by_run, by_model):
        largest = summary["largest_run"]
        assert summary["totals"]["unbounded_attempts"] == left, summary["totals"]
        assert largest["run_id"] == "top" and largest["at_most_usd"] is None, largest
        # the tree's 3 (before: 1 where pruned, the one left, beside the run limit's count of 3)
        assert largest["unbounded_attempts"] == 3, (summary["totals"], largest)


@pytest.mark.anyio
async def test_query_runs_does_not_add_up_again_a_run_no_prune_can_have_taken_from(tmp_path: Path):
    """Listing none of its attempts, query_runs added up each run's attempts left against its row: a read more per
    run, where only a run begun before the ledger's oldest attempt can have lost some (a prune deletes every attempt
    before its cutoff). The recent run is not read again; the old ones are, and say what they did."""
    from tests.test_partly_pruned_runs import _ledger

    db = tmp_path / "l.db"
    await _ledger(db)
    statements: list[str] = []
    async with Ledger(db) as ledger:
        await ledger.read(lambda conn: conn.set_trace_callback(statements.append), snapshot=False)
        page = await ledger.query_runs_page(None, 0)
        await ledger.read(lambda conn: conn.set_trace_callback(None), snapshot=False)
    # (pruned_runs._RUN_LEFT: the attempts left's cost and those of unknown cost)
    left = [s for s in statements if "SUM(cost_pusd IS NULL), 0) FROM attempts WHERE run_id = '" in s]
    added_up = {s.split("run_id = '")[1].split("'")[0] for s in left}
    assert added_up == {"priced", "unpriced", "bounded"}, statements  # before: "recent" too
    runs = {r["run_id"]: r for r in page["runs"]}
    assert {r for r in runs if runs[r].get("attempts_pruned")} == {"priced", "unpriced", "bounded"}, runs
    assert runs["recent"]["unbounded_attempts"] == 1 and runs["unpriced"]["unbounded_attempts"] == 1, runs


@pytest.mark.anyio
async def test_check_budget_counts_the_attempts_of_no_known_price_a_prune_took(tmp_path: Path):
    """``check_budget``'s run limit (budget_status) says how many attempts of its scope have no bound, by which its
    remaining_usd is an upper bound only: read from the attempts left, it said 1 of the tree's 3."""
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.status import budget_status

    db = tmp_path / "l.db"
    await _tree(db)
    caps = PolicySet([Policy(name="cap", thresholds={"max_cost_per_run_usd": "5"})])
    async with Ledger(db) as ledger:
        status = await budget_status(caps, ledger, run_id="kid")  # a delegated run: its parent's limit, top's tree
    [run] = [lim for lim in status["limits"] if lim["limit"] == "run"]
    assert (run["unpriced_attempts"], run["unbounded_attempts"], run["cost_complete"]) == (3, 3, False), run
