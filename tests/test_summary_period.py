"""A summary's period (its first and last attempt) read from the ends of an index, not from every attempt: SQLite
reads a MIN or a MAX alone from one end of an index, and the two in one SELECT from every attempt selected. A summary
of 1,000,000 attempts spent 9,000,000 of its 10,700,000 SQLite steps (about 100 ms) on its period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from tests.test_unbounded_peaks import DAY, _attempt, _record, _run


def _ledger(db: Path, calls: int) -> None:
    """``calls`` calls of 10 attempts each (9 failed tries, then an answer), in one run and one UTC day: the rollups a
    summary reads hold one row whatever their number; only what reads the attempts grows with them."""
    rows = [
        (
            _run("long", DAY),
            [
                _attempt("long", DAY + i + k / 100, "metered", "ok" if k == 9 else "error", cost="0.01", number=k + 1)
                for k in range(10)
            ],
        )
        for i in range(calls)
    ]
    asyncio.run(_record(db, rows))


def _summary_steps(db: Path, filters: dict[str, Any]) -> tuple[dict[str, Any], int]:
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    async def read() -> dict[str, Any]:
        async with Ledger(db) as ledger:
            await ledger.read(lambda conn: conn.set_progress_handler(step, 1), snapshot=False)
            return await ledger.summarize(UsageFilters(**filters))

    return asyncio.run(read()), steps[0]


@pytest.mark.parametrize("filters", [{}, {"agent": "ana"}])
def test_a_summarys_period_is_read_from_the_ends_of_an_index(tmp_path: Path, filters: dict[str, Any]):
    # 40 calls and 400 (400 attempts and 4,000): the summary's steps grew by 9 or so an attempt, its period's scan
    counts = []
    for calls in (40, 400):
        db = tmp_path / f"l-{calls}.db"
        _ledger(db, calls)
        summary, steps = _summary_steps(db, filters)
        assert summary["totals"]["attempts"] == 10 * calls and summary["totals"]["calls"] == calls
        last = datetime.fromtimestamp(DAY + calls - 1 + 0.09, UTC).isoformat(timespec="seconds")
        assert (summary["period"]["from"], summary["period"]["to"]) == ("2025-11-01T12:26:40+00:00", last)
        counts.append(steps)
    assert counts[1] <= counts[0] + 200, counts


@pytest.mark.parametrize(
    ("filters", "apart"),
    [
        ({}, True),
        ({"model": "metered"}, True),
        ({"agent": "ana", "since": str(DAY + 5)}, True),
        ({"run_id": "long"}, False),
    ],
)
def test_the_period_is_read_apart_where_an_index_keeps_the_filters_attempts_in_time_order(
    tmp_path: Path, filters: dict[str, Any], apart: bool
):
    # a model's and an agent's attempts are in time order in their indexes: each end is a step; a run's are not, and
    # are read once (both ends from one read), not twice
    import sqlite3

    from magsag_mcp.ledger.filters import parse_since
    from magsag_mcp.ledger.queries import _period

    counts = []
    for calls in (40, 400):
        db = tmp_path / f"l-{calls}.db"
        _ledger(db, calls)
        conn = sqlite3.connect(db)
        steps = [0]

        def step(steps: list[int] = steps) -> int:
            steps[0] += 1
            return 0

        conn.set_progress_handler(step, 1)
        f = UsageFilters(**filters)
        first, last = _period(conn, f.model_copy(update={"since": parse_since(f.since)}))
        conn.close()
        assert (first, last) == (DAY + (5 if "since" in filters else 0), DAY + calls - 1 + 0.09)
        counts.append(steps[0])
    if apart:
        assert counts[1] <= counts[0] + 20, counts
    else:  # one read of the run's attempts: about 15 steps an attempt, 30 when read for each end
        assert counts[1] - counts[0] < 20 * 3600, counts
