"""Server tool calls billed per use beside the tokens (Usage.server_tool_calls): which :class:`~.pricing.Pricer` can
price, at genai-prices' rate per use, and what they cost. The rest make a call's cost unknown (see
:func:`~.price_warnings.per_use_charges`)."""

from __future__ import annotations

from decimal import Decimal

from .rates import ZERO, Priced
from .types import Usage

#: the server tool calls (Usage.server_tool_calls' kinds) priced at genai-prices' rate per use, by provider, with the
#: rate's price key: Anthropic's web searches, which its usage counts (server_tool_use.web_search_requests) and bills
#: per search beside the tokens. The rest stay of unknown cost: OpenAI's web search calls (billed $25 per 1,000 on
#: gpt-4o and gpt-4.1's preview tool, $10 on the others, where genai-prices gives one figure per model), its file
#: searches, generated images and code interpreter sessions, and Gemini's grounded prompts (which it gives no rate)
_PRICED_PER_USE: dict[tuple[str, str], str] = {("anthropic", "web_search"): "web_searches_kcount"}
_PER_THOUSAND = Decimal(1000)


def per_use_priced_all(provider: str, usage: Usage) -> bool:
    """Whether every server tool call ``usage`` reports is of a kind :data:`_PRICED_PER_USE` prices."""
    return all((provider, what) in _PRICED_PER_USE for what, _ in usage.server_tool_calls)


def per_use_fee(provider: str, priced: Priced, usage: Usage) -> Decimal | None:
    """What ``usage``'s server tool calls cost at ``priced``'s rates per use, or None where one has no rate."""
    fee = ZERO
    for what, count in usage.server_tool_calls:
        key = _PRICED_PER_USE.get((provider, what))
        rate = priced.per_use.get(key) if key is not None else None
        if rate is None:
            return None
        fee += count * rate / _PER_THOUSAND
    return fee
