"""A JSON answer that max_tokens cut short says so, whichever vendor cut it."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, setup

pytestmark = pytest.mark.anyio
CUT = {"openai": "length", "anthropic": "max_tokens", "google": "MAX_TOKENS"}
VENDORS = [c for c in CASES if c.name in CUT]


@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_json_cut_short_by_max_tokens_says_so(case, serve, transport):
    # It was "returned invalid JSON (Unterminated string ...)": true, but not why, nor what to change.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"city": "Os', "finish": CUT[case.name]})
    with pytest.raises(E.InvalidOutputError, match="cut short by max_tokens.*raise max_tokens") as info:
        await provider.complete(LLMRequest([Message("user", "JSON please")], json_output=True, max_tokens=5), target)
    assert info.value.usage is not None and info.value.usage.output_tokens > 0 and fake.violations == []
    assert info.value.moves_on


REASONING = {"openai": {"reasoning_tokens": 64}, "google": {"thoughtsTokenCount": 64}}


@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_an_answer_max_tokens_left_empty_says_so(case, serve, transport):
    # A reasoning model spends its thinking from max_tokens: a small one leaves no answer, which came back
    # as an empty success with nothing said. It is still the vendor's answer (billed, finish "length").
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": None, "finish": CUT[case.name], "usage": REASONING.get(case.name, {})})
    result = await provider.complete(LLMRequest([Message("user", "think hard")], max_tokens=64), target)
    assert (result.text, result.finish_reason) == ("", "length") and fake.violations == []
    [warning] = [w for w in result.warnings if "answered with nothing" in w]
    assert "stopped at max_tokens (64)" in warning and "raise max_tokens" in warning
    if case.name in REASONING:
        assert "after 64 reasoning tokens" in warning


@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_a_cut_answer_with_text_is_not_called_empty(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "half an ans", "finish": CUT[case.name]})
    result = await provider.complete(LLMRequest([Message("user", "go on")], max_tokens=4), target)
    assert result.finish_reason == "length" and not [w for w in result.warnings if "answered with nothing" in w]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_a_text_answer_max_tokens_cut_says_so_in_its_warnings(case, stream, serve, transport):
    # It came back as a success with no warning: a caller reading the text and the warnings (an MCP client,
    # most agents) took half an answer for a whole one. finish_reason "length" alone said it.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "The three causes are: first, the", "finish": CUT[case.name]})
    req = LLMRequest([Message("user", "list the causes")], max_tokens=8, stream=stream)
    result = await provider.complete(req, target)
    assert result.text.strip() == "The three causes are: first, the" and result.finish_reason == "length"
    assert result.warnings == [
        f"{case.name}:{result.model} stopped at max_tokens (8): the answer is cut short; raise max_tokens (the "
        "skill's, or model_config.max_tokens)"
    ]
    assert fake.violations == []
