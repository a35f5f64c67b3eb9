"""Reservations given back: a failed, refused, cancelled or unsent attempt holds nothing of a limit."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Admission, AttemptContext, Governance
from magsag_mcp.ledger import Ledger
from magsag_mcp.service import Service
from magsag_mcp.types import Target
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record, run_limit

pytestmark = pytest.mark.anyio


async def test_failed_attempts_take_nothing_from_the_call_limit_but_successes_do(catalog_copy, tmp_path, upstream):
    # Each attempt's worst case is under the call limit; two servers fail first (not billed) and the
    # third answers: the call goes through. The limit is about the call, not about each attempt.
    prices(catalog_copy, '"compat:*": {input: 100, output: 100}\n')
    policy(catalog_copy, "policies:\n  - name: per_call\n    thresholds: {max_cost_per_call_usd: 0.03}\n")
    upstream.plan("a", 500, 500)
    upstream.plan("b", 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MAX_RETRIES="1")
    mc = {
        "provider": "compat",
        "model": "a",
        "max_tokens": 150,
        "fallbacks": [{"provider": "compat", "model": "b"}, {"provider": "compat", "model": "c"}],
    }
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    await svc.aclose()
    assert result.result.model == "c"
    assert [a.outcome for a in result.attempts][-1] == "ok"


@pytest.mark.parametrize("threshold", ["max_cost_per_agent_daily_usd", "max_cost_per_run_usd", "max_cost_per_day_usd"])
async def test_failed_attempts_hold_nothing_of_a_scoped_limit_for_the_rest_of_their_call(
    catalog_copy, tmp_path, upstream, threshold
):
    # The same call as above under an agent's, a run's or the day's limit: the rejected attempts cost
    # 0, so their reservations must not go on holding their worst case while the call falls back.
    prices(catalog_copy, '"compat:*": {input: 100, output: 100}\n')
    policy(catalog_copy, f"policies:\n  - name: scoped\n    thresholds: {{{threshold}: 0.03}}\n")
    upstream.plan("a", 500, 500)
    upstream.plan("b", 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MAX_RETRIES="1")
    mc = {
        "provider": "compat",
        "model": "a",
        "max_tokens": 150,
        "fallbacks": [{"provider": "compat", "model": "b"}, {"provider": "compat", "model": "c"}],
    }
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, agent="bob", run_id="r1")
    budget = await svc.check_budget(agent="bob", run_id="r1")
    await svc.aclose()
    assert result.result.model == "c"
    assert [a.outcome for a in result.attempts] == ["error"] * 4 + ["ok"]
    assert all(limit["reserved_usd"] == "0" for limit in budget["limits"])


async def test_an_attempt_that_failed_for_nothing_holds_nothing_while_its_call_waits_to_retry(
    catalog_copy, tmp_path, upstream
):
    # A 429 costs nothing, but its reservation went on holding the attempt's worst case through the backoff
    # (up to MAGSAG_RETRY_MAX_DELAY, or the server's Retry-After): another call of the run, made meanwhile,
    # was refused as over the run limit ("reserved $0.025") though nothing had been spent or was running.
    prices(catalog_copy, '"compat:*": {input: 100, output: 100}\n')
    policy(catalog_copy, "policies:\n  - name: scoped\n    thresholds: {max_cost_per_run_usd: 0.03}\n")
    upstream.plan("a", 429)
    upstream.retry_after = 0.001  # within MAGSAG_RETRY_MAX_DELAY: waited for
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {"provider": "compat", "model": "a", "max_tokens": 150}}
    during: list[Any] = []
    sleep = svc.cascade.sleep

    async def meanwhile(seconds: float) -> None:
        if not during:  # the first call's wait: the second call is made in it
            during.append(None)
            during[0] = await svc.invoke_skill("skill.analysis", payload, run_id="r1")
        await sleep(seconds)

    svc.cascade.sleep = meanwhile
    first = await svc.invoke_skill("skill.analysis", payload, run_id="r1")
    await svc.aclose()
    assert during[0].result.model == first.result.model == "a"
    assert [a.outcome for a in first.attempts] == ["error", "ok"]


async def test_an_attempt_left_for_a_fallback_its_budget_refused_holds_nothing_while_it_waits_to_retry(
    catalog_copy, tmp_path, upstream
):
    # A 429 on the first target moves on to the fallback first; when the run's limit refused that (dearer) fallback,
    # the cascade came back to wait out the first target's Retry-After and retry it. Through that wait the 429's
    # reservation went on holding its worst case (the fallback's refused reservation had rolled its shrink back):
    # another call of the run, made meanwhile, was refused as over the run limit for spend never made.
    # The fallback's worst case ($0.0365) fits the $0.04 limit alone and is refused for the run's $0.008 spent: one a
    # limit refuses whatever was spent is no target left, and the 429's target would be retried at once (gov54).
    prices(catalog_copy, '"compat:b": {input: 160, output: 160}\n"compat:*": {input: 100, output: 100}\n')
    policy(catalog_copy, "policies:\n  - name: scoped\n    thresholds: {max_cost_per_run_usd: 0.04}\n")
    upstream.plan("a", 429)
    upstream.retry_after = 0.001  # within MAGSAG_RETRY_MAX_DELAY: waited for
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await record(svc.ledger, "r1", "0.008")
    alone = {"provider": "compat", "model": "a", "max_tokens": 150}
    with_fallback = {**alone, "fallbacks": [{"provider": "compat", "model": "b"}]}
    during: list[Any] = []
    sleep = svc.cascade.sleep

    async def meanwhile(seconds: float) -> None:
        if not during:  # the first call's wait: the second call is made in it
            during.append(None)
            during[0] = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": alone}, run_id="r1")
        await sleep(seconds)

    svc.cascade.sleep = meanwhile
    try:
        first = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": with_fallback}, run_id="r1")
    finally:
        await svc.aclose()
    assert [(a.model, a.outcome) for a in first.attempts] == [("a", "error"), ("b", "budget_exceeded"), ("a", "ok")]
    assert during[0].result.model == first.result.model == "a"


async def test_a_ledger_error_while_shrinking_a_waiting_reservation_does_not_fail_the_call(
    catalog_copy, tmp_path, upstream
):
    # The shrink before a retry's wait is a courtesy to other calls: a raw sqlite error in it (a disk I/O
    # error on the inline write) escaped unconverted and failed a call whose retry would have served it.
    prices(catalog_copy, '"compat:*": {input: 100, output: 100}\n')
    policy(catalog_copy, "policies:\n  - name: scoped\n    thresholds: {max_cost_per_run_usd: 0.03}\n")
    upstream.plan("a", 429)
    upstream.retry_after = 0.001
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try_now = svc.ledger.try_now
    shrinks: list[str] = []

    def failing_shrink(fn: Any, **kw: Any) -> Any:
        if getattr(fn, "__name__", None) == "shrink":
            shrinks.append("shrink")
            raise sqlite3.OperationalError("disk I/O error")
        return try_now(fn, **kw)

    svc.ledger.try_now = failing_shrink  # type: ignore[method-assign]
    payload = {"data": "x", "model_config": {"provider": "compat", "model": "a", "max_tokens": 150}}
    result = await svc.invoke_skill("skill.analysis", payload, run_id="r1")
    budget = await svc.check_budget(run_id="r1")
    await svc.aclose()
    assert shrinks == ["shrink"]
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    assert all(limit["reserved_usd"] == "0" for limit in budget["limits"])


async def test_an_attempt_admitted_past_the_deadline_gives_its_reservation_back_with_the_calls_record(
    catalog_copy, tmp_path, upstream
):
    # The reservation waited for a write lock another process held (a prune's step) and was made only once the
    # call's deadline had passed: nothing is sent. Its drop was a write of its own, which met the lock again (the
    # prune's next step), failed, and left the reservation held until it expired into an "abandoned" attempt of
    # unknown cost: the run's limit counted its worst case for ever, for a request never sent. The skip's record
    # now carries it: the reservation goes when the call is recorded (here at close, the lock gone).
    prices(catalog_copy, '"compat:*": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: scoped\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "gov.db", isolation_level=None)
    admit = svc.governance.admit

    async def admitted_late(ctx: AttemptContext) -> Admission:
        admission = await admit(ctx)
        other.execute("BEGIN IMMEDIATE")  # the other process's next step takes the lock again
        svc.cascade.clock = lambda: time.monotonic() + 1e6  # the wait for the lock used up the deadline
        return admission

    svc.governance.admit = admitted_late  # type: ignore[method-assign]
    payload = {"data": "x", "model_config": {"provider": "compat", "model": "a", "max_tokens": 10}}
    try:
        with pytest.raises(E.MagsagError):  # the lock refuses the call's record too: kept, written at close
            await svc.invoke_skill("skill.analysis", payload, run_id="r1")
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "gov.db")
    held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    attempts = conn.execute("SELECT outcome, cost_pusd, error_class FROM attempts").fetchall()
    conn.close()
    assert upstream.calls["a"] == 0
    assert held == 0 and attempts == [("skipped", 0, "skipped")]


async def admit_then_cancel_a_queued_one(gov: Governance) -> Admission:
    """Admit an attempt, then cancel a second one whose reservation waits in the ledger's queue behind it
    (with one attempt running, a reservation is queued). Returns the first admission, still running."""
    first = await gov.admit(attempt_ctx("r"))
    waiting = asyncio.ensure_future(gov.admit(attempt_ctx("r")))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    return first


async def test_a_reservation_made_for_a_cancelled_caller_is_dropped(tmp_path: Path):
    # Queued behind a running attempt, the reservation is made by the writer even if its caller is
    # cancelled meanwhile; nobody holds its id, so it must not sit on the budget until it expires.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        first = await admit_then_cancel_a_queued_one(gov)
        await gov.release(first)
        for _ in range(3):  # the drop is queued behind the reservation it undoes
            await ledger.submit(lambda c: None)
        held = await ledger.read(lambda c: c.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0])
        assert held == 0 and gov._running == 0


async def test_a_cancelled_callers_reservation_outlives_a_closed_ledger_until_it_expires(tmp_path: Path):
    # The ledger closes while a cancelled caller's reservation is queued: the writer still makes it, and
    # the drop that would undo it finds the ledger closed. That must end quietly (no error escapes the
    # drop, which the writer makes as it drains); the reservation then holds budget only until it expires.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        drops: list[int] = []
        real_drop = gov._drop_orphan

        def spy(reservation_id: int, run_id: str | None) -> None:
            real_drop(reservation_id, run_id)  # an error escaping it would fail the writer, and the close below
            drops.append(reservation_id)

        gov._drop_orphan = spy  # type: ignore[method-assign]
        first = await admit_then_cancel_a_queued_one(gov)
        assert drops == []  # the queued reservation is not made yet
        await ledger.close()  # the writer drains the queue, making the orphan's reservation
        assert drops == [first.reservation_id + 1]  # the drop met a closed ledger and swallowed it
        await gov.settle(first, Decimal(0))
    conn = sqlite3.connect(tmp_path / "l.db")
    rows = conn.execute("SELECT id, amount_pusd, expires_at FROM budget_reservations ORDER BY id").fetchall()
    conn.close()
    assert [(rid, amount) for rid, amount, _ in rows] == [
        (first.reservation_id, 10**11),
        (first.reservation_id + 1, 10**11),
    ]
    assert time.time() < rows[1][2] <= time.time() + gov.reservation_ttl  # held until it expires


async def test_a_progress_callback_that_raises_releases_the_attempts_reservation(catalog_copy: Path, tmp_path: Path):
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":
            raise RuntimeError("the client went away")

    async with await Service.open(catalog=catalog_copy, db=tmp_path / "g.db", env={}) as svc:
        payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
        with pytest.raises(RuntimeError, match="the client went away"):
            await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        assert svc.governance._running == 0
        await svc.ledger.submit(lambda c: None)
    held = sqlite3.connect(tmp_path / "g.db").execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    assert held == 0


async def test_a_call_cancelled_as_its_attempt_is_announced_gives_its_reservation_back_with_its_record(
    catalog_copy: Path, tmp_path: Path
):
    # The caller cancelled while the attempt's progress was delivered (an MCP client's cancel): nothing was sent.
    # The reservation was dropped by a write of its own; with another process holding the write lock that write
    # failed: the call was recorded as failed with the lock's error rather than cancelled, and the reservation
    # stayed held until it expired into an "abandoned" attempt counted at its worst case. The attempt is now
    # recorded as not sent, carrying the reservation, which goes with the call's record.
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "g.db", env={})
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    scope = anyio.CancelScope()

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":
            other.execute("BEGIN IMMEDIATE")  # another process takes the write lock
            scope.cancel()  # and the caller gives up
            await anyio.sleep(0)

    payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
    try:
        with anyio.fail_after(60):  # a hang guard
            with scope:
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        assert scope.cancelled_caught
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "g.db")
    held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    runs = conn.execute("SELECT status, cost_pusd, cost_bound_pusd FROM runs").fetchall()
    attempts = conn.execute("SELECT outcome, cost_pusd FROM attempts").fetchall()
    conn.close()
    assert held == 0 and runs == [("cancelled", 0, 0)] and attempts == [("skipped", 0)]


async def test_a_refused_fallback_still_shrinks_its_calls_failed_attempts(tmp_path: Path):
    # A 503 costs 0: the call's next reservation shrinks it to that. When that reservation was refused (a
    # hop dearer than the limit), the shrink was rolled back with it yet marked done, so the 503 went on
    # holding its worst case and crowded out the next, affordable hop. (Queued, the shrink was kept.)
    class ByModel:
        def reserved_worst_case(self, target: Target, *_: object, **__: object) -> Decimal:
            return Decimal({"a": "0.6", "b": "1.2", "c": "0.5"}[target.model])

    def hop(model: str, prior: list[Admission]) -> AttemptContext:
        ctx = attempt_ctx("r", prior_admissions=tuple(prior))
        ctx.target = Target("compat", model)
        return ctx

    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, ByModel())
        first = await gov.admit(hop("a", []))
        await gov.settle(first, Decimal(0))  # a 503
        with pytest.raises(E.BudgetExceeded, match="worst case alone is above the limit"):
            await gov.admit(hop("b", [first]))
        third = await gov.admit(hop("c", [first]))
        status = await gov.check_budget(run_id="r")
    assert third.reservation_id is not None and run_limit(status)["reserved_usd"] == "0.5"
