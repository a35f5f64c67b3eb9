"""An Azure answer served on a tier other than the standard one (Azure OpenAI's priority processing): the Azure API's
spec (/work/shared/specs/azure-openai-2024-10-21.json) names no service tier and no price, and Azure bills the tier at
rates of its own. genai-prices' Azure list gives no tier's price; its lookup falls back to OpenAI's list, whose
priority rates are OpenAI's for its own API. Priced at them, an Azure priority call was recorded, and counted against
limits, at OpenAI's bill as if exact: its cost is unknown, and the warning says why and how to price it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp.genai_rates import genai_model, listed_by
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage
from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


def _env(url: str) -> dict[str, str]:
    return {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": url + "/",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_azure_priority_answer_is_of_unknown_cost_not_at_openais_priority_rates(tmp_path, serve, stream):
    # the premise: genai-prices prices gpt-4o's priority tier from OpenAI's list alone
    assert listed_by("azure", genai_model("azure", "gpt-4o")) == "openai"
    assert list_rates("openai", "gpt-4o", 1_000, {"service_tier": "priority"})["input"] is not None
    fake = FakeOpenAI(KEY, azure=True)
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000}
    fake.queue({"text": "ok", "model": "gpt-4o-2024-08-06", "usage": usage, "service_tier": "priority"})
    config = {"provider": "azure", "model": "prod-chat", "stream": stream}
    result, row, summary = await one_call(tmp_path, _env(await serve(fake)), config)
    assert fake.violations == []
    assert row["service_tier"] == "priority"
    assert result.cost_usd is None and row["cost_usd"] is None
    said = " ".join(result.warnings)
    assert "Azure bills at rates of its own" in said and "service_tiers: {priority:" in said
    assert summary["totals"]["cost_complete"] is False


async def test_an_azure_priority_answer_is_priced_at_an_entrys_priority_rates(tmp_path, serve):
    fake = FakeOpenAI(KEY, azure=True)
    fake.queue(
        {
            "text": "ok",
            "model": "gpt-4o-2024-08-06",
            "usage": {"prompt_tokens": 10_000, "completion_tokens": 2_000},
            "service_tier": "priority",
        }
    )
    prices = '"azure:prod-chat": {input: 2.5, output: 10, service_tiers: {priority: {input: 5, output: 20}}}\n'
    catalog = catalog_without_policies(tmp_path, prices)
    config = {"provider": "azure", "model": "prod-chat"}
    result, row, _ = await one_call(tmp_path, _env(await serve(fake)), config, catalog)
    assert result.cost_usd == (10_000 * 5 + 2_000 * 20) / M and D(row["cost_usd"]) == result.cost_usd


def test_the_standard_tier_on_azure_is_still_priced_at_genai_prices_rates():
    r = list_rates("openai", "gpt-4o", 10_000)
    usage = Usage(10_000, 2_000, answering_model="gpt-4o-2024-08-06")
    assert Pricer().price("azure", "prod-chat", usage).cost_usd == (10_000 * r["input"] + 2_000 * r["output"]) / M
    tiered = Usage(10_000, 2_000, service_tier="priority", answering_model="gpt-4o-2024-08-06")
    assert Pricer().price("azure", "prod-chat", tiered).cost_usd is None
    # OpenAI's own priority answer keeps OpenAI's priority rates
    assert Pricer().price("openai", "gpt-4o", Usage(10_000, 2_000, service_tier="priority")).cost_usd is not None
