"""The provider classes' rules budgets ask before every attempt (``min_output_tokens``, ``prompt_overhead``): found
once under a registered name, and found afresh when the registry's entry changes."""

from __future__ import annotations

import pytest

from magsag_mcp import providers
from magsag_mcp.errors import ConfigError
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.providers.openai_responses import MIN_OUTPUT_TOKENS
from magsag_mcp.types import LLMRequest, Message, Target


@pytest.fixture
def folded(monkeypatch) -> list[str]:
    """The names :func:`providers.canonical_provider` is asked to fold, in order."""
    asked: list[str] = []
    fold = providers.canonical_provider

    def counted(name: str) -> str:
        asked.append(name)
        return fold(name)

    monkeypatch.setattr(providers, "canonical_provider", counted)
    return asked


def test_a_registered_providers_rule_is_looked_up_once_not_before_every_attempt(folded):
    # every attempt reserves its output tokens: the provider's name was folded, looked up and its class's attribute
    # read, each time (some 4,000 instructions an attempt, twice a fallback call)
    chat, responses_only = Target("openai", "gpt-4o"), Target("openai", "o3-pro")
    request = LLMRequest(messages=[Message(role="user", content="hi")])
    for _ in range(3):
        assert providers.min_output_tokens(chat) == 0
        assert providers.min_output_tokens(responses_only) == MIN_OUTPUT_TOKENS  # (the rule still reads the target)
        assert providers.prompt_overhead(chat, request) == 0
    assert folded.count("openai") <= 2  # (once a rule, or none: kept by an earlier test)


def test_an_alias_or_a_name_in_another_case_still_finds_its_class(folded):
    local = Target("ollama", "llama3")
    for _ in range(2):
        assert providers.min_output_tokens(local) == LocalProvider.min_output_tokens(local)
        assert providers.min_output_tokens(Target("OpenAI", "o3-pro")) == MIN_OUTPUT_TOKENS
    assert folded == ["ollama", "OpenAI"] * 2  # not kept: only a registered name as written is


def test_a_provider_registered_again_is_asked_its_own_rule(monkeypatch):
    target = Target("openai", "gpt-4o")
    assert providers.min_output_tokens(target) == 0

    class Stricter(OpenAIProvider):
        @classmethod
        def min_output_tokens(cls, target: Target) -> int:
            return 77

    with monkeypatch.context() as m:
        m.setitem(providers._REGISTRY, "openai", Stricter)
        assert providers.min_output_tokens(target) == 77
        assert providers.min_output_tokens(target) == 77
    assert providers.min_output_tokens(target) == 0  # the registry's entry restored: its rule again


def test_an_unknown_provider_is_still_refused_each_time():
    for _ in range(2):
        with pytest.raises(ConfigError, match="unknown provider 'opnai'"):
            providers.min_output_tokens(Target("opnai", "gpt-4o"))


@pytest.fixture
def acme(monkeypatch):
    """A provider class of the user's own, registered as ``acme-rules`` (the registry restored after the test)."""
    from magsag_mcp.targets import forget_parsed_targets

    class Acme(OpenAIProvider):
        pass

    monkeypatch.setattr(providers, "_REGISTRY", dict(providers._REGISTRY))
    providers.register_provider("acme-rules", Acme)
    yield Acme
    forget_parsed_targets()


def test_a_rule_changed_on_the_registered_class_is_the_one_asked(acme, monkeypatch):
    # register_provider, a call, then the class's rule changed (a monkeypatch, a setting read at start-up): the rule
    # kept at the first call was asked still, budgets reserving the old rule's tokens
    target = Target("acme-rules", "m")
    request = LLMRequest(messages=[Message(role="user", content="hi")])
    assert providers.min_output_tokens(target) == 0 and providers.prompt_overhead(target, request) == 0
    with monkeypatch.context() as m:
        m.setattr(acme, "min_output_tokens", classmethod(lambda cls, target: 64))
        m.setattr(acme, "prompt_overhead", classmethod(lambda cls, target, request: 9))
        assert providers.min_output_tokens(target) == 64 and providers.prompt_overhead(target, request) == 9
    assert providers.min_output_tokens(target) == 0  # (its own rule removed: the inherited one again)


def test_a_rule_changed_on_a_class_the_registered_one_inherits_from_is_the_one_asked(acme, monkeypatch):
    target = Target("acme-rules", "m")
    assert providers.min_output_tokens(target) == 0
    with monkeypatch.context() as m:
        m.setattr(OpenAIProvider, "min_output_tokens", classmethod(lambda cls, target: 32))
        assert providers.min_output_tokens(target) == 32
