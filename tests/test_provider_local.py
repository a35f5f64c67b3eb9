"""The local provider (Ollama, vLLM, LM Studio): Responses first, chat completions when the server lacks it.

The switch must happen only when the *server* shows it has no Responses endpoint (404 without a model
named, 405, 501, a 400 that says the endpoint is unsupported), be remembered per base URL, and be said in
the result's warnings. A 400 about the request or a 404 for an unknown model is the caller's problem and
is raised as such: chat completions would only repeat it.
"""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.local import DEFAULT_LOCAL_BASE_URL, LocalEndpoint, LocalProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import NO_RESPONSES_API, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

MODEL = "llama3.1:70b"
CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"


@pytest.fixture
def local_server(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.key = None  # a local server takes no key
    return fake_openai


def target(fake: FakeOpenAI, **kw) -> Target:
    return Target("local", MODEL, base_url=fake.url + "/v1", **kw)


async def test_responses_api_first(local_server: FakeOpenAI, transport: Transport):
    local_server.queue(R.reply("hi from responses", usage=R.tokens(20, 4)))
    result = await LocalProvider({}, transport).complete(ask(max_tokens=100, system="terse"), target(local_server))
    assert (result.text, result.provider, result.warnings) == ("hi from responses", "local", [])
    assert local_server.paths() == [RESPONSES]
    req = local_server.requests[0]
    assert "Authorization" not in req.headers
    assert (req.body["model"], req.body["instructions"], req.body["max_output_tokens"]) == (MODEL, "terse", 100)


async def test_a_key_when_configured_is_sent_as_bearer(local_server: FakeOpenAI, transport: Transport):
    local_server.key = "sk-local-0123456789"
    await LocalProvider({"MAGSAG_LOCAL_LLM_API_KEY": "sk-local-0123456789"}, transport).complete(
        ask(), target(local_server)
    )
    assert local_server.requests[0].headers["Authorization"] == "Bearer sk-local-0123456789"


@pytest.mark.parametrize("kind", sorted(NO_RESPONSES_API))
async def test_downgrade_to_chat_when_the_server_lacks_responses(
    local_server: FakeOpenAI, transport: Transport, kind: str
):
    status = NO_RESPONSES_API[kind][0]
    local_server.without_responses_api(kind).queue(R.reply("hi from chat", usage=R.tokens(9, 3)))
    provider = LocalProvider({}, transport)
    result = await provider.complete(ask(max_tokens=100), target(local_server))

    assert result.text == "hi from chat" and result.usage.input_tokens == 9
    assert local_server.paths() == [RESPONSES, CHAT]
    (warning,) = result.warnings
    assert f"HTTP {status}" in warning and "chat completions" in warning and local_server.url in warning
    chat_body = local_server.requests[1].body
    # local servers know the older field; max_completion_tokens is OpenAI's
    assert chat_body["max_tokens"] == 100 and "max_completion_tokens" not in chat_body


async def test_the_downgrade_is_remembered_per_base_url(local_server: FakeOpenAI, transport: Transport):
    local_server.without_responses_api("ollama").queue(R.reply("first"), R.reply("second"))
    provider = LocalProvider({}, transport)
    await provider.complete(ask(), target(local_server))
    second = await provider.complete(ask(), target(local_server))
    assert second.text == "second"
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]  # straight to chat the second time
    assert any("no Responses API" in w for w in second.warnings)

    # another server is not assumed to lack it
    async with FakeOpenAI(key=None).running() as other:
        other.queue(R.reply("other via responses"))
        result = await provider.complete(ask(), target(other))
        assert result.text == "other via responses" and result.warnings == []
        assert other.paths() == [RESPONSES]
        assert other.violations == []


@pytest.mark.parametrize("kind", ["ollama", "lmstudio-200"])
async def test_streaming_downgrades_too(local_server: FakeOpenAI, transport: Transport, kind: str):
    local_server.without_responses_api(kind).queue(R.reply("streamed chat answer"))
    result = await LocalProvider({}, transport).complete(ask(stream=True), target(local_server))
    assert result.text == "streamed chat answer" and local_server.paths() == [RESPONSES, CHAT]
    assert local_server.requests[1].body["stream"] is True


