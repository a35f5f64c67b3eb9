"""A fallback hop taking over the reservation of an attempt that cost nothing (Governance.admit, budget.Carry).

A 500 before any billed token costs nothing, and its reservation held its worst case: the call's next attempt, no
dearer, takes that reservation over (its row shrunk to the hop's worst case and named after the hop) instead of
releasing it and reserving again. What must hold: nothing is ever spent past a limit, a crashed process's reservation
names the attempt that was in flight, an attempt that cost something keeps holding it, and a hold that shrank even for
a moment (budget other calls may have taken meanwhile) is never grown back without reading the limits.
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Admission, AttemptContext, Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.abandoned import record_abandoned
from magsag_mcp.service import Service
from magsag_mcp.types import Target

pytestmark = pytest.mark.anyio

PICO = Decimal(10) ** 12


class ByModel:
    """Each model's worst case, as the pricer would work it out."""

    def __init__(self, **worst: str) -> None:
        self.worst = {m: Decimal(w) for m, w in worst.items()}

    def reserved_worst_case(self, target: Target, *_: object, **__: object) -> Decimal:
        return self.worst[target.model]


def hop(model: str, prior: list[Admission], run_id: str = "r") -> AttemptContext:
    return AttemptContext(
        run_id, None, "skill.analysis", None, Target("compat", model), 10, 10, False, prior_admissions=tuple(prior)
    )


def run_cap(amount: str) -> PolicySet:
    return PolicySet([Policy(name="cap", thresholds={"max_cost_per_run_usd": amount})])


def rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, provider, model, amount_pusd FROM budget_reservations ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_a_hop_after_an_attempt_that_cost_nothing_takes_its_reservation_over(tmp_path: Path):
    # Before: the 500's reservation was shrunk to $0 and the hop reserved afresh, in a transaction that read every
    # limit's spend and holds again (about 224,000 instructions of the fallback path's 2,677,000).
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.6", b="0.5"))
        first = await gov.admit(hop("a", []))
        held = first.reservation_id
        await gov.settle(first, Decimal(0))  # a 500: nothing billed
        second = await gov.admit(hop("b", [first]))
        status = await gov.check_budget(run_id="r")
    assert second.reservation_id == held and first.reservation_id is None  # handed on, not shared
    assert second.reserved_usd == Decimal("0.5")
    # the row is what the hop's own reservation would have been: its worst case, its target
    assert rows(tmp_path / "l.db") == [(held, "compat", "b", 500_000_000_000)]
    [run] = [lim for lim in status["limits"] if lim["limit"] == "run"]
    assert run["reserved_usd"] == "0.5"


