"""The local and compat providers, and Azure, against answers real servers give that the specs do not: each
server here is a loopback aiohttp app that answers as the real one does."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.attempt_cost import price_failure
from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import AzureProvider, CompatProvider
from magsag_mcp.records import AttemptRecord
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.fakes.request_check import request_problems
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

Handler = Callable[[dict[str, Any]], web.StreamResponse | web.Response]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[str, Handler], Any]]:
    """Start a server answering POST ``path`` with ``handler(body)``; its URL is returned, and its bodies kept
    in ``bodies``."""
    started: list[TestServer] = []
    violations: list[str] = []  # (each request is checked against its vendor's spec: tests.fakes.request_check)

    async def start(path: str, handler: Handler) -> tuple[str, list[Any]]:
        bodies: list[Any] = []

        async def handle(request: web.Request) -> web.StreamResponse:
            bodies.append(await request.json())
            violations.extend(request_problems(request.path, bodies[-1]))
            return handler(bodies[-1])

        app = web.Application()
        app.router.add_post(path, handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(server)
        return str(server.make_url("")).rstrip("/"), bodies

    yield start
    for s in started:
        await s.close()
    assert violations == [], "requests not valid by their vendor's spec were sent"


def ollama_response(
    body: dict[str, Any], text: str | None, *, thinking: str | None = None, output_tokens: int | None = None
) -> dict[str, Any]:
    """What Ollama's /v1/responses answers once generation stopped at num_predict (``max_output_tokens``): status
    "completed" and no incomplete_details whatever stopped it (its openai/responses.go), its output tokens (the
    thinking's among them) as many as were allowed, the limit echoed."""
    output: list[dict[str, Any]] = []
    if thinking is not None:
        summary = [{"type": "summary_text", "text": thinking}]
        output.append({"id": "rs_1", "type": "reasoning", "summary": summary, "encrypted_content": thinking})
    if text is not None:
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        output.append({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [part]})
    limit = body["max_output_tokens"]
    output_tokens = limit if output_tokens is None else output_tokens
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "incomplete_details": None,
        "model": body["model"],
        "output": output,
        "max_output_tokens": limit,
        "usage": {
            "input_tokens": 12,
            "output_tokens": output_tokens,
            "total_tokens": 12 + output_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def ollama(text: str | None, **kw: Any) -> Handler:
    return lambda body: web.json_response(ollama_response(body, text, **kw))


def ollama_stream(text: str) -> Handler:
    def handle(body: dict[str, Any]) -> web.Response:
        final = ollama_response(body, text)
        events = [
            {"type": "response.output_text.delta", "delta": text},
            {"type": "response.completed", "response": final},
        ]
        sse = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
        return web.Response(text=sse, content_type="text/event-stream")

    return handle


@pytest.mark.parametrize("stream", [False, True])
async def test_an_ollama_answer_stopped_at_max_tokens_is_cut_not_whole(serve, transport: Transport, stream: bool):
    # Ollama's Responses API says "completed" of an answer num_predict stopped: it was returned as whole
    # (finish_reason "stop"), where Ollama's chat completions said "length"
    url, _ = await serve(
        "/v1/responses",
        ollama_stream("The three causes are: first, the") if stream else ollama("The three causes are: first, the"),
    )
    result = await LocalProvider({}, transport).complete(
        ask(max_tokens=64, stream=stream), Target("local", "llama3.1:70b", base_url=url)
    )
    assert result.text == "The three causes are: first, the" and result.finish_reason == "length"


async def test_an_ollama_json_answer_stopped_at_max_tokens_says_to_raise_max_tokens(serve, transport: Transport):
    url, _ = await serve("/v1/responses", ollama('{"items": [1, 2, 3, 4, 5'))
    with pytest.raises(E.InvalidOutputError) as info:
        await LocalProvider({}, transport).complete(
            ask("list them as json", max_tokens=64, json_output=True), Target("local", "llama3.1:70b", base_url=url)
        )
    assert "cut short by max_tokens" in info.value.message and "raise max_tokens" in info.value.message


async def test_an_ollama_model_that_thought_until_max_tokens_says_to_raise_max_tokens(serve, transport: Transport):
    # qwen3 or gpt-oss spent the whole allowance thinking: no text. It was "no usable answer" (another target
    # tried, the fix unsaid), not the answer max_tokens cut before any of it was written
    url, _ = await serve("/v1/responses", ollama(None, thinking="Let me consider each of the causes in turn"))
    result = await LocalProvider({}, transport).complete(ask(max_tokens=64), Target("local", "qwen3:8b", base_url=url))
    assert result.text == "" and result.finish_reason == "length"
    assert any("raise max_tokens" in w for w in result.warnings)


async def test_an_ollama_answer_under_max_tokens_is_whole(serve, transport: Transport):
    url, _ = await serve("/v1/responses", ollama("Paris.", output_tokens=3))
    result = await LocalProvider({}, transport).complete(ask(max_tokens=64), Target("local", "m", base_url=url))
    assert (result.text, result.finish_reason) == ("Paris.", "stop")


@pytest.mark.parametrize("api", [None, "responses"])
async def test_a_prompt_azures_content_filter_refused_is_billed_and_its_cost_unknown(
    fake_openai: FakeOpenAI, transport: Transport, api: str | None
):
    # "When content filtering is triggered for a prompt and a status 400 is received ... there will be a charge
    # for this request as the prompt was evaluated by the service" (Azure's content filtering docs), for the
    # prompt's tokens and the completion's: the attempt was recorded at $0, and budgets counted nothing of it
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
            },
        }
    }
    fake_openai.queue(R.error(400, raw=json.dumps(body), content_type="application/json"))
    env = {
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": fake_openai.url,
        "AZURE_OPENAI_API_VERSION": "v1",
    }
    target = Target("azure", "gpt-4o", params=(("api", api),) if api else ())
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(), target)
    assert info.value.moves_on and info.value.maybe_billed

    record = AttemptRecord("run-1", 0.0, "azure", "gpt-4o", None, None, "error", 0, 1)
    price_failure(Pricer(), record, info.value, target, None, ask())
    assert record.cost_usd is None and record.cost_bound_usd is not None and record.cost_bound_usd > 0