async def test_tools_survive_the_downgrade(local_server: FakeOpenAI, transport: Transport):
    tool = ToolSpec("add", "Add two numbers", {"type": "object", "properties": {"a": {"type": "number"}}})
    local_server.without_responses_api("fastapi").queue(R.reply(tool_calls=[R.call("add", {"a": 1}, id="c1")]))
    result = await LocalProvider({}, transport).complete(ask(tools=[tool]), target(local_server))
    assert [c.to_dict() for c in result.tool_calls] == [{"id": "c1", "name": "add", "arguments": {"a": 1}}]
    assert local_server.requests[1].body["tools"][0]["function"]["name"] == "add"


async def test_an_ordinary_bad_request_is_raised_not_downgraded(local_server: FakeOpenAI, transport: Transport):
    local_server.queue(
        R.error(
            400, "Invalid value for 'temperature': must be between 0 and 2.", param="temperature", code="invalid_value"
        )
    )
    provider = LocalProvider({}, transport)
    with pytest.raises(E.BadRequestError) as info:
        await provider.complete(ask(), target(local_server))
    assert type(info.value) is E.BadRequestError and not info.value.moves_on
    assert local_server.paths() == [RESPONSES]
    assert provider.chat_only == set()


@pytest.mark.parametrize(
    "message",
    [
        f'model "{MODEL}" not found, try pulling it first',  # Ollama
        f"The model `{MODEL}` does not exist.",  # vLLM / OpenAI wording
    ],
)
async def test_model_not_found_is_raised_not_downgraded(local_server: FakeOpenAI, transport: Transport, message: str):
    local_server.queue(R.error(404, message, type="api_error", code=None))
    provider = LocalProvider({}, transport)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete(ask(), target(local_server))
    assert info.value.status == 404 and (info.value.provider, info.value.model) == ("local", MODEL)
    # not sent to chat completions; the server's model list is read, for the names the error says it serves
    assert local_server.paths() == [RESPONSES, "/v1/models"] and provider.chat_only == set()


async def test_a_model_not_found_keeps_what_the_server_said(local_server: FakeOpenAI, transport: Transport):
    # converted once, at the boundary: the local provider raised a second ModelNotFoundError built from the
    # message alone, and the server's error code (shown by the MCP error and the ledger) was lost
    local_server.queue(R.error(404, f"model '{MODEL}' not found", type="invalid_request_error", code="model_not_found"))
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), target(local_server))
    assert info.value.to_dict()["code"] == "model_not_found"


async def test_errors_from_chat_after_the_downgrade_are_mapped(local_server: FakeOpenAI, transport: Transport):
    local_server.without_responses_api("ollama").queue(R.server_error())
    with pytest.raises(E.ServerError):
        await LocalProvider({}, transport).complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT]


async def test_api_chat_param_goes_straight_to_chat(local_server: FakeOpenAI, transport: Transport):
    result = await LocalProvider({}, transport).complete(ask(), target(local_server, params=(("api", "chat"),)))
    assert result.text == "ok" and local_server.paths() == [CHAT] and result.warnings == []


async def test_a_target_that_asks_for_chat_is_not_told_the_server_lacks_responses(
    local_server: FakeOpenAI, transport: Transport
):
    # A target with params {api: chat} on a server another target found without the Responses API: its answers
    # said "has no Responses API; used chat completions", about an API it never asked for.
    local_server.without_responses_api("ollama")
    provider = LocalProvider({}, transport)
    await provider.complete(ask(), target(local_server))
    result = await provider.complete(ask(), target(local_server, params=(("api", "chat"),)))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT] and result.warnings == []


async def test_a_call_with_stop_sequences_goes_to_chat_completions_which_honour_them(
    local_server: FakeOpenAI, transport: Transport
):
    # The Responses API has no stop sequences: a call with some was sent there without them (a warning said so),
    # and the model wrote past them, where the same server's chat completions stop there
    provider = LocalProvider({}, transport)
    result = await provider.complete(ask(stream=True, stop=["END"]), target(local_server))
    assert local_server.paths() == [CHAT] and local_server.requests[0].body["stop"] == ["END"]
    assert result.warnings == [] and provider.chat_only == set()
    # a call without any still goes to the Responses API; a target that asks for it keeps it (saying stop was lost)
    await provider.complete(ask(), target(local_server))
    result = await provider.complete(ask(stop=["END"]), target(local_server, params=(("api", "responses"),)))
    assert local_server.paths() == [CHAT, RESPONSES, RESPONSES] and "stop" not in local_server.requests[-1].body
    assert result.warnings == ["the Responses API has no stop sequences; 'stop' was not sent"]


