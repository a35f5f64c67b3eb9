"""How a Gemini answer is read, against the spec-checking fake: candidates with no content, finish reasons old, new
and unknown, fields written as null or as enum numbers, pictures and thought summaries."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.empty_answers import RAISE_MAX_TOKENS
from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio


[GOOGLE] = [c for c in CASES if c.name == "google"]


def _part(**fields):
    """A Part as a gateway that writes every field of the message writes it: each one unset is null."""
    unset = ("text", "thought", "thoughtSignature", "functionCall", "functionResponse", "inlineData", "fileData")
    return {**dict.fromkeys(unset), "executableCode": None, "codeExecutionResult": None, **fields}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_candidate_that_stopped_for_an_unknown_reason_with_nothing_is_no_answer(serve, transport, stream: bool):
    # finishReason OTHER ("Unknown reason") on a candidate without content was an empty success: the call was
    # answered "" and the cascade stopped there. It is a failed attempt, recorded at the usage it reported.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "finish": "OTHER", "usage": {"promptTokenCount": 40, "candidatesTokenCount": 0}})
    with pytest.raises(E.MalformedResponseError, match=r"no usable answer \(finishReason: OTHER\)") as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert info.value.moves_on and info.value.usage.input_tokens == 40 and fake.violations == []
    # with text before it stopped, the text is the (unfinished) answer, as before
    fake.queue({"text": "Hello th", "finish": "OTHER"})
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason) == ("Hello th", "other")


@pytest.mark.parametrize("stream", [False, True])
def test_a_response_that_writes_its_unset_fields_as_null_is_read_as_google_reads_it(stream: bool):
    # proto3's JSON reads a null as the field left unset, and a gateway that writes whole messages (google-genai's
    # model_dump, a typed proxy) sends every Part with "text": null beside its functionCall: each tool call came out
    # as "unexpected TypeError while handling the response", a failed attempt of unknown cost.
    chunk = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        _part(text="Let me check.", thought=None),
                        _part(text="hidden", thought=True),
                        _part(functionCall={"id": None, "name": "get_weather", "args": {"city": "Oslo"}}),
                    ],
                },
                "finishReason": "STOP",
                "finishMessage": None,
                "safetyRatings": None,
                "index": 0,
            }
        ],
        "promptFeedback": None,
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "thoughtsTokenCount": None},
        "modelVersion": "gemini-2.5-flash",
        "responseId": None,
    }
    wire = GeminiFormat()
    if stream:
        acc = wire.accumulator(provider="google", model="gemini-2.5-flash")
        acc.absorb(chunk)
        result = acc.finish()
    else:
        result = wire.parse_response(chunk, provider="google", model="gemini-2.5-flash")
    assert result.text == "Let me check." and result.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 9)
    # a call without the name the spec requires is a malformed answer (priced from usageMetadata where it is read)
    chunk["candidates"][0]["content"]["parts"] = [_part(functionCall={"args": {}})]
    with pytest.raises(E.MalformedResponseError, match="functionCall without a name"):
        wire.parse_response(chunk, provider="google", model="gemini-2.5-flash")
    assert wire.usage_in(chunk).input_tokens == 20


def test_finish_reason_unspecified_on_a_streamed_chunk_is_not_the_answers_end():
    # FINISH_REASON_UNSPECIFIED, the enum's zero value ("unused"), stamped on each chunk before the last by a gateway
    # writing every field: taken for the end, the stream was read on only while chunks came within a second of each
    # other (a thinking pause cut the answer there), and the counts so far were priced as the whole answer's
    acc = GeminiFormat().accumulator(provider="google", model="gemini-2.5-flash")

    def chunk(text: str, finish: str, candidates: int) -> dict:
        counts = {"promptTokenCount": 20, "candidatesTokenCount": candidates}
        parts = [{"text": text}]
        return {"candidates": [{"content": {"parts": parts}, "finishReason": finish}], "usageMetadata": counts}

    assert acc.absorb(chunk("Hello", "FINISH_REASON_UNSPECIFIED", 1)) == "Hello"
    assert not acc.complete() and acc.usage_so_far() is None
    acc.absorb(chunk(" there", "STOP", 4))
    assert acc.complete()
    result = acc.finish()
    assert (result.text, result.finish_reason, result.warnings) == ("Hello there", "stop", [])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 4)


def test_finish_reason_unspecified_after_a_real_stop_keeps_the_stop():
    # a gateway writing every field stamps the zero value on a chunk after the one that said STOP (its usage alone,
    # or an empty part): it overwrote the STOP, and the whole answer read as stopped early (finish_reason "other",
    # with a warning that it may not be whole)
    acc = GeminiFormat().accumulator(provider="google", model="gemini-2.5-flash")
    counts = {"promptTokenCount": 20, "candidatesTokenCount": 4}
    acc.absorb({"candidates": [{"content": {"parts": [{"text": "Hello there"}]}, "finishReason": "STOP"}]})
    trailing = {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "FINISH_REASON_UNSPECIFIED"}]}
    assert acc.absorb({**trailing, "usageMetadata": counts}) == ""
    assert acc.complete()
    result = acc.finish()
    assert (result.text, result.finish_reason, result.warnings) == ("Hello there", "stop", [])
    # the trailing chunk's counts, after the end, are the answer's
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 4)
    # and a real reason after it still ends the answer as it says (MAX_TOKENS after a gateway's early STOP)
    acc = GeminiFormat().accumulator(provider="google", model="gemini-2.5-flash")
    acc.absorb({"candidates": [{"content": {"parts": [{"text": "Hel"}]}, "finishReason": "FINISH_REASON_UNSPECIFIED"}]})
    acc.absorb({"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "MAX_TOKENS"}]})
    acc.absorb({**trailing, "usageMetadata": counts})
    assert acc.finish().finish_reason == "length"


@pytest.mark.parametrize("finish", ["FINISH_REASON_UNSPECIFIED", "NO_IMAGE", "IMAGE_OTHER"])
def test_other_finish_reasons_with_no_content_are_no_answer(finish: str):
    body = {
        "candidates": [{"finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }
    with pytest.raises(E.MalformedResponseError, match=finish):
        GeminiFormat().parse_response(body, provider="google", model="gemini-x")


@pytest.mark.parametrize("stream", [False, True])
async def test_an_empty_candidate_that_says_stop_is_no_answer(serve, transport, stream: bool):
    # Gemini at times answers a candidate with finishReason STOP and no content at all: it was an empty success,
    # so the cascade stopped at "" instead of asking again or moving on.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "usage": {"promptTokenCount": 30, "candidatesTokenCount": 0}})
    with pytest.raises(E.MalformedResponseError, match=r"no usable answer \(finishReason: STOP, with no content\)"):
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    # a picture with no text is content (an image model's answer): not an empty candidate
    fake.queue({"text": None, "image": True})
    result = await provider.complete(LLMRequest([Message("user", "Draw")], max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason) == ("", "stop") and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_candidate_of_only_whitespace_that_says_stop_is_no_answer(serve, transport, stream: bool):
    # As OpenAI's and Claude's answers are (empty_answers.no_answer): a STOP with only "\n" in it was a success whose
    # text was nothing, where the same answer from any other vendor moves on to the next target.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "\n", "usage": {"promptTokenCount": 30, "candidatesTokenCount": 1}})
    with pytest.raises(
        E.MalformedResponseError, match=r"no usable answer \(finishReason: STOP, with no content\)"
    ) as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert info.value.usage.input_tokens == 30 and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_picture_in_the_answer_that_is_not_returned_is_said(serve, transport, stream: bool):
    # An image model (gemini-2.5-flash-image) answers with pictures, billed at $30 per million tokens, which magsag does
    # not return: an answer of a picture alone came back as "" with no warning at all, a success that said nothing,
    # and one with text beside it lost the picture without a word. Each now says what was left out, and the fix.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-2.5-flash-image")
    fake.queue({"text": None, "image": True}, {"text": "Here is your cat.", "image": True}, {"text": "No picture."})
    request = LLMRequest([Message("user", "Draw a cat")], max_tokens=2000, stream=stream)
    alone, beside, plain = [await provider.complete(request, target) for _ in range(3)]
    assert (alone.text, beside.text, plain.text) == ("", "Here is your cat.", "No picture.")
    assert alone.warnings == [
        "google:gemini-2.5-flash-image answered with 1 picture (image/png) and no text: magsag returns only an "
        "answer's text, and it is billed all the same; route calls that want text to a text model"
    ]
    assert beside.warnings == [alone.warnings[0].replace("and no text", "beside its text")]
    assert plain.warnings == [] and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_gemini_stopped_for_an_unknown_reason_says_it_may_not_be_whole(serve, transport, stream: bool):
    # finishReason OTHER ("Unknown reason") after some text: the text is returned, as the answer so far, but with
    # nothing said a caller that reads the text alone (an MCP client, most agents) took "Hello th" for a whole
    # answer. It now carries a warning, as an answer max_tokens cut does; a picture model's NO_IMAGE beside its
    # text (the text is whole: only the picture is missing) carries none of it.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue(
        {"text": "Hello th", "finish": "OTHER"},
        {"text": "Here is a cat.", "finish": "NO_IMAGE"},
        {"text": "Hello there."},
    )
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream)
    cut, no_image, whole = [await provider.complete(request, target) for _ in range(3)]
    assert (cut.text, cut.finish_reason) == ("Hello th", "other")
    assert cut.warnings == [
        f"google:{target.model} stopped its answer early (finishReason: OTHER): it may not be whole; ask again, or "
        "use another model"
    ]
    assert no_image.text == "Here is a cat." and no_image.warnings == [] and whole.warnings == []
    assert fake.violations == []


async def test_an_answer_without_a_finish_reason_says_the_model_had_not_stopped(serve, transport):
    # Candidate.finishReason: "If empty, the model has not stopped generating tokens." A whole (unstreamed) answer
    # without one was read as "other", its text returned as a whole answer with nothing said. (A stream without one is
    # cut short, and asked again.)
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "Hello th", "finish": None}, {"text": "Hello there."})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50)
    cut, whole = [await provider.complete(request, target) for _ in range(2)]
    assert (cut.text, cut.finish_reason) == ("Hello th", "other")
    assert cut.warnings == [
        f"google:{target.model} answered without a finishReason, which says the model had not stopped generating: the "
        "answer may not be whole; ask again, or use another model"
    ]
    assert whole.warnings == [] and fake.violations == []


async def test_a_candidate_with_nothing_in_it_and_no_finish_reason_says_what_came_at_its_usage(serve, transport):
    # A whole (unstreamed) answer whose candidate came with no parts and no finishReason (the model had not stopped):
    # it failed as "response has no candidates", which a candidate had come, and without the usage it reported (the
    # prompt's tokens are billed), so the attempt was recorded at no known cost
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "finish": None})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50), target)
    assert info.value.message == (
        f"google:{target.model}: no usable answer (a candidate with no content and no finishReason: the model had not "
        "stopped)"
    )
    assert info.value.moves_on
    assert info.value.usage is not None and info.value.usage.reported and info.value.usage.input_tokens > 0
    # no candidate at all is said as such
    chunk = {"usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}
    with pytest.raises(E.MalformedResponseError, match="response has no candidates") as info:
        GeminiFormat().parse_response(chunk, provider="google", model="gemini-2.5-pro")
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


@pytest.mark.parametrize("stream", [False, True])
def test_a_finish_reason_newer_than_the_reader_says_the_answer_may_not_be_whole(stream: bool):
    chunk = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Partial"}]},
                "finishReason": "SOMETHING_NEW",
                "finishMessage": "Stopped by the new check.",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
    }
    wire = GeminiFormat()
    if stream:
        acc = wire.accumulator(provider="google", model="gemini-x")
        acc.absorb(chunk)
        result = acc.finish()
    else:
        result = wire.parse_response(chunk, provider="google", model="gemini-x")
    assert result.text == "Partial" and result.finish_reason == "other"
    assert result.warnings == [
        "google:gemini-x stopped its answer early (finishReason: SOMETHING_NEW: Stopped by the new check.): it may "
        "not be whole; ask again, or use another model"
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_thought_summaries_reach_neither_the_answer_nor_its_progress_and_are_billed_as_output(
    serve, transport, stream: bool
):
    # thinkingConfig.includeThoughts: the model's thought summaries come as parts with thought: true before the
    # answer (streamed, in chunks of their own). They are not the answer (nor its deltas), and thoughtsTokenCount,
    # counted apart from candidatesTokenCount, is output all the same; thinking that spends all of maxOutputTokens
    # leaves an answer of nothing, which says so.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-2.5-flash")
    usage = {"promptTokenCount": 30, "candidatesTokenCount": 4, "thoughtsTokenCount": 120}
    fake.queue(
        {"thoughts": ["**Weighing it**\n\nThe user wants a greeting."], "text": "Hello there, friend.", "usage": usage},
        {
            "thoughts": ["**Planning**"],
            "text": None,
            "finish": "MAX_TOKENS",
            "usage": {**usage, "candidatesTokenCount": 0},
        },
    )
    deltas: list[str] = []
    extra = {"thinkingConfig": {"includeThoughts": True}}
    request = LLMRequest([Message("user", "Hi")], max_tokens=124, extra=extra, stream=stream)
    result = await provider.complete(request, target, progress=lambda kind, data: deltas.append(data["text"]))
    assert result.text == "Hello there, friend." and "".join(deltas) == result.text
    assert (result.usage.output_tokens, result.usage.reasoning_tokens) == (124, 120)
    cost = Pricer.from_catalog(None).price("google", "gemini-2.5-flash", result.usage).cost_usd
    assert cost == (30 * D("0.3") + 124 * D("2.5")) / 1_000_000
    spent = await provider.complete(request, target)
    assert (spent.text, spent.finish_reason) == ("", "length")
    assert spent.warnings == [
        "google:gemini-test-001 answered with nothing: it stopped at max_tokens (124) after 120 reasoning tokens, "
        f"which count against it; {RAISE_MAX_TOKENS}"
    ]
    assert fake.violations == [] and last_body(fake)["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}


def test_a_picture_is_named_by_its_mime_type_whatever_field_comes_before_it():
    # a Part may set its mediaResolution (or videoMetadata) before the inlineData it describes
    part = {
        "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"},
        "inlineData": {"mimeType": "image/jpeg", "data": "A"},
    }
    body = {
        "candidates": [{"content": {"parts": [part, {"executableCode": {"code": "1"}}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
    }
    result = GeminiFormat().parse_response(body, provider="google", model="gemini-x")
    assert result.warnings == [
        "google:gemini-x answered with 1 picture (image/jpeg), 1 executableCode part and no text: magsag returns only "
        "an answer's text, and they are billed all the same; route calls that want text to a text model"
    ]


def test_a_gateway_that_writes_its_finish_reason_as_the_enum_number_is_read_without_failing():
    # proto3's JSON takes an enum by its number too: the warning names it as written rather than failing the answer
    body = {
        "candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": 9, "finishMessage": ["odd"]}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
    }
    result = GeminiFormat().parse_response(body, provider="google", model="gemini-x")
    assert result.text == "Hi" and "(finishReason: 9: ['odd'])" in result.warnings[0]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("text", [5, {"value": "hi"}, ["hi"], True])
def test_a_part_whose_text_is_no_string_is_a_malformed_answer_at_its_cost(stream: bool, text: object):
    # A part's text that is no string (a gateway's bug) was counted as a part of another kind: the call succeeded with
    # "" and a warning that the model "answered with 1 text part and no text", where the Messages and Responses APIs'
    # readers call such an answer malformed. It is a failed attempt (another target may answer), at the usage it
    # reported.
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9},
    }
    wire = GeminiFormat()
    name = type(text).__name__
    with pytest.raises(E.MalformedResponseError, match=rf"gemini-x: a part's text is {name}, not a string") as info:
        if stream:
            wire.accumulator(provider="google", model="gemini-x").absorb(chunk)
        else:
            wire.parse_response(chunk, provider="google", model="gemini-x")
    assert info.value.moves_on
    assert wire.usage_in(chunk).input_tokens == 20


@pytest.mark.parametrize("final", ["x", None, 5, "left out"])
def test_a_stream_whose_finishing_chunk_has_no_counts_is_of_unknown_cost(final: object):
    # Every chunk carries the counts so far; the one with the finishReason (or one after it) has the answer's. Where
    # it had none (its usageMetadata no object, or none), the first chunk's counts (1 output token) were priced as the
    # answer's, at a cost said known.
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 1, "totalTokenCount": 21},
    }
    last: dict = {"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}]}, "finishReason": "STOP"}]}
    if final != "left out":
        last["usageMetadata"] = final
    acc = GeminiFormat().accumulator(provider="google", model="gemini-x")
    acc.absorb(first)
    acc.absorb(last)
    result = acc.finish()
    assert result.text == "Hello there" and not result.usage.reported, result.usage
    # counts that come after the finishReason, in a chunk of their own, are the answer's
    acc.absorb({"usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "totalTokenCount": 29}})
    assert (acc.finish().usage.input_tokens, acc.finish().usage.output_tokens) == (20, 9)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_counts_without_the_prompts_are_of_unknown_cost_not_a_free_prompt(stream: bool):
    # protobuf's JSON leaves out a count of 0, but no call has an empty prompt: a usageMetadata without
    # promptTokenCount (a gateway's) is no count of the prompt, and read as 0 input tokens it priced the call low
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"candidatesTokenCount": 3, "totalTokenCount": 3},
    }
    wire = GeminiFormat()
    if stream:
        acc = wire.accumulator(provider="google", model="gemini-x")
        acc.absorb(answer)
        result = acc.finish()
    else:
        result = wire.parse_response(answer, provider="google", model="gemini-x")
    assert result.text == "Hello" and not result.usage.reported, result.usage


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_words_quoted_in_a_warning_are_on_one_line_and_bounded(serve, transport, stream: bool):
    # finishMessage and modelStatus' message and retirementTime went into the warnings as they came: a message of many
    # lines broke the one-line warning, an escape sequence in it acted on the terminal that showed it, and only its
    # length was bounded
    fake, provider, target = await setup(GOOGLE, serve, transport)
    message = "Stopped:\nline two\r\n\x1b[2J" + "z" * 100_000
    status = {
        "modelStage": "LEGACY",
        "retirementTime": "2027-01-01\n\x1b]0;x\x07",
        "message": "Retiring\nsoon" + "y" * 9999,
    }
    fake.queue({"text": "Hello th", "finish": "OTHER", "finish_message": message, "model_status": status})
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    [early] = [w for w in result.warnings if "stopped its answer early" in w]
    assert "(finishReason: OTHER: Stopped: line two \\x1b[2Jzz" in early and len(early) < 400, early
    [leaving] = [w for w in result.warnings if "retires at" in w]
    assert "retires at 2027-01-01 \\x1b]0;x\\x07 (Retiring soonyy" in leaving and len(leaving) < 400, leaving
    assert all(c.isprintable() for w in result.warnings for c in w), result.warnings
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_finish_message_quoted_in_the_error_of_no_answer_is_on_one_line(serve, transport, stream: bool):
    # The error of a candidate that is no answer (UNEXPECTED_TOOL_CALL, ...) quoted finishMessage with its line breaks
    # and escape sequences, as the warning of an answer stopped early did
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "finish": "UNEXPECTED_TOOL_CALL", "finish_message": "Tool:\r\nnot\x1b[2Joffered"})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    said = info.value.message
    assert "no usable answer (finishReason: UNEXPECTED_TOOL_CALL): Tool: not\\x1b[2Joffered" in said, said
    assert all(c.isprintable() for c in said) and info.value.usage is not None
    assert fake.violations == []
