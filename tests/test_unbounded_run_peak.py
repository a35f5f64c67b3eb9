"""A summary's costliest run (``largest_run``) counted whole, with the runs delegated from it, beside the attempts of
unknown cost with no bound (a model of no known price, admitted by ``allow_unpriced``) that its figures leave out.

Its ``at_most_usd`` is null where the tree holds one, whichever attempts the summary's filters select; its
``unbounded_attempts`` counts the summary's and those of the tree that the filters leave out, so that it is never 0
beside a null ``at_most_usd``. And a run-filtered summary, whose attempts are the tree's, does not read the tree again
to tell (a tree of 3,000 delegated runs: twice the summary's time)."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from tests.test_unbounded_peaks import DAY, _attempt, _record, _run


def _tree(db: Path, children: int, *, dark: int = 0) -> None:
    """Run ``top`` ($1.5, agent ana) and ``children`` runs delegated from it, each one call: the first ``dark`` on a
    model of no known price (unknown cost, no bound), the others priced at $0.01."""
    calls = [(_run("top", DAY), [_attempt("top", DAY, "metered", cost="1.5")])]
    for i in range(children):
        unpriced = i < dark
        at = DAY + 10 + i
        attempt = _attempt(f"c{i}", at, "mystery" if unpriced else "metered", cost=None if unpriced else "0.01")
        calls.append((_run(f"c{i}", at, parent="top"), [attempt]))
    asyncio.run(_record(db, calls))


def _summary_steps(db: Path, filters: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The summary and the SQLite steps (virtual machine instructions, in tens) its reads took."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    async def read() -> dict[str, Any]:
        async with Ledger(db) as ledger:
            await ledger.summarize(UsageFilters(**filters))  # (the reader's statements prepared, its pages read)
            await ledger.read(lambda conn: conn.set_progress_handler(step, 10), snapshot=False)
            steps[0] = 0
            return await ledger.summarize(UsageFilters(**filters))

    return asyncio.run(read()), steps[0]


def test_a_run_filtered_summary_tells_its_tree_of_no_known_price_without_reading_the_tree_again(tmp_path: Path):
    # The same tree, with and without 8 calls of no known price, summarized by its run: the unknown costs add the
    # same reads for 40 delegated runs as for 400 (the peak calls' few rows; the tree's own check read each of its
    # runs and their attempts again, about 6,000 more steps at 400)
    extra = []
    for children in (40, 400):
        dark, lit = tmp_path / f"dark-{children}.db", tmp_path / f"lit-{children}.db"
        _tree(dark, children, dark=8)
        _tree(lit, children)
        summary, dark_steps = _summary_steps(dark, {"run_id": "top"})
        priced, lit_steps = _summary_steps(lit, {"run_id": "top"})
        run = summary["largest_run"]
        assert (run["run_id"], run["delegated_runs"], run["at_most_usd"]) == ("top", children, None)
        assert run["unbounded_attempts"] == summary["totals"]["unbounded_attempts"] == 8
        whole = format((Decimal("1.5") + Decimal("0.01") * children).normalize(), "f")  # (none unknown)
        assert (priced["largest_run"]["at_most_usd"], priced["largest_run"]["unbounded_attempts"]) == (whole, 0)
        extra.append(dark_steps - lit_steps)
    assert extra[1] <= extra[0] + 20, extra


@pytest.mark.parametrize(
    ("filters", "summarys"),
    [
        ({}, 2),  # every attempt: c0's and the lone run's
        ({"run_id": "top"}, 1),  # the tree's own: c0's
        ({"model": "metered"}, 0),  # neither: c0's is left out, yet the tree (counted whole) holds it
        ({"until": str(DAY + 5)}, 0),  # neither: c0's call is after the window's end (top began before it)
        ({"agent": "ana"}, 2),  # both: c0's is the summary's, not counted again as the tree's
    ],
)
def test_the_costliest_run_holding_an_attempt_of_no_known_price_counts_it_whatever_the_filters(
    tmp_path: Path, filters: dict[str, Any], summarys: int
):
    # top ($1.5) and c0 (an attempt of no known price, delegated from top); lone, another run of no known price
    db = tmp_path / "l.db"
    _tree(db, 1, dark=1)
    asyncio.run(_record(db, [(_run("lone", DAY + 50), [_attempt("lone", DAY + 50, "mystery", cost=None)])]))
    summary, _ = _summary_steps(db, filters)
    assert summary["totals"]["unbounded_attempts"] == summarys
    run = summary["largest_run"]
    assert (run["run_id"], run["known_cost_usd"], run["at_most_usd"]) == ("top", "1.5", None), run
    # the summary's, and c0's where the filters leave it out: never 0 beside a null at_most_usd
    assert run["unbounded_attempts"] == summarys + (0 if summarys == 2 or "run_id" in filters else 1), run
    assert run["unbounded_attempts"] >= 1


def test_the_costliest_run_of_known_costs_beside_one_of_no_known_price_is_a_bound_of_itself_alone(tmp_path: Path):
    # filtered or not, a tree of known costs has its at_most_usd; unbounded_attempts says the summary's other run
    db = tmp_path / "l.db"
    _tree(db, 3)
    asyncio.run(_record(db, [(_run("lone", DAY + 50), [_attempt("lone", DAY + 50, "mystery", cost=None)])]))
    for filters, unbounded in (({}, 1), ({"model": "metered"}, 0), ({"run_id": "top"}, 0)):
        run = _summary_steps(db, filters)[0]["largest_run"]
        assert (run["run_id"], run["at_most_usd"], run["unbounded_attempts"]) == ("top", "1.53", unbounded), filters


def test_a_refused_attempt_of_no_recorded_cost_is_no_unknown_cost_of_the_tree(tmp_path: Path):
    # a refusal recorded with no cost (the service records one at $0, but a ledger written otherwise, as
    # benchmarks.ledger_scale writes its refusals, may not) was never sent: the summary counts it in no
    # unbounded_attempts, and the tree's check must count as the summary does (it counted it: at_most_usd null)
    db = tmp_path / "l.db"
    _tree(db, 2)
    refused = _attempt("c1", DAY + 40, "metered", "policy_denied", cost=None)
    asyncio.run(_record(db, [(_run("c1", DAY + 40, parent="top"), [refused])]))
    conn = sqlite3.connect(db)
    # the ledger now writes it at $0 (test_unsent_attempt_cost); one written before holds it NULL, as made here
    assert conn.execute("SELECT cost_pusd FROM attempts WHERE outcome = 'policy_denied'").fetchone()[0] == 0
    with conn:
        conn.execute("UPDATE attempts SET cost_pusd = NULL WHERE run_id = 'c1' AND outcome = 'policy_denied'")
        conn.execute("UPDATE runs SET unpriced_calls = 1 WHERE run_id = 'c1'")
        conn.execute("UPDATE usage_rollup SET unpriced = unpriced + 1 WHERE outcome = 'policy_denied'")
    assert conn.execute("SELECT unpriced_calls FROM runs WHERE run_id = 'c1'").fetchone()[0] == 1
    conn.close()
    for filters in ({}, {"model": "metered"}, {"agent": "ana"}):
        summary = _summary_steps(db, filters)[0]
        run = summary["largest_run"]
        assert summary["totals"]["unbounded_attempts"] == 0
        assert (run["run_id"], run["at_most_usd"], run["unbounded_attempts"]) == ("top", "1.52", 0), filters


def test_the_days_count_of_unknown_costs_reads_the_rest_only_of_an_attempt_of_unknown_cost(tmp_path: Path):
    # The days' read of a run-filtered summary (from the attempts: no rollup serves a run filter) counts those of
    # unbounded cost. Written as one AND, SQLite evaluated its three tests on every attempt, most of them priced: the
    # read took 0.70 of the steps of the summary's read by model of the same attempts (0.50 before it counted them);
    # each attempt of known cost is now one test, 0.56
    from magsag_mcp.ledger.peaks import largest_days
    from magsag_mcp.ledger.queries import _rollup_rows

    db = tmp_path / "lit.db"
    _tree(db, 400)
    conn = sqlite3.connect(db)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(step, 1)
    f = UsageFilters(run_id="top")
    day, _ = largest_days(conn, f)
    days = steps[0]
    steps[0] = 0
    assert len(_rollup_rows(conn, f)) == 1
    by_model = steps[0]
    conn.close()
    assert (day["known_cost_usd"], day["unbounded_attempts"]) == ("5.5", 0)
    assert days < 0.6 * by_model, (days, by_model)
