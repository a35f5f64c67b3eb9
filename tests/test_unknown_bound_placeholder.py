"""A delegated call's placeholder reservation for a model of unknown price: no bound, and said so.

An attempt of a delegated call that no limit counts in the ledger (a model of unknown price every limit allows, call
limits alone, no limit) holds a reservation all the same, counted in no limit, so that its transaction checks where
the run is placed (see test_unreserved_placement.py). For a model of unknown price it holds 0: there is no worst case.
Should its process die with the request in flight, the sweep records the attempt it stood for "at an unknown cost
bounded by what was reserved": that was $0 ("at most $0"), where an unknown price has no bound (null, and counted in
``unbounded_attempts``), never a silent 0. The reservation now says it holds no known bound (0020), and the sweep
reads it; a free model's genuine $0 hold is still a bound of $0."""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.cli import governance as cli
from magsag_mcp.governance import Admission, Governance, Policy, PolicySet, budget
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.group_commit import apply_batch
from magsag_mcp.mcp_server.budget_results import BudgetResult
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.governance_helpers import FixedPricer, attempt_ctx
from tests.older_version import (
    leave_as_before_0020,
    leave_as_before_0021,
    leave_as_before_0022,
    leave_as_before_0023,
    leave_as_before_0024,
    leave_as_before_0025,
    leave_as_before_0026,
    leave_as_before_0027,
    leave_as_before_0028,
    leave_as_before_0029,
    leave_as_before_0030,
    leave_as_before_0031,
    leave_as_before_0032,
    leave_as_before_0033,
    leave_as_before_0034,
    leave_as_before_0035,
    leave_as_the_version_before,
)
from tests.test_spend_under_concurrency import HeldUpstream, child_env, db_rows

pytestmark = pytest.mark.anyio

#: a delegated call (child, from parent) of compat:unpriced, which the catalog gives no price
DELEGATED_UNPRICED_WORKER = """
import json, sys, anyio
from magsag_mcp.service import Service

async def main():
    catalog, db, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    svc = await Service.open(catalog=catalog, db=db, env=env)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "unpriced", "max_tokens": 100}}
    await svc.invoke_skill("skill.analysis", payload, run_id="child", parent_run_id="parent", agent="desktop")

anyio.run(main)
"""


@pytest.fixture
async def held():
    up = HeldUpstream()
    await up.start()
    yield up
    up.let_go()
    await up.stop()


def _no_limits(catalog: Path) -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")


async def test_a_dead_delegated_call_of_unknown_price_is_swept_as_unbounded_not_as_at_most_0(
    catalog_copy: Path, tmp_path: Path, held: HeldUpstream
):
    _no_limits(catalog_copy)
    db = tmp_path / "shared.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", DELEGATED_UNPRICED_WORKER, str(catalog_copy), str(db), json.dumps(held.env())],
        env=child_env(),
    )
    try:
        await held.until_arrived(1)  # at the vendor: its placeholder reservation was made before it was sent
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    [(run, attempt_run, amount)] = db_rows(db, "SELECT run_id, attempt_run_id, amount_pusd FROM budget_reservations")
    assert (run, attempt_run, amount) == ("parent", "child", 0)  # the placeholder: no worst case to hold
    # the reservation's time runs out (the call's deadline and its margin pass)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE budget_reservations SET expires_at = 1000")
    conn.close()

    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    try:
        summary = await svc.summarize()  # a read of spend records it
        runs = {r["run_id"]: r for r in await svc.query_runs()}
    finally:
        await svc.aclose()
    assert db_rows(db, "SELECT error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = 'child'") == [
        ("abandoned", None, None)  # before: ('abandoned', None, 0), "at most $0"
    ]
    totals = summary["totals"]
    assert (totals["calls"], totals["errors"], totals["cost_complete"]) == (1, 1, False), totals
    assert totals["unbounded_attempts"] == 1 and totals["unknown_cost_bound_usd"] == "0", totals  # before: 0 unbounded
    stats = summary["model_stats"]["unpriced"]
    assert stats["unbounded_attempts"] == 1 and stats["cost_usd"] is None, stats
    # the run's peak holds an attempt of no bound: its at_most_usd is null, not "0" (what flow gate reads)
    largest = summary["largest_run"]
    assert largest["run_id"] == "parent" and largest["at_most_usd"] is None, largest
    assert largest["unbounded_attempts"] == 1, largest
    child = runs["child"]
    assert child["parent_run_id"] == "parent" and child["unbounded_attempts"] == 1, child
    assert child["cost_bound_usd"] == "0" and child["cost_complete"] is False, child
    [attempt] = child["attempts"]
    assert attempt["cost_bound_usd"] is None, attempt
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]


