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


@pytest.mark.parametrize("version", ["2024-10-21", "v1"])
async def test_an_entra_id_token_is_sent_as_a_bearer_token(fake_openai: FakeOpenAI, transport: Transport, version):
    # A resource with key authentication disabled (disableLocalAuth) takes only Microsoft Entra ID tokens, as
    # "Authorization: Bearer" (the spec's "bearer" scheme); AZURE_OPENAI_AD_TOKEN is where the SDKs read one.
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token-0123456789"
    fake_openai.azure_token = token
    env = {
        "AZURE_OPENAI_AD_TOKEN": token,
        "AZURE_OPENAI_ENDPOINT": fake_openai.url,
        "AZURE_OPENAI_API_VERSION": version,
    }
    provider = AzureProvider(env, transport)
    assert provider.unavailable(Target("azure", DEPLOYMENT)) is None
    result = await provider.complete(ask(), Target("azure", DEPLOYMENT))
    assert result.text == "ok"
    (req,) = fake_openai.requests
    assert req.headers["Authorization"] == f"Bearer {token}" and "api-key" not in req.headers
    # an expired token is refused with 401; the message says which setting to renew and never shows it
    env["AZURE_OPENAI_AD_TOKEN"] = token + "-expired"
    with pytest.raises(E.AuthenticationError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert token not in str(info.value) and token not in json.dumps(info.value.to_dict())
    assert "AZURE_OPENAI_AD_TOKEN" in info.value.message and "expires" in info.value.message
    assert "restart" in info.value.message  # settings are read when magsag opens: a fresh token needs a restart


async def test_an_api_key_wins_over_an_entra_id_token(fake_openai: FakeOpenAI, transport: Transport):
    env = env_for(fake_openai, AZURE_OPENAI_AD_TOKEN="entra-test-token-0123456789")
    await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    (req,) = fake_openai.requests
    assert req.headers["api-key"] == AZURE_KEY and "Authorization" not in req.headers


async def test_no_key_nor_token_names_both_settings(transport: Transport):
    provider = AzureProvider({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com"}, transport)
    reason = provider.unavailable(Target("azure", DEPLOYMENT)) or ""
    assert "AZURE_OPENAI_API_KEY" in reason and "AZURE_OPENAI_AD_TOKEN" in reason


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


def _filtered(**fired: str) -> dict:
    safe = {"filtered": False, "severity": "safe"}
    results: dict = {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
    for name, level in fired.items():
        results[name] = (
            {"filtered": True, "detected": True} if level == "detected" else {"filtered": True, "severity": level}
        )
    return results


async def test_a_content_filter_400_names_the_filter_that_fired(fake_openai: FakeOpenAI, transport: Transport):
    # Azure's 400: the message says only that a filter fired; innererror.content_filter_result says which
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
                "content_filter_result": _filtered(violence="high", jailbreak="detected"),
            },
        }
    }
    fake_openai.queue(R.error(400, raw=json.dumps(body), content_type="application/json"))
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: violence (high), jailbreak (detected))"), info.value.message
    assert info.value.moves_on and not info.value.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_withheld_by_the_filter_names_the_filter_that_fired(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    fake_openai.queue(R.reply(None, finish="content_filter", filter_results=_filtered(sexual="medium")))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("content filter (filtered: sexual (medium))"), info.value.message


@pytest.mark.parametrize("code", ["content_filter", None])
async def test_a_content_filter_400_in_the_specs_shape_names_the_filter_that_fired(
    fake_openai: FakeOpenAI, transport: Transport, code: str | None
):
    # The 2024-10-21 spec's errorResponse writes the inner error as inner_error.content_filter_results (the
    # service sends innererror.content_filter_result), and errorBase's code is optional: the inner
    # ResponsibleAIPolicyViolation alone says a filter refused the prompt, which another target may serve.
    error = {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "param": "prompt",
        "inner_error": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": _filtered(hate="medium"),
        },
    }
    if code:
        error["code"] = code
    fake_openai.queue(R.error(400, raw=json.dumps({"error": error}), content_type="application/json"))
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: hate (medium))"), info.value.message
    assert info.value.moves_on and not info.value.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_the_filter_cut_short_says_so_and_which_filter(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # finish_reason content_filter after some text: Azure's filter stopped the answer part way. It came back as
    # if whole, without a word (and without the filter that fired): only finish_reason said it. Then it came back
    # with a warning, a success that tried no other target; it is content_filtered now, as Claude's refusal and
    # Gemini's SAFETY after some text are (see tests/providers/test_answer_ends.py), and billed.
    reply = R.reply("The first half of", finish="content_filter", filter_results=_filtered(violence="medium"))
    fake_openai.queue(reply)
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert "content filter (filtered: violence (medium)); the part of the answer that came before it" in message
    assert "The first half" not in message and info.value.usage.output_tokens == 7


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_the_content_filter_did_not_check_says_so(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # When Azure's filtering system is down or too slow, the request completes unfiltered, and only an error in the
    # choice's content_filter_results says so ("The contents are not filtered"). The answer came back as if it had
    # passed the filter, without a word.
    unchecked = {"error": {"code": "content_filter_error", "message": "The contents are not filtered"}}
    fake_openai.queue(R.reply("An answer", filter_results=unchecked))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    result = await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert (result.text, result.finish_reason) == ("An answer", "stop")
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter did not check the answer (content_filter_error: The "
        "contents are not filtered); it is returned unfiltered"
    ]


def test_a_prompt_the_content_filter_did_not_check_says_so():
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat

    unchecked = {"error": {"code": "content_filter_error", "message": "The contents are not filtered"}}
    body = R.chat_completion(DEPLOYMENT, R.reply("An answer"), azure=True)
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": unchecked}]
    result = ChatCompletionsFormat().parse_response(body, provider="azure", model=DEPLOYMENT)
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter did not check the prompt (content_filter_error: The "
        "contents are not filtered); it reached the model unfiltered"
    ]


async def test_an_answer_the_asynchronous_filter_flagged_after_it_streamed_is_withheld(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Azure's asynchronous filter streams the text unchecked and flags it afterwards, in an annotation chunk whose
    # content_filter_offsets span text already sent. The flagged text came back as the answer, with a warning that
    # the filter had "stopped the answer part way" and that "the text is only what came before it": the very text
    # the filter flagged, passed on as vetted.
    reply = R.reply("Step one of it", finish="content_filter", flagged_after=_filtered(violence="high"))
    fake_openai.queue(reply)
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=True), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert "flagged the answer after it had streamed" in message and "(filtered: violence (high))" in message
    assert "Step one" not in message
    # billed, and priced from the usage the stream reported; another target may serve the call
    assert info.value.usage is not None and info.value.usage.output_tokens == 7
    assert info.value.moves_on and not info.value.retryable
    # annotations that flag nothing (every category safe) leave the answer as it is
    fake_openai.queue(R.reply("All fine here", flagged_after=R.azure_filters()))
    result = await AzureProvider(env, transport).complete(ask(stream=True), Target("azure", DEPLOYMENT))
    assert (result.text, result.finish_reason, result.warnings) == ("All fine here", "stop", [])


async def test_through_the_service_a_flagged_answer_is_billed_in_the_ledger_and_the_fallback_answers(
    fake_openai: FakeOpenAI, tmp_path
):
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    flagged = _filtered(violence="high")
    fake_openai.queue(
        R.reply("Step one of it", finish="content_filter", flagged_after=flagged, usage=R.tokens(1000, 100)),
        R.reply("A safe answer", usage=R.tokens(10, 5)),
    )
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    config = {"model": "azure:gpt-4o", "fallbacks": ["azure:gpt-4o-mini"], "stream": True}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        called = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        runs = await svc.query_runs()
    assert called.result.text == "A safe answer" and called.result.provider == "azure"
    assert any("after azure:gpt-4o failed (content_filtered)" in w for w in called.warnings)
    attempts = {a["model"]: a for run in runs for a in run["attempts"]}
    assert attempts["gpt-4o"]["error_class"] == "content_filtered"
    assert "Step one" not in attempts["gpt-4o"]["error_message"]
    # the flagged answer's tokens, at gpt-4o's $2.50 / $10 per million
    assert attempts["gpt-4o"]["cost_usd"] == "0.0035" and attempts["gpt-4o-mini"]["outcome"] == "ok"


async def test_a_gateways_path_before_openai_stays_and_a_query_before_azures_path_names_the_azure_fix(
    fake_openai: FakeOpenAI, transport: Transport
):
    # API Management fronting Azure OpenAI serves it below a path of its own: only /openai on is dropped
    endpoint = AzureEndpoint({"AZURE_OPENAI_ENDPOINT": "https://apim.azure-api.net/team-a/openai/v1/"})
    assert endpoint.resource_root(Target("azure", DEPLOYMENT)) == "https://apim.azure-api.net/team-a"
    # A ?query that is no part of Azure's path (a gateway's key in it): refused before anything is sent, with a fix
    # for Azure (the generic "e.g. https://host/v1" would have broken it further)
    env = {**env_for(fake_openai), "AZURE_OPENAI_ENDPOINT": f"{fake_openai.url}/?subscription-key=0123"}
    reason = AzureProvider(env, transport).unavailable(Target("azure", DEPLOYMENT)) or ""
    assert "https://RESOURCE.openai.azure.com/" in reason and "AZURE_OPENAI_API_VERSION" in reason
    assert "host/v1" not in reason


@pytest.mark.parametrize(
    ("pasted", "path"),
    [
        (f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2025-01-01-preview", "/openai/deployments"),
        ("/openai/responses?api-version=2025-04-01-preview", "/openai/deployments"),
        ("/openai/v1/chat/completions?api-version=preview", "/openai/v1"),
    ],
)
async def test_a_deployments_target_uri_as_the_portal_shows_it_calls_its_api_version(
    fake_openai: FakeOpenAI, transport: Transport, tmp_path, pasted: str, path: str
):
    # The portal shows a deployment's Target URI with its ?api-version, and the README says anything from /openai
    # on is dropped: pasted as AZURE_OPENAI_ENDPOINT, it was refused as a base URL with a ?query, and every call
    # skipped the target. Its api-version is the one the portal gives for the deployment: used unless set.
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    version = pasted.rpartition("api-version=")[2]
    env = {**env_for(fake_openai), "AZURE_OPENAI_ENDPOINT": fake_openai.url + pasted}
    provider = AzureProvider(env, transport)
    assert provider.unavailable(Target("azure", "gpt-4o")) is None and provider.setting_problem() is None
    assert provider.endpoint.api_version() == version and provider.capabilities(Target("azure", "gpt-4o")).streaming
    async with Service.open(
        catalog=CATALOG, db=tmp_path / "l.db", env={**env, "MAGSAG_PROVIDER": "azure", "MAGSAG_MODEL": "gpt-4o"}
    ) as svc:
        called = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"stream": True}})
    assert called.result.text == "ok" and called.cost_usd > 0 and called.warnings == []
    (req,) = fake_openai.requests
    assert req.path == f"{path}/chat/completions" if path == "/openai/v1" else f"{path}/gpt-4o/chat/completions"
    assert req.query == {"api-version": version} and req.body["stream"] is True
    # the variable, set, is the api-version
    env["AZURE_OPENAI_API_VERSION"] = "2024-10-21"
    assert AzureEndpoint(env).api_version() == "2024-10-21"


