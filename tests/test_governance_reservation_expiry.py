"""A reservation's lifetime: how long it holds, and what an expired one (a stopped process's call) becomes."""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import governance as cli
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.budget_results import BudgetResult
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, run_limit

pytestmark = pytest.mark.anyio


def died_holding(svc: Service, amount_pusd: int, *, expired: bool) -> Any:
    """A reservation left by a process that died with its request in flight."""
    now = time.time()
    created, expires = (now - 2000, now - 1000) if expired else (now - 1, now + 1000)
    return svc.ledger.submit(
        lambda c: c.execute(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
            " attempt_run_id, provider, model, skill)"
            " VALUES ('r', 'ana', ?, ?, ?, 'held', 'r', 'compat', 'metered', 'skill.analysis')",
            (created, expires, amount_pusd),
        )
    )


async def test_an_expired_reservation_becomes_the_attempt_it_stood_for(catalog_copy, tmp_path, upstream, monkeypatch):
    # A process SIGKILLed with a request in flight: the vendor may bill it. Before, its reservation was
    # deleted on expiry and the spend vanished from every limit (a crash-looping worker passed a limit
    # by one worst case per crash); now it is recorded as an attempt of unknown cost, bounded by its amount.
    from magsag_mcp.governance import budget

    prices(catalog_copy, '"compat:metered": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await died_holding(svc, 600_000_000, expired=True)  # $0.0006 of the run's $0.001
    monkeypatch.setattr(budget, "_last_sweep", 0.0)  # the next reservation sweeps
    small = {"data": "x", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 10}}
    await svc.invoke_skill("skill.analysis", small, run_id="r", agent="ana")
    conn = sqlite3.connect(tmp_path / "gov.db")
    attempts = conn.execute(
        "SELECT provider, model, outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = 'r'"
        " ORDER BY started_at"
    ).fetchall()
    left = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    conn.close()
    assert attempts[0] == ("compat", "metered", "error", "abandoned", None, 600_000_000)
    assert attempts[1][2] == "ok" and left == 0
    status = await svc.check_budget(run_id="r", agent="ana")
    assert Decimal(run_limit(status)["unknown_cost_bound_usd"]) == Decimal("0.0006")
    assert run_limit(status)["unpriced_calls"] == 1 and status["cost_complete"] is False
    # the bound goes on counting: a call that would cross the rest of the limit is refused
    big = {"data": "x", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 500}}
    with pytest.raises(E.BudgetExceeded, match=r"up to \$0.0006 more for attempts of unknown cost"):
        await svc.invoke_skill("skill.analysis", big, run_id="r", agent="ana")
    await svc.aclose()


async def test_an_expired_reservation_counts_until_it_is_recorded(catalog_copy, tmp_path, upstream, monkeypatch):
    from magsag_mcp.governance import budget

    prices(catalog_copy, '"compat:metered": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await died_holding(svc, 1_000_000_000, expired=True)  # the whole budget
    monkeypatch.setattr(budget, "_last_sweep", time.time())  # not swept yet: still counted, as reserved
    payload = {"data": "x", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 10}}
    with pytest.raises(E.BudgetExceeded, match=r"reserved \$0.001"):
        await svc.invoke_skill("skill.analysis", payload, run_id="r")
    await svc.aclose()


