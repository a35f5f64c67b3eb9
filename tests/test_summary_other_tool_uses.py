"""Server tool calls of kinds the daily rollup has no column for (0031 sums web_search, file_search, code_interpreter,
image_generation and grounded_prompt; a caller of Ledger.record_call may record any other API name, such as Claude's
web_fetch): a summary reads them from the attempts and totals them beside the five, by their names, per model,
provider, agent and skill and overall, whatever part of its period the rollup covers. Before, they were kept on
their attempts and summed nowhere: a user totalling by tool saw less than the ledger holds."""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio
DAY = 20_400 * 86400.0


def _attempt(
    run_id: str, at: float, model: str, agent: str, outcome: str, uses: dict[str, int] | None
) -> AttemptRecord:
    return AttemptRecord(
        run_id, at, "anthropic", model, "s", agent, outcome, 0, 1, input_tokens=100, output_tokens=10,
        cost_usd=Decimal("0.01"), server_tool_uses=uses,
    )  # fmt: skip


async def _record(ledger: Ledger, run_id: str, attempt: AttemptRecord) -> None:
    at = attempt.started_at
    await ledger.record_call(RunRecord(run_id, attempt.agent or "", "s", at, ended_at=at, status="ok"), [attempt])


async def _ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "l.db")
    await ledger.__aenter__()
    calls: list[tuple[str, float, str, str, str, dict[str, Any] | None]] = [
        ("r1", DAY + 10, "m1", "ana", "ok", {"web_fetch": 2, "web_search": 1}),
        ("r2", DAY + 86400 + 10, "m1", "bo", "error", {"mcp_call": 3}),
        ("r3", DAY + 2 * 86400 + 10, "m2", "ana", "ok", {"web_fetch": 4}),
        ("r4", DAY + 2 * 86400 + 20, "m2", "ana", "ok", {}),
        ("r5", DAY + 2 * 86400 + 30, "m2", "ana", "ok", None),
        # refused by policy before it was sent: in no breakdown's sums, its tool calls in none either
        ("r6", DAY + 2 * 86400 + 40, "m2", "ana", "policy_denied", {"web_fetch": 50}),
    ]
    for run_id, at, model, agent, outcome, uses in calls:
        await _record(ledger, run_id, _attempt(run_id, at, model, agent, outcome, uses))
    return ledger


async def test_kinds_outside_the_rollups_columns_are_totalled_by_name(tmp_path: Path):
    ledger = await _ledger(tmp_path)
    try:
        summary = await ledger.summarize()
    finally:
        await ledger.__aexit__(None, None, None)
    assert summary["totals"]["server_tool_uses"] == {"mcp_call": 3, "web_fetch": 6, "web_search": 1}
    assert summary["model_stats"]["m1"]["server_tool_uses"] == {"mcp_call": 3, "web_fetch": 2, "web_search": 1}
    assert summary["model_stats"]["m2"]["server_tool_uses"] == {"web_fetch": 4}
    assert summary["by_agent"]["ana"]["server_tool_uses"] == {"web_fetch": 6, "web_search": 1}
    assert summary["by_agent"]["bo"]["server_tool_uses"] == {"mcp_call": 3}
    assert summary["by_provider"]["anthropic"]["server_tool_uses"] == summary["totals"]["server_tool_uses"]
    assert summary["by_skill"]["s"]["server_tool_uses"] == summary["totals"]["server_tool_uses"]
    # the attempt that said none ({}) is no unsaid one; the one that said nothing (None) is
    assert summary["model_stats"]["m2"]["server_tool_uses_unsaid_attempts"] == 1


async def test_a_period_the_rollup_covers_in_part_and_the_attempts_filters_total_them_alike(tmp_path: Path):
    ledger = await _ledger(tmp_path)
    try:
        # from midway through the first day: its rest read from the attempts, the next days from the rollup
        window = await ledger.summarize({"since": DAY + 5, "until": DAY + 2 * 86400 + 15})
        run = await ledger.summarize({"run_id": "r3"})  # (the attempts alone)
        model = await ledger.summarize({"model": "m1"})
        status = await ledger.summarize({"status": "ok"})
    finally:
        await ledger.__aexit__(None, None, None)
    assert window["totals"]["server_tool_uses"] == {"mcp_call": 3, "web_fetch": 6, "web_search": 1}
    assert run["totals"]["server_tool_uses"] == {"web_fetch": 4}
    assert model["totals"]["server_tool_uses"] == {"mcp_call": 3, "web_fetch": 2, "web_search": 1}
    assert status["totals"]["server_tool_uses"] == {"web_fetch": 6, "web_search": 1, "mcp_call": 3}