async def test_a_process_that_dies_during_the_hop_leaves_the_hop_recorded_not_the_attempt_before_it(tmp_path: Path):
    # What a crashed process's reservation stands for is recorded by the next process's sweep: the attempt in flight
    # (the hop, at its worst case), not the 500 before it, which answered and cost nothing.
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.6", b="0.5"))
        first = await gov.admit(hop("a", []))
        await gov.settle(first, Decimal(0))
        await gov.admit(hop("b", [first]))  # ... and the process dies with it in flight
    conn = sqlite3.connect(db)
    try:
        conn.execute("UPDATE budget_reservations SET expires_at = 0")
        assert record_abandoned(conn, time.time()) == 1
        conn.commit()
        stand_ins = conn.execute(
            "SELECT provider, model, error_class, cost_pusd, cost_bound_pusd FROM attempts ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    assert stand_ins == [("compat", "b", "abandoned", None, 500_000_000_000)]


@pytest.mark.parametrize("cost", ["0.01", None], ids=["billed", "unknown"])
async def test_an_attempt_that_cost_something_keeps_its_reservation(tmp_path: Path, cost: str | None):
    # A billed 429 or a stream cut after tokens were billed: its hold stands for that cost (or, unknown, its worst
    # case) until the call is recorded, so the hop reserves for itself, reading the limits.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.6", b="0.3"))
        first = await gov.admit(hop("a", []))
        held = first.reservation_id
        await gov.settle(first, None if cost is None else Decimal(cost))
        second = await gov.admit(hop("b", [first]))
    assert first.reservation_id == held and second.reservation_id not in (None, held)
    kept = 10_000_000_000 if cost else 600_000_000_000  # shrunk to what it cost; unknown, its worst case
    assert rows(tmp_path / "l.db") == [(held, "compat", "a", kept), (second.reservation_id, "compat", "b", 3 * 10**11)]


async def test_a_hop_dearer_than_what_is_held_reserves_afresh_against_the_limits(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.6", b="0.7", c="1.1"))
        first = await gov.admit(hop("a", []))
        await gov.settle(first, Decimal(0))
        second = await gov.admit(hop("b", [first]))  # 0.7 > 0.6: read again (the 500 shrunk to $0), and it fits
        assert second.reservation_id != first.reservation_id
        await gov.settle(second, Decimal(0))
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(hop("c", [first, second]))  # dearer than the whole limit: never taken over
    # (the refused reservation rolled its shrink of b back: the next one, or the call's record, makes it)
    assert [(model, amount) for _, _, model, amount in rows(tmp_path / "l.db")] == [("a", 0), ("b", 7 * 10**11)]


async def test_a_hold_shrunk_for_a_retry_wait_is_not_grown_back_past_the_limit(tmp_path: Path):
    # A 429's hold shrinks to $0 for its wait, and another call takes that budget meanwhile. Taken over by the hop
    # after it, the row would hold the hop's worst case again without the limit being read: $1.1 held under $1.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.6", b="0.5"))
        first = await gov.admit(hop("a", []))
        await gov.settle(first, Decimal(0))
        gov.waiting(first)  # its wait: shrunk to $0
        other = await gov.admit(hop("a", []))  # another call of the run: 0.6 fits now
        assert other.reservation_id is not None
        with pytest.raises(E.BudgetExceeded, match="reserved \\$0.6"):
            await gov.admit(hop("b", [first]))  # 0.6 + 0.5 > 1
    assert sum(amount for *_, amount in rows(tmp_path / "l.db")) == 600_000_000_000


async def test_a_cut_attempts_hold_counts_at_its_counted_bound_through_its_retrys_wait(tmp_path: Path):
    # A stream cut after its vendor counted a prompt dearer than the reservation estimated may have cost its bound
    # ($0.7), above its reservation ($0.4). The retry's reservation holds it at that bound (a0e2324), but through the
    # wait before it the row held the reservation: another call of the run read $0.4 held, reserved $0.4 more and
    # was let through, for a run that may have spent $1.1 under its $1 limit.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.4"))
        first = await gov.admit(hop("a", []))
        await gov.settle(first, None, Decimal("0.7"))  # cut: its cost unknown, bounded at $0.7
        gov.waiting(first)  # its wait: held at its bound
        with pytest.raises(E.BudgetExceeded, match="reserved \\$0.7"):
            await gov.admit(hop("a", []))  # another call of the run: 0.7 + 0.4 > 1
        with pytest.raises(E.BudgetExceeded, match="reserved \\$0.7"):
            await gov.admit(hop("a", [first]))  # and the call's own retry, as before
    assert [amount for *_, amount in rows(tmp_path / "l.db")] == [7 * 10**11]


async def test_a_hold_recorded_as_abandoned_meanwhile_is_not_taken_over(tmp_path: Path):
    # The process hung past the reservation's expiry and another recorded it as an abandoned attempt: its row is
    # gone, so the hop reserves afresh (and the 500's record, when it lands, replaces the stand-in).
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(run_cap("1"), ledger, ByModel(a="0.3", b="0.3"))
        first = await gov.admit(hop("a", []))
        held = first.reservation_id
        await gov.settle(first, Decimal(0))

        def sweep(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE budget_reservations SET expires_at = 0")
            return record_abandoned(conn, time.time())

        assert await ledger.submit(sweep) == 1
        second = await gov.admit(hop("b", [first]))
    assert first.reservation_id == held and second.reservation_id not in (None, held)
    assert rows(tmp_path / "l.db") == [(second.reservation_id, "compat", "b", 3 * 10**11)]


async def test_a_fallback_after_a_500_is_recorded_with_the_one_reservation_it_held(catalog_copy, tmp_path, upstream):
    # Retried twice after a wait (each retry reserving afresh: its hold shrank for the wait), then the fallback takes
    # the last 500's reservation over. Both attempts name it: the record deletes it once, and nothing is left held.
    (catalog_copy / "prices.yaml").write_text('"compat:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    upstream.plan("a", 500, 500, 500)
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env)
    mc = {"provider": "compat", "model": "a", "fallbacks": [{"provider": "compat", "model": "b"}], "max_tokens": 50}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r")
        status = await svc.check_budget(run_id="r")
    finally:
        await svc.aclose()
    assert [(a.model, a.outcome) for a in result.attempts] == [("a", "error")] * 3 + [("b", "ok")]
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        ids = [rid for (rid,) in conn.execute("SELECT reservation_id FROM attempts ORDER BY id")]
        left = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    assert None not in ids and len(set(ids)) == 3 and ids[2] == ids[3] and left == 0
    assert all(lim["reserved_usd"] == "0" for lim in status["limits"])


async def test_200_concurrent_fallbacks_after_a_500_never_pass_a_day_limit(catalog_copy, tmp_path, upstream):
    # Each call's first target answers 500 (nothing billed; retried after a wait, for which its hold shrank, then
    # left) and its fallback, no dearer, takes the last reservation over, inline or through the group commit.
    # Whatever the ledger holds spent and reserved, read at any moment, stays within the day's limit; at the end
    # nothing is held and what the upstream billed is counted.
    (catalog_copy / "prices.yaml").write_text('"compat:*": {input: 1.0, output: 1.0}\n')
    limit = Decimal("0.005")
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{max_cost_per_day_usd: {limit}}}\n"
    )
    upstream.plan("a", *[500] * 200)
    upstream.latency = 0.002
    db = tmp_path / "day.db"
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    svc = await Service.open(catalog=catalog_copy, db=db, env=env)
    outcomes: dict[str, int] = {}
    peaks: list[Decimal] = []

    def used() -> Decimal:
        conn = sqlite3.connect(db)
        try:
            conn.execute("BEGIN")
            spent, bound = conn.execute(
                "SELECT coalesce(SUM(cost_pusd), 0),"
                " coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0) FROM attempts"
            ).fetchone()
            (held,) = conn.execute("SELECT coalesce(SUM(amount_pusd), 0) FROM budget_reservations").fetchone()
            conn.execute("COMMIT")
        finally:
            conn.close()
        return Decimal(spent + bound + held) / PICO

    async def one(i: int) -> None:
        mc = {"provider": "compat", "model": "a", "fallbacks": [{"provider": "compat", "model": "b"}], "max_tokens": 60}
        try:
            await svc.invoke_skill("skill.analysis", {"data": "d" * 40, "model_config": mc}, run_id=f"r{i}", agent="x")
            kind = "ok"
        except E.MagsagError as exc:
            kind = exc.kind
        outcomes[kind] = outcomes.get(kind, 0) + 1

    async def watch() -> None:
        while True:
            if (now := used()) > limit:
                peaks.append(now)
            await anyio.sleep(0.003)

    async with anyio.create_task_group() as outer:
        outer.start_soon(watch)
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        outer.cancel_scope.cancel()
    await svc.aclose()
    billed = sum(Decimal(n_in + n_out) for _, n_in, n_out in upstream.log) / 1_000_000
    assert not peaks, peaks[:3]
    assert used() <= limit and billed <= used()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
        # Each fallback that answered, with the attempt just before it in its run. A fallback straight after a 500
        # (sent on a reservation made after its wait, whole and settled at $0) takes that reservation over. One after
        # a retry the limit refused (recorded as budget_exceeded, the 500 before it having shrunk its hold for the
        # wait) reserves afresh: which calls meet a refusal depends on how the 200 interleave.
        hops = conn.execute(
            "SELECT b.reservation_id, a.model, a.outcome, a.reservation_id FROM attempts b JOIN attempts a"
            " ON a.id = (SELECT MAX(p.id) FROM attempts p WHERE p.run_id = b.run_id AND p.id < b.id)"
            " WHERE b.model = 'b' AND b.outcome = 'ok'"
        ).fetchall()
        after_a_500 = [(took, held) for took, model, outcome, held in hops if (model, outcome) == ("a", "error")]
        carried = sum(took == held for took, held in after_a_500)
        fell_back = len(after_a_500)
    finally:
        conn.close()
    assert outcomes.get("ok", 0) > 0 and outcomes.get("budget_exceeded", 0) > 0, outcomes
    assert carried == fell_back > 0  # every fallback straight after a 500 took its reservation over
