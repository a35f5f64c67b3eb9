"""Spend of unknown price under cost limits: refused unless allowed, counted at its bound, flagged, never $0."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record, run_limit

pytestmark = pytest.mark.anyio


async def test_unknown_price_under_a_cost_limit(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, "{}\n")
    policy(catalog_copy, "policies:\n  - name: capped\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    where = re.escape(f"add its price to {catalog_copy / 'prices.yaml'}")
    with pytest.raises(E.BudgetExceeded, match=f"has no known price.*{where}.*allow_unpriced"):
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"provider": "compat", "model": "m"}})
    await svc.aclose()
    policy(
        catalog_copy,
        "policies:\n  - name: capped\n    allow_unpriced: true\n    thresholds: {max_cost_per_run_usd: 1}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    result = await svc.invoke_skill(
        "skill.analysis", {"data": "x", "model_config": {"provider": "compat", "model": "m"}}
    )
    summary = await svc.summarize()
    await svc.aclose()
    assert result.cost_usd is None and any("no price known" in w for w in result.warnings)
    assert summary["model_stats"]["m"]["unpriced_calls"] == 1


def test_check_budget_reports_unpriced_spend(tmp_path: Path, capsys, clock_at_noon):
    # (at noon: its calls are recorded, then their agent's day read; a UTC midnight between them read an empty day)
    async def go() -> tuple[dict, dict]:
        async with Ledger(tmp_path / "l.db") as ledger:
            gov = Governance(
                limits(max_cost_per_run_usd="1", max_cost_per_agent_daily_usd="10"), ledger, FixedPricer("0.1")
            )
            await record(ledger, "mag", "0.2", agent="ag")
            await record(ledger, "sag", None, parent="mag", agent="ag")  # a call whose price was unknown
            await record(ledger, "clean", "0.2", agent="other")
            return await gov.check_budget(agent="ag", run_id="mag"), await gov.check_budget(
                agent="other", run_id="clean"
            )

    status, clean = anyio.run(go)
    by_kind = {lim["limit"]: lim for lim in status["limits"]}
    assert by_kind["run"]["unpriced_calls"] == 1 and by_kind["run"]["cost_complete"] is False
    assert by_kind["run"]["unbounded_calls"] == by_kind["agent_day"]["unbounded_calls"] == 1  # no bound: unknown price
    assert by_kind["agent_day"]["unpriced_calls"] == 1 and by_kind["agent_day"]["cost_complete"] is False
    assert by_kind["run"]["spent_usd"] == "0.2"  # the known part; the fields above say it is a lower bound
    assert status["cost_complete"] is False
    assert clean["cost_complete"] is True and all(lim["unpriced_calls"] == 0 for lim in clean["limits"])
    # `magsag budget` (the shipped policy's run limit) never prints the unknown cost as a plain number
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    assert main(["budget", "--run-id", "mag", "--db", str(tmp_path / "l.db"), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "spent at least $0.2 (1 attempt of unknown cost)" in out and "remaining at most $" in out


def test_limits_count_an_unknown_cost_at_its_bound(tmp_path: Path, capsys):
    """An attempt of unknown cost (cut after it reached the vendor) counts at the most it can have cost
    in the run limit of its parent, in its agent's day, in refusals and in `magsag budget`."""

    async def go() -> tuple[dict, E.BudgetExceeded]:
        async with Ledger(tmp_path / "l.db") as ledger:
            gov = Governance(
                limits(max_cost_per_run_usd="1", max_cost_per_agent_daily_usd="10"), ledger, FixedPricer("0.3")
            )
            await record(ledger, "mag", "0.2", agent="ag")
            await record(ledger, "sag", None, parent="mag", agent="ag", bound="0.45")
            status = await gov.check_budget(agent="ag", run_id="mag")
            # 0.2 spent + up to 0.45 unknown + 0.3 for this attempt = 0.95: admitted, and held
            first = await gov.admit(attempt_ctx("mag", agent="ag"))
            with pytest.raises(E.BudgetExceeded) as refused:  # 0.95 + 0.3 > 1; at $0 it would be 0.8
                await gov.admit(attempt_ctx("mag", agent="ag"))
            await gov.release(first)
            return status, refused.value

    status, refused = anyio.run(go)
    by_kind = {lim["limit"]: lim for lim in status["limits"]}
    for kind in ("run", "agent_day"):
        lim = by_kind[kind]
        assert (lim["spent_usd"], lim["unknown_cost_bound_usd"], lim["unpriced_calls"]) == ("0.2", "0.45", 1), kind
        assert lim["unbounded_calls"] == 0, kind
    assert by_kind["run"]["remaining_usd"] == "0.35" and by_kind["agent_day"]["remaining_usd"] == "9.35"
    assert "spent $0.2, up to $0.45 more for attempts of unknown cost, reserved $0.3" in refused.message
    assert refused.details["unknown_cost_bound_usd"] == "0.45"
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    assert main(["budget", "--run-id", "mag", "--db", str(tmp_path / "l.db"), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "spent at least $0.2 (1 attempt of unknown cost, counted at up to $0.45)" in out
    assert "remaining $4.35" in out  # the shipped policy's run limit of $5: every unknown cost is bounded

    async def unbounded() -> dict:  # an answer of unknown price has no bound: remaining is then an upper bound
        async with Ledger(tmp_path / "l.db") as ledger:
            await record(ledger, "sag2", None, parent="mag", agent="ag")
            gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.3"))
            return run_limit(await gov.check_budget(run_id="mag"))

    lim = anyio.run(unbounded)
    assert (lim["unpriced_calls"], lim["unbounded_calls"], lim["unknown_cost_bound_usd"]) == (2, 1, "0.45")
    assert main(["budget", "--run-id", "mag", "--db", str(tmp_path / "l.db"), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    # the bound is the cut attempt's alone: "(2 attempts of unknown cost, counted at up to $0.45)" bounded both
    assert "spent at least $0.2 (2 attempts of unknown cost: 1 counted at up to $0.45, 1 with no bound)" in out
    assert "remaining at most $4.35" in out


GUIDE_COST_LIMITS = (
    "policies:\n  - name: cost_limits\n    thresholds:\n      max_cost_per_run_usd: 5.0\n"
    "      max_cost_per_agent_daily_usd: 100.0\n"
)


@pytest.mark.parametrize("own_prices", [None, '"compat:m": {input: 0.5, output: 1.5}\n'])
async def test_a_local_model_costs_nothing_in_a_catalog_of_the_users_own(catalog_copy, tmp_path, upstream, own_prices):
    # The guide's cost limits in a catalog of the user's own, without prices.yaml or with one that prices only
    # the compat model they pay for: local:llama3.1:70b was "no known price", so every local call was refused
    # ("has no known price ... allow_unpriced"). A server of the user's own costs nothing per token unless
    # prices.yaml prices it; a compat model of unknown price stays unknown (null, flagged), never $0.
    (catalog_copy / "prices.yaml").unlink()
    if own_prices is not None:
        prices(catalog_copy, own_prices)
    policy(catalog_copy, GUIDE_COST_LIMITS)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        result = await svc.invoke_skill("skill.pii-redaction", {"text": "Call Ann at 555-0100"})
        with pytest.raises(E.BudgetExceeded, match="no known price"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "compat:unpriced"}})
    finally:
        await svc.aclose()
    assert (result.result.provider, result.result.model) == ("local", "llama3.1:70b")
    assert result.cost_usd == Decimal(0) and not any("no price known" in w for w in result.warnings)
    # priced in prices.yaml, a local server is metered like any other
    prices(catalog_copy, '"local:*": {input: 1000, output: 1000}\n')
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        result = await svc.invoke_skill("skill.pii-redaction", {"text": "Call Ann at 555-0100"})
    finally:
        await svc.aclose()
    assert result.cost_usd > 0
