"""The most output tokens a call, a skill or a target's params may ask for (``max_tokens``): a positive integer, of
at most :data:`MAX_TOKENS_AT_MOST`. Read from JSON or YAML, an integer is of any size, and one of 10**30 went on to the
reservation's arithmetic (a worst case of 10**30 tokens, priced) and to the wire, where the vendor refused it after
the call was admitted. Refused where it is read instead, saying the limit and the fix."""

from __future__ import annotations

from typing import Any

from .text import said_number

__all__ = ["MAX_TOKENS_AT_MOST", "max_tokens_refusal"]

#: Gemini's generationConfig.maxOutputTokens is an int32 (its spec's format), the only bound a vendor's spec writes;
#: OpenAI's and Anthropic's name none, and their models answer with at most some hundreds of thousands of tokens (a
#: model's context window bounds its answer). One limit for all, as a call's max_tokens goes to every target its
#: cascade tries, of any vendor
MAX_TOKENS_AT_MOST = 2**31 - 1


def max_tokens_refusal(value: Any, where: str) -> str | None:
    """Why ``value`` cannot be the ``max_tokens`` named by ``where`` (``model_config.max_tokens``), with the fix; None
    when it can be."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        said = said_number(value)
        return f"{where} must be a positive integer (the most output tokens of the answer, e.g. 1000), not {said}"
    if value > MAX_TOKENS_AT_MOST:
        return (
            f"{where} is {said_number(value)}, past {MAX_TOKENS_AT_MOST:,}, the most output tokens any vendor takes "
            "(Gemini's maxOutputTokens is a 32-bit integer; no model answers with more than its context window): "
            "give the most output tokens the answer may have, e.g. 4096"
        )
    return None
