"""The provider names the tools' arguments take, spelled out so that building the server's schemas imports no
provider (tests keep them in step with :mod:`magsag_mcp.providers`' registry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

#: the provider registry's names (tests check this against ``magsag_mcp.providers.provider_names``;
#: it is spelled out here so that building the server's schemas imports no HTTP client)
PROVIDERS = ("anthropic", "azure", "compat", "fake", "google", "local", "openai")
#: the other names the providers answer to (a test keeps this in step with the registry's)
PROVIDER_ALIASES = {
    "gemini": "google",
    "ollama": "local",
    "vllm": "local",
    "lmstudio": "local",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "claude": "anthropic",
}


def _provider_name(value: Any) -> Any:
    """A provider as the service reads one, any case and by its aliases (gemini is google): the same
    model_config inside the payload took them, and the argument refused them."""
    if not isinstance(value, str):
        return value
    key = value.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


# the schema publishes the registry's names; a call may write an alias, as the service takes it
Provider = Annotated[
    Literal["anthropic", "azure", "compat", "fake", "google", "local", "openai"], BeforeValidator(_provider_name)
]
