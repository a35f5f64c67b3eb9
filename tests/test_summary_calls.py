"""`flow summarize`'s `model_stats[M].calls` and `errors` are the guide's ("calls: Number of invocations", "errors:
Failed calls"): a call counts once, under the model of its last attempt that reached a provider, however many tries
and fallback hops it took; `attempts` and `attempt_errors` count those tries (0018_usage_rollup_counts_calls)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.governance.gate import check_summary
from magsag_mcp.governance.policy_files import load_policy_file
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

DAY = 1_762_000_000.0  # 2025-11-01 (UTC), 12:26:40


def _try(run_id: str, at: float, model: str, outcome: str, position: int, number: int) -> AttemptRecord:
    provider = "anthropic" if model.startswith("claude") else "openai"
    cost = Decimal("0.01") if outcome == "ok" else Decimal(0)
    return AttemptRecord(run_id, at, provider, model, "skill.analysis", "ana", outcome, position, number, cost_usd=cost)


async def _record_the_three_calls(ledger: Ledger) -> None:
    calls: dict[str, list[AttemptRecord]] = {
        # answered on its retry: one call of gpt-4o, failed by none; two attempts, one failed
        "retried": [_try("retried", DAY, "gpt-4o", "error", 0, 1), _try("retried", DAY + 1, "gpt-4o", "ok", 0, 2)],
        # claude failed, gpt-4o answered: one call, under gpt-4o; claude has a failed attempt and no call
        "fell-back": [
            _try("fell-back", DAY + 10, "claude-3-5-sonnet-20241022", "error", 0, 1),
            _try("fell-back", DAY + 11, "gpt-4o", "ok", 1, 1),
        ],
        # every try failed: a failed call of gpt-4o
        "failed": [
            _try("failed", DAY + 20, "gpt-4o", "error", 0, 1),
            _try("failed", DAY + 21, "gpt-4o", "error", 0, 2),
        ],
    }
    for run_id, attempts in calls.items():
        await ledger.record_call(RunRecord(run_id, "ana", "skill.analysis", attempts[0].started_at), attempts)


def _counts(stats: dict[str, Any]) -> tuple[int, int, int, int]:
    return stats["calls"], stats["errors"], stats["attempts"], stats["attempt_errors"]


@pytest.mark.parametrize(
    "window",
    [
        {},  # whole days: read from the daily rollup
        {"since": DAY - 60, "until": DAY + 60},  # inside a day: read from the attempts
    ],
)
async def test_calls_count_calls_and_attempts_count_their_tries(tmp_path: Path, window: dict[str, float]):
    async with Ledger(tmp_path / "ledger.db") as ledger:
        await _record_the_three_calls(ledger)
        summary = await ledger.summarize(UsageFilters(**window))
        runs = await ledger.query_runs(UsageFilters(**window, limit=10))
    stats = summary["model_stats"]
    assert _counts(stats["gpt-4o"]) == (3, 1, 5, 3)
    assert _counts(stats["claude-3-5-sonnet-20241022"]) == (0, 0, 1, 1)
    assert _counts(summary["totals"]) == (3, 1, 6, 4)
    assert _counts(summary["by_agent"]["ana"]) == _counts(summary["by_skill"]["skill.analysis"]) == (3, 1, 6, 4)
    assert _counts(summary["by_provider"]["anthropic"]) == (0, 0, 1, 1)
    # the same calls query_runs counts (a run's calls), one a run here
    assert summary["totals"]["calls"] == sum(r["calls"] for r in runs) == 3


async def test_the_gate_still_checks_a_model_a_call_left_for_another(tmp_path: Path):
    # claude ended no call (gpt-4o answered it): its attempt was still sent to a model the policy forbids
    async with Ledger(tmp_path / "ledger.db") as ledger:
        await _record_the_three_calls(ledger)
        summary = await ledger.summarize()
    policies = tmp_path / "policy.yaml"
    policies.write_text("policies:\n  - name: production_models\n    allowed_models: [gpt-4o]\n")
    violations = check_summary(summary, load_policy_file(policies))
    assert violations == [
        "production_models: model 'claude-3-5-sonnet-20241022' (via anthropic) is not in allowed_models "
        "(0 calls, 1 attempt)"
    ]


async def test_an_abandoned_stand_in_replaced_by_its_record_is_no_call(tmp_path: Path):
    # A stand-in for an attempt whose process seemed to have died counts as a call of its own; when the call's own
    # record arrives after all (its reservation gone), the stand-in goes, from the calls too
    async with Ledger(tmp_path / "ledger.db") as ledger:
        stand_in = AttemptRecord(
            "late", DAY, "openai", "gpt-4o", "skill.analysis", "ana", "error", 0, 0,
            error_class="abandoned", cost_usd=None, cost_bound_usd=Decimal("0.5"), reservation_id=7,
        )  # fmt: skip
        await ledger.record_call(RunRecord("late", "ana", "skill.analysis", DAY, status="error"), [stand_in])
        assert _counts((await ledger.summarize())["totals"]) == (1, 1, 1, 1)
        answer = _try("late", DAY, "gpt-4o", "ok", 0, 1)
        answer.reservation_id = 7
        await ledger.record_call(RunRecord("late", "ana", "skill.analysis", DAY), [answer])
        assert _counts((await ledger.summarize())["totals"]) == (1, 0, 1, 0)


async def test_a_prune_inside_a_day_counts_the_calls_left_in_it(tmp_path: Path):
    # the cutoff's own day is rebuilt from the attempts that remain: its calls are counted again from them
    import time

    async with Ledger(tmp_path / "ledger.db") as ledger:
        await _record_the_three_calls(ledger)
        await ledger.prune(time.time() - (DAY + 15))  # between the fallback's call and the failed one
        summary = await ledger.summarize()
    assert _counts(summary["totals"]) == _counts(summary["model_stats"]["gpt-4o"]) == (1, 1, 2, 2)
