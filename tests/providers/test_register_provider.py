"""A provider registered under a name that targets can reach: a name written in capitals (``Acme``) is folded as every
target's provider name is (it was stored as written, and every call to it, ``Acme:model`` included, was refused as
"unknown provider 'Acme'; use one of: Acme, ..."); an alias's name (``ollama``) is refused with the fix (it was kept,
and every call under that name went to the provider the alias names, the registered one never used)."""

from __future__ import annotations

import pytest

from magsag_mcp import providers
from magsag_mcp.errors import ConfigError
from magsag_mcp.providers.fake import FakeProvider
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target


def test_a_name_in_capitals_is_registered_as_targets_name_it(provider_registry):
    providers.register_provider(" Acme ", FakeProvider)
    assert "acme" in providers.provider_names() and "Acme" not in provider_registry
    assert providers.canonical_provider("Acme") == "acme"
    assert isinstance(providers.ProviderSet({}, Transport()).get("Acme"), FakeProvider)
    assert providers.min_output_tokens(Target("Acme", "m")) == 0


def test_an_aliases_name_is_refused_with_the_fix(provider_registry):
    with pytest.raises(ConfigError, match="'ollama' is another name for provider 'local'.*register it as 'local'"):
        providers.register_provider("Ollama", FakeProvider)
    assert "ollama" not in provider_registry
    assert isinstance(providers.ProviderSet({}, Transport()).get("ollama"), LocalProvider)


def test_a_provider_whose_endpoint_takes_no_attribute_is_made_under_the_stdio_servers_settings_home(provider_registry):
    # the stdio server tells every endpoint where a missing key is to be set (its client's configuration); an endpoint
    # of the user's own that is a frozen dataclass refused the attribute, and ProviderSet.get raised
    # FrozenInstanceError: the provider could not be made at all. It keeps its own wording and is made.
    from dataclasses import dataclass, field

    from magsag_mcp.providers.openai import OpenAIEndpoint, OpenAIProvider

    @dataclass(frozen=True)
    class Frozen(OpenAIEndpoint):
        env: dict[str, str] = field(default_factory=dict)

    def own(env, transport):
        provider = OpenAIProvider(env, transport)
        provider.endpoint = Frozen(dict(env))
        return provider

    providers.register_provider("acme", own)
    made = providers.ProviderSet({}, Transport(), settings_home="in the server's env").get("acme")
    assert isinstance(made.endpoint, Frozen) and made.endpoint.settings_home == "in the environment"
    # the built-in ones take it, as before
    assert providers.ProviderSet({}, Transport(), settings_home="there").get("openai").endpoint.settings_home == "there"
