"""Whether a model, or a target (provider and model), is one a policy names: its ``allowed_models`` and its data
classes' ``requirements`` are lists of these patterns.

A bare model name or glob matches that model on any provider; ``provider:model`` (an alias names its provider) also
pins who serves it; a glob in the provider's place (``*:gpt-4o``) is read against ``provider:model``. Gemini's
resource name (``models/gemini-1.5-pro``) is its model too. Every call's admission reads each policy's patterns, so
the parse of a pattern is cached.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence

from ..errors import ConfigError
from ..providers.local_models import ollama_cloud_model
from ..providers.local_reach import ASK_AGAIN_S, CallOutOfTime, Unreached, Unsure
from ..rates import bare_model
from ..targets import infer_provider, provider_prefix
from ..types import Target

__all__ = [
    "GLOB",
    "matches",
    "may_be_of",
    "model_matches",
    "nearest_model",
    "nearly_allowed",
    "other_models_served",
    "residency_pattern",
    "named_cloud_model",
    "runs_in_ollamas_cloud",
    "served_unallowed",
    "runs_off_machine",
]


@functools.lru_cache(maxsize=1024)  # every call's admission reads each policy's few patterns
def _pinned(pattern: str) -> tuple[str | None, str]:
    """(provider, model pattern) of a ``provider:model`` pattern (an alias names its provider), else
    (None, the pattern): ``llama3.1:70b`` is a bare model name whose tag has a colon."""
    from ..providers import _ALIASES, _REGISTRY

    head, sep, rest = pattern.partition(":")
    key = head.strip().lower()
    key = _ALIASES.get(key, key)
    if sep and rest and key in _REGISTRY:
        return key, rest
    return None, pattern


def residency_pattern(pattern: str) -> str:
    """A data class's required model as it pins the server: a bare name with a tag (``llama3.1:70b``, as the
    users' guide writes its "Local only" class) is a local server's model (routing reads it so too), so it
    admits ``local:llama3.1:70b`` alone. Matched on any provider, a data class confined to it went wherever
    MAGSAG_PROVIDER sent routing's models (``compat:llama3.1:70b``, a hosted endpoint). Other bare names
    (``gpt-4o``) admit any provider serving that model; ``compat:llama3.1:70b`` or ``*:llama3.1:70b`` says so
    of a tagged one."""
    provider, _ = _pinned(pattern)
    head, sep, rest = pattern.partition(":")
    if provider is None and sep and rest and not GLOB.search(head) and infer_provider(pattern) == "local":
        return f"local:{pattern}"
    return pattern


def runs_in_ollamas_cloud(target: Target) -> bool:
    """Whether ``target`` is an Ollama cloud model on the local server (see
    :func:`~..providers.local_models.ollama_cloud_model`), which runs on ollama.com."""
    return target.provider == "local" and ollama_cloud_model(target.model)


def named_cloud_model(target: Target) -> str | None:
    """ollama.com for an Ollama cloud model named on the local server (:func:`runs_in_ollamas_cloud`), else None: where
    the policies see a local target's prompt go when nothing tells them more (see
    :class:`~..providers.local_reach.LocalReach`)."""
    return "ollama.com" if runs_in_ollamas_cloud(target) else None


def runs_off_machine(target: Target, host: str) -> str:
    """What a refusal says of ``target``, a local target whose prompt goes to ``host``, off this machine."""
    if runs_in_ollamas_cloud(target):
        return "is an Ollama cloud model, which the local server runs on ollama.com"
    if isinstance(host, Unreached):  # (the server not running: its fix first, as the transport's words say it)
        return (
            f"may run off this machine: its server, whose /api/show says where a local model runs, {host}; asked "
            "again at the next call"
        )
    if isinstance(host, CallOutOfTime):  # (the call's own time, not the server's answer: not kept for later calls)
        return (
            f"may run off this machine: its server's /api/show, which says where a local model runs, {host}; asked "
            "again at the next call (name the model to allow it wherever it runs)"
        )
    if isinstance(host, Unsure):
        return (
            f"may run off this machine: its server's /api/show, which says where a local model runs, {host} (asked "
            f"again after {ASK_AGAIN_S:g}s; a server that answers it, or one without the API, 404, is believed)"
        )
    return (
        f"runs on {host}, off this machine: the local provider's base URL is there, or the local server runs the "
        "model there (made from a cloud model, as its /api/show says)"
    )


def admits_off_machine(patterns: list[str], target: Target) -> bool:
    """Whether a data class's ``patterns`` admit ``target``, an Ollama cloud model (:func:`runs_in_ollamas_cloud`),
    by its own name: a glob of the local server's models (``local:*``, ``llama*``) was written for models on the
    operator's machines, and let the class's data go to ollama.com under a local name."""
    for pattern in patterns:
        provider, model = _pinned(pattern)
        if provider in (None, target.provider) and not GLOB.search(model) and model == target.model:
            return True
    return False


def _matches_one(pattern: str, target: Target) -> bool:
    provider, model = _pinned(pattern)
    # Gemini's resource name for a model (models/gemini-2.5-pro) is that model, as it is for its price: the
    # policy matches either name of the target against either name in a pattern that pins Google
    name = bare_model(target.provider, target.model)
    if provider is not None:
        # pins who serves the model: a hosted model merely *named* "local:..." is not local
        return target.provider == provider and _named(target.model, name, bare_model(provider, model))
    if _named(target.model, name, pattern):
        return True
    if target.provider == "google" and pattern.startswith("models/"):
        # Google's resource name written without "google:" (as its docs and ListModels write it) is Google's model
        # too: google:gemini-1.5-pro passed "google:models/gemini-1.5-pro" and was refused by "models/gemini-1.5-pro"
        return _named(target.model, name, bare_model("google", pattern))
    # a provider glob ("*:gpt-4o"): a pattern whose head is a glob is read against provider:model
    head, sep, _ = pattern.partition(":")
    return bool(sep) and bool(GLOB.search(head)) and _named(target.label, f"{target.provider}:{name}", pattern)


def _named(model: str, bare: str, pattern: str) -> bool:
    """Whether ``model`` (or ``bare``, the same model by its bare name) is ``pattern`` or matches its glob."""
    return (
        model == pattern
        or fnmatch.fnmatchcase(model, pattern)
        or (bare != model and (bare == pattern or fnmatch.fnmatchcase(bare, pattern)))
    )


GLOB = re.compile(r"[*?[]")


def matches(patterns: list[str], target: Target) -> bool:
    """Whether a target passes a list of ``allowed_models`` or a data class's requirements: a bare model
    name or glob matches that model on any provider; ``provider:model`` also pins who serves it."""
    for p in patterns:  # a loop, not any() over a generator: a frame less on every attempt
        if _matches_one(p, target):
            return True
    return False


def model_matches(patterns: list[str], model: str) -> bool:
    """For summaries, which know only model names (not who served them): a pattern that pins a provider
    (``openai:gpt-4o``) or globs one (``*:gpt-4o``) by the model it names, any other as the whole name it is. A
    tagged name's colon is its own (``llama3.1:70b``, an Ollama model's): the tag after it, ``70b``, is no model it
    allows, as :func:`matches` reads it; cut at its colon, it passed a summary's model named ``70b``. A Google model
    (``gemini-1.5-pro``, or by its resource name ``models/gemini-1.5-pro``, both Google's as a call infers them) is
    matched by either name, as a call to it is: ``models/gemini-1.5-pro`` failed ``gemini-1.5-*`` and
    ``google:gemini-1.5-*``, which admit that call.

    A pin restricts to its provider as far as the name tells: a vendor's pin admits that vendor's models, or one no
    provider can be told from (:func:`may_be_of`), not another vendor's; ``openai:gemini-1.5-*`` admitted a row
    ``gemini-1.5-pro``, Google's model, as it would be recorded for Google (its resource name ``models/...`` it
    refused). A pin to a provider that hosts others' models (azure, compat, local) admits any row its model names:
    who served it is what the summary leaves unsaid."""
    from ..providers import hosts_other_models

    try:
        google = infer_provider(model) == "google"
    except ConfigError:
        google = False
    for p in patterns:
        provider, name = _pinned(p)
        if provider is None:
            head, sep, rest = p.partition(":")
            name = rest if sep and GLOB.search(head) else p
        elif not hosts_other_models(provider) and not may_be_of(provider, model):
            continue  # another vendor's model: never this provider's call
        if name == model or fnmatch.fnmatchcase(model, name):
            return True
        if google and provider in (None, "google"):
            # read as :func:`matches` reads a call to Google: either name of the model, against either name of the
            # pattern's model (Gemini's docs and ListModels write models/...)
            if _named(model, bare_model("google", model), bare_model("google", name)):
                return True
    return False


#: a snapshot's date at the end of a model's name (``claude-3-5-sonnet-20241022``, ``gpt-4o-2024-08-06``). Not
#: :data:`_SNAPSHOT`, which also reads four digits (``-0125``) as a snapshot's: the did-you-mean runs over every
#: vendor's and local server's names, where four trailing digits are as often a size or a version (``llama3-8192``),
#: and would then offer ``gpt-4`` for ``gpt-4-0613``; _SNAPSHOT reads only what an Azure deployment answered it
#: serves, OpenAI's models, whose four digits are a snapshot's date. tests/test_model_snapshot_suffixes.py pins both.
_DATED = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
#: a snapshot's date written a digit short or long (``-2024030`` for ``-20240307``): six to nine digits beginning 20
#: that are no date of :data:`_DATED`'s shape (a size or a version, ``-8192``, ``-002``, is shorter or begins otherwise)
_MISDATED = re.compile(r"-20\d{4,7}$")
#: a dot between two digits of a model's version (``3.5``, ``1.5``), which another spelling writes as a dash
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")
#: a number in a model's name
_NUMBER = re.compile(r"\d+")
#: how alike two model names are (difflib's ratio) to be read as one misspelt: "gpt-4o-mni", "gpt4o", "gpt-4" for
#: gpt-4o are; gpt-4o and gpt-4o-mini, gemini-1.5-flash and gemini-1.5-pro (other models of one family) are not
MISSPELT_RATIO = 0.85


def nearest_model(name: str, names: Sequence[str]) -> str | None:
    """The one of ``names`` that model ``name`` is a misspelling of: the same in another case (names are matched case
    by case), the same but for a snapshot's date (``claude-3-5-sonnet``, ``claude-3-5-sonnet-20241022``) or for a
    version's dot written as a dash or the other way (``claude-3.5-sonnet``), or for a snapshot's date a digit short or
    long (``claude-3-haiku-2024030``, claude-3-haiku-20240307), or one alike but for a letter or two,
    with or without a snapshot's date (``claude-3-5-sonet``); None when none is. The one rule for every "did you
    mean" between a model and a policy's entry."""
    import difflib

    from ..suggest import unaccented

    others = [n for n in names if n != name]
    # in another case, or with an accent (gpt-4ö): the ratio counts the letter as another, and a short name is then
    # too unlike the one meant
    near = [n for n in others if unaccented(n).lower() == unaccented(name).lower()]
    undated = _DATED.sub("", name)
    near = near or [n for n in others if _DATED.sub("", n) == undated]  # one a snapshot of the other, or two of one
    if not near and misdated(name):
        # the snapshot's date misspelt (claude-3-haiku-2024030): the dated names of the same model, judged as a whole
        stem = _MISDATED.sub("", name).lower()
        snapshots = {n.lower(): n for n in others if _DATED.search(n) and _DATED.sub("", n).lower() == stem}
        near = [snapshots[c] for c in difflib.get_close_matches(name.lower(), list(snapshots), 1, MISSPELT_RATIO)]
    # a version's dot for the id's dash: "Claude 3.5 Sonnet" is claude-3-5-sonnet, which OpenRouter and the vendor's
    # pages write claude-3.5-sonnet; and a dash for a dot, gemini-1-5-pro for gemini-1.5-pro
    versioned = _VERSION_DOT.sub("-", undated.lower())
    near = near or [n for n in others if _VERSION_DOT.sub("-", _DATED.sub("", n).lower()) == versioned]
    # a misspelling keeps the version's numbers: a name alike but for them is another model (claude-sonnet-4-5 and
    # claude-sonnet-4-20250514, claude-3-7-sonnet and claude-3-5-sonnet, o4-mini and o3-mini), which the ratio
    # reads as a letter or two apart
    numbers = _numbers(undated)
    others = [n for n in others if _numbers(_DATED.sub("", n)) == numbers]
    # judged in one case, the name told in its own: "Claude-3-5-Sonet", misspelt and capitalised, was too unlike
    # claude-3-5-sonnet-20241022 for either difflib step below, and was told nothing
    folded = {n.lower(): n for n in others}
    near = near or [folded[c] for c in difflib.get_close_matches(name.lower(), list(folded), 1, MISSPELT_RATIO)]
    if not near:
        # misspelt and written without the snapshot's date ("claude-3-5-sonet" for claude-3-5-sonnet-20241022): the
        # date alone put it below the ratio, so the misspelling is judged against the names without theirs
        dated = {_DATED.sub("", n).lower(): n for n in others if _DATED.search(n)}
        near = [dated[close] for close in difflib.get_close_matches(undated.lower(), list(dated), 1, MISSPELT_RATIO)]
    return near[0] if near else None


