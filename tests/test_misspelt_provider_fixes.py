"""A misspelt provider in a setting is told the finished value to write, as a model written in another case is
("set MAGSAG_MODEL=openai:gpt-4o"): MAGSAG_MODEL=opneai:gpt-4o was told "did you mean 'openai'?" and left to put the
pieces together (and Opneai:GPT-4o, so fixed, was refused next for its case); and the providers a refusal lists are a
user's, not the test provider ``fake``, which was offered beside openai as one to call."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import providers
from magsag_mcp.call_urls import allowed_origins
from magsag_mcp.catalog import load_catalog
from magsag_mcp.env_routing import check_env_override
from magsag_mcp.errors import ConfigError
from magsag_mcp.providers.fake import FakeProvider
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
OFFERED = "use one of: anthropic, azure, compat, google, local, openai"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        check_env_override(env)
    return info.value.message


@pytest.mark.parametrize(
    ("written", "fixed"),
    [
        ("opneai:gpt-4o", "openai:gpt-4o"),
        ("opneai: gpt-4o", "openai:gpt-4o"),
        ("antropic:claude-3-5-sonnet-20241022", "anthropic:claude-3-5-sonnet-20241022"),
        ("olama:gpt-4o", "ollama:gpt-4o"),
        # finished: its case too, not a value the next check refuses ("is no openai model ... set openai:gpt-4o")
        ("Opneai:GPT-4o", "openai:gpt-4o"),
    ],
)
def test_a_misspelt_provider_in_magsag_model_is_told_the_value_to_set(written: str, fixed: str):
    said = refusal({"MAGSAG_MODEL": written})
    assert said.startswith(f"MAGSAG_MODEL={written!r}: unknown provider "), said
    assert said.endswith(f"; set MAGSAG_MODEL={fixed}"), said
    assert f"{OFFERED};" in said, said
    check_env_override({"MAGSAG_MODEL": fixed})  # the fix is taken as it is written


def test_a_call_under_a_misspelt_magsag_model_is_told_the_value_to_set(catalog):
    with pytest.raises(ConfigError) as info:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_MODEL": "opneai:gpt-4o"})
    assert info.value.message.endswith("; set MAGSAG_MODEL=openai:gpt-4o"), info.value.message


@pytest.mark.parametrize(
    ("written", "fix"),
    [
        ("opneai", "; set MAGSAG_PROVIDER=openai"),
        ("Antropic", "; set MAGSAG_PROVIDER=anthropic"),
        ("opneai:gpt-4o", ": set MAGSAG_PROVIDER=openai and MAGSAG_MODEL=gpt-4o (or MAGSAG_MODEL=openai:gpt-4o alone)"),
    ],
)
def test_a_misspelt_magsag_provider_is_told_the_value_to_set(written: str, fix: str):
    said = refusal({"MAGSAG_PROVIDER": written})
    assert said.endswith(fix), said
    assert "fake" not in said, said


def test_a_misspelt_provider_of_an_allow_list_entry_is_told_the_entry_to_write():
    with pytest.raises(ConfigError) as info:
        allowed_origins(
            {"MAGSAG_ALLOWED_BASE_URLS": "openai=https://a.example.com, antropic = https://b.example.com/v1"}
        )
    said = info.value.message
    assert said.startswith("MAGSAG_ALLOWED_BASE_URLS: entry 2 ('antropic = https://b.example.com/v1'): "), said
    assert said.endswith(f"{OFFERED}; write it 'anthropic=https://b.example.com/v1'"), said


def test_an_allow_list_entrys_fix_keeps_its_credentials_out():
    entry = "opneai=https://team:s3cretpassw0rd@proxy.example.com/v1?key=abcdef123456"
    with pytest.raises(ConfigError) as info:
        allowed_origins({"MAGSAG_ALLOWED_BASE_URLS": entry})
    said = info.value.message
    assert "s3cretpassw0rd" not in said and "abcdef123456" not in said, said
    assert said.endswith("; write it 'openai=https://[REDACTED]@proxy.example.com/v1?[REDACTED]'"), said


def test_the_test_provider_is_neither_listed_nor_suggested_and_still_taken_when_named():
    with pytest.raises(ConfigError) as info:
        parse_target("groq:gpt-4o")
    assert f"{OFFERED} (compat:" in info.value.message, info.value.message
    with pytest.raises(ConfigError) as info:
        parse_target("fak:gpt-4o")
    assert "did you mean" not in info.value.message and "fake" not in info.value.message
    assert parse_target("fake:gpt-4o").provider == "fake"


def test_a_provider_registered_by_a_library_user_is_offered_and_its_misspelling_told_the_fix(provider_registry):
    providers.register_provider("mistral", FakeProvider)
    said = refusal({"MAGSAG_MODEL": "mistrall:gpt-4o"})
    assert "(did you mean 'mistral'?); use one of: anthropic, azure, compat, google, local, mistral, openai" in said
    assert said.endswith("; set MAGSAG_MODEL=mistral:gpt-4o"), said
