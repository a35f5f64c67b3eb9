"""A process suspended past its reservations' expiry (a laptop asleep, a job stopped with SIGSTOP) finds, as it resumes,
that another process's sweep has recorded its call's reservations as the attempts they stood for ("abandoned", the
provider may bill them, at their worst case). An attempt of the call that is then given back unsent (a setting found
wrong as it was about to be sent) gave back a reservation already gone: its stand-in stayed, a second call of the run
counted at its worst case for a request that never left. The give-back now takes the stand-in back with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.abandoned import give_back, record_abandoned
from magsag_mcp.providers.fake import clear_scripts, script
from magsag_mcp.service import Service
from tests.governance_helpers import FixedPricer, attempt_ctx, limits

pytestmark = pytest.mark.anyio

RETRIES = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
#: long after any reservation of the test expired: what the other process's sweep reads as now
LATER = 4e9


@pytest.fixture(autouse=True)
def _no_scripts_left():
    yield
    clear_scripts()


def _priced_under_a_run_limit(catalog: Path) -> None:
    (catalog / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )


async def test_a_retry_given_back_unsent_after_a_sweep_leaves_no_abandoned_attempt(catalog_copy: Path, tmp_path: Path):
    _priced_under_a_run_limit(catalog_copy)
    db = tmp_path / "g.db"
    # the first try is cut in flight (its cost unknown, so its hold is not carried over: the retry reserves its own);
    # the retry's setting is found wrong as it is about to be sent: nothing of it leaves
    script(
        "a",
        E.ProviderTimeoutError("fake:a: no answer in time", provider="fake", model="a", maybe_billed=True),
        E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path"),
    )
    svc = await Service.open(catalog=catalog_copy, db=db, env=RETRIES)
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt" and data["try"] == 2:
            # the retry admitted, then this process suspended past its reservations' expiry: another process sweeps
            other.execute("BEGIN IMMEDIATE")
            assert record_abandoned(other, LATER) == 2  # the call's two reservations, as its two attempts
            other.execute("COMMIT")

    try:
        with pytest.raises(E.ConfigError):
            with anyio.fail_after(60):  # a hang guard
                payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
    finally:
        await svc.aclose()
    try:
        attempts = other.execute(
            "SELECT error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = 'r' ORDER BY id"
        ).fetchall()
        runs = other.execute("SELECT calls, unpriced_calls, cost_bound_pusd, status FROM runs").fetchall()
        rollup = other.execute("SELECT SUM(attempts), SUM(calls), SUM(cost_bound_pusd) FROM usage_rollup").fetchone()
        day = other.execute("SELECT SUM(cost_bound_pusd) FROM day_spend").fetchone()[0]
        held = other.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        other.close()
    # the first try's own record replaced its stand-in; the retry's stand-in went with its give-back (before: it stayed,
    # the run holding two calls and twice the first try's bound)
    [(kind, cost, bound)] = attempts
    assert (kind, cost) == ("timeout", None) and bound > 0
    assert runs == [(1, 1, bound, "error")]
    assert rollup == (1, 1, bound)
    assert day == bound
    assert held == 0


async def test_a_give_back_of_a_reservation_still_held_drops_it_alone(catalog_copy: Path, tmp_path: Path):
    # no sweep came: the give-back is the plain drop it was, and no attempt of another call is touched
    _priced_under_a_run_limit(catalog_copy)
    db = tmp_path / "g.db"
    script("b", "fine")
    script(
        "a", E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path")
    )
    svc = await Service.open(catalog=catalog_copy, db=db, env=RETRIES)
    try:
        await svc.invoke_skill("skill.analysis", {"data": "d", "model_config": {"model": "fake:b"}}, run_id="r")
        with pytest.raises(E.ConfigError):
            await svc.invoke_skill("skill.analysis", {"data": "d", "model_config": {"model": "fake:a"}}, run_id="r")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT model, outcome FROM attempts ORDER BY id").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    assert rows == [("b", "ok")] and held == 0


async def test_a_refused_give_back_made_after_a_sweep_takes_the_stand_in_back(catalog_copy: Path, tmp_path: Path):
    # The give-back was refused (another process held the write lock past the busy timeout), and is left to the
    # process's next reservation or its close; meanwhile the process was suspended past the reservation's expiry and
    # the other process swept it into a stand-in. The drop made at close found nothing to drop, and the stand-in stayed.
    _priced_under_a_run_limit(catalog_copy)
    db = tmp_path / "g.db"
    script(
        "a", E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path")
    )
    svc = await Service.open(catalog=catalog_copy, db=db, env=RETRIES)
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted (its reservation made): another process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    try:
        with pytest.raises(E.ConfigError) as refused:
            with anyio.fail_after(60):  # a hang guard
                payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        assert "release_error" in refused.value.to_dict()  # the give-back was refused, left to the close
        other.execute("ROLLBACK")
        other.execute("BEGIN IMMEDIATE")
        assert record_abandoned(other, LATER) == 1  # the reservation, expired, as the attempt it stood for
        other.execute("COMMIT")
    finally:
        await svc.aclose()
    try:
        stand_ins = other.execute("SELECT COUNT(*) FROM attempts WHERE error_class = 'abandoned'").fetchone()[0]
        runs = other.execute("SELECT calls, unpriced_calls, cost_bound_pusd FROM runs WHERE run_id = 'r'").fetchall()
        held = other.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        other.close()
    # before: the stand-in stayed, a second call of the run at its worst case
    assert (stand_ins, held) == (0, 0)
    assert runs == [(1, 0, 0)]  # the call's own record alone (its attempt given back unsent)


async def test_a_refused_drop_of_an_orphans_reservation_made_after_a_sweep_takes_the_stand_in_back(tmp_path: Path):
    # A reservation made by the writer for a caller cancelled while it waited in the queue (an orphan's) is dropped at
    # once; that drop refused (another process held the write lock past the busy timeout), it is made by the process's
    # next reservation or at close. Meanwhile the process was suspended past the reservation's expiry and the other
    # process swept it into a stand-in, "the provider may bill it", for a request never sent. The orphan's drop named no
    # run, found no reservation to drop, and left the stand-in: a call of the run counted at its worst case for good.
    db = tmp_path / "g.db"
    async with Ledger(db, busy_timeout_ms=200) as ledger:  # the other process's lock outlasts the busy timeout
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        other = sqlite3.connect(db, isolation_level=None)
        real_drop = gov._drop_orphan

        def lock_then_drop(reservation_id: int, run_id: str | None) -> None:
            other.execute("BEGIN IMMEDIATE")  # taken as the orphan's reservation is made: its drop is refused
            real_drop(reservation_id, run_id)

        gov._drop_orphan = lock_then_drop  # type: ignore[method-assign]
        try:
            first = await gov.admit(attempt_ctx("r"))  # running: the next one is queued

            async def cancelled_while_queued() -> None:
                with anyio.CancelScope() as scope:
                    scope.cancel()  # (delivered at its first wait: in the ledger's queue)
                    await gov.admit(attempt_ctx("r"))

            await cancelled_while_queued()
            with anyio.fail_after(60):  # a hang guard
                while not gov._orphans:  # the drop refused, kept for the next reservation
                    await anyio.sleep(0.01)
            other.execute("ROLLBACK")
            await gov.release(first)
            other.execute("BEGIN IMMEDIATE")
            assert record_abandoned(other, LATER) == 1  # the orphan's reservation, as the attempt it stood for
            other.execute("COMMIT")
            await gov.drop_orphans()  # (as at close)
            stand_ins = other.execute("SELECT COUNT(*) FROM attempts WHERE error_class = 'abandoned'").fetchone()[0]
            runs = other.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            day = other.execute("SELECT coalesce(SUM(cost_bound_pusd), 0) FROM day_spend").fetchone()[0]
            held = other.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
        finally:
            other.close()
    # before: the stand-in stayed, its run recorded for a call never sent, at its worst case ($0.1) in the day's bound
    assert (stand_ins, runs, day, held) == (0, 0, 0, 0)


async def test_a_stand_in_given_back_leaves_its_calls_other_stand_in_counted_as_that_call(
    catalog_copy: Path, tmp_path: Path
):
    # A sweep recorded a call's two reservations (its first try's, cut in flight, and its retry's) as that call's two
    # stand-ins, the call counted under the last (the retry's). The retry's give-back took that stand-in back with the
    # call's count: the run's row went (its calls at 0) while the first try's stand-in stayed, its bound in no run's
    # total (the run limit's) and the rollup holding an attempt of no call, until the call's own record came, if ever.
    _priced_under_a_run_limit(catalog_copy)
    db = tmp_path / "g.db"
    first = E.ProviderTimeoutError("fake:a: no answer in time", provider="fake", model="a", maybe_billed=True)
    script("a", first, "fine")
    svc = await Service.open(catalog=catalog_copy, db=db, env=RETRIES)
    other = sqlite3.connect(db, isolation_level=None)
    seen: dict[str, object] = {}

    async def progress(event: str, data: dict) -> None:
        if event == "attempt" and data["try"] == 2:
            other.execute("BEGIN IMMEDIATE")
            assert record_abandoned(other, LATER) == 2
            other.execute("COMMIT")
            retry = other.execute("SELECT MAX(reservation_id) FROM attempts").fetchone()[0]
            other.execute("BEGIN IMMEDIATE")
            give_back(other, [(retry, "r")])  # as the retry's give-back makes it, the process dying next
            other.execute("COMMIT")
            seen["attempts"] = other.execute("SELECT cost_bound_pusd, call_cost_pusd FROM attempts").fetchall()
            seen["runs"] = other.execute("SELECT run_id, calls, unpriced_calls, cost_bound_pusd FROM runs").fetchall()
            seen["rollup"] = other.execute("SELECT attempts, calls, cost_bound_pusd, call_max_pusd FROM usage_rollup")
            seen["rollup"] = seen["rollup"].fetchall()  # type: ignore[attr-defined]
            raise SystemExit  # (the process ends: the call's own record, made on the way out, is checked below)

    try:
        with pytest.raises(SystemExit):
            payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
            await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
    finally:
        await svc.aclose()
    try:
        attempts = other.execute("SELECT outcome, error_class, cost_bound_pusd, call_cost_pusd FROM attempts")
        attempts = attempts.fetchall()
        runs = other.execute("SELECT run_id, calls, unpriced_calls, cost_bound_pusd FROM runs").fetchall()
        rollup = other.execute("SELECT SUM(attempts), SUM(calls), SUM(cost_bound_pusd) FROM usage_rollup").fetchone()
    finally:
        other.close()
    [(stand_in_bound, call_cost)] = seen["attempts"]  # type: ignore[misc]
    # before: runs [] (the run's row gone), the rollup (1, 0, bound, <the two stand-ins' call cost>), the stand-in left
    # counting as no call
    assert call_cost == stand_in_bound  # the call's cost, as its stand-ins left count it
    assert seen["runs"] == [("r", 1, 1, stand_in_bound)]
    assert seen["rollup"] == [(1, 1, stand_in_bound, stand_in_bound)]
    # the call's own record, made as the exit went through, replaced the stand-in left: one call, as before
    # (the retry a skip: not sent)
    [(_, kind, bound, _), skipped] = attempts
    assert kind == "timeout" and skipped == ("skipped", "skipped", None, None)
    assert (runs, rollup) == ([("r", 1, 1, bound)], (2, 1, bound))