def compat_at(url: str, transport: Transport) -> CompatProvider:
    return CompatProvider({"MAGSAG_COMPAT_BASE_URL": url + "/v1", "MAGSAG_COMPAT_API_KEY": "sk-compat-test"}, transport)


def chat_stream(*chunks: dict[str, Any]) -> Handler:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return lambda _body: web.Response(text=text, content_type="text/event-stream")


def chunk(delta: dict[str, Any], finish: str | None = None, **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1741252964,
        "model": "kimi-k2.6",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **choice}],
    }


async def test_kimis_stream_usage_inside_its_last_choice_is_the_usage(serve, transport: Transport):
    # Moonshot's (Kimi's) stream puts the usage in the last chunk's choice, not beside the choices: every streamed
    # call was "answered without reporting its token usage", its cost unknown and counted at the worst case
    usage = {"prompt_tokens": 1039, "completion_tokens": 211, "total_tokens": 1250}
    url, bodies = await serve(
        "/v1/chat/completions",
        chat_stream(
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Paris."}),
            chunk({}, "stop", usage=usage),
        ),
    )
    result = await compat_at(url, transport).complete(ask(stream=True), Target("compat", "kimi-k2.6"))
    assert bodies[0]["stream_options"] == {"include_usage": True}
    assert result.text == "Paris." and result.usage.reported
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1039, 211)


DEEPSEEK_ANSWER = {
    "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
    "object": "chat.completion",
    "created": 1741252964,
    "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    # DeepSeek's cache hits: prompt_cache_hit_tokens (+ prompt_cache_miss_tokens = prompt_tokens)
    "usage": {
        "prompt_tokens": 10000,
        "completion_tokens": 100,
        "total_tokens": 10100,
        "prompt_cache_hit_tokens": 9000,
        "prompt_cache_miss_tokens": 1000,
    },
}


