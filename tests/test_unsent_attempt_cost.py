"""An attempt refused before any request left (no key, a policy, a limit) cost exactly $0: recorded with no cost (as a
caller of ``Ledger.record_call`` may give it), it was written as NULL, an unknown cost, counted among the attempts of
unknown cost and of no bound. It is written at $0; one that was sent with no known price stays NULL, flagged."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


async def test_an_attempt_never_sent_is_written_at_zero_and_a_sent_one_unpriced_stays_null(tmp_path: Path):
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        attempts = [
            AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "skipped", 0, 0, "skipped", "no key"),
            AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "policy_denied", 1, 1, "policy_denied", "no"),
            AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "budget_exceeded", 2, 1, "budget_exceeded", "no"),
            # sent, of no known price and no bound: unknown, never $0
            AttemptRecord("r", now, "compat", "mystery", "s", "a", "error", 3, 1, "timeout", "cut"),
            AttemptRecord("r", now, "fake", "m", "s", "a", "ok", 4, 1, cost_usd=Decimal("0.01")),
        ]
        await ledger.record_call(RunRecord("r", "a", "s", now), attempts)
        runs = await ledger.query_runs()
    conn = sqlite3.connect(db)
    costs = conn.execute("SELECT outcome, cost_pusd FROM attempts ORDER BY fallback_position").fetchall()
    assert costs == [
        ("skipped", 0),  # before: NULL, each
        ("policy_denied", 0),
        ("budget_exceeded", 0),
        ("error", None),
        ("ok", 10_000_000_000),
    ], costs
    (run,) = runs
    assert (run["unpriced_attempts"], run["unbounded_attempts"]) == (1, 1), run  # before: 4 and 4
    assert conn.execute("SELECT SUM(unpriced) FROM usage_rollup").fetchone()[0] == 1
