"""Gemini's ``usageMetadata`` splits each count by modality (ModalityTokenCount: TEXT, IMAGE, VIDEO, AUDIO, DOCUMENT).
Audio is billed at a rate of its own (gemini-2.5-flash: $1.00 a million prompt tokens, text $0.30): read as text,
an answer's audio was priced at the text rate as if exact. Counted as audio, it is priced at genai-prices' audio rate,
or of unknown cost where it gives none (the answer's audio, which it prices for no text model)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from genai_prices import data_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.gemini_usage import gemini_usage
from tests.pricing_audit import M


def _metadata(prompt_audio: int, answer_audio: int) -> dict:
    return {
        "promptTokenCount": 10_000,
        "candidatesTokenCount": 1_000,
        "totalTokenCount": 11_000,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 10_000 - prompt_audio},
            *([{"modality": "AUDIO", "tokenCount": prompt_audio}] if prompt_audio else []),
        ],
        "candidatesTokensDetails": [
            {"modality": "TEXT", "tokenCount": 1_000 - answer_audio},
            *([{"modality": "AUDIO", "tokenCount": answer_audio}] if answer_audio else []),
        ],
    }


def test_a_prompts_audio_is_priced_at_the_audio_rate():
    usage = gemini_usage(_metadata(4_000, 0))
    assert (usage.input_tokens, usage.input_audio_tokens, usage.output_audio_tokens) == (10_000, 4_000, 0)
    # gemini-2.5-flash: text in $0.30, audio in $1.00, out $2.50 (genai-prices)
    expected = (6_000 * D("0.3") + 4_000 * D(1) + 1_000 * D("2.5")) / M
    assert Pricer().price("google", "gemini-2.5-flash", usage).cost_usd == expected


def test_an_answers_audio_without_an_audio_rate_is_of_unknown_cost():
    usage = gemini_usage(_metadata(0, 400))
    assert usage.output_audio_tokens == 400
    quote = Pricer().price("google", "gemini-2.5-flash", usage)
    assert quote.cost_usd is None and "audio" in (quote.warning or "")


def test_text_alone_is_priced_as_before():
    usage = gemini_usage(_metadata(0, 0))
    assert (usage.input_audio_tokens, usage.output_audio_tokens) == (0, 0)
    assert Pricer().price("google", "gemini-2.5-flash", usage).cost_usd == (10_000 * D("0.3") + 1_000 * D("2.5")) / M


def _flash_rates() -> dict[str, D]:
    """gemini-2.5-flash's rates today as genai-prices lists them (USD per million tokens), read from its data."""
    _, info = data_snapshot.get_snapshot().find_provider_model("gemini-2.5-flash", None, "google", None)
    price = info.get_prices(datetime.now(UTC))
    keys = ("input_mtok", "output_mtok", "cache_read_mtok", "input_audio_mtok", "cache_audio_read_mtok")
    return {key: D(getattr(price, key)) for key in keys}


def _cached_metadata(text: int, audio: int, cached_text: int, cached_audio: int, out: int) -> dict:
    return {
        "promptTokenCount": text + audio,
        "candidatesTokenCount": out,
        "cachedContentTokenCount": cached_text + cached_audio,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": text}, {"modality": "AUDIO", "tokenCount": audio}],
        "cacheTokensDetails": [
            {"modality": "TEXT", "tokenCount": cached_text},
            {"modality": "AUDIO", "tokenCount": cached_audio},
        ],
    }


@settings(max_examples=150, deadline=None)
@given(
    text=st.integers(0, 2_000_000),
    audio=st.integers(0, 2_000_000),
    cached_share=st.integers(0, 100),
    out=st.integers(0, 500_000),
)
def test_prompt_audio_and_text_with_a_text_cache_cost_genai_prices_rates_to_the_token(text, audio, cached_share, out):
    # the text part of the prompt partly cached (its cache broken down: no audio in it): each token at its rate
    cached_text = text * cached_share // 100
    usage = gemini_usage(_cached_metadata(text, audio, cached_text, 0, out))
    r = _flash_rates()
    expected = (
        (text - cached_text) * r["input_mtok"] + cached_text * r["cache_read_mtok"] + audio * r["input_audio_mtok"]
        + out * r["output_mtok"]
    ) / M  # fmt: skip
    assert Pricer().price("google", "gemini-2.5-flash", usage).cost_usd == expected


@settings(max_examples=60, deadline=None)
@given(text=st.integers(0, 100_000), audio=st.integers(1, 100_000), cached_audio=st.integers(1, 100_000))
def test_audio_read_from_a_cache_is_of_unknown_cost_not_billed_twice(text, audio, cached_audio):
    # counted in the prompt's audio and in the cache, it was priced at the audio rate and the cached text one both
    # (gemini-2.5-flash: $1.03 a million, where a cached audio token is billed $0.10)
    cached_audio = min(cached_audio, audio)
    usage = gemini_usage(_cached_metadata(text, audio, 0, cached_audio, 100))
    assert usage.cached_audio_tokens == cached_audio
    quote = Pricer().price("google", "gemini-2.5-flash", usage)
    assert quote.cost_usd is None
    assert f"reported {cached_audio} cached audio tokens" in (quote.warning or "")


def test_a_cache_not_broken_down_beside_prompt_audio_may_hold_audio_and_is_of_unknown_cost():
    metadata = {**_cached_metadata(6_000, 4_000, 3_000, 0, 100), "cacheTokensDetails": None}
    usage = gemini_usage(metadata)
    assert usage.cached_audio_tokens == 3_000  # (as many as may be: the fewer of the cache's and the audio's)
    assert Pricer().price("google", "gemini-2.5-flash", usage).cost_usd is None
    # a cache beside a prompt of text alone is priced as before
    text_only = gemini_usage({**_cached_metadata(10_000, 0, 3_000, 0, 100), "cacheTokensDetails": None})
    assert text_only.cached_audio_tokens == 0
    assert Pricer().price("google", "gemini-2.5-flash", text_only).cost_usd is not None
