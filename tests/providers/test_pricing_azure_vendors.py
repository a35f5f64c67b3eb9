"""An Azure deployment of another vendor's model (DeepSeek-R1, Grok, Kimi on Azure AI Foundry) is billed at Azure's
rates for it, which genai-prices does not list: its Azure list falls back to DeepSeek's, xAI's, Moonshot's and
Anthropic's own, and gave the deployment that vendor's API rates (DeepSeek-R1 at deepseek-reasoner's $0.55 / $2.19).
Such a deployment is of unknown cost, flagged with the fix, unless prices.yaml prices it; Azure's own models (Phi) and
OpenAI's, which Azure bills at OpenAI's list rates (Global Standard), are priced as before."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeOpenAI as FakeAzure

pytestmark = pytest.mark.anyio
M = 1_000_000
USAGE = Usage(1_000_000, 100_000)


@pytest.mark.parametrize(
    ("deployment", "vendor"),
    [("DeepSeek-R1", "deepseek"), ("grok-3-mini", "x-ai"), ("Kimi-K2-Thinking", "moonshotai")],
)
def test_another_vendors_model_on_azure_is_not_priced_at_that_vendors_api_rates(deployment, vendor):
    pricer = Pricer()
    quote = pricer.price("azure", deployment, USAGE)
    assert (quote.cost_usd, quote.source) == (None, None)
    assert f"azure:{deployment} is priced in genai-prices only at {vendor}'s own API rates" in quote.warning
    assert f'"azure:{deployment}": {{input: ..., output: ...}}' in quote.warning
    # nor reserved at them: a cost limit refuses it as any model of unknown price, and explain says why
    assert pricer.worst_case("azure", deployment, 1000, 100) is None
    assert f"{vendor}'s own API rates" in pricer.why_unpriced("azure", deployment)
    # the vendor's own API is priced as before (DeepSeek's, xAI's and Moonshot's are no providers of magsag's)
    assert Pricer().price("openai", "gpt-4o", USAGE).cost_usd == (1_000_000 * D("2.5") + 100_000 * 10) / D(M)


def test_a_prices_yaml_entry_prices_the_deployment(tmp_path: Path):
    # Azure AI Foundry's DeepSeek-R1, Global Standard: $1.35 in, $5.40 out
    (tmp_path / "prices.yaml").write_text('"azure:DeepSeek-R1": {input: 1.35, output: 5.40}\n')
    quote = Pricer.from_catalog(tmp_path).price("azure", "DeepSeek-R1", USAGE)
    assert (quote.cost_usd, quote.source) == (D("1.89"), "catalog:prices.yaml")  # 1.35 + 100,000 x 5.40 / 1M


@pytest.mark.parametrize(
    ("deployment", "rates"),
    [("gpt-4o", (D("2.5"), D(10))), ("gpt-35-turbo", (D("0.5"), D("1.5"))), ("Phi-4", (D("0.125"), D("0.5")))],
)
def test_openais_and_azures_own_models_are_priced_as_before(deployment, rates):
    # OpenAI's list (gpt-35-turbo is Azure's name of gpt-3.5-turbo) and Azure's own (Phi-4: $0.125 / $0.50)
    quote = Pricer().price("azure", deployment, USAGE)
    assert (quote.cost_usd, quote.source) == ((1_000_000 * rates[0] + 100_000 * rates[1]) / D(M), "genai-prices")


async def test_a_deployment_that_answers_as_deepseek_is_of_unknown_cost(serve, transport):
    # a deployment named by the operator ("reasoner"), whose answers name the model that served them
    key = "sk-test-key-123456"
    fake = FakeAzure(key, azure=True)
    url = await serve(fake)
    fake.queue({"text": "ok", "model": "DeepSeek-R1", "usage": {"prompt_tokens": 100_000, "completion_tokens": 10_000}})
    env = {"AZURE_OPENAI_API_KEY": key, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"}
    result = await AzureProvider(env, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10), Target("azure", "reasoner", url)
    )
    assert fake.violations == [] and result.usage.answering_model == "DeepSeek-R1"
    quote = Pricer().price("azure", "reasoner", result.usage)
    # at deepseek-reasoner's rates it was $0.0769 (100,000 x $0.55 + 10,000 x $2.19), recorded as exact
    assert (quote.cost_usd, quote.source) == (None, None)
    assert quote.warning.startswith("azure:reasoner answered as DeepSeek-R1, which is priced in genai-prices only at")
    assert '"azure:reasoner": {input: ..., output: ...}' in quote.warning
    # a deployment named for a model it does not serve is not priced, nor reserved, at that model's rates
    pricer = Pricer()
    assert pricer.worst_case("azure", "gpt-4o", 1000, 100) == (1000 * D("2.5") + 100 * 10) / D(M)
    misnamed = pricer.price("azure", "gpt-4o", result.usage)
    assert misnamed.cost_usd is None and pricer.worst_case("azure", "gpt-4o", 1000, 100) is None
