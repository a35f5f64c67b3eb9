"""A run placed under another run while a run delegated from it has a call of a model of unknown price in flight.

Run c's call (its policy allows unpriced models) named b as its parent while b was placed nowhere: its reservation is a
placeholder held against b's run limit, $0 marked as no bound (0020_reservation_unbounded). Then b's own first call
placed b under a. The holds of b's delegated runs move to a with b (see test_placed_with_a_child_in_flight), but only
when they added up to more than $0: c's placeholder stayed under b, which no limit reads any more, and a strict limit
on a (another process's, on the same ledger) let a call take the whole limit beside c's call of no known bound. It now
moves as a bounded hold does, and the strict limit refuses while c is in flight.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance, Policy, PolicySet, budget
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.group_commit import apply_batch
from tests.governance_helpers import FixedPricer, attempt_ctx

pytestmark = pytest.mark.anyio

LENIENT = [Limit("run", Decimal(1), "lenient", True)]
STRICT = [Limit("run", Decimal(1), "strict", False)]


def _policies(allow_unpriced: bool) -> PolicySet:
    return PolicySet([Policy(name="lenient" if allow_unpriced else "strict",
                             thresholds={"max_cost_per_run_usd": "1"}, allow_unpriced=allow_unpriced)])  # fmt: skip


async def test_two_processes_a_strict_limit_on_the_new_top_sees_the_placeholder_its_placed_run_brings(tmp_path: Path):
    db = tmp_path / "shared.db"
    async with Ledger(db) as a, Ledger(db) as b:
        lenient = Governance(_policies(True), a, FixedPricer(None))
        # process A: c's call of unknown price, delegated from b (placed nowhere): a placeholder against b's limit
        c_call = await lenient.admit(attempt_ctx("c", "b", delegated_from="b", call_id="cC"))
        assert c_call.reservation_id is not None
        # process A: b's first call (of a model of known price) places b under top
        priced = Governance(_policies(True), a, FixedPricer("0.1"))
        b_call = await priced.admit(attempt_ctx("b", "top", delegated_from="top", call_id="cB"))
        assert b_call.reservation_id is not None
        # process B: a strict run limit on top
        strict = Governance(_policies(False), b, FixedPricer("0.1"))
        with pytest.raises(E.BudgetExceeded) as caught:  # before: admitted, c's placeholder still counted under b
            await strict.admit(attempt_ctx("top", call_id="cT"))
        held = await a.read(
            lambda conn: conn.execute(
                "SELECT attempt_run_id, run_id, unbounded FROM budget_reservations ORDER BY id"
            ).fetchall()
        )
    assert caught.value.details["reason"] == "unbounded_in_flight", caught.value
    assert "call cC of run c is in flight" in str(caught.value), caught.value
    assert held == [("c", "top", 1), ("b", "top", 0)], held  # before: ("c", "b", 1)


async def _ledger(tmp_path: Path) -> sqlite3.Connection:
    db = tmp_path / "tree.db"
    async with Ledger(db):
        pass
    return sqlite3.connect(db, isolation_level=None)


@pytest.mark.parametrize("batched", [False, True], ids=["a transaction each", "one batch"])
async def test_a_placeholder_moves_with_its_run_and_a_strict_reservation_on_the_new_top_is_refused(
    tmp_path: Path, batched: bool
):
    conn = await _ledger(tmp_path)
    try:
        top = budget.Reservation(STRICT, Decimal("0.1"), "top", None, call_id="c0")  # reads top's scope first
        c = budget.Reservation(LENIENT, None, "c", None, "b", 900, delegated_from="b", call_id="cC")  # placeholder
        b = budget.Reservation(LENIENT, Decimal("0.1"), "b", None, "top", 900, delegated_from="top", call_id="cB")
        again = budget.Reservation(STRICT, Decimal("0.1"), "top", None, call_id="c1")
        if batched:
            got = apply_batch(conn, [top, c, b, again])
        else:
            got = [r for res in (top, c, b, again) for r in apply_batch(conn, [res])]
        assert [ok for ok, _ in got] == [True, True, True, False], got  # before: the last admitted
        refused = got[3][1]
        assert isinstance(refused, E.BudgetExceeded) and "call cC of run c is in flight" in refused.message
        held = conn.execute("SELECT attempt_run_id, run_id FROM budget_reservations ORDER BY id").fetchall()
        assert held == [("top", "top"), ("c", "top"), ("b", "top")], held
    finally:
        conn.close()


@pytest.mark.parametrize("batched", [False, True], ids=["a transaction each", "one batch"])
async def test_a_call_that_places_its_run_under_a_strict_limit_is_refused_while_a_run_delegated_from_it_is_unbounded(
    tmp_path: Path, batched: bool
):
    # b's own call, under a strict run limit, places b under top: c's placeholder (no bound, in flight) moves into
    # top's scope with it, and the strict limit cannot promise anything beside it. The scope read for b's call is top's,
    # which held nothing of no bound before the move: only the placing itself says what comes along
    conn = await _ledger(tmp_path)
    try:
        c = budget.Reservation(LENIENT, None, "c", None, "b", 900, delegated_from="b", call_id="cC")  # placeholder
        b = budget.Reservation(STRICT, Decimal("0.1"), "b", None, "top", 900, delegated_from="top", call_id="cB")
        if batched:
            got = apply_batch(conn, [c, b])
        else:
            got = [r for res in (c, b) for r in apply_batch(conn, [res])]
        assert [ok for ok, _ in got] == [True, False], got
        refused = got[1][1]
        assert isinstance(refused, E.BudgetExceeded) and "call cC of run c is in flight" in refused.message
        held = conn.execute("SELECT attempt_run_id, run_id FROM budget_reservations ORDER BY id").fetchall()
        assert held == [("c", "b")], held  # refused: b not placed, c's placeholder left where it was
    finally:
        conn.close()
