"""Processes on one ledger under one month limit, in the policy's zone, hours into its month: each keeps the sums of
the month's earlier buckets on its connection (ledger.sealed_spend) while the others record calls into those buckets
(a call started early and recorded late) and their own. No process may read a stale sum: the limit is never passed,
and is filled exactly. The processes are real (a worker script each), their clocks moved together (tests/shared_clock).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import asyncio, json, sys, time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo
from magsag_mcp import errors as E
from magsag_mcp.governance import Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.governance_helpers import FixedPricer, attempt_ctx

db, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
month_start = datetime(2026, 11, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
policies = PolicySet([Policy(name="m", timezone="Europe/Berlin", thresholds={"max_cost_per_month_usd": "1"})])


async def main():
    ok = refused = 0
    async with Ledger(db) as ledger:
        gov = Governance(policies, ledger, FixedPricer("0.01"))
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            run_id = f"{tag}-{i}"
            try:
                held = await gov.admit(attempt_ctx(run_id, agent=tag))
            except E.BudgetExceeded:
                refused += 1
                continue
            await gov.settle(held, Decimal("0.01"))
            # every other call started early in the month and is recorded now: into the buckets the other processes
            # keep the sums of
            at = month_start + 3600 * (1 + i % 5) if i % 2 else time.time()
            run = RunRecord(run_id=run_id, agent=tag, skill="skill.analysis", started_at=at)
            run.status = "ok"
            attempt = AttemptRecord(
                run_id=run_id, started_at=at, provider="compat", model="metered", skill="skill.analysis", agent=tag,
                outcome="ok", fallback_position=0, attempt_number=1, cost_usd=Decimal("0.01"),
                reservation_id=held.reservation_id,
            )
            await ledger.record_call(run, [attempt], alone=True)
            ok += 1
            await asyncio.sleep(0)
    print(json.dumps({"ok": ok, "refused": refused}), flush=True)


asyncio.run(main())
"""


def _env() -> dict[str, str]:
    paths = [str(ROOT / "tests" / "shared_clock"), str(ROOT), os.environ.get("PYTHONPATH")]
    # 2026-11-20 09:00 in Berlin: the month's buckets before the last two hours are kept
    moved = datetime(2026, 11, 20, 9, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() - time.time()
    return {**os.environ, "MAGSAG_TESTS_CLOCK_OFFSET": repr(moved), "PYTHONPATH": os.pathsep.join(filter(None, paths))}


@pytest.mark.skipif(not (ROOT / "tests" / "shared_clock").is_dir(), reason="the shared clock's helper is missing")
def test_processes_recording_into_each_others_kept_month_buckets_never_pass_the_month_limit(tmp_path):
    import json

    db = tmp_path / "shared.db"
    sqlite3.connect(db).close()  # (created by the first worker's ledger; an empty file is a blank ledger)
    db.unlink()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), tag, "60"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
        )  # fmt: skip
        for tag in ("desktop", "ide", "script")
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.communicate(timeout=300)[0].splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), results
    conn = sqlite3.connect(db)
    try:
        spent = conn.execute("SELECT SUM(cost_pusd) FROM attempts").fetchone()[0]
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    # 180 calls of $0.01 asked for, $1 the month: exactly 100 admitted, whatever order the processes ran in
    assert (sum(r["ok"] for r in results), sum(r["refused"] for r in results)) == (100, 80), results
    assert (spent, held) == (10**12, 0)
