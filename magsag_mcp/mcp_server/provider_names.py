"""The provider names the tools' arguments take (and those arguments' fields), spelled out so that building the
server's schemas imports no provider (tests keep them in step with :mod:`magsag_mcp.providers`' registry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from ..provider_aliases import PROVIDER_ALIASES

#: the provider registry's names (tests check this against ``magsag_mcp.providers.provider_names``;
#: it is spelled out here so that building the server's schemas imports no HTTP client)
PROVIDERS = ("anthropic", "azure", "compat", "fake", "google", "local", "openai")


def _provider_name(value: Any) -> Any:
    """A provider as the service reads one, any case and by its aliases (gemini is google): the same
    model_config inside the payload took them, and the argument refused them. Empty, none (a form's blank
    field, as an empty model is): the argument refused it as no provider's name, and the service reads it so."""
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    key = value.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


# the schema publishes the registry's names; a call may write an alias, as the service takes it (an optional one,
# as every argument that takes a provider is: the validator runs before the union, so that "" can be none)
Provider = Annotated[
    Literal["anthropic", "azure", "compat", "fake", "google", "local", "openai"] | None,
    BeforeValidator(_provider_name),
]

# model_config's and each fallback's: a model choosing them reads every field's description
PROVIDER_FIELD = Field(None, description="default: the provider a prefix names (openai:gpt-4o), else routing's")
BASE_URL_FIELD = Field(
    None,
    description="the provider's endpoint, e.g. http://localhost:11434 for local (a keyed provider's must be "
    "configured)",
)
