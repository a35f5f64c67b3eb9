"""A strict limit (no ``allow_unpriced``) and another process's call in flight of a model of unknown price.

Process A's policy lets a delegated call of a model of unknown price run under its run limit (``allow_unpriced``):
its reservation is a placeholder that holds $0 and is marked as no bound (0020_reservation_unbounded). Process B shares
the ledger, and its policy's limit on the same scope is strict: it promises the scope never spends past it. B read A's
placeholder at $0 and let its own calls take the whole limit, so the two together could pass it by whatever A's call
costs. B now refuses while such a call is in flight in the scope, naming it and saying what to do; a limit that allows
unpriced models (A's own) counts the placeholder at $0 as before.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import BudgetExceeded
from magsag_mcp.governance import Governance, Policy, PolicySet, budget
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.service import Service
from tests.governance_helpers import FixedPricer, attempt_ctx
from tests.test_spend_under_concurrency import HeldUpstream, db_rows

pytestmark = pytest.mark.anyio


@pytest.fixture
async def held():
    up = HeldUpstream()
    await up.start()
    yield up
    up.let_go()
    await up.stop()


def _policies(allow_unpriced: bool, **thresholds: str) -> PolicySet:
    return PolicySet([Policy(name="lenient" if allow_unpriced else "strict", thresholds=thresholds,
                             allow_unpriced=allow_unpriced)])  # fmt: skip


async def _placeholder_in_flight(ledger: Ledger, **thresholds: str) -> None:
    """Process A: a delegated call (run child, from parent, agent a) of a model of unknown price, in flight."""
    lenient = Governance(_policies(True, **thresholds), ledger, FixedPricer(None))
    admission = await lenient.admit(attempt_ctx("child", "parent", agent="a", delegated_from="parent", call_id="cA"))
    assert admission.reservation_id is not None


@pytest.mark.parametrize(
    ("threshold", "ctx", "scope"),
    [
        ("max_cost_per_run_usd", attempt_ctx("parent", call_id="cB"), "run parent"),
        ("max_cost_per_day_usd", attempt_ctx("other", call_id="cB"), "all calls today (UTC)"),
        ("max_cost_per_agent_daily_usd", attempt_ctx("other", agent="a", call_id="cB"), "agent a today (UTC)"),
    ],
    ids=["run", "day", "agent-day"],
)
async def test_a_strict_limit_refuses_while_another_process_holds_a_reservation_of_no_bound_in_its_scope(
    tmp_path: Path, threshold: str, ctx, scope: str
):
    db = tmp_path / "shared.db"
    async with Ledger(db) as a, Ledger(db) as b:
        await _placeholder_in_flight(a, **{threshold: "1"})
        strict = Governance(_policies(False, **{threshold: "1"}), b, FixedPricer("0.9"))
        with pytest.raises(BudgetExceeded) as caught:  # before: admitted, the placeholder read as $0
            await strict.admit(ctx)
    err = caught.value
    message = str(err)
    assert message.startswith("strict: "), message
    assert scope in message, message
    # names the call in flight and what to do
    assert "call cA" in message and "run child" in message and "no known price" in message, message
    assert "set allow_unpriced: true on strict" in message and "once it is recorded" in message, message
    assert err.details["reason"] == "unbounded_in_flight" and err.details["policy"] == "strict", err.details
    assert err.details["in_flight_call_id"] == "cA", err.details


async def test_a_limit_that_allows_unpriced_models_still_counts_the_placeholder_at_0(tmp_path: Path):
    db = tmp_path / "shared.db"
    async with Ledger(db) as a, Ledger(db) as b:
        await _placeholder_in_flight(a, max_cost_per_run_usd="1")
        lenient = Governance(_policies(True, max_cost_per_run_usd="1"), b, FixedPricer("0.9"))
        admission = await lenient.admit(attempt_ctx("parent", call_id="cB"))
    assert admission.reservation_id is not None and admission.reserved_usd == Decimal("0.9")


async def test_a_strict_limit_of_another_scope_is_not_held_up_by_it(tmp_path: Path):
    db = tmp_path / "shared.db"
    async with Ledger(db) as a, Ledger(db) as b:
        await _placeholder_in_flight(a, max_cost_per_run_usd="1", max_cost_per_agent_daily_usd="1")
        strict = Governance(_policies(False, max_cost_per_run_usd="1", max_cost_per_agent_daily_usd="1"), b,
                            FixedPricer("0.9"))  # fmt: skip
        # another run, another agent: neither scope holds the placeholder
        admission = await strict.admit(attempt_ctx("other", agent="b", call_id="cB"))
    assert admission.reservation_id is not None


def _catalog(root: Path, source: Path, name: str, allow_unpriced: bool) -> Path:
    catalog = root / name
    shutil.copytree(source, catalog)
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - {{name: {name}, thresholds: {{max_cost_per_run_usd: 1}},"
        f" allow_unpriced: {str(allow_unpriced).lower()}}}\n"
    )
    return catalog


async def test_two_services_on_one_ledger_a_strict_one_refuses_while_the_others_unpriced_call_is_in_flight(
    catalog_copy: Path, tmp_path: Path, held: HeldUpstream
):
    """Service A (its run limit allows unpriced models) delegates a call of compat:unpriced from run parent; while it is
    at the vendor, service B (the same limit, strict) calls under run parent: refused, and recorded as refused."""
    db = tmp_path / "shared.db"
    env = {**held.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    lenient = _catalog(tmp_path, catalog_copy, "lenient", True)
    strict = _catalog(tmp_path, catalog_copy, "strict", False)
    a = await Service.open(catalog=lenient, db=db, env=env)
    b = await Service.open(catalog=strict, db=db, env=env)
    try:
        unpriced = {"data": "d", "model_config": {"provider": "compat", "model": "unpriced", "max_tokens": 10}}
        priced = {"data": "d", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 10}}
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: a.invoke_skill("skill.analysis", unpriced, run_id="child", parent_run_id="parent"))
            await held.until_arrived(1)
            # before: admitted beside it, as if it held nothing (and held at the vendor too: cut short here)
            with pytest.raises(BudgetExceeded) as caught, anyio.fail_after(60):
                await b.invoke_skill("skill.analysis", priced, run_id="parent")
            assert held.arrived == 1  # B's call never reached the vendor
            status = await b.check_budget(run_id="parent")
            fit = await b.check_budget(run_id="parent", skill="skill.analysis", model="compat:metered")
            held.let_go()
        after = await b.invoke_skill("skill.analysis", priced, run_id="parent")  # recorded: B goes on
    finally:
        await a.aclose()
        await b.aclose()
    assert "run child is in flight at compat:unpriced" in str(caught.value), caught.value
    assert caught.value.details["reason"] == "unbounded_in_flight"
    [limit] = status["limits"]
    assert limit["reserved_by"]["unbounded"] == 1, limit
    # check_budget's word on a call is the reservation's: it does not fit (before: fits, $1 left)
    call = fit["call"]
    assert call["fits"] is False and fit["limits"][0]["call_fits"] is False, call
    assert "while a call of no known price is in flight in run parent, strict's run limit refuses" in call["reason"]
    assert "a call of skill.analysis too; try again once it is recorded" in call["reason"], call["reason"]
    assert after is not None
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]


@pytest.mark.parametrize("kind", ["run", "day"])
def test_in_one_batch_a_placeholder_made_before_a_strict_reservation_refuses_it(tmp_path: Path, kind: str):
    """The group commit makes concurrent calls' reservations in one pass, each scope read once and kept current in
    memory: a placeholder made in the batch counts as no bound for the strict reservations after it, as it would made
    one by one."""
    db = tmp_path / "batch.db"
    anyio.run(_create, db)
    strict = [Limit(kind, Decimal(1), "strict", False)]  # type: ignore[arg-type]
    batch = [
        budget.Reservation(strict, Decimal("0.1"), "parent", None, call_id="c1"),  # reads the scope first
        budget.Reservation([], None, "child", None, "parent", call_id="cA"),  # a placeholder, no limit read
        budget.Reservation(strict, Decimal("0.1"), "parent", None, call_id="c2"),
    ]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        got = budget.Reservation.apply_all(conn, batch)
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert [ok for ok, _ in got] == [True, True, False], got
    assert "call cA of run child is in flight" in str(got[2][1]), got[2][1]


async def _create(db: Path) -> None:
    async with Ledger(db):
        pass


async def test_an_undelegated_call_of_unknown_price_holds_a_placeholder_that_a_strict_limit_sees(tmp_path: Path):
    """Process A's call (no parent) of a model of unknown price under its limits that allow unpriced models held no
    reservation at all: process B's strict day limit could not see it in flight. It holds the placeholder a delegated
    call holds, and B refuses; recorded, the placeholder goes with the reservation it is."""
    db = tmp_path / "shared.db"
    async with Ledger(db) as a, Ledger(db) as b:
        lenient = Governance(_policies(True, max_cost_per_day_usd="1"), a, FixedPricer(None))
        admission = await lenient.admit(attempt_ctx("solo", agent="a", call_id="cA"))
        assert admission.reservation_id is not None  # before: None, nothing in the ledger
        strict = Governance(_policies(False, max_cost_per_day_usd="1"), b, FixedPricer("0.1"))
        with pytest.raises(BudgetExceeded) as caught:
            await strict.admit(attempt_ctx("other", call_id="cB"))
        await lenient.release(admission)  # (its call gone: the placeholder with it)
        after = await strict.admit(attempt_ctx("other", call_id="cB"))
    assert "call cA of run solo is in flight" in str(caught.value), caught.value
    assert after.reservation_id is not None
