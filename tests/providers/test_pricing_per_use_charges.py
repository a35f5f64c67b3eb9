"""Charges an answer reports that are billed per use beside its tokens (a server tool's web searches): a call's cost
priced from its tokens alone would leave them out of the ledger as if complete, so it is recorded as unknown, with a
warning that names the charge."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-ant-t3st-k9y-q7w2"


async def _anthropic_usage(serve, transport, usage: dict, *, stream: bool) -> Usage:
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": usage})
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream),
        Target("anthropic", "claude-sonnet-4-5", url),
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_answer_that_reports_web_searches_is_of_unknown_cost_named_in_its_warning(serve, transport, stream):
    # Anthropic bills web search at $10 per 1,000 searches beside the tokens (usage.server_tool_use): priced at the
    # token rates alone, the searches were left out of the recorded cost without a word
    tokens = {"input_tokens": 1000, "output_tokens": 500}
    searched = await _anthropic_usage(
        serve,
        transport,
        {**tokens, "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 0}},
        stream=stream,
    )
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", searched)
    assert quote.cost_usd is None and quote.source is None
    assert "3 web searches" in quote.warning and "claude-sonnet-4-5" in quote.warning
    assert "recorded as unknown" in quote.warning


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_web_fetches_and_no_searches_cost_the_tokens_alone(serve, transport, stream):
    # web fetch has no charge beyond the tokens it reads in; a count of 0 searches is no charge either
    tokens = {"input_tokens": 1000, "output_tokens": 500}
    fetched = await _anthropic_usage(
        serve,
        transport,
        {**tokens, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 2}},
        stream=stream,
    )
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", fetched)
    assert quote.cost_usd == (1000 * 3 + 500 * 15) / D(1_000_000) and quote.warning is None
