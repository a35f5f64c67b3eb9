"""genai_rates.genai_model keeps its answers (an lru_cache, not genai-prices' own unbounded cache): a snapshot set since
(genai-prices' UpdatePrices, set_custom_snapshot) must be read, not the answers kept from the one before."""

from __future__ import annotations

import copy

import pytest
from genai_prices import data_snapshot

from magsag_mcp.genai_rates import genai_model


@pytest.fixture
def restored_snapshot():
    yield
    data_snapshot.set_custom_snapshot(None)


def test_a_snapshot_set_since_is_read_not_the_answers_kept_from_the_last(restored_snapshot: None):
    kept = genai_model("openai", "gpt-4o")
    assert kept is not None and kept.id == "gpt-4o"
    providers = copy.deepcopy(data_snapshot.get_snapshot().providers)
    openai = next(p for p in providers if p.id == "openai")
    openai.models = [m for m in openai.models if m.id != "gpt-4o"]  # a snapshot that no longer lists it
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=providers, from_auto_update=False))
    assert genai_model("openai", "gpt-4o") is None
    data_snapshot.set_custom_snapshot(None)  # the bundled one again: listed again
    again = genai_model("openai", "gpt-4o")
    assert again is not None and again.id == "gpt-4o"
