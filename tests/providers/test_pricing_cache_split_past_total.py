"""Claude's ``usage.cache_creation`` splits the cache writes by time to live (``ephemeral_5m_input_tokens``,
``ephemeral_1h_input_tokens``); the two should add up to ``cache_creation_input_tokens``. Where the split counts more
(a gateway's usage, or a broken count), the answer does not say which figure is right: the writes are priced at the
larger (the smaller may under-count what was billed), and the price's note says so, on the result and in the
ledger's warnings of the attempt. It was taken silently, the cost recorded as if exact."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
#: 30,000 split, 10,000 said in cache_creation_input_tokens
SPLIT_PAST = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_creation_input_tokens": 10_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 10_000, "ephemeral_1h_input_tokens": 20_000},
}
# claude-sonnet-4-5: $3 in, $15 out, $3.75 a 5-minute write, $6 a 1-hour write (a million tokens); the split's
# 10,000 5-minute and 20,000 1-hour writes: $0.003 + $0.0075 + $0.0375 + $0.12 = $0.168
PRICED = (1000 * 3 + 500 * 15 + 10_000 * D("3.75") + 20_000 * 6) / D(M)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_split_past_the_cache_writes_is_priced_at_the_larger_and_said(serve, transport, stream):
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": SPLIT_PAST})
    result = await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("anthropic", "claude-sonnet-4-5", url)
    )
    assert fake.violations == []
    usage = result.usage
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens, usage.cache_write_split_past_tokens) == (
        30_000,
        20_000,
        20_000,
    )
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", usage)
    assert quote.cost_usd == PRICED == D("0.168")
    assert quote.warning is not None
    assert "20000 more cache-write tokens than its cache_creation_input_tokens (10000)" in quote.warning
    assert "priced at the split's 30000 writes" in quote.warning


async def test_a_split_that_adds_up_says_nothing(serve, transport):
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": {**SPLIT_PAST, "cache_creation_input_tokens": 30_000}})
    result = await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10), Target("anthropic", "claude-sonnet-4-5", url)
    )
    assert result.usage.cache_write_split_past_tokens == 0
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", result.usage)
    assert (quote.cost_usd, quote.warning) == (PRICED, None)


async def test_a_split_past_the_cache_writes_is_said_on_the_result_and_in_the_ledger(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    fake.queue({"text": "ok", "usage": SPLIT_PAST})
    # (claude-3-5-sonnet-20241022, which the shipped policy allows: the same rates as claude-sonnet-4-5)
    payload = {"data": "x", "model_config": {"model": "anthropic:claude-3-5-sonnet-20241022"}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-split")
        [run] = await svc.query_runs({"run_id": "r-split"})
    assert result.cost_usd == PRICED
    said = "20000 more cache-write tokens than its cache_creation_input_tokens"
    assert any(said in warning for warning in result.warnings)
    [attempt] = run["attempts"]
    assert D(attempt["cost_usd"]) == PRICED
    assert (attempt["cache_write_tokens"], attempt["cache_write_1h_tokens"]) == (30_000, 20_000)
    assert any(said in warning for warning in attempt["warnings"])
    assert fake.violations == []
