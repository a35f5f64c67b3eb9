"""Targets: where a call can go, written as ``provider:model``, a bare model, or a mapping.

Parsed here for the catalog's routing files and for each call's ``model_config`` alike, so a target
means the same wherever it is written. What a target's ``params`` may hold is checked in target_params.py
(:data:`ROUTER_FIELDS`, :data:`UNPRICED_PARAMS` and :data:`API_CHOICES` are re-exported here).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import import_module
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from .errors import ConfigError, redact
from .gemini_thinking import thinking_budget_refusal
from .predictions import refuse_unsent_prediction
from .provider_aliases import BUILT_IN_PROVIDERS, HOSTING_PROVIDERS, PROVIDER_ALIASES, built_in_provider
from .redaction import holds_secret, register_call_secret, register_secret
from .target_params import API_CHOICES, ROUTER_FIELDS, UNPRICED_PARAMS, _check_params, speed_refused
from .text import MODEL_MAX, URL_MAX, of_length
from .types import _CREDENTIAL_PARAM, Target, _without_credentials, shown_params

__all__ = [
    "API_CHOICES",
    "ROUTER_FIELDS",
    "TargetLike",
    "TargetSpec",
    "UNPRICED_PARAMS",
    "VENDOR_PREFIXES",
    "check_base_url_length",
    "forget_parsed_targets",
    "infer_provider",
    "misspelt_provider",
    "parse_target",
    "provider_prefix",
    "to_target",
]


#: the name prefixes (any case) that say which cloud vendor's model a bare name is: docs/model-choice.md lists them
VENDOR_PREFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-", "gpt4", "o1", "o3", "o4", "chatgpt-", "text-", "davinci", "babbage"),
    "anthropic": ("claude",),
    "google": ("gemini", "gemma", "learnlm"),
}


def _vendor_of(model: str) -> str | None:
    m = model.lower()
    if m.startswith("ft:"):  # an OpenAI fine-tune: ft:gpt-4o-mini-2024-07-18:org:name:id
        return "openai" if _vendor_of(m[3:].partition(":")[0]) == "openai" else None
    if ":" in m:
        return None  # a tagged name is a local server's (gpt-oss:20b is Ollama's, not OpenAI's API)
    if m.startswith(VENDOR_PREFIXES["openai"]):
        return "openai"
    if m.startswith(VENDOR_PREFIXES["anthropic"]):
        return "anthropic"
    # Gemini's resource name for a model (models/gemini-2.5-pro, as its ListModels and docs write it) is that model
    if m.removeprefix("models/").startswith(VENDOR_PREFIXES["google"]):
        return "google"
    return None


def infer_provider(model: str) -> str:
    """The provider a bare model name belongs to; an explicit provider always wins over this."""
    vendor = _vendor_of(model)
    if vendor:
        return vendor
    if ":" in model:
        # Ollama tags: llama3.1:70b, qwen2.5:7b, and the vendors' open-weight models gpt-oss:20b and
        # gemma3:27b (their own APIs name no model with a tag, only OpenAI's fine-tunes, ft:...)
        return "local"
    head, slash, rest = model.partition("/")
    if slash and rest and head.lower() in _prefixes():
        # anthropic/claude-... (a gateway's way, OpenRouter's): a provider is named with a colon
        raise ConfigError(
            f"cannot tell which provider serves model {model!r}; a provider is named with a colon, "
            f"'{head.lower()}:{rest}', and a gateway's model named with a slash goes to the provider serving it, e.g. "
            f"'compat:{model}'",
            model=model,
        )
    raise ConfigError(
        f"cannot tell which provider serves model {model!r}; name it explicitly "
        f"(e.g. 'local:{model}'{or_provider_key(model)})",
        model=model,
    )


def or_provider_key(model: str) -> str:
    """The other way :func:`infer_provider`'s refusal offers to name ``model``'s provider, a call's model_config key:
    ``check_budget``'s ``model`` (``magsag budget --model``) is a name alone, and leaves it out."""
    return f" or model_config {{'provider': ..., 'model': {model!r}}}"


