"""Month limits (max_cost_per_month_usd, max_cost_per_agent_monthly_usd): read from a policy, held before money is
spent by the same reservation as a day limit, over the calendar month of the policy's time zone; reported by
check_budget, checked by flow gate, shown by explain, and kept through a prune."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance, Policy, PolicySet, load_policy_file
from magsag_mcp.governance.budget import Reservation
from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.ledger import Ledger
from magsag_mcp.types import Target
from tests.governance_helpers import FixedPricer, attempt_ctx, policy, record

pytestmark = pytest.mark.anyio

BERLIN = ZoneInfo("Europe/Berlin")


def _berlin(*when: int) -> float:
    return datetime(*when, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def _monthly(**thresholds: str) -> PolicySet:
    return PolicySet([Policy(name="monthly", timezone="Europe/Berlin", thresholds=thresholds)])


@pytest.fixture
def clock(monkeypatch):
    from magsag_mcp.governance import budget

    now = {"t": _berlin(2026, 11, 3, 12)}
    monkeypatch.setattr(budget.time, "time", lambda: now["t"])
    return now


async def test_a_month_limit_counts_the_months_earlier_days_and_starts_again_at_the_zones_month(
    tmp_path: Path, clock
):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_month_usd="1"), ledger, FixedPricer("0.3"))
        clock["t"] = _berlin(2026, 10, 31, 23, 30)  # last month's: not counted
        await record(ledger, "october", "0.9")
        clock["t"] = _berlin(2026, 11, 1, 0, 10)  # 2026-10-31 23:10 UTC: November in Berlin
        await record(ledger, "first", "0.5", agent="ana")
        clock["t"] = _berlin(2026, 11, 20, 9)
        await record(ledger, "later", "0.3")  # no agent: every call counts
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("over"))  # 0.8 + 0.3 > 1, though no day spent more than 0.5
        fits = Governance(_monthly(max_cost_per_month_usd="1"), ledger, FixedPricer("0.2"))
        held = await fits.admit(attempt_ctx("fits", agent="bob"))  # 0.8 + 0.2 = 1 exactly
        status = await gov.check_budget()
        clock["t"] = _berlin(2026, 11, 30, 23, 50)  # still November in Berlin (22:50 UTC)
        with pytest.raises(E.BudgetExceeded):
            await fits.admit(attempt_ctx("late"))
        await gov.release(held)
        clock["t"] = _berlin(2026, 12, 1, 0, 5)  # December in Berlin, November 30 in UTC
        december = await gov.admit(attempt_ctx("december"))
    message = str(info.value)
    assert "monthly: month limit $1 for all calls this month (Europe/Berlin) would be exceeded: spent $0.8" in message
    assert "the month ends at 2026-12-01T00:00+01:00 (Europe/Berlin)" in message
    assert "max_cost_per_month_usd on policy 'monthly'" in message
    assert info.value.details["month_ends_at"] == "2026-12-01T00:00:00+01:00"
    assert info.value.details["threshold"] == "max_cost_per_month_usd" and "day_ends_at" not in info.value.details
    [month] = status["limits"]
    assert (month["limit"], month["scope"]) == ("month", "all calls this month (Europe/Berlin)")
    assert (month["limit_usd"], month["spent_usd"], month["reserved_usd"], month["remaining_usd"]) == (
        "1", "0.8", "0.2", "0",
    )  # fmt: skip
    assert month["status"] == "exceeded"
    assert month["window"] == {
        "start": _berlin(2026, 11, 1),
        "end": _berlin(2026, 12, 1),
        "timezone": "Europe/Berlin",
    }
    assert december.reservation_id is not None


async def test_an_agents_month_limit_counts_that_agent_alone(tmp_path: Path, clock):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_agent_monthly_usd="1"), ledger, FixedPricer("0.3"))
        await record(ledger, "a1", "0.5", agent="ana")
        clock["t"] = _berlin(2026, 11, 25, 9)
        await record(ledger, "a2", "0.4", agent="ana")
        await record(ledger, "b1", "0.9", agent="bob")
        await record(ledger, "none", "5")  # no agent: no agent's month limit counts it
        with pytest.raises(E.BudgetExceeded, match=r"agent-month limit \$1 for agent ana this month \(Europe/Berlin\)"):
            await gov.admit(attempt_ctx("a3", agent="ana"))
        carl = await gov.admit(attempt_ctx("c1", agent="carl"))
        # a call without an agent meets no agent's limit: admitted with nothing to reserve against
        anonymous = await gov.admit(attempt_ctx("anonymous"))
        status = await gov.check_budget(agent="ana")
    [ana] = status["limits"]
    assert (ana["limit"], ana["spent_usd"], ana["remaining_usd"]) == ("agent_month", "0.9", "0.1")
    assert ana["scope"] == "agent ana this month (Europe/Berlin)"
    assert carl.reservation_id is not None and anonymous.reservation_id is None


async def test_a_batch_of_reservations_counts_each_against_the_month(tmp_path: Path, clock):
    # the group commit makes many reservations in one pass: each made adds to the holds the next one reads, in the
    # month's scope as in the day's
    caps = _monthly(max_cost_per_month_usd="1", max_cost_per_agent_monthly_usd="0.7")
    async with Ledger(tmp_path / "l.db") as ledger:
        await record(ledger, "spent", "0.3", agent="ana")
        batch = [
            Reservation(caps.limits, Decimal("0.25"), f"r{i}", "ana" if i < 3 else "bob") for i in range(5)
        ]
        results = await ledger.submit(lambda conn: Reservation.apply_all(conn, batch))
    # ana: 0.3 + 0.25 fits 0.7, a second would not; the month: 0.3 + 0.25 + 0.25 (bob) + 0.25 (bob) = 1.05 > 1
    assert [ok for ok, _ in results] == [True, False, False, True, False]
    refused = [str(value) for ok, value in results if not ok]
    assert "agent-month limit $0.7 for agent ana" in refused[0]
    assert "month limit $1 for all calls this month" in refused[-1]


async def test_a_prune_of_days_keeps_the_months_spend(tmp_path: Path, clock):
    # `data prune --older-than 7d` on the 20th: the month's first days' spend buckets stay, or the month limit would
    # start again from what was left
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_month_usd="1"), ledger, FixedPricer("0.3"))
        clock["t"] = _berlin(2026, 11, 1, 8)
        await record(ledger, "early", "0.8")
        clock["t"] = _berlin(2026, 11, 20, 8)
        await ledger.prune(7 * 86400)
        with pytest.raises(E.BudgetExceeded, match=r"spent \$0.8"):
            await gov.admit(attempt_ctx("late"))
        runs = await ledger.query_runs()
    assert runs == []  # the attempt itself is pruned: the month is counted from its spend bucket


async def test_check_budget_counts_the_months_unknown_costs_as_a_scan_of_its_attempts(tmp_path: Path, clock):
    # a month's unknown costs are read from its whole UTC days' rollup rows, and its first and last days' attempts
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_month_usd="100"), ledger, FixedPricer("0.3"))
        for at, run, bound in (
            (_berlin(2026, 10, 31, 23, 50), "before", None),  # last month's
            (_berlin(2026, 11, 1, 0, 20), "first-day", "0.1"),  # 2026-10-31 UTC: its UTC day is split
            (_berlin(2026, 11, 14, 12), "mid", None),
            (_berlin(2026, 11, 30, 23, 40), "last-day", None),  # 22:40 UTC: its UTC day is split
            (_berlin(2026, 12, 1, 0, 30), "after", None),  # next month's, the same UTC day
        ):
            clock["t"] = at
            await record(ledger, run, None, bound=bound)
        clock["t"] = _berlin(2026, 11, 30, 23, 45)
        status = await gov.check_budget()
    [month] = status["limits"]
    assert (month["unpriced_attempts"], month["unbounded_attempts"]) == (3, 2)
    assert month["unknown_cost_bound_usd"] == "0.1" and month["cost_complete"] is False


def test_a_policy_file_takes_the_month_limits_in_its_zone_and_guides_other_spellings_to_them(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "policies:\n  - name: team\n    timezone: Europe/Berlin\n"
        "    thresholds: {max_cost_per_month_usd: 8000, max_cost_per_agent_monthly_usd: 500}\n"
    )
    limits = load_policy_file(path).limits
    assert [(lim.kind, lim.amount, lim.zone) for lim in limits] == [
        ("agent_month", Decimal(500), "Europe/Berlin"),
        ("month", Decimal(8000), "Europe/Berlin"),
    ]
    for key, meant in (
        ("max_monthly_cost_usd", "max_cost_per_month_usd"),
        ("monthly_budget", "max_cost_per_month_usd"),
        ("maxCostPerMonthUSD", "max_cost_per_month_usd"),
        ("max_cost_per_agent_per_month_usd", "max_cost_per_agent_monthly_usd"),
    ):
        path.write_text(f"policies:\n  - name: team\n    thresholds: {{{key}: 8000}}\n")
        with pytest.raises(E.CatalogError) as info:
            load_policy_file(path)
        [problem] = info.value.problems
        assert problem.startswith(f"{path}:3: policies.0.thresholds.{key}: "), problem
        assert f"did you mean {meant!r}?" in problem and "max_cost_per_run_usd'?" not in problem
    path.write_text("policies:\n  - name: team\n    thresholds: {max_cost_per_month_usd: 0}\n")
    with pytest.raises(E.CatalogError, match=r"policies\.0\.thresholds\.max_cost_per_month_usd"):
        load_policy_file(path)


def _summary(cost: str, first: str, last: str, *, agents: dict[str, str] | None = None, **filters: str) -> dict:
    return {
        "model_stats": {"gpt-4o": {"calls": 3, "cost_usd_exact": cost, "unpriced_calls": 0, "providers": ["openai"]}},
        "by_agent": {a: {"calls": 1, "cost_usd_exact": c} for a, c in (agents or {}).items()},
        "largest_day": {"date": first[:10], "cost_usd": "1", "calls": 1},
        "period": {"from": first, "to": last, "filters": filters, "timezone": "Europe/Berlin"},
    }


def test_flow_gate_checks_a_month_limit_against_a_summary_of_that_month(tmp_path: Path):
    caps = _monthly(max_cost_per_month_usd="100", max_cost_per_agent_monthly_usd="40")
    over = _summary("120", "2026-11-01T00:10:00+01:00", "2026-11-30T22:00:00+01:00", agents={"ana": "50", "bob": "5"})
    violations, notes = check_summary_with_notes(over, caps)
    assert violations == [
        "monthly: 2026-11 (Europe/Berlin) cost $120 exceeds max_cost_per_month_usd $100",
        "monthly: agent 'ana' in 2026-11 (Europe/Berlin) cost $50 exceeds max_cost_per_agent_monthly_usd $40",
    ]
    assert notes == []
    under, notes = check_summary_with_notes(
        _summary("99", "2026-11-03T00:10:00+01:00", "2026-11-20T22:00:00+01:00", since="2026-11-03"), caps
    )
    assert under == []
    assert any("holds only part of 2026-11 (Europe/Berlin)" in n and "--since 2026-11-01" in n for n in notes), notes
    # over several months: a summary keeps no month's spend, so the gate says so and checks what it can
    spans, notes = check_summary_with_notes(
        _summary("500", "2026-10-03T00:10:00+02:00", "2026-11-20T22:00:00+01:00"), caps
    )
    assert spans == [] and any("spans several months (2026-10 to 2026-11" in n for n in notes), notes


def test_flow_gate_says_a_summary_of_calls_with_no_period_is_not_checked_for_a_whole_month():
    # a period written by hand or cut down (no from and to): its month limits were skipped with no word, "gate: pass"
    caps = _monthly(max_cost_per_month_usd="100")
    berlin = {"timezone": "Europe/Berlin"}
    for period in (berlin, {"from": "2026-11-03", "to": "yesterday", **berlin}):
        summary = {**_summary("120", "", ""), "period": period}
        summary["largest_day"] = {"date": "2026-11-03", "cost_usd": "150", "calls": 3}
        violations, notes = check_summary_with_notes(summary, caps)
        # its costliest day alone is over the month's limit: a month over it, whichever month
        assert violations == [
            "monthly: 2026-11-03 (Europe/Berlin) alone cost $150, which exceeds max_cost_per_month_usd $100"
        ], period
        [note] = [n for n in notes if "no valid from and to" in n]
        assert "max_cost_per_month_usd checked only that no day of it alone exceeds the limit" in note
        assert "write the summary with `magsag flow summarize --output FILE`" in note
    # a summary of no call has no month spent: nothing to say
    empty = {"model_stats": {}, "period": {"timezone": "Europe/Berlin"}}
    violations, notes = check_summary_with_notes(empty, caps)
    assert violations == [] and not any("no valid from and to" in n for n in notes), notes


def test_explain_says_a_target_whose_worst_case_passes_the_month_limit_is_refused(tmp_path: Path):
    gov = Governance(_monthly(max_cost_per_month_usd="0.5"), None, FixedPricer("0.6"))
    ok, policy, reason = gov.spend_verdict(Target("compat", "metered"), Decimal("0.6"))
    assert (ok, policy) == (False, "monthly")
    assert reason == "compat:metered may cost up to $0.6, above the month limit $0.5"


def test_the_months_bounds_are_its_first_and_next_first_local_midnight():
    from magsag_mcp.governance.scope_sums import month_bounds

    # December's end and February's, in Berlin (DST changes within March: the month is its days)
    assert month_bounds(_berlin(2026, 12, 31, 23, 59), "Europe/Berlin") == (_berlin(2026, 12, 1), _berlin(2027, 1, 1))
    assert month_bounds(_berlin(2028, 2, 29, 12), "Europe/Berlin") == (_berlin(2028, 2, 1), _berlin(2028, 3, 1))
    assert month_bounds(_berlin(2026, 3, 31, 23), "Europe/Berlin") == (_berlin(2026, 3, 1), _berlin(2026, 4, 1))
    utc = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()  # December 1st in Berlin
    assert month_bounds(utc, "UTC")[0] == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert month_bounds(utc, "Europe/Berlin")[0] == _berlin(2026, 12, 1)


async def test_reading_a_months_spend_is_one_range_of_the_spend_buckets_not_a_scan_of_attempts(tmp_path: Path):
    # the month's read goes to day_spend's and agent_spend's primary keys, as a day's: no attempt is read
    from magsag_mcp.governance.scope_sums import _AGENT_DAY_SPENT, _DAY_SPENT

    async with Ledger(tmp_path / "l.db") as ledger:
        await record(ledger, "r", "0.1", agent="ana")
    conn = sqlite3.connect(tmp_path / "l.db")
    for sql, args in ((_DAY_SPENT[0], (0, 10**7)), (_AGENT_DAY_SPENT[0], ("ana", 0, 10**7))):
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "attempts" not in plan and "SCAN day_spend" not in plan and "SCAN agent_spend" not in plan, plan
    conn.close()


_MONTHLY_FILE = (
    "policies:\n  - name: monthly\n    timezone: Europe/Berlin\n"
    "    thresholds: {max_cost_per_month_usd: 10, max_cost_per_agent_monthly_usd: 2}\n"
)


async def test_check_budget_over_mcp_reports_the_months_spend_limit_and_remaining(catalog_copy, tmp_path, clock):
    # the tool's result model took limit kinds call, run, agent_day and day alone: a month's entry must pass it whole
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    policy(catalog_copy, _MONTHLY_FILE)
    db = tmp_path / "ledger.db"
    async with Ledger(db) as ledger:
        await record(ledger, "r1", "1.5", agent="ana")
    async with Client(build_server(catalog=catalog_copy, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        status = (await client.call_tool("check_budget", {"agent": "ana"})).structured_content
    by = {lim["limit"]: lim for lim in status["limits"]}
    assert (by["month"]["limit_usd"], by["month"]["spent_usd"], by["month"]["remaining_usd"]) == ("10", "1.5", "8.5")
    november = {"start": _berlin(2026, 11, 1), "end": _berlin(2026, 12, 1), "timezone": "Europe/Berlin"}
    assert by["month"]["window"] == november
    assert (by["agent_month"]["spent_usd"], by["agent_month"]["remaining_usd"]) == ("1.5", "0.5")


def test_magsag_budget_prints_the_months_limit(catalog_copy, tmp_path, capsys, monkeypatch, clock):
    import anyio

    from magsag_mcp.cli import main

    policy(catalog_copy, _MONTHLY_FILE)
    db = tmp_path / "ledger.db"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            await record(ledger, "r1", "1.5", agent="ana")

    anyio.run(fill)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert main(["budget", "--catalog", str(catalog_copy), "--agent", "ana"]) == 0
    out = capsys.readouterr().out
    said = "monthly: month limit $10 for all calls this month (Europe/Berlin): spent $1.5, reserved $0, remaining $8.5"
    assert said in out
    assert "monthly: agent_month limit $2 for agent ana this month (Europe/Berlin): spent $1.5" in out


async def test_explain_refuses_a_worst_case_above_a_month_limit(catalog_copy, tmp_path, upstream):
    # explain shows what invoke would do: a target whose worst case alone passes the month's (or an agent's month's)
    # limit is refused whatever was spent
    from tests.governance_helpers import open_service, prices

    prices(catalog_copy, '"compat:dear": {input: 1000, output: 1000}\n')
    policy(
        catalog_copy,
        "policies:\n  - name: capped\n    thresholds: {max_cost_per_month_usd: 1, max_cost_per_agent_monthly_usd: 1}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {"model": "compat:dear"}}
    [target] = svc.explain("skill.analysis", payload)["targets"]
    [for_agent] = svc.explain("skill.analysis", payload, agent="bot")["targets"]
    with pytest.raises(E.BudgetExceeded, match=r"month limit \$1 for all calls this month \(UTC\)"):
        await svc.invoke_skill("skill.analysis", payload)
    await svc.aclose()
    assert target["policy"]["allowed"] is False and "above the month limit $1" in target["policy"]["reason"]
    assert for_agent["policy"]["allowed"] is False
    assert "above the agent-month limit $1" in for_agent["policy"]["reason"]


def test_flow_gate_names_a_costliest_day_holding_an_unbounded_attempt_a_month_limit_was_checked_against():
    # a summary over two months, narrowed to one model: its costliest day holds a fallback hop of no known price that
    # the counts left out; the month limit, checked against that day, cannot be checked by a policy that does not allow
    # unpriced models (the day and run limits' figures were named; the month's were not, and it passed)
    caps = _monthly(max_cost_per_month_usd="100", max_cost_per_agent_monthly_usd="40")
    summary = _summary("5", "2026-10-03T00:10:00+02:00", "2026-11-20T22:00:00+01:00", agents={"ana": "2"}, model="x")
    summary["largest_day"] = {"date": "2026-10-03", "cost_usd": "1", "calls": 1, "at_most_usd": None}
    summary["by_agent"]["ana"]["largest_day"] = {"date": "2026-10-04", "cost_usd": "2", "calls": 1, "at_most_usd": None}
    violations, _ = check_summary_with_notes(summary, caps)
    assert violations == [
        "monthly: figures it checks hold an attempt of no known cost nor a bound on it (their at_most_usd is null), "
        "which this summary's filters left out of its counts, so the cost limits cannot be checked: "
        "max_cost_per_month_usd against largest_day ($1, 2026-10-03); max_cost_per_agent_monthly_usd against "
        "by_agent['ana'].largest_day ($2, 2026-10-04)"
    ]
    # a summary of one month checks its whole spend, not the day: the day's hop is no figure of the month's
    one = _summary("5", "2026-11-03T00:10:00+01:00", "2026-11-20T22:00:00+01:00", model="x")
    one["largest_day"]["at_most_usd"] = None
    assert check_summary_with_notes(one, caps)[0] == []


def test_flow_gate_checks_an_older_summary_over_several_months_against_its_totals_and_says_so():
    # a summary written before largest_day was kept, over two months: its month limits were "checked only that no day
    # of it alone exceeds the limit" with no day to check, so $500 over a $100 month limit passed unchecked
    caps = _monthly(max_cost_per_month_usd="100", max_cost_per_agent_monthly_usd="40")
    for first, last in (("2026-10-03T00:10:00+02:00", "2026-11-20T22:00:00+01:00"), ("", "")):
        old = _summary("500", first, last, agents={"ana": "50"})
        del old["largest_day"]
        violations, notes = check_summary_with_notes(old, caps)
        assert violations == [
            "monthly: total cost $500 exceeds max_cost_per_month_usd $100",
            "monthly: agent 'ana' cost $50 exceeds max_cost_per_agent_monthly_usd $40",
        ], first
        [note] = [n for n in notes if "max_cost_per_month_usd and max_cost_per_agent_monthly_usd checked only" in n]
        assert "checked only against its whole cost and each agent's whole cost, not day by day (it has no " in note
        assert "no day of it alone" not in note
    # with its days kept, each day is checked, as before
    kept = _summary("500", "2026-10-03T00:10:00+02:00", "2026-11-20T22:00:00+01:00")
    violations, notes = check_summary_with_notes(kept, caps)
    assert violations == [] and any("checked only that no day of it alone exceeds the limit" in n for n in notes)


async def test_check_budget_says_a_month_a_prune_cut_keeps_its_spend_but_not_its_count_of_unknown_costs(
    tmp_path: Path, clock
):
    # `data prune --older-than 7d` on the 20th: the month's spend buckets stay (with the bound of a cut attempt) but no
    # count of its attempts of unknown cost does: the 1st's answer of no known price was gone from unpriced_attempts
    # and cost_complete read true, a month whose spend was exact
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_month_usd="10", max_cost_per_day_usd="5"), ledger, FixedPricer("0.3"))
        clock["t"] = _berlin(2026, 11, 1, 8)
        await record(ledger, "unpriced", None)
        await record(ledger, "cut", None, bound="0.2")
        await record(ledger, "paid", "0.8")
        clock["t"] = _berlin(2026, 11, 20, 8)
        before = await gov.check_budget()
        await ledger.prune(7 * 86400)
        status = await gov.check_budget()
    month = {lim["limit"]: lim for lim in before["limits"]}["month"]
    assert (month["unpriced_attempts"], month["cost_complete"], before.get("notes")) == (2, False, None)
    by = {lim["limit"]: lim for lim in status["limits"]}
    month = by["month"]
    assert (month["spent_usd"], month["unknown_cost_bound_usd"]) == ("0.8", "0.2")  # the spend, whole
    assert (month["unpriced_attempts"], month["cost_complete"]) == (0, False)
    assert by["day"]["cost_complete"] is True  # (today began after the cutoff: its counts are whole)
    [note] = status["notes"]
    assert note.startswith("a prune deleted attempts of this month (`magsag data prune` at ")
    assert "so its unpriced_attempts and unbounded_attempts count those since 2026-11-13T07:00:00+00:00 alone" in note
    assert note.endswith("a prune with --older-than 33d or more keeps every count of a month")


async def test_check_budget_names_the_latest_prunes_cutoff_for_the_window_after_several_prunes(tmp_path: Path, clock):
    # prunes on the 3rd (--older-than 30d) and the 20th (7d); then an event written with an earlier time (a clock set
    # back) and a second mark before the latest (a ledger's older marks): the note was read from the ledger's oldest
    # event, so it vanished behind the early event (cost_complete true over a month whose counts are cut) and, with
    # several marks, named the oldest's cutoff, before which the window began in no case that matters
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(max_cost_per_month_usd="10", max_cost_per_day_usd="5"), ledger, FixedPricer("0.3"))
        clock["t"] = _berlin(2026, 9, 20, 8)
        await record(ledger, "september", "0.1")
        clock["t"] = _berlin(2026, 11, 1, 8)
        await record(ledger, "unpriced", None)
        clock["t"] = _berlin(2026, 11, 3, 12)
        await ledger.prune(30 * 86400)  # cutoff 2026-10-04T11:00Z: before this month, whose counts stay whole
        status = await gov.check_budget()
        assert status["cost_complete"] is False and "notes" not in status  # (the unpriced attempt, counted)
        clock["t"] = _berlin(2026, 11, 20, 8)
        await ledger.prune(7 * 86400)  # cutoff 2026-11-13T07:00Z: in this month
        statuses = [await gov.check_budget()]

        def older_mark(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO events (run_id, agent, at, event, data) VALUES (NULL, NULL, ?, 'ledger_pruned', ?)",
                (_berlin(2026, 10, 2), '{"before": "2026-10-01T22:00:00+00:00", "pruned_at": "2026-10-30T00:00:00Z"}'),
            )

        await ledger.submit(older_mark)
        statuses.append(await gov.check_budget())
        clock["t"] = _berlin(2026, 9, 1, 8)  # a clock set back
        await ledger.log_event(None, None, "clock_set_back", {})
        clock["t"] = _berlin(2026, 11, 20, 8)
        statuses.append(await gov.check_budget())
    for status in statuses:  # (the first passed before: a lone mark, the oldest event)
        by = {lim["limit"]: lim for lim in status["limits"]}
        assert (by["month"]["cost_complete"], by["day"]["cost_complete"]) == (False, True), status
        [note] = status["notes"]
        assert "count those since 2026-11-13T07:00:00+00:00 alone" in note, note