async def test_every_filter_totals_other_kinds_as_a_sum_of_the_attempts_it_selects(tmp_path: Path):
    # calls over four days, by two agents, skills, models and providers, runs ok and error: each filter's summary
    # totals the other kinds as the attempts it selects do (what an export of them adds up to), no more, no less
    ledger = Ledger(tmp_path / "l.db")
    await ledger.__aenter__()
    made: list[tuple[AttemptRecord, str]] = []
    kinds = ({"web_fetch": 1}, {"mcp_call": 2, "web_search": 1}, {}, None, {"web_fetch": 3, "code_interpreter": 1})
    for i in range(24):
        at = DAY + (i % 4) * 86400 + 3600 * (i % 7) + 10
        model, provider = (("m1", "anthropic"), ("m2", "openai"))[i % 2]
        agent, skill = ("ana", "bo", None)[i % 3], ("s1", None)[i % 2 if i % 5 else 0]
        outcome = "error" if i % 6 == 5 else "ok"
        a = AttemptRecord(
            f"r{i}", at, provider, model, skill, agent, outcome, 0, 1, input_tokens=100, output_tokens=10,
            cost_usd=Decimal("0.01"), server_tool_uses=kinds[i % 5],
        )  # fmt: skip
        status = "error" if outcome == "error" else "ok"
        await ledger.record_call(RunRecord(f"r{i}", agent or "", skill, at, ended_at=at, status=status), [a])
        made.append((a, status))
    filters: list[dict[str, Any]] = [
        {}, {"since": DAY + 3 * 3600}, {"until": DAY + 2 * 86400 + 5 * 3600}, {"agent": "ana"}, {"skill": "s1"},
        {"model": "m2"}, {"provider": "anthropic"}, {"run_id": "r9"}, {"status": "error"},
        {"since": DAY + 86400 + 60, "until": DAY + 3 * 86400 + 2 * 3600, "agent": "bo"},
    ]  # fmt: skip
    try:
        summaries = [await ledger.summarize(dict(f)) for f in filters]
    finally:
        await ledger.__aexit__(None, None, None)

    def selected(a: AttemptRecord, status: str, f: dict[str, Any]) -> bool:
        return (
            a.started_at >= f.get("since", 0) and a.started_at < f.get("until", float("inf"))
            and all(getattr(a, k) == f[k] for k in ("agent", "skill", "model", "provider", "run_id") if k in f)
            and f.get("status", status) == status
        )  # fmt: skip

    for f, summary in zip(filters, summaries, strict=True):
        expected: dict[str, int] = {}
        for a, status in made:
            if selected(a, status, f):
                for kind, n in (a.server_tool_uses or {}).items():
                    expected[kind] = expected.get(kind, 0) + n
        assert summary["totals"]["server_tool_uses"] == expected, f
        # each breakdown's groups add up to the totals
        for dim in ("model_stats", "by_provider", "by_agent", "by_skill"):
            added: dict[str, int] = {}
            for stats in summary[dim].values():
                for kind, n in (stats["server_tool_uses"] or {}).items():
                    added[kind] = added.get(kind, 0) + n
            assert added == expected, (f, dim)


@pytest.mark.parametrize("count", [float("nan"), 2.5, True, "3", -4], ids=["nan", "float", "bool", "text", "negative"])
async def test_a_count_of_tool_calls_that_is_no_count_is_refused_and_the_summaries_go_on(tmp_path: Path, count: Any):
    # a record_call caller's {"web_fetch": nan} was kept as JSON SQLite cannot read (NaN), and every later summary,
    # which sums the other kinds from the attempts, failed with "malformed JSON"; a float, bool, text or negative
    # count was summed as a number of calls it is not
    ledger = await _ledger(tmp_path)
    try:
        with pytest.raises(InputError, match=r"a count of server tool calls is a whole number, 0 or more") as refused:
            await _record(ledger, "bad", _attempt("bad", DAY + 50, "m1", "ana", "ok", {"web_fetch": count}))
        assert "web_fetch" in str(refused.value) and "fix the attempt's server_tool_uses" in str(refused.value)
        summary = await ledger.summarize()
        assert await ledger.query_runs({"run_id": "bad"}) == []  # nothing of the call recorded
    finally:
        await ledger.__aexit__(None, None, None)
    assert summary["totals"]["server_tool_uses"] == {"mcp_call": 3, "web_fetch": 6, "web_search": 1}
    # an int subclass is a whole number (an IntEnum's count is kept as its number)
    ledger = Ledger(tmp_path / "l.db")
    async with ledger:
        await _record(ledger, "enum", _attempt("enum", DAY + 60, "m1", "ana", "ok", {"web_fetch": _Two.TWO}))
        assert (await ledger.summarize({"run_id": "enum"}))["totals"]["server_tool_uses"] == {"web_fetch": 2}


class _Two(IntEnum):
    TWO = 2
