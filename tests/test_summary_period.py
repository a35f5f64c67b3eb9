"""A summary's period (its first and last attempt) read from the ends of an index, not from every attempt: SQLite
reads a MIN or a MAX alone from one end of an index, and the two in one SELECT from every attempt selected. A summary
of 1,000,000 attempts spent 9,000,000 of its 10,700,000 SQLite steps (about 100 ms) on its period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
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


def test_the_period_read_apart_is_the_period_read_in_one_select_on_random_ledgers_and_filters(tmp_path: Path):
    # _period reads the two ends apart for some filters and together for the rest: whichever it chooses, the first
    # and last attempt are those one SELECT of MIN and MAX over the same attempts gives (seeded: the same each run)
    import random
    import sqlite3

    from magsag_mcp.ledger.queries import _period
    from magsag_mcp.ledger.rollup_reads import attempts_where
    from magsag_mcp.records import AttemptRecord, RunRecord

    rng = random.Random(36)
    agents, skills, models = ["ana", "bo", None], ["skill.a", "skill.b"], ["metered", "mystery", "other"]
    statuses = ["ok", "error", "budget_exceeded", "cancelled"]
    compared = found = 0
    for ledger_no in range(4):
        calls = []
        runs: list[str] = []
        for r in range(rng.randint(1, 25)):
            run_id, at = f"r{ledger_no}-{r}", DAY + rng.uniform(-3 * 86400, 3 * 86400)
            parent = rng.choice(runs) if runs and rng.random() < 0.3 else None
            agent, skill = rng.choice(agents), rng.choice(skills)
            run = RunRecord(run_id, agent, skill, at, parent, at + 1, rng.choice(statuses))  # type: ignore[arg-type]
            attempts = [
                AttemptRecord(
                    run_id, at + k * rng.uniform(0, 600), rng.choice(["compat", "openai"]), rng.choice(models),
                    skill, agent, rng.choice(["ok", "error", "skipped"]), k, 1,  # type: ignore[arg-type]
                    cost_usd=Decimal("0.01"),
                )
                for k in range(rng.randint(1, 4))
            ]  # fmt: skip
            calls.append((run, attempts))
            runs.append(run_id)
        db = tmp_path / f"l{ledger_no}.db"
        asyncio.run(_record(db, calls))
        conn = sqlite3.connect(db)
        for _ in range(60):
            given: dict[str, Any] = {}
            for name, values in (
                ("agent", ["ana", "bo", "nobody"]),
                ("run_id", [*runs[:3], "none"]),
                ("skill", skills),
                ("model", [*models, "openai:metered"]),
                ("provider", ["compat", "openai"]),
                ("status", statuses),
            ):
                if rng.random() < 0.3:
                    given[name] = rng.choice(values)
            if rng.random() < 0.5:
                given["since"] = DAY + rng.uniform(-4 * 86400, 2 * 86400)
            if rng.random() < 0.5:
                given["until"] = given.get("since", DAY - 4 * 86400) + rng.uniform(1, 5 * 86400)
            try:
                f = UsageFilters(**given)
            except Exception:  # (a model naming another provider than the provider filter: refused, as it should)
                continue
            source, where, args = attempts_where(conn, f)
            one_select = conn.execute(f"SELECT MIN(started_at), MAX(started_at) FROM {source}{where}", args).fetchone()
            assert tuple(_period(conn, f)) == tuple(one_select), given
            compared += 1
            found += one_select[0] is not None
        conn.close()
    assert compared > 150 and found > 50, (compared, found)  # (most of them a period of attempts, not none)
