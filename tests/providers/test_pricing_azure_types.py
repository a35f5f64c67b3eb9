"""Azure bills a Data Zone or Regional (Standard) deployment above a Global Standard one, and a provisioned one by
the hour; its answers never say which type served them, and genai-prices' Azure rates are Global Standard's
("prices for Regional models are often slightly higher"). A resource whose deployments are of another type says so in
AZURE_OPENAI_DEPLOYMENT_TYPE: its calls are priced by prices.yaml, or are of unknown cost, never at Global's rates."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer, validate_prices
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000


async def _azure_answer(serve, transport, deployment: str) -> Usage:
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    fake.queue(
        {"text": "ok", "model": "gpt-4o-2024-11-20", "usage": {"prompt_tokens": 100_000, "completion_tokens": 10_000}}
    )
    env = {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"}
    result = await AzureProvider(env, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10), Target("azure", deployment, url)
    )
    assert fake.violations == []
    return result.usage


async def test_a_data_zone_deployment_is_not_priced_at_global_rates(serve, transport, tmp_path: Path):
    usage = await _azure_answer(serve, transport, "eu-chat")
    global_rates = (100_000 * D("2.5") + 10_000 * 10) / D(M)  # gpt-4o, Global Standard: $2.50 / $10
    assert Pricer.from_catalog(None, {}).price("azure", "eu-chat", usage).cost_usd == global_rates
    env = {"AZURE_OPENAI_DEPLOYMENT_TYPE": "Data Zone Standard"}  # as the portal writes it
    pricer = Pricer.from_catalog(None, env)
    quote = pricer.price("azure", "eu-chat", usage)
    assert (quote.cost_usd, quote.source) == (None, None)
    assert quote.warning.startswith("azure:eu-chat is a DataZoneStandard deployment (AZURE_OPENAI_DEPLOYMENT_TYPE)")
    assert '"azure:eu-chat": {input: ..., output: ...}' in quote.warning
    # nor is it reserved at them: a cost limit refuses it as it refuses any model of no known price
    assert pricer.worst_case("azure", "eu-chat", 1000, 100) is None
    # a price for the deployment in prices.yaml is what it costs
    (tmp_path / "prices.yaml").write_text('"azure:eu-*": {input: 2.75, output: 11}\n')
    priced = Pricer.from_catalog(tmp_path, env).price("azure", "eu-chat", usage)
    assert (priced.cost_usd, priced.source) == ((100_000 * D("2.75") + 10_000 * 11) / D(M), "catalog:prices.yaml")


@pytest.mark.parametrize("written", ["GlobalStandard", "global standard", " Global-Standard "])
def test_a_global_standard_resource_is_priced_by_genai_prices_as_before(written: str):
    usage = Usage(100_000, 10_000)
    pricer = Pricer.from_catalog(None, {"AZURE_OPENAI_DEPLOYMENT_TYPE": written})
    quote = pricer.price("azure", "gpt-4o", usage)
    assert (quote.cost_usd, quote.source) == ((100_000 * D("2.5") + 10_000 * 10) / D(M), "genai-prices")


def test_a_deployment_type_azure_has_not_is_a_problem_naming_those_it_has(tmp_path: Path):
    env = {"AZURE_OPENAI_DEPLOYMENT_TYPE": "DataZone"}
    [problem] = validate_prices(tmp_path, env)
    assert problem.startswith("AZURE_OPENAI_DEPLOYMENT_TYPE='DataZone' is not one of Azure's deployment types; set it")
    assert "DataZoneStandard" in problem and "leave it unset for GlobalStandard" in problem
    with pytest.raises(E.CatalogError) as info:
        Pricer.from_catalog(tmp_path, env)
    assert info.value.problems == [problem]
