"""A Claude Sonnet 4 answer whose prompt passed the 200,000-token window genai-prices lists (served by the 1M-context
beta, billed whole at its long-context rates, twice the input rates and 1.5 times the output one) is of unknown cost
(pricing.past_the_window), counted against the limits at a bound. That bound was the reservation alone: the estimated
prompt at those rates. A prompt the vendor counted at more tokens than estimated (up to twice: a token is at least a
byte, the estimate half the bytes) was counted below what its own tokens cost at those rates: now its count is at least
its reported tokens at the long-context rates (PriceQuote.at_least_usd), at the multiple of where it ran."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.attempt_cost import counted_bound, price_failure, price_stopped
from magsag_mcp.pricing import Pricer
from magsag_mcp.records import AttemptRecord
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target, Usage
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
M = D(1_000_000)
KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[1] / "catalog"
SONNET_4 = "claude-sonnet-4-20250514"


def test_the_quote_says_what_the_reported_tokens_cost_at_the_long_context_rates():
    pricer = Pricer()
    quote = pricer.price("anthropic", SONNET_4, Usage(300_000, 1_000))
    assert (quote.cost_usd, quote.source) == (None, None)
    assert quote.at_least_usd == (300_000 * 6 + 1_000 * D("22.5")) / M == D("1.8225")
    # its cache too: reads at twice $0.30, 1-hour writes at twice $6 a million, run in the US at 1.1x
    usage = Usage(
        300_000,
        1_000,
        cached_tokens=100_000,
        cache_write_tokens=50_000,
        cache_write_1h_tokens=50_000,
        inference_geo="us",
    )
    quote = pricer.price("anthropic", SONNET_4, usage)
    parts = 150_000 * 6 + 100_000 * D("0.6") + 50_000 * 12 + 1_000 * D("22.5")
    assert quote.cost_usd is None and quote.at_least_usd == parts / M * D("1.1")
    # a known cost needs none; within the window, the flat rates price it
    assert pricer.price("anthropic", SONNET_4, Usage(150_000, 1_000)).at_least_usd is None


async def test_a_prompt_counted_past_its_estimate_is_counted_at_its_own_tokens(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)  # (the shipped policy does not allow Claude Sonnet 4, nor a $1 call)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    payload = {"data": "x" * 300_000, "model_config": {"model": f"anthropic:{SONNET_4}", "max_tokens": 1000}}
    # estimated at about 150,000 tokens, reserved at the long-context rates; counted by Claude at 290,000
    fake.queue({"text": "ok", "usage": {"input_tokens": 290_000, "output_tokens": 10}})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
        reserved = D(plan["targets"][0]["estimated_max_cost_usd"])
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-long")
        [run] = await svc.query_runs({"run_id": "r-long"})
    billed = (290_000 * 6 + 10 * D("22.5")) / M  # $1.740225
    assert reserved < billed
    assert result.cost_usd is None
    assert any("past the 200000-token context window" in warning for warning in result.warnings)
    [attempt] = run["attempts"]
    assert (attempt["cost_usd"], D(attempt["cost_bound_usd"])) == (None, billed)
    assert D(run["cost_bound_usd"]) == billed
    assert fake.violations == []


def _record() -> AttemptRecord:
    return AttemptRecord("r", 0.0, "anthropic", SONNET_4, None, None, "error", 0, 1)


def _held(reserved: str) -> SimpleNamespace:
    return SimpleNamespace(reserved_usd=D(reserved), reservation_id=None)


def test_every_path_of_an_unknown_cost_counts_it_at_its_own_tokens_at_the_least():
    pricer, target = Pricer(), Target("anthropic", SONNET_4)
    request = LLMRequest(messages=[Message("user", "x")], max_tokens=1000)
    usage = Usage(290_000, 10)
    billed = (290_000 * 6 + 10 * D("22.5")) / M
    # an unusable answer (not the JSON asked for) reporting its tokens
    error = E.MalformedResponseError("anthropic: not the JSON asked for", status=200)
    error.usage = usage
    failed = _record()
    price_failure(pricer, failed, error, target, _held("0.9"), request)
    assert (failed.cost_usd, failed.cost_bound_usd) == (None, billed)
    # an answer that had come whole when its caller stopped the call
    stopped = _record()
    price_stopped(pricer, stopped, target, _held("0.9"), request, "cancelled", (usage, "answered"))
    assert (stopped.cost_usd, stopped.cost_bound_usd) == (None, billed)
    # a stream cut after message_start counted the prompt: the prompt and every output token allowed
    assert counted_bound(pricer, target, Usage(290_000, 0), 1000) == (290_000 * 6 + 1000 * D("22.5")) / M
    # a reservation above the tokens' cost stands
    held = _record()
    price_failure(pricer, held, error, target, _held("2"), request)
    assert held.cost_bound_usd == D(2)