async def test_a_call_asking_for_fewer_tokens_than_the_responses_minimum_gets_what_it_asked(
    local_server: FakeOpenAI, transport: Transport
):
    # max_tokens 1 (a yes/no classifier) went to the Responses API as 16, OpenAI's minimum there, and the model
    # wrote up to 16 tokens; the server's chat completions take the limit asked
    result = await LocalProvider({}, transport).complete(ask(max_tokens=1), target(local_server))
    assert local_server.paths() == [CHAT] and local_server.requests[0].body["max_tokens"] == 1
    assert result.warnings == []


async def test_after_the_downgrade_stop_is_sent_and_not_reported_missing(
    local_server: FakeOpenAI, transport: Transport
):
    # The note belongs to the request that carried the call: chat completions do send stop sequences.
    local_server.without_responses_api(sorted(NO_RESPONSES_API)[0]).queue(R.reply("hi"), R.reply("hi from chat"))
    provider = LocalProvider({}, transport)
    await provider.complete(ask(), target(local_server))
    result = await provider.complete(ask(stop=["END"]), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]
    assert "stop" not in local_server.requests[0].body and local_server.requests[2].body["stop"] == ["END"]
    assert result.warnings == []


async def test_a_target_base_url_without_a_path_gets_v1(local_server: FakeOpenAI, transport: Transport):
    result = await LocalProvider({}, transport).complete(ask(), Target("local", MODEL, base_url=local_server.url))
    assert result.text == "ok" and local_server.paths() == [RESPONSES]


