"""Azure OpenAI's credentials: an Entra ID token as a bearer token, an API key over it, and what a refusal says to
set or assign (split from test_provider_azure.py)."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.llm_requests import ask
from tests.test_provider_azure import DEPLOYMENT, env_for

pytestmark = pytest.mark.anyio


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
