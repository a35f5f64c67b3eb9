"""A server that runs for weeks: what it keeps must not grow with the number of calls, or with the models its
clients name. Each test counts (cache entries, objects by type, descriptors, threads, tasks, held reservations)
before and after many calls, and allows no more than a small constant more."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import pricing
from magsag_mcp.pricing import PRICES_KEPT, Pricer

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("openai", "anthropic", "google", "azure")


def _ask_about(pricer: Pricer, names: range) -> None:
    """What a call's admission and its route ask the pricer about a model the call named."""
    for i in names:
        for provider in PROVIDERS:
            model = f"m{i}x-named"
            pricer.worst_case(provider, model, 100, 100)
            pricer.context_window(provider, model)
            pricer.why_unpriced(provider, model)


def _genai_cache_sizes() -> tuple[int, int, int]:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    return len(snapshot._provider_cache), len(snapshot._lookup_cache), len(snapshot._provider_misses)


def test_models_named_by_calls_keep_the_pricers_caches_bounded():
    # Before: a Pricer kept every (provider, model) it was asked about, and genai-prices' snapshot (looked up by
    # find_provider_model) every model name too: 10,000 names a client made up, on four providers, held some 28 MiB
    # for as long as the server ran.
    pricer = Pricer.from_catalog(ROOT / "catalog", {})
    genai_before = _genai_cache_sizes()
    _ask_about(pricer, range(PRICES_KEPT // 2))
    assert pricer.worst_case("openai", "gpt-4o", 100, 100) is not None  # a model the service's own calls use
    _ask_about(pricer, range(PRICES_KEPT // 2, PRICES_KEPT))
    assert len(pricer._cache) == len(pricer._windows) == PRICES_KEPT  # full: 4 providers x names > PRICES_KEPT
    _ask_about(pricer, range(PRICES_KEPT, 2 * PRICES_KEPT))
    assert len(pricer._cache) == len(pricer._windows) == PRICES_KEPT
    assert _genai_cache_sizes() == genai_before
    # a price dropped under the flood is looked up again, the same
    worst = pricer.worst_case("openai", "gpt-4o", 100, 100)
    assert worst == Pricer.from_catalog(ROOT / "catalog", {}).worst_case("openai", "gpt-4o", 100, 100)
    assert pricer.context_window("openai", "gpt-4o") == 128_000


def test_a_dropped_azure_choice_is_chosen_again_the_same(monkeypatch: pytest.MonkeyPatch):
    from magsag_mcp.types import Usage

    monkeypatch.setattr(pricing, "PRICES_KEPT", 4)
    pricer = Pricer.from_catalog(ROOT / "catalog", {})
    usage = Usage(input_tokens=1000, output_tokens=100, answering_model="gpt-4o-2024-08-06")
    first = pricer.price("azure", "prod-chat", usage)
    for i in range(10):  # other deployments' answers push it out
        pricer.price("azure", f"d{i}x-chat", Usage(input_tokens=1, output_tokens=1, answering_model="gpt-4o-mini"))
    assert len(pricer._azure_models) <= 4 and ("prod-chat", "gpt-4o-2024-08-06") not in pricer._azure_models
    assert pricer.price("azure", "prod-chat", usage) == first
    assert pricer._azure_served["prod-chat"] == frozenset({"gpt-4o-2024-08-06"})
