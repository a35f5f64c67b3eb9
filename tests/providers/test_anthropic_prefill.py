"""Anthropic's Messages API: a call that ends with the assistant's message (a prefill the answer continues):
trailing whitespace, a continuation that adds nothing, a JSON document the prefill starts, and a model that
takes no prefill."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .anthropic_helpers import ANTHROPIC, ITEM
from .test_wire import last_body, setup

pytestmark = pytest.mark.anyio


async def test_a_prefill_ending_in_whitespace_is_sent_without_it(serve, transport):
    # A final assistant turn is a prefill the answer continues; the API answers 400 "final assistant content
    # cannot end with trailing whitespace" to "Answer: ", a bad request that stopped the cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "42"})
    turns = [Message("user", "Six times seven?"), Message("assistant", "Answer: \n")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert result.text == "42" and fake.violations == []
    assert last_body(fake)["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Answer:"}]}
    # an earlier assistant turn is history, sent as it was
    fake.queue({"text": "ok"})
    turns = [Message("user", "a"), Message("assistant", "b \n"), Message("user", "c")]
    await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert last_body(fake)["messages"][1]["content"] == [{"type": "text", "text": "b \n"}]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_prefill_the_model_adds_nothing_to_is_the_answer(serve, transport, stream: bool):
    # A call that ends with the assistant's message (a prefill) asks the model to continue it; one already whole
    # is answered end_turn with no content (Anthropic: "Claude already decided it's done"). That empty
    # continuation was taken for no answer: the call failed, or went on to the next target, which answered the
    # conversation again, and both were paid for.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": None, "finish": "end_turn", "usage": {"input_tokens": 20, "output_tokens": 1}})
    turns = [Message("user", "Six times seven? Answer with the number."), Message("assistant", "42")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason, result.tool_calls) == ("", "stop", [])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 1) and fake.violations == []
    # a tool_use stop with no call in it is no answer, prefill or not; so is an empty end_turn after a user turn
    fake.queue({"text": None, "finish": "tool_use", "usage": {"input_tokens": 20, "output_tokens": 1}})
    with pytest.raises(E.MalformedResponseError, match="no usable answer"):
        await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    fake.queue({"text": None, "finish": "end_turn", "usage": {"input_tokens": 20, "output_tokens": 1}})
    with pytest.raises(E.MalformedResponseError, match="no usable answer"):
        await provider.complete(LLMRequest(turns[:1], max_tokens=50, stream=stream), target)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_json_answer_that_continues_a_prefill_is_the_whole_document(serve, transport, stream: bool):
    # Prefilling "{" is Anthropic's own way to have Claude answer in JSON; the answer continues the prefill, so its
    # text alone ('"Oslo", "c": 3}') is no document. A JSON call with one failed as "returned invalid JSON", always,
    # after the answer was paid for, and went on to the next target. The document is the prefill and what follows.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '"Oslo", "c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"city":\n')]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"city": "Oslo", "c": 3} and json.loads(result.text) == result.parsed
    assert last_body(fake)["messages"][-1]["content"] == [{"type": "text", "text": '{"city":'}]
    assert fake.violations == []
    # a prefill that is the whole document already, which the model adds nothing to
    fake.queue({"text": None, "finish": "end_turn"})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"c": 3}')]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3} and result.text == '{"c": 3}'
    # without JSON asked for, the answer is the continuation, as the API gives it
    fake.queue({"text": "42."})
    turns = [Message("user", "Six times seven?"), Message("assistant", "The answer is")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    assert result.text.strip() == "42."


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-opus-4-7", "claude-fable-5"])
async def test_a_json_call_prefilled_with_a_bare_brace_goes_to_a_model_that_takes_no_prefill_without_it(
    serve, transport, stream: bool, model: str
):
    # Claude Opus 4.6, Sonnet 4.6 and the models after them refuse a prefill (400 "This model does not support
    # assistant message prefill"): a JSON call prefilled with "{" (Anthropic's own way to start Claude's JSON) never
    # got an answer from them, and moved on. What it asks for, JSON mode gives whole: it is sent without the prefill.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model=model)
    fake.fixed_temperature = frozenset()
    fake.queue({"text": '{"c": 3}'}, {"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"name": "a"}}]})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{ ")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3} and fake.violations == [] and len(fake.requests) == 1
    assert last_body(fake)["messages"][-1]["role"] == "user"
    assert result.warnings == [
        f"{model} takes no prefill: the JSON call went without its '{{', and the answer is the whole document"
    ]
    request = LLMRequest(turns, max_tokens=50, json_schema=ITEM, stream=stream)
    assert (await provider.complete(request, target)).parsed == {"name": "a"} and len(fake.requests) == 2
    # a prefill that says more than where the document starts is the call's to keep: the model refuses it
    with pytest.raises(E.UnsupportedFeatureError):
        await provider.complete(replace(request, messages=[turns[0], Message("assistant", '{"city":')]), target)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_json_answer_after_a_prefill_of_prose_is_the_answer_alone(serve, transport, stream: bool):
    # A prefill that is no start of a JSON document ("Here is the JSON:"), after which Claude writes the whole
    # document: joined to it, the answer was "Here is the JSON:{...}", invalid JSON, paid for, and the cascade went
    # on. Only a prefill that starts the document ("{", "[", a code fence) is part of it.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": ' {"city": "Oslo", "c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "Here is the JSON:")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"city": "Oslo", "c": 3} and json.loads(result.text) == result.parsed
    # a code fence opened by the prefill is the document's start, as "{" is
    fake.queue({"text": '\n{"c": 3}\n```'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "```json")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3}
    assert fake.violations == []


async def test_a_streamed_json_answer_that_continues_a_prefill_reaches_progress_whole(serve, transport):
    # The document is the prefill ("{") and what follows it: the deltas carried what follows alone, '"Oslo", "c": 3}',
    # which a caller rendering them showed as the answer, no JSON document.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '"Oslo", "c": 3}'})
    deltas: list[str] = []

    async def progress(event: str, data: dict) -> None:
        deltas.append(data["text"])

    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"city":\n')]
    request = LLMRequest(turns, max_tokens=50, json_output=True, stream=True)
    result = await provider.complete(request, target, progress=progress)
    assert result.parsed == {"city": "Oslo", "c": 3} and "".join(deltas) == result.text


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_whose_name_does_not_tell_that_refuses_a_bare_json_prefill_is_sent_the_call_without_it(
    serve, transport, stream: bool
):
    # A gateway's alias for Claude Sonnet 4.6 ("prod-claude") does not tell that the model takes no prefill: a JSON
    # call prefilled with a bare "{" (Anthropic's own way to start Claude's JSON), which goes without it to a model
    # named so, was refused (400 "does not support assistant message prefill") and moved on, every call. As for a
    # sampler such a model refuses, the refusal (unbilled) is learned: the call is sent again without the prefill, and
    # so is every later one to that model; another model behind the same gateway keeps its prefill.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    alias = replace(target, model="prod-claude")
    fake.no_prefill = frozenset({"prod-claude"})
    fake.queue({"text": '{"c": 3}'}, {"text": '{"c": 4}'}, {"text": ' "c": 5}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{")]
    request = LLMRequest(turns, max_tokens=50, json_output=True, stream=stream)
    result = await provider.complete(request, alias)
    assert result.parsed == {"c": 3} and len(fake.requests) == 2 and fake.violations == []
    assert last_body(fake)["messages"][-1]["role"] == "user"
    assert any("takes no prefill" in w for w in result.warnings), result.warnings
    assert (await provider.complete(request, alias)).parsed == {"c": 4} and len(fake.requests) == 3
    other = replace(target, model="claude-3-5-sonnet-20241022")
    assert (await provider.complete(request, other)).parsed == {"c": 5}
    assert last_body(fake)["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
