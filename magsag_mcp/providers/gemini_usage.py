"""Gemini's ``usageMetadata`` as our :class:`~magsag_mcp.types.Usage`: thinking tokens are counted outside
``candidatesTokenCount`` and billed as output; ``toolUsePromptTokenCount`` is input; the pictures
``candidatesTokensDetails`` reports (modality ``IMAGE``) are image tokens at the model's image rate, and the audio
any breakdown reports (modality ``AUDIO``) audio tokens at its audio rate;
``serviceTier`` is the tier that served the answer, and so the rates it is billed at."""

from __future__ import annotations

from typing import Any

from ..types import Usage
from .wire_format import reported_usage


def gemini_usage(u: dict[str, Any]) -> Usage:
    """``usageMetadata``; thoughts are output, billed at the output price."""
    return reported_usage(_counted, u)


def _counted(u: dict[str, Any]) -> Usage:
    if u.get("promptTokenCount") is None:
        # a count of 0 is left out (protobuf's JSON), but no call has an empty prompt: a usage without it
        # (a gateway's) is no count of the prompt, not a free one
        raise ValueError("usageMetadata without promptTokenCount")
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    # candidatesTokensDetails splits the answer's tokens by modality: an image model's pictures are billed
    # at an image rate of their own
    details = u.get("candidatesTokensDetails")
    images = _of_modality(details, "IMAGE")
    audio_in = _of_modality(u.get("promptTokensDetails"), "AUDIO") + _of_modality(
        u.get("toolUsePromptTokensDetails"), "AUDIO"
    )
    return Usage(
        input_tokens=int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
        output_image_tokens=images,
        output_image_said=isinstance(details, list),
        # audio, in the prompt (promptTokensDetails, the tools' part of it too) or the answer, is billed at an audio
        # rate of its own (gemini-2.5-flash: $1.00 a million prompt tokens, where text is $0.30): read as text, it was
        # priced at the text rate as if exact. magsag sends no audio, but a count of it is priced as it is billed
        input_audio_tokens=audio_in,
        cached_audio_tokens=_cached_audio(u, audio_in),
        output_audio_tokens=_of_modality(details, "AUDIO"),
        # the tier that served the answer, and so the rate it is billed at ("standard", "flex", "priority")
        service_tier=tier.lower() if isinstance(tier := u.get("serviceTier"), str) else None,
    )


def _of_modality(details: Any, modality: str) -> int:
    """The tokens of ``modality`` a ``ModalityTokenCount`` list (``promptTokensDetails``, ...) counts; 0 where none."""
    return sum(
        int(d.get("tokenCount") or 0)
        for d in (details if isinstance(details, list) else ())
        if isinstance(d, dict) and d.get("modality") == modality
    )


def _cached_audio(u: dict[str, Any], audio_in: int) -> int:
    """Of the prompt's audio, the tokens read from a cache (``cacheTokensDetails``, modality ``AUDIO``): billed at a
    cached audio rate (gemini-2.5-flash: $0.10 a million, where uncached audio is $1.00 and cached text $0.03), and
    counted in both ``promptTokensDetails``' audio and ``cachedContentTokenCount``. Without a breakdown of the cache,
    as many as may be (the fewer of the two counts): which cached tokens are audio is not said."""
    cached = int(u.get("cachedContentTokenCount") or 0)
    if not cached or not audio_in:
        return 0
    by_modality = u.get("cacheTokensDetails")
    return _of_modality(by_modality, "AUDIO") if isinstance(by_modality, list) else min(cached, audio_in)
