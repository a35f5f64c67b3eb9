"""OpenAI's web-search models (gpt-4o-search-preview, gpt-4o-mini-search-preview, gpt-5-search-api) search the
web on every Chat Completions call, and each search is billed per call on top of the tokens (tens of dollars
per thousand calls, more than a short call's tokens). genai-prices knows only their token rates: priced at
those, a call that cost $0.03 was recorded at $0.001, and budgets reserved and counted that."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.service import Service
from magsag_mcp.types import Usage

from .fakes import FakeOpenAI

KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[2] / "catalog"


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-search-preview"),
        ("openai", "gpt-4o-mini-search-preview-2025-03-11"),
        ("openai", "gpt-5-search-api"),
        ("azure", "gpt-4o-search-preview"),
    ],
)
def test_a_web_search_model_costs_unknown_not_its_tokens_alone(provider, model):
    pricer = Pricer.from_catalog(None)
    quote = pricer.price(provider, model, Usage(1000, 100))
    assert quote.cost_usd is None and quote.source is None
    assert "searches the web on every call" in quote.warning and "prices.yaml" in quote.warning
    # no worst case either: a limit cannot be kept with the search fee left out
    assert pricer.worst_case(provider, model, 1000, 100) is None


def test_a_catalog_price_for_a_web_search_model_is_what_its_calls_cost():
    pricer = Pricer([("openai:gpt-4o-search-preview", UnitPrices(D(30), D(40)))])
    quote = pricer.price("openai", "gpt-4o-search-preview", Usage(1000, 100))
    assert quote.cost_usd == D("0.034") and quote.source == "catalog:prices.yaml"


def test_a_model_whose_name_only_mentions_search_is_priced_as_before():
    pricer = Pricer.from_catalog(None)
    assert pricer.price("openai", "gpt-4o-mini", Usage(1000, 100)).cost_usd == D("0.00021")


@pytest.mark.anyio
async def test_a_web_search_call_is_recorded_at_unknown_cost_and_refused_under_a_strict_limit(tmp_path, serve):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    policy = catalog / "policies" / "model_governance.yaml"
    policy.write_text("policies: []\n")
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o-search-preview"}}
    fake.queue({"text": "found it", "usage": {"prompt_tokens": 1000, "completion_tokens": 100}})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-search")
        summary = await svc.summarize()
    assert result.cost_usd is None
    assert any("searches the web on every call" in w for w in result.warnings)
    stats = summary["model_stats"]["gpt-4o-search-preview"]
    assert stats["cost_usd"] is None and stats["unpriced_calls"] == 1
    # a cost limit that does not allow unpriced models refuses it before anything is sent
    policy.write_text("policies:\n  - name: limits\n    thresholds: {max_cost_per_call_usd: 1.0}\n")
    async with await Service.open(catalog=catalog, db=tmp_path / "l2.db", env=env) as svc:
        with pytest.raises(E.BudgetExceeded, match="no known price") as refused:
            await svc.invoke_skill("skill.analysis", payload)
        # and it says why, where genai-prices lists the model's token rates
        assert "searches the web on every call" in refused.value.message
    assert len(fake.requests) == 1 and fake.violations == []
