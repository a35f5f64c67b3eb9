"""Chat Completions' ``usage`` object as a :class:`~magsag_mcp.types.Usage`, with what compatible servers count beside
the spec (DeepSeek's and Moonshot's cache hits, xAI's reasoning beside the completion): shared with the Responses API's
counts (:func:`both_counts`, :func:`with_reasoning`, :func:`with_thoughts_in_total`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..types import Usage
from .wire_format import reported_usage, said


def chat_usage(raw: Any, answer: dict[str, Any]) -> Usage:
    """``raw``: the ``usage`` object; ``answer``: the completion (or chunk) around it, whose
    ``service_tier`` and ``model`` say the tier and the model that served it, and so the rates it is
    billed at. Unreported, the model that served it is kept all the same: what an Azure deployment answered as is
    learnt from it, whatever its cost (see Pricer.price)."""
    usage = reported_usage(_counted, raw, answer)
    if not usage.reported:
        usage.answering_model = said(answer.get("model"))
    return usage


def both_counts(raw: dict[str, Any], first: str, second: str) -> tuple[int, int]:
    """``raw[first]`` and ``raw[second]`` (the input and output tokens); one left out follows from
    ``total_tokens``. ValueError when it cannot: a count a gateway leaves out is not 0 tokens."""
    a, b, total = raw.get(first), raw.get(second), raw.get("total_tokens")
    if a is None and b is not None and total is not None:
        a = int(total) - int(b)
    elif b is None and a is not None and total is not None:
        b = int(total) - int(a)
    if a is None or b is None:
        raise ValueError(f"usage without {first if a is None else second}")
    return int(a), int(b)


def with_reasoning(raw: dict[str, Any], input_tokens: int, output_tokens: int, reasoning: int) -> int:
    """The output tokens billed: ``output_tokens``, plus ``reasoning`` where the server counted it beside
    them. OpenAI counts reasoning inside the completion (its total is input + output); xAI counts it
    beside (its total is input + output + reasoning) and bills it as output all the same."""
    if reasoning and raw.get("total_tokens") == input_tokens + output_tokens + reasoning:
        return output_tokens + reasoning
    return output_tokens


def with_thoughts_in_total(
    raw: dict[str, Any], input_tokens: int, output: int, reasoning: int, cached: int = 0, written: int = 0
) -> tuple[int, int, int, int]:
    """(the input tokens, the output tokens billed, the reasoning tokens, the tokens of the total told apart from
    neither) where ``raw``'s ``total_tokens`` holds more than ``input_tokens`` and ``output``
    (:func:`with_reasoning`'s).
    ``cached`` and ``written``: the cache reads and writes the usage counts, which both APIs count in the input.

    Gemini's OpenAI endpoint, and gateways translating Gemini, count a thinking model's thoughts in the total alone
    (20 + 424 completion, 1016 in all), billed as output and read as no tokens at all: with no cache counted, the extra
    is those thoughts. A gateway translating Anthropic may count the cache beside the input (Claude's input_tokens
    leave cache reads and writes out): an extra of exactly the cache's reads, writes or both is them, made part of the
    input. An extra smaller than every part of the cache counted holds none of it (a cache counted beside the input puts
    the whole of it there): the cache is in the input, as the spec counts it, and the extra is thoughts (Gemini's
    implicit cache hits, counted in its prompt). Any other extra beside a counted cache may be thoughts, cache or both,
    billed at rates up to 40 times apart: none of it is guessed, it is returned as told apart from neither, and the
    pricing records the cost as unknown.
    Chat Completions' usage and the Responses API's both carry the total (ResponseUsage requires it), so a gateway
    speaking either can leave them there: both read them here."""
    total = raw.get("total_tokens")
    if (
        isinstance(total, int)
        and not isinstance(total, bool)
        and total > input_tokens + output
        # (a negative count is kept, for the pricing to refuse: made good from the total, -9 completion tokens of
        # 49 were 9 of output and 18 of reasoning, priced as known)
        and input_tokens >= 0
        and output >= 0
    ):
        unseen = total - input_tokens - output
        if unseen in {cached, written, cached + written}:
            return input_tokens + unseen, output, reasoning, 0
        if all(unseen < part for part in (cached, written) if part > 0):
            # no part of the cache counted is in the extra (a cache counted beside the input puts all of it there, so
            # an extra smaller than it says the input holds it, as the spec counts it): the extra is thoughts, as where
            # no cache is counted. Gemini's usage counts an implicit cache hit in the prompt and its thoughts in the
            # total alone, and a gateway passing both on gave its thinking calls with a cache hit an unknown cost
            return input_tokens, output + unseen, max(reasoning, unseen), 0
        return input_tokens, output, reasoning, unseen
    return input_tokens, output, reasoning, 0


def _cached(raw: dict[str, Any], prompt_details: dict[str, Any]) -> Any:
    """The prompt's tokens read from the cache (a part of ``prompt_tokens``): the spec's
    ``prompt_tokens_details.cached_tokens``, DeepSeek's ``prompt_cache_hit_tokens`` or Moonshot's (Kimi's)
    ``cached_tokens`` beside the counts. Unread, a compatible vendor's cache hits were priced at the input rate."""
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")
    return raw.get("cached_tokens") if cached is None else cached


#: the most one answer is taken to have cost: a larger figure is no bill (the ledger's amounts end near $9 million)
_MOST_BILLED = Decimal(1_000_000)


#: the types an amount is written in (``int | float`` in the call built a union on each one, on every answer's usage)
_NUMBERS = (int, float)


def _dollars(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    amount = Decimal(str(value))  # as written (0.000123), not the float's binary expansion
    return amount if amount.is_finite() and 0 <= amount <= _MOST_BILLED else None


def _billed(raw: dict[str, Any]) -> Decimal | None:
    """What OpenRouter says it billed for the answer: ``usage.cost``, the credits charged; with the caller's own
    provider key (``is_byok``) that is OpenRouter's fee alone, and the provider bills the key
    ``cost_details.upstream_inference_cost`` beside it (None when it does not say how much)."""
    cost = _dollars(raw.get("cost"))
    if cost is None or raw.get("is_byok") is not True:
        return cost
    details = raw.get("cost_details")
    upstream = _dollars(details.get("upstream_inference_cost")) if isinstance(details, dict) else None
    return None if upstream is None else cost + upstream


def _counted(raw: dict[str, Any], answer: dict[str, Any]) -> Usage:
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    input_tokens, output_tokens = both_counts(raw, "prompt_tokens", "completion_tokens")
    reasoning = int(completion_details.get("reasoning_tokens") or 0)
    cached, written = int(_cached(raw, prompt_details) or 0), int(prompt_details.get("cache_write_tokens") or 0)
    output = with_reasoning(raw, input_tokens, output_tokens, reasoning)
    input_tokens, output, reasoning, unsplit = with_thoughts_in_total(
        raw, input_tokens, output, reasoning, cached, written
    )
    # positional (input, output, cached, cache write, reasoning), the rest set after: a class called with
    # keywords builds and unpacks a dict of them (Python 3.11), on every answer
    usage = Usage(input_tokens, output, cached, written, reasoning)
    usage.total_unsplit_tokens = unsplit
    usage.service_tier = answer.get("service_tier")
    usage.answering_model = answer.get("model")
    usage.billed_usd = _billed(raw)
    # audio is refused up front (params.audio), but a model may still report some: priced as audio
    usage.input_audio_tokens = int(prompt_details.get("audio_tokens") or 0)
    usage.output_audio_tokens = int(completion_details.get("audio_tokens") or 0)
    return usage
