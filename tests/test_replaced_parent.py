"""A call names a parent run that is placed under another run after the call read where it was.

A delegated run records the top run of its parent's tree as its parent, and a run limit counts its run and the runs
recorded under it (one level: the tree flattened under its top). The service reads the named parent's top before the
call; should the parent be placed under another run meanwhile (its own first call, naming a parent of its own), the
call reserved against the parent's stale top and was recorded under it: a run under a run under the top, which the
top's limit, reading one level, never counted. Its reservation and its record now read the parent's top as it stands
in their own transaction."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PAYLOAD = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}


def _catalog(catalog: Path) -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )


async def test_a_call_whose_named_parent_is_placed_under_another_run_meanwhile_counts_under_that_run(
    catalog_copy: Path, tmp_path: Path, upstream, monkeypatch: pytest.MonkeyPatch
):
    _catalog(catalog_copy)
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    db = tmp_path / "tree.db"
    read = Service._top_run

    async def read_then_b_placed_under_a(self: Service, run_id: str, parent_run_id: str) -> str:
        top = await read(self, run_id, parent_run_id)
        if run_id == "c":  # c's call has read b unplaced (b is its top): b's own first call now places b under a
            await self.invoke_skill("skill.analysis", PAYLOAD, run_id="b", parent_run_id="a")
        return top

    monkeypatch.setattr(Service, "_top_run", read_then_b_placed_under_a)
    async with Service.open(catalog=catalog_copy, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="c", parent_run_id="b")
        tree = await svc.check_budget(run_id="a")
    conn = sqlite3.connect(db)
    try:
        parents = dict(conn.execute("SELECT run_id, parent_run_id FROM runs").fetchall())
        costs = dict(conn.execute("SELECT run_id, cost_pusd FROM runs").fetchall())
    finally:
        conn.close()
    # before: {"b": "a", "c": "b"}, and a's limit counted b's call alone
    assert parents == {"b": "a", "c": "a"}
    (limit,) = tree["limits"]
    assert Decimal(limit["spent_usd"]) == Decimal(costs["b"] + costs["c"]) / 10**12 and costs["c"] > 0


async def test_the_reservation_counts_against_the_top_its_named_parent_has_now(tmp_path: Path):
    # a has spent $0.90 and b is recorded under it; the call of c read b's top as b itself (before b was placed), and
    # reserves $0.20 under a run limit of $1: against b's scope (b and its runs: nothing spent) it passed, against a's
    # tree, where c's spend lands, it is over the limit
    from magsag_mcp import errors as E
    from magsag_mcp.governance import budget
    from magsag_mcp.governance.policy import Limit
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.ledger.group_commit import apply_batch

    db = tmp_path / "tree.db"
    async with Ledger(db):
        pass
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        run = (
            "INSERT INTO runs (run_id, agent, skill, started_at, status, parent_run_id, cost_pusd)"
            " VALUES (?, NULL, 's', 0, 'ok', ?, ?)"
        )
        conn.execute(run, ("a", None, 900_000_000_000))
        conn.execute(run, ("b", "a", 0))
        run_limit = [Limit("run", Decimal(1), "run_cap", False)]
        stale = budget.Reservation(run_limit, Decimal("0.2"), "c", None, "b", 900, delegated_from="b")
        fits = budget.Reservation(run_limit, Decimal("0.05"), "c", None, "b", 900, delegated_from="b")
        (over, error), (ok, _) = apply_batch(conn, [stale, fits])
        held = conn.execute("SELECT run_id, attempt_run_id FROM budget_reservations").fetchall()
    finally:
        conn.close()
    assert (over, ok) == (False, True)
    assert isinstance(error, E.BudgetExceeded) and "run a (with its delegated runs, c among them)" in error.message
    assert held == [("a", "c")]  # held against a's limit, where the record will count it
