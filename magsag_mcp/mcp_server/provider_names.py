"""The provider names the tools' arguments take (and those arguments' fields), spelled out so that building the
server's schemas imports no provider (tests keep them in step with :mod:`magsag_mcp.providers`' registry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from ..provider_aliases import BUILT_IN_PROVIDERS, PROVIDER_ALIASES, TEST_PROVIDERS
from ..status_filter import any_case
from ..text import URL_MAX

#: the provider registry's names (tests check this against ``magsag_mcp.providers.provider_names``;
#: it is spelled out here so that building the server's schemas imports no HTTP client)
PROVIDERS = BUILT_IN_PROVIDERS


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


#: the characters ``str.strip()`` strips (``str.isspace()``'s), which :func:`_provider_name` strips, spelled out for
#: :data:`PROVIDER_PATTERN`: its ``\s`` is another set in each engine (ECMA-262's, a JavaScript client's, takes U+FEFF,
#: which the server keeps, and not U+001C-U+001F nor U+0085, which it strips; Python's is str.strip()'s)
STRIPPED = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: what the published schemas say a provider is: a registry's name or an alias (:data:`PROVIDER_ALIASES`), in any
#: case, space around it (:data:`STRIPPED`, written as itself: every engine reads a character alike), or "" (none),
#: as :func:`_provider_name` takes it. An enum of the lower-case names told a client that checks its arguments against
#: the schema to refuse ``OpenAI`` and ``gemini``, which the server takes.
#: (JSON Schema's recommended subset of ECMA-262, as :data:`~magsag_mcp.status_filter.STATUS_PATTERN` is.)
PROVIDER_PATTERN = (
    f"^(|[{STRIPPED}]*("
    + "|".join(any_case(name) for name in (*PROVIDERS, *sorted(PROVIDER_ALIASES)))
    + f")[{STRIPPED}]*)$"
)
#: the lengths a provider has: "" (none), or at least its shortest name's. Python's ``$`` (its jsonschema's) also ends
#: a match before a final newline, so the pattern's "" alone took "\n", which the server refuses (as
#: :data:`~magsag_mcp.status_filter.STATUS_LENGTHS` keeps "ok\n" out)
PROVIDER_LENGTHS = [
    {"type": "string", "maxLength": 0},
    {"type": "string", "minLength": min(len(name) for name in (*PROVIDERS, *PROVIDER_ALIASES))},
]


# the schema publishes the names and aliases in any case, as the service takes them (an optional one, as every
# argument that takes a provider is: the validator runs before the union, so that "" can be none)
Provider = Annotated[
    Annotated[
        Literal["anthropic", "azure", "compat", "fake", "google", "local", "openai"],
        WithJsonSchema({"pattern": PROVIDER_PATTERN, "anyOf": PROVIDER_LENGTHS}),
    ]
    | None,
    BeforeValidator(_provider_name),
]


def provider_value_hint(field: str, value: Any) -> str | None:
    """What a provider the tools' arguments refuse was written for (see :mod:`.arguments`), as the service's own
    refusal of it says (:func:`magsag_mcp.providers.canonical_provider`, which the Python API and the CLI answer
    with): a misspelt name or alias (``opnai``, ``olama``) the one it means, else a vendor with no provider of its
    own (Mistral, Groq, OpenRouter) compat. Before, a tool said only "expected one of ..., got a string"."""
    if field != "provider" or not isinstance(value, str):
        return None
    from ..providers import meant_provider  # (at a refusal only: building the schemas imports no provider)

    close = meant_provider(value)
    if close:
        return f"did you mean {close!r}?"
    return (
        "a vendor not listed (Mistral, Groq, OpenRouter, ...) that speaks OpenAI's API is compat: any "
        "OpenAI-compatible endpoint, at MAGSAG_COMPAT_BASE_URL, which the server's operator sets"
    )


def provider_choices(field: str, value: Any) -> str | None:
    """The providers a refusal of ``field`` offers (see :mod:`.arguments`): :data:`PROVIDERS` less the test-only ones,
    as the service's refusal offers them (:func:`magsag_mcp.providers.offered_provider_names`). The field's own
    choices, which take ``fake`` (scripted replies), offered it beside ``openai`` as one to call."""
    if field != "provider":
        return None
    offered = [repr(name) for name in PROVIDERS if name not in TEST_PROVIDERS]
    return f"one of {', '.join(offered[:-1])} or {offered[-1]}"


# model_config's and each fallback's: a model choosing them reads every field's description
PROVIDER_FIELD = Field(
    None,
    description=f"one of {', '.join(PROVIDERS)} or an alias ({', '.join(sorted(PROVIDER_ALIASES))}; "
    "gemini is google), any case; default: the provider a prefix names (openai:gpt-4o), else routing's",
)
BASE_URL_FIELD = Field(
    None,
    json_schema_extra={"maxLength": URL_MAX},  # said to a client's validator; the service's refusal says the length
    description="the provider's endpoint, e.g. http://localhost:11434 for local (a keyed provider's must be "
    "configured)",
)
