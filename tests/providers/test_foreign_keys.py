"""A key another vendor issued, set for a vendor's own API (an Anthropic key in OPENAI_API_KEY): refused before it is
sent, naming the variable it is in and the one it belongs in, never the key; sent as it is to any other server (a
gateway, a vendor's OpenAI-compatible API), which may take it."""

from __future__ import annotations

import pytest

from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import CompatProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

# shaped as each issuer's keys begin (this file is about those beginnings), plainly not keys
ANTHROPIC = "sk-ant-api03-not-a-real-key"
OPENAI_PROJECT = "sk-proj-not-a-real-key"
GOOGLE = "AIza-not-a-real-key"
OPENROUTER = "sk-or-v1-not-a-real-key"


@pytest.mark.parametrize(
    "make, model, env, said",
    [
        (
            OpenAIProvider,
            "gpt-4o",
            {"OPENAI_API_KEY": ANTHROPIC},
            "openai: OPENAI_API_KEY holds an Anthropic key (it begins sk-ant-), which OpenAI's API (api.openai.com) "
            "refuses; set OPENAI_API_KEY to your OpenAI key, and put this one in ANTHROPIC_API_KEY",
        ),
        (
            OpenAIProvider,
            "gpt-4o",
            {"OPENAI_API_KEY": OPENROUTER},
            "openai: OPENAI_API_KEY holds an OpenRouter key (it begins sk-or-), which OpenAI's API (api.openai.com) "
            "refuses; set OPENAI_API_KEY to your OpenAI key, and put this one in MAGSAG_COMPAT_API_KEY, with "
            "MAGSAG_COMPAT_BASE_URL=https://openrouter.ai/api/v1",
        ),
        (
            AnthropicProvider,
            "claude-3-5-sonnet-20241022",
            {"ANTHROPIC_API_KEY": OPENAI_PROJECT},
            "anthropic: ANTHROPIC_API_KEY holds an OpenAI project key (it begins sk-proj-), which Anthropic's API "
            "(api.anthropic.com) refuses; set ANTHROPIC_API_KEY to your Anthropic key, and put this one in "
            "OPENAI_API_KEY",
        ),
        (
            GeminiProvider,
            "gemini-1.5-pro",
            {"GOOGLE_API_KEY": ANTHROPIC},
            "google: GOOGLE_API_KEY holds an Anthropic key (it begins sk-ant-), which Google's API "
            "(generativelanguage.googleapis.com) refuses; set GOOGLE_API_KEY to your Google key, and put this one in "
            "ANTHROPIC_API_KEY",
        ),
    ],
)
def test_another_vendors_key_for_a_vendors_own_api_is_refused_before_it_is_sent(make, model, env, said):
    provider = make(env, Transport())
    error = provider.unavailable_error(Target(provider.name, model))
    assert error is not None and error.message == said
    assert error.kind == "authentication_error"  # as a placeholder's: the key, not the server, is wrong
    assert provider.setting_problems() == [said]  # magsag doctor's problem, not "ready"
    [key] = env.values()
    assert key not in said


@pytest.mark.parametrize(
    "make, model, env",
    [
        (OpenAIProvider, "gpt-4o", {"OPENAI_API_KEY": OPENAI_PROJECT}),
        (AnthropicProvider, "claude-3-5-sonnet-20241022", {"ANTHROPIC_API_KEY": ANTHROPIC}),
        (GeminiProvider, "gemini-1.5-pro", {"GEMINI_API_KEY": GOOGLE}),
        # an sk- key of no telling issuer (OpenAI's older keys, DeepSeek's): the vendor judges it
        (AnthropicProvider, "claude-3-5-sonnet-20241022", {"ANTHROPIC_API_KEY": "sk-not-a-real-key"}),
        # Anthropic's and Google's OpenAI-compatible APIs take their own keys, as a gateway takes its own
        (
            OpenAIProvider,
            "claude-3-5-sonnet-20241022",
            {"OPENAI_API_KEY": ANTHROPIC, "OPENAI_BASE_URL": "https://api.anthropic.com/v1/"},
        ),
        (
            OpenAIProvider,
            "gemini-1.5-pro",
            {"OPENAI_API_KEY": GOOGLE, "OPENAI_BASE_URL": "https://generativelanguage.googleapis.com/v1beta/openai/"},
        ),
        (
            CompatProvider,
            "anthropic/claude-3.5-sonnet",
            {"MAGSAG_COMPAT_API_KEY": OPENROUTER, "MAGSAG_COMPAT_BASE_URL": "https://openrouter.ai/api/v1"},
        ),
    ],
)
def test_a_key_the_server_may_take_is_not_refused(make, model, env):
    provider = make(env, Transport())
    assert provider.unavailable_error(Target(provider.name, model)) is None
    assert provider.setting_problems() == []


def test_a_target_whose_own_base_url_is_elsewhere_sends_the_key():
    # the variable's key goes where the call's target says: the vendor's host refuses it, a gateway's may not
    provider = OpenAIProvider({"OPENAI_API_KEY": ANTHROPIC}, Transport())
    assert provider.unavailable_error(Target("openai", "gpt-4o")) is not None
    assert (
        provider.unavailable_error(Target("openai", "claude-3-5-sonnet", base_url="https://api.anthropic.com/v1/"))
        is None
    )