# --- base URL resolution (no I/O) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "target_url", "expected"),
    [
        ({}, None, DEFAULT_LOCAL_BASE_URL),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434"}, None, "http://gpu-box:11434/v1"),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434/"}, None, "http://gpu-box:11434/v1"),
        (
            {"MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000/v1", "OLLAMA_BASE_URL": "http://gpu-box:11434"},
            None,
            "http://vllm:8000/v1",
        ),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000/v1"}, "http://other:9000", "http://other:9000/v1"),
        ({}, "http://other:9000/", "http://other:9000/v1"),
        ({}, "http://other:9000/api/v1", "http://other:9000/api/v1"),
        # an OLLAMA_BASE_URL that already names the /v1 API is not given a second one
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434/v1"}, None, "http://gpu-box:11434/v1"),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434/v1/"}, None, "http://gpu-box:11434/v1"),
        # MAGSAG_LOCAL_LLM_BASE_URL is the full base (vLLM, LM Studio): kept, only trailing slashes go
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000"}, None, "http://vllm:8000"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://lmstudio:1234/api/"}, None, "http://lmstudio:1234/api"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000/v1//"}, None, "http://vllm:8000/v1"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000/v1/v1"}, None, "http://vllm:8000/v1"),
        ({}, "http://other:9000/v1/", "http://other:9000/v1"),
        # OLLAMA_HOST, Ollama's own variable, read as its client reads it: [scheme://]host[:port][/path]
        ({"OLLAMA_HOST": "127.0.0.1:11500"}, None, "http://127.0.0.1:11500/v1"),
        ({"OLLAMA_HOST": "gpu-box"}, None, "http://gpu-box:11434/v1"),
        ({"OLLAMA_HOST": ":11500"}, None, "http://127.0.0.1:11500/v1"),
        ({"OLLAMA_HOST": "https://gpu-box"}, None, "https://gpu-box/v1"),  # a scheme without a port: its own
        ({"OLLAMA_HOST": "https://gpu-box:8443/ollama/"}, None, "https://gpu-box:8443/ollama/v1"),
        ({"OLLAMA_HOST": "http://gpu-box:11434/v1"}, None, "http://gpu-box:11434/v1"),
        ({"OLLAMA_HOST": "::1"}, None, "http://[::1]:11434/v1"),
        ({"OLLAMA_HOST": "[::1]:11434"}, None, "http://[::1]:11434/v1"),
        ({"OLLAMA_HOST": "http://gpu-box"}, None, "http://gpu-box/v1"),  # http's own port, 80, as Ollama reads it
        ({"OLLAMA_HOST": "gpu-box:"}, None, "http://gpu-box:11434/v1"),  # no port: the default
        # envconfig.Host gives a scheme its own port only as written, "http" or "https": in capitals it is 11434
        ({"OLLAMA_HOST": "HTTP://gpu-box"}, None, "http://gpu-box:11434/v1"),
        ({"OLLAMA_HOST": "HTTPS://gpu-box:8443"}, None, "https://gpu-box:8443/v1"),
        ({"OLLAMA_HOST": "localhost:1234"}, None, "http://localhost:1234/v1"),
        ({"OLLAMA_HOST": "http://[fe80::1]:1234/"}, None, "http://[fe80::1]:1234/v1"),
        # set for the server to listen everywhere, it is reached on loopback
        ({"OLLAMA_HOST": "0.0.0.0"}, None, "http://127.0.0.1:11434/v1"),
        ({"OLLAMA_HOST": "[::]:11434"}, None, "http://[::1]:11434/v1"),
        # the variables that name a base URL come first; blank is unset
        ({"OLLAMA_HOST": "gpu-box", "OLLAMA_BASE_URL": "http://other:11434"}, None, "http://other:11434/v1"),
        ({"OLLAMA_HOST": "gpu-box", "MAGSAG_LOCAL_LLM_BASE_URL": "http://vllm:8000/v1"}, None, "http://vllm:8000/v1"),
        ({"OLLAMA_HOST": " "}, None, DEFAULT_LOCAL_BASE_URL),
        # Ollama takes the quotes off (a docker-compose `- OLLAMA_HOST="0.0.0.0:11434"` keeps them in the value)
        ({"OLLAMA_HOST": '"0.0.0.0:11434"'}, None, "http://127.0.0.1:11434/v1"),
        ({"OLLAMA_HOST": " 'gpu-box:11500' "}, None, "http://gpu-box:11500/v1"),
        ({"OLLAMA_HOST": '""'}, None, DEFAULT_LOCAL_BASE_URL),
        # the bare name of Ollama's cloud is its https API, as the ollama CLI reads it
        ({"OLLAMA_HOST": "ollama.com"}, None, "https://ollama.com/v1"),
    ],
)
def test_base_url_resolution(env: dict[str, str], target_url: str | None, expected: str):
    assert DEFAULT_LOCAL_BASE_URL == "http://localhost:11434/v1"
    assert LocalEndpoint(env).base_url(Target("local", MODEL, base_url=target_url)) == expected


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_ollama_base_url_with_or_without_v1_reaches_the_api(
    local_server: FakeOpenAI, transport: Transport, suffix: str
):
    provider = LocalProvider({"OLLAMA_BASE_URL": local_server.url + suffix}, transport)
    result = await provider.complete(ask(), Target("local", MODEL))
    assert result.text == "ok" and result.warnings == []
    assert local_server.paths() == [RESPONSES]  # never /v1/v1/responses


async def test_ollama_host_reaches_the_server(local_server: FakeOpenAI, transport: Transport):
    # An Ollama user whose server listens elsewhere than 11434 sets OLLAMA_HOST (which the ollama CLI reads
    # too); the local provider called localhost:11434 regardless and found nothing listening.
    host_port = local_server.url.removeprefix("http://")
    result = await LocalProvider({"OLLAMA_HOST": host_port}, transport).complete(ask(), Target("local", MODEL))
    assert result.text == "ok" and local_server.paths() == [RESPONSES]


async def test_a_model_without_tool_support_moves_on_and_keeps_the_responses_api(
    local_server: FakeOpenAI, transport: Transport
):
    # Ollama, for a model whose template has no tools
    local_server.queue(
        R.error(400, "registry.ollama.ai/library/llama3:latest does not support tools", type="api_error")
    )
    tool = ToolSpec("add", "Add two numbers", {"type": "object", "properties": {"a": {"type": "number"}}})
    provider = LocalProvider({}, transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(tools=[tool]), Target("local", "llama3", base_url=local_server.url + "/v1"))
    err = info.value
    assert (err.moves_on, err.retryable, err.status) == (True, False, 400)
    assert "does not support tools" in err.message
    assert local_server.paths() == [RESPONSES] and provider.chat_only == set()


