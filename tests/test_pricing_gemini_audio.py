"""Gemini's ``usageMetadata`` splits each count by modality (ModalityTokenCount: TEXT, IMAGE, VIDEO, AUDIO, DOCUMENT).
Audio is billed at a rate of its own (gemini-2.5-flash: $1.00 a million prompt tokens, text $0.30): read as text,
an answer's audio was priced at the text rate as if exact. Counted as audio, it is priced at genai-prices' audio rate,
or of unknown cost where it gives none (the answer's audio, which it prices for no text model)."""

from __future__ import annotations

from decimal import Decimal as D

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