@lru_cache(maxsize=1024)
def _parse_target_text(text: str) -> Target:
    """``provider:model`` or a bare model: cached, as calls name the same few targets again and again
    (a Target is immutable; a failed parse raises and is not cached)."""
    if not text:
        raise ConfigError("empty target: write 'provider:model', e.g. 'openai:gpt-4o'")
    _check_printable(text)
    head, sep, rest = text.partition(":")
    if sep and not head.strip():
        # ':' and ':llama3.1:70b' went to the local server as models of those names: a provider or a colon too many
        raise ConfigError(
            f"target {text!r} has nothing before its colon: write 'provider:model' (e.g. 'openai:gpt-4o', "
            "'local:llama3.1:70b') or the model alone"
        )
    prefixed = provider_prefix(text)
    if prefixed is not None:
        return Target(*prefixed)
    if sep and not rest.strip() and head.strip().lower() in _prefixes():
        # "azure:" is a provider whose model was left out, not a local model of that name
        raise ConfigError(
            f"target {text!r} names the provider {head.strip()!r} and no model: write the model after the colon, "
            f"'{head.strip()}:MODEL' (e.g. 'openai:gpt-4o'; for azure, its deployment's name)"
        )
    if head.lower() == "ft" and _vendor_of(text):
        return Target(_vendor_of(text), text)  # type: ignore[arg-type]  # a fine-tune's id, whole
    if misspelt_provider(text) is not None:
        canonical_provider(head.strip())  # raises: unknown provider, with the list of known ones
    return Target(infer_provider(text), text)


def misspelt_provider(text: str) -> str | None:
    """The ``head`` of ``head:model`` when ``model`` is a cloud vendor's and ``head`` names no provider: "opnai:gpt-4o"
    is a misspelt provider, not an Ollama tag (``ft:`` opens an OpenAI fine-tune's id). None otherwise. The spaces
    around the colon are dropped, as :func:`provider_prefix` drops them: ``opnai: gpt-4o`` went to the local server."""
    head, sep, rest = text.partition(":")
    head, rest = head.strip(), rest.strip()
    if not (sep and rest and _vendor_of(rest)) or provider_prefix(text) is not None:
        return None
    return None if head.lower() == "ft" and _vendor_of(text) else head


def _check_printable(model: str) -> None:
    """No vendor names a model with a control or invisible character (a line break, an escape, a zero-width
    space, a direction override): such a name would go on to the policy's refusal, the server's log line (a
    line break forging a line of its own, an escape sequence reaching the operator's terminal) and the
    vendor. Refused, quoted escaped; and so is a name longer than any vendor gives (:data:`~.text.MODEL_MAX`),
    unquoted, which would go to the vendor and into every record of the call."""
    if len(model) > MODEL_MAX:
        raise ConfigError(
            f"model {of_length(model)}: a model's name is at most {MODEL_MAX}; write the model's name as its "
            "vendor gives it, e.g. 'gpt-4o' or 'llama3.1:70b'",
            max_length=MODEL_MAX,
        )
    if not model.isprintable():
        raise ConfigError(
            f"model {model!r} holds a control or invisible character; write the model's name as its vendor "
            "gives it, e.g. 'gpt-4o' or 'llama3.1:70b'"
        )
    if holds_secret(model):
        # A key pasted where the model goes (MAGSAG_MODEL and a key variable swapped in a client's config): it would
        # go to the vendor as the model's name (one vendor's key to another), and into the ledger and its exports.
        raise ConfigError(
            f"model {redact(model)!r} holds what looks like an API key or token; write the model's name as its "
            "vendor gives it, e.g. 'gpt-4o' or 'llama3.1:70b' (keys are read from their variables, e.g. OPENAI_API_KEY)"
        )


def provider_prefix(text: str) -> tuple[str, str] | None:
    """``(provider, model)`` when ``text`` starts with a provider's name (``openai:gpt-4o``), else None
    (``llama3.1:70b`` is an Ollama tag, not a provider and a model)."""
    head, sep, rest = text.partition(":")
    if not (sep and rest):
        return None
    if head.lower() in _prefixes() and not rest[0].isspace():
        return canonical_provider(head), rest
    # spaces around the colon ('openai: gpt-4o', quoted in YAML) pin the same model: kept, ' gpt-4o' went to the
    # vendor as a model no call names, and 'openai :gpt-4o' to the local server
    head, rest = head.strip(), rest.strip()
    if rest and head.lower() in _prefixes():
        return canonical_provider(head), rest
    return None


#: the names a ``provider:`` prefix may use while the registry holds the built-in providers alone
_BUILT_IN_PREFIXES = frozenset(BUILT_IN_PROVIDERS) | frozenset(PROVIDER_ALIASES)
_registry_seen = False