async def test_a_read_timeout_set_below_locals_default_says_a_loading_model_may_need_longer(
    local_server: FakeOpenAI, transport: Transport
):
    # MAGSAG_READ_TIMEOUT, set for the cloud vendors, holds for local too, whose own default (600s) leaves room for a
    # server loading a large model into memory on its first call (or after unloading an idle one). The timeout said
    # only "no answer from ... within the read timeout of 0.2s (MAGSAG_READ_TIMEOUT)": a server that seemed to hang.
    local_server.queue(R.reply(hang=True))
    provider = LocalProvider({"MAGSAG_READ_TIMEOUT": "0.2"}, transport)
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await provider.complete(ask(), target(local_server))
    finally:
        local_server.release()
    message = info.value.message
    assert "within the read timeout of 0.2s (MAGSAG_READ_TIMEOUT)" in message
    assert message.endswith(
        "; a local server may be loading the model into memory (on its first call, or after unloading it when "
        "idle: Ollama's keep_alive, 5 minutes by default), silent until it is loaded, which takes minutes for a "
        "large model: raise MAGSAG_READ_TIMEOUT, or leave it unset for local's 600s"
    )
    assert provider.chat_only == set()


async def test_connection_refused_is_a_connection_error(transport: Transport, unused_tcp_port: int):
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}/v1"}, transport)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(ask(), Target("local", MODEL))
    # changed on purpose (back to retryable): on loopback, the next target is tried at once, and the last one left
    # is retried (a5eb4ff made it not retried at all: a server restarting lost the call)
    err = info.value
    assert err.retryable and err.retried_only_on_last_target and err.moves_on and provider.chat_only == set()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_connection_refused_says_no_server_listens_there(transport: Transport, unused_tcp_port: int, host: str):
    # Ollama not started yet: the message was aiohttp's "ClientConnectorError: Cannot connect to host
    # 127.0.0.1:PORT ssl:default [Connect call failed ('127.0.0.1', PORT)]", which says neither what it means
    # (nothing listens there) nor what to do.
    provider = LocalProvider({"OLLAMA_BASE_URL": f"http://{host}:{unused_tcp_port}"}, transport)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(ask(), Target("local", MODEL))
    message = info.value.message
    assert message.startswith(f"could not reach http://{host}:{unused_tcp_port}: the connection was refused")
    assert "no server listens at that host and port" in message and "ollama serve" in message
    assert "base URL" in message and "ssl:default" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OLLAMA_BASE_URL", "http://127.0.0.1:{port}"),
        ("MAGSAG_LOCAL_LLM_BASE_URL", "http://127.0.0.1:{port}/v1"),
        ("OLLAMA_HOST", "127.0.0.1:{port}"),
        (None, "http://127.0.0.1:{port}"),
    ],
)
async def test_a_refused_connection_names_the_setting_its_url_came_from(
    transport: Transport, unused_tcp_port: int, name: str | None, value: str
):
    # "correct the host and port in the provider's base URL" named none of the three variables (or the target's
    # base_url) the local provider reads: the user had to know which one was used
    url = value.format(port=unused_tcp_port)
    provider = LocalProvider({name: url} if name else {}, transport)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(ask(), Target("local", MODEL, base_url=None if name else url))
    source = name or "the target's base_url"
    assert info.value.message.endswith(f"correct the host and port in the base URL ({source})")
    if name is not None:  # `magsag doctor --probe` names it too (it said "the provider's base URL")
        probed = await provider.probe()
        assert probed.startswith("unreachable: ") and probed.endswith(f"in the base URL ({source})"), probed


async def test_with_no_base_url_set_a_refused_connection_names_the_variable_and_the_default_used(
    transport: Transport, unused_tcp_port: int
):
    # nothing set: Ollama's default was called (a vLLM user on port 8000 may not know it), and the fix names the
    # variable to set
    from magsag_mcp.providers import local

    provider = LocalProvider({}, transport)
    url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    provider.endpoint.base_url = lambda target: url  # type: ignore[method-assign]  # (no server at :11434 assumed)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(ask(), Target("local", MODEL))
    assert info.value.message.endswith(
        f"the base URL (MAGSAG_LOCAL_LLM_BASE_URL, unset: Ollama's default {local.DEFAULT_LOCAL_BASE_URL} was used)"
    )


