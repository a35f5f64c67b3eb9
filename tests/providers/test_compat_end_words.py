"""Compatible servers' own words for how an answer ended (watsonx's, Ollama's) and for a tool call (the deprecated
function_call), read as what they mean: each test's
loopback server answers as the named server does (see test_compat_deviations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp import errors as E
from magsag_mcp.types import Target

from .test_compat_deviations import MODEL, TOOLS, USAGE, answered, ask, chunk, server, stream_of

__all__ = ["server"]  # (the fixture, used by name)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_watsonx_time_limit_is_an_answer_cut_at_the_servers_time_limit(server, stream):
    # watsonx's "time_limit" (the request's time limit ran out) was a reason magsag did not know: the cut answer came
    # back finish_reason "other", warned of as an unknown word; it is cut, said as such (not as max_tokens' cut)
    provider, _ = await server(answered("Once upon a", "time_limit", stream))
    result = await provider.complete(ask(stream=stream, max_tokens=500), Target("compat", MODEL))
    assert (result.text, result.finish_reason) == ("Once upon a", "length")
    [said] = [w for w in result.warnings if "time limit" in w]
    assert "stopped at the server's time limit (finish_reason: time_limit): the answer is cut short" in said
    assert not [w for w in result.warnings if "does not know" in w or "max_tokens" in w], result.warnings


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_watsonx_time_limit_before_any_answer_is_a_timeout_at_its_cost(server, stream):
    provider, _ = await server(answered("", "time_limit", stream))
    with pytest.raises(E.ProviderTimeoutError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert "time limit (finish_reason: time_limit) before any answer" in info.value.message
    assert info.value.retryable and info.value.moves_on
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_watsonx_token_limit_is_an_answer_cut_at_the_models_token_limit(server, stream):
    # watsonx's "token_limit" (TextGenResult.stop_reason: "Token limit reached", the model's, prompt and answer
    # together) was a word magsag did not know: the cut answer came back finish_reason "other"; it is a cut, not
    # max_tokens' (raising it would not help), and with nothing the prompt left no room, at its cost
    provider, _ = await server(answered("Once upon a", "token_limit", stream))
    result = await provider.complete(ask(stream=stream, max_tokens=500), Target("compat", MODEL))
    assert (result.text, result.finish_reason) == ("Once upon a", "length")
    [said] = [w for w in result.warnings if "token limit" in w]
    assert "stopped at the model's token limit (finish_reason: token_limit, watsonx's): the answer is cut" in said
    assert "shorten the prompt" in said
    assert not [w for w in result.warnings if "does not know" in w or "max_tokens" in w], result.warnings
    provider, _ = await server(answered("", "token_limit", stream))
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert "token limit (finish_reason: token_limit, watsonx's) before any answer" in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_watsonx_not_finished_on_the_last_word_is_an_answer_said_to_be_incomplete(server, stream):
    # watsonx's "not_finished" ("Possibly more tokens to be streamed") ending an answer: it passed as an "other" end
    # of a word magsag did not know; it is said not to have ended, and with nothing in it there is no answer
    provider, _ = await server(answered("The answer is", "not_finished", stream))
    result = await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert (result.text, result.finish_reason) == ("The answer is", "other")
    [said] = [w for w in result.warnings if "not_finished" in w]
    assert "ended on an answer it had not finished" in said and "may be incomplete" in said
    assert not [w for w in result.warnings if "does not know" in w], result.warnings
    provider, _ = await server(answered("", "not_finished", stream))
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert "not_finished" in info.value.message and "there is no answer" in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


async def test_watsonx_not_finished_on_a_streamed_piece_is_not_the_answers_end(server):
    # mid-stream, "not_finished" says more is to come: the stop after it ends the answer, whole and unwarned
    provider, _ = await server(
        stream_of(
            chunk({"role": "assistant", "content": "Hello"}, finish="not_finished"),
            chunk({"content": " there"}, finish="not_finished"),
            chunk(finish="stop"),
        )
    )
    result = await provider.complete(ask(stream=True), Target("compat", MODEL))
    assert (result.text, result.finish_reason, result.warnings) == ("Hello there", "stop", [])
    assert result.usage.input_tokens == 9


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("word", ["load", "unload"])
async def test_ollamas_load_and_unload_are_no_answer_said_as_such(server, word, stream):
    # Ollama answers a request with no messages by loading (or, keep_alive 0, unloading) the model: done_reason "load"
    # or "unload", passed on by its /v1 endpoint as finish_reason, with empty content. It was an empty answer of a
    # reason magsag did not know; it is no answer, saying what the server did
    provider, _ = await server(answered("", word, stream))
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert f"{word}ed the model instead of answering (finish_reason: {word}" in info.value.message
    assert "does not know" not in info.value.message and info.value.moves_on
    # with text beside it (no server is known to send any), the text is returned with a warning that says the same
    provider, _ = await server(answered("Hello", word, stream))
    result = await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert result.text == "Hello"
    assert [w for w in result.warnings if f"{word}ed the model instead of answering" in w], result.warnings
    assert not [w for w in result.warnings if "does not know" in w]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("text", ["The answer is", ""], ids=["partial", "empty"])
async def test_watsonx_cancelled_is_an_answer_the_server_interrupted(server, text, stream):
    # watsonx's "cancelled": the request was cancelled before the answer ended, as the Responses API's status
    # "cancelled" says (read as the server's interruption): it passed as an unknown end, its partial text returned
    provider, _ = await server(answered(text, "cancelled", stream))
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert "the server interrupted the answer (finish_reason 'cancelled')" in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


def legacy_call_answer(stream: bool) -> Callable[[dict[str, Any]], web.Response]:
    """An answer of the deprecated ``function_call`` (ChatCompletionResponseMessage.function_call: name, and arguments
    as JSON text), finish_reason "function_call", as older compatible servers send it; streamed, its arguments come in
    pieces on the deltas' ``function_call``, as tool_calls' do."""
    if stream:
        return stream_of(
            chunk({"role": "assistant", "content": None, "function_call": {"name": "read_file", "arguments": ""}}),
            chunk({"function_call": {"arguments": '{"path": '}}),
            chunk({"function_call": {"arguments": '"a.txt"}'}}),
            chunk(finish="function_call"),
        )
    message = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
    }
    choice = {"index": 0, "message": message, "finish_reason": "function_call"}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice], "usage": USAGE}
    return lambda _body: web.json_response(body)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_the_legacy_function_call_is_the_answers_tool_call(server, stream):
    # Unread, the call was lost: finish_reason "function_call" (read as "tool_calls") with no call in it, an empty
    # answer failed as no usable answer, the paid call lost
    provider, _ = await server(legacy_call_answer(stream))
    result = await provider.complete(ask(tools=TOOLS, stream=stream), Target("compat", MODEL))
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("read_file", {"path": "a.txt"})]
    assert result.finish_reason == "tool_calls" and result.tool_calls[0].id  # (an id made up: it sent none)
    assert result.usage.input_tokens == 9


#: the deprecated call block as gateways written in Go (on openai-go's structs) write it on every message and delta
#: of an answer that has none: its zero value, an object of two empty strings, neither null nor left out
EMPTY_CALL = {"name": "", "arguments": ""}


def shelled_answer(stream: bool) -> Callable[[dict[str, Any]], web.Response]:
    """A text answer with :data:`EMPTY_CALL` beside its content, on the message or on every delta (the closing one
    too, whose finish_reason is "stop"), and ``tool_calls: []`` beside it."""
    if stream:
        return stream_of(
            chunk({"role": "assistant", "content": "Hello", "function_call": EMPTY_CALL, "tool_calls": []}),
            chunk({"content": " there", "function_call": EMPTY_CALL, "tool_calls": []}),
            chunk({"content": "", "function_call": EMPTY_CALL, "tool_calls": []}, finish="stop"),
        )
    message = {"role": "assistant", "content": "Hello there", "function_call": EMPTY_CALL, "tool_calls": []}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice], "usage": USAGE}
    return lambda _body: web.json_response(body)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_empty_function_call_block_beside_a_text_answer_is_no_call(server, stream):
    # Read as a call, the empty block was a tool call without a function name: the whole text answer, paid for, failed
    # as malformed and the next target was asked (and paid) again
    provider, _ = await server(shelled_answer(stream))
    result = await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert (result.text, result.finish_reason, result.tool_calls) == ("Hello there", "stop", [])
    assert result.warnings == [] and result.usage.input_tokens == 9
