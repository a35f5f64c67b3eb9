"""Provider registry: name -> factory, imported lazily so that start-up stays light.

Add a provider by registering ``"name": "module:Class"`` (or calling :func:`register_provider`);
the class takes ``(env, transport)`` and does no I/O in its constructor.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ProviderError
from ..provider_aliases import PROVIDER_ALIASES as _ALIASES
from ..provider_aliases import TEST_PROVIDERS
from ..transport import Transport
from ..types import LLMRequest, Target
from .base import Endpoint, HTTPProvider, Provider
from .capabilities import Capabilities
from .wire_format import WireFormat

__all__ = [
    "Capabilities",
    "Endpoint",
    "HTTPProvider",
    "Provider",
    "WireFormat",
    "ProviderSet",
    "register_provider",
    "provider_names",
    "offered_provider_names",
    "meant_provider",
    "provider_aliases",
    "canonical_provider",
    "hosts_other_models",
    "min_output_tokens",
    "takes_prediction",
    "uses_responses",
]

ProviderFactory = Callable[[Mapping[str, str], Transport], Provider]

_REGISTRY: dict[str, str | ProviderFactory] = {
    "openai": "magsag_mcp.providers.openai:OpenAIProvider",
    "azure": "magsag_mcp.providers.azure:AzureProvider",
    "compat": "magsag_mcp.providers.openai:CompatProvider",
    "local": "magsag_mcp.providers.local:LocalProvider",
    "anthropic": "magsag_mcp.providers.anthropic:AnthropicProvider",
    "google": "magsag_mcp.providers.gemini:GeminiProvider",
    "fake": "magsag_mcp.providers.fake:FakeProvider",
}


def register_provider(name: str, factory: str | ProviderFactory) -> None:
    """Register ``factory`` as provider ``name``, folded as a target's provider name is (``Acme`` is ``acme``: stored
    as written, no target could reach it). An alias's name is refused: a target naming it reaches the provider it
    is an alias of, never the one registered."""
    from ..targets import forget_parsed_targets

    key = name.strip().lower()
    if key in _ALIASES:
        raise ConfigError(
            f"{key!r} is another name for provider {_ALIASES[key]!r}: register the provider under a name of its own, "
            f"or register it as {_ALIASES[key]!r} to replace that provider"
        )
    _REGISTRY[key] = factory
    forget_parsed_targets()  # "name:model" now means this provider


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def offered_provider_names() -> list[str]:
    """:func:`provider_names` less the test-only ones (:data:`~..provider_aliases.TEST_PROVIDERS`): the providers a
    refusal offers a user (``fake`` answers in scripts, and offered beside ``openai`` it read as one to call)."""
    return [name for name in sorted(_REGISTRY) if name not in TEST_PROVIDERS]


def meant_provider(name: str) -> str | None:
    """The provider or alias an unknown ``name`` is a misspelling of (``opneai``: ``openai``), else None: what a
    refusal of it suggests, and what the fix it gives writes. A test-only provider is never suggested."""
    from ..suggest import nearest
    from ..text import NAME_MAX

    if len(name) > NAME_MAX:
        return None
    return nearest(name.strip().lower(), [*offered_provider_names(), *_ALIASES], cutoff=0.75)


def provider_aliases() -> frozenset[str]:
    """The other names a provider answers to (``gemini``, ``ollama``, ...)."""
    return frozenset(_ALIASES)


def canonical_provider(name: str) -> str:
    """The registered name for ``name`` (aliases such as ``gemini`` or ``ollama`` accepted)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        from ..text import NAME_MAX, shown_name

        # 'opnai', 'antropic', 'olama': a misspelt provider or alias is told the name it means
        close = meant_provider(name)
        hint = f" (did you mean {close!r}?)" if close else ""
        # 'openrouter', 'groq', 'together': a service of its own name is most often an OpenAI-compatible one
        compat = "" if close else " (compat: any OpenAI-compatible endpoint, at MAGSAG_COMPAT_BASE_URL)"
        raise ConfigError(  # a caller's text: quoted only when it is a name's length
            f"unknown provider {shown_name(name)}{hint}; use one of: {', '.join(offered_provider_names())}{compat}",
            **({"provider": name} if len(name) <= NAME_MAX else {}),
        )
    return key


