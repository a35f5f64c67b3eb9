"""Azure OpenAI: the deployment URL, the api-version query, the ``api-key`` header, Azure's own spec.

The fake validates each body against Azure's ``createChatCompletionRequest`` (api-version 2024-10-21)
and refuses a request without ``api-version`` or with a wrong ``api-key`` the way Azure does.
"""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import DEFAULT_AZURE_API_VERSION, AzureEndpoint, AzureProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

DEPLOYMENT = "gpt4o-prod"


def env_for(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/", **extra}


async def test_deployment_url_default_api_version_and_api_key_header(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.reply("hi from azure", usage=R.tokens(40, 5, cached=32, reasoning=0)))
    provider = AzureProvider(env_for(fake_openai), transport)
    result = await provider.complete(ask(system="be brief", max_tokens=50), Target("azure", DEPLOYMENT))

    assert (result.text, result.provider) == ("hi from azure", "azure")
    assert (result.usage.input_tokens, result.usage.cached_tokens) == (40, 32)
    (req,) = fake_openai.requests
    assert req.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert req.query == {"api-version": "2024-10-21"} and DEFAULT_AZURE_API_VERSION == "2024-10-21"
    assert req.headers["api-key"] == AZURE_KEY
    assert "Authorization" not in req.headers
    assert req.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert req.body["max_completion_tokens"] == 50


async def test_api_version_from_the_environment(fake_openai: FakeOpenAI, transport: Transport):
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert fake_openai.requests[0].query == {"api-version": "2025-01-01-preview"}


@pytest.mark.parametrize(
    ("version", "field"),
    [
        ("2024-02-01", "max_tokens"),
        ("2024-06-01", "max_tokens"),
        ("2024-08-01-preview", "max_tokens"),
        ("2024-09-01-preview", "max_completion_tokens"),
        ("2024-10-21", "max_completion_tokens"),
        ("2025-01-01-preview", "max_completion_tokens"),
    ],
)
async def test_the_token_limit_field_is_the_one_the_api_version_knows(
    fake_openai: FakeOpenAI, transport: Transport, version: str, field: str
):
    # Azure's max_completion_tokens arrived in 2024-09-01-preview (the 2024-10-21 GA spec has it, max_tokens
    # "deprecated in favor of" it); earlier versions answer 400 "Unrecognized request argument supplied:
    # max_completion_tokens", a bad request that stopped the whole cascade on every call with a token limit.
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION=version)
    result = await AzureProvider(env, transport).complete(ask(max_tokens=50), Target("azure", DEPLOYMENT))
    assert result.text == "ok"
    body = fake_openai.requests[0].body
    assert body[field] == 50 and not {"max_tokens", "max_completion_tokens"} - {field} & set(body)


async def test_target_base_url_wins_over_the_environment(fake_openai: FakeOpenAI, transport: Transport):
    env = {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9/"}
    result = await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT, base_url=fake_openai.url))
    assert result.text == "ok" and len(fake_openai.requests) == 1


