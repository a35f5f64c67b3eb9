"""The other names the providers answer to (``gemini`` is ``google``), one table for the provider registry
(:mod:`magsag_mcp.providers`) and the MCP server's argument models (:mod:`magsag_mcp.mcp_server.provider_names`).
A module of its own, importing nothing, so that building the server's schemas imports no provider (the HTTP client),
and so that a target naming a built-in provider is read without the registry (see :func:`built_in_provider`)."""

from __future__ import annotations

#: the provider registry's built-in names (a test keeps them in step with :mod:`magsag_mcp.providers`' registry)
BUILT_IN_PROVIDERS = ("anthropic", "azure", "compat", "fake", "google", "local", "openai")

#: the built-in providers for tests and offline work (scripted replies), taken when named but offered to no one: the
#: providers a refusal lists, or suggests for a misspelt name, are those a user's calls go to
TEST_PROVIDERS = frozenset({"fake"})

#: the built-in providers that serve other vendors' models under their names (their classes' ``hosts_other_models``;
#: a test keeps it in step with the registry's classes)
HOSTING_PROVIDERS = frozenset({"azure", "compat", "fake", "local"})

PROVIDER_ALIASES = {
    "gemini": "google",
    "ollama": "local",
    "vllm": "local",
    "lmstudio": "local",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "claude": "anthropic",
}


def built_in_provider(name: str) -> str | None:
    """The built-in provider ``name`` names (an alias taken, spaces and case folded, as the registry reads it), else
    None (a provider registered since, or none at all: the registry's to say)."""
    key = name.strip().lower()
    key = PROVIDER_ALIASES.get(key, key)
    return key if key in BUILT_IN_PROVIDERS else None
