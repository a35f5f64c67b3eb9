"""One new run placed under two parents at once: only the first placement passes.

The service reads where a delegated run is placed (:func:`~magsag_mcp.governance.delegation.top_run`) before its
call, to find the top run whose limit applies; two calls that read it before either had reserved both found the run
unplaced, and both went on: the run's record kept the first parent it was written with, and the other call's spend
landed outside the tree whose limit its reservations were checked against. The reservation's own transaction
(``BEGIN IMMEDIATE``) now checks the placement again, as it stands then. The calls here are held at a barrier after
that read, so both have read before either reserves, whatever the scheduling.
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import budget
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.group_commit import apply_batch
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PAYLOAD = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}


def _catalog(catalog: Path) -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )


async def _open(catalog: Path, tmp_path: Path, upstream) -> Service:
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    return await Service.open(catalog=catalog, db=tmp_path / "race.db", env=env)


def _both_read_first(monkeypatch) -> None:
    """Each call waits, once it has read where the run is placed, until the other has read it too."""
    both_read = asyncio.Barrier(2)
    read = Service._top_run

    async def read_then_wait(self: Service, run_id: str, parent_run_id: str) -> str:
        try:
            top = await read(self, run_id, parent_run_id)
        except BaseException:
            await both_read.abort()  # the other call is not left waiting for this one
            raise
        await both_read.wait()
        return top

    monkeypatch.setattr(Service, "_top_run", read_then_wait)


async def _place_x_under_p1_and_p2(first: Service, second: Service) -> list[BaseException | object]:
    return await asyncio.gather(
        first.invoke_skill("skill.analysis", PAYLOAD, run_id="x", parent_run_id="p1"),
        second.invoke_skill("skill.analysis", PAYLOAD, run_id="x", parent_run_id="p2"),
        return_exceptions=True,
    )


def _parents_of_x(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'x'").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("processes", [1, 2], ids=["one service (queued)", "two services (inline)"])
async def test_a_new_run_placed_under_two_parents_at_once_is_placed_once(
    catalog_copy, tmp_path, upstream, monkeypatch, processes: int
):
    # One service: the second call's reservation is queued behind the first call's (in flight). Two services on
    # one ledger, as two processes are: each reservation is made inline, in its own BEGIN IMMEDIATE transaction.
    _catalog(catalog_copy)
    _both_read_first(monkeypatch)
    first = await _open(catalog_copy, tmp_path, upstream)
    second = await _open(catalog_copy, tmp_path, upstream) if processes == 2 else first
    try:
        outcomes = await _place_x_under_p1_and_p2(first, second)
    finally:
        await first.aclose()
        if second is not first:
            await second.aclose()
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1, outcomes  # both passed: x was recorded under one parent, spending the other's budget
    assert isinstance(refused[0], E.InputError)
    assert refused[0].message.startswith("run 'x' is recorded as delegated from run ")
    assert upstream.calls["metered"] == 1  # the refused call reached no vendor
    [(parent,)] = _parents_of_x(tmp_path / "race.db")
    kept = "p1" if isinstance(outcomes[1], BaseException) else "p2"
    assert parent == kept
    other = "p2" if kept == "p1" else "p1"
    assert f"not as delegated from run {other!r}" in refused[0].message
    assert refused[0].details == {"run_id": "x", "parent_run_id": other}  # as the read before the call refuses


async def test_two_placements_of_one_run_in_one_batch_keep_the_first(tmp_path: Path):
    # The group commit applies the batch's reservations in one pass (Reservation.apply_all): the second placement
    # sees the first one's row, inserted in the same transaction.
    db = tmp_path / "batch.db"
    async with Ledger(db):
        pass
    run_limit = [Limit("run", Decimal(1), "run_cap", False)]
    asks = [
        budget.Reservation(run_limit, Decimal("0.1"), "x", None, "p1", 900, delegated_from="p1"),
        budget.Reservation(run_limit, Decimal("0.1"), "x", None, "p2", 900, delegated_from="p2"),
        budget.Reservation(run_limit, Decimal("0.1"), "x", None, "p1", 900, delegated_from="p1"),  # where x is
    ]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        (ok1, _), (ok2, error), (ok3, _) = apply_batch(conn, asks)
        rows = conn.execute("SELECT run_id, attempt_run_id FROM budget_reservations ORDER BY id").fetchall()
    finally:
        conn.close()
    assert (ok1, ok2, ok3) == (True, False, True)
    assert isinstance(error, E.InputError)
    assert error.message.startswith(
        "run 'x' is recorded as delegated from run 'p1', not as delegated from run 'p2'; a run stays where it was "
        "first recorded, so its spend would escape run 'p2''s limit. Give this call a new run_id, or leave "
        "parent_run_id out to continue run 'x' where it is"
    )
    assert rows == [("p1", "x"), ("p1", "x")]


async def test_the_refusal_in_the_reservation_names_the_parent_the_call_asked_for(tmp_path: Path):
    # A call naming a delegated run (d, under top) as the parent spends top's budget: refused, it is told so, as
    # the read before the call tells it.
    from magsag_mcp.governance.delegation import top_run

    db = tmp_path / "deep.db"
    async with Ledger(db):
        pass
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO runs (run_id, agent, skill, started_at, status, parent_run_id) VALUES"
            " ('d', NULL, 's', 0, 'ok', 'top')"
        )
        run_limit = [Limit("run", Decimal(1), "run_cap", False)]
        placed = budget.Reservation(run_limit, Decimal("0.1"), "x", None, "other", 900, delegated_from="other")
        deeper = budget.Reservation(run_limit, Decimal("0.1"), "x", None, "top", 900, delegated_from="d")
        (ok1, _), (ok2, error) = apply_batch(conn, [placed, deeper])
        with pytest.raises(E.InputError) as before:
            top_run(conn, "x", "d")
    finally:
        conn.close()
    assert (ok1, ok2) == (True, False)
    assert error.message == before.value.message
    assert "not as delegated from run 'top' (the top run of 'd')" in error.message


@pytest.mark.parametrize(
    "placed",
    [
        "nowhere",
        "recorded under top",
        "recorded under other",
        "recorded as a top run",
        "a top run of recorded runs",
        "in flight under top",
        "in flight under other",
        "in flight under itself",
    ],
)
async def test_the_reservations_check_refuses_what_the_read_before_the_call_refuses(tmp_path: Path, placed: str):
    # placed_elsewhere reads where the run is in one statement, and only a run placed elsewhere as top_run reads it:
    # for each placement, it refuses exactly when top_run does, with top_run's error.
    from magsag_mcp.governance.delegation import placed_elsewhere, top_run

    db = tmp_path / "placed.db"
    async with Ledger(db):
        pass
    run = "INSERT INTO runs (run_id, agent, skill, started_at, status, parent_run_id) VALUES (?, NULL, 's', 0, 'ok', ?)"
    held = (
        "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id,"
        " provider, model, skill) VALUES (?, NULL, 0, 9e9, 1, 'held', 'x', 'compat', 'metered', NULL)"
    )
    seed = {
        "nowhere": [],
        "recorded under top": [(run, ("x", "top"))],
        "recorded under other": [(run, ("x", "other"))],
        "recorded as a top run": [(run, ("x", None))],
        "a top run of recorded runs": [(run, ("y", "x"))],
        "in flight under top": [(held, ("top",))],
        "in flight under other": [(held, ("other",))],
        "in flight under itself": [(held, ("x",))],
    }[placed]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(run, ("d", "top"))  # d: delegated from top, whose tree a call naming d joins
        for statement, args in seed:
            conn.execute(statement, args)
        for named in ("top", "d"):
            try:
                assert top_run(conn, "x", named) == "top"
                expected = None
            except E.InputError as refused:
                expected = refused.message
            error = placed_elsewhere(conn, "x", named, "top")
            assert (error and error.message) == expected, (placed, named)
            assert error is None or error.placed_elsewhere
    finally:
        conn.close()
    assert (expected is None) == (placed in ("nowhere", "recorded under top", "in flight under top"))


@pytest.mark.parametrize("processes", [1, 2], ids=["one service (queued)", "two services (inline)"])
async def test_a_call_refused_as_placed_elsewhere_after_a_skip_records_nothing(
    catalog_copy, tmp_path, upstream, monkeypatch, processes: int
):
    # Call A names p1 and reads x unplaced; call B then places x under p2 and holds its reservation (its progress
    # callback waits before the request goes out). A's first target is skipped by the call limit (nothing sent), and
    # its fallback's reservation is refused as placed elsewhere: nothing was sent, so nothing is recorded, as when
    # its first target's reservation is refused. Recorded (with the skip), the record placed x under p1 before B's
    # did, and B's spend, checked against p2's limit, landed in p1's tree.
    (catalog_copy / "prices.yaml").write_text(
        '"compat:metered": {input: 1.0, output: 1.0}\n"compat:dear": {input: 100000.0, output: 100000.0}\n'
    )
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1, max_cost_per_call_usd: 0.5}\n"
    )
    service = await _open(catalog_copy, tmp_path, upstream)
    other = await _open(catalog_copy, tmp_path, upstream) if processes == 2 else service
    a_read, b_reserved, b_may_send = asyncio.Event(), asyncio.Event(), asyncio.Event()
    a_found: list[str] = []
    read = Service._top_run

    async def a_reads_then_b_reserves(self: Service, run_id: str, parent_run_id: str) -> str:
        # B reads only once A's read is done: two services read on two reader threads, and A's (started first) could
        # run after B had read, reserved and placed x under p2, when A's read refused the call itself, before the skip
        if parent_run_id == "p2":
            await a_read.wait()
            return await read(self, run_id, parent_run_id)
        try:
            top = await read(self, run_id, parent_run_id)
        finally:
            a_read.set()  # (B is not left waiting for a read that failed)
        a_found.append(top)
        await b_reserved.wait()
        return top

    async def b_progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted: its reservation places x under p2
            b_reserved.set()
            await b_may_send.wait()

    monkeypatch.setattr(Service, "_top_run", a_reads_then_b_reserves)
    dear_first = {
        "data": "d" * 40,
        "model_config": {"model": "compat:dear", "fallbacks": ["compat:metered"], "max_tokens": 100},
    }
    try:
        a = asyncio.create_task(service.invoke_skill("skill.analysis", dear_first, run_id="x", parent_run_id="p1"))
        b = asyncio.create_task(
            other.invoke_skill("skill.analysis", PAYLOAD, run_id="x", parent_run_id="p2", progress=b_progress)
        )
        with pytest.raises(E.InputError) as refused:
            await a
        b_may_send.set()
        await b
    finally:
        await service.aclose()
        if other is not service:
            await other.aclose()
    assert a_found == ["p1"]  # A read x unplaced, before B placed it
    assert refused.value.placed_elsewhere
    assert "not as delegated from run 'p1'" in refused.value.message
    assert upstream.calls["dear"] == 0 and upstream.calls["metered"] == 1  # A sent nothing
    assert _parents_of_x(tmp_path / "race.db") == [("p2",)]
    conn = sqlite3.connect(tmp_path / "race.db")
    try:
        attempts = conn.execute("SELECT model, outcome FROM attempts WHERE run_id = 'x' ORDER BY id").fetchall()
    finally:
        conn.close()
    assert attempts == [("metered", "ok")]  # B's alone: A's skip is not recorded
