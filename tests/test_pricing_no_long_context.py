"""Anthropic bills a prompt past 200,000 tokens at long-context rates (twice the input rates, 1.5 times the output
one) only where its 1M-context beta serves the model: Claude Sonnet 4, which genai-prices prices flat with a
200,000-token window (Sonnet 4.5's long-context tier genai-prices lists itself; Opus 4.6 on have a 1M window at one
price). Every other Claude (3.5 Sonnet, 3.7 Sonnet, Opus 4.1, Haiku 4.5) refuses a prompt past its window: nothing is
billed at those rates. Their reservations took them all the same, from an estimate of 100,001 tokens on (the estimate
doubled: worst_cases.PROMPT_PER_ESTIMATE_AT_MOST), twice the flat worst case, which a call limit the flat rates fit
refused."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.service import Service
from magsag_mcp.types import Target
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
M = D(1_000_000)
KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[1] / "catalog"


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("claude-3-5-sonnet-20241022", (3, 15)),
        ("claude-3-7-sonnet-20250219", (3, 15)),
        ("claude-opus-4-1", (15, 75)),
        ("claude-haiku-4-5", (1, 5)),
    ],
)
def test_a_claude_without_the_1m_beta_is_reserved_at_its_flat_rates(model, rates):
    pricer = Pricer()
    target = Target("anthropic", model)
    for estimated in (150_000, 300_000):
        assert (
            pricer.reserved_worst_case(target, estimated, 1_000, params={})
            == (estimated * rates[0] + 1_000 * rates[1]) / M
        )


def test_claude_sonnet_4_the_beta_serves_is_still_reserved_at_the_long_context_rates():
    pricer = Pricer()
    target = Target("anthropic", "claude-sonnet-4-20250514")
    assert pricer.reserved_worst_case(target, 150_000, 1_000, params={}) == (150_000 * 6 + 1_000 * D("22.5")) / M
    assert pricer.reserved_worst_case(target, 100_000, 1_000, params={}) == (100_000 * 3 + 1_000 * 15) / M


async def test_a_call_limit_the_flat_rates_fit_lets_a_long_claude_3_5_sonnet_prompt_through(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    # $0.50: above the flat worst case of a prompt estimated at about 125,000 tokens ($0.375 + $0.015), below the
    # long-context rates' ($0.75 + $0.0225) it was reserved at
    policies = (catalog / "policies" / "model_governance.yaml").read_text()
    (catalog / "policies" / "model_governance.yaml").write_text(
        policies + "  - name: per_call\n    thresholds: {max_cost_per_call_usd: 0.50}\n"
    )
    payload = {
        "data": "word " * 50_000,
        "model_config": {"model": "anthropic:claude-3-5-sonnet-20241022", "max_tokens": 1000},
    }
    fake.queue({"text": "ok", "usage": {"input_tokens": 60_000, "output_tokens": 10}})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
        estimated = plan["estimated_input_tokens"]
        assert 100_000 < estimated < 130_000
        assert D(plan["targets"][0]["estimated_max_cost_usd"]) == (estimated * 3 + 1000 * 15) / M
        result = await svc.invoke_skill("skill.analysis", payload)
    assert result.cost_usd == (60_000 * 3 + 10 * 15) / M
    assert fake.violations == [] and len(fake.requests) == 1
