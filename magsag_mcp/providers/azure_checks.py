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
from urllib.parse import unquote, urlsplit

from ..errors import ProviderError
from ..text import of_length
from ..types import Target
from .azure_versions import DEFAULT_AZURE_API_VERSION
from .base_urls import _base_url_problem

if TYPE_CHECKING:
    from .azure import AzureEndpoint

#: a dated api-version (2024-10-21, 2025-04-01-preview); the undated ones the v1 API takes are :data:`_UNDATED`
_DATED = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:-preview)?")
_UNDATED = frozenset({"v1", "preview", "latest"})
#: an api-version quoted in a problem: a value of another shape (a key pasted into the variable) is not quoted
_QUOTABLE = re.compile(r"[0-9A-Za-z._-]{1,24}")
#: a deployment's Target URI, as the portal shows it: the deployment's name after /openai/deployments/
_DEPLOYMENT = re.compile(r"/openai/deployments/([^/?#]+)", re.IGNORECASE)


#: a request's path at the end of an Azure endpoint, pasted whole: Azure AI Foundry's model inference URL as its portal
#: shows it (``https://RES.services.ai.azure.com/models/chat/completions?api-version=...``) or a curl example's. Azure
#: OpenAI's own paths (``/openai/...``, a deployment's Target URI) are cut off as the endpoint is read; these are not
_REQUEST_PATH = re.compile(r"(?:/models)?/(?:chat/completions|completions|responses|embeddings)/*$", re.IGNORECASE)


def pasted_request_url(base: str, source: str) -> str | None:
    """Why ``base`` (set by ``source``) is a whole request URL rather than the resource's root, naming the root to
    set: the scheme and host where nothing came before the request's path (a gateway's path is not shown: it may hold
    a token), or None. Sent, every request went to that path with magsag's own added after it, a 404."""
    try:
        parts = urlsplit(base)
        host = parts.hostname
    except ValueError:
        return None  # (no URL: _base_url_problem says so)
    found = _REQUEST_PATH.search(parts.path)
    if found is None or not host:
        return None
    ending = found.group(0).rstrip("/")
    before = parts.path[: found.start()].strip("/")
    root = f"the part before {ending}" if before else f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"
    return (
        f"{source} is a whole request URL (it ends with {ending}, as Azure AI Foundry shows one), not the resource's "
        f"root; set {source} to {root}: magsag adds each request's path itself, taking the deployment from the "
        "target's model and the api-version from AZURE_OPENAI_API_VERSION"
    )


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
        source = endpoint.base_url_source(target)
        problem = pasted_request_url(base, source) or _base_url_problem(base, source, endpoint.base_url_example)
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


def unused_deployment(endpoint: AzureEndpoint) -> str | None:
    """A note when ``AZURE_OPENAI_ENDPOINT`` is a deployment's Target URI (as the portal shows it) and no setting
    names that deployment as the model: its path is dropped (the endpoint is the resource's root), so the deployment
    it names is not what calls go to, which a 404 DeploymentNotFound says only once a call is made. A note, not a
    problem: a call or a route may name it (``model_config.model``), which doctor does not see."""
    url = endpoint.setting("AZURE_OPENAI_ENDPOINT") or ""
    found = _DEPLOYMENT.search(url, max(url.find("//") + 2, 0))
    if found is None:
        return None
    name = unquote(found.group(1))
    model = (endpoint.env.get("MAGSAG_MODEL") or "").strip()
    if model == f"azure:{name}" or (model == name and (endpoint.env.get("MAGSAG_PROVIDER") or "").strip() == "azure"):
        return None
    shown = repr(name) if len(name) <= 64 else of_length(name)
    return (
        f"azure: AZURE_OPENAI_ENDPOINT is the Target URI of the deployment {shown}, whose path is dropped (the "
        "endpoint is the resource's root; a call's deployment is its target's model), so calls go to it only where "
        f"the model names it: set MAGSAG_MODEL=azure:{name} (or a call's model_config.model) to call it"
    )
