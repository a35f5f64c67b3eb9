"""A call limit over retries and fallbacks, and what a budget refusal says: what is left and how to fit in it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Admission, Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger, UsageFilters
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record

pytestmark = pytest.mark.anyio


async def test_budget_stops_an_expensive_fallback_at_the_hop(catalog_copy: Path, tmp_path: Path, upstream):
    prices(catalog_copy, '"compat:cheap": {input: 0.1, output: 0.1}\n"compat:pricey": {input: 500, output: 500}\n')
    policy(catalog_copy, "policies:\n  - name: per_call\n    thresholds: {max_cost_per_call_usd: 0.05}\n")
    upstream.plan("cheap", 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {
        "provider": "compat",
        "model": "cheap",
        "fallbacks": [{"provider": "compat", "model": "pricey"}],
        "max_tokens": 200,
    }
    with pytest.raises(E.BudgetExceeded) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="hop")
    runs = await svc.query_runs(UsageFilters(run_id="hop"))
    await svc.aclose()
    err = info.value
    assert err.kind == "budget_exceeded" and err.policy == "per_call"
    assert "call limit $0.05 would be exceeded: compat:pricey may cost up to" in err.message
    assert upstream.calls["pricey"] == 0
    assert [a["outcome"] for a in runs[0]["attempts"]] == ["error", "error", "error", "budget_exceeded"]
    assert runs[0]["status"] == "budget_exceeded"


async def test_call_limit_bounds_retries_and_fallbacks_together(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_call_usd="0.05"), ledger, FixedPricer("0.02"))
        first = await gov.admit(attempt_ctx("r"))
        second = await gov.admit(attempt_ctx("r", prior_admissions=[first]))  # a retry: 0.04 held
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("r", prior_admissions=[first, second]))  # 0.06 > 0.05
        other_call = await gov.admit(attempt_ctx("r"))  # each call has a limit of its own
        # an earlier attempt that settled counts at its real cost, not its worst case
        settled = Admission(None, Decimal("0.02"))
        await gov.settle(settled, Decimal("0.001"))
        third = await gov.admit(attempt_ctx("r", prior_admissions=[settled, first]))
    err = info.value
    assert err.policy == "cap" and err.details["limit"] == "call"
    assert err.details["reserved_usd"] == "0.04" and err.details["reservation_usd"] == "0.02"
    assert "call limit $0.05 would be exceeded" in err.message
    assert "this call's 2 earlier attempts spent $0 and hold $0.04" in err.message
    assert other_call.reserved_usd == third.reserved_usd == Decimal("0.02")


async def test_a_call_limit_refusal_says_one_earlier_attempt_in_the_singular(tmp_path: Path):
    # "this call's 1 earlier attempt(s) spent $0 and hold $0.02": a retry's refusal, as `magsag invoke` prints it
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_call_usd="0.03"), ledger, FixedPricer("0.02"))
        first = await gov.admit(attempt_ctx("r"))
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("r", prior_admissions=[first]))  # 0.04 > 0.03
    assert "this call's 1 earlier attempt spent $0 and holds $0.02" in info.value.message


async def test_an_attempt_dearer_than_a_whole_limit_says_how_to_fit_it(tmp_path: Path):
    # "agent-day limit $0.5 ... would be exceeded: spent $0, reserved $0" and nothing more: the worst
    # case alone was above the limit, which no waiting fixes; the message now says what does.
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_agent_daily_usd="0.5"), ledger, FixedPricer("0.6"))
        with pytest.raises(E.BudgetExceeded) as alone:
            await gov.admit(attempt_ctx("r", agent="bob"))
        fits = Governance(limits(max_cost_per_agent_daily_usd="0.5"), ledger, FixedPricer("0.3"))
        await fits.admit(attempt_ctx("r", agent="bob"))
        with pytest.raises(E.BudgetExceeded) as spent:
            await fits.admit(attempt_ctx("r", agent="bob"))
    assert "spent $0, reserved $0, this attempt reserves up to $0.6; this attempt's worst case alone is above" in (
        alone.value.message
    )
    assert "lower max_tokens, choose a cheaper model or raise the limit" in alone.value.message
    assert "worst case alone" not in spent.value.message and "reserved $0.3" in spent.value.message


async def test_a_refusal_says_what_is_left_when_the_day_ends_and_which_threshold_to_raise(tmp_path: Path, monkeypatch):
    # Before: "cap: day limit $0.8 for all calls today (Europe/Berlin) would be exceeded: spent $0, reserved $0.6,
    # this attempt reserves up to $0.3" and nothing more: not that a smaller attempt would still fit, nor when the
    # day's count starts again (the policy's day, not UTC's), nor which threshold of which policy to raise.
    from magsag_mcp.governance import budget

    thresholds = {"max_cost_per_day_usd": "0.8", "max_cost_per_run_usd": "0.6"}
    policies = PolicySet([Policy(name="cap", thresholds=thresholds, timezone="Europe/Berlin")])
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC).timestamp()  # 23:30 in Berlin, before its clocks go forward
    monkeypatch.setattr(budget.time, "time", lambda: now)
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(policies, ledger, FixedPricer("0.3"))
        await gov.admit(attempt_ctx("r1"))
        await gov.admit(attempt_ctx("r1"))  # two attempts in flight: $0.6 held
        with pytest.raises(E.BudgetExceeded) as run:
            await gov.admit(attempt_ctx("r1"))
        with pytest.raises(E.BudgetExceeded) as day:
            await gov.admit(attempt_ctx("r2"))
        with pytest.raises(E.BudgetExceeded) as call:
            await Governance(limits(max_cost_per_call_usd="0.2"), ledger, FixedPricer("0.3")).admit(attempt_ctx("r3"))
    # what holds the $0.6 reserved follows the fix (see test_refusal_names_holds_in_flight.py)
    held = (
        "; the $0.6 reserved is held by calls in flight until each is recorded (it then gives back what it did not "
        "spend); one whose process stopped mid-call (killed, crashed) holds it until a process on its machine sees it "
        "gone (its next call or read, within 30 s) or, from another machine or container, until it expires, then "
        "counts at what it held: check_budget shows what holds it and until when"
    )
    assert run.value.message.endswith(
        "spent $0, reserved $0.6, this attempt reserves up to $0.3; nothing is left; or raise max_cost_per_run_usd on "
        "policy 'cap'" + held
    ), run.value.message
    assert day.value.message.endswith(
        "reserved $0.6, this attempt reserves up to $0.3; $0.2 is left: lower max_tokens or choose a cheaper model to "
        "fit in it; the day ends at 2026-03-29T00:00+01:00 (Europe/Berlin); or raise max_cost_per_day_usd on policy "
        "'cap'" + held
    ), day.value.message
    assert day.value.details["day_ends_at"] == "2026-03-29T00:00:00+01:00" and "day_ends_at" not in run.value.details
    assert [e.value.details["threshold"] for e in (run, day, call)] == [
        "max_cost_per_run_usd",
        "max_cost_per_day_usd",
        "max_cost_per_call_usd",
    ]
    assert call.value.message.endswith(
        "lower max_tokens or choose a cheaper model, or raise max_cost_per_call_usd on policy 'cap'"
    ), call.value.message


async def test_a_scope_quotes_a_name_only_where_its_ends_are_spaces(tmp_path: Path):
    # check_budget looks up names as an older ledger may hold them, spaces at the ends too: its scope read
    # "agent  alice today (UTC)", the space lost in the text and no sign it was part of the name. Quoted where it is
    # so; a plain name reads as before.
    policies = limits(max_cost_per_agent_daily_usd="1", max_cost_per_run_usd="1")
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(policies, ledger, FixedPricer("0.3"))
        scopes = {}
        for agent, run_id in ((" alice", "r1 "), ("alice", "r1")):
            status = await gov.check_budget(agent=agent, run_id=run_id)
            scopes[agent] = sorted(lim["scope"] for lim in status["limits"])
    assert scopes == {
        " alice": ["agent ' alice' today (UTC)", "run 'r1 '"],
        "alice": ["agent alice today (UTC)", "run r1"],
    }


async def test_a_call_limit_admits_attempts_that_fill_it_exactly_and_refuses_a_pico_dollar_more(tmp_path: Path):
    # a limit is an amount not to pass: the third $0.02 attempt of a $0.06 call limit fills it, and is admitted
    from magsag_mcp.types import Target

    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_call_usd="0.06"), ledger, FixedPricer("0.02"))
        first = await gov.admit(attempt_ctx("r"))
        second = await gov.admit(attempt_ctx("r", prior_admissions=[first]))
        third = await gov.admit(attempt_ctx("r", prior_admissions=[first, second]))  # 0.04 held + 0.02 = 0.06
        assert third.reserved_usd == Decimal("0.02")
        with pytest.raises(E.BudgetExceeded):
            await gov.admit(attempt_ctx("r", prior_admissions=[first, second, third]))
        # before anything is spent: a worst case of the limit's amount is within it, a pico-dollar more is not
        target = Target("compat", "metered")
        assert gov.spend_verdict(target, Decimal("0.06")) == (True, None, None)
        ok, policy_name, reason = gov.spend_verdict(target, Decimal("0.060000000001"))
        assert (ok, policy_name) == (False, "cap") and "above the call limit $0.06" in reason


async def test_a_worst_case_of_the_whole_limit_refused_after_some_spend_is_told_what_is_left_not_that_it_is_above_it(
    tmp_path: Path,
):
    # the worst case ($0.02) fits the run limit ($0.02) alone, so it is not "above the limit": the $0.001 spent is
    # what refuses it, and the fix is what is left
    async with Ledger(tmp_path / "l.db") as ledger:
        await record(ledger, "r", "0.001")
        gov = Governance(limits(max_cost_per_run_usd="0.02"), ledger, FixedPricer("0.02"))
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("r"))
    assert "; $0.019 is left: lower max_tokens or choose a cheaper model to fit in it" in info.value.message
    assert "alone is above the limit" not in info.value.message


async def test_a_worst_case_of_the_whole_limit_refused_by_a_call_in_flight_is_told_that_call_holds_it(tmp_path: Path):
    # the first call's $0.02 reservation, in flight, fills the $0.02 run limit; the second's worst case, the whole
    # limit, fits it alone: what stands in its way is the hold, which the refusal says is a call in flight's
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="0.02"), ledger, FixedPricer("0.02"))
        await gov.admit(attempt_ctx("r", call_id="first"))
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("r", call_id="second"))
    assert "; nothing is left" in info.value.message
    assert "the $0.02 reserved is held by calls in flight until each is recorded" in info.value.message
