"""A model of one vendor's named with another vendor's provider (``openai:claude-3-5-sonnet-...``) has no price
under that provider: a cost limit refused it as "no known price, add it to prices.yaml", which sent the user to
price a call that could only fail. The refusal now names the vendor whose model it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer
from magsag_mcp.service import Service

from .fakes import FakeOpenAI

KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[2] / "catalog"


@pytest.mark.parametrize(
    ("provider", "model", "vendor"),
    [
        ("openai", "claude-3-5-sonnet-20241022", "anthropic"),
        ("anthropic", "gpt-4o", "openai"),
        ("anthropic", "gemini-1.5-pro", "google"),
        ("openai", "gemini-1.5-pro", "google"),
    ],
)
def test_another_vendors_model_is_named_as_theirs(provider, model, vendor):
    why = Pricer.from_catalog(None).why_unpriced(provider, model)
    assert why == f"is {vendor}'s model, not {provider}'s: did you mean provider {vendor!r}?"


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o"),  # priced
        ("openai", "my-own-fine-model"),  # nobody's
        ("compat", "claude-3-5-sonnet-20241022"),  # a gateway may well serve another vendor's model
    ],
)
def test_a_priced_or_unknown_model_or_a_gateways_gets_no_such_hint(provider, model):
    assert Pricer.from_catalog(None).why_unpriced(provider, model) is None


def test_azure_serving_another_vendors_model_gets_no_such_hint():
    # Azure AI Foundry serves Claude: not a mistaken provider, but of unknown price there (genai-prices gives it only
    # Anthropic's own API rates; see test_pricing_azure_vendors)
    why = Pricer.from_catalog(None).why_unpriced("azure", "claude-3-5-sonnet-20241022")
    assert why is not None and "did you mean" not in why and "anthropic's own API rates" in why


@pytest.mark.anyio
async def test_the_refusal_says_whose_model_it_is_before_anything_is_sent(tmp_path, serve):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "claude-3-5-sonnet-20241022"}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError) as refused:
            await svc.invoke_skill("skill.analysis", payload)
        plan = svc.explain("skill.analysis", payload)
    assert "did you mean provider 'anthropic'?" in refused.value.message
    assert "did you mean provider 'anthropic'?" in plan["targets"][0]["policy"]["reason"]
    assert fake.requests == []
