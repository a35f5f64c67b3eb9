"""What ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` (and a call that names only a provider) do to a route: the
checks of the two settings, and which provider serves the models the routing policy chose."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .errors import ConfigError, PayloadError
from .targets import canonical_provider, hosts_other_models, misspelt_provider, parse_target, provider_prefix
from .types import Target


def _env_override(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    provider = env.get("MAGSAG_PROVIDER") or None
    model = env.get("MAGSAG_MODEL") or None
    # (MAGSAG_MODEL's is refused where it is read as the model, by refuse_blank_model: a call naming its own model
    # never reads it, and one of spaces alone was no refusal of such a call)
    refuse_blank("MAGSAG_PROVIDER", provider)
    if provider:
        try:
            provider = canonical_provider(provider)
        except ConfigError as exc:
            raise ConfigError(
                f"MAGSAG_PROVIDER={env['MAGSAG_PROVIDER']!r}: {exc.message}{_a_target(provider)}"
            ) from None
    return provider, model


def _meant(name: str) -> str | None:
    """The provider an unknown ``name`` is a misspelling of (:func:`~.providers.meant_provider`). Asked only once the
    name was refused, which loaded the registry."""
    from .providers import meant_provider

    return meant_provider(name)


#: what each routing setting is set to, said when it is blank
_MEANT = {"MAGSAG_PROVIDER": "a provider's name (e.g. openai)", "MAGSAG_MODEL": "a model (e.g. openai:gpt-4o)"}


def refuse_blank(name: str, value: str | None) -> None:
    """Refuse ``value``, the routing setting ``name``, if it is spaces alone (an env file's `MAGSAG_MODEL= `): it was
    "unknown provider ' '" and "empty target: write 'provider:model'", as if a value had been meant. An empty one is
    unset, as ever."""
    if value and not value.strip():
        raise ConfigError(
            f"{name}={value!r} is blank; set it to {_MEANT[name]}, or unset it to route as the catalog's routing says"
        )


def _a_target(written: str) -> str:
    """The fix for a ``MAGSAG_PROVIDER`` written as a target (``openai:gpt-4o``), which names a provider alone."""
    before, _, model = written.strip().partition(":")
    model = model.strip()
    try:
        provider = canonical_provider(before)
    except ConfigError:
        # 'opneai' (or 'opneai:gpt-4o'): the fix written whole, as a model in another case is told it
        meant = _meant(before)
        if meant is None:
            return ""
        if not model:
            return f"; set MAGSAG_PROVIDER={meant}"
        provider = meant
    if not model:  # ("openai:": the unknown provider's message names the one it nearly is)
        return ""
    return (
        f"; MAGSAG_PROVIDER names a provider alone, and the model goes in MAGSAG_MODEL: set MAGSAG_PROVIDER="
        f"{provider} and MAGSAG_MODEL={model} (or MAGSAG_MODEL={provider}:{model} alone)"
    )


def check_env_override(env: Mapping[str, str], named: Callable[[], Iterable[Target]] | None = None) -> None:
    """The :class:`ConfigError` a call would meet in ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL``, raised without
    a call (``magsag doctor``); ``named``: the catalog's targets, where one is loaded (see :func:`in_another_case`)."""
    provider, model = _env_override(env)
    if model:
        refuse_blank("MAGSAG_MODEL", model)
        try:
            parse_target({"provider": provider, "model": model} if provider else model)
        except ConfigError as exc:
            raise env_model_refused(env, provider, model, exc, named) from None
        check_env_pair(env, provider, model, named)


def env_model_refused(
    env: Mapping[str, str],
    provider: str | None,
    model: str,
    refused: ConfigError,
    named: Callable[[], Iterable[Target]] | None = None,
) -> ConfigError:
    """``MAGSAG_MODEL`` refused as a target (``refused``), said with the value to set where its provider is misspelt
    (``opneai:gpt-4o``: ``set MAGSAG_MODEL=openai:gpt-4o``, finished: ``Opneai:GPT-4o`` is told ``openai:gpt-4o``, not
    a value the next check refuses for its case), as a model written in another case is told it."""
    said = f"MAGSAG_MODEL={model!r}: {refused.message}"
    if provider and (head := misspelt_provider(model)) is not None:
        # beside a provider (MAGSAG_PROVIDER=openai, MAGSAG_MODEL=opneai:gpt-4o): said in the settings' words
        meant, rest = refused.details.get("provider", provider), refused.details.get("model", "")
        fix = (
            f"set MAGSAG_MODEL={rest}"
            if meant == provider
            else f"set MAGSAG_PROVIDER={meant} and MAGSAG_MODEL={rest}, or MAGSAG_MODEL={meant}:{rest} alone"
        )
        return ConfigError(
            f"MAGSAG_MODEL={model!r} begins with {head!r}, which names no provider"
            f"{f' (did you mean {_meant(head)!r}?)' if _meant(head) else ''}, and the provider is {provider!r}: "
            f"calls would send {model!r} to {provider} as the model's name; {fix}"
        )
    head = None if provider else misspelt_provider(model)
    meant = _meant(head) if head is not None else None
    if meant is None:
        return ConfigError(said)
    fixed = f"{meant}:{model.partition(':')[2].strip()}"
    return ConfigError(f"{said}; set MAGSAG_MODEL={_in_its_case(env, None, fixed, named) or fixed}")


def env_target(env: Mapping[str, str]) -> Target | None:
    """The target ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` name, or None (no ``MAGSAG_MODEL``, or one no target can be
    read from, which :func:`check_env_override` says), whether or not a route resolves with it (``magsag doctor``'s
    key check): ``MAGSAG_MODEL=GPT-4o`` fails every route, and once written as its problem says, every call goes where
    it names, where a key the vendor's API refuses is refused on each."""
    try:
        provider, model = _env_override(env)
        if not model:
            return None
        return parse_target({"provider": provider, "model": model} if provider else model)
    except ConfigError:
        return None


def override_providers(env: Mapping[str, str]) -> frozenset[str]:
    """The providers ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` send calls to by name (``magsag doctor --probe``:
    a server at its default URL that they name is asked for); none for a value calls would refuse, which
    settings.setting_problems says."""
    try:
        check_env_override(env)
        provider, _ = _env_override(env)
    except ConfigError:
        return frozenset()
    target = env_target(env)
    return frozenset(p for p in (provider, target and target.provider) if p)


#: the variable that may point a vendor's provider at another server than the vendor's own API (a gateway, which
#: may serve any vendor's models under their names), and the host of that API (the guide sets OPENAI_BASE_URL to it)
_VENDOR_BASE_URL = {
    "openai": ("OPENAI_BASE_URL", "api.openai.com"),
    "anthropic": ("ANTHROPIC_BASE_URL", "api.anthropic.com"),
    "google": ("GEMINI_BASE_URL", "generativelanguage.googleapis.com"),
}


def _at_a_gateway(env: Mapping[str, str], provider: str, base_url: str | None = None) -> bool:
    """Whether ``base_url`` (a target's own), else ``provider``'s base URL variable, points it elsewhere than its
    vendor's own API."""
    from urllib.parse import urlsplit

    var, host = _VENDOR_BASE_URL[provider]
    url = (base_url or env.get(var) or "").strip()
    if not url:
        return False
    try:
        return (urlsplit(url).hostname or "") != host
    except ValueError:
        return True  # the URL's own problem is said where it is read


def model_of_another(
    env: Mapping[str, str], provider: str | None, model: str, base_url: str | None = None
) -> str | None:
    """The provider whose model ``model`` names, where ``provider`` is a vendor called at its own API that cannot
    serve it (``openai`` and ``claude-3-5-sonnet-20241022``); None where it may (its own model, a hosting provider,
    a prefixed or unknown name, a gateway at ``base_url`` or at the vendor's base URL variable)."""
    if not provider or hosts_other_models(provider) or provider_prefix(model.strip()) is not None:
        return None
    if provider not in _VENDOR_BASE_URL or _at_a_gateway(env, provider, base_url):
        return None  # pointed at a gateway, which may serve another vendor's models under their names
    try:
        inferred = parse_target(model).provider
    except ConfigError:
        return None  # a name no provider can be told from: the vendor's own answer says whether it has it
    return None if inferred == provider else inferred


def slashed_provider(
    env: Mapping[str, str], provider: str | None, model: str, base_url: str | None = None
) -> tuple[str, str] | None:
    """The model ``model`` names after a provider's name and a slash (``openai/gpt-4o``, a gateway's way of naming
    it), where ``provider`` is a vendor called at its own API, which takes no such name: sent, it came back as the
    vendor's 404. None otherwise: a hosting provider or a gateway (at ``base_url`` or the vendor's base URL variable)
    takes the name as it is. Found: the provider the slash follows and the model after it."""
    if not provider or provider not in _VENDOR_BASE_URL or _at_a_gateway(env, provider, base_url):
        return None
    from .targets import _prefixes

    head, slash, rest = model.strip().partition("/")
    if not (slash and rest.strip() and head.strip().lower() in _prefixes()):
        return None
    return canonical_provider(head.strip()), rest.strip()


def check_env_pair(
    env: Mapping[str, str], provider: str | None, model: str, named: Callable[[], Iterable[Target]] | None = None
) -> None:
    """Refuse ``MAGSAG_PROVIDER`` naming a vendor at its own API beside a ``MAGSAG_MODEL`` that names another
    provider's model without a prefix (``openai`` and ``claude-3-5-sonnet-20241022``: two exports of the guide's
    blocks, one left from an earlier one): every call would go to a vendor that has no such model. The error says
    which setting to change, where a cost limit would have refused the target as of no known price, saying to price
    it, and a policy without one would have sent it and come back with the vendor's 404. ``named``: the catalog's
    targets, for the model a capitalised misspelling nearly is (read only for one: see :func:`in_another_case`)."""
    if provider and (slashed := slashed_provider(env, provider, model)) is not None:
        named_provider, bare = slashed
        fix = (
            f"set MAGSAG_MODEL={bare}"
            if named_provider == provider
            else f"set MAGSAG_PROVIDER={named_provider} and MAGSAG_MODEL={bare}, or "
            f"MAGSAG_MODEL={named_provider}:{bare} alone"
        )
        raise ConfigError(
            f"MAGSAG_MODEL={model!r} names its model after a provider and a slash, a gateway's way, and "
            f"MAGSAG_PROVIDER={provider!r} calls {provider}'s own API, which would be sent the whole text as the "
            f"model's name: {fix} (or point {_VENDOR_BASE_URL[provider][0]} at the gateway that "
            "names models so)",
            provider=provider,
            model=model,
        )
    inferred = model_of_another(env, provider, model)
    if inferred is None:
        _check_env_model_case(env, provider, model, named)
        return
    raise ConfigError(
        f"MAGSAG_MODEL={model!r} names {inferred}'s model, which MAGSAG_PROVIDER={provider!r} cannot serve "
        f"({provider}'s API serves only its own models): set MAGSAG_PROVIDER={inferred}, or set MAGSAG_MODEL to "
        f"one of {provider}'s models, or unset MAGSAG_PROVIDER (the model names its provider)",
        provider=provider,
        model=model,
    )


def in_another_case(
    env: Mapping[str, str],
    provider: str | None,
    model: str,
    base_url: str | None = None,
    named: Callable[[], Iterable[Target]] | None = None,
) -> str | None:
    """``model`` in the case its vendor writes it (``gpt-4o`` for ``GPT-4o``, ``claude-3-5-sonnet-20241022`` for
    ``Claude-3-5-Sonnet-20241022``), where ``provider`` is a vendor called at its own API and that name is a model
    genai-prices knows of it; None where ``model`` is written so, is no model it knows in any case, names a tag or a
    fine-tune (a colon: its own parts are the owner's), or goes to a hosting provider or a gateway. OpenAI's,
    Anthropic's and Google's model names are lower case, and their APIs take a name as written ("The model `GPT-4o`
    does not exist", a 404), while the price lookup matched it in any case and priced it as the model it nearly is.
    ``named``: the targets the catalog names, read only for a capitalised name no model is in lower case (nor one whose
    snapshot's date is misspelt, which genai-prices matches by the model's beginning): the one of the provider's it is
    a misspelling of (:func:`~.governance.model_patterns.nearest_model`: ``Claude-3-5-Sonet``,
    claude-3-5-sonnet-20241022), as a strict policy's allowed_models tell it; with no allowed_models, such a name was
    told nothing, and no capitalised name is any of these vendors' models."""
    if not provider or provider not in _VENDOR_BASE_URL or _at_a_gateway(env, provider, base_url):
        return None
    from .genai_rates import genai_model
    from .rates import bare_model

    bare = bare_model(provider, model.strip())
    lowered = bare.lower()
    if lowered == bare or ":" in bare:
        return None
    from .governance.model_patterns import misdated, nearest_model

    # (genai-prices matches many models by their name's beginning: claude-3-haiku-2024030, its date a digit short, is
    # priced as claude-3-haiku, and is no model Anthropic's API has in any case)
    if genai_model(provider, lowered) is not None and not misdated(lowered):
        return lowered
    if named is None:
        return None

    names = [bare_model(provider, t.model) for t in named() if t.provider == provider]
    return nearest_model(bare, list(dict.fromkeys(n for n in names if n == n.lower())))


def _check_env_model_case(
    env: Mapping[str, str], provider: str | None, model: str, named: Callable[[], Iterable[Target]] | None
) -> None:
    """Refuse a ``MAGSAG_MODEL`` naming a vendor's model in another case (``GPT-4o``, :func:`in_another_case`), or a
    capitalised misspelling of one ``named`` holds (``Claude-3-5-Sonet``), as a call naming it is refused: every call
    that names no model of its own would go to the vendor's 404."""
    fixed = _in_its_case(env, provider, model, named)
    if fixed is None:
        return
    target = parse_target({"provider": provider, "model": model} if provider else model)
    raise ConfigError(
        f"MAGSAG_MODEL={model!r} is no {target.provider} model: {target.provider}'s API takes model names as written, "
        f"case by case; set MAGSAG_MODEL={fixed}",
        provider=target.provider,
        model=model,
    )


def _in_its_case(
    env: Mapping[str, str], provider: str | None, model: str, named: Callable[[], Iterable[Target]] | None
) -> str | None:
    """``MAGSAG_MODEL`` as it is to be set where it names a vendor's model in another case (:func:`in_another_case`),
    its provider's prefix kept in lower case; None where it is written so, or names no target."""
    try:
        target = parse_target({"provider": provider, "model": model} if provider else model)
    except ConfigError:
        return None  # (said by check_env_override)
    meant = in_another_case(env, target.provider, target.model, named=named)
    if meant is None:
        return None
    from .rates import bare_model

    written = model.strip()
    # its prefix kept (openai:GPT-4o: openai:gpt-4o), before a name of another length too (Claude-3-5-Sonet), in lower
    # case: a provider's name and its aliases are taken in any case, but written so nowhere (OpenAI:GPT-4o was told
    # "set MAGSAG_MODEL=OpenAI:gpt-4o")
    prefix = written[: len(written) - len(bare_model(target.provider, target.model.strip()))].lower().rstrip()
    if prefix.endswith(":"):  # the space around its colon left out ("openai: GPT-4o": openai:gpt-4o, not "openai: ")
        prefix = prefix[:-1].rstrip() + ":"
    return prefix + meant


def check_call_target(
    env: Mapping[str, str], target: Target, where: str, named: Callable[[], Iterable[Target]] | None = None
) -> None:
    """Refuse a call's target that names a vendor at its own API and another provider's model (model_config
    ``{"provider": "openai", "model": "claude-3-5-sonnet-20241022"}``), as :func:`check_env_pair` refuses the
    settings: a call that could never succeed, refused under a cost limit as of no known price ("add its price to
    prices.yaml", which would send it on to the wrong vendor); and one naming the vendor's model in another case
    (``GPT-4o``, :func:`in_another_case`), told the name to write, not sent to a vendor that has no such model; or a
    capitalised misspelling of a model ``named`` (the catalog's targets) holds, told that one."""
    if (meant := in_another_case(env, target.provider, target.model, target.base_url, named)) is not None:
        raise PayloadError(
            f"{where}: {target.model!r} is no {target.provider} model: {target.provider}'s API takes model names as "
            f"written, case by case; did you mean {meant!r}?",
            provider=target.provider,
            model=target.model,
        )
    if (slashed := slashed_provider(env, target.provider, target.model, target.base_url)) is not None:
        raise PayloadError(
            f"{where}: {target.model!r} names its model after a provider and a slash, a gateway's way, and provider "
            f"{target.provider!r} calls {target.provider}'s own API, which would be sent the whole text as the "
            f"model's name: write model {slashed[1]!r} with provider {slashed[0]!r}, or give the base_url of the "
            "gateway that names models so",
            provider=target.provider,
            model=target.model,
        )
    inferred = model_of_another(env, target.provider, target.model, target.base_url)
    if inferred is None:
        return
    raise PayloadError(
        f"{where}: {target.model!r} is {inferred}'s model, which provider {target.provider!r} cannot serve "
        f"({target.provider}'s API serves only its own models): name provider {inferred!r}, or leave provider out "
        "(the model names its provider), or give the base_url of a gateway that serves it",
        provider=target.provider,
        model=target.model,
    )


def _swap_provider(
    chain: Sequence[Target],
    default: Sequence[Target],
    provider: str,
    task_type: str,
    by: str | None,
    provider_defaults: Mapping[str, Sequence[Target]] | None = None,
) -> list[tuple[Target, Target | None]]:
    """``MAGSAG_PROVIDER`` alone (or the call's provider, ``by`` naming its field): keep the policy's
    models, served by that provider.

    A hosting provider (azure, compat, local) serves the chain's model names as they are. A vendor
    (openai, anthropic, google) can only serve its own models, so the chain keeps those (from the
    route, else from the default chain, else routing's ``provider_defaults`` for that vendor):
    ``anthropic:gpt-4o`` would be a call that cannot succeed.
    Each target comes with the routing policy's own that it stands for: a vendor's models from the route
    are routing's own targets, only fewer (a policy refusing one refuses routing's choice, skipped as it
    is without a provider named); the default chain's or provider_defaults', taken because the route names
    none of the vendor's, are no choice routing made for this task (None: a refusal fails the call).
    """
    if hosts_other_models(provider):
        out: dict[Target, Target | None] = {}
        for t in chain:
            out.setdefault(t if t.provider == provider else Target(provider, t.model, None, t.params), t)
        return list(out.items())
    own: list[tuple[Target, Target | None]] = [(t, t) for t in chain if t.provider == provider]
    if own:
        return own
    own = [(t, None) for t in default if t.provider == provider]
    if own:
        return own
    own = [(t, None) for t in (provider_defaults or {}).get(provider, ())]
    if own:
        return own
    setting, model_setting = (f"{by}.provider", f"{by}.model") if by else ("MAGSAG_PROVIDER", "MAGSAG_MODEL")
    raise (PayloadError if by else ConfigError)(
        f"{setting} {provider!r}: the routing policy names no {provider} model for task {task_type!r}; "
        f"also set {model_setting} to one of its models, or name one in routing's provider_defaults "
        f"(provider_defaults: {{{provider}: MODEL}})",
        provider=provider,
        task_type=task_type,
    )


def _served_by(provider: str, model: str) -> bool:
    """Whether ``provider`` (a call's, not yet checked) can serve ``model`` (``MAGSAG_MODEL``): a hosting
    provider serves any model name, a vendor its own models only."""
    try:
        provider = canonical_provider(provider)
        if hosts_other_models(provider):
            # any name that no other host pins: meta-llama/Llama-3.1-8B-Instruct (vLLM's), llama3.1:70b on a
            # compat endpoint, openai:gpt-4o as the name gpt-4o; "local:..." is pinned to the local server
            pinned = provider_prefix(model.strip())
            return pinned is None or pinned[0] == provider or not hosts_other_models(pinned[0])
        return parse_target(model).provider == provider
    except ConfigError:
        return False  # the provider's own error is raised where it is used; the model's does not apply here


def _env_provider_serves(named: Mapping[str, Any], env_provider: str) -> bool:
    """Whether ``MAGSAG_PROVIDER`` serves a model the call names without saying who serves it (no
    ``provider``, no ``provider:`` prefix): the call chose the model, the environment the provider, as a
    call naming only a provider gets ``MAGSAG_MODEL``. It does when the model's provider cannot be told
    from its name, or when the name is a cloud vendor's (``gpt-4o``) and ``MAGSAG_PROVIDER`` a hosting
    provider (azure, compat, local: a deployment that sends everything there). A tagged name
    (``llama3.1:70b``) stays on the local server it names, and a vendor keeps another vendor's models
    (``anthropic:gpt-4o`` could never succeed)."""
    model = named.get("model")
    if named.get("provider") or not isinstance(model, str) or not model.strip():
        return False
    if provider_prefix(model.strip()) is not None:
        return False
    try:
        inferred = parse_target(model).provider
    except ConfigError as exc:
        # unknown by name: the provider the environment names is the only one said (a misspelt prefix,
        # "opnai:gpt-4o", is not a name to send anywhere: its own error says so)
        return exc.details.get("model") == model.strip()
    return inferred != env_provider and hosts_other_models(env_provider) and not hosts_other_models(inferred)