def test_catalog_validate_takes_a_routing_targets_target_uri_as_calls_take_it(catalog_copy):
    # a routing target's base_url given as a Target URI: calls cut it to the resource's root; `magsag catalog
    # validate` refused it as a base URL with a ?query, which a gateway's key in a query still is
    from magsag_mcp.catalog import validate_catalog

    uri = "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text().replace(
        "  - openai:gpt-4o-mini\n",
        f"  - openai:gpt-4o-mini\n  - {{provider: azure, model: gpt-4o, base_url: '{uri}'}}\n",
        1,
    )
    routing.write_text(text)
    assert validate_catalog(catalog_copy, env={}) == []
    routing.write_text(text.replace(uri, "https://apim.example.com/?subscription-key=0123"))
    (problem,) = validate_catalog(catalog_copy, env={})
    assert "?query" in problem and "0123" not in problem


@pytest.mark.parametrize("setting", ["AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"])
async def test_an_api_version_azure_does_not_serve_names_the_setting_and_moves_on(
    fake_openai: FakeOpenAI, transport: Transport, setting: str
):
    # Azure's 400 "API version not supported" is about this target's setting alone: as a BadRequestError it
    # stopped the whole cascade, as if every other provider would refuse the call too.
    fake_openai.queue(R.error(400, "API version not supported", code="BadRequest"))
    env = {**env_for(fake_openai), setting: "2024-10-01"}
    with pytest.raises(E.NotConfiguredError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.moves_on and not info.value.retryable and info.value.status == 400
    assert "api-version 2024-10-01" in info.value.message and "AZURE_OPENAI_API_VERSION" in info.value.message
    assert info.value.details["request_id"] == "req_fake"
    assert f"(from {setting})" in info.value.message


async def test_an_api_version_pasted_with_the_endpoint_that_azure_does_not_serve_says_where_it_came_from(
    fake_openai: FakeOpenAI, transport: Transport
):
    fake_openai.queue(R.error(400, "API version not supported", code="BadRequest"))
    pasted = f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-01"
    env = {**env_for(fake_openai), "AZURE_OPENAI_ENDPOINT": fake_openai.url + pasted}
    with pytest.raises(E.NotConfiguredError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert "api-version 2024-10-01 (from the ?api-version of AZURE_OPENAI_ENDPOINT)" in info.value.message
    assert "set AZURE_OPENAI_API_VERSION" in info.value.message


@pytest.mark.parametrize(
    ("endpoint", "root"),
    [
        # a gateway whose own path holds an "openai" segment (a corporate gateway's /openai/eastus): nothing of it
        # is Azure's, and it is kept whole, as it was before Target URIs were cut
        ("https://gw.corp.example/openai/eastus", "https://gw.corp.example/openai/eastus"),
        ("https://gw.corp.example/openai/eastus/", "https://gw.corp.example/openai/eastus"),
        # ... with Azure's part after it, only that part is dropped
        ("https://gw.corp.example/openai/eastus/openai/v1/", "https://gw.corp.example/openai/eastus"),
        (
            f"https://gw.corp.example/openai/eastus/openai/deployments/{DEPLOYMENT}/chat/completions",
            "https://gw.corp.example/openai/eastus",
        ),
        # a deployment named "openai": its Target URI is cut at Azure's /openai, not at the deployment's name
        ("https://res.openai.azure.com/openai/deployments/openai/chat/completions", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/openai/responses", "https://res.openai.azure.com"),
        # the deployments' path cut short before a deployment's name (copied up to it): Azure's all the same, and
        # kept it doubled every URL into /openai/deployments/openai/deployments/NAME/..., answered 404
        ("https://res.openai.azure.com/openai/deployments", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/openai/deployments/", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/openai/deployments?api-version=2024-10-21", "https://res.openai.azure.com"),
        ("https://gw.corp.example/openai/eastus/openai/deployments/", "https://gw.corp.example/openai/eastus"),
    ],
)
def test_a_gateways_own_openai_segment_is_not_taken_for_azures_path(endpoint: str, root: str):
    # Cutting at the first "/openai/" took a gateway's own path for Azure's: https://gw.corp.example/openai/eastus
    # was cut to https://gw.corp.example, and every call went to a path the gateway does not serve (404).
    assert AzureEndpoint({"AZURE_OPENAI_ENDPOINT": endpoint}).resource_root(Target("azure", DEPLOYMENT)) == root


@pytest.mark.parametrize("suffix", ["/openai/v1/", "/openai/v1", "/openai/v1/chat/completions"])
async def test_an_endpoint_given_as_the_v1_apis_base_url_calls_the_v1_api(
    fake_openai: FakeOpenAI, transport: Transport, suffix: str
):
    # Azure's quickstarts give the v1 API's base URL, https://RESOURCE.openai.azure.com/openai/v1/, and no
    # api-version (the v1 API takes none). Given so as AZURE_OPENAI_ENDPOINT, it was cut to the resource's root and
    # called on the dated GA 2024-10-21 instead: answers were not streamed ("reports no usage for streams"), and a
    # deployment only the Responses API serves was refused "not served with api-version 2024-10-21".
    fake_openai.queue(R.reply("streamed from v1", usage=R.tokens(20, 5)), R.reply("codex", usage=R.tokens(9, 3)))
    env = env_for(fake_openai)
    env["AZURE_OPENAI_ENDPOINT"] = fake_openai.url + suffix
    provider = AzureProvider(env, transport)
    assert provider.endpoint.api_version() == "v1"
    assert provider.capabilities(Target("azure", DEPLOYMENT)).streaming is True
    streamed = await provider.complete(ask(stream=True), Target("azure", DEPLOYMENT))
    assert (streamed.text, streamed.usage.output_tokens, streamed.warnings) == ("streamed from v1", 5, [])
    assert (fake_openai.requests[0].path, fake_openai.requests[0].query) == ("/openai/v1/chat/completions", {})
    codex = await provider.complete(ask(), Target("azure", "gpt-5-codex"))
    assert codex.text == "codex" and fake_openai.requests[1].path == "/openai/v1/responses"
    # an api-version set says which API: the dated one it names
    env["AZURE_OPENAI_API_VERSION"] = "2024-10-21"
    assert AzureProvider(env, transport).endpoint.api_version() == "2024-10-21"


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


async def test_a_token_whose_identity_lacks_the_role_says_to_assign_it_not_to_renew_the_token(
    fake_openai: FakeOpenAI, transport: Transport
):
    # A valid Entra ID token of an identity with no data-plane role: Azure's 401 PermissionDenied. The fix said the
    # token may be for another audience or expired, and to restart for a fresh one, which gets the same 401.
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token-0123456789"
    fake_openai.azure_token = token
    said = (
        "The principal `0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0` lacks the required data action "
        "`Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform "
        "`POST /openai/deployments/{deployment-id}/chat/completions` operation."
    )
    fake_openai.queue(R.error(401, said, code="PermissionDenied"))
    env = {"AZURE_OPENAI_AD_TOKEN": token, "AZURE_OPENAI_ENDPOINT": fake_openai.url}
    with pytest.raises(E.AuthenticationError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert "lacks the required data action" in message and "Cognitive Services OpenAI User" in message
    assert "expires" not in message and "restart" not in message and token not in message
    assert info.value.moves_on


@pytest.mark.parametrize("token", [None, "entra-test-token-0123456789"])
async def test_a_resource_that_takes_no_key_says_to_send_an_entra_id_token(
    fake_openai: FakeOpenAI, transport: Transport, token: str | None
):
    # A resource with key authentication disabled (disableLocalAuth) answers a key 403 AuthenticationTypeDisabled.
    # Nothing said which setting to change, nor that the key is sent instead of AZURE_OPENAI_AD_TOKEN when both
    # are set: the token was never tried.
    said = "Key based authentication is disabled for this resource."
    fake_openai.queue(R.error(403, said, code="AuthenticationTypeDisabled"))
    env = env_for(fake_openai, **({"AZURE_OPENAI_AD_TOKEN": token} if token else {}))
    with pytest.raises(E.PermissionDeniedError) as info:
        await AzureProvider(env, transport).complete(ask(), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert said in message and "AZURE_OPENAI_AD_TOKEN" in message and AZURE_KEY not in message
    assert ("unset AZURE_OPENAI_API_KEY" in message) is (token is not None)
    assert info.value.moves_on


@pytest.mark.parametrize(
    ("tail", "path"),
    [
        # the guide's form, https://your-resource.openai.azure.com/, read from a .env file with Windows line endings
        # (`set -a; . ./.env`), or printed by `az ... -o tsv` under WSL: the carriage return stays in the value
        ("/\r", f"/openai/deployments/{DEPLOYMENT}/chat/completions"),
        ("/\n", f"/openai/deployments/{DEPLOYMENT}/chat/completions"),
        ("/ ", f"/openai/deployments/{DEPLOYMENT}/chat/completions"),
        (" ", f"/openai/deployments/{DEPLOYMENT}/chat/completions"),
        ("/openai/v1/\r", "/openai/v1/chat/completions"),
        ("/openai/v1\r", "/openai/v1/chat/completions"),
    ],
)
async def test_whitespace_around_the_endpoint_is_not_part_of_it(
    fake_openai: FakeOpenAI, transport: Transport, tail: str, path: str
):
    # Kept, it went into every URL: "https://RESOURCE.openai.azure.com/\r" + "/openai/..." was sent as
    # "//openai/...", which Azure answers 404, reported as a deployment not found; " " was refused up front as a
    # port that is no number, where the call itself would have gone through.
    env = {**env_for(fake_openai), "AZURE_OPENAI_ENDPOINT": "  " + fake_openai.url + tail}
    provider = AzureProvider(env, transport)
    assert provider.unavailable(Target("azure", DEPLOYMENT)) is None and provider.setting_problem() is None
    assert (await provider.complete(ask(), Target("azure", DEPLOYMENT))).text == "ok"
    assert fake_openai.requests[-1].path == path


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://resource.openai.azure.com/",  # lowercase: a name someone may hold (the capitals are the example's)
        "https://your-company.openai.azure.com/",
        "https://yourresourcegroup-eastus.openai.azure.com/",
        "https://contoso.openai.azure.com/openai/v1/",
        "https://apim.corp.example/openai/eastus",
        "http://[::1]:8080/",
        "http://127.0.0.1:9/",
    ],
)
async def test_a_real_resource_name_is_no_placeholder(transport: Transport, endpoint: str):
    # the guide's placeholder resource (your-resource) is refused before sending; a resource's own name never is
    env = {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": endpoint}
    provider = AzureProvider(env, transport)
    assert provider.unavailable(Target("azure", DEPLOYMENT)) is None and provider.setting_problem() is None


async def test_a_placeholder_resource_in_a_targets_base_url_names_the_target(transport: Transport):
    env = {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com/"}
    reason = AzureProvider(env, transport).unavailable(
        Target("azure", DEPLOYMENT, base_url="https://your-resource.openai.azure.com")
    )
    assert reason is not None and reason.startswith("azure: the target's base_url names the resource 'your-resource'")


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