async def _swept_placeholder(ledger: Ledger, worst: str | None) -> tuple[Admission, list[tuple]]:
    """A delegated call's attempt under no limit, at a model whose worst case is ``worst`` (None: unknown price): its
    placeholder reservation, then (its process gone) swept; the reservation's row as made, and the stand-in's."""
    gov = Governance(PolicySet([]), ledger, FixedPricer(worst))
    admission = await gov.admit(attempt_ctx("child", "parent", agent="a", delegated_from="parent", call_id="c1"))
    held = await ledger.read(lambda c: c.execute("SELECT amount_pusd, unbounded FROM budget_reservations").fetchall())
    await ledger.submit(lambda c: c.execute("UPDATE budget_reservations SET expires_at = 1000"))
    assert await ledger.record_expired_reservations() == 1
    swept = await ledger.read(lambda c: c.execute("SELECT cost_pusd, cost_bound_pusd FROM attempts").fetchall())
    return admission, held + swept


@pytest.mark.parametrize(
    ("worst", "rows"),
    [
        (None, [(0, 1), (None, None)]),  # unknown price: held 0, marked; swept with no bound (before: bound 0)
        ("0", [(0, 0), (None, 0)]),  # a free model: a genuine $0 hold, swept at most $0
        ("0.3", [(300_000_000_000, 0), (None, 300_000_000_000)]),  # a known worst case, its bound as before
    ],
    ids=["unknown-price", "free", "priced"],
)
async def test_the_sweep_tells_a_placeholder_of_unknown_price_from_a_free_models_zero_hold(
    tmp_path: Path, worst: str | None, rows: list[tuple]
):
    async with Ledger(tmp_path / "l.db") as ledger:
        admission, found = await _swept_placeholder(ledger, worst)
        summary = await ledger.summarize()
    assert admission.reservation_id is not None and found == rows
    assert summary["totals"]["unbounded_attempts"] == (1 if worst is None else 0), summary["totals"]


async def test_an_unbounded_stand_in_is_taken_back_whole_when_its_call_is_recorded_after_all(tmp_path: Path):
    """Its process was suspended, not dead: the call's record replaces the stand-in, which leaves nothing behind (its
    run's counters, the rollup's unpriced and bounded counts, the spend tables), as if it had never been swept."""
    now = time.time()
    run = RunRecord("child", "a", "skill.analysis", now, parent_run_id="parent", ended_at=now, status="ok")

    def attempt(reservation_id: int | None) -> AttemptRecord:
        return AttemptRecord(
            "child", now, "compat", "metered", "skill.analysis", "a", "ok", 0, 1, input_tokens=10, output_tokens=5,
            cost_usd=None, reservation_id=reservation_id,
        )  # fmt: skip

    async with Ledger(tmp_path / "swept.db") as ledger:
        admission, _ = await _swept_placeholder(ledger, None)
        await ledger.record_call(run, [attempt(admission.reservation_id)])
        swept_then_recorded = await ledger.read(_money_tables)
        summary = await ledger.summarize()
    async with Ledger(tmp_path / "recorded.db") as ledger:
        await ledger.record_call(run, [attempt(None)])
        recorded = await ledger.read(_money_tables)
    assert swept_then_recorded == recorded
    assert summary["totals"]["calls"] == 1 and summary["totals"]["errors"] == 0
    assert summary["totals"]["unbounded_attempts"] == 1  # the call's own answer, of unknown price


