"""Azure OpenAI's endpoint as it is written: with its OpenAI path, as the portal's target URI, as the v1 API's base
URL, behind a gateway's path, with spaces or a placeholder resource, and with an api-version Azure does not serve
(split from test_provider_azure.py)."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureEndpoint, AzureProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.llm_requests import ask
from tests.test_provider_azure import DEPLOYMENT, env_for

pytestmark = pytest.mark.anyio


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
    # The portal shows a deployment's Target URI with its ?api-version, and docs/configuration.md says anything from
    # /openai on is dropped: pasted as AZURE_OPENAI_ENDPOINT, it was refused as a base URL with a ?query, and every call
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
