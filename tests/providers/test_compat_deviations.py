"""What OpenAI-compatible servers answer beside the spec, read through the compat provider: each test's loopback
server answers exactly as the named server does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall, ToolSpec
from tests.fakes.request_check import request_problems

pytestmark = pytest.mark.anyio

MODEL = "some/model"
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
TOOLS = [ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [choice],
        **extra,
    }


def events(*chunks: dict[str, Any]) -> str:
    usage = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": []}
    sent = [*chunks, {**usage, "usage": USAGE}]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in sent) + "data: [DONE]\n\n"


@pytest.fixture
async def server() -> AsyncIterator[Callable[..., Any]]:
    """Starts a server whose chat completions ``answer(body)`` answers (a web.Response); returns the compat provider
    at it and the request bodies it was sent. ``takes``: the vendor's own fields (``top_k``) a test sends on purpose,
    beside OpenAI's."""
    started: list[TestServer] = []
    transports: list[Transport] = []
    violations: list[str] = []  # (each request is checked against OpenAI's spec: tests.fakes.request_check)

    async def start(
        answer: Callable[[dict[str, Any]], web.Response], takes: tuple[str, ...] = ()
    ) -> tuple[CompatProvider, list[dict[str, Any]]]:
        bodies: list[dict[str, Any]] = []

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            bodies.append(body)
            violations.extend(request_problems(request.path, body, takes))
            return answer(body)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        started.append(srv)
        transports.append(Transport())
        env = {"MAGSAG_COMPAT_BASE_URL": str(srv.make_url("/v1"))}
        return CompatProvider(env, transports[-1]), bodies

    yield start
    for t in transports:
        await t.aclose()
    for s in started:
        await s.close()
    assert violations == [], "requests not valid by OpenAI's spec were sent"


def stream_of(*chunks: dict[str, Any]) -> Callable[[dict[str, Any]], web.Response]:
    return lambda _body: web.Response(text=events(*chunks), content_type="text/event-stream")


def ask(**kw: Any) -> LLMRequest:
    return LLMRequest(messages=[Message("user", "hi")], **kw)


async def test_a_tool_name_sent_again_on_every_delta_is_the_name_once(server):
    # NVIDIA NIM's MiniMax (and other servers) send the whole function name on every tool-call delta: joined, the
    # call came back named "read_fileread_fileread_file", a tool the caller never offered
    provider, _ = await server(
        stream_of(
            chunk(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": ""},
                        }
                    ],
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "read_file", "arguments": '{"path": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "read_file", "arguments": '"a.txt"}'}}]}),
            chunk(finish="tool_calls"),
        )
    )
    result = await provider.complete(ask(tools=TOOLS, stream=True), Target("compat", MODEL))
    assert result.tool_calls == [ToolCall("call_1", "read_file", {"path": "a.txt"})]


async def test_a_tool_name_streamed_in_pieces_is_still_joined(server):
    # the spec allows a name in pieces, as the arguments come: those are joined as before
    provider, _ = await server(
        stream_of(
            chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "read_"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "file", "arguments": '{"path": "a"}'}}]}),
            chunk(finish="tool_calls"),
        )
    )
    result = await provider.complete(ask(tools=TOOLS, stream=True), Target("compat", MODEL))
    assert result.tool_calls == [ToolCall("call_1", "read_file", {"path": "a"})]


async def test_tool_arguments_streamed_as_an_object_are_the_calls_arguments(server):
    # Venice and other servers stream a call's arguments as the object itself, as an unstreamed answer may give
    # them (which was read): a TypeError joining it to text lost the paid answer, recorded as malformed
    provider, _ = await server(
        stream_of(
            chunk(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": {"path": "a.txt"}},
                        }
                    ],
                }
            ),
            chunk(finish="tool_calls"),
        )
    )
    result = await provider.complete(ask(tools=TOOLS, stream=True), Target("compat", MODEL))
    assert result.tool_calls == [ToolCall("call_1", "read_file", {"path": "a.txt"})]
    assert result.usage.input_tokens == 9


def completion(text: str, finish: str) -> Callable[[dict[str, Any]], web.Response]:
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice], "usage": USAGE}
    return lambda _body: web.json_response(body)


def answered(text: str, finish: str, stream: bool) -> Callable[[dict[str, Any]], web.Response]:
    if stream:
        return stream_of(chunk({"role": "assistant", "content": text}), chunk(finish=finish))
    return completion(text, finish)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("text", ["The answer is", ""], ids=["partial", "empty"])