def hosts_other_models(name: str) -> bool:
    """Whether provider ``name`` serves other vendors' models under their names (its class says so)."""
    return bool(getattr(_load(canonical_provider(name)), "hosts_other_models", False))


#: provider name -> the registry's entry under that name, loaded (its class), for :func:`_class_rule`
_CLASSES: dict[str, Any] = {}


def _class_rule(target: Target, name: str) -> Any:
    """The classmethod ``name`` of ``target``'s provider class, which budgets ask before an attempt; None for an
    unknown provider or a factory that is no :class:`Provider` class. Found under a registered name, the class is kept
    for the attempts that follow (the name folded and looked up cost some 4,000 instructions an attempt), and taken
    while the registry holds the same entry under that name: one registered again (or a path loaded as its class) is
    looked up afresh. The rule itself is read from the class each time (the cost of a dict look-up): kept, a rule
    replaced on the class after a first call (a monkeypatch, a subclass's base changed) was asked still."""
    provider = target.provider
    kept = _CLASSES.get(provider)
    if kept is not None and _REGISTRY.get(provider) is kept:
        return getattr(kept, name, None)
    try:
        factory = _load(canonical_provider(provider))
    except KeyError:
        return None
    if _REGISTRY.get(provider) is factory:  # (its registered name as written: not an alias, nor another case)
        _CLASSES[provider] = factory
    return getattr(factory, name, None)


def min_output_tokens(target: Target) -> int:
    """The fewest output tokens a call to ``target`` is sent with (its provider's class says; 0 for a
    factory that is no :class:`Provider` class)."""
    fewest = _class_rule(target, "min_output_tokens")
    return fewest(target) if fewest is not None else 0


def output_beyond_max_tokens(target: Target) -> int:
    """Output tokens a call to ``target`` may be billed for beyond its ``max_tokens`` (its provider's class says; 0
    for a factory that is no :class:`Provider` class)."""
    beyond = _class_rule(target, "output_beyond_max_tokens")
    return beyond(target) if beyond is not None else 0


def prompt_overhead(target: Target, request: LLMRequest) -> int:
    """Input tokens a call to ``target`` is billed beyond the request it sends (its provider's class says; 0 for a
    factory that is no :class:`Provider` class)."""
    overhead = _class_rule(target, "prompt_overhead")
    return overhead(target, request) if overhead is not None else 0


def takes_prediction(target: Target) -> bool:
    """Whether a call to ``target`` carries Chat Completions' ``prediction`` (its provider's class says; False for a
    factory that is no :class:`Provider` class, which cannot say)."""
    takes = _class_rule(target, "takes_prediction")
    return bool(takes(target)) if takes is not None else False


def uses_responses(target: Target) -> bool:
    """Whether a call to ``target`` is sent with the Responses API (its provider's class says; False for a provider
    without that API)."""
    responses = _class_rule(target, "uses_responses")
    return bool(responses(target)) if responses is not None else False


def _load(name: str) -> ProviderFactory:
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = factory
    return factory


