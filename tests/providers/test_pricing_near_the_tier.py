"""A long-context price (Gemini 2.5 Pro: $1.25 / $10 a million up to 200,000 prompt tokens, $2.50 / $15 for every
token past it; Claude Sonnet 4.5's, and Claude Sonnet 4's 1M-context beta past its 200,000-token window) applied to a
reservation only where the ESTIMATED prompt passed the tier. The estimate is half the prompt's UTF-8 bytes and a token
is at least one byte, so a prompt estimated at N tokens may be up to 2N: one estimated just below the tier (a prompt of
digits, one token a digit on Gemini) and billed past it was reserved at half its rates, and went through a call limit
it cost more than. A reservation now takes the long-context rates wherever twice the estimate passes the tier
(worst_cases.PROMPT_PER_ESTIMATE_AT_MOST); the answer is priced by its real usage, as before."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer
from magsag_mcp.service import Service
from magsag_mcp.types import Target

from .fakes import FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = D(1_000_000)
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
#: 398,000 digits: estimated at 199,077 prompt tokens (half the bytes, with the skill's own words), below the tier
PAYLOAD = {"data": "7" * 398_000, "model_config": {"provider": "google", "model": "gemini-2.5-pro", "max_tokens": 1000}}
#: the answer's count: 201,000 prompt tokens, past the tier, and 100 answered
USAGE = {"promptTokenCount": 201_000, "candidatesTokenCount": 100, "totalTokenCount": 201_100}
#: every token at the long-context rates: 201,000 x $2.50 + 100 x $15 a million
BILLED = (201_000 * D("2.5") + 100 * 15) / M


async def test_a_prompt_estimated_just_below_the_tier_is_reserved_at_the_rates_past_it(tmp_path, serve):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        plan = svc.explain("skill.analysis", PAYLOAD)
    assert plan["estimated_input_tokens"] == 199_077
    # 199,077 x $2.50 + 1,000 x $15 a million, not the $1.25 / $10 below the tier ($0.25884625)
    reserved = D(plan["targets"][0]["estimated_max_cost_usd"])
    assert reserved == (199_077 * D("2.5") + 1000 * 15) / M == D("0.5126925")
    fake.queue({"text": "ok", "usage": USAGE})
    catalog = tmp_path / "catalog"  # the shipped policy does not allow gemini-2.5-pro
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", PAYLOAD)
    # priced by the answer's count, past the tier, and within what its reservation held (no overrun said)
    assert result.cost_usd == BILLED == D("0.504") <= reserved
    assert not [w for w in result.warnings if "its budget reservation held" in w]
    assert fake.violations == []


async def test_a_call_limit_between_the_two_rates_refuses_it(tmp_path, serve):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    # $0.40: above the $0.25884625 the flat rates reserve, below the $0.504 the answer would be billed
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: per_call\n    thresholds: {max_cost_per_call_usd: 0.40}\n"
    )
    fake.queue({"text": "ok", "usage": USAGE})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", PAYLOAD)
    assert fake.requests == [] and fake.violations == []


def test_the_rule_on_each_long_context_price():
    pricer = Pricer()
    for target, short, long in (
        (Target("google", "gemini-2.5-pro"), (D("1.25"), 10), (D("2.5"), 15)),
        (Target("anthropic", "claude-sonnet-4-5"), (3, 15), (6, D("22.5"))),
        (Target("anthropic", "claude-sonnet-4-20250514"), (3, 15), (6, D("22.5"))),
    ):
        # 100,000 estimated: at most 200,000, not past the tier; 100,001 may be
        assert pricer.reserved_worst_case(target, 100_000, 1000, params={}) == (
            100_000 * short[0] + 1000 * short[1]
        ) / M
        assert pricer.reserved_worst_case(target, 100_001, 1000, params={}) == (
            100_001 * long[0] + 1000 * long[1]
        ) / M
    # a price whose tier starts lower (Gemini 1.5 Pro's, past 128,000 prompt tokens: $2.50 / $10 from $1.25 / $5)
    assert pricer.reserved_worst_case(Target("google", "gemini-1.5-pro"), 64_001, 1000, params={}) == (
        64_001 * D("2.5") + 1000 * 10
    ) / M
    assert pricer.reserved_worst_case(Target("google", "gemini-1.5-pro"), 64_000, 1000, params={}) == (
        64_000 * D("1.25") + 1000 * 5
    ) / M
