"""Day limits, for all calls and an agent's: whose day, where it starts and ends, and what it counts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record
from tests.ledger_schema_helpers import ledger_of_schema

pytestmark = pytest.mark.anyio


def _berlin_cap() -> PolicySet:
    """A limit of $1 a Berlin day, on all calls and on each agent's."""
    return PolicySet(
        [
            Policy(
                name="cap",
                timezone="Europe/Berlin",
                thresholds={"max_cost_per_day_usd": "1", "max_cost_per_agent_daily_usd": "1"},
            )
        ]
    )


async def test_check_budget_statuses_and_agent_day(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, '"compat:metered": {input: 1000, output: 1000}\n')
    policy(
        catalog_copy,
        "policies:\n  - name: daily\n    timezone: Asia/Tokyo\n    thresholds: {max_cost_per_agent_daily_usd: 1.0}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(agent="ag")
    assert status["status"] == "ok" and status["limits"][0]["window"]["timezone"] == "Asia/Tokyo"
    mc = {"provider": "compat", "model": "metered", "max_tokens": 50}
    seen = []
    for _ in range(40):
        try:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, agent="ag")
        except E.BudgetExceeded:
            break
        seen.append((await svc.check_budget(agent="ag"))["status"])
    final = await svc.check_budget(agent="ag")
    other = await svc.check_budget(agent="someone-else")
    await svc.aclose()
    assert "ok" in seen and "near" in seen
    lim = final["limits"][0]
    assert Decimal(lim["spent_usd"]) <= Decimal("1.0") and Decimal(lim["remaining_usd"]) >= 0
    assert other["status"] == "ok" and other["limits"][0]["spent_usd"] == "0"


async def test_an_agents_reservation_made_before_midnight_counts_after_it(tmp_path: Path, monkeypatch):
    # Admitted at 23:59:59.8 and sent after midnight, an attempt's spend lands in the new day; the new
    # day's check must see its reservation meanwhile (before: only reservations created that day).
    from magsag_mcp.governance import budget

    midnight = 20371 * 86400.0
    clock = {"now": midnight - 0.2}
    monkeypatch.setattr(budget.time, "time", lambda: clock["now"])
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_agent_daily_usd="0.5"), ledger, FixedPricer("0.3"))
        await gov.admit(attempt_ctx("a", agent="ana"))
        clock["now"] = midnight + 0.3
        with pytest.raises(E.BudgetExceeded, match=r"reserved \$0.3"):
            await gov.admit(attempt_ctx("b", agent="ana"))


async def test_a_day_limit_covers_every_call_with_or_without_an_agent_or_run(tmp_path: Path, monkeypatch):
    # Agent and run limits bind only calls that name one (an MCP call without `agent` skipped the
    # agent-day limit): max_cost_per_day_usd caps every call together.
    from magsag_mcp.governance import budget

    now = 20371 * 86400.0 + 3600
    monkeypatch.setattr(budget.time, "time", lambda: now)
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_day_usd="1"), ledger, FixedPricer("0.3"))
        await record(ledger, "r1", "0.4", agent="ana")
        await record(ledger, "r2", "0.2")  # no agent
        await record(ledger, "r3", None, bound="0.1")  # an unknown cost, bounded
        held = await gov.admit(attempt_ctx("r4", agent="bob"))  # 0.7 + 0.3 = 1: fits exactly
        with pytest.raises(E.BudgetExceeded, match=r"day limit \$1 for all calls today \(UTC\) would be exceeded"):
            await gov.admit(attempt_ctx("r5"))
        status = await gov.check_budget()  # no agent, no run: the day limit still applies
        await gov.release(held)
        again = await gov.admit(attempt_ctx("r6"))
    [day] = [lim for lim in status["limits"] if lim["limit"] == "day"]
    assert (day["spent_usd"], day["unknown_cost_bound_usd"], day["reserved_usd"]) == ("0.6", "0.1", "0.3")
    assert day["status"] == "exceeded" and day["scope"] == "all calls today (UTC)" and day["unpriced_calls"] == 1
    assert again.reservation_id is not None


async def test_day_spend_is_filled_from_what_was_recorded_before_it_existed(tmp_path: Path):
    from magsag_mcp.ledger.migrations import MIGRATIONS, migrate

    db = tmp_path / "old.db"
    conn = ledger_of_schema(db, itertools.takewhile(lambda migration: migration[0] != "0010_day_spend", MIGRATIONS))
    rows = [(900.0 * 4, 5, None), (900.0 * 4 + 10, None, 7), (900.0 * 9, 11, None)]
    for at, cost, bound in rows:
        conn.execute(
            "INSERT INTO attempts (run_id, started_at, provider, model, outcome, cost_pusd, cost_bound_pusd)"
            " VALUES ('r', ?, 'openai', 'm', 'ok', ?, ?)",
            (at, cost, bound),
        )
    migrate(conn)
    assert conn.execute("SELECT * FROM day_spend ORDER BY bucket").fetchall() == [(4, 5, 7), (9, 11, 0)]
    conn.close()


