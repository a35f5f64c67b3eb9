"""A run placed under another run while a run delegated from it has a call in flight.

Run c's call named b as its parent while b was placed nowhere (b was its own top run): c's reservation was held against
b's run limit. Then b's own first call placed b under a. c's record lands under a (see run_scope.topped), so a's limit
counts c's spend once c is recorded; until then, c's hold counted against b alone, which no limit reads any more, and
a's limit let calls take what c may yet spend: the tree ended past a's limit. The run placed under a now takes its
delegated runs' holds along, in its reservation's transaction, checked against a's limit with it (or in the record that
places it, of a call refused before it reserved). Where the run may be placed is unchanged (see delegation.top_run):
only what a's limit counts."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import budget
from magsag_mcp.governance.delegation import top_run
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.group_commit import apply_batch
from magsag_mcp.ledger.run_scope import run_scope_totals
from magsag_mcp.ledger.writes import RecordWrite
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

RUN_LIMIT = [Limit("run", Decimal(1), "run_cap", False)]


async def _ledger(tmp_path: Path) -> sqlite3.Connection:
    db = tmp_path / "tree.db"
    async with Ledger(db):
        pass
    return sqlite3.connect(db, isolation_level=None)


def _reserve(conn: sqlite3.Connection, *reservations: budget.Reservation) -> list[tuple[bool, object]]:
    """``reservations`` in one transaction (one group commit's batch)."""
    return apply_batch(conn, list(reservations))


def _delegated(run: str, parent: str, amount: str) -> budget.Reservation:
    """A call of ``run`` naming ``parent``, whose top run it read as ``parent`` itself (placed nowhere)."""
    return budget.Reservation(RUN_LIMIT, Decimal(amount), run, None, parent, 900, delegated_from=parent)


def _record(conn: sqlite3.Connection, run: str, parent: str | None, cost: str, reservation_id: object) -> None:
    attempt = AttemptRecord(run, 1.0, "openai", "m", "s", None, "ok", 0, 1, cost_usd=Decimal(cost))
    attempt.reservation_id = reservation_id  # type: ignore[assignment]
    [(ok, _)] = apply_batch(conn, [RecordWrite.of(RunRecord(run, None, "s", 1.0, parent), [attempt])])
    assert ok


@pytest.mark.parametrize("batched", [False, True], ids=["a transaction each", "one batch"])
async def test_a_run_placed_under_another_brings_its_delegated_runs_holds_into_that_runs_limit(
    tmp_path: Path, batched: bool
):
    conn = await _ledger(tmp_path)
    try:
        c = _delegated("c", "b", "0.6")  # c's call, delegated from b (placed nowhere yet): held against b's limit
        b = _delegated("b", "a", "0.3")  # b's first call places b under a
        a = budget.Reservation(RUN_LIMIT, Decimal("0.2"), "a", None)  # a's own call
        if batched:
            (c_ok, c_id), (b_ok, b_id), (a_ok, refused) = _reserve(conn, c, b, a)
        else:
            [(c_ok, c_id)], [(b_ok, b_id)], [(a_ok, refused)] = _reserve(conn, c), _reserve(conn, b), _reserve(conn, a)
        assert (c_ok, b_ok) == (True, True)  # b may be placed under a, as before, and its call fits a's limit
        # before: a's call was let through (a's limit saw b's $0.3 alone), and once each call was recorded at what it
        # reserved, a's tree had spent $1.10 under its $1 limit
        assert a_ok is False
        assert isinstance(refused, E.BudgetExceeded) and "reserved $0.9" in refused.message
        held = conn.execute("SELECT attempt_run_id, run_id FROM budget_reservations ORDER BY id").fetchall()
        assert held == [("c", "a"), ("b", "a")]  # c's hold counts against a's limit now, where its record will
        _record(conn, "c", "b", "0.6", c_id)
        _record(conn, "b", "a", "0.3", b_id)
        spent, _ = run_scope_totals(conn, "a")
        assert spent == 900_000_000_000  # c's record placed under a (topped), all within a's limit
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
    finally:
        conn.close()


async def test_placing_a_run_whose_delegated_run_holds_too_much_for_the_new_top_is_refused(tmp_path: Path):
    conn = await _ledger(tmp_path)
    try:
        [(c_ok, _)] = _reserve(conn, _delegated("c", "b", "0.6"))
        assert top_run(conn, "b", "a") == "a"  # where b may be placed: unchanged, c in flight or not
        [(b_ok, refused)] = _reserve(conn, _delegated("b", "a", "0.6"))
        # before: b's call passed ($0.6 against a's empty scope), and a's tree spent $1.20 once c and b were recorded
        assert (c_ok, b_ok) == (True, False)
        assert isinstance(refused, E.BudgetExceeded)
        assert "run a (with its delegated runs, b among them)" in refused.message and "reserved $0.6" in refused.message
        # refused, b is not placed: c's hold stays where it was, against b's limit
        assert conn.execute("SELECT attempt_run_id, run_id FROM budget_reservations").fetchall() == [("c", "b")]
    finally:
        conn.close()


async def test_a_run_placed_by_the_record_of_a_call_refused_before_it_reserved_brings_the_holds_too(tmp_path: Path):
    # b's first call, naming a, was refused before it reserved (a policy, or a's limit): its record places b under a
    # all the same, and c's hold, made against b, counts against a's limit from then on
    conn = await _ledger(tmp_path)
    try:
        [(c_ok, _)] = _reserve(conn, _delegated("c", "b", "0.6"))
        [(recorded, _)] = apply_batch(
            conn, [RecordWrite.of(RunRecord("b", None, "s", 1.0, "a", ended_at=1.0, status="policy_denied"), [])]
        )
        assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'b'").fetchone() == ("a",)
        [(a_ok, refused)] = _reserve(conn, budget.Reservation(RUN_LIMIT, Decimal("0.5"), "a", None))
        # before: a's call passed ($0.5 against a's scope, c's $0.6 counted against b, which no limit reads now)
        assert (c_ok, recorded, a_ok) == (True, True, False)
        assert isinstance(refused, E.BudgetExceeded) and "reserved $0.6" in refused.message
    finally:
        conn.close()


@pytest.mark.parametrize("a_first", [True, False], ids=["a's record first", "b's record first"])
async def test_two_records_of_one_batch_placing_a_run_and_its_parent_bring_the_holds_to_the_top(
    tmp_path: Path, a_first: bool
):
    # The first calls of a (naming z) and of b (naming a) both refused before they reserved, their records written in
    # one group commit: each record read where its parent is from the ledger as it was before the batch, so b's record
    # found a placed nowhere and put b (and c's hold, in flight against b) under a, itself placed under z by the same
    # batch: c's hold then counted against a's limit, which nothing reads (a's calls and those naming a spend z's),
    # and b's tree was two levels deep, c's and b's spend outside z's limit once recorded.
    conn = await _ledger(tmp_path)
    try:
        [(c_ok, c_id)] = _reserve(conn, _delegated("c", "b", "0.6"))
        a = RecordWrite.of(RunRecord("a", None, "s", 1.0, "z", ended_at=1.0, status="policy_denied"), [])
        b = RecordWrite.of(RunRecord("b", None, "s", 1.0, "a", ended_at=1.0, status="policy_denied"), [])
        assert apply_batch(conn, [a, b] if a_first else [b, a]) == [(True, None), (True, None)]
        parents = conn.execute("SELECT run_id, parent_run_id FROM runs ORDER BY run_id").fetchall()
        assert parents == [("a", "z"), ("b", "z")]  # one level deep, as records placed one at a time make it
        assert conn.execute("SELECT run_id, attempt_run_id FROM budget_reservations").fetchall() == [("z", "c")]
        [(z_ok, refused)] = _reserve(conn, budget.Reservation(RUN_LIMIT, Decimal("0.5"), "z", None))
        assert (c_ok, z_ok) == (True, False)
        assert isinstance(refused, E.BudgetExceeded) and "reserved $0.6" in refused.message
        _record(conn, "c", "b", "0.6", c_id)
        assert run_scope_totals(conn, "z")[0] == 600_000_000_000  # c's spend under z, where its hold counted
    finally:
        conn.close()