def _registry_loaded() -> bool:
    """Whether the provider registry (:mod:`magsag_mcp.providers`, its ``__init__``) has run. Until it has, it holds
    the built-in providers alone (registering one, or setting one in it, runs it first), and a target naming one of
    those is read from :mod:`.provider_aliases`' names: importing the registry imports its transport and aiohttp
    (some 300 modules), which ``magsag-mcp``'s check of MAGSAG_MODEL paid before it answered ``initialize``. (The
    server defers the package's ``__init__``, so the module's presence alone does not say it ran.)"""
    global _registry_seen
    if not _registry_seen:
        module = sys.modules.get("magsag_mcp.providers")
        _registry_seen = module is not None and "_REGISTRY" in vars(module)
    return _registry_seen


def _prefixes() -> frozenset[str]:
    """The names a ``provider:`` prefix may use: the registry's, else (not loaded) the built-in ones."""
    return _registry_prefixes() if _registry_loaded() else _BUILT_IN_PREFIXES


@lru_cache(maxsize=1)
def _registry_prefixes() -> frozenset[str]:
    """The registry's names and aliases (built once; see :func:`forget_parsed_targets`)."""
    from .providers import provider_aliases, provider_names

    return frozenset(provider_names()) | provider_aliases()


class _RegistryFunction:
    """A function of the provider registry (:mod:`magsag_mcp.providers`) that targets ask, imported once: ``providers``
    imports this module (and aiohttp), so it is not imported at the top, and an import statement in a function that
    targets are parsed by on every call costs about 5,700 instructions each time it runs. While the registry is not
    loaded (:func:`_registry_loaded`) a built-in provider's name is answered from :mod:`.provider_aliases`' tables
    (``unloaded``, given the built-in name); any other name asks the registry (one registered, or none: its refusal
    names the one meant), which answers from then on (``function``)."""

    __slots__ = ("name", "unloaded", "function")

    def __init__(self, name: str, unloaded: Callable[[str], Any]) -> None:
        self.name = name
        self.unloaded = unloaded
        self.function: Callable[[str], Any] | None = None

    def first(self, provider: str) -> Any:
        if not _registry_loaded() and (built_in := built_in_provider(provider)) is not None:
            return self.unloaded(built_in)
        self.function = getattr(import_module(".providers", __package__), self.name)
        return self.function(provider)


_CANONICAL = _RegistryFunction("canonical_provider", lambda built_in: built_in)
_HOSTING = _RegistryFunction("hosts_other_models", HOSTING_PROVIDERS.__contains__)


def canonical_provider(name: str) -> str:
    """:func:`.providers.canonical_provider`, read without the registry for a built-in provider's name while it is not
    loaded (:class:`_RegistryFunction`)."""
    return (_CANONICAL.function or _CANONICAL.first)(name)


def hosts_other_models(name: str) -> bool:
    """:func:`.providers.hosts_other_models` (routing asks it of MAGSAG_PROVIDER on every call), for a built-in
    provider while the registry is not loaded read from :data:`~.provider_aliases.HOSTING_PROVIDERS`
    (:class:`_RegistryFunction`)."""
    return bool((_HOSTING.function or _HOSTING.first)(name))


def forget_parsed_targets() -> None:
    """Drop the parsed-target cache (a provider was registered: names may parse differently)."""
    _parse_target_text.cache_clear()
    _registry_prefixes.cache_clear()


#: the keys a target given as a mapping takes
_TARGET_ORDER = ("provider", "model", "base_url", "params")
_TARGET_KEYS = frozenset(_TARGET_ORDER)