@pytest.mark.parametrize("vendor", ["deepseek", "kimi"])
async def test_cache_hits_a_compatible_vendor_reports_in_its_own_field_are_priced_as_cache_reads(
    serve, transport: Transport, vendor: str
):
    # DeepSeek counts them in usage.prompt_cache_hit_tokens, Kimi in usage.cached_tokens, neither in
    # prompt_tokens_details: every cache hit was priced at the full input rate (DeepSeek's is 10x its cache's)
    if vendor == "deepseek":
        url, _ = await serve("/v1/chat/completions", lambda _body: web.json_response(DEEPSEEK_ANSWER))
        model, request = "deepseek-chat", ask()
    else:
        usage = {"prompt_tokens": 10000, "completion_tokens": 100, "total_tokens": 10100, "cached_tokens": 9000}
        url, _ = await serve(
            "/v1/chat/completions", chat_stream(chunk({"content": "Paris."}), chunk({}, "stop", usage=usage))
        )
        model, request = "kimi-k2.6", ask(stream=True)
    result = await compat_at(url, transport).complete(request, Target("compat", model))
    assert (result.usage.input_tokens, result.usage.cached_tokens) == (10000, 9000)
    prices = UnitPrices(Decimal("0.27"), Decimal("1.10"), cache_read=Decimal("0.027"))
    quote = Pricer([(f"compat:{model}", prices)]).price("compat", model, result.usage)
    # 1,000 uncached at 0.27, 9,000 cached at 0.027, 100 out at 1.10 (USD per million)
    assert quote.cost_usd == Decimal("0.000623")


def mistral(body: dict[str, Any]) -> web.Response:
    """Mistral's chat completions: a schema that forbids what it does not know (``stream_options``: it reports
    a stream's usage unasked), refused 422 in its own shape."""
    if "stream_options" in body:
        problem = {"type": "extra_forbidden", "loc": ["body", "stream_options", "include_usage"]}
        problem.update(msg="Extra inputs are not permitted", input=True)
        refusal = {"object": "error", "message": {"detail": [problem]}, "type": "invalid_request_error"}
        return web.json_response({**refusal, "param": None, "code": None}, status=422)
    answer = {**DEEPSEEK_ANSWER, "model": body["model"]}
    answer["usage"] = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    return web.json_response(answer)


async def test_a_stream_mistral_refuses_for_its_stream_options_is_asked_for_unstreamed(serve, transport: Transport):
    # The 422 was a bad request ("{'detail': [...]}" as its message): every streamed call to Mistral failed, and
    # the cascade stopped there
    url, bodies = await serve("/v1/chat/completions", mistral)
    provider = compat_at(url, transport)
    result = await provider.complete(ask(stream=True), Target("compat", "mistral-large-latest"))
    assert (result.text, result.usage.input_tokens) == ("Paris.", 12)
    assert [b.get("stream") for b in bodies] == [True, None]
    (warning,) = result.warnings
    assert (
        "refused 'stream_options'" in warning
        and "stream_options.include_usage: Extra inputs are not permitted" in warning
    )
    again = await provider.complete(ask(stream=True), Target("compat", "mistral-large-latest"))
    assert again.text == "Paris." and len(bodies) == 3 and "stream" not in bodies[-1]


async def test_a_field_a_fastapi_server_forbids_moves_on_naming_it(serve, transport: Transport):
    url, _ = await serve("/v1/chat/completions", mistral)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await compat_at(url, transport).complete(
            ask(extra={"stream_options": {"include_usage": True}}), Target("compat", "mistral-large-latest")
        )
    assert info.value.moves_on and info.value.status == 422
    assert info.value.message.endswith("this server does not take stream_options.include_usage")


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (
            "tool_use_failed",
            "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
        ),
        (
            "json_validate_failed",
            "Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.",
        ),
    ],
)
async def test_a_tool_call_or_json_groq_could_not_read_moves_on(serve, transport: Transport, code: str, said: str):
    # Groq answers 400 for what its model wrote: that stopped the cascade as a bad request of the caller's
    refusal = {"message": said, "type": "invalid_request_error", "code": code, "failed_generation": "<function=add{"}
    url, _ = await serve("/v1/chat/completions", lambda _body: web.json_response({"error": refusal}, status=400))
    with pytest.raises(E.InvalidOutputError) as info:
        await compat_at(url, transport).complete(ask(), Target("compat", "llama-3.3-70b-versatile"))
    assert info.value.moves_on and info.value.maybe_billed and "the server could not read" in info.value.message