class ProviderSet:
    """The providers of one service: created on first use, sharing one :class:`Transport`."""

    def __init__(
        self,
        env: Mapping[str, str],
        transport: Transport,
        *,
        settings_home: str | None = None,
        state_folder: Path | None = None,
    ) -> None:
        self.env = env
        self.transport = transport
        #: where a provider keeps what it learns for later processes (the ledger's folder; a provider with
        #: ``remember_in`` is given it), None: nothing kept beyond the process
        self.state_folder = state_folder
        #: where a missing key is to be set, when not just "in the environment" (the endpoints' ``settings_home``)
        self.settings_home = settings_home
        self._instances: dict[str, Provider] = {}

    def get(self, name: str) -> Provider:
        provider = self._instances.get(name)
        if provider is None:
            provider = _load(canonical_provider(name))(self.env, self.transport)
            endpoint = getattr(provider, "endpoint", None)
            if self.settings_home is not None and endpoint is not None:
                # an endpoint of the user's own that takes no attribute (a frozen dataclass) keeps its own wording:
                # set unconditionally, the stdio server could not make its provider at all
                with contextlib.suppress(AttributeError):
                    endpoint.settings_home = self.settings_home
            if self.state_folder is not None and (remember_in := getattr(provider, "remember_in", None)) is not None:
                remember_in(self.state_folder)
            self._instances[name] = provider
        return provider

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per provider, what ``magsag doctor`` shows (never a key) and why it cannot be called, or None."""
        out: dict[str, dict[str, Any]] = {}
        for name in provider_names():
            provider = self.get(name)
            # The check the cascade makes before calling a target (no key, no endpoint, ...), so that doctor
            # says "ready" only for what a call would actually try.
            out[name] = {**provider.describe(), "unavailable": provider.unavailable(Target(name, "doctor"))}
        return out

    def setting_problems(self) -> list[str]:
        """What the environment set wrong for a provider (a base URL variable that cannot carry a request):
        a provider left unset is only not configured, one set wrong is a problem (``magsag doctor``)."""
        return [p for name in provider_names() for p in self.get(name).setting_problems()]

    def unsent_foreign_keys(self, targets: Iterable[Target]) -> list[tuple[str, str]]:
        """(problem, note) of each key another vendor issued, set for a vendor's own API (:meth:`setting_problems`
        lists it, as its default endpoint's), that none of ``targets`` (every target the catalog names, and those the
        environment's overrides make) sends there: each of the provider's has a base_url of its own elsewhere (a
        gateway that may take it), or there is none. Only a call naming a model of the provider with no base_url of
        its own reaches the vendor with it, and is refused before anything is sent: ``magsag doctor``'s note, not its
        problem (an OpenRouter key in OPENAI_API_KEY beside targets with OpenRouter's base_url works)."""
        targets = list(targets)
        out: list[tuple[str, str]] = []
        for name in provider_names():
            endpoint = getattr(self.get(name), "endpoint", None)
            if endpoint is None:  # (a provider of the user's own: its problems stand as it says them)
                continue
            try:
                problem = endpoint.foreign_key(Target(name, "doctor"))
                own = [t for t in targets if t.provider == name]
                if problem is None or any(endpoint.foreign_key(t) for t in own):
                    continue
            except ProviderError:  # no endpoint to send it to: said by the base URL's problem
                continue
            which = f"each of {name}'s has a base_url of its own" if own else f"none is {name}'s"
            # the note says what holds for a setup that works (the key's own gateway in each target): not the problem's
            # fix, to move the key elsewhere, which that setup does not need
            said = endpoint.foreign_key(Target(name, "doctor"), with_fix=False)
            out.append(
                (
                    problem,
                    f"{said}; no target the catalog names sends it there ({which}), so routed calls are not refused "
                    f"for it, only a call naming {name}:MODEL with no base_url of its own (refused before it is sent)",
                )
            )
        return out

    def setting_notes(self) -> list[str]:
        """What ``magsag doctor`` notes of the providers' settings (see :meth:`~.base.Provider.setting_notes`)."""
        return [n for name in provider_names() for n in self.get(name).setting_notes()]

    def probe_failures(self, reachable: Mapping[str, str], asked: Collection[str] = ()) -> list[str]:
        """The providers of a probe (name -> what it found) that are configured and yet did not answer. One
        configured by default alone (``base_url_set`` false: local's default URL) was asked for by nobody,
        unless it is among ``asked`` (the providers ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` send calls to)."""
        providers = self.describe()
        return [
            name
            for name, reach in reachable.items()
            if not providers[name].get("unavailable")
            and (providers[name].get("base_url_set") is not False or name in asked)
            and reach not in ("reachable", "not probed")
        ]
