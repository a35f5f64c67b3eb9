"""Routing's ``request_caps``: the limits a key's account (or a server of your own) sets on a target, declared so that
the router keeps under them instead of learning of them from 429s.

    request_caps:
      anthropic:claude-sonnet-4-5: {requests_per_minute: 50}    # the key's tier: 50 requests a minute
      local:*: {max_concurrent: 4}                               # one vLLM box: 4 requests at once, all its models

A key is ``provider:model``, the model a name or a glob; each entry is one pool of requests, shared by every target it
matches (``local:*``: the local server's models together, as one box serves them). A target takes the entry that
names it exactly, else the first glob that matches it, in file order. The caps are enforced by
:mod:`.cascade_caps`, within one process.

There is no tokens-per-minute cap: a request's tokens are known only once its answer has come (the output's, and the
prompt's as the vendor counts them), so keeping under a token limit would mean holding each call at its worst case
(``max_tokens`` in full), which starves the window most calls leave unused, or guessing, which is no cap. A vendor's
token limit is left to its 429, whose ``Retry-After`` the cascade honours (:mod:`.cascade_waits`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["CAP_FIELDS", "RequestCap", "cap_for", "read_request_caps"]

#: what an entry takes, with the most each may be (a larger number is a typo, or no cap at all)
CAP_FIELDS: dict[str, int] = {"max_concurrent": 10_000, "requests_per_minute": 1_000_000}

#: other tools' names for the fields (LiteLLM's Router: rpm, max_parallel_requests), told the name to write
_OTHER_NAMES = {
    "rpm": "requests_per_minute",
    "max_parallel_requests": "max_concurrent",
    "max_concurrency": "max_concurrent",
    "concurrency": "max_concurrent",
    "parallel": "max_concurrent",
}

#: the token limits no entry takes, and why
_TOKEN_KEYS = frozenset(
    {"tpm", "tokens_per_minute", "input_tokens_per_minute", "output_tokens_per_minute", "max_tokens_per_minute"}
)
_NO_TOKEN_CAP = (
    "there is no token cap: a request's tokens are known only once its answer has come, so a cap would hold each call "
    "at its worst case (max_tokens in full) or guess; declare requests_per_minute (and max_concurrent), and the "
    "vendor's 429 for its token limit is waited out as its Retry-After asks"
)


@dataclass(frozen=True, slots=True)
class RequestCap:
    """One ``request_caps`` entry: the targets its key matches share its caps (None: not capped that way)."""

    #: ``provider:model`` as read (the provider canonical: ``claude:`` is ``anthropic:``)
    key: str
    provider: str
    #: a model's name or a glob over them
    model: str
    max_concurrent: int | None
    requests_per_minute: int | None
    #: where it is written, ``routing/default.yaml: request_caps.local:*``, for the messages that name it
    where: str

    @property
    def glob(self) -> bool:
        return any(c in self.model for c in "*?[")

    def matches(self, provider: str, model: str) -> bool:
        return provider == self.provider and (
            model == self.model or (self.glob and fnmatch.fnmatchcase(model, self.model))
        )

    def said(self) -> str:
        """``max_concurrent 4, requests_per_minute 50`` (the caps it sets)."""
        caps = [f"{name} {value}" for name in CAP_FIELDS if (value := getattr(self, name)) is not None]
        return ", ".join(caps)


def cap_for(caps: tuple[RequestCap, ...], provider: str, model: str) -> RequestCap | None:
    """The entry a target of ``provider`` and ``model`` takes: the one naming it exactly, else the first glob that
    matches it; None when none does."""
    for cap in caps:
        if not cap.glob and cap.provider == provider and cap.model == model:
            return cap
    for cap in caps:
        if cap.glob and cap.matches(provider, model):
            return cap
    return None


def read_request_caps(value: Any, where: str, problems: list[str]) -> list[RequestCap]:
    """``request_caps`` as a routing file writes it (``where``: ``FILE: request_caps``): its entries. What is wrong is
    added to ``problems`` with its key path, and that entry left out."""
    from .providers import canonical_provider
    from .targets import provider_prefix

    if value is None:
        return []
    if not isinstance(value, Mapping):
        problems.append(
            f"{where}: a mapping of a target to its caps is expected, e.g. request_caps: "
            f"{{'anthropic:claude-sonnet-4-5': {{requests_per_minute: 50}}}}; got {type(value).__name__}"
        )
        return []
    out: list[RequestCap] = []
    for key, spec in value.items():
        at = f"{where}.{key}"
        prefixed = provider_prefix(str(key).strip())
        if prefixed is None:
            head, colon, _ = str(key).partition(":")
            problem = (
                f"names no provider: write 'provider:model' (e.g. 'openai:{key}', or 'local:*' for every model of the "
                "local server), as a key's limits are its provider account's"
                if not colon
                else f"{head!r} is no provider; write 'provider:model', e.g. 'anthropic:claude-sonnet-4-5'"
            )
            problems.append(f"{at}: {problem}")
            continue
        provider, model = canonical_provider(prefixed[0]), prefixed[1]
        try:
            caps = _caps(spec)
        except ConfigError as exc:
            problems.append(f"{at}: {exc.message}")
            continue
        out.append(RequestCap(f"{provider}:{model}", provider, model, *caps, where=at))
    return out


def _caps(spec: Any) -> tuple[int | None, int | None]:
    """``(max_concurrent, requests_per_minute)`` of an entry, refused with what to write."""
    example = "e.g. {max_concurrent: 4} or {requests_per_minute: 50}"
    if spec is None:
        raise ConfigError(
            f"is written with nothing after it (YAML reads that as null), which caps nothing; write {example}, or "
            "remove it"
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a mapping of caps is expected, {example}; got {type(spec).__name__} {spec!r}")
    if not spec:
        raise ConfigError(f"is empty, which caps nothing; write {example}, or remove it")
    unknown = [k for k in spec if k not in CAP_FIELDS]
    for key in unknown:
        if str(key) in _TOKEN_KEYS:
            raise ConfigError(f"{key}: {_NO_TOKEN_CAP}")
        if str(key) in _OTHER_NAMES:
            raise ConfigError(f"{key}: write {_OTHER_NAMES[str(key)]} (the name magsag gives this cap)")
    if unknown:
        from .suggest import named

        raise ConfigError(f"unknown key {named(unknown, CAP_FIELDS)}; an entry takes {' and/or '.join(CAP_FIELDS)}")
    return _number(spec, "max_concurrent"), _number(spec, "requests_per_minute")


def _number(spec: Mapping[str, Any], name: str) -> int | None:
    if name not in spec:
        return None
    value = spec[name]
    if isinstance(value, str) and value.strip().isdigit():  # (a ${VAR} expanded: the catalog's values are text)
        value = int(value.strip())
    most = CAP_FIELDS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: a whole number from 1 to {most:,} is expected; got {value!r}")
    if value < 1:
        raise ConfigError(
            f"{name}: {value} would send no request at all; write a whole number from 1 to {most:,}, or leave "
            f"{name} out for no such cap"
        )
    if value > most:
        raise ConfigError(f"{name}: {value:,} is above the most it takes, {most:,}; leave {name} out for no such cap")
    return value
