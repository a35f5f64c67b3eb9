"""The local and compat providers against what Ollama, vLLM, LM Studio, llama.cpp's server and gateways
really answer: each server here is a loopback aiohttp app that answers as the real one does."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import abc as aiohttp_abc
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

Answer = Callable[[dict[str, Any]], web.Response]


def answer(status: int, body: Any, content_type: str = "application/json") -> Answer:
    text = body if isinstance(body, str) else json.dumps(body)
    return lambda _request: web.Response(status=status, text=text, content_type=content_type)


def sse(*events: Any) -> Answer:
    text = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)
    return answer(200, text, "text/event-stream")


class Server:
    def __init__(self, routes: dict[str, Answer]) -> None:
        self.routes = routes
        self.paths: list[str] = []
        self.bodies: list[Any] = []
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        self.bodies.append(await request.json())
        route = self.routes.get(request.path)
        if route is None:  # Go's (Ollama's) stock answer for a route it does not have
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        return route(self.bodies[-1])


@pytest.fixture
async def serve(serve_posts) -> AsyncIterator[Callable[[dict[str, Answer]], Any]]:
    async def start(routes: dict[str, Answer]) -> Server:
        server = Server(routes)
        server.url = await serve_posts(server._handle)
        return server

    yield start


CHAT_OK = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.mark.parametrize(
    "message",
    [
        "request (4476 tokens) exceeds the available context size (4096 tokens)",  # llama.cpp's server, 2025
        "the request exceeds the available context size, try increasing it",  # llama.cpp's server, before
    ],
)
async def test_llama_cpp_context_size_error_moves_on(serve, transport: Transport, message: str):
    # llama-server: {"error": {"code": 400, "message": ..., "type": "exceed_context_size_error", ...}}; a
    # small local context is no reason to stop the cascade: a target with a larger window may serve the call
    error = {"code": 400, "message": message, "type": "exceed_context_size_error", "n_prompt_tokens": 4476}
    server = await serve({"/v1/responses": answer(400, {"error": error})})
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(), Target("local", "qwen3", base_url=server.url + "/v1"))
    assert info.value.moves_on and info.value.status == 400
    assert server.paths == ["/v1/responses"] and provider.chat_only == set()


async def test_a_400_about_a_url_field_is_no_missing_responses_api(serve, transport: Transport):
    # vLLM's 400 for an image the model cannot read says "not supported" and "image_url": the words of an
    # endpoint that is missing ("unknown url", "not supported ... endpoint") only as part of a field's name. It
    # was read as "no Responses API": the call went again to chat completions, and the base URL was kept as
    # chat-only from then on.
    error = {"object": "error", "message": "image_url is not supported by this model", "type": "BadRequestError"}
    server = await serve({"/v1/responses": answer(400, error), "/v1/chat/completions": answer(200, CHAT_OK)})
    provider = LocalProvider({}, transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:  # this model cannot read images; another may
        await provider.complete(ask(), Target("local", "qwen3", base_url=server.url + "/v1"))
    assert info.value.moves_on
    assert server.paths == ["/v1/responses"] and provider.chat_only == set()


def compat(server: Server, transport: Transport) -> CompatProvider:
    return CompatProvider({"MAGSAG_COMPAT_BASE_URL": server.url + "/v1"}, transport)


CHUNK = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        # vLLM and llama.cpp's server put an error that comes after the 200 into the stream, its HTTP status as code
        (
            {"code": 400, "message": "tool_choice 'required' needs guided decoding", "type": "BadRequestError"},
            E.BadRequestError,
        ),
        (
            {"code": 429, "message": "Rate limit exceeded: free-models-per-min", "metadata": {}},
            E.RateLimitError,
        ),  # OpenRouter
        ({"code": 503, "message": "no instance of the model is up", "type": "server_error"}, E.OverloadedError),
        ({"code": 500, "message": "llama_decode failed", "type": "server_error"}, E.ServerError),
        ({"message": "upstream failed"}, E.ServerError),  # no status: a server error, as before
    ],
)
async def test_an_error_chunk_is_classified_by_the_status_it_carries(serve, transport: Transport, error, cls):
    server = await serve(
        {"/v1/chat/completions": sse({**CHUNK, "choices": [{"index": 0, "delta": {"content": "a"}}]}, {"error": error})}
    )
    with pytest.raises(E.ProviderError) as info:
        await compat(server, transport).complete(ask(stream=True), Target("compat", "m"))
    assert type(info.value) is cls
    assert info.value.status == error.get("code", 500)


@pytest.mark.parametrize(
    ("body", "cls", "status"),
    [
        # OpenRouter and other gateways: an upstream failure as an error body under HTTP 200
        ({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min"}}, E.RateLimitError, 429),
        ({"error": {"code": 502, "message": "Provider returned error"}}, E.ServerError, 502),
        # no code, no type: at the status the same error said in a stream has (500), its class by its words
        ({"error": {"message": "This model's maximum context length is 8192 tokens"}}, E.ContextTooLongError, 500),
        ({"error": "Unexpected endpoint or method. (POST /v1/chat/completions)"}, E.UnexpectedStatusError, 200),
        # a code named, not a number: read as the same error said in a stream is (failed_status), not as a 200 of no
        # known kind (a server error was not sent again, a spent quota not told as one)
        ({"error": {"code": "server_error", "message": "The upstream server failed"}}, E.ServerError, 500),
        (
            {"error": {"code": "insufficient_quota", "type": "insufficient_quota", "message": "You exceeded quota"}},
            E.QuotaExhaustedError,
            429,
        ),
    ],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_error_body_under_200_is_the_servers_error(serve, transport: Transport, body, cls, status, api):
    # The Responses API read it at 200 whatever its integer code said (a gateway's 429 was not retried after its wait,
    # its 502 not at all), where Chat Completions read it at the status its code names: one rule for both
    server = await serve({"/v1/chat/completions": answer(200, body), "/v1/responses": answer(200, body)})
    with pytest.raises(E.ProviderError) as info:
        await compat(server, transport).complete(ask(), Target("compat", "m", params=(("api", api),)))
    err = info.value
    message = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    assert type(err) is cls and err.status == status and message in err.message
    assert err.maybe_billed  # a 2xx: whether the vendor billed it is not known


def responses_ok(usage: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "message", "id": "m1", "role": "assistant", "status": "completed"}
    item["content"] = [{"type": "output_text", "text": "hi", "annotations": []}]
    return {"id": "r1", "object": "response", "model": "m", "status": "completed", "output": [item], "usage": usage}


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({"prompt_tokens": 3, "total_tokens": 9}, (3, 6)),  # the count left out follows from the total
        ({"completion_tokens": 6, "total_tokens": 9}, (3, 6)),
        ({"prompt_tokens": 3}, None),  # how much was generated is not said: no count to price
        ({"completion_tokens": 6}, None),
        ({"total_tokens": 9}, None),
    ],
)
async def test_a_usage_without_a_count_is_not_read_as_zero(serve, transport: Transport, usage, counts):
    # A gateway's usage that leaves a count out billed it as 0 tokens, a cost recorded as exact
    server = await serve(
        {
            "/v1/chat/completions": answer(200, {**CHAT_OK, "usage": usage}),
            "/v1/responses": answer(
                200,
                responses_ok(
                    {k.replace("prompt", "input").replace("completion", "output"): v for k, v in usage.items()}
                ),
            ),
        }
    )
    for result in [
        await compat(server, transport).complete(ask(), Target("compat", "m")),
        await LocalProvider({}, transport).complete(ask(), Target("local", "m", base_url=server.url)),
    ]:
        assert result.text == "hi" and result.warnings == []
        if counts is None:
            assert not result.usage.reported
        else:
            assert result.usage.reported and (result.usage.input_tokens, result.usage.output_tokens) == counts


@pytest.mark.parametrize(
    ("path", "not_found"),
    [
        ("/api", answer(404, "404 page not found", "text/plain")),  # Ollama's native API, not its OpenAI one
        ("/v1/openai", answer(404, {"detail": "Not Found"})),  # vLLM (FastAPI) under a wrong path
    ],
)
async def test_a_base_url_without_either_api_is_a_configuration_error(serve, transport: Transport, path, not_found):
    # Both /responses and /chat/completions answer a 404 that names no model: the base URL is wrong. That
    # was a ModelNotFoundError "HTTP 404: 404 page not found" (the model was never the problem), and the
    # base URL was remembered as one with chat completions only.
    server = await serve({path + "/responses": not_found, path + "/chat/completions": not_found})
    provider = LocalProvider({}, transport)
    base = server.url + path
    with pytest.raises(E.NotConfiguredError) as info:
        await provider.complete(ask(), Target("local", "hf.co/org/model:Q4_K_M", base_url=base))
    err = info.value
    assert err.status == 404 and err.moves_on and not err.maybe_billed
    assert "/responses" in err.message and "/chat/completions" in err.message and "/v1" in err.message
    assert server.paths == [path + "/responses", path + "/chat/completions"]
    assert provider.chat_only == set()


@pytest.mark.parametrize(
    ("settings", "given", "source"),
    [({}, "{root}/api", "the target's base_url"), ({"MAGSAG_LOCAL_LLM_BASE_URL": "{root}/api/"}, None, None)],
)
async def test_a_base_url_at_ollamas_own_api_root_is_told_its_openai_api_below_v1(
    serve, transport: Transport, settings, given, source
):
    # Ollama's native API root (http://host:11434/api, as its docs write it) is no OpenAI API: both APIs answered 404,
    # and the fix named the servers' usual bases, not that /api is Ollama's own API and /v1 on the same host its
    # OpenAI one. (OLLAMA_BASE_URL=.../api is read as the server's root already; /api may be another server's OpenAI
    # API, Open WebUI's, so it is taken, and told only when nothing answers there.)
    ollama_404 = answer(404, "404 page not found", "text/plain")
    server = await serve({"/api/responses": ollama_404, "/api/chat/completions": ollama_404})
    root = str(server.url).rstrip("/")
    provider = LocalProvider({k: v.format(root=root) for k, v in settings.items()}, transport)
    target = Target("local", "llama3.1:70b", base_url=given.format(root=root) if given else None)
    with pytest.raises(E.NotConfiguredError) as info:
        await provider.complete(ask(), target)
    source = source or "MAGSAG_LOCAL_LLM_BASE_URL"
    assert info.value.message.endswith(
        "(HTTP 404 for both); the base URL ends with /api, the root of Ollama's own API, which magsag does not call: "
        f"Ollama serves the OpenAI API below /v1, so set {source} to {root}/v1 (another server: to its OpenAI API, "
        "e.g. http://host:8000/v1 for vLLM or http://localhost:1234/v1 for LM Studio)"
    ), info.value.message


async def test_a_base_url_ending_with_api_at_another_server_is_told_the_other_servers_bases_too(
    serve, transport: Transport
):
    # nothing says a server whose base URL ends with /api is Ollama (LM Studio's own REST API is below /api too, and
    # any gateway may be): told only Ollama's fix, one at another server lost the bases of the others
    refused = answer(405, {"error": "method not allowed"})
    server = await serve({"/api/responses": refused, "/api/chat/completions": refused})
    root = str(server.url).rstrip("/")
    provider = LocalProvider({}, transport)
    with pytest.raises(E.NotConfiguredError) as info:
        await provider.complete(ask(), Target("local", "llama3.1:70b", base_url=f"{root}/api"))
    message = info.value.message
    assert "(HTTP 405 for both); the base URL ends with /api, the root of Ollama's own API" in message, message
    assert f"set the target's base_url to {root}/v1" in message
    assert "http://host:8000/v1 for vLLM or http://localhost:1234/v1 for LM Studio" in message


@pytest.mark.parametrize(
    "message",
    ['model "llama3.1:70b" not found, try pulling it first', "No models loaded. Please load a model first."],
)
async def test_a_model_missing_after_the_downgrade_is_still_model_not_found(serve, transport: Transport, message):
    missing = answer(404, {"error": {"message": message}})
    server = await serve({"/v1/chat/completions": missing})  # Ollama before 0.13: no /v1/responses
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ModelNotFoundError):
        await provider.complete(ask(), Target("local", "llama3.1:70b", base_url=server.url))
    assert server.paths == ["/v1/responses", "/v1/chat/completions"]
    assert provider.chat_only == {server.url + "/v1"}


@pytest.mark.parametrize("root", ["http://gpu-box:11434/api", "http://gpu-box:11434/api/", "http://[::1]:11434/api"])
def test_ollama_base_url_naming_the_native_api_means_its_openai_api(root: str):
    # OLLAMA_BASE_URL is Ollama's root; written with its native /api it became /api/v1, which Ollama has not
    from magsag_mcp.providers.local import LocalEndpoint

    expected = root.rstrip("/").removesuffix("/api") + "/v1"
    assert LocalEndpoint({"OLLAMA_BASE_URL": root}).base_url(Target("local", "llama3.1")) == expected


@pytest.mark.parametrize("usage", [True, False], ids=["usage", "no-usage"])
async def test_a_stream_that_ends_cleanly_after_its_finish_without_done_is_the_answer(serve, transport, usage):
    # llama.cpp's server before 2024-09 (PR 9459), ik_llama.cpp without --send-done and TGI before 2.2 end a
    # chat stream after its finish_reason chunk, without "data: [DONE]". Every streamed call to them failed as
    # a dropped connection and was sent again (and failed again).
    last = {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if usage:
        last["usage"] = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    server = await serve(
        {"/v1/chat/completions": sse({**CHUNK, "choices": [{"index": 0, "delta": {"content": "hi there"}}]}, last)}
    )
    result = await compat(server, transport).complete(ask(stream=True), Target("compat", "m"))
    assert (result.text, result.finish_reason, result.usage.reported) == ("hi there", "stop", usage)
    if usage:
        assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 2)


def lm_studio_unknown_route(request_path: str) -> Answer:
    # LM Studio answers a route it does not have with 200 and {"error": "Unexpected endpoint or method. (...)"}
    return answer(200, {"error": f"Unexpected endpoint or method. (POST {request_path})"})


@pytest.mark.parametrize("stream", [False, True])
async def test_lm_studio_without_v1_is_a_configuration_error_naming_the_setting(serve, transport, stream):
    # LM Studio shows its server as http://localhost:1234; set as MAGSAG_LOCAL_LLM_BASE_URL (kept as given) both
    # /responses and /chat/completions are routes it does not have. The error was "HTTP 200: Unexpected endpoint
    # or method. (POST /chat/completions)", and the base URL was remembered as one with chat completions.
    server = await serve({p: lm_studio_unknown_route(p) for p in ("/responses", "/chat/completions")})
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": server.url}, transport)
    with pytest.raises(E.NotConfiguredError) as info:
        await provider.complete(ask(stream=stream), Target("local", "qwen2.5-7b-instruct"))
    err = info.value
    assert err.moves_on and not err.maybe_billed and err.status is None
    assert "neither /responses nor /chat/completions" in err.message and "Unexpected endpoint" in err.message
    assert "set MAGSAG_LOCAL_LLM_BASE_URL to its OpenAI API" in err.message and "localhost:1234/v1" in err.message
    assert server.paths == ["/responses", "/chat/completions"] and provider.chat_only == set()


async def test_a_405_and_a_404_naming_no_model_mean_no_api_there_either(serve, transport):
    server = await serve({"/x/responses": answer(405, "Method Not Allowed", "text/plain")})  # chat: Go's 404
    provider = LocalProvider({}, transport)
    with pytest.raises(E.NotConfiguredError, match=r"\(HTTP 405 and 404\); set the target's base_url") as info:
        await provider.complete(ask(), Target("local", "llama3.1:70b", base_url=server.url + "/x"))
    assert info.value.status == 404 and provider.chat_only == set()


def responses_events(*, completed: bool) -> list[Any]:
    final = {**responses_ok({"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}), "status": "completed"}
    events: list[Any] = [{"type": "response.output_text.delta", "delta": "hi"}]
    if completed:
        events.append({"type": "response.completed", "response": final})
    return [*events, "[DONE]"]


async def test_a_responses_stream_ended_by_done_is_the_answer(serve, transport):
    # Servers and gateways that speak both APIs end every event stream with Chat Completions' "data: [DONE]",
    # after response.completed too. That line is no JSON: the answer, generated and complete, failed as
    # "stream event is not JSON" (and was sent again).
    server = await serve({"/v1/responses": sse(*responses_events(completed=True))})
    provider = LocalProvider({}, transport)
    result = await provider.complete(ask(stream=True), Target("local", "qwen3", base_url=server.url))
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("hi", 5, 2)
    assert server.paths == ["/v1/responses"] and result.warnings == []
    # without its terminal event the stream is still no answer
    server = await serve({"/v1/responses": sse(*responses_events(completed=False))})
    with pytest.raises(E.ProviderConnectionError, match="before response.completed"):
        await provider.complete(ask(stream=True), Target("local", "qwen3", base_url=server.url))


@pytest.mark.parametrize("stream", [False, True])
async def test_compat_at_lm_studio_without_v1_says_what_the_base_url_should_be(serve, transport, stream):
    # MAGSAG_COMPAT_BASE_URL=http://localhost:1234 (LM Studio's address as its window shows it): the error was
    # only "HTTP 200: Unexpected endpoint or method. (POST /chat/completions)". A 404 there names the base URL's
    # form; LM Studio's 200 for a route it lacks now does too.
    server = await serve({"/chat/completions": lm_studio_unknown_route("/chat/completions")})
    provider = CompatProvider({"MAGSAG_COMPAT_BASE_URL": server.url}, transport)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=stream), Target("compat", "qwen2.5-7b-instruct"))
    message = info.value.message
    assert "Unexpected endpoint or method" in message and "(usually ending in /v1)" in message
    assert "MAGSAG_COMPAT_BASE_URL" in message and server.paths == ["/chat/completions"]
    # an error of the server's own under a 200 gets no such hint
    server = await serve({"/v1/chat/completions": answer(200, {"error": {"message": "upstream failed"}})})
    with pytest.raises(E.ProviderError) as info:
        await compat(server, transport).complete(ask(stream=stream), Target("compat", "m"))
    assert "base URL" not in info.value.message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (501, "This server does not support multimodal input; start it with --mmproj"),  # llama.cpp's not_supported
        (400, "Unsupported image URL scheme 'file'; send the image as a data URL"),
    ],
)
async def test_a_chat_error_of_the_servers_own_after_a_missing_responses_api_is_that_error(
    serve, transport, status, message
):
    # llama.cpp's server has no /v1/responses (404) and answers a feature it lacks 501 not_supported_error.
    # Chat completions are there: the error is the server's own, not "neither /responses nor /chat/completions
    # (HTTP 404 and 501); set the base URL", which hid what it said and sent the user to a base URL that is right.
    body = {"error": {"code": status, "message": message, "type": "not_supported_error"}}
    server = await serve({"/v1/chat/completions": answer(status, body)})
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), Target("local", "llama3.1:70b", base_url=server.url + "/v1"))
    err = info.value
    assert not isinstance(err, E.NotConfiguredError) and err.status == status and message in err.message
    assert server.paths == ["/v1/responses", "/v1/chat/completions"] and provider.chat_only == {server.url + "/v1"}


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("lmstudio", "Unexpected endpoint or method. (GET /models)"),  # answered 200 with an error body
        ("ollama", "HTTP 404"),  # MAGSAG_LOCAL_LLM_BASE_URL set to Ollama's root: Go's stock 404
    ],
)
async def test_doctor_probe_of_a_base_url_without_the_api_fails_and_says_what_it_should_be(
    transport: Transport, server: str, said: str
):
    # LM Studio's root (http://localhost:1234, no /v1) answers every route it lacks 200 {"error": "Unexpected
    # endpoint or method. (GET /models)"}: `magsag doctor --probe` said "reachable", and every call then failed.
    async def handle(request: web.Request) -> web.Response:
        if request.path == "/v1/models":
            return web.json_response({"object": "list", "data": []})
        if server == "lmstudio":
            return web.json_response({"error": f"Unexpected endpoint or method. ({request.method} {request.path})"})
        return web.Response(status=404, text="404 page not found", content_type="text/plain")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        root = str(test_server.make_url("")).rstrip("/")
        wrong = await LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": root}, transport).probe()
        right = await LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": root + "/v1"}, transport).probe()
    finally:
        await test_server.close()
    assert right == "reachable"
    assert wrong != "reachable" and said in wrong and f"{root}/models" in wrong
    assert "MAGSAG_LOCAL_LLM_BASE_URL" in wrong and "http://localhost:1234/v1 for LM Studio" in wrong


@pytest.mark.parametrize("given", ["/api", "/api/"])
async def test_doctor_probe_of_ollamas_own_api_root_is_told_its_openai_api_below_v1(transport: Transport, given: str):
    # a call to a base URL at Ollama's own API root (.../api) is told to set the same host's /v1 (the test above);
    # `magsag doctor --probe` of it (GET .../api/models, Ollama's Go 404) named only the usual bases of three servers
    asked: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=404, text="404 page not found", content_type="text/plain")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        root = str(test_server.make_url("")).rstrip("/")
        said = await LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": root + given}, transport).probe()
    finally:
        await test_server.close()
    assert said == (
        f"answered HTTP 404 at {root}/api/models: the base URL ends with /api, the root of Ollama's own API, which "
        f"magsag does not call: Ollama serves the OpenAI API below /v1, so set MAGSAG_LOCAL_LLM_BASE_URL to {root}/v1 "
        "(another server: to its OpenAI API, e.g. http://host:8000/v1 for vLLM or http://localhost:1234/v1 for LM "
        "Studio)"
    )
    assert asked == ["/api/models"]


NO_MODEL_LOADED = "No models loaded. Please load a model in the developer page or use the `lms load` command."


@pytest.mark.parametrize("status", [400, 404])
async def test_lm_studio_with_no_model_loaded_moves_on_and_keeps_the_responses_api(serve, transport, status):
    # LM Studio with its Responses API but no model loaded answers 400 (or 404) "No models loaded". The 400 was a
    # BadRequestError, which stops the cascade: a chain of a local model with a cloud fallback failed with "stopped
    # at a request the provider rejected" instead of trying the fallback. The 404 sent the call on to chat
    # completions, which said the same, and the server was taken for one without the Responses API.
    missing = answer(status, {"error": {"message": NO_MODEL_LOADED}})
    server = await serve({"/v1/responses": missing, "/v1/chat/completions": missing})
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete(ask(), Target("local", "qwen2.5-7b-instruct", base_url=server.url))
    err = info.value
    assert (err.moves_on, err.retryable, err.status) == (True, False, status)
    assert "lms load" in err.message
    assert server.paths == ["/v1/responses"] and provider.chat_only == set()
    # the fix is loading it, not fetching it: told `ollama pull`, an LM Studio user downloaded again what they had
    assert "ollama pull" not in err.message and "fetch it" not in err.message
    assert f"{server.url}/v1 has no model loaded" in err.message
    assert "load it with `lms load qwen2.5-7b-instruct` or in LM Studio's Developer tab" in err.message


async def test_lm_studio_with_no_model_loaded_is_not_asked_its_model_list(model_server, transport: Transport):
    # "No models loaded" is said with the fix to load the model, naming no other: the model list was asked all the
    # same (GET /v1/models, waited for up to 5 s of the call's time) and none of it was used
    url, paths = await model_server(["qwen2.5-7b-instruct"], answer(400, {"error": {"message": NO_MODEL_LOADED}}))
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "qwen2.5-7b-instruct", base_url=url))
    assert "load it with `lms load qwen2.5-7b-instruct`" in info.value.message
    assert paths == ["POST /v1/responses"]


def forbids_stream_options(body: dict[str, Any]) -> web.Response:
    """Chat completions of a server whose schema forbids what it does not know (a FastAPI server's 422
    ``extra_forbidden``, here for ``stream_options``); anything else answered."""
    if "stream_options" in body:
        problem = {"type": "extra_forbidden", "loc": ["body", "stream_options"]}
        problem["msg"] = "Extra inputs are not permitted"
        return web.json_response({"detail": [problem]}, status=422)
    return web.json_response({**CHAT_OK, "model": body["model"]})


async def test_a_setting_the_local_server_refuses_is_left_out_as_compat_leaves_it_out(serve, tmp_path):
    # compat sent a streamed call again unstreamed when the server refused stream_options; local raised the refusal:
    # the call's only target failed (MAGSAG_PROVIDER=local), where the same call unstreamed is answered
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    server = await serve({"/v1/chat/completions": forbids_stream_options})
    env = {"OLLAMA_BASE_URL": server.url, "MAGSAG_PROVIDER": "local", "MAGSAG_MODEL": "llama3.1:70b"}
    payload = {"data": "x", "model_config": {"stream": True}}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        first = await svc.invoke_skill("skill.analysis", payload)
        again = await svc.invoke_skill("skill.analysis", payload)
        runs = await svc.query_runs()
    assert (first.result.text, first.cost_usd, again.result.text) == ("hi", 0, "hi")
    # (where the server runs the model asked once, before its first call: Go's 404 here, so none other)
    assert server.paths == ["/api/show", "/v1/responses"] + ["/v1/chat/completions"] * 3
    assert [(b.get("stream"), "stream_options" in b) for b in server.bodies[2:]] == [
        (True, True),
        (None, False),
        (None, False),
    ]
    assert any("refused 'stream_options'" in w and w.endswith("sent again unstreamed") for w in first.warnings)
    assert any("on an earlier call; the call was not streamed" in w for w in again.warnings)
    # one attempt a call in the ledger, free, each with its warnings
    attempts = [a for run in runs for a in run["attempts"]]
    assert [(a["outcome"], a["cost_usd"]) for a in attempts] == [("ok", "0"), ("ok", "0")]
    assert any("refused 'stream_options'" in w for a in attempts for w in a["warnings"])


async def test_inline_thinking_before_a_text_answer_is_left_out_of_it(serve, transport: Transport):
    # Before: a local reasoning model without a reasoning parser (vLLM, llama.cpp --reasoning-format none) answered
    # pii-redaction with "<think>The text names Ann, ann@example.com ...</think>" before the redaction, and all of it
    # came back as the redacted text, the personal data in its thinking.
    thought = "<think>\nThe text names Ann and ann@example.com; both go.\n</think>\n\n"
    body = {**CHAT_OK, "choices": [{**CHAT_OK["choices"][0], "message": {"role": "assistant", "content": thought}}]}
    body["choices"][0]["message"]["content"] = thought + "[NAME] wrote from [EMAIL]; see </think> in the docs."
    server = await serve({"/v1/chat/completions": answer(200, body)})
    result = await LocalProvider({}, transport).complete(ask(), Target("local", "qwen3", base_url=server.url + "/v1"))
    assert result.text == "[NAME] wrote from [EMAIL]; see </think> in the docs."  # a closing tag quoted later stays
    assert any("inline thinking (<think>...</think>" in w and "left out" in w for w in result.warnings), result.warnings
    plain = {**CHAT_OK}
    server = await serve({"/v1/chat/completions": answer(200, plain)})
    result = await LocalProvider({}, transport).complete(ask(), Target("local", "qwen3", base_url=server.url + "/v1"))
    assert result.text == "hi" and not any("thinking" in w for w in result.warnings)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_thinking_whose_opening_tag_was_in_the_prompt_is_left_out_of_a_text_answer(
    serve, transport: Transport, stream: bool
):
    # DeepSeek-R1's chat template (and Qwen3's thinking models', as Qwen documents) writes the opening <think> at the
    # end of the prompt: served by vLLM without a reasoning parser (or Ollama's raw template), the answer is
    # "The text names Ann ...</think>\n\n[NAME] wrote ...". Only an answer that opened with <think> lost its thinking;
    # this one came back whole as pii-redaction's answer, the personal data in the thinking before the redaction.
    content = "The text names Ann and ann@example.com; both go.\n</think>\n\n[NAME] wrote from [EMAIL]."
    if stream:
        chunks = [content[:20], content[20:50], content[50:]]
        events = [{"choices": [{"index": 0, "delta": {"content": c}}]} for c in chunks]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        route = answer(200, body, content_type="text/event-stream")
    else:
        choice = {**CHAT_OK["choices"][0], "message": {"role": "assistant", "content": content}}
        route = answer(200, {**CHAT_OK, "choices": [choice]})
    server = await serve({"/v1/chat/completions": route})
    target = Target("local", "deepseek-r1:8b", base_url=server.url + "/v1")
    result = await LocalProvider({}, transport).complete(ask(stream=stream), target)
    assert result.text == "[NAME] wrote from [EMAIL]."
    assert any("inline thinking (...</think> without its opening tag" in w for w in result.warnings), result.warnings
    assert "ann@example.com" not in " ".join(result.warnings)
    # a prompt that holds a </think> itself (a transcript to redact): the answer may quote it, and is left whole
    quoted = "Sure.</think> is how R1 ends its reasoning; Ann wrote it."
    result = await LocalProvider({}, transport).complete(ask(quoted, stream=stream), target)
    assert result.text == content and not any("thinking" in w for w in result.warnings), result.warnings


@pytest.mark.parametrize(
    "content",
    [
        'Split the output on the closing tag, `text.split("</think>")[-1]`, and keep the last part.',
        "R1 ends its reasoning with </think> and answers after it; keep what follows.",
        "The tag <think> opens it and </think> closes it.",
        "Strip it with a regex:\n```python\nre.sub(r'(?s).*?</think>', '', text)\n```\nand then\n</think>\nends it.",
    ],
)
async def test_an_answer_that_mentions_a_closing_think_tag_is_left_whole(serve, transport: Transport, content: str):
    # An answer about DeepSeek-R1's output (a coding question whose prompt never wrote the tag) mentions "</think>" in
    # a sentence or in code: everything up to it was cut as thinking, and the caller given the rest with a warning.
    # Thinking the chat template opened ends at a "</think>" on a line of its own ("...\n</think>\n\nanswer"), as
    # DeepSeek-R1's and Qwen3's models write it; a first "</think>" anywhere else is text.
    choice = {**CHAT_OK["choices"][0], "message": {"role": "assistant", "content": content}}
    server = await serve({"/v1/chat/completions": answer(200, {**CHAT_OK, "choices": [choice]})})
    target = Target("local", "llama3.1:8b", base_url=server.url + "/v1")
    result = await LocalProvider({}, transport).complete(ask("How do I drop R1's reasoning from its output?"), target)
    assert result.text == content and not any("thinking" in w for w in result.warnings), result.warnings


async def test_thinking_that_max_tokens_cut_before_it_closed_is_no_part_of_the_answer(serve, transport: Transport):
    # Before: a local reasoning model (no reasoning parser) that max_tokens stopped mid-thought answered
    # "<think>The text names Ann, ann@example.com ..." with no closing tag; the removal looked only for a closed
    # one, so all of the thinking came back as pii-redaction's answer, the personal data in it, said to be merely
    # "cut short".
    thought = "<think>\nThe text names Ann and ann@example.com; both go, and"
    choice = {**CHAT_OK["choices"][0], "message": {"role": "assistant", "content": thought}, "finish_reason": "length"}
    usage = {"prompt_tokens": 3, "completion_tokens": 20, "total_tokens": 23}
    server = await serve({"/v1/chat/completions": answer(200, {**CHAT_OK, "choices": [choice], "usage": usage})})
    target = Target("local", "qwen3", base_url=server.url + "/v1")
    result = await LocalProvider({}, transport).complete(ask(max_tokens=20), target)
    assert result.text == "" and result.finish_reason == "length"
    assert "ann@example.com" not in " ".join(result.warnings)
    assert any("inline thinking" in w and "left out" in w for w in result.warnings), result.warnings
    assert any("answered with nothing" in w and "max_tokens (20)" in w for w in result.warnings), result.warnings
    # an answer that ended whole, beginning with the tag it never closed, is left as it is: it may be a text about it
    choice = {**choice, "message": {"role": "assistant", "content": "<think> opens a model's reasoning."}}
    choice["finish_reason"] = "stop"
    server = await serve({"/v1/chat/completions": answer(200, {**CHAT_OK, "choices": [choice]})})
    result = await LocalProvider({}, transport).complete(ask(), Target("local", "qwen3", base_url=server.url + "/v1"))
    assert result.text == "<think> opens a model's reasoning."
    assert not any("thinking" in w for w in result.warnings), result.warnings


VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
async def model_server() -> AsyncIterator[Callable[[Any, Any], Any]]:
    """A local server whose model list (GET /v1/models) is ``models`` (a list of ids, or an answer), and which
    answers every call with ``missing``, its "model not found"."""
    started: list[TestServer] = []

    async def start(models: Any, missing: Answer) -> tuple[str, list[str]]:
        paths: list[str] = []

        async def listing(request: web.Request) -> web.Response:
            paths.append(f"GET {request.path}")
            if callable(models):
                return models({})
            data = [{"id": m, "object": "model", "created": 1, "owned_by": "library"} for m in models]
            return web.json_response({"object": "list", "data": data})

        async def call(request: web.Request) -> web.Response:
            paths.append(f"POST {request.path}")
            return missing(await request.json())

        app = web.Application()
        app.router.add_get("/v1/models", listing)
        app.router.add_post("/{tail:.*}", call)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(server)
        return str(server.make_url("")).rstrip("/"), paths

    yield start
    for s in started:
        await s.close()


OLLAMA_MISSING = answer(
    404, {"error": {"message": 'model "llama3.1:70b" not found, try pulling it first', "type": "api_error"}}
)


async def test_a_model_ollama_lacks_is_said_with_the_ones_it_serves(model_server, transport: Transport):
    # Ollama's 404 said only 'model "llama3.1:70b" not found, try pulling it first': the user who pulled llama3.1:8b
    # and wrote 70b (or the routing's name) could not tell what to write instead. The server's list is said now.
    url, paths = await model_server(["llama3.1:8b", "qwen2.5-coder:7b-instruct-q4_K_M"], OLLAMA_MISSING)
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    message = info.value.message
    assert 'model "llama3.1:70b" not found, try pulling it first' in message
    assert f"the server at {url}/v1 serves llama3.1:8b, qwen2.5-coder:7b-instruct-q4_K_M" in message
    assert "(did you mean llama3.1:8b?): name one of them, or fetch it (Ollama: `ollama pull llama3.1:70b`" in message
    assert paths == ["POST /v1/responses", "GET /v1/models"]  # a model not found is not sent to chat completions


async def test_the_policys_models_a_local_server_lacks_are_said_with_the_ones_it_serves(model_server, tmp_path):
    # MAGSAG_PROVIDER=local alone (the fix `magsag invoke` gives a first call with no key) sends routing's models by
    # their names: Ollama has none, and the call's error said "name a model it has in MAGSAG_MODEL ..." without the
    # names its server serves, which each attempt's own error had read from its model list
    from pathlib import Path

    from magsag_mcp.service import Service

    url, _ = await model_server(["llama3.1:8b", "qwen2.5-coder:7b"], OLLAMA_MISSING)
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": url + "/v1"}
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    message = info.value.message
    assert message.endswith(
        "local was asked for the routing policy's models by their names (MAGSAG_PROVIDER, or a call naming only a "
        f"provider) and has none of them; the server at {url}/v1 serves llama3.1:8b, qwen2.5-coder:7b: name one of "
        "them in MAGSAG_MODEL or the call's model_config.model"
    ), message


async def test_a_model_vllm_does_not_serve_names_the_one_it_does(model_server, transport: Transport):
    # vLLM serves the model it was started with, by its Hugging Face name (or --served-model-name): a call naming
    # Ollama's tag got "The model `llama3.1:8b` does not exist." and nothing of the name to use
    error = {"object": "error", "message": "The model `llama3.1:8b` does not exist.", "type": "NotFoundError",
             "param": None, "code": 404}  # fmt: skip
    url, _ = await model_server([VLLM_MODEL], answer(404, error))
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:8b", base_url=url + "/v1"))
    assert info.value.moves_on and info.value.status == 404
    assert f"does not exist.; the server at {url}/v1 serves {VLLM_MODEL}: name one of them" in info.value.message


async def test_a_server_with_no_model_says_to_fetch_one(model_server, transport: Transport):
    url, _ = await model_server([], OLLAMA_MISSING)
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    assert f"the server at {url}/v1 serves no model yet: fetch it (Ollama: `ollama pull llama3.1:70b`" in (
        info.value.message
    )


@pytest.mark.parametrize(
    "models",
    [answer(404, "404 page not found", "text/plain"), answer(200, "<html>", "text/html"), answer(200, {"data": 3})],
)
async def test_a_model_list_that_cannot_be_read_leaves_the_fix_to_fetch_the_model(
    model_server, transport: Transport, models: Answer
):
    url, _ = await model_server(models, OLLAMA_MISSING)
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    assert info.value.message.endswith(
        "; fetch it (Ollama: `ollama pull llama3.1:70b`; vLLM serves the model it was started with, LM Studio the "
        "ones loaded)"
    )
    assert "serves" not in info.value.message.split("; fetch it")[0]


def _chat_chunk(text: str) -> dict[str, Any]:
    delta = {"role": "assistant", "content": text}
    return {
        "id": "c-1",
        "object": "chat.completion.chunk",
        "model": "llama3.1:70b",
        "choices": [{"index": 0, "delta": delta}],
    }


#: Ollama 0.13's Responses stream, begun: the response created and its first text
_RESPONSES_BEGUN = [
    {
        "type": "response.created",
        "sequence_number": 0,
        "response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []},
    },
    {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
    },
]


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_a_local_stream_cut_off_says_what_a_local_server_cutting_off_means(serve_posts, transport, api):
    # Ollama (vLLM, LM Studio) closes the connection mid-answer when its model runner dies, most often out of memory
    # ("llama runner process has terminated" in its log). The error said aiohttp's words alone ("Not enough data to
    # satisfy transfer length header"), nothing of why a local server does that, nor where to look
    async def cut_off(request: web.Request) -> web.StreamResponse:
        if api == "chat" and request.path.endswith("/responses"):  # Ollama before 0.13
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in _RESPONSES_BEGUN if api == "responses" else [_chat_chunk("Hel")]:
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()  # (the runner gone: no [DONE], no end of the chunked body)
        return resp

    url = await serve_posts(cut_off)
    said: list[Any] = []
    with pytest.raises(E.ProviderConnectionError) as info:
        await LocalProvider({}, transport).complete(
            ask(stream=True), Target("local", "llama3.1:70b", base_url=url), progress=lambda e, d: said.append(d)
        )
    message = info.value.message
    assert message.startswith("the stream broke mid-answer: "), message
    assert "a local server closes its answer off when its model runner stops, most often out of memory" in message
    assert message.endswith(f"its log says why, at {url}/v1")
    assert info.value.retryable and said == [{"chars": 3, "text": "Hel"}]


async def test_an_lm_studio_without_the_responses_api_is_said_as_it_said_it(serve, transport: Transport):
    # LM Studio before its Responses API answers /v1/responses 200 {"error": "Unexpected endpoint or method. (...)"}:
    # the warning said "rejected the Responses API (HTTP 200)", as though the Responses API had answered
    server = await serve(
        {"/v1/responses": lm_studio_unknown_route("/v1/responses"), "/v1/chat/completions": answer(200, CHAT_OK)}
    )
    result = await LocalProvider({}, transport).complete(
        ask(), Target("local", "qwen2.5-7b-instruct", base_url=server.url)
    )
    assert result.text == "hi"
    [warning] = result.warnings
    assert (
        f"local server at {server.url}/v1 rejected the Responses API (an error under HTTP 200: Unexpected endpoint or "
        "method. (POST /v1/responses)); fell back to chat completions"
    ) in warning, warning


async def test_lm_studios_words_cut_in_a_warning_or_an_error_end_with_an_ellipsis(serve, transport: Transport):
    # LM Studio's "Unexpected endpoint or method. (POST <the path>)" under a long base path was cut at 120
    # characters with no mark: the warning (and the error of a base URL with neither API) ended mid-word, read as
    # all the server said
    prefix = "/team-llm-gateway/workspaces/quarterly-reports/lm-studio/instances/gpu-box-07"
    v1 = f"{prefix}/v1"
    responses, chat = f"{v1}/responses", f"{v1}/chat/completions"
    server = await serve({responses: lm_studio_unknown_route(responses), chat: answer(200, CHAT_OK)})
    result = await LocalProvider({}, transport).complete(ask(), Target("local", "qwen3", base_url=server.url + v1))
    [warning] = result.warnings
    said = f"Unexpected endpoint or method. (POST {responses})"
    assert f"(an error under HTTP 200: {said[:120]}...); fell back to chat completions" in warning, warning
    # both routes unknown: the configuration error quotes the chat completions' words, marked where cut
    server = await serve({p: lm_studio_unknown_route(p) for p in (responses, chat)})
    with pytest.raises(E.NotConfiguredError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "qwen3", base_url=server.url + v1))
    said = f"Unexpected endpoint or method. (POST {chat})"
    assert f"(HTTP 200 for both: {said[:120]}...); set the target's base_url" in info.value.message, info.value.message


class _AllHere(aiohttp_abc.AbstractResolver):
    """A resolver that finds every host on this machine: a name (ollama.com) served by a loopback test server."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):  # type: ignore[override]
        return [
            {"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}
        ]

    async def close(self) -> None:
        pass


async def test_a_stream_ollamas_cloud_cut_off_is_not_said_to_be_a_local_runner_out_of_memory(serve_posts):
    # The local provider pointed at Ollama's cloud (OLLAMA_HOST=ollama.com) is no server of the operator's: a stream
    # it cuts off is said as any cloud's is, not as a model runner of theirs out of memory whose log says why
    import aiohttp

    async def cut_off(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in _RESPONSES_BEGUN:
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()
        return resp

    port = int((await serve_posts(cut_off)).rsplit(":", 1)[1])
    transport = Transport(
        session_factory=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_AllHere())), env={}
    )
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await LocalProvider({}, transport).complete(
                ask(stream=True), Target("local", "gpt-oss:120b", base_url=f"http://ollama.com:{port}")
            )
    finally:
        await transport.aclose()
    message = info.value.message
    assert message.startswith("the stream broke mid-answer: "), message
    assert "model runner" not in message and "out of memory" not in message and "its log" not in message, message


