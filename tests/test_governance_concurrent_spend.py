"""Many calls at once, in one process or several on one ledger, never overspend a shared limit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from tests.governance_helpers import open_service, policy, prices

pytestmark = pytest.mark.anyio


async def test_200_concurrent_calls_never_overspend_a_run_limit(catalog_copy: Path, tmp_path: Path, upstream):
    # compat:metered costs $1 per million tokens in and out. A call reserves its worst case
    # (estimated input + max_tokens 100 at the output price); the limit allows about 50 calls.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 0.0075}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    ok, refused = [], []

    async def one(i: int) -> None:
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
        try:
            ok.append(await svc.invoke_skill("skill.analysis", payload, run_id="shared-run", agent="a"))
        except E.BudgetExceeded as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    spent, _ = await svc.run_cost("shared-run")
    status = await svc.check_budget(run_id="shared-run")
    await svc.aclose()

    assert len(ok) + len(refused) == 200
    assert 20 <= len(ok) <= 60, len(ok)  # "about 50": the worst case reserved is above the real cost
    assert spent <= Decimal("0.0075")
    assert spent == sum(Decimal(r.cost_usd) for r in ok)
    assert upstream.calls["metered"] == len(ok)  # a refused call never reached the provider
    assert refused[0].policy == "run_cap" and "run_cap: run limit $0.0075" in refused[0].message
    assert all(e.kind == "budget_exceeded" for e in refused)
    conn = sqlite3.connect(tmp_path / "gov.db")
    outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome").fetchall())
    assert outcomes == {"ok": len(ok), "budget_exceeded": len(refused)}
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0  # all settled
    run_limit = next(lim for lim in status["limits"] if lim["limit"] == "run")
    assert Decimal(run_limit["spent_usd"]) == spent and run_limit["reserved_usd"] == "0"


BUDGET_WORKER = """
import json, sys, anyio
from magsag_mcp import errors as E
from magsag_mcp.service import Service

async def main():
    svc = await Service.open(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_RETRY_BASE_DELAY": "0.001"})
    counts = {"ok": 0, "refused": 0}
    async def one(i):
        payload = {"data": "d" * 40, "model_config": {"model": "fake:metered", "max_tokens": 100}}
        try:
            await svc.invoke_skill("skill.analysis", payload, run_id="shared-across-processes", agent="p")
            counts["ok"] += 1
        except E.BudgetExceeded:
            counts["refused"] += 1
    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(one, i)
    await svc.aclose()
    print(json.dumps(counts))

anyio.run(main)
"""


def test_two_processes_on_one_ledger_share_one_run_limit(catalog_copy: Path, tmp_path: Path):
    # Two servers on one database file, 120 concurrent calls against one run's limit: the reservation
    # is atomic across processes (BEGIN IMMEDIATE on the shared file), so together they never overspend.
    import subprocess
    import sys

    prices(catalog_copy, '"fake:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 0.003}\n")
    db = tmp_path / "shared.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUDGET_WORKER, str(catalog_copy), str(db)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ok = sum(r["ok"] for r in results)
    refused = sum(r["refused"] for r in results)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    spent = conn.execute("SELECT SUM(cost_pusd) FROM attempts WHERE run_id = 'shared-across-processes'").fetchone()[0]
    assert ok + refused == 120 and ok >= 1 and refused >= 1
    assert Decimal(spent) / 10**12 <= Decimal("0.003")
    assert conn.execute("SELECT COUNT(*) FROM attempts WHERE outcome = 'ok'").fetchone()[0] == ok
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0


HTTP_BUDGET_WORKER = """
import json, os, sys, anyio
from magsag_mcp import errors as E
from magsag_mcp.service import Service

async def main():
    catalog, db, env, scope = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    svc = await Service.open(catalog=catalog, db=db, env=env)
    counts = {"ok": 0, "refused": 0, "other": []}
    async def one(i):
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
        run_id = "shared" if scope == "run" else f"r-{os.getpid()}-{i}"
        agent = "p" if scope not in ("day", "month") else None
        try:
            await svc.invoke_skill("skill.analysis", payload, run_id=run_id, agent=agent)
            counts["ok"] += 1
        except E.BudgetExceeded:
            counts["refused"] += 1
        except Exception as exc:
            counts["other"].append(repr(exc))
    for i in range(10):  # one at a time: each reservation and record is made inline, on the event loop
        await one(i)
    async with anyio.create_task_group() as tg:  # together: through the group commit
        for i in range(10, 30):
            tg.start_soon(one, i)
    await svc.aclose()
    print(json.dumps(counts))

anyio.run(main)
"""


@pytest.mark.parametrize(
    ("scope", "threshold"),
    [
        ("run", "max_cost_per_run_usd"),
        ("agent_day", "max_cost_per_agent_daily_usd"),
        ("day", "max_cost_per_day_usd"),
        ("agent_month", "max_cost_per_agent_monthly_usd"),
        ("month", "max_cost_per_month_usd"),
    ],
)
def test_processes_calling_a_loopback_vendor_never_overspend_a_shared_limit(
    catalog_copy: Path, tmp_path: Path, scope: str, threshold: str
):
    """Four processes (MCP servers, the CLI, scripts) on one ledger, calling a loopback vendor over HTTP,
    one call at a time and then 20 at once, against one run's, one agent's or the whole day's limit (or month's):
    together they stay inside it, by the ledger's books and by the vendor's own."""
    from magsag_mcp.loopback import LoopbackUpstream

    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    limit = Decimal("0.004")  # about 20 calls' worst case, of the 120 asked for
    policy(catalog_copy, f"policies:\n  - name: cap\n    thresholds: {{{threshold}: {limit}}}\n")
    db = tmp_path / "shared.db"
    with LoopbackUpstream(latency_ms=1).running() as up:
        env = json.dumps({**up.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001"})
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", HTTP_BUDGET_WORKER, str(catalog_copy), str(db), env, scope],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
        vendor_answers = list(up.log)
    assert all(p.returncode == 0 for p in procs) and [r["other"] for r in results] == [[]] * 4
    ok = sum(r["ok"] for r in results)
    assert ok >= 1 and sum(r["refused"] for r in results) >= 1 and ok + sum(r["refused"] for r in results) == 120
    vendor_billed = sum(Decimal(n_in + n_out) for _, n_in, n_out in vendor_answers) / 10**6
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    recorded = Decimal(conn.execute("SELECT SUM(cost_pusd) FROM attempts").fetchone()[0]) / 10**12
    assert len(vendor_answers) == ok == conn.execute("SELECT COUNT(*) FROM attempts WHERE outcome = 'ok'").fetchone()[0]
    assert recorded == vendor_billed <= limit
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
