"""An Ollama cloud model on the local server (gpt-oss:120b-cloud) runs and is billed on ollama.com: its cost is
unknown, flagged, unless prices.yaml names that model itself; a glob (local:*) prices the operator's own machines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.local_models import ollama_cloud_model
from magsag_mcp.rates import UnitPrices
from magsag_mcp.types import Usage

USAGE = Usage(input_tokens=1_000_000, output_tokens=0)


@pytest.mark.parametrize("model", ["gpt-oss:120b-cloud", "glm-4.6:cloud", "GPT-OSS:20B-CLOUD", "kimi-k2:1t-cloud"])
def test_a_cloud_model_is_of_unknown_cost_not_free(model: str):
    # local's "0 per token" priced it as the operator's own machine: recorded at $0 as if exact
    quote = Pricer().price("local", model, USAGE)
    assert quote.cost_usd is None and quote.source is None
    assert quote.warning is not None and "Ollama cloud model, run and billed on ollama.com" in quote.warning
    assert f'"local:{model}": {{input: ..., output: ...}}' in quote.warning
    assert Pricer().why_unpriced("local", model) is not None  # (a cost limit refuses it, saying why)


def test_a_glob_does_not_price_a_cloud_model_and_its_own_entry_does():
    pricer = Pricer(
        [
            ("local:*", UnitPrices(Decimal("0.02"), Decimal("0.02"))),
            ("LOCAL:gpt-oss:20b-CLOUD", UnitPrices(Decimal(1), Decimal(2))),
        ]
    )
    assert pricer.price("local", "gpt-oss:120b-cloud", USAGE).cost_usd is None
    named = pricer.price("local", "gpt-oss:20b-cloud", USAGE)  # (after the glob, which would have won as first)
    assert (named.cost_usd, named.source) == (Decimal(1), "catalog:prices.yaml")
    assert pricer.price("local", "llama3.1:8b", USAGE).cost_usd == Decimal("0.02")  # (the glob still prices the rest)


def test_the_local_servers_own_models_stay_free():
    for model in ("llama3.1:8b", "cloud-llama:7b", "llama:cloud-q4", "cloudy:7b", "qwen3:latest"):
        quote = Pricer().price("local", model, USAGE)
        assert (quote.cost_usd, quote.source) == (Decimal(0), "free"), model


@pytest.mark.parametrize(
    ("model", "cloud"),
    [
        ("gpt-oss:120b-cloud", True),
        ("glm-4.6:cloud", True),
        ("Qwen3-Coder:480B-Cloud", True),  # (Ollama's names are case-insensitive)
        ("gpt-oss:120b-cloud@sha256-1234567890abcdef", True),  # a digest after the tag names the same model
        ("gpt-oss:120b-cloud+Q4_0", True),  # and so does a build
        ("cloud-llama:7b", False),
        ("llama:cloud-q4", False),
        ("registry.local:5000/team/model", False),  # (a host's port is no tag)
        ("llama3.1:8b", False),
        ("cloud", False),
    ],
)
def test_what_is_an_ollama_cloud_model(model: str, cloud: bool):
    assert ollama_cloud_model(model) is cloud
