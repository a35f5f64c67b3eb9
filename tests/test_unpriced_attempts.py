"""Attempts of unknown cost counted as what they are: ``unpriced_calls`` and ``unbounded_calls`` always counted attempts
(a call retried after a cut attempt has two), under a name that says calls. Each result now carries
``unpriced_attempts`` and ``unbounded_attempts``, the old names kept beside them with the same numbers (a field of an
MCP tool's result is a public contract), and `magsag budget` says attempts."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import anyio

from magsag_mcp.cli import main
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.budget_results import BudgetResult
from magsag_mcp.mcp_server.ledger_models import QueryRunsResult, RunOut, StatsOut, TotalsOut
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.governance_helpers import FixedPricer, limits

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


async def _one_call_two_unknown_costs(db: Path) -> tuple[dict, dict, dict]:
    """One call of run r: its first attempt cut after the vendor had it (unknown cost, bounded), its retry answered
    at a price nobody knows (unknown, no bound)."""
    async with Ledger(db) as ledger:
        now = time.time()
        run = RunRecord("r", "ana", "skill.analysis", now)
        cut = AttemptRecord(
            "r", now, "compat", "metered", "skill.analysis", "ana", "error", 0, 1, error_class="timeout",
            cost_usd=None, cost_bound_usd=Decimal("0.1"),
        )  # fmt: skip
        unpriced = AttemptRecord("r", now + 1, "compat", "metered", "skill.analysis", "ana", "ok", 0, 2, cost_usd=None)
        await ledger.record_call(run, [cut, unpriced])
        summary = await ledger.summarize()
        page = await ledger.query_runs_page(UsageFilters(run_id="r"))
        gov = Governance(limits(max_cost_per_run_usd="1", max_cost_per_day_usd="10"), ledger, FixedPricer("0.1"))
        status = await gov.check_budget(run_id="r")
    return summary, page, status


def test_every_result_counts_a_calls_two_unknown_costs_as_two_attempts(tmp_path: Path, capsys, clock_at_noon):
    # noon: the retry is recorded a second after the call began, which in the last second before a UTC midnight is
    # the next day, and the day limit read then counted one attempt of the two
    summary, page, status = anyio.run(_one_call_two_unknown_costs, tmp_path / "l.db")
    totals, stats = summary["totals"], summary["model_stats"]["metered"]
    [run] = page["runs"]
    assert totals["calls"] == stats["calls"] == run["calls"] == 1
    for counts in (totals, stats, run, *status["limits"]):
        assert (counts["unpriced_attempts"], counts["unbounded_attempts"]) == (2, 1), counts
        # the first names, kept for the clients that read them: the same numbers
        assert (counts["unpriced_calls"], counts["unbounded_calls"]) == (2, 1), counts
    # the MCP tools' result models carry both (extra fields are refused)
    TotalsOut.model_validate(totals)
    StatsOut.model_validate(stats)
    RunOut.model_validate(run)
    QueryRunsResult.model_validate({**page, "notes": []})
    BudgetResult.model_validate(status)
    # `magsag budget` said "(2 calls of unknown cost, ...)" of one call
    assert main(["budget", "--run-id", "r", "--db", str(tmp_path / "l.db"), "--catalog", str(CATALOG)]) == 0
    out = capsys.readouterr().out
    assert "spent at least $0 (2 attempts of unknown cost: 1 counted at up to $0.1, 1 with no bound)" in out, out
    assert "calls of unknown cost" not in out


def test_flow_gate_counts_a_calls_two_answers_of_unknown_price_as_two_attempts(tmp_path: Path, capsys):
    # one call: its answer of unknown price unusable, retried, answered at an unknown price again. The gate said
    # "2 calls have no known cost" of a summary whose calls were 1
    import json

    async def record() -> dict:
        async with Ledger(tmp_path / "l.db") as ledger:
            now = time.time()
            tries = [
                AttemptRecord("r", now + i, "compat", "mystery", "skill.analysis", "ana", out, 0, i + 1, cost_usd=None)
                for i, out in enumerate(("error", "ok"))
            ]
            await ledger.record_call(RunRecord("r", "ana", "skill.analysis", now), tries)
            return await ledger.summarize()

    summary = anyio.run(record)
    assert summary["totals"]["calls"] == 1 and summary["totals"]["unbounded_attempts"] == 2
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: limits\n    thresholds: {max_cost_per_run_usd: 10}\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(tmp_path / "summary.json"), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL limits: 2 attempts have no known cost, so the cost limits cannot be checked" in out, out
    policy.write_text(
        "policies:\n  - name: limits\n    allow_unpriced: true\n    thresholds: {max_cost_per_run_usd: 10}\n"
    )
    assert main(["flow", "gate", str(tmp_path / "summary.json"), "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "NOTE limits: 2 attempts (mystery) have no known cost and no bound on it, which allow_unpriced admits" in out