def misdated(name: str) -> bool:
    """Whether ``name`` ends in a snapshot's date written a digit short or long (``claude-3-haiku-2024030``): a name
    no vendor gives, though genai-prices, matching the model's name by its beginning, prices it as the model."""
    return _MISDATED.search(name) is not None and _DATED.search(name) is None


def _numbers(name: str) -> list[str]:
    """The numbers in a model's name (its version, its size), for :func:`nearest_model`: ``3``, ``5`` of
    claude-3.5-sonnet and of claude-3-5-sonnet alike."""
    return _NUMBER.findall(name)


def nearly_allowed(allowed: Sequence[str], model: str) -> str:
    """`` (did you mean 'gpt-4o-mini'?)`` when ``model`` is a misspelling (:func:`nearest_model`) of a model
    ``allowed`` (a policy's allowed_models) names (not a glob), else ``""``: a typo a policy refuses is told the model
    it nearly is, where it is refused (a call's refusal, ``explain``, ``doctor``) and where it is written (``catalog
    validate``), not offered first as a model to add to the policy."""
    names = [m[1] if (m := provider_prefix(entry)) else entry for entry in allowed if not GLOB.search(entry)]
    close = nearest_model(model, names)
    return f" (did you mean {close!r}?)" if close else ""


def may_be_of(provider: str, pattern: str) -> bool:
    """Whether a pattern may name a model ``provider`` serves: one it pins to ``provider``, a name or glob of that
    vendor's (``gemini-1.5-pro``, ``gemini-*``), or one no provider can be told from (``*``); not another vendor's
    (``gpt-4o``), a local tag (``llama3.1:70b``), a gateway's name (``openai/gpt-4o``) or a pattern pinned to another
    provider (``fake:*``)."""
    pinned, _ = _pinned(pattern)
    if pinned is not None:
        return pinned == provider
    head, sep, rest = pattern.partition(":")
    if sep and GLOB.search(head):
        pattern = rest  # a provider glob ("*:gemini-1.5-pro"): the model's name tells
    gateway, slash, named = pattern.partition("/")
    if slash and named and provider_prefix(f"{gateway}:{named}") is not None:
        # a gateway's name (openai/gpt-4o-mini, as OpenRouter writes it): a host of others' models serves it, never
        # a vendor, not even the one it names (whose API calls it gpt-4o-mini)
        from ..providers import hosts_other_models

        return hosts_other_models(provider)
    try:
        return infer_provider(pattern) == provider
    except ConfigError:
        return True


