"""A JSON answer that max_tokens cut short says so, whichever vendor cut it."""

from __future__ import annotations

import dataclasses

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
    # where the max_tokens to raise is: a routing target's params.max_tokens is sent over the skill's, so "raise the
    # skill's" (all it said) changed nothing for a target that sets one
    assert result.warnings == [
        f"{case.name}:{result.model} stopped at max_tokens (8): the answer is cut short; raise max_tokens "
        "(model_config.max_tokens; else the routing target's params.max_tokens where it sets one, else the skill's)"
    ]
    assert fake.violations == []


CHAT = [c for c in CASES if c.name in ("openai", "local", "compat")]


@pytest.mark.parametrize("text", ["The three causes are: first, the", None], ids=["cut", "empty"])
@pytest.mark.parametrize("case", CHAT, ids=[c.name for c in CHAT])
async def test_a_length_stop_short_of_max_tokens_does_not_say_raise_max_tokens(case, text, serve, transport):
    """OpenAI's formats' "length" is also a server's own limit: llama.cpp's and LM Studio's context size filled
    by the prompt and the answer, or the server's cap on output (--n-predict). The warning said "stopped at
    max_tokens (1024) ... raise max_tokens" after 300 tokens: raised, the answer was cut as short."""
    fake, provider, target = await setup(case, serve, transport)
    if case.name == "local":
        target = dataclasses.replace(target, params=(("api", "chat"),))  # llama.cpp's server, LM Studio's
    fake.queue({"text": text, "finish": "length", "usage": {"prompt_tokens": 3700, "completion_tokens": 300}})
    result = await provider.complete(LLMRequest([Message("user", "list the causes")], max_tokens=1024), target)
    assert result.finish_reason == "length" and fake.violations == []
    [warning] = [w for w in result.warnings if "finish_reason" in w or "max_tokens" in w]
    assert "raise max_tokens" not in warning, warning
    assert "after 300 output tokens, short of max_tokens (1024)" in warning, warning
    assert "context window" in warning and "shorten the prompt" in warning, warning


@pytest.mark.parametrize("case", CHAT, ids=[c.name for c in CHAT])
async def test_json_cut_by_a_servers_limit_short_of_max_tokens_does_not_say_raise_max_tokens(case, serve, transport):
    # The same for a JSON answer: "cut short by max_tokens ... raise max_tokens" after 300 of 1024 tokens.
    fake, provider, target = await setup(case, serve, transport)
    if case.name == "local":
        target = dataclasses.replace(target, params=(("api", "chat"),))
    fake.queue({"text": '{"city": "Os', "finish": "length", "usage": {"prompt_tokens": 3700, "completion_tokens": 300}})
    request = LLMRequest([Message("user", "JSON please")], json_output=True, max_tokens=1024)
    with pytest.raises(E.InvalidOutputError) as info:
        await provider.complete(request, target)
    message = info.value.message
    assert "cut short by a length limit after 300 output tokens, short of max_tokens (1024)" in message, message
    assert "raise max_tokens" not in message and "shorten the prompt" in message, message
    assert info.value.usage is not None and fake.violations == []


@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_a_wire_warning_of_another_kind_does_not_hide_the_max_tokens_cut(case, serve, transport, monkeypatch):
    # The cut's note was left out whenever the wire's parse had put any warning in the result, taken as the
    # wire's own word on why it stopped (Claude's context window). A wire's note of another kind (a content
    # filter's remark, a field it did not know) hid that max_tokens cut the answer. Only a stop the wire
    # explained (stop_explained) takes the cut's note's place.
    fake, provider, target = await setup(case, serve, transport)
    parse = provider.wire.parse_response
    monkeypatch.setattr(type(provider.wire), "parse_response", lambda self, data, **kw: _noted(parse, data, kw))
    fake.queue({"text": "The three causes are: first, the", "finish": CUT[case.name]})
    result = await provider.complete(LLMRequest([Message("user", "list the causes")], max_tokens=8), target)
    assert result.warnings[0] == "a note of the wire's about something else"
    assert [w for w in result.warnings if "stopped at max_tokens (8): the answer is cut short" in w]


def _noted(parse, data, kw):
    result = parse(data, **kw)
    result.warnings.append("a note of the wire's about something else")
    return result
