"""Two calls or more in one run, under one agent, at once, against windowed limits (a day's, a month's, each agent's
and all calls'), in one process and in two on one ledger: at every moment a request reaches the vendor, what the
ledger holds (every open reservation) and has spent (every attempt recorded in the window) is within each limit. The
vendor itself checks it, reading the ledger as each request arrives: a reservation double-counted in no scope, or
a scope read once for two reservations of one batch without the first's hold, would let the sum pass a limit while
both calls are in flight, which the totals at the end (each within it) would not show."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.loopback import LoopbackUpstream
from tests.governance_helpers import open_service, policy, prices

pytestmark = pytest.mark.anyio

PICO = 10**12
#: (threshold, amount, zone): each agent's day and all calls' in UTC, each agent's month and all calls' in Berlin's
LIMITS = [
    ("max_cost_per_agent_daily_usd", Decimal("0.0040"), "UTC"),
    ("max_cost_per_day_usd", Decimal("0.0045"), "UTC"),
    ("max_cost_per_agent_monthly_usd", Decimal("0.0035"), "Europe/Berlin"),
    ("max_cost_per_month_usd", Decimal("0.0050"), "Europe/Berlin"),
]
POLICIES = (
    "policies:\n"
    "  - name: days\n"
    "    thresholds: {max_cost_per_agent_daily_usd: 0.0040, max_cost_per_day_usd: 0.0045, max_cost_per_run_usd: 1}\n"
    "  - name: months\n"
    "    thresholds: {max_cost_per_agent_monthly_usd: 0.0035, max_cost_per_month_usd: 0.0050}\n"
    "    timezone: Europe/Berlin\n"
)


def _window_start(threshold: str, zone: str) -> float:
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if "month" in threshold:
        start = start.replace(day=1)
    return start.timestamp()


class CheckingVendor(LoopbackUpstream):
    """A loopback vendor that, as each request arrives, sums the ledger's holds and each window's spend."""

    def __init__(self, db: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.lock = threading.Lock()
        #: (threshold, used, limit) of each request's check past its limit; and the most each limit saw used
        self.over: list[tuple[str, int, int]] = []
        self.most: dict[str, int] = {}
        self.checked = 0

    async def _gate(self, request: Any, vendor: str, model: str) -> Any:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=60)
        try:
            held = conn.execute("SELECT COALESCE(SUM(amount_pusd), 0) FROM budget_reservations").fetchone()[0]
            for threshold, amount, zone in LIMITS:
                spent = conn.execute(
                    "SELECT COALESCE(SUM(COALESCE(cost_pusd, 0) + COALESCE(cost_bound_pusd, 0)), 0) FROM attempts "
                    "WHERE started_at >= ?",
                    (_window_start(threshold, zone),),
                ).fetchone()[0]
                used, cap = held + spent, int(amount * PICO)
                with self.lock:
                    self.most[threshold] = max(self.most.get(threshold, 0), used)
                    if used > cap:
                        self.over.append((threshold, used, cap))
        finally:
            conn.close()
        with self.lock:
            self.checked += 1
        return await super()._gate(request, vendor, model)


def _payload() -> dict[str, Any]:
    return {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}


async def test_calls_of_one_run_and_agent_at_once_never_hold_past_a_windowed_limit(catalog_copy: Path, tmp_path: Path):
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, POLICIES)
    vendor = CheckingVendor(tmp_path / "gov.db", latency_ms=5)
    await vendor.start()
    svc = await open_service(catalog_copy, tmp_path, vendor)
    counts = {"ok": 0, "refused": 0}
    try:

        async def one() -> None:
            try:
                await svc.invoke_skill("skill.analysis", _payload(), run_id="one-run", agent="one-agent")
                counts["ok"] += 1
            except E.BudgetExceeded:
                counts["refused"] += 1

        for _ in range(3):  # waves of two at once, then a crowd: the batch's reads and the inline reservation
            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                tg.start_soon(one)
        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(one)
    finally:
        await svc.aclose()
        await vendor.stop()
    assert counts["ok"] >= 2 and counts["refused"] >= 1, counts
    assert vendor.checked == counts["ok"] and vendor.over == [], (vendor.over, vendor.most)
    conn = sqlite3.connect(tmp_path / "gov.db")
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0


WORKER = """
import json, sys, anyio
from magsag_mcp import errors as E
from magsag_mcp.service import Service

async def main():
    catalog, db, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    svc = await Service.open(catalog=catalog, db=db, env=env)
    counts = {"ok": 0, "refused": 0, "other": []}
    async def one():
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
        try:
            await svc.invoke_skill("skill.analysis", payload, run_id="one-run", agent="one-agent")
            counts["ok"] += 1
        except E.BudgetExceeded:
            counts["refused"] += 1
        except Exception as exc:
            counts["other"].append(repr(exc))
    for _ in range(3):
        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one)
    await svc.aclose()
    print(json.dumps(counts))

anyio.run(main)
"""


def test_two_processes_calling_in_one_run_and_agent_never_hold_past_a_windowed_limit(
    catalog_copy: Path, tmp_path: Path
):
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, POLICIES)
    db = tmp_path / "shared.db"
    vendor = CheckingVendor(db, latency_ms=5)
    with vendor.running():
        env = json.dumps({**vendor.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001"})
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(catalog_copy), str(db), env], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs) and [r["other"] for r in results] == [[], []], results
    ok = sum(r["ok"] for r in results)
    assert ok >= 2 and sum(r["refused"] for r in results) >= 1, results
    assert vendor.checked == ok and vendor.over == [], (vendor.over, vendor.most)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