def test_a_refusal_on_every_address_tried_is_a_refusal():
    from magsag_mcp.transport_failures import _refused

    both = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 9), [Errno 111] Connect call failed")
    assert _refused(ConnectionRefusedError(111, "Connect call failed")) and _refused(both)
    assert not _refused(OSError("Multiple exceptions: [Errno 111] refused, [Errno 101] Network is unreachable"))
    assert not _refused(OSError("Multiple exceptions: "))
    assert not _refused(TimeoutError()) and not _refused(None)


async def test_the_downgrade_warning_shows_no_credential_from_the_base_url(transport: Transport):
    # A gateway that takes its token in the path (as the trace's base_url is redacted for): the warning
    # named the whole base URL, and warnings go to the result, the MCP tool's answer and the ledger.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    token = "sk-route0123456789abcdef"
    fake = FakeOpenAI(key=None).without_responses_api("ollama")
    fake.queue(R.reply("first"), R.reply("second"))
    outer = web.Application()
    outer.add_subapp(f"/{token}", fake.make_app())
    server = TestServer(outer, host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url(f"/{token}/v1"))
        provider = LocalProvider({}, transport)
        first = await provider.complete(ask(), Target("local", MODEL, base_url=base))
        second = await provider.complete(ask(), Target("local", MODEL, base_url=base))
    finally:
        await server.close()
    assert (first.text, second.text) == ("first", "second") and fake.paths()[-1] == f"/{token}{CHAT}"
    warnings = first.warnings + second.warnings
    assert len(warnings) == 2 and all("local server at http://127.0.0.1:" in w for w in warnings)
    assert not [w for w in warnings if token in w]


async def test_a_gateway_token_shaped_like_no_known_key_stays_out_of_warnings_and_errors(transport: Transport):
    # docs/configuration.md promises a base URL is shown with each path segment shaped like a token as [REDACTED]
    # (traces, explain_route and messages). The downgrade warning and the "neither API" error ran the URL
    # through redact() only, which knows keys by their shape (sk-, AIza...): a gateway's token of mixed case
    # and digits in the path reached the result's warnings, the MCP answer and the ledger.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    token = "Gw7tKq2LmZx9RvB4nHc8"
    fake = FakeOpenAI(key=None).without_responses_api("ollama")
    fake.queue(R.reply("first"), R.reply("second"))
    outer = web.Application()
    outer.add_subapp(f"/{token}", fake.make_app())
    server = TestServer(outer, host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url(f"/{token}/v1"))
        provider = LocalProvider({}, transport)
        first = await provider.complete(ask(), Target("local", MODEL, base_url=base))
        second = await provider.complete(ask(), Target("local", MODEL, base_url=base))
        with pytest.raises(E.NotConfiguredError) as info:  # a path where neither API is served
            await LocalProvider({}, transport).complete(ask(), Target("local", MODEL, base_url=base + "/api"))
    finally:
        await server.close()
    warnings = first.warnings + second.warnings
    assert len(warnings) == 2 and all("/[REDACTED]/v1" in w for w in warnings)
    assert "neither /responses nor /chat/completions" in info.value.message
    assert "/[REDACTED]/v1/api" in info.value.message
    assert not [w for w in [*warnings, info.value.message] if token in w]


async def test_a_server_upgraded_since_the_downgrade_gets_its_responses_api_used(
    local_server: FakeOpenAI, transport: Transport
):
    # An MCP server running for days with an Ollama that had no /v1/responses: once Ollama was upgraded, every
    # call still went to chat completions, saying "has no Responses API", until magsag was restarted. Now the
    # Responses API is asked again once the downgrade is RECHECK_AFTER_S old (one quick 404 while still missing).
    from magsag_mcp.providers.local import RECHECK_AFTER_S

    now = [1000.0]
    provider = LocalProvider({}, transport)
    provider.clock = lambda: now[0]
    local_server.without_responses_api("ollama")
    first = await provider.complete(ask(), target(local_server))
    assert "for the next 10 minutes before the Responses API is asked again" in first.warnings[0]
    now[0] += RECHECK_AFTER_S - 1
    await provider.complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]  # remembered: no 404 paid on every call

    now[0] += 2  # still missing when asked again: one 404, chat, and remembered afresh
    again = await provider.complete(ask(), target(local_server))
    await provider.complete(ask(), target(local_server))
    assert local_server.paths()[3:] == [RESPONSES, CHAT, CHAT] and "fell back" in again.warnings[0]

    local_server.responses_answer = None  # the server is upgraded
    now[0] += RECHECK_AFTER_S
    upgraded = await provider.complete(ask(), target(local_server))
    later = await provider.complete(ask(), target(local_server))
    assert local_server.paths()[6:] == [RESPONSES, RESPONSES]
    assert upgraded.warnings == later.warnings == [] and provider.chat_only == set()


