"""Money in budgets is exact: whatever Decimal context the caller sets, written as plain dollars, billed as answered."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.service import Service
from magsag_mcp.types import Target
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, open_service, policy, prices, record, run_limit

pytestmark = pytest.mark.anyio


async def test_amounts_under_a_millionth_of_a_dollar_are_plain_decimals_in_status_and_refusals(tmp_path: Path):
    """check_budget's remaining_usd and a call limit's refusal wrote what is left, or a call's worst case, as
    Python prints a small Decimal ("1E-7"), where every other amount there is a plain decimal ("0.0000001")."""
    async with Ledger(tmp_path / "l.db") as ledger:
        await record(ledger, "r", "0.4999999")
        status = await Governance(limits(max_cost_per_run_usd="0.5"), ledger, FixedPricer("0.3")).check_budget(
            run_id="r"
        )
        gov = Governance(limits(max_cost_per_call_usd="0.0000004"), ledger, FixedPricer("0.0000005"))
        with pytest.raises(E.BudgetExceeded) as refused:
            await gov.admit(attempt_ctx("r"))
        allowed, _, reason = gov.spend_verdict(Target("compat", "metered"), Decimal("0.0000005"))
    assert run_limit(status)["remaining_usd"] == "0.0000001"
    details = refused.value.details
    assert (details["limit_usd"], details["reservation_usd"]) == ("0.0000004", "0.0000005")
    assert "limit $0.0000004" in refused.value.message and "up to $0.0000005 " in refused.value.message
    assert not allowed and "up to $0.0000005," in reason and "limit $0.0000004" in reason


async def test_money_is_exact_whatever_decimal_context_the_caller_set(catalog_copy: Path, tmp_path: Path):
    """An application that lowers Decimal's precision for its own figures (``getcontext().prec = 6``) and
    then awaits a call: the cost was computed, summed and converted to pico-USD in the caller's context,
    and so rounded to six digits: recorded and counted against limits inexactly."""
    import decimal

    from magsag_mcp.providers.fake import script

    prices(catalog_copy, '"fake:*": {input: 1.234567, output: 7.654321}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 1000}\n")
    exact = (Decimal(123457) * Decimal("1.234567") + Decimal(98765) * Decimal("7.654321")) / 1_000_000
    script("m", {"text": "ok", "usage": {"input_tokens": 123457, "output_tokens": 98765}})
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    try:
        with decimal.localcontext() as ctx:
            ctx.prec = 6
            result = await svc.invoke_skill(
                "skill.analysis", {"data": "x", "model_config": {"model": "fake:m"}}, run_id="r-exact"
            )
            budget = await svc.check_budget(run_id="r-exact")
            [run] = await svc.query_runs({"run_id": "r-exact"})
            summary = await svc.summarize({})
    finally:
        await svc.aclose()
    assert result.cost_usd == exact == Decimal("0.908394951684")
    assert Decimal(run["cost_usd"]) == exact and Decimal(run["attempts"][0]["cost_usd"]) == exact
    [limit] = budget["limits"]
    assert Decimal(limit["spent_usd"]) == exact and Decimal(limit["remaining_usd"]) == 1000 - exact
    assert Decimal(summary["totals"]["cost_usd_exact"]) == exact


async def test_money_stays_exact_when_a_progress_callback_sets_its_own_decimal_context(
    catalog_copy: Path, tmp_path: Path
):
    """A progress callback is the caller's code, run in the middle of the call: one that sets Decimal's
    precision for its own figures (``getcontext().prec = 6``) set it for the rest of the call, whose cost
    was then computed, recorded and counted against limits rounded to six digits (0.908395)."""
    import decimal

    from magsag_mcp.providers.fake import script

    prices(catalog_copy, '"fake:*": {input: 1.234567, output: 7.654321}\n')
    exact = (Decimal(123457) * Decimal("1.234567") + Decimal(98765) * Decimal("7.654321")) / 1_000_000
    seen: list[str] = []

    def progress(event: str, data: dict) -> None:
        decimal.getcontext().prec = 6
        seen.append(event)

    async def aprogress(event: str, data: dict) -> None:
        progress(event, data)

    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    try:
        for run_id, callback in (("r-sync", progress), ("r-async", aprogress)):
            script("m", {"text": "ok", "usage": {"input_tokens": 123457, "output_tokens": 98765}})
            payload = {"data": "x", "model_config": {"model": "fake:m"}}
            result = await svc.invoke_skill("skill.analysis", payload, run_id=run_id, progress=callback)
            [run] = await svc.query_runs({"run_id": run_id})
            assert result.cost_usd == exact == Decimal(run["cost_usd"]), run_id
    finally:
        await svc.aclose()
    assert "attempt" in seen


async def test_round_dollar_amounts_are_written_as_dollars_not_in_exponent_form(tmp_path: Path):
    """Before: a refusal said "spent $2E+1, ... reserves up to $1E+1" and check_budget's spent_usd was "2E+1"
    (a normalized Decimal's str), for exactly $20 and $10."""
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="25"), ledger, FixedPricer("10"))
        await record(ledger, "r", "20")
        status = await gov.check_budget(run_id="r")
        with pytest.raises(E.BudgetExceeded) as info:
            await gov.admit(attempt_ctx("r"))
    assert run_limit(status)["spent_usd"] == "20"
    assert "spent $20, reserved $0, this attempt reserves up to $10" in info.value.message
    assert info.value.details["spent_usd"] == "20" and info.value.details["reservation_usd"] == "10"


async def test_an_answer_billed_above_its_reservation_says_so(
    catalog_copy: Path, tmp_path: Path, upstream, monkeypatch
):
    # A prompt billed more tokens than its size suggested (or served at a dearer rate than reserved, such as an
    # Azure deployment answering as a dearer model) costs more than its reservation held. Before: nothing said so;
    # the call returned as any other, though its cost may have taken a limit past its amount.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: caps\n    thresholds: {max_cost_per_call_usd: 0.01}\n")
    billed = {"input": 5000}
    monkeypatch.setattr(upstream, "_text", lambda model, prompt_bytes: ("an answer", billed["input"], 10))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    over = await svc.invoke_skill("skill.analysis", payload, run_id="over")
    billed["input"] = 20
    within = await svc.invoke_skill("skill.analysis", payload, run_id="within")
    runs = await svc.query_runs(UsageFilters(run_id="over"))
    await svc.aclose()
    assert over.cost_usd == Decimal("0.00501")  # 5,010 tokens at $1 per million: the real bill, counted
    [warning] = [w for w in over.warnings if "budget reservation" in w]
    assert warning.startswith("compat:metered cost $0.00501, above the $0.")
    assert "its budget reservation held (billed 5,000 input and 10 output tokens; reserved for " in warning
    assert "output allowed, at the rates known before it answered): the budget limits count its real cost" in warning
    assert warning in runs[0]["attempts"][0]["warnings"]  # the ledger keeps it with the attempt
    assert not [w for w in within.warnings if "budget reservation" in w]
