"""A provider given beside a model that still carries a provider's name (start87): MAGSAG_PROVIDER=openai with
MAGSAG_MODEL=opneai:gpt-4o sent "opneai:gpt-4o" to OpenAI as the model's name (the misspelt prefix is refused when
MAGSAG_MODEL stands alone, and a correct prefix that names the provider is dropped), for the vendor's 404; and so did
a call's model_config {"provider": "openai", "model": "opneai:gpt-4o"}, MAGSAG_MODEL=openai/gpt-4o (a gateway's way
of naming a model) beside MAGSAG_PROVIDER=openai, and a call's model_config naming the same. Each is refused with the
value to write; what the provider may serve as named is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.env_routing import check_env_override, env_target
from magsag_mcp.errors import ConfigError, MagsagError
from magsag_mcp.routing import plan_call
from magsag_mcp.types import Target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        check_env_override(env)
    return info.value.message


@pytest.mark.parametrize(
    ("provider", "model", "fix", "fixed"),
    [
        ("openai", "opneai:gpt-4o", "; set MAGSAG_MODEL=gpt-4o", {"MAGSAG_MODEL": "gpt-4o"}),
        ("openai", "Opneai: gpt-4o", "; set MAGSAG_MODEL=gpt-4o", {"MAGSAG_MODEL": "gpt-4o"}),
        ("google", "gemni:gemini-2.5-pro", "; set MAGSAG_MODEL=gemini-2.5-pro", {"MAGSAG_MODEL": "gemini-2.5-pro"}),
        ("azure", "opneai:gpt-4o", "; set MAGSAG_MODEL=gpt-4o", {"MAGSAG_MODEL": "gpt-4o"}),
        ("ollama", "opneai:gpt-4o", "; set MAGSAG_MODEL=gpt-4o", {"MAGSAG_MODEL": "gpt-4o"}),
        (
            "anthropic",
            "opneai:gpt-4o",
            "; set MAGSAG_PROVIDER=openai and MAGSAG_MODEL=gpt-4o, or MAGSAG_MODEL=openai:gpt-4o alone",
            {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "gpt-4o"},
        ),
        ("openai", "xyzzy:gpt-4o", "; set MAGSAG_MODEL=gpt-4o", {"MAGSAG_MODEL": "gpt-4o"}),
        ("openai", "openai/gpt-4o", ": set MAGSAG_MODEL=gpt-4o (or point OPENAI_BASE_URL", {"MAGSAG_MODEL": "gpt-4o"}),
        (
            "openai",
            "anthropic/claude-3-5-sonnet-20241022",
            ": set MAGSAG_PROVIDER=anthropic and MAGSAG_MODEL=claude-3-5-sonnet-20241022, or "
            "MAGSAG_MODEL=anthropic:claude-3-5-sonnet-20241022 alone (or point OPENAI_BASE_URL",
            {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": "claude-3-5-sonnet-20241022"},
        ),
    ],
)
def test_a_provider_beside_a_model_carrying_a_providers_name_is_refused_with_the_value_to_set(
    provider: str, model: str, fix: str, fixed: dict[str, str]
):
    said = refusal({"MAGSAG_PROVIDER": provider, "MAGSAG_MODEL": model})
    assert said.startswith(f"MAGSAG_MODEL={model!r} "), said
    assert fix in said, said
    assert "as the model's name" in said, said
    check_env_override({"MAGSAG_PROVIDER": provider, **fixed})  # the fix is taken as it is written


@pytest.mark.parametrize(
    ("env", "target"),
    [
        ({"MAGSAG_PROVIDER": "ollama", "MAGSAG_MODEL": "llama3.1:70b"}, Target("local", "llama3.1:70b")),
        ({"MAGSAG_PROVIDER": "ollama", "MAGSAG_MODEL": "gemma:7b"}, Target("local", "gemma:7b")),
        ({"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "openai:gpt-4o"}, Target("openai", "gpt-4o")),
        (
            {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "ft:gpt-4o-mini-2024-07-18:acme::abc123"},
            Target("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
        ),
        ({"MAGSAG_PROVIDER": "compat", "MAGSAG_MODEL": "openai/gpt-4o"}, Target("compat", "openai/gpt-4o")),
        (
            {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "openai/gpt-4o", "OPENAI_BASE_URL": "https://gw.example/v1"},
            Target("openai", "openai/gpt-4o"),
        ),
        (
            {"MAGSAG_PROVIDER": "google", "MAGSAG_MODEL": "models/gemini-2.5-pro"},
            Target("google", "models/gemini-2.5-pro"),
        ),
    ],
)
def test_what_the_provider_serves_as_named_is_taken_as_before(env: dict[str, str], target: Target):
    check_env_override(env)
    assert env_target(env) == target


def test_a_call_under_the_two_settings_is_refused_before_anything_is_sent(catalog):
    env = {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "opneai:gpt-4o"}
    with pytest.raises(ConfigError) as info:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env)
    assert info.value.message.endswith("; set MAGSAG_MODEL=gpt-4o"), info.value.message


@pytest.mark.parametrize(
    ("model_config", "said"),
    [
        (
            {"provider": "openai", "model": "opneai:gpt-4o"},
            "model 'opneai:gpt-4o' begins with 'opneai', which names no provider (did you mean 'openai'?), and the "
            "provider is given apart ('openai'): it would go to openai as the model's name; write model 'gpt-4o' "
            "with provider 'openai'",
        ),
        (
            {"provider": "openai", "model": "openai/gpt-4o"},
            "write model 'gpt-4o' with provider 'openai', or give the base_url of the gateway that names models so",
        ),
    ],
)
def test_a_calls_model_config_naming_the_same_is_refused_with_what_to_write(catalog, model_config: dict, said: str):
    payload = {"data": "x", "model_config": model_config}
    with pytest.raises(MagsagError) as info:
        plan_call(catalog, "skill.analysis", payload, context=None, env={})
    assert said in info.value.message, info.value.message
    fixed = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    plan = plan_call(catalog, "skill.analysis", fixed, context=None, env={})
    assert plan.rule == "override:call"