def parse_target(spec: str | Mapping[str, Any], *, by_call: bool = False) -> Target:
    """``provider:model``, a bare model (provider inferred), or ``{provider?, model, base_url?, params?}``.

    ``by_call``: the target is a call's own (``model_config``, its fallbacks): the values of its credential params
    are kept out of that call's messages only, not out of every message of the process (see
    :func:`~magsag_mcp.redaction.register_call_secret`)."""
    if isinstance(spec, str):
        return _parse_target_text(spec.strip())
    if isinstance(spec, Mapping) and not spec.keys() <= _TARGET_KEYS:
        # a misspelt key ({'base_ur': ...}) would otherwise be dropped: the call would go elsewhere
        from .plurals import agreeing
        from .suggest import named

        extra = spec.keys() - _TARGET_KEYS
        unknown = named(extra, _TARGET_ORDER)
        raise ConfigError(f"a target takes {', '.join(_TARGET_ORDER)}; unknown {agreeing(len(extra), 'key')} {unknown}")
    if not isinstance(spec, Mapping) or not spec.get("model"):
        raise ConfigError(f"a target needs a model: got {_shown(spec)}")
    model = str(spec["model"]).strip()
    if not model:
        raise ConfigError(f"a target needs a model: got {_shown(spec)}")
    _check_printable(model)
    provider = spec.get("provider")
    if provider:
        provider = canonical_provider(str(provider))
        prefixed = provider_prefix(model)
        if prefixed is not None:
            # {"provider": "openai", "model": "openai:gpt-4o"} is one target, not the model "openai:gpt-4o"
            if prefixed[0] != provider:
                kept = _kept_provider(provider, *prefixed)
                raise ConfigError(
                    f"model {model!r} names provider {prefixed[0]!r}, but the provider given is {provider!r}; "
                    f"drop one of them (e.g. model {prefixed[1]!r} with provider {kept!r})"
                )
            model = prefixed[1]
        elif (head := misspelt_provider(model)) is not None:
            raise _misspelt_prefix_refused(provider, model, head)
    else:
        provider = parse_target(model).provider if ":" in model else infer_provider(model)
        if ":" in model and parse_target(model).model != model:
            model = parse_target(model).model
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"target params must be a mapping, got {type(params).__name__}")
    _check_params(params)
    if provider == "anthropic" and "speed" in params:
        raise ConfigError(speed_refused(params["speed"]))
    if provider == "google" and (refusal := thinking_budget_refusal(params, model)) is not None:
        raise ConfigError(refusal)  # (a budget past the most its model thinks)
    _register_credentials(params, register=register_call_secret if by_call else register_secret)
    base_url = spec.get("base_url") or None
    if base_url is not None and not isinstance(base_url, str):
        raise ConfigError(
            f"base_url must be a URL string such as http://localhost:11434, got {type(base_url).__name__}"
        )
    if base_url is not None:
        check_base_url_length(base_url)
    target = Target(provider, model, base_url, tuple(sorted(params.items())))
    if params.get("prediction") is not None:
        refuse_unsent_prediction(target)
    return target


def check_base_url_length(base_url: str) -> None:
    """A base URL longer than :data:`~.text.URL_MAX` is refused, said by its length: taken, it was echoed whole in
    the call's trace, its explanation and a failure naming the server. Every base URL a caller gives meets it: a
    target's (:func:`parse_target`) and a call's that names a provider and no model (the policy's models on its
    server, :mod:`.route_resolution`)."""
    if len(base_url) > URL_MAX:
        raise ConfigError(
            f"base_url {of_length(base_url)}: a base URL is at most {URL_MAX}; give the server's address "
            "and its API's path, e.g. http://localhost:11434",
            max_length=URL_MAX,
        )


def _misspelt_prefix_refused(provider: str, model: str, head: str) -> ConfigError:
    """A target giving ``provider`` whose ``model`` begins with a misspelt provider's name (``{"provider": "openai",
    "model": "opneai:gpt-4o"}``, ``MAGSAG_PROVIDER=openai`` with ``MAGSAG_MODEL=opneai:gpt-4o``): the provider was
    given, so the whole text went to it as the model's name, for the vendor's 404 (or, under a cost limit, a refusal
    as of no known price). Its details carry the provider and model meant, for a setting's fix
    (:func:`~.env_routing.env_model_refused`)."""
    from .providers import meant_provider

    rest = model.partition(":")[2].strip()
    meant = meant_provider(head)
    kept = _kept_provider(provider, meant, rest) if meant is not None else provider
    nearly = f" (did you mean {meant!r}?)" if meant is not None else ""
    return ConfigError(
        f"model {model!r} begins with {head!r}, which names no provider{nearly}, and the provider is given "
        f"apart ({provider!r}): it would go to {provider} as the model's name; write model {rest!r} with provider "
        f"{kept!r}",
        provider=kept,
        model=rest,
    )


def _kept_provider(given: str, named: str, model: str) -> str:
    """The provider to offer with ``model`` when a target gives ``given`` and its model's prefix names ``named``: the
    one given when it can serve the model (a hosting provider, or a vendor its own model: ``azure`` with
    ``openai:gpt-4o``), else the one the prefix names. A vendor serves no other vendor's model, so the pair
    ``openai`` with ``claude-3-haiku-20240307`` would fail in its turn, as of no known price or not found."""
    from .providers import hosts_other_models

    try:
        if hosts_other_models(given) or infer_provider(model) == given:
            return given
    except ConfigError:  # a name no vendor's (a gateway's meta-llama/...): the prefix said who serves it
        pass
    return named


