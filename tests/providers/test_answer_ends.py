"""How an answer ended, read alike for every vendor, each in its own words (as its spec writes them, served by the
loopback fakes): a content filter's stop is a ``content_filtered`` error at the answer's usage, whatever came before
it; a max_tokens cut is the text so far, finish_reason "length", with a warning that says to raise max_tokens."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, IDS, WEATHER, setup

#: each vendor's word for a filter that stopped the answer: Chat Completions' (Azure's, a local or compatible
#: server's) finish_reason and the Responses API's incomplete_details.reason "content_filter"; Claude's stop_reason;
#: Gemini's finishReason
FILTERED = {"anthropic": "refusal", "google": "SAFETY"}
#: and for max_tokens' cut: finish_reason "length", the Responses API's reason "max_output_tokens"
CUT = {"anthropic": "max_tokens", "google": "MAX_TOKENS"}
PARTIAL = "The first half of the"

pytestmark = pytest.mark.anyio


def _ask(stream: bool, max_tokens: int = 50) -> LLMRequest:
    return LLMRequest([Message("user", "Tell me.")], max_tokens=max_tokens, stream=stream)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_filter_that_stops_the_answer_part_way_is_content_filtered_for_every_vendor(
    case, serve, transport, stream: bool
):
    # Claude's refusal and Gemini's SAFETY after some text failed as content_filtered; Chat Completions' (Azure's)
    # finish_reason content_filter and the Responses API's incomplete/content_filter returned that text as the answer,
    # a success, with only a warning to say it was not whole: the next target was not tried, and the ledger said "ok"
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "finish": FILTERED.get(case.name, "content_filter")})
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(_ask(stream), target)
    err = info.value
    assert err.kind == "content_filtered" and err.moves_on and not err.retryable
    assert "the part of the answer that came before it is not returned" in err.message
    assert PARTIAL not in err.message
    # the tokens it generated are billed: the attempt is recorded at the usage the answer reported
    assert err.usage is not None and err.usage.reported and err.usage.input_tokens > 0
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_filter_that_stops_the_answer_before_any_of_it_is_content_filtered_for_every_vendor(
    case, serve, transport, stream: bool
):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": None, "finish": FILTERED.get(case.name, "content_filter")})
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(_ask(stream), target)
    assert "came before it" not in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens > 0
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_an_answer_max_tokens_cut_is_returned_with_a_warning_for_every_vendor(
    case, serve, transport, stream: bool
):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "finish": CUT.get(case.name, "length")})
    # (a max_tokens the fakes' usage reaches: a count short of it is said to be a server's own limit, which cut it)
    result = await provider.complete(_ask(stream, max_tokens=5), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "length")
    assert any("stopped at max_tokens (5): the answer is cut short; raise max_tokens" in w for w in result.warnings)
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", [c for c in CASES if c.name != "anthropic"], ids=[i for i in IDS if i != "anthropic"])
async def test_an_answer_max_tokens_cut_after_a_whole_tool_call_finishes_length_for_every_vendor(
    case, serve, transport, stream: bool
):
    # A call that came whole (Gemini's functionCall is an object; the others' arguments parse) before max_tokens cut
    # the answer: the calls are returned, and finish_reason says the answer was cut ("length"), as Chat Completions and
    # the Responses API read it. Gemini said "tool_calls" for a MAX_TOKENS finish with a call in it: read as a whole
    # turn of calls, the ones the model had still to write were lost unsaid. (Claude's cut call is the last block,
    # and is refused whole: test_json_cut_short.)
    fake, provider, target = await setup(case, serve, transport)
    call = {"id": "call_1", "name": WEATHER.name, "arguments": {"city": "Oslo"}}
    fake.queue({"text": PARTIAL, "tool_calls": [call], "finish": CUT.get(case.name, "length")})
    request = LLMRequest([Message("user", "Weather in Oslo and Rome?")], tools=[WEATHER], max_tokens=5, stream=stream)
    result = await provider.complete(request, target)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [(WEATHER.name, {"city": "Oslo"})]
    assert result.finish_reason == "length"
    # and says so where a caller that runs the calls and reads the text alone (an MCP client, most agents) looks: with
    # only finish_reason to say it, the calls passed for the whole turn, with no word of the calls still to come
    said = f"{result.provider}:{result.model} stopped at max_tokens (5) after 1 tool call: the turn is cut short"
    assert [w for w in result.warnings if said in w and "raise max_tokens" in w], result.warnings
    assert fake.violations == []


#: a word for an answer's end that the reader does not know: Claude's beta "compaction" (BetaStopReason, newer than the
#: reader's stop reasons), and a compatible server's own word in Chat Completions' finish_reason
UNKNOWN = {"anthropic": "compaction"}
#: the wire formats whose end is said in one word (the Responses API says it in a status, which is read whole; Gemini's
#: unknown finishReason is warned of already: test_gemini_answers). Asked with a max_tokens below the Responses API's
#: least, a local server is sent chat completions (see local.py)
ASKED = 8
WORDED = [c for c in CASES if c.name not in ("openai-responses", "google")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", WORDED, ids=[c.name for c in WORDED])
async def test_an_answer_that_ended_for_a_reason_the_reader_does_not_know_says_it_may_not_be_whole(
    case, serve, transport, stream: bool
):
    # Read as "other", its text came back as a whole answer with no word that it may not be, as Gemini's is warned of
    fake, provider, target = await setup(case, serve, transport)
    reason = UNKNOWN.get(case.name, "compaction")
    fake.queue({"text": PARTIAL, "finish": reason})
    result = await provider.complete(_ask(stream, ASKED), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "other")
    said = f"stopped its answer for a reason magsag does not know (finish_reason: {reason}): it may not be whole"
    said = said.replace("finish_reason", "stop_reason") if case.name == "anthropic" else said
    assert [w for w in result.warnings if said in w], result.warnings
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", WORDED, ids=[c.name for c in WORDED])
async def test_an_empty_answer_that_ended_for_a_reason_the_reader_does_not_know_is_no_answer_at_its_cost(
    case, serve, transport, stream: bool
):
    # It came back as an empty success ("", finish_reason "other"): recorded "ok", the next target untried
    fake, provider, target = await setup(case, serve, transport)
    reason = UNKNOWN.get(case.name, "compaction")
    fake.queue({"text": None, "finish": reason})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(_ask(stream, ASKED), target)
    assert (
        f"no usable answer ({'stop' if case.name == 'anthropic' else 'finish'}_reason: {reason}, with no content)"
        in (info.value.message)
    )
    assert info.value.moves_on
    # billed: recorded at the usage the answer reported
    assert info.value.usage is not None and info.value.usage.reported and info.value.usage.input_tokens > 0
    # a null finish_reason (which servers write on whole answers) is no reason the reader does not know
    if case.name != "anthropic" and not stream:
        fake.queue({"text": "A whole answer", "finish": None})
        result = await provider.complete(_ask(stream, ASKED), target)
        assert result.text == "A whole answer" and not [w for w in result.warnings if "does not know" in w]


#: the wire formats that end an answer with Chat Completions' finish_reason
CHAT = [c for c in CASES if c.name in ("openai", "azure", "local", "compat")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CHAT, ids=[c.name for c in CHAT])
async def test_a_compatible_servers_word_for_a_known_end_is_read_as_that_end_in_any_case(
    case, serve, transport, stream: bool
):
    # A gateway in front of Gemini passes on its "STOP" and "MAX_TOKENS": read as "other" (the lookup was of the
    # word as written), the empty STOP answer was an empty success, recorded "ok" and the next target untried, and the
    # MAX_TOKENS cut was returned with nothing said; an Anthropic-style server's "tool_use" warned on every call that
    # the turn of calls may not be whole
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": None, "finish": "STOP"})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(_ask(stream, ASKED), target)
    assert "no usable answer (finish_reason: stop, with no content)" in info.value.message
    assert info.value.usage is not None and info.value.usage.reported
    fake.queue({"text": PARTIAL, "finish": "MAX_TOKENS"})
    result = await provider.complete(_ask(stream, 5), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "length")
    assert any("stopped at max_tokens (5): the answer is cut short" in w for w in result.warnings), result.warnings
    call = {"id": "call_1", "name": WEATHER.name, "arguments": {"city": "Oslo"}}
    fake.queue({"text": None, "tool_calls": [call], "finish": "tool_use"})
    result = await provider.complete(_ask(stream, ASKED), target)
    assert result.finish_reason == "tool_calls" and [c.name for c in result.tool_calls] == [WEATHER.name]
    assert not [w for w in result.warnings if "does not know" in w], result.warnings
    # and Gemini's SAFETY (Bedrock's guardrail_intervened) is a filter's stop, as the vendor's own reader reads it: the
    # text it stopped was returned as the answer, with a warning that it may not be whole
    for word in ("SAFETY", "guardrail_intervened"):
        fake.queue({"text": PARTIAL, "finish": word})
        with pytest.raises(E.ContentFilteredError) as filtered:
            await provider.complete(_ask(stream, ASKED), target)
        said = f"the provider's content filter (finish_reason: {word}); the part of the answer"
        assert said in filtered.value.message
        assert filtered.value.usage is not None and filtered.value.usage.reported
    assert fake.violations == []


def test_an_unknown_reason_is_quoted_on_one_line_without_control_characters_and_bounded():
    # A server's own word for its end went into the warning (and the error of an empty answer) with its line breaks and
    # escape sequences as they came, which act on the terminal a warning is shown on
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat

    reason = "weird\x1b]0;pwned\x07\r\nend" + "z" * 100_000
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": PARTIAL}, "finish_reason": reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    result = ChatCompletionsFormat().parse_response(body, provider="local", model="m")
    [said] = [w for w in result.warnings if "does not know" in w]
    assert "(finish_reason: weird\\x1b]0;pwned\\x07 endzz" in said and len(said) < 300, said
    assert all(c.isprintable() for c in said), repr(said)
    body["choices"][0]["message"]["content"] = None
    with pytest.raises(E.MalformedResponseError) as info:
        ChatCompletionsFormat().parse_response(body, provider="local", model="m")
    assert all(c.isprintable() for c in info.value.message) and len(info.value.message) < 300


#: the Responses API's case, whose end is said in Response.status
RESPONSES = [c for c in CASES if c.name == "openai-responses"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", RESPONSES, ids=[c.name for c in RESPONSES])
async def test_a_responses_status_the_reader_does_not_know_says_it_may_not_be_whole(case, serve, transport, stream):
    # A status the spec does not list (completed, incomplete, failed, cancelled, queued, in_progress): a compatible
    # server's own word, or one newer than the reader. It was read as "completed": the text a whole answer
    # (finish_reason "stop"), and with nothing in it an empty success, recorded "ok" and the next target untried
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "status_word": "paused"})
    result = await provider.complete(_ask(stream, 50), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "other")
    said = "stopped its answer for a reason magsag does not know (status: paused): it may not be whole"
    assert [w for w in result.warnings if said in w], result.warnings
    fake.queue({"text": None, "status_word": "paused"})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(_ask(stream, 50), target)
    assert "no usable answer (status: paused, with no content)" in info.value.message
    assert info.value.usage is not None and info.value.usage.reported and info.value.usage.input_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CHAT, ids=[c.name for c in CHAT])
async def test_an_anthropic_style_servers_cut_and_refusal_are_read_as_claudes_reader_reads_them(
    case, serve, transport, stream: bool
):
    # A gateway in front of Claude (or Bedrock Converse) passes on its stop_reason as finish_reason: "end_turn",
    # "tool_use" and "max_tokens" were read, "model_context_window_exceeded" and "refusal" were reasons magsag did not
    # know, the cut passed with "it may not be whole" and the refused text returned as the answer
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "finish": "model_context_window_exceeded"})
    result = await provider.complete(_ask(stream, ASKED), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "length")
    [said] = result.warnings  # (not said to be max_tokens' cut: more of it would not have helped)
    assert "stopped at its context window (finish_reason: model_context_window_exceeded): the answer is cut" in said
    assert "shorten the prompt" in said
    fake.queue({"text": None, "finish": "model_context_window_exceeded"})
    with pytest.raises(E.ContextTooLongError) as full:
        await provider.complete(_ask(stream, ASKED), target)
    assert "before any answer: the prompt left no room for one" in full.value.message
    assert full.value.usage is not None and full.value.usage.reported
    fake.queue({"text": PARTIAL, "finish": "refusal"})
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(_ask(stream, ASKED), target)
    assert "(finish_reason: refusal)" in info.value.message and PARTIAL not in info.value.message
    assert info.value.usage is not None and info.value.usage.reported
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", RESPONSES, ids=[c.name for c in RESPONSES])
@pytest.mark.parametrize("word", ["", None])
async def test_a_responses_status_left_empty_is_none_and_the_answer_is_whole(case, serve, transport, stream, word):
    # A status left out, null or empty (the zero value a gateway written in Go puts in a field it did not set) says
    # nothing of the end, as Chat Completions' empty finish_reason does. The empty one was read as an end magsag does
    # not know: an answer of tool calls finished "other", which a caller that runs tools on "tool_calls" took for an
    # answer with nothing to run
    fake, provider, target = await setup(case, serve, transport)
    call = {"id": "call_1", "name": WEATHER.name, "arguments": {"city": "Oslo"}}
    fake.queue({"text": None, "tool_calls": [call], "status_word": word})
    request = LLMRequest([Message("user", "Weather in Oslo?")], tools=[WEATHER], max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert (result.finish_reason, [c.name for c in result.tool_calls]) == ("tool_calls", [WEATHER.name])
    fake.queue({"text": PARTIAL, "status_word": word})
    result = await provider.complete(_ask(stream), target)
    assert (result.text, result.finish_reason, result.warnings) == (PARTIAL, "stop", [])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", RESPONSES, ids=[c.name for c in RESPONSES])
async def test_a_responses_incomplete_reason_outside_the_spec_is_not_said_to_be_max_tokens(
    case, serve, transport, stream
):
    # incomplete_details.reason is max_output_tokens or content_filter; any other was read as max_tokens' cut, its
    # warning saying to raise max_tokens, which would not help an answer a server stopped for a reason of its own
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "incomplete_reason": "interrupted"})
    result = await provider.complete(_ask(stream, 5), target)
    assert (result.text, result.finish_reason) == (PARTIAL, "other")
    said = "for a reason magsag does not know (incomplete_details.reason: interrupted): it may not be whole"
    assert [w for w in result.warnings if said in w] and not [w for w in result.warnings if "raise max_tokens" in w]
    fake.queue({"text": None, "incomplete_reason": "interrupted"})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(_ask(stream, 5), target)
    assert "incomplete_details.reason: interrupted, with no content" in info.value.message
    assert info.value.usage is not None and info.value.usage.reported
    # a word servers are known to use for a cut or a filter is read as that: the spec's own example's "max_tokens", a
    # watsonx time limit, Gemini's SAFETY passed on
    fake.queue({"text": PARTIAL, "incomplete_reason": "max_tokens"})
    result = await provider.complete(_ask(stream, 5), target)
    assert result.finish_reason == "length" and not [w for w in result.warnings if "does not know" in w]
    fake.queue({"text": PARTIAL, "incomplete_reason": "time_limit"})
    result = await provider.complete(_ask(stream, 5), target)
    assert result.finish_reason == "length" and not [w for w in result.warnings if "raise max_tokens" in w]
    [said] = [w for w in result.warnings if "time limit" in w]
    assert "stopped at the server's time limit (incomplete_details.reason: time_limit)" in said
    fake.queue({"text": PARTIAL, "incomplete_reason": "SAFETY"})
    with pytest.raises(E.ContentFilteredError):
        await provider.complete(_ask(stream, 5), target)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", RESPONSES, ids=[c.name for c in RESPONSES])
async def test_a_servers_own_incomplete_reason_is_said_in_the_responses_apis_words(case, serve, transport, stream):
    # a server's own end read as what it means (watsonx's token_limit and not_finished, Ollama's load) was said in
    # Chat Completions' words, "(finish_reason: token_limit, watsonx's)": a Responses answer has no finish_reason,
    # and a caller looking for the word looks in incomplete_details.reason
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": PARTIAL, "incomplete_reason": "token_limit"})
    result = await provider.complete(_ask(stream, 5), target)
    assert result.finish_reason == "length"
    [said] = [w for w in result.warnings if "token limit" in w]
    assert "stopped at the model's token limit (incomplete_details.reason: token_limit, watsonx's)" in said
    assert "finish_reason" not in said
    fake.queue({"text": None, "incomplete_reason": "token_limit"})
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(_ask(stream, 5), target)
    assert "(incomplete_details.reason: token_limit, watsonx's) before any answer" in info.value.message
    assert "finish_reason" not in info.value.message
    fake.queue({"text": PARTIAL, "incomplete_reason": "not_finished"})
    result = await provider.complete(_ask(stream, 5), target)
    assert result.finish_reason == "other"
    [said] = [w for w in result.warnings if "not_finished" in w]
    assert "had not finished (incomplete_details.reason: not_finished, watsonx's: more was to come)" in said
    assert "finish_reason" not in said
    fake.queue({"text": None, "incomplete_reason": "load"})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(_ask(stream, 5), target)
    assert "loaded the model instead of answering (incomplete_details.reason: load," in info.value.message
