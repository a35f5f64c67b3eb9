"""A vendor's own API host named over plain http (``OPENAI_BASE_URL=http://api.openai.com/v1``, an Azure resource's
``http://RES.openai.azure.com/``): every request carried the key unencrypted across every network on its way, and
only then did the host answer, with a redirect to https (refused, the key already given away). Refused now before
anything is sent, naming the variable and the https URL to set; doctor says so too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.azure import AzureProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import CompatProvider, OpenAIProvider
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

pytestmark = pytest.mark.usefixtures("restored_secrets")

KEY = "test-key-not-real-0123456789"
AZURE_KEY = "0123456789abcdef0123456789abcdef"


def _no_network() -> Any:
    raise AssertionError("a request was made: the key went out over plain http")


@pytest.mark.parametrize(
    "make, env, model, https",
    [
        (OpenAIProvider, {"OPENAI_BASE_URL": "http://api.openai.com/v1"}, "gpt-4o", "https://api.openai.com/v1"),
        (
            AnthropicProvider,
            {"ANTHROPIC_BASE_URL": "http://API.Anthropic.com"},
            "claude-3-5-sonnet-20241022",
            "https://API.Anthropic.com",
        ),
        (
            GeminiProvider,
            {"GEMINI_BASE_URL": "http://generativelanguage.googleapis.com"},
            "gemini-1.5-pro",
            "https://generativelanguage.googleapis.com",
        ),
        (
            AzureProvider,
            {"AZURE_OPENAI_ENDPOINT": "http://myres.openai.azure.com/"},
            "gpt-4o",
            "https://myres.openai.azure.com",
        ),
        (
            AzureProvider,
            {"AZURE_OPENAI_ENDPOINT": "http://myres.cognitiveservices.azure.com./"},
            "gpt-4o",
            "https://myres.cognitiveservices.azure.com.",
        ),
        # Azure's other clouds (Government's .us, China's .cn) and its serverless endpoints, OpenAI's regional hosts,
        # Google's other API hosts and OpenRouter's: each sent the key in clear as the hosts above did
        (
            AzureProvider,
            {"AZURE_OPENAI_ENDPOINT": "http://myres.openai.azure.us/"},
            "gpt-4o",
            "https://myres.openai.azure.us",
        ),
        (
            AzureProvider,
            {"AZURE_OPENAI_ENDPOINT": "http://MyRes.CognitiveServices.Azure.CN:80/"},
            "gpt-4o",
            "https://MyRes.CognitiveServices.Azure.CN",  # (http's port is not https's: the fix names none)
        ),
        (OpenAIProvider, {"OPENAI_BASE_URL": "http://eu.api.openai.com/v1"}, "gpt-4o", "https://eu.api.openai.com/v1"),
        (
            CompatProvider,
            {"MAGSAG_COMPAT_BASE_URL": "http://openrouter.ai/api/v1"},
            "openai/gpt-4o",
            "https://openrouter.ai/api/v1",
        ),
        (
            CompatProvider,
            {"MAGSAG_COMPAT_BASE_URL": "http://ep-1.eastus2.models.ai.azure.com/v1"},
            "m",
            "https://ep-1.eastus2.models.ai.azure.com/v1",
        ),
        (
            CompatProvider,
            {"MAGSAG_COMPAT_BASE_URL": "http://us-central1-aiplatform.googleapis.com/v1/projects/p/endpoints/openapi"},
            "m",
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/endpoints/openapi",
        ),
        # the https port named over http is still plain http
        (
            CompatProvider,
            {"MAGSAG_COMPAT_BASE_URL": "http://api.openai.com:443/v1"},
            "m",
            "https://api.openai.com:443/v1",
        ),
        # a gateway in front of OpenAI that names api.openai.com itself is the same request on the same wire
        (CompatProvider, {"MAGSAG_COMPAT_BASE_URL": "http://api.openai.com/v1"}, "gpt-4o", "https://api.openai.com/v1"),
    ],
)
def test_a_vendors_host_over_plain_http_is_refused_before_the_key_is_sent(
    make: Callable[..., Any], env: dict[str, str], model: str, https: str
):
    keys = {
        "OPENAI_API_KEY": KEY,
        "ANTHROPIC_API_KEY": KEY,
        "GEMINI_API_KEY": KEY,
        "MAGSAG_COMPAT_API_KEY": KEY,
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
    }
    provider = make({**keys, **env}, Transport(session_factory=_no_network))
    variable = next(iter(env))
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert "the base URL is plain http://, so the API key would cross the network unencrypted" in reason, reason
    assert f"set its base URL ({variable}) to {https}" in reason
    assert ":80" not in reason  # (https://host:80 answers nothing)
    assert "plain http://" in (provider.setting_problem() or "")  # magsag doctor's


@pytest.mark.anyio
async def test_a_call_to_a_vendors_host_over_plain_http_sends_nothing_and_is_recorded_failed(tmp_path: Path):
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://api.openai.com/v1"}
    transport = Transport(session_factory=_no_network)
    async with await Service.open(db=tmp_path / "l.db", env=env, transport=transport) as svc:
        with pytest.raises(E.MagsagError, match=r"plain http://, so the API key would cross the network") as failed:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}}, run_id="r-1")
        assert "https://api.openai.com/v1" in str(failed.value)
        [run] = await svc.query_runs({"run_id": "r-1"})
        assert run["status"] == "error"


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8000/v1",  # a local server, or a test's
        "http://llm-gateway.internal:4000/v1",  # a gateway on the operator's own network: their choice
        "http://api.openai.com.evil.example/v1",  # no vendor's host (and not refused as one)
        "http://myapi.openai.com/v1",  # not below api.openai.com
        "http://gw.eastus.cloudapp.azure.com/v1",  # an operator's own VM in Azure
        "https://api.openai.com/v1",
    ],
)
def test_other_http_base_urls_are_not_refused_as_a_vendors_host(base: str):
    provider = CompatProvider({"MAGSAG_COMPAT_API_KEY": KEY, "MAGSAG_COMPAT_BASE_URL": base}, Transport())
    assert "plain http://" not in (provider.unavailable(Target("compat", "m")) or "")
