"""A usage object whose count is no whole number (``true``, ``1.5``: a broken server's or gateway's figure) is no count:
each vendor's reader took it with ``int()``, 1 token, priced and said known. It is now not reported (its cost unknown,
flagged, counted at the call's bound), as a count that is text or past MOST_TOKENS is; a whole float (``12.0``) is
the count it says, and a cost in dollars beside the counts (OpenRouter's ``usage.cost``) is no count."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.providers.openai_responses import _usage as responses_usage
from magsag_mcp.providers.openai_usage import chat_usage

CHAT = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}
RESPONSES = {"input_tokens": 40, "output_tokens": 9, "total_tokens": 49}
MESSAGES = {"input_tokens": 40, "output_tokens": 9}
GEMINI = {"promptTokenCount": 40, "candidatesTokenCount": 9, "totalTokenCount": 49}

READERS: dict[str, Any] = {
    "chat": lambda raw: chat_usage(raw, {}),
    "responses": lambda raw: responses_usage(raw, {}),
    "messages": anthropic_usage,
    "gemini": gemini_usage,
}


@pytest.mark.parametrize(
    ("api", "raw"),
    [
        ("chat", {**CHAT, "completion_tokens": True}),
        ("chat", {**CHAT, "prompt_tokens": 40.5}),
        ("chat", {**CHAT, "completion_tokens_details": {"reasoning_tokens": 2.5}}),
        ("chat", {**CHAT, "prompt_tokens_details": {"cached_tokens": True}}),
        ("responses", {**RESPONSES, "output_tokens": 1.5}),
        ("responses", {**RESPONSES, "input_tokens_details": {"cached_tokens": False}}),
        ("messages", {**MESSAGES, "output_tokens": True}),
        ("messages", {**MESSAGES, "cache_read_input_tokens": 3.25}),
        ("messages", {**MESSAGES, "server_tool_use": {"web_search_requests": 1.5}}),
        ("gemini", {**GEMINI, "candidatesTokenCount": True}),
        ("gemini", {**GEMINI, "thoughtsTokenCount": 7.5}),
        ("gemini", {**GEMINI, "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 0.5}]}),
    ],
)
def test_a_count_that_is_no_whole_number_is_no_count(api: str, raw: dict[str, Any]):
    assert READERS[api](raw).reported is False


@pytest.mark.parametrize(
    ("api", "raw", "counts"),
    [
        ("chat", {**CHAT, "prompt_tokens": 40.0, "cost": 0.00012}, (40, 9)),
        ("responses", {**RESPONSES, "output_tokens": 9.0}, (40, 9)),
        ("messages", {**MESSAGES, "output_tokens": 9.0}, (40, 9)),
        ("gemini", {**GEMINI, "candidatesTokenCount": 9.0}, (40, 9)),
    ],
)
def test_a_whole_float_is_its_count_and_a_cost_is_no_count(api: str, raw: dict[str, Any], counts: tuple[int, int]):
    usage = READERS[api](raw)
    assert usage.reported and (usage.input_tokens, usage.output_tokens) == counts


@pytest.mark.parametrize(
    ("api", "raw"),
    [
        ("chat", {**CHAT, "completion_tokens": -9}),
        ("chat", {**CHAT, "prompt_tokens": -40}),
        ("chat", {**CHAT, "completion_tokens_details": {"reasoning_tokens": -1}}),
        ("responses", {**RESPONSES, "output_tokens": -9}),
        ("messages", {**MESSAGES, "output_tokens": -3}),
        ("messages", {**MESSAGES, "server_tool_use": {"web_search_requests": -2}}),
        ("gemini", {**GEMINI, "promptTokenCount": -40}),
    ],
)
def test_a_negative_count_is_no_count_and_the_usage_is_not_reported(api: str, raw: dict[str, Any]):
    # Found fuzzing the answers: a negative completion of Chat Completions beside its total (-9 of 49) was made good
    # from the total as thinking it had not counted (9 output, 18 reasoning) and priced as known; Anthropic's -2 web
    # searches were read as none. Then a negative count was kept as reported (priced as unknown, flagged) and recorded
    # as given: the ledger's token sums took it off every summary (a call's -9 output tokens beside another's 40).
    # Like a count that is no whole number, it makes the usage unreported: its tokens are not recorded, its cost
    # unknown (never priced), counted at its bound.
    usage = READERS[api](raw)
    assert not usage.reported and min(usage.counts()) == 0, usage