def register_call_credentials(params: Mapping[str, Any]) -> None:
    """Make the credential params of a call's own target known to :func:`~magsag_mcp.errors.redact` in this call: a
    route cached from an earlier call of the same targets is not parsed again."""
    _register_credentials(params, register=register_call_secret)


def _register_credentials(
    params: Mapping[str, Any], named: bool = False, *, register: Callable[[str], None] = register_secret
) -> None:
    """Make each text value of a credential param (``api_key``, ``gateway_auth``, and all under one) known to
    :func:`~magsag_mcp.errors.redact`. :meth:`Target.to_dict` hides it by its name, and yet it goes to the server
    in the request's body, where a server that echoes what it refused (vLLM's and LiteLLM's "Extra inputs are not
    permitted ... input: '<value>'") brought it back whole into the error, the ledger's record and the trace."""
    for key, value in params.items():
        credential = named or bool(_CREDENTIAL_PARAM.search(str(key)))
        if isinstance(value, str):
            if credential and _secret_shaped(value):
                register(value)
        elif isinstance(value, Mapping):
            _register_credentials(value, credential, register=register)
        elif isinstance(value, list | tuple):
            for item in value:
                _register_credentials({key: item}, credential, register=register)


def _secret_shaped(value: str) -> bool:
    """A credential param's value that is a credential, not a setting (``auth_mode: default``, ``auth_type:
    bearer``): known to redact(), a word would vanish from every message, as a placeholder key's did."""
    return len(value) >= 20 or (len(value) >= 8 and any(c.isdigit() for c in value))


def _shown(spec: Any) -> str:
    """A target as written, for a message: its base URL and its credential params as :meth:`Target.to_dict` shows
    them (no user:password@, ?query or token in the path; ``[REDACTED]`` for ``api_key``, ``gateway_auth``...).
    The message of a routing file's target reaches ``catalog validate``, ``doctor`` and every MCP client of a
    server that cannot open its catalog."""
    if not isinstance(spec, Mapping):
        return redact(repr(spec))
    shown = dict(spec)
    if isinstance(shown.get("base_url"), str):
        shown["base_url"] = _without_credentials(shown["base_url"])
    params = shown.get("params")
    if isinstance(params, Mapping):
        shown["params"] = shown_params(params)
    return redact(repr(shown))


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str | None = None
    model: str
    base_url: str | None = None
    #: (out of the repr: a credential param, api_key or gateway_auth, was shown whole; see Target.__repr__)
    params: dict[str, Any] = Field(default_factory=dict, repr=False)


def spaced_colon(value: Any, keys: frozenset[str] = frozenset()) -> Any:
    """``value``, unless it is what YAML makes of ``- openai: gpt-4o`` (a space after the colon): a mapping of
    one key (none of ``keys``, those of a target written as a mapping) to one name, where ``openai:gpt-4o`` was
    meant. Refused with the text to write: pydantic would only say a string was expected."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, name),) = value.items()
        if isinstance(key, str) and key not in keys and isinstance(name, str | int | float) and str(name).strip():
            raise ValueError(
                f"YAML read '{key}: {name}' as a mapping, for the space after the colon; write '{key}:{name}' "
                "(quoted, or without the space)"
            )
    return value


def _target_like(value: Any) -> Any:
    if not isinstance(value, str | Mapping | TargetSpec):
        # pydantic said so once for each of the union's branches, naming TargetSpec, a class of magsag's code
        got = "nothing" if value is None else type(value).__name__
        raise ValueError(
            f"a target is 'provider:model' (e.g. openai:gpt-4o) or a mapping {{{', '.join(_TARGET_ORDER)}}}; got {got}"
        )
    return spaced_colon(value, _TARGET_KEYS)


def _parsed(item: str | TargetSpec) -> str | TargetSpec:
    """The target checked where it stands, so that its problem names its key path (``routes.0.chain.1``) and the
    file's other problems are listed beside it: a :class:`ConfigError` raised from a validator got past pydantic
    unlocated, and ended the file's reading."""
    try:
        to_target(item)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return item


#: a target as the catalog writes it: ``provider:model``, a bare model, or a mapping
TargetLike = Annotated[str | TargetSpec, BeforeValidator(_target_like), AfterValidator(_parsed)]


def to_target(item: TargetLike) -> Target:
    if isinstance(item, TargetSpec):
        return parse_target(item.model_dump())
    return parse_target(item)
