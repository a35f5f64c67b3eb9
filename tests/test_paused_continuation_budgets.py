"""A continuation of a paused call reserved and charged against the budgets of the call it continues (paused_calls.py):
the agent's day, its run's limit and, for a run delegated from another, the top run's (the tree's), across the link
from the continuation to the paused call (the same run, agent and parent run): each limit's spend is the two calls',
and a continuation whose worst case crosses what any of them leaves is refused, nothing sent, the turn kept."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-bud6-3t5x"
MODEL = "claude-opus-4-6"
CONFIG = {"provider": "anthropic", "model": MODEL, "max_tokens": 100, "stream": False}
PAUSED = {"pause_continuations": 0}
FIRST = {"searched": "weather in Oslo", "finish": "pause_turn", "text": "Searching. "}
FIRST["usage"] = {"input_tokens": 100, "output_tokens": 20}  # $0.001 at $5 / $25 per million
REST = {"text": "Rain.", "usage": {"input_tokens": 300, "output_tokens": 40}}  # $0.0025
CALL = {"agent": "bob", "run_id": "child", "parent_run_id": "top", "context": PAUSED}


def _limits(catalog: Path, **thresholds: D) -> None:
    written = "".join(f"      {name}: {value}\n" for name, value in thresholds.items())
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: limits\n    thresholds:\n{written}"
    )


async def test_a_continuation_is_charged_to_the_agents_day_the_run_and_the_top_run(catalog, tmp_path, serve):
    _limits(catalog, max_cost_per_run_usd=D(5), max_cost_per_agent_daily_usd=D(5))
    fake = FakeAnthropic(KEY).queue(FIRST, REST)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, **CALL)
        assert paused.paused_call is not None
        done = await svc.continue_paused(paused.paused_call.id)
        stands = [await svc.check_budget(**who) for who in ({"run_id": "top"}, {"run_id": "child"}, {"agent": "bob"})]
    assert (paused.cost_usd, done.cost_usd) == (D("0.001"), D("0.0025")) and done.run_id == "child"
    for stand in stands:
        [limit] = stand["limits"]
        assert (limit["spent_usd"], limit["reserved_usd"]) == ("0.0035", "0"), stand
    assert [s["limits"][0]["limit"] for s in stands] == ["run", "run", "agent_day"]
    assert stands[1]["limits"][0]["budget_run_id"] == "top"  # (the delegated run's limit is the tree's)


@pytest.mark.parametrize("limit, named", [("max_cost_per_run_usd", "top"), ("max_cost_per_agent_daily_usd", "bob")])
async def test_a_continuation_crossing_what_the_paused_calls_budget_leaves_is_refused(
    catalog, tmp_path, serve, limit, named
):
    fake = FakeAnthropic(KEY).queue(FIRST, REST)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, **CALL)
    assert paused.paused_call is not None and paused.cost_usd == D("0.001")
    # a hundredth of a cent over what the paused call spent: the continuation's worst case crosses it
    _limits(catalog, **{limit: D("0.0011")})
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        svc.hold_paused(paused)  # (held by the process that paused it: here, another service of the same ledger)
        with pytest.raises(E.BudgetExceeded) as refused:
            await svc.continue_paused(paused.paused_call.id)
        assert svc.held_paused(paused.paused_call.id) is paused  # (refused: the turn kept to continue)
    assert named in refused.value.message, refused.value.message
    assert len(fake.requests) == 1  # (nothing sent)