def lm_studio_chat(body: dict[str, Any]) -> web.Response:
    """LM Studio's chat completions (before it had the Responses API): JSON mode is only a JSON schema."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") not in (None, "json_schema", "text"):
        return web.json_response({"error": "'response_format.type' must be 'json_schema' or 'text'"}, status=400)
    answer = {**DEEPSEEK_ANSWER, "model": body["model"]}
    answer["choices"] = [{"index": 0, "message": {"role": "assistant", "content": '{"city": "Paris"}'}}]
    answer["choices"][0]["finish_reason"] = "stop"
    return web.json_response(answer)


async def test_json_mode_on_a_local_server_is_a_schema_of_any_object(serve, transport: Transport):
    # LM Studio refuses response_format json_object (400, a bad request that stopped the cascade), and Ollama's
    # Responses API ignores text.format json_object (the answer unconstrained): a JSON schema of any object is
    # JSON mode to both, and to vLLM and llama.cpp alike
    url, bodies = await serve("/v1/chat/completions", lm_studio_chat)
    provider = LocalProvider({}, transport)
    target = Target("local", "qwen2.5-7b-instruct", base_url=url, params=(("api", "chat"),))
    result = await provider.complete(ask("Where is the Louvre?", json_output=True), target)
    assert result.parsed == {"city": "Paris"}
    schema = {"name": "json_object", "schema": {"type": "object"}}
    assert bodies[0]["response_format"] == {"type": "json_schema", "json_schema": schema}

    url, bodies = await serve("/v1/responses", ollama('{"city": "Paris"}', output_tokens=7))
    result = await provider.complete(
        ask("Where is the Louvre?", json_output=True, max_tokens=64), Target("local", "llama3.1:70b", base_url=url)
    )
    assert result.parsed == {"city": "Paris"}
    assert bodies[0]["text"] == {"format": {"type": "json_schema", **schema}}


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (400, "This response_format type is unavailable now"),
        (
            422,
            "Failed to deserialize the JSON body into the target type: response_format: response_format.type "
            "`json_schema` is unavailable now at line 1 column 212",
        ),
    ],
)
async def test_a_json_schema_deepseek_does_not_take_moves_on(serve, transport: Transport, status: int, said: str):
    # DeepSeek takes JSON mode only: its refusal of a JSON schema was a bad request, which stopped the cascade
    # where the next target (one that takes a schema) would have answered
    refusal = {"message": said, "type": "invalid_request_error", "param": None, "code": "invalid_request_error"}
    url, _ = await serve("/v1/chat/completions", lambda _body: web.json_response({"error": refusal}, status=status))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await compat_at(url, transport).complete(ask(json_schema=schema), Target("compat", "deepseek-chat"))
    assert info.value.moves_on and said in info.value.message


@pytest.mark.parametrize(
    "refusal",
    [
        {"message": "anthropic/claude-sonnet-4-6 is not a valid model ID", "code": 400},  # OpenRouter
        {"object": "error", "message": "Invalid model: mistral-medium-3.5", "type": "invalid_model", "code": "1500"},
    ],
)
async def test_a_model_name_a_gateway_does_not_know_moves_on(serve, transport: Transport, refusal: dict[str, Any]):
    # OpenRouter and Mistral answer a model they do not serve 400: a bad request, which stopped the cascade at the
    # first target whose model name was wrong (or retired)
    body = refusal if "object" in refusal else {"error": refusal}
    url, _ = await serve("/v1/chat/completions", lambda _body: web.json_response(body, status=400))
    with pytest.raises(E.ModelNotFoundError) as info:
        await compat_at(url, transport).complete(ask(), Target("compat", "a-model"))
    assert info.value.moves_on and refusal["message"] in info.value.message


async def test_openrouters_daily_limit_is_a_quota_not_a_wait_of_seconds(serve, transport: Transport):
    # OpenRouter's 429 for its free models' daily limit names its reset (unix ms) in the error's metadata.headers,
    # not in the response's: it was retried as a momentary rate limit before the next target was tried
    reset = int((time.time() + 6 * 3600) * 1000)
    limit = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    said = "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"
    body = {"error": {"message": said, "code": 429, "metadata": {"headers": limit}}}
    url, _ = await serve("/v1/chat/completions", lambda _body: web.json_response(body, status=429))
    with pytest.raises(E.QuotaExhaustedError) as info:
        await compat_at(url, transport).complete(ask(), Target("compat", "meta-llama/llama-3.3-70b-instruct:free"))
    assert not info.value.retryable and info.value.moves_on and info.value.retry_after > 3600


def together(content: str) -> Handler:
    """Together's chat completions: a natural end is finish_reason "eos"."""
    answer = {**DEEPSEEK_ANSWER, "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}
    answer["choices"] = [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "eos"}]
    return lambda _body: web.json_response(answer)