def test_deployment_names_are_quoted_into_the_path():
    endpoint = AzureEndpoint({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com"})
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat

    url, params = endpoint.url(ChatCompletionsFormat(), Target("azure", "team/gpt 4o"), stream=False)
    assert url == "https://res.openai.azure.com/openai/deployments/team%2Fgpt%204o/chat/completions"
    assert params == {"api-version": "2024-10-21"}


async def test_missing_endpoint_is_a_clear_error_before_any_request(transport: Transport):
    provider = AzureProvider({"AZURE_OPENAI_API_KEY": AZURE_KEY}, transport)
    target = Target("azure", DEPLOYMENT)
    reason = provider.unavailable(target)
    assert reason and "AZURE_OPENAI_ENDPOINT" in reason
    with pytest.raises(E.ProviderError, match="AZURE_OPENAI_ENDPOINT") as info:
        await provider.complete(ask(), target)
    assert info.value.moves_on and not info.value.retryable


async def test_missing_key_is_a_clear_error(fake_openai: FakeOpenAI, transport: Transport):
    provider = AzureProvider({"AZURE_OPENAI_ENDPOINT": fake_openai.url}, transport)
    assert "AZURE_OPENAI_API_KEY" in (provider.unavailable(Target("azure", DEPLOYMENT)) or "")
    with pytest.raises(E.AuthenticationError, match="AZURE_OPENAI_API_KEY"):
        await provider.complete(ask(), Target("azure", DEPLOYMENT))
    assert fake_openai.requests == []


async def test_a_wrong_key_is_an_authentication_error_that_never_shows_the_key(
    fake_openai: FakeOpenAI, transport: Transport
):
    wrong = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # Azure keys are bare hex: no pattern recognises them
    env = {**env_for(fake_openai), "AZURE_OPENAI_API_KEY": wrong}
    with pytest.raises(E.AuthenticationError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.status == 401 and "Access denied" in info.value.message
    # and when a server does echo it, it is redacted
    fake_openai.queue(R.error(403, f"key {AZURE_KEY} lacks access to deployment", code="PermissionDenied"))
    with pytest.raises(E.PermissionDeniedError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert AZURE_KEY not in str(info.value) and AZURE_KEY not in json.dumps(info.value.to_dict())


async def test_streaming_with_tools_and_usage(fake_openai: FakeOpenAI, transport: Transport):
    # stream_options (usage at the end of a stream) needs api-version 2024-09-01-preview or later.
    tool = ToolSpec("lookup", "Look a word up", {"type": "object", "properties": {"word": {"type": "string"}}})
    fake_openai.queue(R.reply(tool_calls=[R.call("lookup", {"word": "azure"}, id="call_az")], usage=R.tokens(30, 12)))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    result = await AzureProvider(env, transport).complete(
        ask(stream=True, tools=[tool], tool_choice={"name": "lookup"}), Target("azure", DEPLOYMENT)
    )
    assert [c.to_dict() for c in result.tool_calls] == [
        {"id": "call_az", "name": "lookup", "arguments": {"word": "azure"}}
    ]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (30, 12)
    body = fake_openai.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    # the stream began with Azure's prompt_filter_results chunk (no choice, blank id and model): it added nothing
    assert result.model == DEPLOYMENT and (result.response_id or "").startswith("chatcmpl-")


async def test_json_schema_output(fake_openai: FakeOpenAI, transport: Transport):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fake_openai.queue(R.json_reply({"ok": True}))
    result = await AzureProvider(env_for(fake_openai), transport).complete(
        ask(json_schema=schema), Target("azure", DEPLOYMENT)
    )
    assert result.parsed == {"ok": True}
    assert fake_openai.requests[0].body["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            E.ContentFilteredError,
        ),
        (404, "DeploymentNotFound", "The API deployment for this resource does not exist.", E.ModelNotFoundError),
        (
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation have exceeded call rate limit.",
            E.RateLimitError,
        ),
        (400, "context_length_exceeded", "This model's maximum context length is 8192 tokens.", E.ContextTooLongError),
        (500, "InternalServerError", "The service is temporarily unable to process your request.", E.ServerError),
    ],
)
async def test_azure_errors(fake_openai: FakeOpenAI, transport: Transport, status: int, code: str, message: str, cls):
    fake_openai.queue(R.error(status, message, code=code, headers={"retry-after": "4"} if status == 429 else {}))
    with pytest.raises(E.ProviderError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert type(info.value) is cls and info.value.status == status
    assert (info.value.provider, info.value.model) == ("azure", DEPLOYMENT)
    if status == 429:
        assert info.value.retry_after == 4.0


async def test_ga_api_version_does_not_stream_because_it_reports_no_stream_usage(
    fake_openai: FakeOpenAI, transport: Transport
):
    # The 2024-10-21 GA spec has no stream_options: a streamed answer would come without usage, and its
    # cost could not be known. So the router never streams it, and a direct stream request is answered whole.
    provider = AzureProvider(env_for(fake_openai), transport)
    assert provider.capabilities(Target("azure", DEPLOYMENT)).streaming is False
    fake_openai.queue(R.reply("whole", usage=R.tokens(10, 3)))
    result = await provider.complete(ask(stream=True), Target("azure", DEPLOYMENT))
    body = fake_openai.requests[0].body
    assert "stream" not in body and "stream_options" not in body
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("whole", 10, 3)
    assert any("reports no usage for streams" in w for w in result.warnings)
    newer = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION="2024-09-01-preview"), transport)
    assert newer.capabilities(Target("azure", DEPLOYMENT)).streaming is True


@pytest.mark.parametrize(
    ("retry_after", "cls"),
    [("9", E.RateLimitError), ("86400", E.QuotaExhaustedError)],
)
async def test_azure_rate_limit_message_links_a_quota_increase_but_is_a_rate_limit(
    fake_openai: FakeOpenAI, transport: Transport, retry_after: str, cls
):
    # Azure's per-minute 429 says where to ask for more ("https://aka.ms/oai/quotaincrease"): the link is not
    # a spent quota. A 9-second wait is a rate limit to wait out; only the wait itself says it is a long one.
    message = (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded "
        f"token rate limit of your current OpenAI S0 pricing tier. Please retry after {retry_after} seconds. Please "
        "go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
    )
    fake_openai.queue(R.error(429, message, code="429", headers={"retry-after": retry_after}))
    with pytest.raises(E.ProviderError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert type(info.value) is cls and info.value.retry_after == float(retry_after)


@pytest.mark.parametrize(("version", "query"), [("v1", {}), ("preview", {"api-version": "preview"})])
async def test_the_v1_api_is_called_at_its_own_path(fake_openai: FakeOpenAI, transport: Transport, version, query):
    # Azure's v1 API has no dated api-version: it lives at {endpoint}/openai/v1/chat/completions, the deployment
    # named as the model. Sent to the deployments path, "v1" or "preview" is answered "API version not supported".
    fake_openai.queue(R.reply("hi from v1", usage=R.tokens(20, 4)), R.reply("streamed from v1", usage=R.tokens(20, 5)))
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    result = await provider.complete(ask(max_tokens=50), Target("azure", DEPLOYMENT))
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("hi from v1", 20, 4)
    req = fake_openai.requests[0]
    assert (req.path, req.query) == ("/openai/v1/chat/completions", query)
    assert req.headers["api-key"] == AZURE_KEY and "Authorization" not in req.headers
    assert req.body["model"] == DEPLOYMENT and req.body["max_completion_tokens"] == 50
    streamed = await provider.complete(ask(stream=True), Target("azure", DEPLOYMENT))
    assert (streamed.text, streamed.usage.output_tokens) == ("streamed from v1", 5)
    assert fake_openai.requests[1].body["stream_options"] == {"include_usage": True}
    assert fake_openai.violations == []


@pytest.mark.parametrize(
    "suffix",
    [
        "/openai",
        "/openai/",
        "/openai/v1",
        "/openai/v1/",
        "/OpenAI",
        # a deployment's Target URI, as the portal shows it (without its ?api-version), and the v1 API's
        f"/openai/deployments/{DEPLOYMENT}/chat/completions",
        "/openai/v1/chat/completions",
    ],
)
@pytest.mark.parametrize(
    ("version", "path"), [("2024-10-21", f"/openai/deployments/{DEPLOYMENT}"), ("v1", "/openai/v1")]
)
async def test_an_endpoint_given_with_its_openai_path_is_not_doubled(
    fake_openai: FakeOpenAI, transport: Transport, suffix: str, version: str, path: str
):
    # The portal and the SDKs show the endpoint as https://RESOURCE.openai.azure.com/openai/v1/ (the v1 API's
    # base URL) or with /openai: either, given as AZURE_OPENAI_ENDPOINT, still calls the resource's one path
    # rather than /openai/openai/..., which Azure answers 404 "Resource not found".
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION=version)
    env["AZURE_OPENAI_ENDPOINT"] = fake_openai.url + suffix
    result = await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert result.text == "ok"
    assert fake_openai.requests[0].path == f"{path}/chat/completions"


@pytest.mark.parametrize(
    ("version", "path", "query"),
    [("2024-10-21", "/openai/models", {"api-version": "2024-10-21"}), ("v1", "/openai/v1/models", {})],
)
async def test_the_probe_lists_the_resources_models_where_azure_serves_them(
    fake_openai: FakeOpenAI, transport: Transport, version: str, path: str, query: dict[str, str]
):
    # magsag doctor --probe: a rightly configured resource is reachable. Azure lists models at
    # {endpoint}/openai/models?api-version=... (the v1 API: /openai/v1/models); {endpoint}/models is a 404,
    # which the probe would report as a wrong endpoint.
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    assert await provider.probe() == "reachable"
    (req,) = fake_openai.requests
    assert (req.method, req.path, req.query) == ("GET", path, query)
    assert req.headers["api-key"] == AZURE_KEY


async def test_the_sdks_openai_api_version_is_read_when_azures_own_is_unset(
    fake_openai: FakeOpenAI, transport: Transport
):
    # The openai SDK's AzureOpenAI (and LangChain) read OPENAI_API_VERSION: set for them, it picks the same
    # api-version here (and so streaming, which needs 2024-09-01-preview or later) instead of the GA default.
    provider = AzureProvider(env_for(fake_openai, OPENAI_API_VERSION="2025-01-01-preview"), transport)
    assert provider.capabilities(Target("azure", DEPLOYMENT)).streaming is True
    await provider.complete(ask(), Target("azure", DEPLOYMENT))
    assert fake_openai.requests[0].query == {"api-version": "2025-01-01-preview"}
    both = env_for(fake_openai, OPENAI_API_VERSION="2025-01-01-preview", AZURE_OPENAI_API_VERSION="2024-06-01")
    await AzureProvider(both, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert fake_openai.requests[1].query == {"api-version": "2024-06-01"}


@pytest.mark.parametrize(
    ("version", "knows"),
    [
        ("2024-02-01", False),
        ("2024-06-01", False),
        ("2024-07-01-preview", False),
        ("2024-08-01-preview", True),
        ("2024-10-21", True),
        ("2025-01-01-preview", True),
        ("v1", True),
        ("preview", True),
    ],
)
async def test_a_json_schema_is_asked_only_of_an_api_version_that_knows_it(
    fake_openai: FakeOpenAI, transport: Transport, version: str, knows: bool
):
    # Structured outputs (response_format json_schema) came with 2024-08-01-preview, GA in 2024-10-21; an older
    # api-version (the 2024-06-01 GA many resources pin) answers 400 "Invalid parameter: 'response_format' must be
    # one of 'json_object', 'text'", a bad request that would stop the cascade. Routing skips such a target for a
    # call with a schema (another may serve it), and a direct call says which setting to change, sending nothing.
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    assert provider.capabilities(Target("azure", DEPLOYMENT)).json_schema is knows
    assert provider.capabilities(Target("azure", DEPLOYMENT)).json is True
    fake_openai.queue(R.json_reply({"a": 1}))
    if knows:
        result = await provider.complete(ask(json_schema=schema), Target("azure", DEPLOYMENT))
        assert result.parsed == {"a": 1}
        return
    with pytest.raises(E.UnsupportedFeatureError, match=f"api-version {version}.*AZURE_OPENAI_API_VERSION") as info:
        await provider.complete(ask(json_schema=schema), Target("azure", DEPLOYMENT))
    assert info.value.moves_on and fake_openai.requests == []


async def test_azures_408_after_processing_may_be_billed(fake_openai: FakeOpenAI, transport: Transport):
    # Azure's 408 is its own server giving up on a generation under way ("The operation was timeout."), and Azure
    # says such a request may be charged ("a 408 error due to a timeout"): it was recorded at exactly $0, so
    # repeated long answers that timed out spent past every limit unseen. Its cost is now unknown, as a gateway's
    # 504 is.
    fake_openai.queue(R.error(408, "The operation was timeout.", code="Timeout"))
    with pytest.raises(E.ProviderTimeoutError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.maybe_billed and info.value.status == 408
    assert info.value.moves_on


@pytest.mark.parametrize(("version", "sent"), [("2024-06-01", False), ("2024-10-21", True)])
async def test_a_strict_tool_is_sent_strict_only_where_the_api_version_takes_it(
    fake_openai: FakeOpenAI, transport: Transport, version: str, sent: bool
):
    # strict function calling came with structured outputs (2024-08-01-preview, GA 2024-10-21): the 2024-06-01 GA
    # many resources pin answers 400 to a tool's strict, and the call lost the target. There it is left out,
    # said to be, and the arguments are checked against the tool's schema as on any target that does not hold them.
    params = {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
        "additionalProperties": False,
    }
    tool = ToolSpec("lookup", "Look a word up", params, strict=True)
    fake_openai.queue(
        R.reply(tool_calls=[R.call("lookup", {"word": "azure"})]), R.reply(tool_calls=[R.call("lookup", {"word": 5})])
    )
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    result = await provider.complete(ask(tools=[tool]), Target("azure", DEPLOYMENT))
    assert result.tool_calls[0].arguments == {"word": "azure"}
    assert fake_openai.requests[0].body["tools"][0]["function"].get("strict") is (True if sent else None)
    said = [w for w in result.warnings if "strict" in w]
    why = f"api-version {version} takes no strict tools (they came with 2024-08-01-preview, GA 2024-10-21)"
    assert said == (
        []
        if sent
        else [f"{why}: strict was not sent, and the arguments were checked against each strict tool's schema"]
    )
    with pytest.raises(E.InvalidOutputError, match="strict tool 'lookup'"):
        await provider.complete(ask(tools=[tool]), Target("azure", DEPLOYMENT))


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ms-retry-after-ms": "4000"}, 4.0),
        # the milliseconds are the more exact of the same wait, whichever of the two names carries them
        ({"x-ms-retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after-ms": "2500", "x-ms-retry-after-ms": "2600", "retry-after": "3"}, 2.5),
    ],
)
async def test_azure_wait_in_x_ms_retry_after_ms_is_honoured(
    fake_openai: FakeOpenAI, transport: Transport, headers: dict[str, str], wait: float
):
    # Azure names its wait in milliseconds x-ms-retry-after-ms (azure-core reads it beside retry-after-ms and
    # Retry-After); a 429 that gave only that header was a rate limit with no wait, retried on the backoff's guess
    message = "Requests to the ChatCompletions_Create Operation have exceeded call rate limit."
    fake_openai.queue(R.error(429, message, code="429", headers=headers))
    with pytest.raises(E.RateLimitError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.retry_after == wait


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        # what Azure's Responses API has sent on a 429 (Microsoft Q&A 5625878): limit and remaining -1, reset 0, no
        # retry-after. -1 is no count, not an empty bucket: read as 0 left, its reset of 0 made the server's wait
        # 0s, and the 429 was retried at once (a jitter under the base delay) rather than after the backoff
        ({"x-ratelimit-limit-tokens": "-1", "x-ratelimit-remaining-tokens": "-1",
          "x-ratelimit-reset-tokens": "0"}, None),
        ({"x-ratelimit-remaining-requests": "-1", "x-ratelimit-reset-requests": "0"}, None),
        # a bucket that did run out, its reset in whole seconds as Azure writes it: that wait
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6", "x-ratelimit-remaining-requests": "-1",
          "x-ratelimit-reset-requests": "0"}, 6.0),
    ],
)  # fmt: skip
async def test_azure_rate_limit_headers_without_a_count_name_no_wait(
    fake_openai: FakeOpenAI, transport: Transport, headers: dict[str, str], wait: float | None
):
    message = "Requests to the Responses_Create Operation have exceeded token rate limit."
    fake_openai.queue(R.error(429, message, code="429", headers=headers))
    with pytest.raises(E.RateLimitError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.retry_after == wait


async def test_a_targets_param_its_api_version_lacks_is_refused_naming_the_api_version(
    fake_openai: FakeOpenAI, transport: Transport
):
    # a target's reasoning_effort (or store, metadata, ...), which Azure took only in the previews after 2024-10-21:
    # at the GA default, Azure answers 400 "Unrecognized request argument supplied: reasoning_effort", which said
    # "this server does not take reasoning_effort", as if the deployment could not, where the api-version setting
    # is what lacks it
    provider = AzureProvider(env_for(fake_openai), transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(extra={"reasoning_effort": "low"}), Target("azure", DEPLOYMENT))
    said = info.value.message
    assert "Unrecognized request argument supplied: reasoning_effort" in said
    assert "api-version 2024-10-21 (from the default) has no field reasoning_effort" in said
    assert "AZURE_OPENAI_API_VERSION" in said and "v1" in said
    assert said.endswith("or take it out of the target's params (or the call's model_config.params)")
    assert info.value.moves_on and info.value.details["param"] == "reasoning_effort"
    fake_openai.violations.clear()  # (the refused request, sent on purpose)
    # a later api-version takes it
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-04-01-preview"), transport)
    result = await provider.complete(ask(extra={"reasoning_effort": "low"}), Target("azure", DEPLOYMENT))
    assert result.text == "ok" and fake_openai.requests[-1].body["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("version", "field", "asked", "said_of_it"),
    [
        # tools and response_format came with 2023-12-01-preview: the 2023-05-15 GA many resources pinned lacks both
        ("2023-05-15", "tools", {"tools": [ToolSpec("lookup", "Look a word up", {"type": "object"})]},
         "which magsag sent for the call's tools: set AZURE_OPENAI_API_VERSION to a later one that takes it (a "
         "preview such as 2025-04-01-preview, or v1), or call it without tools"),
        ("2023-05-15", "response_format", {"json_output": True},
         "which magsag sent for the call's JSON output: set AZURE_OPENAI_API_VERSION to a later one that takes it (a "
         "preview such as 2025-04-01-preview, or v1), or call it without json_output or a json_schema"),
    ],
)  # fmt: skip
async def test_a_field_magsag_built_is_not_told_to_leave_the_targets_params(
    fake_openai: FakeOpenAI, transport: Transport, version: str, field: str, asked: dict, said_of_it: str
):
    # "or take it out of the target's params" told the operator to edit params that never held the field: magsag
    # built it for a feature of the call, which is what to leave out where the api-version is to stay
    fake_openai.queue(R.error(400, f"Unrecognized request argument supplied: {field}", type="invalid_request_error"))
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(**asked), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert f"api-version {version} (from AZURE_OPENAI_API_VERSION) has no field {field}, {said_of_it}" in message
    assert "params" not in message
    assert field in fake_openai.requests[-1].body


@pytest.mark.parametrize(
    ("version", "param", "api"),
    [
        ("2024-10-21", "top_k", "chat"),  # another vendor's sampler: no api-version of Azure's takes it
        ("2024-10-21", "reasoning_efort", "chat"),  # a misspelt field
        ("2024-10-21", "reasoning", "chat"),  # the Responses API's spelling, which Chat Completions has at no version
        ("2025-04-01-preview", "seed", "responses"),  # a Chat Completions field the Responses API has at no version
    ],
)
async def test_a_field_no_api_version_has_is_not_blamed_on_the_api_version(
    fake_openai: FakeOpenAI, transport: Transport, version: str, param: str, api: str
):
    # "api-version 2024-10-21 has no field top_k: set AZURE_OPENAI_API_VERSION to a later one that takes it" sent the
    # operator to change a setting that no value of fixes: OpenAI's API itself has no such field (on that API)
    said = (
        f"Unknown parameter: '{param}'." if api == "responses" else f"Unrecognized request argument supplied: {param}"
    )
    fake_openai.queue(R.error(400, said, type="invalid_request_error"))
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    target = Target("azure", DEPLOYMENT, params=(("api", api),))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(), target)
    message = info.value.message
    assert message.endswith(f"; this server does not take {param}") and "api-version" not in message
    assert info.value.moves_on and info.value.details["param"] == param


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_at_the_newest_dated_preview_a_field_it_lacks_is_told_the_v1_api(
    fake_openai: FakeOpenAI, transport: Transport, api: str
):
    # 2025-04-01-preview is the last dated api-version (later fields come to the v1 API alone): "set it to a later one
    # (a preview such as 2025-04-01-preview, or v1)" named the version it was already set to
    said = (
        "Unknown parameter: 'prompt_cache_key'."
        if api == "responses"
        else "Unrecognized request argument supplied: prompt_cache_key"
    )
    fake_openai.queue(R.error(400, said, type="invalid_request_error"))
    provider = AzureProvider(env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-04-01-preview"), transport)
    target = Target("azure", DEPLOYMENT, params=(("api", api),))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(), target)
    message = info.value.message
    assert "api-version 2025-04-01-preview (from AZURE_OPENAI_API_VERSION) has no field prompt_cache_key" in message
    assert "set AZURE_OPENAI_API_VERSION=v1" in message and "such as 2025-04-01-preview" not in message
    assert info.value.moves_on and info.value.details["param"] == "prompt_cache_key"


def test_the_fields_a_later_api_version_may_have_are_openais_own():
    # (what later_version_fix reads as a field a later api-version has: OpenAI's request fields, as its spec names them)
    from magsag_mcp.providers.azure_versions import OPENAI_CHAT_FIELDS, OPENAI_RESPONSES_FIELDS
    from tests.fakes.request_check import _fields

    assert OPENAI_CHAT_FIELDS == _fields("openai", "CreateChatCompletionRequest")
    assert OPENAI_RESPONSES_FIELDS == _fields("openai", "CreateResponse")