@pytest.mark.parametrize("finish", ["insufficient_system_resource", "error", "abort"])
async def test_an_answer_the_server_interrupted_is_a_server_error_at_its_cost(server, finish, text, stream):
    # DeepSeek's "insufficient_system_resource" ("the request is interrupted due to insufficient resource of the
    # inference system"), Mistral's "error", vLLM's "abort": the server stopped the answer itself. It passed as a
    # whole answer (finish_reason "other"), a cut one or an empty one, with no word of it; now it is the server's
    # failure, asked again, and recorded at the usage the server reported
    provider, _ = await server(answered(text, finish, stream))
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(stream=stream), Target("compat", MODEL))
    assert info.value.retryable and info.value.moves_on
    assert repr(finish) in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 9


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_mistrals_model_length_is_an_answer_cut_short(server, stream):
    # Mistral's "model_length": the model's context window ended the answer. Read as "other", the cut answer
    # passed as a whole one, without the warning every other length cut gives
    provider, _ = await server(answered("Once upon a", "model_length", stream))
    result = await provider.complete(ask(stream=stream, max_tokens=500), Target("compat", MODEL))
    assert result.finish_reason == "length"
    assert any("context window" in w for w in result.warnings)


#: a zod-validated server's refusal of a field it does not know (Venice's answer to stream_options)
ZOD_REFUSAL = {
    "error": [
        {
            "code": "unrecognized_keys",
            "keys": ["stream_options"],
            "path": [],
            "message": "Unrecognized key(s) in object: 'stream_options'",
        }
    ]
}


async def test_stream_options_a_zod_server_refuses_is_asked_for_unstreamed(server):
    # The error's list of issues was read as no message at all: "compat:some/model: HTTP 400", a bad request of the
    # caller's that stopped the cascade, where the same call unstreamed is answered
    def answer(body: dict[str, Any]) -> web.Response:
        if "stream_options" in body:
            return web.json_response(ZOD_REFUSAL, status=400)
        return completion("Paris.", "stop")(body)

    provider, bodies = await server(answer)
    result = await provider.complete(ask(stream=True), Target("compat", MODEL))
    assert result.text == "Paris." and result.usage.input_tokens == 9
    assert [b.get("stream") for b in bodies] == [True, None]
    assert any("refused 'stream_options'" in w and "Unrecognized key(s)" in w for w in result.warnings)


async def test_a_zod_servers_list_of_issues_is_the_errors_message(server):
    issues = [{"code": "invalid_type", "expected": "number", "received": "string", "path": ["top_k"], "message": "Bad"}]
    provider, _ = await server(lambda _body: web.json_response({"error": issues}, status=400), takes=("top_k",))
    with pytest.raises(E.BadRequestError) as info:
        await provider.complete(ask(extra={"top_k": "x"}), Target("compat", MODEL))
    assert info.value.message.endswith("HTTP 400: top_k: Bad")


@pytest.mark.parametrize(
    "refusal",
    [
        # Groq's (May 2024), no param named beside it
        {"error": {"message": "property 'stream_options' is unsupported, did you mean 'stream'?", "type": "x"}},
        # OpenAI's own words for a field it does not know, which compatible servers and older Azure versions copy
        {"error": {"message": "Unrecognized request argument supplied: stream_options", "param": None, "code": None}},
        # a Go server that decodes strictly
        {"error": {"message": 'json: unknown field "stream_options"', "type": "invalid_request_error"}},
    ],
    ids=["groq", "openai-words", "go"],
)
async def test_stream_options_a_server_refuses_by_name_in_its_message_is_asked_for_unstreamed(server, refusal):
    # The refused field was named only in the message: a bad request of the caller's, which stopped the cascade
    def answer(body: dict[str, Any]) -> web.Response:
        if "stream_options" in body:
            return web.json_response(refusal, status=400)
        return completion("Paris.", "stop")(body)

    provider, bodies = await server(answer)
    result = await provider.complete(ask(stream=True), Target("compat", MODEL))
    assert result.text == "Paris." and [b.get("stream") for b in bodies] == [True, None]
    assert any("refused 'stream_options'" in w for w in result.warnings)


@pytest.mark.parametrize(
    "status, said",
    [
        # TGI (Hugging Face's Inference Endpoints, the Messages API): the prompt and max_tokens past the context
        (
            422,
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens "
            "and 200 `max_new_tokens`",
        ),
        (422, "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000"),
        # the same words through a gateway that keeps OpenAI's error shape
        (
            400,
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 7000 `inputs` "
            "tokens and 2000 `max_new_tokens`",
        ),
    ],
)
async def test_tgis_prompt_past_the_context_is_too_long_for_this_model_not_a_bad_request(server, status, said):
    # a bad request of the caller's stopped the cascade, where a model with a larger context serves the call
    body = {"error": said, "error_type": "validation"} if status == 422 else {"error": {"message": said}}
    provider, _ = await server(lambda _body: web.json_response(body, status=status))
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(max_tokens=200), Target("compat", MODEL))
    assert info.value.moves_on and said in info.value.message