#: a snapshot's suffix on the model an answer names: a date (``-2024-05-13``, ``-20241022``) or four digits (``-0125``,
#: OpenAI's older snapshots, as Azure answers ``gpt-35-turbo-0125``); wider than :data:`_DATED` on purpose (see there)
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


def other_models_served(deployment: str, answered: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Of the models an Azure deployment's answers named (``answered``), those that are not the model its name reads
    as, each with the names it goes by (``("gpt-4o-2024-05-13", ("gpt-4o-2024-05-13", "gpt-4o"))``: as answered,
    without its snapshot's suffix, and genai-prices' id of either): a deployment named ``gpt-4o-mini`` passes a policy
    that allows gpt-4o-mini by that name, whatever it serves. Its own model's snapshot (``gpt-4o-mini-2024-07-18``,
    ``gpt-35-turbo-0125``) is that model. A deployment whose name reads as no model (``prod-chat``) passes a policy
    only by a pattern that names the deployment itself, the operator's choice of what it serves: none."""
    from ..genai_rates import genai_model

    named = genai_model("azure", deployment)
    if named is None:
        return []
    out = []
    for name in sorted(answered):
        undated = _SNAPSHOT.sub("", name)
        ids = [info.id for n in (name, undated) if (info := genai_model("azure", n)) is not None]
        if undated.lower() == deployment.lower() or named.id in ids:
            continue
        out.append((name, tuple(dict.fromkeys((name, undated, *ids)))))
    return out


def served_unallowed(allowed: list[str], deployment: str, answered: Iterable[str]) -> list[str]:
    """Of the models an Azure ``deployment``'s answers named that are not the model its name reads as (see
    :func:`other_models_served`), those ``allowed`` admits by none of their names: what ``magsag flow gate`` fails a
    deployment for, as each call was refused (:meth:`~.policy.PolicySet.allowed`)."""
    return [
        name
        for name, names in other_models_served(deployment, answered)
        if not any(matches(allowed, Target("azure", n)) for n in names)
    ]