async def test_pruning_keeps_the_spend_of_a_25_hour_day(tmp_path: Path, monkeypatch):
    # Berlin's 2026-10-25 lasts 25 hours (CEST -> CET). A prune kept the spend buckets of the 24 hours
    # before its cutoff only, so late that day the spend of its first hour vanished from its day limits.
    from magsag_mcp.governance import budget

    day_start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC).timestamp()  # 00:00 CEST
    clock = {"now": day_start + 15 * 60}  # 00:15 CEST
    monkeypatch.setattr(budget.time, "time", lambda: clock["now"])
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_berlin_cap(), ledger, FixedPricer("0.3"))
        await record(ledger, "early", "0.8", agent="ana")
        clock["now"] = day_start + 24.9 * 3600  # 23:54 CET, the same local day
        await ledger.prune(60)
        status = await gov.check_budget(agent="ana")
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(attempt_ctx("late", agent="ana"))  # 0.8 + 0.3 > 1
    assert {lim["limit"]: lim["spent_usd"] for lim in status["limits"]} == {"day": "0.8", "agent_day": "0.8"}


async def test_a_zone_whose_midnight_repeats_counts_its_first_hour_in_the_hour_after(tmp_path: Path, monkeypatch):
    # Havana leaves DST at 01:00 for 00:00 (1 Nov 2026): 00:00-01:00 comes twice. In the second of them the
    # day began at the second midnight, so the first hour's spend fell out of the day limit and the
    # limit could be spent twice over.
    from magsag_mcp.governance import budget

    first_midnight = datetime(2026, 11, 1, 4, 0, tzinfo=UTC).timestamp()  # 00:00 -04:00
    clock = {"now": first_midnight + 1800}  # 00:30 the first time
    monkeypatch.setattr(budget.time, "time", lambda: clock["now"])
    cap = PolicySet([Policy(name="cap", thresholds={"max_cost_per_day_usd": "1"}, timezone="America/Havana")])
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(cap, ledger, FixedPricer("0.3"))
        await record(ledger, "r1", "0.8")
        clock["now"] += 3600  # 00:30 the second time (-05:00), the same day
        with pytest.raises(E.BudgetExceeded, match=r"spent \$0.8"):
            await gov.admit(attempt_ctx("r2"))
        status = await gov.check_budget()
    [day] = status["limits"]
    assert day["spent_usd"] == "0.8" and day["window"]["start"] == first_midnight


async def test_agent_names_differing_in_case_are_two_agents_in_budgets_queries_and_summaries(tmp_path: Path):
    # An agent is its name exactly, as a run id and a skill id are (docs/mcp.md): "Analyst" and "analyst" each have
    # their own daily limit, runs and summary line, and a filter naming a third spelling finds neither, with a note
    # naming both. Pinned here so that no one part of the product starts folding case while the others do not.
    from magsag_mcp.ledger import UsageFilters

    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_agent_daily_usd="0.5"), ledger, FixedPricer("0.3"))
        await record(ledger, "r1", "0.4", agent="Analyst")
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(attempt_ctx("r2", agent="Analyst"))  # 0.4 + 0.3 > 0.5
        assert (await gov.admit(attempt_ctx("r3", agent="analyst"))).reservation_id is not None  # its own limit
        await record(ledger, "r4", "0.1", agent="analyst")
        summary = await ledger.summarize(UsageFilters())
        assert set(summary["by_agent"]) == {"Analyst", "analyst"}
        assert [r["run_id"] for r in await ledger.query_runs(UsageFilters(agent="analyst"))] == ["r4"]
        assert [r["run_id"] for r in await ledger.query_runs(UsageFilters(agent="Analyst"))] == ["r1"]
        notes = await ledger.filter_notes(UsageFilters(agent="ANALYST"), agent=False, run=True, names=True)
    assert any("'ANALYST'" in n and "Analyst" in n and "analyst" in n for n in notes), notes


@pytest.mark.parametrize(
    ("last_minute", "day", "hours"),
    [
        # Berlin's 2026-03-29 lasts 23 hours (CET -> CEST), its 2026-10-25 25 hours (CEST -> CET)
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), "2026-03-29", 23),
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), "2026-10-25", 25),
    ],
)
async def test_a_berlin_day_limit_resets_at_berlin_midnight_on_its_23_and_25_hour_days(
    tmp_path: Path, monkeypatch, last_minute: datetime, day: str, hours: int
):
    # A call in the last minute of a Berlin day spends that day (its day limit refuses more), the same call's day in a
    # summary of Berlin days (what flow gate checks) is that day, and a minute later, at Berlin's midnight, the limit
    # reads a new day, as long after the day's start as the day is long.
    from magsag_mcp.governance import budget

    clock = {"now": last_minute.timestamp()}
    monkeypatch.setattr(budget.time, "time", lambda: clock["now"])
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_berlin_cap(), ledger, FixedPricer("0.3"))
        await record(ledger, "late", "0.8", agent="ana")
        before = await gov.check_budget(agent="ana")
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(attempt_ctx("one-more", agent="ana"))  # 0.8 + 0.3 > 1, the same Berlin day
        summary = await ledger.summarize(None, "Europe/Berlin")
        clock["now"] += 60  # Berlin's midnight
        after = await gov.check_budget(agent="ana")
        await gov.admit(attempt_ctx("next-day", agent="ana"))
    assert summary["largest_day"]["date"] == day and summary["by_agent"]["ana"]["largest_day"]["date"] == day
    [window] = {(lim["window"]["start"], lim["window"]["end"]) for lim in before["limits"]}
    assert window[1] == clock["now"] and window[1] - window[0] == hours * 3600
    assert {lim["limit"]: lim["spent_usd"] for lim in before["limits"]} == {"day": "0.8", "agent_day": "0.8"}
    assert {lim["limit"]: lim["spent_usd"] for lim in after["limits"]} == {"day": "0", "agent_day": "0"}