def sse_text(*parts: dict[str, Any] | str) -> str:
    return "".join(p if isinstance(p, str) else f"data: {json.dumps(p)}\n\n" for p in parts)


#: an empty data line: the keep-alive relays and proxies (cli-proxy-api and others) send during a long answer
KEEP_ALIVE = "data:\n\n"
USAGE_CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL, "choices": [], "usage": USAGE}


@pytest.mark.parametrize(
    "stream",
    [
        sse_text(KEEP_ALIVE, chunk({"role": "assistant", "content": "Hello"}), chunk(finish="stop"), USAGE_CHUNK),
        sse_text(chunk({"content": "He"}), "data: \n\n", chunk({"content": "llo"}), chunk(finish="stop"), USAGE_CHUNK),
        # after the finish and the usage, where no [DONE] follows: the answer is whole already
        sse_text(chunk({"content": "Hello"}), {**chunk(finish="stop"), "usage": USAGE}, KEEP_ALIVE),
    ],
    ids=["before-the-answer", "mid-answer", "after-the-end"],
)
async def test_an_empty_keep_alive_event_in_a_stream_is_no_broken_answer(server, stream):
    # It was read as an event that is not JSON: a malformed answer, maybe billed, asked for (and paid) again
    provider, _ = await server(lambda _body: web.Response(text=stream, content_type="text/event-stream"))
    result = await provider.complete(ask(stream=True), Target("compat", MODEL))
    assert (result.text, result.finish_reason, result.usage.input_tokens) == ("Hello", "stop", 9)


def tool_call_answer(finish: str | None, stream: bool) -> Callable[[dict[str, Any]], web.Response]:
    call = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}
    if stream:
        return stream_of(chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]}), chunk(finish=finish))
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    choice = {"index": 0, "message": message, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice], "usage": USAGE}
    return lambda _body: web.json_response(body)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("finish", ["stop", None])
async def test_tool_calls_a_server_finishes_with_stop_finish_as_tool_calls(server, finish, stream):
    # Ollama before 0.3.x, vLLM with a required tool_choice, OVMS and OpenAI's own gpt-4o with a named tool_choice
    # finish an answer of tool calls with "stop" (some with none): the result said "stop" beside its tool calls,
    # which a caller's loop that runs tools on finish_reason "tool_calls" (as the Responses API and Gemini answers
    # here always say) never ran
    provider, _ = await server(tool_call_answer(finish, stream))
    result = await provider.complete(ask(tools=TOOLS, stream=stream), Target("compat", MODEL))
    assert result.tool_calls == [ToolCall("call_1", "read_file", {"path": "a"})]
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "content",
    [
        # DeepSeek-R1's and Qwen3's reasoning inline, where the server has no reasoning parser (vLLM without
        # --reasoning-parser, llama.cpp's --reasoning-format none, Together's and Groq's R1 by default)
        '<think>\nThe user wants {"a": ...}; a is 1.\n</think>\n\n{"a": 1}',
        # the chat template opened <think> in the prompt: the answer holds only its end
        'The user wants {"a": ...}.\n</think>\n\n{"a": 1}',
        '<think>\nfenced, then\n</think>\n```json\n{"a": 1}\n```',
    ],
    ids=["think-block", "closing-tag-only", "then-fenced"],
)
@pytest.mark.parametrize("schema", [None, {"type": "object", "required": ["a"]}], ids=["json-mode", "schema"])
async def test_json_after_a_reasoning_models_inline_thinking_is_the_answer(server, content, schema):
    # The thinking before the document was read as part of it: "returned invalid JSON", a paid answer lost
    provider, _ = await server(completion(content, "stop"))
    result = await provider.complete(ask(json_output=True, json_schema=schema), Target("compat", MODEL))
    assert result.parsed == {"a": 1}