def _money_tables(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {
        "runs": conn.execute(
            "SELECT run_id, parent_run_id, status, calls, cost_pusd, unpriced_calls, cost_bound_pusd FROM runs"
        ).fetchall(),
        "attempts": conn.execute("SELECT run_id, outcome, cost_pusd, cost_bound_pusd FROM attempts").fetchall(),
        "usage_rollup": conn.execute(
            "SELECT model, outcome, attempts, calls, unpriced, cost_bound_pusd, bounded FROM usage_rollup ORDER BY 1, 2"
        ).fetchall(),
        "agent_spend": conn.execute("SELECT agent, cost_pusd, cost_bound_pusd FROM agent_spend").fetchall(),
        "day_spend": conn.execute("SELECT cost_pusd, cost_bound_pusd FROM day_spend").fetchall(),
        "budget_reservations": conn.execute("SELECT * FROM budget_reservations").fetchall(),
    }


async def test_the_reservations_the_version_before_left_in_flight_keep_their_amount_as_their_bound(tmp_path: Path):
    """A ledger the version before this one left (before 0020), with two of its calls in flight (their rows marked
    nothing: one held $0.000005, one $0), opened by this one: migrated, each row's amount is still its bound, as that
    version's sweep would have recorded it; neither is taken for a placeholder of unknown price."""
    db = tmp_path / "l.db"
    async with Ledger(db):
        pass
    conn = sqlite3.connect(db, isolation_level=None)
    leave_as_the_version_before(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    leave_as_before_0032(conn)
    leave_as_before_0031(conn)
    leave_as_before_0030(conn)
    leave_as_before_0029(conn)
    leave_as_before_0028(conn)
    leave_as_before_0027(conn)
    leave_as_before_0026(conn)
    leave_as_before_0025(conn)
    leave_as_before_0024(conn)
    leave_as_before_0023(conn)
    leave_as_before_0022(conn)
    leave_as_before_0021(conn)
    leave_as_before_0020(conn)
    conn.executemany(
        "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id,"
        " provider, model, skill, call_id) VALUES (?, 'a', 900, 1000, ?, 'held', ?, 'compat', 'metered', 's', ?)",
        [("r1", 5_000_000, "r1", "c1"), ("p", 0, "r2", "c2")],
    )
    conn.close()
    async with Ledger(db) as ledger:
        marks = await ledger.read(lambda c: c.execute("SELECT unbounded FROM budget_reservations").fetchall())
        assert await ledger.record_expired_reservations() == 2
        summary = await ledger.summarize()
    assert marks == [(0,), (0,)]
    assert db_rows(db, "SELECT run_id, cost_bound_pusd FROM attempts ORDER BY run_id") == [("r1", 5_000_000), ("r2", 0)]
    totals = summary["totals"]
    assert totals["unbounded_attempts"] == 0 and totals["unknown_cost_bound_usd"] == "0.000005", totals


async def test_check_budget_counts_a_call_in_flight_of_no_known_bound(tmp_path: Path, monkeypatch, capsys):
    """A delegated call of a model of unknown price that a run limit allows (``allow_unpriced``) is in flight: its
    placeholder holds $0, and check_budget showed the parent's limit as nothing held, its remaining as exact, where
    once recorded the same attempt makes it an upper bound (``unbounded_attempts``). It now says a call in flight
    holds a reservation of no known bound (``reserved_by.unbounded``), and `magsag budget` says "at most"."""
    policies = PolicySet([Policy(name="cap", thresholds={"max_cost_per_run_usd": "1"}, allow_unpriced=True)])
    async with Ledger(tmp_path / "l.db") as ledger:
        nothing = await Governance(policies, ledger, FixedPricer("0.1")).check_budget(run_id="parent")
        gov = Governance(policies, ledger, FixedPricer(None))
        await gov.admit(attempt_ctx("child", "parent", delegated_from="parent", call_id="c1"))
        status = await gov.check_budget(run_id="parent")
        from_child = await gov.check_budget(run_id="child")  # (its budget run: the parent)
        priced = Governance(policies, ledger, FixedPricer("0.1"))
        await priced.admit(attempt_ctx("parent", call_id="c2"))
        both = await priced.check_budget(run_id="parent")
    assert "reserved_by" not in nothing["limits"][0]  # nothing in flight
    [limit] = status["limits"]
    assert limit["reserved_usd"] == "0" and limit["remaining_usd"] == "1", limit
    # before: no reserved_by at all, as if nothing were in flight
    assert limit["reserved_by"]["calls"] == 1 and limit["reserved_by"]["unbounded"] == 1, limit
    assert from_child["limits"][0]["reserved_by"] == limit["reserved_by"]
    assert both["limits"][0]["reserved_usd"] == "0.1"
    assert both["limits"][0]["reserved_by"]["calls"] == 2 and both["limits"][0]["reserved_by"]["unbounded"] == 1
    BudgetResult.model_validate(status)  # the MCP tool's result schema has it
    monkeypatch.setattr(cli, "with_service", lambda args, fn: status)
    given = argparse.Namespace(
        json=False, agent=None, run_id="parent", skill=None, model=None, max_tokens=None, context=None,
        model_config=None,
    )
    assert cli._budget(given) == 0
    line = capsys.readouterr().out
    assert "reserved $0 (by 1 call in flight, 1 of them of no known price, until " in line, line
    assert "remaining at most $1" in line, line


@pytest.mark.parametrize("amount", [None, Decimal("0"), Decimal("0.25")])
async def test_a_reservations_no_bound_mark_is_bound_as_an_exact_int(tmp_path: Path, monkeypatch, amount):
    # sqlite3 binds an exact int as it is, and anything else (a bool too) through its adapter lookup: a bool mark
    # cost every reservation some 3,700 instructions of SQL (counted on the full path). Its value is unchanged.
    db = tmp_path / "marks.db"
    async with Ledger(db):
        pass

    def no_bool(value: bool) -> int:
        raise AssertionError(f"a bool ({value}) was bound to a reservation's statement")

    monkeypatch.setitem(sqlite3.adapters, (bool, sqlite3.PrepareProtocol), no_bool)
    limits = [Limit("run", Decimal(1), "run_cap", True)]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        [(ok, _)] = apply_batch(conn, [budget.Reservation(limits, amount, "r", None, None, 900)])
        [(unbounded,)] = conn.execute("SELECT unbounded FROM budget_reservations").fetchall()
    finally:
        conn.close()
    assert ok and unbounded == (1 if amount is None else 0)
