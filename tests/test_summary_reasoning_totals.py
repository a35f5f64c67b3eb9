"""A summary's totals give reasoning_tokens, as model_stats and the breakdowns by provider, agent and skill give
them: the totals dropped them (alone of every count), so a client reading the totals of a summary saw the prompt
cache's parts of input_tokens and not output_tokens' own, and had to add them up per model."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.ledger_models import UsageSummaryResult
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

#: (run, provider, model, agent, skill, output tokens, of them reasoning)
CALLS = [
    ("r1", "openai", "o3", "alice", "skill.a", 100, 60),
    ("r2", "google", "gemini-2.5-pro", "bob", "skill.b", 50, 7),
    ("r3", "openai", "gpt-4o", None, None, 20, 0),
]


async def _ledger(db: Path) -> None:
    now = time.time()
    async with Ledger(db) as ledger:
        for run, provider, model, agent, skill, out, reasoning in CALLS:
            attempt = AttemptRecord(
                run, now, provider, model, skill, agent, "ok", 0, 1, cost_usd=Decimal("0.01"),
                input_tokens=10, output_tokens=out, reasoning_tokens=reasoning,
            )  # fmt: skip
            await ledger.record_call(RunRecord(run, agent, skill, now), [attempt])


@pytest.mark.parametrize(
    "filters", [None, {"since": "1h"}], ids=["from the rollup", "from the attempts (a window narrows them)"]
)
async def test_the_totals_give_reasoning_tokens_as_every_breakdown_does(tmp_path: Path, filters):
    db = tmp_path / "l.db"
    await _ledger(db)
    async with Ledger(db) as ledger:
        summary = await ledger.summarize(UsageFilters.build(filters) if filters else None)
    total = sum(c[6] for c in CALLS)
    assert summary["totals"]["reasoning_tokens"] == total == 67, summary["totals"]  # before: no such key
    for breakdown in ("model_stats", "by_provider", "by_agent", "by_skill"):
        parts = summary[breakdown]
        assert sum(s["reasoning_tokens"] for s in parts.values()) == total, (breakdown, parts)
        # each output_tokens holds its reasoning_tokens, in every breakdown and the totals
        assert all(s["reasoning_tokens"] <= s["output_tokens"] for s in parts.values()), (breakdown, parts)
    assert summary["by_provider"]["openai"]["reasoning_tokens"] == 60
    assert summary["by_agent"]["(none)"]["reasoning_tokens"] == 0
    assert summary["by_skill"]["skill.b"]["reasoning_tokens"] == 7
    # the MCP result says so too
    assert UsageSummaryResult.model_validate(summary).totals.reasoning_tokens == 67
    assert UsageSummaryResult.model_validate(summary).model_dump()["totals"]["reasoning_tokens"] == 67


async def test_two_calls_of_one_model_in_one_bucket_add_their_reasoning_tokens_in_the_rollup(tmp_path: Path):
    # each call is its own write: the second lands on the first's rollup row (same hour, model, agent, skill,
    # outcome), whose reasoning_tokens it adds to, as it adds its output_tokens (kept the second's, they were lost)
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        for run, out, reasoning in (("r1", 100, 60), ("r2", 40, 25)):
            attempt = AttemptRecord(
                run, now, "openai", "o3", "skill.a", "alice", "ok", 0, 1, cost_usd=Decimal("0.01"),
                input_tokens=10, output_tokens=out, reasoning_tokens=reasoning, cached_tokens=4,
            )  # fmt: skip
            await ledger.record_call(RunRecord(run, "alice", "skill.a", now), [attempt])
        summary = await ledger.summarize(None)  # from the rollup
    o3 = summary["model_stats"]["o3"]
    assert (o3["output_tokens"], o3["reasoning_tokens"], o3["cached_tokens"]) == (140, 85, 8), o3
    assert summary["totals"]["reasoning_tokens"] == 85 and summary["totals"]["cost_usd_exact"] == "0.02"
