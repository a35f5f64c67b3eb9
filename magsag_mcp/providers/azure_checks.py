"""Everything wrong with Azure OpenAI's settings at once, each with its fix, for what tells a person: ``magsag
doctor``'s line and problems, ``explain``'s targets. A call stops at the first thing it lacks
(:meth:`~.base.HTTPProvider.unavailable_error`), and doctor said that one alone: no endpoint; fixed and run again,
no API key; then "ready" with an api-version Azure refuses every call of. Azure takes the most settings of any
provider (an endpoint, a key or token, an api-version), and each is found here, whatever the others are.

What is missing (no endpoint, no key) leaves the provider not configured, as before; what a setting got wrong (an
endpoint that is no URL, an example's placeholder, an api-version of no form Azure takes) is a problem as well."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from ..errors import ProviderError
from ..types import Target
from .azure_versions import DEFAULT_AZURE_API_VERSION
from .base_urls import _base_url_problem

if TYPE_CHECKING:
    from .openai import AzureEndpoint

#: a dated api-version (2024-10-21, 2025-04-01-preview); the undated ones the v1 API takes are :data:`_UNDATED`
_DATED = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:-preview)?")
_UNDATED = frozenset({"v1", "preview", "latest"})
#: an api-version quoted in a problem: a value of another shape (a key pasted into the variable) is not quoted
_QUOTABLE = re.compile(r"[0-9A-Za-z._-]{1,24}")


def azure_findings(endpoint: AzureEndpoint, target: Target) -> tuple[list[str], list[str]]:
    """(what stops a call of ``target``, every one of it; what of that, and of the api-version, a setting got
    wrong): each message names its fix."""
    stopping: list[str] = []
    wrong: list[str] = []
    given = (target.base_url or "").strip() or endpoint.setting("AZURE_OPENAI_ENDPOINT")
    try:
        base = endpoint.sent_below(target)
    except ProviderError as exc:  # none given (not configured), or an example's placeholder resource (wrong)
        stopping.append(exc.message)
        if given:
            wrong.append(exc.message)
    else:
        problem = _base_url_problem(base, endpoint.base_url_source(target), endpoint.base_url_example)
        if problem is not None:
            stopping.append(f"azure: {problem}")
            wrong.append(f"azure: {problem}")
    try:
        endpoint.headers(target.model)
    except ProviderError as exc:  # no key, a blank one (not configured), or a placeholder (wrong)
        stopping.append(exc.message)
        if endpoint.placeholder_key() is not None:
            wrong.append(exc.message)
    version = api_version_problem(endpoint)
    if version is not None:
        wrong.append(version)
    return stopping, wrong


def api_version_problem(endpoint: AzureEndpoint) -> str | None:
    """What is wrong with the api-version a setting gives, or None: one of no form Azure takes (``2024-1021``, a
    date that is none, ``V1``) is sent, and refused with a 400 on every call, where doctor said "ready"."""
    version, source = endpoint.api_version_and_source()
    if version in _UNDATED or source == "the default":
        return None
    dated = _DATED.fullmatch(version)
    if dated is not None:
        try:
            date(*(int(part) for part in dated.groups()))
            return None
        except ValueError:
            pass
    shown = repr(version) if _QUOTABLE.fullmatch(version) else f"a value of {len(version)} characters"
    return (
        f"azure: the api-version {shown} ({source}) is not one Azure OpenAI takes, which refuses every call with it; "
        f"set AZURE_OPENAI_API_VERSION to a dated one ({DEFAULT_AZURE_API_VERSION}, the GA version, or a preview "
        "such as 2025-04-01-preview) or to v1 (the v1 API)"
    )


def joined(reasons: list[str]) -> str:
    """Several of Azure's reasons said as one: ``azure: no endpoint; set ...; and no API key; set ...``."""
    return "; and ".join([reasons[0], *(r.removeprefix("azure: ") for r in reasons[1:])])