async def test_togethers_eos_is_a_whole_answer_and_an_empty_one_no_answer(serve, transport: Transport):
    # "eos" was an unknown end ("other"): an answer with nothing in it passed for the answer, where "stop" with
    # nothing in it is no answer, and the next target is tried
    target = Target("compat", "meta-llama/Llama-3.3-70B-Instruct-Turbo")
    url, _ = await serve("/v1/chat/completions", together("Paris."))
    result = await compat_at(url, transport).complete(ask(), target)
    assert (result.text, result.finish_reason) == ("Paris.", "stop")
    url, _ = await serve("/v1/chat/completions", together(""))
    with pytest.raises(E.MalformedResponseError, match="no usable answer"):
        await compat_at(url, transport).complete(ask(), target)


@pytest.mark.parametrize("stream", [False, True])
async def test_xais_reasoning_tokens_beside_its_completion_tokens_are_output(serve, transport: Transport, stream: bool):
    # xAI counts a Grok reasoning model's thinking "separately from completion_tokens, but ... in the total_tokens",
    # and bills it as output: the answer was priced at its 9 written tokens, not the 103 billed
    usage = {"prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135}
    usage["completion_tokens_details"] = {"reasoning_tokens": 94}
    if stream:
        handler = chat_stream(chunk({"content": "Paris."}, "stop"), {**chunk({}), "choices": [], "usage": usage})
    else:
        handler = lambda _body: web.json_response({**DEEPSEEK_ANSWER, "model": "grok-3-mini", "usage": usage})  # noqa: E731
    url, _ = await serve("/v1/chat/completions", handler)
    result = await compat_at(url, transport).complete(ask(stream=stream), Target("compat", "grok-3-mini"))
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reasoning_tokens) == (32, 103, 94)


async def test_a_model_too_big_for_ollamas_memory_moves_on_at_once_saying_why(serve, transport: Transport):
    # A server error, retried (and refused again) before the next target was tried, its fix unsaid
    said = "model requires more system memory (5.3 GiB) than is available (3.5 GiB)"
    body = {"error": {"message": said, "type": "api_error", "param": None, "code": None}}
    url, _ = await serve("/v1/responses", lambda _body: web.json_response(body, status=500))
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete(ask(), Target("local", "llama3.1:8b", base_url=url))
    assert info.value.moves_on and not info.value.retryable and said in info.value.message
    assert "use a smaller model" in info.value.message and provider.chat_only == set()


def llama_cpp_2024_chat(body: dict[str, Any]) -> web.Response:
    """llama.cpp's server before it took JSON schemas (mid-2024 builds): JSON mode is json_object, anything else
    refused (400); and no Responses API."""
    kind = (body.get("response_format") or {}).get("type")
    if kind not in (None, "text", "json_object"):
        said = f'response_format type must be one of "text" or "json_object", but got: {kind}'
        return web.json_response({"error": {"code": 400, "message": said, "type": "invalid_request_error"}}, status=400)
    answer = {**DEEPSEEK_ANSWER, "model": body["model"]}
    answer["choices"] = [{"index": 0, "message": {"role": "assistant", "content": '{"city": "Paris"}'}}]
    answer["choices"][0]["finish_reason"] = "stop"
    return web.json_response(answer)


async def test_json_mode_on_a_server_that_takes_only_json_object_is_sent_as_json_object(serve, transport: Transport):
    # JSON mode sent as a schema of any object (for LM Studio) was refused by servers that took json_object and no
    # schema (llama.cpp until mid-2024): a bad request that stopped the cascade, where json_object was answered
    url, bodies = await serve("/v1/chat/completions", llama_cpp_2024_chat)
    provider = LocalProvider({}, transport)
    target = Target("local", "qwen2.5-7b-instruct", base_url=url)
    result = await provider.complete(ask("Where is the Louvre?", json_output=True), target)
    assert result.parsed == {"city": "Paris"}
    assert [b["response_format"]["type"] for b in bodies] == ["json_schema", "json_object"]
    assert any("json_object" in w for w in result.warnings)
    result = await provider.complete(ask("Where is the Louvre?", json_output=True), target)  # asked as it takes it
    assert result.parsed == {"city": "Paris"} and bodies[2]["response_format"] == {"type": "json_object"}
    with pytest.raises(E.BadRequestError):  # a caller's schema is no JSON mode: not sent as json_object
        await provider.complete(ask(json_schema={"type": "object", "properties": {}}), target)