async def test_lm_studio_with_no_model_loaded_keeps_its_fix_when_routing_chose_the_models(model_server, tmp_path):
    # MAGSAG_PROVIDER=local alone sends routing's models to LM Studio by their names; with no model loaded it
    # answers "No models loaded" and the target's error said to load one (`lms load`), but the call's final error
    # dropped that for "has none of them: name a model it has", as if the models were missing, not unloaded
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    url, _ = await model_server([], answer(404, {"error": {"message": NO_MODEL_LOADED}}))
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": url + "/v1"}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    message = info.value.message
    assert f"the server at {url}/v1 has no model loaded" in message
    assert "load the model you mean to use with `lms load MODEL`" in message and "Just-in-Time" in message
    assert "has none of them" not in message and "name a model it has" not in message


async def test_a_routing_model_the_local_server_lists_then_404s_is_said_as_listed_then_not_found(
    model_server, tmp_path
):
    # The server's list names gpt-4o (a gateway's alias, a model being pulled) and yet its call answers 404: the
    # final error read "has none of them; the server at ... serves gpt-4o: name one of them", a contradiction. It
    # now says what happened: the model was listed, then not found when asked, and what to do about it.
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    missing = answer(404, {"error": {"message": 'model "gpt-4o" not found, try pulling it first'}})
    url, _ = await model_server(["gpt-4o", "llama3.1:8b"], missing)
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": url + "/v1"}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    message = info.value.message
    assert "has none of them" not in message
    assert "lists gpt-4o but answered it not found when asked" in message