async def test_reads_record_an_expired_reservation_with_no_call_after_it(catalog_copy, tmp_path, upstream, monkeypatch):
    # A worker killed mid-call, then `flow summarize` (and `flow gate` on its output) in CI. Before, the
    # abandoned attempt reached no summary, run or budget status until some process made another
    # reservation, which may never come: every read reported the spend without it.
    from magsag_mcp.governance import budget

    prices(catalog_copy, '"compat:metered": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await died_holding(svc, 600_000_000, expired=True)
    monkeypatch.setattr(budget, "_last_sweep", time.time())  # no reservation will sweep it
    summary = await svc.summarize()
    assert summary["totals"]["calls"] == 1 and summary["totals"]["errors"] == 1
    assert summary["totals"]["unknown_cost_bound_usd"] == "0.0006" and summary["totals"]["cost_complete"] is False
    assert summary["model_stats"]["metered"]["unpriced_calls"] == 1
    runs = await svc.query_runs(UsageFilters(run_id="r"))
    assert [a["error_class"] for a in runs[0]["attempts"]] == ["abandoned"]
    spend = await svc.run_spend("r")
    assert spend.unknown_cost_bound_usd == Decimal("0.0006") and spend.unknown_attempts == 1
    status = await svc.check_budget(run_id="r")
    assert Decimal(run_limit(status)["unknown_cost_bound_usd"]) == Decimal("0.0006")
    assert run_limit(status)["reserved_usd"] == "0"  # recorded once, no longer held
    await svc.aclose()
    conn = sqlite3.connect(tmp_path / "gov.db")
    assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
    conn.close()


async def test_a_read_leaves_an_unexpired_reservation_held(catalog_copy, tmp_path, upstream):
    # A call still in flight (its reservation not expired) is not an abandoned one: reads must not record it.
    prices(catalog_copy, '"compat:metered": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    await died_holding(svc, 600_000_000, expired=False)
    summary = await svc.summarize()
    status = await svc.check_budget(run_id="r")
    await svc.aclose()
    assert summary["totals"]["calls"] == 0
    assert Decimal(run_limit(status)["reserved_usd"]) == Decimal("0.0006")


async def test_check_budget_says_what_holds_a_reservation(tmp_path: Path, monkeypatch, capsys):
    # "reserved $0.2" with no call running (its process was killed) read as budget gone for no reason
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        assert "reserved_by" not in run_limit(await gov.check_budget(run_id="r"))  # nothing held
        await gov.admit(attempt_ctx("r"))
        await gov.admit(attempt_ctx("r"))
        # one of them belongs to a process that stopped: its reservation is past its expiry
        await ledger.submit(lambda c: c.execute("UPDATE budget_reservations SET expires_at = 1000 WHERE id = 1"))
        status = await gov.check_budget(run_id="r")
        latest = await ledger.read(lambda c: c.execute("SELECT MAX(expires_at) FROM budget_reservations").fetchone()[0])
    held = run_limit(status)
    assert held["reserved_usd"] == "0.2"
    until = datetime.fromtimestamp(latest, UTC).isoformat(timespec="seconds")
    assert held["reserved_by"] == {"calls": 2, "expired": 1, "held_until": until}
    BudgetResult.model_validate(status)  # the MCP tool's result schema has it
    # and `magsag budget` says it
    monkeypatch.setattr(cli, "with_service", lambda args, fn: status)
    given = argparse.Namespace(
        json=False, agent=None, run_id="r", skill=None, model=None, max_tokens=None, context=None,
        model_config=None,
    )
    assert cli._budget(given) == 0
    line = capsys.readouterr().out
    assert f"reserved $0.2 (by 2 calls in flight, 1 of them past expiry (a stopped process), until {until})" in line


async def test_reservation_outlives_the_call_deadline(tmp_path: Path, monkeypatch):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"), call_deadline=3600)
        await gov.admit(attempt_ctx("r"))
        monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "7200")  # read as service.py reads it when not passed
        from_env = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        await from_env.admit(attempt_ctx("r2"))
        short = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"), call_deadline=1)
    conn = sqlite3.connect(tmp_path / "l.db")
    life = dict(conn.execute("SELECT run_id, expires_at - created_at FROM budget_reservations").fetchall())
    assert life["r"] >= 3600 + 60 and life["r2"] >= 7200 + 60
    assert short.reservation_ttl >= 15 * 60  # never shorter than before


async def test_a_call_recorded_after_another_process_swept_its_reservation_replaces_the_abandoned_attempt(
    tmp_path: Path,
):
    """A call whose reservation expired while its process was suspended (a laptop asleep, Ctrl-Z) and
    that another process then recorded as abandoned, records after all. Before: (1) reservation ids
    were reused (the next reservation took the swept one's id, the table being empty), so the late
    record deleted another call's live reservation and the limit let a call through that it had to
    refuse; (2) the call was counted twice, as abandoned at its bound and at its real cost."""
    db = tmp_path / "shared.db"
    async with Ledger(db) as ledger_a, Ledger(db) as ledger_b:  # two processes on one ledger
        a = Governance(limits(max_cost_per_agent_daily_usd="1"), ledger_a, FixedPricer("0.1"))
        b = Governance(limits(max_cost_per_agent_daily_usd="1"), ledger_b, FixedPricer("0.5"))
        x = await a.admit(attempt_ctx("r-x", agent="ana"))  # A sends X, then is suspended
        conn = sqlite3.connect(db)
        conn.execute("UPDATE budget_reservations SET expires_at = ?", (time.time() - 1,))  # its TTL passes
        conn.commit()
        from magsag_mcp.governance import budget

        budget._last_sweep = 0.0
        z = await b.admit(attempt_ctx("r-z", agent="ana"))  # B sweeps X (abandoned, up to $0.1); Z holds $0.5
        # A resumes: X answered, at $0.05; its record carries X's reservation id
        now = time.time()
        run = RunRecord(run_id="r-x", agent="ana", skill="skill.analysis", started_at=now, ended_at=now, status="ok")
        attempt = AttemptRecord(
            run_id="r-x",
            started_at=now,
            provider="compat",
            model="metered",
            skill="skill.analysis",
            agent="ana",
            outcome="ok",
            fallback_position=0,
            attempt_number=1,
            cost_usd=Decimal("0.05"),
            reservation_id=x.reservation_id,
        )
        await a.settle(x, Decimal("0.05"))
        await ledger_a.record_call(run, [attempt])
        status = await b.check_budget(agent="ana")
        # Z ($0.5) is still in flight: $0.05 + $0.5 + $0.5 > $1, so W must be refused
        with pytest.raises(E.BudgetExceeded):
            await b.admit(attempt_ctx("r-w", agent="ana"))
        summary = await ledger_b.summarize()
        runs = await ledger_b.query_runs(UsageFilters.build({"run_id": "r-x"}))
    assert z.reservation_id != x.reservation_id  # an id is never given to a second reservation
    [day] = [lim for lim in status["limits"] if lim["limit"] == "agent_day"]
    assert (day["spent_usd"], day["unknown_cost_bound_usd"], day["reserved_usd"]) == ("0.05", "0", "0.5")
    assert day["unpriced_calls"] == 0
    # X is in the ledger once, at its real cost: the abandoned stand-in is gone from every count
    [x_run] = runs
    assert [(t["outcome"], t["cost_usd"]) for t in x_run["attempts"]] == [("ok", "0.05")]
    assert x_run["calls"] == 1 and x_run["cost_usd"] == "0.05"
    totals = summary["totals"]
    assert (totals["calls"], totals["errors"], totals["known_cost_usd"], totals["unpriced_calls"]) == (1, 0, "0.05", 0)
    assert totals["unknown_cost_bound_usd"] == "0"


def test_governance_reads_the_call_deadline_without_the_service_layer():
    # Governance sits below the service: it shares the parser (settings.py), not an import upward.
    code = (
        "import os, sys; os.environ['MAGSAG_CALL_DEADLINE'] = '7200'; "
        "from magsag_mcp.governance import Governance, PolicySet; "
        "assert Governance(PolicySet([]), None, None).call_deadline == 7200.0; "
        "assert 'magsag_mcp.service' not in sys.modules, 'governance imported the service'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_refused_reservations_under_a_limit_reached_sweep_once_a_sweeps_interval(tmp_path, monkeypatch):
    # a refused reservation's sweep is undone with it and made in a write of its own: that write stands for the sweep
    # of the next 30 s, else every refused call (each one, while a limit is reached) swept twice
    from magsag_mcp.governance import PolicySet, budget
    from magsag_mcp.governance.policy import Policy

    swept: list[float] = []
    real = budget.record_abandoned

    def counted(conn: sqlite3.Connection, now: float) -> None:
        swept.append(now)
        real(conn, now)

    monkeypatch.setattr(budget, "record_abandoned", counted)
    monkeypatch.setattr(budget, "_last_sweep", 0.0)  # the next reservation sweeps
    policies = PolicySet([Policy(name="cap", thresholds={"max_cost_per_run_usd": "0.001"})])
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(policies, ledger, FixedPricer("1"))  # every call's worst case past the limit
        for n in range(5):
            with pytest.raises(E.BudgetExceeded):
                await gov.admit(attempt_ctx(f"r{n}", agent="ana"))
            await ledger.submit(lambda conn: None)  # (after the sweep queued before it)
    assert len(swept) == 2, swept  # the first refusal's, undone, and the one made on its own