@pytest.mark.parametrize("name", ["OLLAMA_BASE_URL", "MAGSAG_LOCAL_LLM_BASE_URL"])
@pytest.mark.parametrize("value", ["localhost:11434", "127.0.0.1:11434", "0.0.0.0"])
def test_a_base_url_without_its_scheme_is_refused_with_a_plain_http_example(name: str, value: str):
    # Written as Ollama's own OLLAMA_HOST is (host:port, no scheme): the fix said "e.g. https://host/v1", and a
    # user who followed it got a TLS error from a server that speaks plain http. Now the URL meant is said, over
    # http, as local servers serve (OLLAMA_BASE_URL is the server's root: local adds its /v1 itself).
    err = LocalProvider({name: value}, Transport()).unavailable_error(Target("local", MODEL))
    assert isinstance(err, E.NotConfiguredError)
    assert f"did you mean http://{value}? Set its base URL ({name}) to that" in err.message
    assert "https://" not in err.message


@pytest.mark.parametrize("model", [None, "qwen2.5-coder"])
async def test_the_policys_models_missing_on_the_local_server_says_to_name_one(
    local_server: FakeOpenAI, tmp_path, model: str | None
):
    # MAGSAG_PROVIDER=local without MAGSAG_MODEL sends the routing policy's models (gpt-4o, ...) to the local
    # server by their names: Ollama has none of them, and the call failed with "every target failed:
    # local:gpt-4o model_not_found; ..." and nothing said that a model of the server's had to be named.
    from pathlib import Path

    from magsag_mcp.service import Service

    missing = 'model "{}" not found, try pulling it first'
    local_server.default = R.error(404, missing.format(model or "gpt-4o"), type="api_error", code=None)
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": local_server.url + "/v1"}
    if model:
        env["MAGSAG_MODEL"] = model
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    message = info.value.message
    assert "local:gpt-4o model_not_found" in message or model
    # (this server's list names gpt-4o, which it answers 404 for: said as listed, then not found when asked; it
    # read "has none of them; ... serves gpt-4o: name one of them", naming as served the model that just failed)
    fix = "lists gpt-4o but answered it not found when asked"
    assert (fix in message) is (model is None)  # a model the user named is not the policy's
    assert "has none of them" not in message


async def test_each_new_process_pays_the_missing_responses_api_so_the_warning_names_params_api_chat(
    local_server: FakeOpenAI, transport: Transport, tmp_path
):
    # The downgrade is remembered by the process: each `magsag invoke` is a new one, and paid a 404 from Ollama's
    # /v1/responses before every call, while the warning promised chat completions "for the next 10 minutes". It
    # now says the memory is this process's, and names the target setting that skips the Responses API for good;
    # that setting, given as the call's model_config.params, sends the call straight to chat completions.
    from pathlib import Path

    from magsag_mcp.service import Service

    local_server.without_responses_api("ollama")
    first = await LocalProvider({}, transport).complete(ask(), target(local_server))
    second = await LocalProvider({}, transport).complete(ask(), target(local_server))  # another process
    assert local_server.paths() == [RESPONSES, CHAT, RESPONSES, CHAT]
    for warning in (first.warnings[0], second.warnings[0]):
        assert "this process will call it on for the next 10 minutes" in warning
        assert "give the target params {api: chat} (in routing, or the call's model_config.params)" in warning

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    config = {"provider": "local", "model": MODEL, "base_url": local_server.url, "params": {"api": "chat"}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env={}) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert local_server.paths()[4:] == [CHAT]
    assert result.provider == "local" and result.warnings == []
