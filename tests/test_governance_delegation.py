"""Delegated runs spend their top run's budget: the run tree, as recorded, in flight and joined by id."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Admission, Governance
from magsag_mcp.ledger import Ledger
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record, run_limit

pytestmark = pytest.mark.anyio


async def test_delegated_child_spend_counts_against_the_parent_run_limit(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.3"))
        await record(ledger, "mag", "0.1")
        await record(ledger, "sag", "0.8", parent="mag")  # the MAG delegated; the SAG spent 0.8
        cost, _ = await ledger.run_cost("mag")
        status = await gov.check_budget(run_id="mag")
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("mag"))  # 0.9 spent + 0.3 > 1
        # a second delegated run spends the same budget
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(attempt_ctx("sag-2", parent="mag"))
        child_view = await gov.check_budget(run_id="sag")  # the ledger knows sag's parent
    assert cost == Decimal("0.9")
    assert Decimal(run_limit(status)["spent_usd"]) == cost  # the same scope as obs.get_current_cost()
    assert run_limit(status)["remaining_usd"] == "0.1"
    assert info.value.details["spent_usd"] == "0.9"
    assert run_limit(child_view)["budget_run_id"] == "mag" and Decimal(run_limit(child_view)["spent_usd"]) == cost


async def test_joining_a_delegated_run_by_its_id_alone_still_spends_its_parents_budget(tmp_path: Path):
    # MCP's invoke_skill(run_id=...) and `magsag invoke --run-id` join a run without naming its parent;
    # before, such a call reserved against the child alone and took the tree past the parent's limit.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.3"))
        await record(ledger, "root", "0.5")
        await record(ledger, "child", "0.3", parent="root")
        with pytest.raises(E.BudgetExceeded, match=r"for run root \(with its delegated runs, child among them\)"):
            await gov.admit(attempt_ctx("child"))  # 0.8 spent + 0.3 > 1
        fresh = await gov.admit(attempt_ctx("unrelated"))  # a run with no recorded parent is its own
    assert fresh.reservation_id is not None


async def test_a_run_that_names_itself_its_parent_is_counted_once_everywhere(tmp_path: Path):
    # The ledger's run_cost (obs.get_current_cost()) and the budget's run limit read one definition of
    # a run's scope; a self-parented run must not be summed twice by either.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        await record(ledger, "solo", "0.4", parent="solo")
        await record(ledger, "solo-child", None, parent="solo")  # an unknown price
        cost, unknown = await ledger.run_cost("solo")
        status = await gov.check_budget(run_id="solo")
    assert (cost, unknown) == (Decimal("0.4"), True)
    assert run_limit(status)["spent_usd"] == "0.4"
    assert run_limit(status)["unpriced_calls"] == 1 and status["cost_complete"] is False


async def test_delegated_children_in_flight_reserve_against_the_parent_run_limit(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        admitted: list[Admission] = []
        refused: list[E.BudgetExceeded] = []

        async def child(i: int) -> None:
            try:
                admitted.append(await gov.admit(attempt_ctx(f"sag-{i}", parent="mag")))
            except E.BudgetExceeded as exc:
                refused.append(exc)

        async with anyio.create_task_group() as tg:  # a MAG fans out 40 delegations at once
            for i in range(40):
                tg.start_soon(child, i)
        status = await gov.check_budget(run_id="mag")
        one_child = await gov.check_budget(run_id="sag-0", parent_run_id="mag")
        # as check_budget / magsag budget ask it, naming the run alone while its first call is in flight (before: the
        # run's own scope, "spent $0, reserved $0", beside a parent whose limit its call had all but used up)
        named_alone = await gov.check_budget(run_id="sag-0")
        with pytest.raises(E.BudgetExceeded, match=r"for run mag \(with its delegated runs, mag-own"):
            await gov.admit(attempt_ctx("mag-own", parent="mag"))
        await gov.release(admitted[0])
        freed = await gov.admit(attempt_ctx("mag"))  # released budget is the parent's again
    assert len(admitted) == 10 and len(refused) == 30
    assert run_limit(status)["reserved_usd"] == "1" and run_limit(status)["status"] == "exceeded"
    assert run_limit(one_child)["budget_run_id"] == "mag" and run_limit(one_child)["reserved_usd"] == "1"
    assert run_limit(named_alone) == run_limit(one_child)
    assert freed.reservation_id is not None


async def test_delegated_calls_through_the_service_stop_at_the_parents_run_limit(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 0.0006}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    done, refused = 0, 0
    for i in range(12):  # each child is its own run, delegated from "mag"
        try:
            await svc.invoke_skill("skill.analysis", payload, run_id=f"sag-{i}", parent_run_id="mag")
            done += 1
        except E.BudgetExceeded as exc:
            refused += 1
            assert exc.policy == "run_cap"
    total, _ = await svc.run_cost("mag")
    status = await svc.check_budget(run_id="sag-0")
    await svc.aclose()
    assert done >= 1 and refused >= 1 and done + refused == 12
    assert total <= Decimal("0.0006")  # children together stay inside the parent's limit
    lim = run_limit(status)
    assert lim["budget_run_id"] == "mag" and Decimal(lim["spent_usd"]) == total


async def test_a_run_delegated_from_a_delegated_run_spends_the_top_runs_budget(catalog_copy, tmp_path, upstream):
    # A delegated run records the top run as its parent (the runner passes the root at any depth), so the
    # root's run limit covers the whole tree. Service.invoke_skill(parent_run_id=<a delegated run>) recorded
    # that run as the parent instead, and reserved against its subtree alone: a grandchild escaped the
    # root's limit, and its spend never showed in the root's budget.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n")
    async with Ledger(tmp_path / "gov.db") as ledger:
        await record(ledger, "root", "0.5")
        await record(ledger, "child", "0.4999", parent="root")
        await record(ledger, "root2", "0")
        await record(ledger, "child2", "0", parent="root2")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    with pytest.raises(E.BudgetExceeded, match="for run root "):
        await svc.invoke_skill("skill.analysis", payload, run_id="grandchild", parent_run_id="child")
    done = await svc.invoke_skill("skill.analysis", payload, run_id="grandchild2", parent_run_id="child2")
    status = await svc.check_budget(run_id="root2")
    await svc.aclose()
    assert upstream.calls["metered"] == 1
    assert Decimal(run_limit(status)["spent_usd"]) == Decimal(done.cost_usd) > 0
    conn = sqlite3.connect(tmp_path / "gov.db")
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'grandchild2'").fetchone() == ("root2",)


async def test_a_run_recorded_outside_a_tree_cannot_be_joined_into_it_past_its_limit(catalog_copy, tmp_path, upstream):
    # A run is recorded once with its parent, which later records never change. Joined as "delegated from
    # mag" after it was recorded as a top run (or from another tree), its calls reserved against mag's
    # limit while their spend landed outside mag's tree: the limit never saw them, and every call fit. A
    # run that others were delegated from is a top run: under mag, its delegated runs would escape mag.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 0.0006}\n")
    async with Ledger(tmp_path / "gov.db") as ledger:
        await record(ledger, "job", "0")  # a top run
        await record(ledger, "other-child", "0", parent="other")
        await record(ledger, "boss-child", "0", parent="boss")  # boss: a top run with no call of its own yet
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    recorded_as = {"job": "a top run", "other-child": "delegated from run 'other'", "boss": "a top run"}
    for run_id, was in recorded_as.items():
        with pytest.raises(E.InputError, match=f"run {run_id!r} is recorded as {was}, not as delegated from"):
            await svc.invoke_skill("skill.analysis", payload, run_id=run_id, parent_run_id="mag")
    for i in range(12):  # the runs of mag's own tree, old or new, stay inside its limit
        try:
            await svc.invoke_skill("skill.analysis", payload, run_id=f"sag-{i % 3}", parent_run_id="mag")
        except E.BudgetExceeded:
            pass
    await svc.invoke_skill("skill.analysis", payload, run_id="other-child", parent_run_id="other")  # its own tree
    await svc.invoke_skill("skill.analysis", payload, run_id="job")  # continued where it was recorded
    spent, _ = await svc.run_cost("mag")
    status = await svc.check_budget(run_id="mag")
    await svc.aclose()
    assert 0 < spent <= Decimal("0.0006") and Decimal(run_limit(status)["spent_usd"]) == spent


async def test_a_delegated_run_naming_itself_its_parent_still_spends_its_trees_budget(catalog_copy, tmp_path, upstream):
    # parent_run_id == run_id passed the delegation check (it is skipped for a run's own id) and made the
    # reservation trust that parent: the run's own scope was checked, not the tree it is recorded in, so its
    # calls fit while its spend landed in root's tree past root's limit.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n")
    async with Ledger(tmp_path / "gov.db") as ledger:
        await record(ledger, "root", "0.9")
        await record(ledger, "child", "0.0999", parent="root")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    for parent in ("child", None, "root"):
        with pytest.raises(E.BudgetExceeded, match="for run root "):
            await svc.invoke_skill("skill.analysis", payload, run_id="child", parent_run_id=parent)
    await svc.aclose()
    assert upstream.calls.get("metered", 0) == 0


async def test_a_run_whose_first_call_is_in_flight_is_placed_by_its_reservations(catalog_copy, tmp_path, upstream):
    # A run is recorded when its first call ends. Before that, a call joining it into another tree passed
    # the delegation check (and one delegated from it took it for a top run): the run's spend, or its
    # delegated run's, then landed outside the tree whose limit the reservations were checked against.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    now = time.time()
    await svc.ledger.submit(  # boss: a top run, and sag: delegated from mag, each with a call in flight
        lambda conn: conn.executemany(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
            " attempt_run_id, provider, model, skill) VALUES (?, NULL, ?, ?, 1, 'held', ?, 'compat', 'metered', NULL)",
            [("boss", now, now + 900, "boss"), ("mag", now, now + 900, "sag")],
        )
    )
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    try:
        with pytest.raises(E.InputError, match="run 'boss' is recorded as a top run, not as delegated from run 'mag'"):
            await svc.invoke_skill("skill.analysis", payload, run_id="boss", parent_run_id="mag")
        await svc.invoke_skill("skill.analysis", payload, run_id="sag", parent_run_id="mag")  # its own tree: fine
        await svc.invoke_skill("skill.analysis", payload, run_id="sub", parent_run_id="sag")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "gov.db")
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'sub'").fetchone() == ("mag",)


async def test_a_delegated_run_in_flight_is_placed_by_the_call_that_named_its_parent(catalog_copy, tmp_path, upstream):
    # sag, delegated from mag, has two calls in flight: one that named mag (its reservation's budget run) and one
    # that left parent_run_id out, as the refusal message advises (reserved under sag itself: sag is not recorded
    # yet). Whichever reservation came first placed sag: a continuation naming mag was refused as "recorded as a
    # top run", and a run delegated from sag was put under sag, outside mag's limit.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    now = time.time()
    await svc.ledger.submit(  # the call without a parent retried after the first: its reservation is the older
        lambda conn: conn.executemany(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
            " attempt_run_id, provider, model, skill) VALUES (?, NULL, ?, ?, 1, 'held', ?, 'compat', 'metered', NULL)",
            [("sag", now, now + 900, "sag"), ("mag", now, now + 900, "sag")],
        )
    )
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    try:
        await svc.invoke_skill("skill.analysis", payload, run_id="sub", parent_run_id="sag")
        await svc.invoke_skill("skill.analysis", payload, run_id="sag", parent_run_id="mag")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "gov.db")
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'sub'").fetchone() == ("mag",)
    assert conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'sag'").fetchone() == ("mag",)
