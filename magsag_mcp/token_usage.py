"""The token counts of an answer as its vendor reported them (:class:`Usage`), normalised by each wire module, and
what the pricing and the ledger read of a call's bill (split from types.py, whose request and result shapes carry
one)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result_dicts import UsageDict


@dataclass(slots=True)
class Usage:
    """Token counts as the vendor reported them.

    ``input_tokens`` includes cached tokens (``cached_tokens`` read from cache, and
    ``cache_write_tokens`` written to it) and ``output_tokens`` includes ``reasoning_tokens``:
    vendors that report them separately are normalised to this in their wire module. The fields after
    ``reported`` break those counts down further where the vendor bills the parts at rates of their own.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: False when the answer came without any usage (servers that ignore ``include_usage``, a body
    #: without a ``usage`` object): the zeros above are then not counts, and the cost is unknown
    reported: bool = True
    #: of ``cache_write_tokens``, those written to a 1-hour cache (Anthropic's ``ttl: "1h"``), which is
    #: billed at its own rate (2x input, where a 5-minute write is 1.25x)
    cache_write_1h_tokens: int = 0
    #: of ``input_tokens`` and ``output_tokens``, audio (OpenAI's audio models), billed at audio rates
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    #: of ``output_tokens``, images (Gemini's image models answer with pictures), billed at an image rate
    output_image_tokens: int = 0
    #: the service tier the vendor says served the answer, and so bills it at (OpenAI's ``service_tier``:
    #: "default", "flex", "priority", ...); None when the answer does not say
    service_tier: str | None = None
    #: the model the answer says served it (its ``model`` field): Azure is priced by it, since a target's
    #: model there is a deployment name the operator chose; None when the answer does not say
    answering_model: str | None = None
    #: where the answer says inference ran (Anthropic's ``usage.inference_geo``: "global", "us"), which
    #: Anthropic bills at a rate of its own for US-only inference; None when the answer does not say
    inference_geo: str | None = None
    #: what the server says it billed for the answer, in USD (OpenRouter's ``usage.cost``): the cost of a call no
    #: price is known for; None when the answer does not say
    billed_usd: Decimal | None = None
    #: the calls of a vendor's server tools the answer reports that are billed per use beside the tokens, which no
    #: token rate prices, as (kind, how many): ``(("web_search", 3),)`` from Anthropic's
    #: ``usage.server_tool_use.web_search_requests`` or the Responses API's ``web_search_call`` items. A kind is the
    #: tool's name in the vendor's API (``web_search``, ``file_search``, ``code_interpreter``, ``image_generation``;
    #: Gemini's ``grounded_prompt``, one a grounded answer), as the ledger's ``server_tool_uses`` keys it (0030) and
    #: :data:`~.price_warnings.PER_USE_NAMES` words it. A call that reports any is of unknown cost but for those
    #: :mod:`.pricing` has a rate per use for (Claude's web searches)
    server_tool_calls: tuple[tuple[str, int], ...] = ()
    #: whether the answer said how many of its output tokens were images (Gemini's ``candidatesTokensDetails``), so
    #: that ``output_image_tokens`` is a count, 0 included, and not a default: the ledger records it (0030), NULL
    #: where the answer did not say
    output_image_said: bool = False
    #: whether the answer has a count of its server tool use (Anthropic's ``usage.server_tool_use`` object, null when
    #: no server tool was offered), so that no ``server_tool_calls`` is "none", not "not said" (0030). The Responses
    #: API has no count, only an item for each use, and Gemini's grounding none either: theirs is never said
    server_tools_said: bool = False
    #: of ``cache_write_tokens``, those the answer did not say the time to live of: Anthropic's ``cache_creation``
    #: splits the writes into 1-hour and 5-minute ones, but a stream's ``message_delta`` (whose counts are cumulative,
    #: and hold no ``cache_creation``) may count more writes than ``message_start`` split. Billed at one of two rates
    #: and not said which: :mod:`.pricing` prices the call only where the two rates are the same
    cache_write_ttl_unsaid_tokens: int = 0
    #: of ``cached_tokens``, audio (Gemini's ``cacheTokensDetails``, modality ``AUDIO``; where the answer counts audio
    #: in the prompt and cached tokens but no breakdown of the cache, as many as may be): billed at a cached audio
    #: rate of its own, neither the audio rate nor the cached text one. Counted in ``input_audio_tokens`` too, so
    #: priced as they are they were billed twice: :mod:`.pricing` records such a call's cost as unknown
    cached_audio_tokens: int = 0
    #: of the answer's ``total_tokens``, those beyond ``input_tokens`` and ``output_tokens`` it did not say were
    #: thoughts or cache (an OpenAI-compatible gateway's total holding more than the two beside a counted cache:
    #: :func:`~.providers.openai_usage.with_thoughts_in_total`), billed at the output rate or the cache's, not said
    #: which: :mod:`.pricing` records such a call's cost as unknown. A part of neither count (the wire modules' bound
    #: on a count reads it as the others)
    total_unsplit_tokens: int = 0
    #: of ``cache_write_tokens``, those Anthropic's ``cache_creation`` split by time to live counts past its
    #: ``cache_creation_input_tokens`` (the two disagree, and not said which is right): the writes are counted at the
    #: split's larger figure, never under what may have been billed, and :mod:`.pricing` says so in the price's note
    #: (kept in the ledger's warnings with the attempt)
    cache_write_split_past_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def counts(self) -> tuple[int, ...]:
        """Every token count, the parts with their wholes (what the pricing and a usage's read check each of)."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.cache_write_1h_tokens,
            self.input_audio_tokens,
            self.output_audio_tokens,
            self.output_image_tokens,
            self.cache_write_ttl_unsaid_tokens,
            self.cached_audio_tokens,
            self.total_unsplit_tokens,
            self.cache_write_split_past_tokens,
        )

    def to_dict(self) -> UsageDict:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
        }
