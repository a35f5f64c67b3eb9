"""Spend under concurrency, with real processes on one ledger and a loopback vendor that holds its answers until the
test lets them go: a process killed mid-call, callers cancelled among 200 in flight, processes started together
against shared limits, and a write lock another process holds. Coordinated by the vendor's own arrivals and by pipes,
never by a sleep of a guessed length."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PICO = Decimal(10) ** 12
ROOT = Path(__file__).resolve().parent.parent


class HeldUpstream(LoopbackUpstream):
    """A loopback vendor that answers only once :meth:`let_go` is called: every request is counted as it arrives
    (``arrived``), then waits."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.arrived = 0
        self._arrival = asyncio.Condition()
        self._go = asyncio.Event()

    async def _gate(self, request, vendor, model):  # type: ignore[no-untyped-def]
        async with self._arrival:
            self.arrived += 1
            self._arrival.notify_all()
        await self._go.wait()
        return await super()._gate(request, vendor, model)

    async def until_arrived(self, n: int) -> None:
        async with self._arrival:
            await self._arrival.wait_for(lambda: self.arrived >= n)

    def let_go(self) -> None:
        self._go.set()


@pytest.fixture
async def held():
    up = HeldUpstream()
    await up.start()
    yield up
    up.let_go()
    await up.stop()


def write_catalog(catalog: Path, thresholds: str) -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{{thresholds}}}\n"
    )


def child_env() -> dict[str, str]:
    """The worker processes import this checkout's magsag_mcp, whatever the venv's editable install points at."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def db_rows(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def limit_of(status: dict, kind: str) -> dict:
    return next(lim for lim in status["limits"] if lim["limit"] == kind)


def used(entry: dict) -> Decimal:
    return sum((Decimal(entry[k]) for k in ("spent_usd", "unknown_cost_bound_usd", "reserved_usd")), Decimal(0))


async def test_a_call_that_joins_a_delegated_run_in_flight_by_its_id_alone_spends_the_parents_limit(
    catalog_copy, tmp_path, held
):
    """An agent delegates run 'child' from run 'parent' (whose limit covers both); while that first call is at the
    vendor, another call continues 'child' by its run_id alone (MCP's run_id, `magsag invoke --run-id`). check_budget
    already counted it under the parent; the reservation read only the parent the ledger had recorded (none yet), so
    the second call reserved against a run limit of 'child' of its own, both passed, and the parent's tree spent twice
    its limit's worth. Its record then made 'child' a top run, so the first call's spend left the parent's tree too."""
    write_catalog(catalog_copy, "max_cost_per_run_usd: 0.0003")  # one call's worst case ($0.000197), not two
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: svc.invoke_skill("skill.analysis", payload, run_id="child", parent_run_id="parent"))
            await held.until_arrived(1)
            status = await svc.check_budget(run_id="child")
            assert limit_of(status, "run")["budget_run_id"] == "parent"
            with pytest.raises(E.BudgetExceeded, match="run parent"):
                await svc.invoke_skill("skill.analysis", payload, run_id="child")
            assert held.arrived == 1
            held.let_go()
        status = await svc.check_budget(run_id="parent")
    finally:
        await svc.aclose()
    assert db_rows(db, "SELECT run_id, parent_run_id FROM runs ORDER BY run_id") == [("child", "parent")]
    run = limit_of(status, "run")
    assert Decimal(run["spent_usd"]) > 0 and used(run) <= Decimal("0.0003"), run
