"""What the reads of a time window cost under a run filter: the run's own calls, not every call of the window.

Costs are counted in SQLite's virtual-machine steps (a progress handler), which are the same on every machine:
no wall clock. Timings on a year of traffic are in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

DAY = 86400
BEGUN = 1_762_000_000.0  # 2025-11-01 12:26:40 UTC: the long-lived run's first call
WINDOW = BEGUN + 2 * DAY


async def _ledger(path: Path, others: int) -> None:
    """A run begun before the window, and one delegated from it, each calling again within it; ``others``
    runs of one call each of the same agent, half of them before the window, half within it."""
    async with Ledger(path) as ledger:
        for run_id, parent in (("long", None), ("long.c1", "long")):
            for at in (BEGUN, WINDOW + 3600):
                run = RunRecord(run_id, "ana", "skill.a", BEGUN, ended_at=at + 1, status="ok", parent_run_id=parent)
                att = AttemptRecord(run_id, at, "openai", "gpt-4o", "skill.a", "ana", "ok", 0, 1, cost_usd=Decimal(1))
                await ledger.record_call(run, [att])
        for i in range(others):
            at = (WINDOW if i % 2 else BEGUN) + 60 + i
            run = RunRecord(f"o{i}", "ana", "skill.a", at, ended_at=at + 1, status="ok")
            att = AttemptRecord(f"o{i}", at, "openai", "gpt-4o", "skill.a", "ana", "ok", 0, 1, cost_usd=Decimal(2))
            await ledger.record_call(run, [att])


def _steps(conn: sqlite3.Connection, read) -> tuple[int, object]:
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        out = read(conn)
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0], out


@pytest.mark.parametrize("agent", [None, "ana"])
async def test_a_run_filter_with_a_window_reads_the_runs_own_calls_not_the_windows(tmp_path: Path, agent):
    # `flow summarize --run-id long --since ...` / `data query --run-id long --since ...` on a year's ledger: the
    # run began before the window, so its calls within it were looked for among every call of the window (a
    # list of them all, 270,000 in a 100-day window: 7 ms became 103), not among the run's own; under an agent
    # filter, among every call of the agent in the window, and each run of the agent begun before it looked at
    from magsag_mcp.ledger import peaks
    from magsag_mcp.ledger.run_window import called_within, page_rows

    f = UsageFilters(run_id="long", agent=agent, since=WINDOW)
    costs = []
    for others in (100, 1000):
        db = tmp_path / f"{others}.db"
        await _ledger(db, others)
        conn = sqlite3.connect(db)
        steps, ids = _steps(conn, lambda c: called_within(c, f))
        assert sorted(json.loads(ids)) == ["long", "long.c1"]
        costs.append(steps)
        if agent is None:  # what the reads give is the same: the run, whole, with the run delegated from it
            largest_steps, largest = _steps(conn, lambda c: peaks.largest_run(c, f))
            page_steps, page = _steps(conn, lambda c: page_rows(c, f, "run_id", attempt_per_run=True, rows=51))
            assert largest == {
                "run_id": "long",
                "delegated_runs": 1,
                "known_cost_usd": "4",
                "unknown_cost_bound_usd": "0",
                "at_most_usd": "4",
                "unbounded_attempts": 0,
            }
            assert sorted(page) == [("long",), ("long.c1",)]
            costs += [largest_steps, page_steps]
        conn.close()
    # ten times the agent's other calls: the same reads, not ten times their cost
    small, big = costs[: len(costs) // 2], costs[len(costs) // 2 :]
    assert all(b <= s + 3 for s, b in zip(small, big, strict=True)), costs


async def test_a_window_opening_before_the_ledger_looks_for_no_run_begun_before_it(tmp_path: Path):
    # `flow summarize --since 30d` on a ledger a week old (or a year's summary of a year's ledger): no run began
    # before the window, and looking for those that did read every call in it, a summary's time doubled
    from magsag_mcp.ledger.run_window import called_within, page_rows

    f = UsageFilters(since=BEGUN - DAY)
    costs = []
    for others in (100, 1000):
        db = tmp_path / f"{others}.db"
        await _ledger(db, others)
        conn = sqlite3.connect(db)
        steps, ids = _steps(conn, lambda c: called_within(c, f))
        assert ids is None
        # the page's last runs: the window's own, none before it to add
        last = f.model_copy(update={"offset": others})
        assert len(page_rows(conn, last, "run_id", attempt_per_run=False, rows=51)) == 2
        conn.close()
        costs.append(steps)
    assert costs[1] <= costs[0] + 3, costs
