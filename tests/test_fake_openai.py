"""The OpenAI fake itself: everything it answers is what the spec says the API answers.

Talks to the fake with a bare aiohttp client (not the code under test), so a fake that drifted from the
spec fails here rather than silently agreeing with a provider bug.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, DEFAULT_KEY, FakeOpenAI
from tests.fakes.spec import spec_validator
from tests.fakes.sse_reader import sse_blocks

pytestmark = pytest.mark.anyio

OPENAI = spec_validator("openai")
AZURE = spec_validator("azure")
AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}], "store": False}
RICH = R.reply(
    "the weather is fine",
    tool_calls=[R.call("get_weather", {"city": "Paris"}), R.call("get_time", {"tz": "CET"})],
    usage=R.tokens(1200, 300, cached=1024, reasoning=128),
)


async def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers or AUTH) as resp:
        if resp.content_type == "text/event-stream":
            return resp.status, dict(resp.headers), await sse_blocks(resp)
        text = await resp.text()
        try:
            return resp.status, dict(resp.headers), json.loads(text)
        except ValueError:
            return resp.status, dict(resp.headers), text


@pytest.fixture
async def fake():
    async with FakeOpenAI().running() as server:
        yield server


async def test_chat_completion_matches_the_spec(fake: FakeOpenAI):
    fake.queue(RICH, R.reply("plain"))
    for _ in range(2):
        status, _, body = await _post(fake.url + "/v1/chat/completions", CHAT)
        assert status == 200
        OPENAI.assert_valid("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"]["content"] == "plain"
    assert fake.violations == []


async def test_chat_stream_chunks_match_the_spec(fake: FakeOpenAI):
    fake.queue(RICH)
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    status, headers, events = await _post(fake.url + "/v1/chat/completions", body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    for chunk in chunks:
        OPENAI.assert_valid("CreateChatCompletionStreamResponse", chunk)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1024
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "the weather is fine"
    args = "".join(
        tc["function"].get("arguments", "")
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
        if tc["index"] == 0
    )
    assert json.loads(args) == {"city": "Paris"}


async def test_chat_stream_without_usage_option_has_no_usage_chunk(fake: FakeOpenAI):
    status, _, events = await _post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert status == 200 and all("usage" not in c for c in chunks)


async def test_response_object_and_events_match_the_spec(fake: FakeOpenAI):
    fake.queue(RICH, RICH, R.reply("cut short", finish="length"))
    status, _, body = await _post(fake.url + "/v1/responses", RESPONSES)
    assert status == 200
    OPENAI.assert_valid("Response", body)
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 1024
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == 128
    assert [item["type"] for item in body["output"]] == ["message", "function_call", "function_call"]

    status, _, events = await _post(fake.url + "/v1/responses", {**RESPONSES, "stream": True})
    assert status == 200
    for name, data in events:
        event = json.loads(data)
        assert name == event["type"]
        OPENAI.assert_valid("ResponseStreamEvent", event)
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    assert [json.loads(d)["sequence_number"] for _, d in events] == list(range(len(events)))

    status, _, body = await _post(fake.url + "/v1/responses", RESPONSES)
    OPENAI.assert_valid("Response", body)
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_a_gateways_responses_stream_still_matches_the_spec(fake: FakeOpenAI):
    # the scripts of a gateway's stream: no response.output_item.done, a terminal output of [], no usage; each event
    # still one the spec has, numbered in order, and a call's other events (added, arguments' delta and done) all sent
    fake.queue(
        R.reply(
            RICH.text, tool_calls=RICH.tool_calls, without_items_done=True, terminal_without_output=True, no_usage=True
        )
    )
    status, _, events = await _post(fake.url + "/v1/responses", {**RESPONSES, "stream": True})
    assert status == 200
    parsed = [json.loads(data) for _, data in events]
    for event in parsed:
        OPENAI.assert_valid("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    kinds = [e["type"] for e in parsed]
    assert "response.output_item.done" not in kinds
    assert kinds.count("response.function_call_arguments.done") == len(RICH.tool_calls) == 2
    assert parsed[-1]["response"]["output"] == [] and "usage" not in parsed[-1]["response"]


async def test_refusals_match_the_spec(fake: FakeOpenAI):
    # chat: message.refusal / delta.refusal with no content; Responses: a `refusal` content part
    refusal = R.Reply(text=None, refusal="I can't help with that.")
    fake.queue(refusal, refusal, refusal, refusal)
    status, _, body = await _post(fake.url + "/v1/chat/completions", CHAT)
    OPENAI.assert_valid("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    _, _, events = await _post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})
    chunks = [json.loads(data) for _, data in events[:-1]]
    for chunk in chunks:
        OPENAI.assert_valid("CreateChatCompletionStreamResponse", chunk)
    assert "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks) == "I can't help with that."
    _, _, body = await _post(fake.url + "/v1/responses", RESPONSES)
    OPENAI.assert_valid("Response", body)
    assert body["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    _, _, events = await _post(fake.url + "/v1/responses", {**RESPONSES, "stream": True})
    for _, data in events:
        OPENAI.assert_valid("ResponseStreamEvent", json.loads(data))
    assert "response.refusal.delta" in [name for name, _ in events]
    assert fake.violations == []


async def test_a_failed_response_matches_the_spec(fake: FakeOpenAI):
    failed = R.reply("never sent", failed={"code": "server_error", "message": "The model failed."})
    fake.queue(failed, failed)
    _, _, body = await _post(fake.url + "/v1/responses", RESPONSES)
    OPENAI.assert_valid("Response", body)
    assert (body["status"], body["error"]["code"], body["output"]) == ("failed", "server_error", [])
    _, _, events = await _post(fake.url + "/v1/responses", {**RESPONSES, "stream": True})
    for _, data in events:
        OPENAI.assert_valid("ResponseStreamEvent", json.loads(data))
    assert events[-1][0] == "response.failed"


async def test_errors_match_the_spec_and_carry_headers(fake: FakeOpenAI):
    fake.queue(
        R.rate_limited(retry_after="3", retry_after_ms="2500", reset_requests="1m30s"),
        R.insufficient_quota(),
        R.context_length_exceeded(),
    )
    status, headers, body = await _post(fake.url + "/v1/chat/completions", CHAT)
    assert status == 429 and headers["Retry-After"] == "3" and headers["retry-after-ms"] == "2500"
    assert headers["x-ratelimit-reset-requests"] == "1m30s"
    OPENAI.assert_valid("ErrorResponse", body)
    for code in ("insufficient_quota", "context_length_exceeded"):
        _, _, body = await _post(fake.url + "/v1/chat/completions", CHAT)
        OPENAI.assert_valid("ErrorResponse", body)
        assert body["error"]["code"] == code


async def test_in_stream_errors_match_the_spec(fake: FakeOpenAI):
    err = R.error(500, "boom", type="server_error", code="server_error", in_stream=True)
    fake.queue(err, err)
    _, _, events = await _post(fake.url + "/v1/responses", {**RESPONSES, "stream": True})
    OPENAI.assert_valid("ResponseErrorEvent", json.loads(events[-1][1]))
    _, _, events = await _post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})
    OPENAI.assert_valid("ErrorResponse", json.loads(events[-1][1]))


async def test_requests_that_break_the_spec_are_refused_and_recorded(fake: FakeOpenAI):
    status, _, body = await _post(fake.url + "/v1/chat/completions", {"model": "gpt-4o", "messages": "hi"})
    assert status == 400
    assert "messages: 'hi' is not of type 'array'" in body["error"]["message"]
    assert fake.violations == ["POST /v1/chat/completions: messages: 'hi' is not of type 'array'"]
    fake.violations.clear()


async def test_bearer_auth_is_checked_and_the_log_records_everything(fake: FakeOpenAI):
    status, _, body = await _post(fake.url + "/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-wrong-0000"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    method, path, query, headers, sent = fake.requests[0]
    assert (method, path, query, sent) == ("POST", "/v1/chat/completions", {}, CHAT)
    assert headers["authorization"] == "Bearer sk-wrong-0000"  # case-insensitive


async def test_azure_route_checks_key_and_api_version_and_answers_azure_shapes(fake: FakeOpenAI):
    url = fake.url + "/openai/deployments/gpt4o-prod/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    status, _, answer = await _post(url + "?api-version=2024-10-21", body, {"api-key": AZURE_KEY})
    assert status == 200
    AZURE.assert_valid("createChatCompletionResponse", answer)
    assert answer["model"] == "gpt4o-prod" and answer["prompt_filter_results"]

    status, _, answer = await _post(url, body, {"api-key": AZURE_KEY})
    assert status == 404
    AZURE.assert_valid("errorResponse", answer)
    status, _, answer = await _post(url + "?api-version=2024-10-21", body, {"api-key": "wrong"})
    assert status == 401
    AZURE.assert_valid("errorResponse", answer)

    fake.queue(R.reply("streamed"))
    status, _, events = await _post(url + "?api-version=2024-10-21", {**body, "stream": True}, {"api-key": AZURE_KEY})
    for _, data in events[:-1]:
        AZURE.assert_valid("createChatCompletionStreamResponse", json.loads(data))


async def test_models_list_matches_the_spec(fake: FakeOpenAI):
    async with aiohttp.ClientSession() as session, session.get(fake.url + "/v1/models", headers=AUTH) as resp:
        OPENAI.assert_valid("ListModelsResponse", await resp.json())


@pytest.mark.parametrize("kind", ["ollama", "fastapi", "method", "not-implemented", "unsupported-400"])
async def test_servers_without_the_responses_api(fake: FakeOpenAI, kind: str):
    fake.without_responses_api(kind).queue(R.reply("from chat"))
    status, _, _ = await _post(fake.url + "/v1/responses", RESPONSES)
    assert status in (400, 404, 405, 501)
    status, _, body = await _post(fake.url + "/v1/chat/completions", CHAT)
    assert status == 200 and body["choices"][0]["message"]["content"] == "from chat"


async def test_a_cut_stream_drops_the_connection(fake: FakeOpenAI):
    fake.queue(R.reply("one two three four five", cut_after=3))
    with pytest.raises(aiohttp.ClientPayloadError):
        await _post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})


async def test_tool_calls_and_names_the_api_refuses_are_refused_as_it_refuses_them(fake: FakeOpenAI):
    # Chat Completions answers 400 to an assistant message whose calls the tool messages after it do not all answer,
    # and to a function name outside its pattern; the Responses API to a function name outside its pattern
    call = {"id": "call_r2d", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    unanswered = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    status, _, body = await _post(fake.url + "/v1/chat/completions", {**CHAT, "messages": unanswered})
    OPENAI.assert_valid("ErrorResponse", body)
    assert status == 400 and body["error"]["message"].endswith("did not have response messages: call_r2d")
    answered = [*unanswered, {"role": "tool", "tool_call_id": "call_r2d", "content": "42"}]
    status, _, _ = await _post(fake.url + "/v1/chat/completions", {**CHAT, "messages": answered})
    assert status == 200
    dotted = {"type": "function", "function": {"name": "github.create_issue", "parameters": {"type": "object"}}}
    status, _, body = await _post(fake.url + "/v1/chat/completions", {**CHAT, "tools": [dotted]})
    assert status == 400 and body["error"]["param"] == "tools[0].function.name"
    flat = {"type": "function", "name": "github.create_issue", "parameters": {"type": "object"}, "strict": False}
    status, _, body = await _post(fake.url + "/v1/responses", {**RESPONSES, "tools": [flat]})
    assert status == 400 and body["error"]["param"] == "tools[0].name" and fake.violations == []
