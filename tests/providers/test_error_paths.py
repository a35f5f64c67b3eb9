"""Error paths with the vendors' real bodies: Gemini quota vs per-minute limits, refusals and blocks,
context too long, features a target lacks, and errors that arrive inside a 200 stream. Gemini's own are in
test_error_paths_gemini.py, Anthropic's in test_error_paths_anthropic.py; the shared helpers are here."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.http_errors import error_for
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeAnthropic, FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
GEMINI_MODEL = "gemini-2.0-flash"
CLAUDE = "claude-3-5-sonnet-20241022"


def ask(stream: bool = False) -> LLMRequest:
    return LLMRequest([Message("user", "x")], max_tokens=50, stream=stream)


async def gemini(serve, transport: Transport, *steps: dict[str, Any]) -> tuple[FakeGemini, GeminiProvider, Target]:
    fake = FakeGemini(KEY).queue(*steps)
    url = await serve(fake)
    return fake, GeminiProvider({"GEMINI_API_KEY": KEY}, transport), Target("google", GEMINI_MODEL, url)


async def anthropic(
    serve, transport: Transport, *steps: dict[str, Any]
) -> tuple[FakeAnthropic, AnthropicProvider, Target]:
    fake = FakeAnthropic(KEY).queue(*steps)
    url = await serve(fake)
    return fake, AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport), Target("anthropic", CLAUDE, url)


# --- 400s: the target lacks a feature, or our input is wrong ---------------------------------------

H: dict[str, str] = {}


@pytest.mark.parametrize(
    ("status", "message", "code", "model"),
    [
        (
            400,
            "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
            "unsupported_value",
            "o1-preview",
        ),
        (
            400,
            "Unsupported parameter: 'temperature' is not supported with this model.",
            "unsupported_parameter",
            "o1-mini",
        ),
        (
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "unsupported_parameter",
            "o1-mini",
        ),
        (400, "registry.ollama.ai/library/llama3:latest does not support tools", None, "llama3"),
        (400, "llama3.2-vision:latest does not support thinking", None, "llama3.2-vision"),
        (400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', None, "qwen"),
        (400, "Function calling is not enabled for models/gemma-3-27b-it", "INVALID_ARGUMENT", "gemma-3-27b-it"),
        (400, "Developer instruction is not enabled for models/gemma-3-27b-it", "INVALID_ARGUMENT", "gemma-3-27b-it"),
        # max_tokens above this model's output limit: another target (a larger limit) can serve the call
        (
            400,
            "max_tokens: 8192 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307",
            "invalid_request_error",
            "claude-3-haiku-20240307",
        ),
        (
            400,
            "max_tokens is too large: 32768. This model supports at most 16384 completion tokens, whereas you "
            "provided 32768.",
            "invalid_value",
            "gpt-4o",
        ),
        (
            400,
            "max_completion_tokens is too large: 200000. This model supports at most 100000 completion tokens, "
            "whereas you provided 200000.",
            "invalid_value",
            "o3-mini",
        ),
        (
            400,
            "Unable to submit request because it has a maxOutputTokens value of 100000 but the supported range is "
            "from 1 (inclusive) to 8193 (exclusive). Update the value and try again.",
            "INVALID_ARGUMENT",
            "gemini-1.5-pro",
        ),
    ],
)
def test_a_400_about_what_the_target_cannot_do_moves_on(status, message, code, model):
    err = error_for(status, message, headers=H, provider="p", model=model, code=code)
    assert type(err) is E.UnsupportedFeatureError, type(err)
    assert (err.moves_on, err.retryable, err.status) == (True, False, 400)


@pytest.mark.parametrize(
    ("message", "code", "cls"),
    [
        ("Invalid value for 'temperature': must be between 0 and 2.", "invalid_value", E.BadRequestError),
        ("Invalid token count for max_tokens: must be at least 1.", None, E.BadRequestError),
        ("max_tokens: invalid token count -5", "invalid_request_error", E.BadRequestError),
        ("Invalid 'tools[0].function.name': string does not match pattern.", "invalid_value", E.BadRequestError),
        ("Unsupported file type: .exe", None, E.BadRequestError),
        ("The /v1/responses endpoint is not supported by this server", "unsupported_endpoint", E.BadRequestError),
        ("This model's maximum context length is 8192 tokens.", "context_length_exceeded", E.ContextTooLongError),
        ("input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000", None, E.ContextTooLongError),
    ],
)
def test_a_400_about_our_input_stays_a_bad_request(message, code, cls):
    err = error_for(400, message, headers=H, provider="p", model="gpt-4o", code=code)
    assert type(err) is cls, type(err)
    assert err.moves_on == (cls is E.ContextTooLongError)


async def test_an_output_limit_below_max_tokens_moves_on_to_a_target_that_has_room(serve, transport):
    # The catalog's economy tier goes gpt-4o-mini (16k output tokens), then claude-3-haiku (4k). A call
    # asking for 8000 tokens that reached haiku was stopped as a bad request, though the fault was the
    # target's limit, not the request: another target could serve it.
    message = "max_tokens: 8000 > 4096, which is the maximum allowed number of output tokens for " + CLAUDE
    _, provider, target = await anthropic(
        serve, transport, {"error": 400, "kind": "invalid_request_error", "message": message}
    )
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(LLMRequest([Message("user", "x")], max_tokens=8000), target)
    assert info.value.moves_on and message in info.value.message


# --- a model id is one path segment ------------------------------------------------------------------


async def test_a_gemini_model_id_cannot_climb_out_of_its_path_segment(serve, transport: Transport):
    """A policy's allowed_models glob reads the id as written; the URL must name the same model, or
    "gemini-1.5-flash/../gemini-ultra" would pass "gemini-1.5-*" and call another model."""
    from aiohttp import web

    seen: list[str] = []

    class RawPaths:
        def app(self) -> web.Application:
            async def record(request: web.Request) -> web.Response:
                seen.append(request.raw_path)
                return web.json_response(
                    {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}, status=404
                )

            app = web.Application()
            app.router.add_route("POST", "/{tail:.*}", record)
            return app

    url = await serve(RawPaths())
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    for model in ("gemini-1.5-flash/../gemini-ultra", "models/gemini-2.5-flash", "tunedModels/my-tune"):
        with pytest.raises(E.ProviderError):
            await provider.complete(ask(), Target("google", model, url))
    assert [p.split("?")[0] for p in seen] == [
        "/v1beta/models/gemini-1.5-flash%2F..%2Fgemini-ultra:generateContent",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/tunedModels/my-tune:generateContent",
    ]


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        # OpenAI-compatible servers and gateways answer an unknown model with a 400, not a 404
        (400, "The requested model 'gpt-4-1106-preview' does not exist.", "model_not_found"),
        (400, "Model Not Exist", "invalid_request_error"),  # DeepSeek
        (400, "The model `llama3.1-405b` does not exist or you do not have access to it.", None),
        (422, "model 'qwen2.5:7b' not found, try pulling it first", None),
    ],
)
def test_a_400_saying_the_model_does_not_exist_moves_on(status, message, code):
    # a BadRequestError stopped the cascade: the next target (another model) was never tried
    err = error_for(status, message, headers=H, provider="p", model="m", code=code)
    assert type(err) is E.ModelNotFoundError, type(err)
    assert (err.moves_on, err.retryable, err.status) == (True, False, status)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf"])
def test_a_rate_limit_reset_that_is_no_finite_number_is_no_wait(value):
    # "inf" became a wait of infinity (a 429 classed as quota exhausted, and a retry_after of Infinity,
    # which is no JSON, in the error a caller reads); garbage is treated as absent, like a Retry-After's. (A number
    # of digits past a float, "1e999", was one of these: it is a wait past the bound, read as the bound, as the same
    # digits with a unit are: see test_nonsense_waits.py)
    from magsag_mcp.providers.http_errors import parse_duration, rate_limit_reset

    assert parse_duration(value) is None
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": value}
    assert rate_limit_reset(headers) is None
    err = error_for(429, "Rate limit reached for requests", headers=headers, provider="p", model="m")
    assert type(err) is E.RateLimitError and err.retry_after is None


# --- a 404 that may be a wrong base URL ---------------------------------------------------------------


class NoApiHere:
    """A server with nothing at the API's path: aiohttp's plain ``404: Not Found`` for every request."""

    def app(self):
        from aiohttp import web

        return web.Application()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("provider_cls", "env", "model", "suffix", "hint"),
    [
        (AnthropicProvider, {"ANTHROPIC_API_KEY": KEY}, CLAUDE, "/v1", "ANTHROPIC_BASE_URL"),
        (OpenAIProvider, {"OPENAI_API_KEY": KEY}, "gpt-4o", "", "OPENAI_BASE_URL"),
        (GeminiProvider, {"GEMINI_API_KEY": KEY}, GEMINI_MODEL, "/v1beta", "GEMINI_BASE_URL"),
    ],
)
async def test_a_404_names_the_url_and_what_the_base_url_should_be(
    serve, transport: Transport, provider_cls, env, model, suffix, hint, stream
):
    # A base URL with one /v1 too many (Anthropic, Gemini) or too few (OpenAI) answered 404 and was
    # reported as model_not_found, "HTTP 404: 404: Not Found", with nothing pointing at the URL.
    url = await serve(NoApiHere()) + suffix
    provider = provider_cls(env, transport)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete(ask(stream), Target(provider.name, model, url))
    message = info.value.message
    assert "was not found: check the model name, and that the base URL" in message
    assert url + ("/v1/messages" if suffix == "/v1" and provider.name == "anthropic" else "") in message
    assert hint in message and KEY not in message
    assert info.value.status == 404 and info.value.moves_on


# --- a gateway's HTML error page instead of the vendor's error ---------------------------------------------------

#: Cloudflare's 502 page as it comes in front of a vendor: some 5 KB of markup before any word of what happened
CLOUDFLARE_502 = (
    b'<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->\n'
    b'<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->\n<head>\n'
    b"<title>api.openai.com | 502: Bad gateway</title>\n"
    b'<meta charset="UTF-8" />\n<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />\n'
    b'<meta http-equiv="X-UA-Compatible" content="IE=Edge" />\n<meta name="robots" content="noindex, nofollow" />\n'
    b'<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />\n</head>\n<body>'
    + b"<div>" * 200
    + b"<h1>Bad gateway</h1></body></html>"
)
NGINX_503 = b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503"


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "google"])
@pytest.mark.parametrize(
    ("status", "page", "said", "cls"),
    [
        (502, CLOUDFLARE_502, "api.openai.com | 502: Bad gateway", E.ServerError),
        (503, NGINX_503, "503 Service Temporarily Unavailable", E.OverloadedError),
    ],
)
def test_an_html_error_page_is_named_by_its_title_not_quoted_as_markup(vendor, status, page, said, cls):
    # A CDN's or a proxy's error page in front of the API: the message (the call's error, the ledger's, the trace's)
    # quoted its first 300 characters, doctype, comments and meta tags, and never reached a word of what happened.
    from magsag_mcp.providers.anthropic_errors import anthropic_error
    from magsag_mcp.providers.gemini_errors import gemini_error
    from magsag_mcp.providers.openai_errors import openai_error
    from magsag_mcp.transport import HttpResponse

    headers = {"Content-Type": "text/html"}
    if vendor == "openai":
        exc = openai_error(HttpResponse(status, headers, page), provider=vendor, model="m")
    elif vendor == "anthropic":
        exc = anthropic_error(status, page, headers, provider=vendor, model="m")
    else:
        exc = gemini_error(status, page, headers, provider=vendor, model="m")
    assert type(exc) is cls and exc.retryable
    assert f"{vendor}:m: HTTP {status}: an HTML page, not the API's answer: {said!r}" in exc.message
    assert "<" not in exc.message and "gateway or proxy" in exc.message


def _too_long(param: str | None, limit: int, length: int) -> Any:
    import json

    from magsag_mcp.providers.openai_errors import openai_error
    from magsag_mcp.transport import HttpResponse

    where = f"Invalid '{param}': " if param else ""
    said = (
        f"{where}string too long. Expected a string with maximum length {limit}, but got a string with length {length} "
        "instead."
    )
    error = {"message": said, "type": "invalid_request_error", "param": param, "code": "string_above_max_length"}
    return openai_error(HttpResponse(400, {}, json.dumps({"error": error}).encode()), provider="openai", model="gpt-4o")


@pytest.mark.parametrize(
    "param",
    ["tools[0].function.description", "tools[1].function.name", "metadata.trace", "messages[2].tool_calls[0].id"],
)
def test_a_field_longer_than_the_api_takes_is_a_bad_request_not_a_context_window(param):
    # OpenAI's string_above_max_length for a tool's description over 1,024 characters (or a name over 64, a
    # metadata value over 512) was read as "context too long": the call went on to every target with a larger
    # window, which refused it alike, skipped the others as "no larger than" a window the prompt never filled, and
    # failed as context_too_long, for a field the caller had to shorten. It stops the call, naming the field.
    exc = _too_long(param, 1024, 1500)
    assert type(exc) is E.BadRequestError and not exc.moves_on
    assert exc.details["param"] == param and f"shorten {param}" in exc.message


@pytest.mark.parametrize("param", ["messages[0].content", "input[1].content[0].text", "input", "instructions", None])
def test_a_prompt_longer_than_the_api_takes_is_still_a_context_error(param):
    # a message's content, the input or the instructions past the API's limit (10,485,760 characters): the prompt's
    # size, which a target with a larger window may take
    exc = _too_long(param, 10485760, 10485800)
    assert type(exc) is E.ContextTooLongError and exc.moves_on