def _parallel_wrapper() -> dict[str, Any]:
    uses = [
        {"recipient_name": "functions.read_file", "parameters": {"path": "a"}},
        {"recipient_name": "functions.read_file", "parameters": {"path": "b"}},
    ]
    arguments = json.dumps({"tool_uses": uses})
    return {"id": "call_9", "type": "function", "function": {"name": "multi_tool_use.parallel", "arguments": arguments}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_openais_multi_tool_use_wrapper_is_the_calls_it_wraps(server, stream):
    # OpenAI's chat models at times wrap parallel calls in their internal multi_tool_use.parallel (a name no caller's
    # tool can have: function names take no dot): the caller got one call of a tool it never offered, and the
    # calls it asked for were lost
    wrapper = _parallel_wrapper()
    if stream:
        answer = stream_of(
            chunk({"role": "assistant", "tool_calls": [{"index": 0, **wrapper}]}), chunk(finish="tool_calls")
        )
    else:
        message = {"role": "assistant", "content": None, "tool_calls": [wrapper]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        body = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "choices": [choice],
            "usage": USAGE,
        }
        answer = lambda _body: web.json_response(body)  # noqa: E731
    provider, _ = await server(answer)
    result = await provider.complete(ask(tools=TOOLS, stream=stream), Target("compat", MODEL))
    assert result.tool_calls == [
        ToolCall("call_9_0", "read_file", {"path": "a"}),
        ToolCall("call_9_1", "read_file", {"path": "b"}),
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_thinking_a_server_counts_only_in_the_total_is_billed_as_output(server, stream):
    # Gemini's OpenAI endpoint (and gateways translating Gemini) leave a thinking model's thoughts out of
    # completion_tokens and out of any details, and count them in total_tokens alone (20 + 424 + 572 = 1016): the 572
    # thinking tokens, billed as output, were recorded and priced as none
    usage = {"prompt_tokens": 20, "completion_tokens": 424, "total_tokens": 1016}
    if stream:
        text = sse_text(chunk({"role": "assistant", "content": "42"}), {**chunk(finish="stop"), "usage": usage})
        answer = lambda _body: web.Response(text=text + "data: [DONE]\n\n", content_type="text/event-stream")  # noqa: E731
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}
        body = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "choices": [choice],
            "usage": usage,
        }
        answer = lambda _body: web.json_response(body)  # noqa: E731
    provider, _ = await server(answer)
    result = await provider.complete(ask(stream=stream), Target("compat", "gemini-2.5-flash"))
    u = result.usage
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.total_tokens) == (20, 996, 572, 1016)


async def test_a_tool_turn_deepseeks_thinking_mode_refuses_moves_on_saying_why(server):
    # DeepSeek's thinking mode refuses a tool turn whose assistant message lacks the reasoning_content it wrote (which
    # magsag does not keep): a bad request of the caller's stopped the cascade, where another target serves the turn
    said = "The reasoning_content in the thinking mode must be passed back to the API."
    body = {"error": {"message": said, "type": "invalid_request_error", "param": None, "code": "invalid_request_error"}}
    provider, _ = await server(lambda _body: web.json_response(body, status=400))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(tools=TOOLS), Target("compat", "deepseek-reasoner"))
    assert info.value.moves_on and said in info.value.message and "without thinking" in info.value.message


async def test_the_usage_groq_streams_in_x_groq_is_the_answers_usage(server):
    # Groq's last chunk carries the usage in its x_groq object, beside the finish_reason (a Groq without
    # stream_options, and gateways passing its chunks on, send no usage chunk after it): the answer's usage was
    # unreported, and its cost unknown
    x_groq = {
        "id": "req_01",
        "usage": {"queue_time": 0.03, "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    text = sse_text(
        chunk({"role": "assistant", "content": "Hello"}), chunk(finish="stop", x_groq=x_groq), "data: [DONE]\n\n"
    )
    provider, _ = await server(lambda _body: web.Response(text=text, content_type="text/event-stream"))
    result = await provider.complete(ask(stream=True), Target("compat", "llama-3.3-70b-versatile"))
    u = result.usage
    assert (result.text, u.reported, u.input_tokens, u.output_tokens) == ("Hello", True, 9, 4)


async def test_refusals_remembered_at_efforts_outside_openais_grow_no_further(transport: Transport):
    # A refused sampling setting is remembered for the reasoning effort it was refused at. A gateway that passes on any
    # effort (where OpenAI answers 400 to one outside its ReasoningEffort) let a caller naming a new effort on every
    # call (its model_config.params) add one more remembered refusal each time, of any length, to the same model's
    refusal = {
        "error": {
            "message": "Unsupported parameter: 'top_p' is not supported with this model.",
            "type": "invalid_request_error",
            "param": "top_p",
            "code": "unsupported_parameter",
        }
    }
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    bodies: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        bodies.append(body)
        return web.json_response(refusal, status=400) if "top_p" in body else web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        provider = CompatProvider({"MAGSAG_COMPAT_BASE_URL": str(srv.make_url("/v1"))}, transport)
        target = Target("compat", MODEL)
        for effort in ["low", "low", *(f"effort-{i}-" + "x" * 1000 for i in range(40)), {"level": 3}]:
            request = LLMRequest([Message("user", "x")], extra={"top_p": 0.5, "reasoning_effort": effort})
            result = await provider.complete(request, target)
            assert result.text == "ok"
    finally:
        await srv.close()
    (refused,) = provider.refused.values()
    assert refused == {"top_p@low", "top_p@other"}  # (OpenAI's efforts each its own; any other one)
    # refused at low once, then left out at once; refused at the first other effort once, then left out at once (the
    # 39 others after it, and the effort given as an object)
    assert len(bodies) == 2 + 1 + 2 + 39 + 1
