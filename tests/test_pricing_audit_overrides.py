"""A finance audit of where a call's price comes from, end to end (loopback vendor, service, ledger, summary): a model
of no known price is recorded as unknown (null) and flagged on the result, its ledger row and the summary, never as
$0; a ``prices.yaml`` entry wins over genai-prices' list price; and an entry's rates are checked when the catalog is
read, a negative or non-numeric one refused with what was written and what to write instead."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import validate_prices
from magsag_mcp.service import Service
from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


async def test_a_model_of_no_known_price_is_null_and_flagged_on_the_result_the_ledger_and_the_summary(tmp_path, serve):
    fake = FakeOpenAI(KEY)
    env = {"MAGSAG_COMPAT_BASE_URL": await serve(fake) + "/v1", "MAGSAG_COMPAT_API_KEY": KEY}
    fake.queue({"text": "ok", "usage": {"prompt_tokens": 1_000, "completion_tokens": 100, "cached_tokens": 400}})
    result, row, summary = await one_call(tmp_path, env, {"provider": "compat", "model": "mystery-7b"})
    assert result.cost_usd is None
    assert any("no price known for compat:mystery-7b" in w and "prices.yaml" in w for w in result.warnings)
    assert row["cost_usd"] is None and row["price_source"] is None
    assert any("no price known" in w for w in row["warnings"])
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (1_000, 100, 400)
    for stats in (summary["model_stats"]["mystery-7b"], summary["totals"]):
        assert stats["cost_usd"] is None and stats["cost_usd_exact"] is None
        assert stats["cost_complete"] is False and stats["unpriced_attempts"] == 1
        assert stats["known_cost_usd"] == "0"


async def test_a_catalog_price_wins_over_genai_prices_for_every_kind_of_token(tmp_path, serve):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "cached_tokens": 6_000, "reasoning_tokens": 1_500}
    fake.queue({"text": "ok", "usage": usage})
    catalog = catalog_without_policies(tmp_path, '"openai:gpt-5": {input: 1, output: 8, cache_read: 0.2}\n')
    result, row, _ = await one_call(tmp_path, env, {"provider": "openai", "model": "gpt-5"}, catalog)
    expected = (4_000 * 1 + 6_000 * D("0.2") + 2_000 * 8) / M
    assert list_rates("openai", "gpt-5", 10_000)["cache_read"] != D("0.2")  # not genai-prices' rates
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert row["price_source"] == "catalog:prices.yaml"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("input: -1, output: 8", "input: -1 is negative"),
        ("input: 1, output: 8, cache_read: -0.1", "cache_read: -0.1 is negative"),
        ("input: 1, output: 8, service_tiers: {priority: {input: -2, output: 16}}", "priority.input: -2 is negative"),
        ('input: "abc", output: 8', "input: 'abc' is not a number"),
        ('input: "$1.25", output: 8', "input: '$1.25' is not a plain number; write 1.25"),
        ("input: 1, output: 8, service_tiers: {flex: 0.5}", "service_tiers.flex: 0.5 is not a set of rates"),
    ],
)
async def test_a_catalog_price_that_is_no_price_is_refused_saying_what_to_write(tmp_path, written, said):
    catalog = catalog_without_policies(tmp_path, f'"openai:gpt-5": {{{written}}}\n')
    with pytest.raises(E.CatalogError) as info:
        async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env={}):
            pass
    [problem] = info.value.problems
    assert said in problem and "prices.yaml" in problem and "USD per million tokens" in problem, problem
    assert "_Rates" not in problem and "Input should be" not in problem, problem  # pydantic's words, not ours


async def test_a_catalog_price_keyed_in_another_letter_case_prices_the_model(tmp_path, serve):
    # OpenAI's price page writes "GPT-5"; an entry copied from it as "openai:GPT-5" matched no call of gpt-5, which
    # went on being recorded (and counted against limits) at genai-prices' rates, below the price written, unsaid
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    fake.queue({"text": "ok", "usage": {"prompt_tokens": 10_000, "completion_tokens": 2_000}})
    catalog = catalog_without_policies(tmp_path, '"openai:GPT-5": {input: 2, output: 20}\n')
    result, row, _ = await one_call(tmp_path, env, {"provider": "openai", "model": "gpt-5"}, catalog)
    expected = (10_000 * 2 + 2_000 * 20) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert row["price_source"] == "catalog:prices.yaml"


def test_a_catalog_price_below_the_same_key_in_another_letter_case_never_applies(tmp_path):
    catalog = catalog_without_policies(
        tmp_path, '"openai:gpt-5": {input: 2, output: 20}\n"openai:GPT-5": {input: 3, output: 30}\n'
    )
    [problem] = validate_prices(catalog)
    assert "openai:GPT-5: never applies: the entry 'openai:gpt-5' above it" in problem, problem
    assert "it names the same models; keep one of the two" in problem, problem
