"""The provider names the tools' arguments take (and those arguments' fields), spelled out so that building the
server's schemas imports no provider (tests keep them in step with :mod:`magsag_mcp.providers`' registry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from ..provider_aliases import PROVIDER_ALIASES
from ..status_filter import any_case

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
    key = value.strip()
    if key.isascii():  # (str.lower made the Kelvin sign of "FA\u212aE" a k: no case of "fake")
        key = key.lower()
    return PROVIDER_ALIASES.get(key, key)


#: what the published schemas say a provider is: a registry's name or an alias (:data:`PROVIDER_ALIASES`), in any
#: case, space around it, or "" (none), as :func:`_provider_name` takes it. An enum of the lower-case names told a
#: client that checks its arguments against the schema to refuse ``OpenAI`` and ``gemini``, which the server takes.
#: (JSON Schema's recommended subset of ECMA-262, as :data:`~magsag_mcp.status_filter.STATUS_PATTERN` is.)
PROVIDER_PATTERN = (
    r"^(|\s*(" + "|".join(any_case(name) for name in (*PROVIDERS, *sorted(PROVIDER_ALIASES))) + r")\s*)$"
)


# the schema publishes the names and aliases in any case, as the service takes them (an optional one, as every
# argument that takes a provider is: the validator runs before the union, so that "" can be none)
Provider = Annotated[
    Annotated[
        Literal["anthropic", "azure", "compat", "fake", "google", "local", "openai"],
        WithJsonSchema({"type": "string", "pattern": PROVIDER_PATTERN}),
    ]
    | None,
    BeforeValidator(_provider_name),
]

# model_config's and each fallback's: a model choosing them reads every field's description
PROVIDER_FIELD = Field(
    None,
    description=f"one of {', '.join(PROVIDERS)} or an alias ({', '.join(sorted(PROVIDER_ALIASES))}; "
    "gemini is google), any case; default: the provider a prefix names (openai:gpt-4o), else routing's",
)
BASE_URL_FIELD = Field(
    None,
    description="the provider's endpoint, e.g. http://localhost:11434 for local (a keyed provider's must be "
    "configured)",
)
