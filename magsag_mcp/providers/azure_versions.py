"""Azure OpenAI's api-versions: which one an endpoint setting names, and what each serves (the v1 API, the Responses
API, stream usage, ``max_completion_tokens``, JSON schemas), for :class:`~.azure.AzureEndpoint` and
:class:`~.azure.AzureProvider`."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

DEFAULT_AZURE_API_VERSION = "2024-10-21"
#: where Azure's own path starts in a URL pasted as the endpoint: an ``/openai`` segment with nothing after it, or
#: the v1 API, a deployment's path (the Target URI, or the deployments' path cut short before the name), the Responses
#: API or the model list; a gateway's own path may hold an ``openai`` segment of its own
#: (``https://gw.example/openai/eastus``), which is none of these
AZURE_PATH = re.compile(
    r"/openai(?=/?(?:[?#]|$)|/v1(?:[/?#]|$)|/deployments(?:[/?#]|$)|/responses(?:[/?#]|$)|/models(?:[/?#]|$))",
    re.IGNORECASE,
)


def azure_root(url: str) -> str:
    """``url`` without Azure's own path and what follows it (the last :data:`AZURE_PATH`: a gateway's own segment comes
    before Azure's), nor a trailing ``/``: the resource's root, below which requests go."""
    base = url.rstrip("/")
    cuts = [m.start() for m in AZURE_PATH.finditer(base, base.find("//") + 2)]
    return base[: cuts[-1]] if cuts else base


#: a resource name as the guide (``your-resource``), Azure's spec and docs (``your-resource-name``,
#: ``YOUR-RESOURCE-NAME``, ``<your-resource-name>``) and docs/configuration.md (``RESOURCE``) write it: a name in
#: angle or curly brackets is never a host's, and a lowercase ``resource`` may be someone's real one, so only the
#: capitals stand for it
_PLACEHOLDER_RESOURCE = re.compile(r"(?i:your[-_]?resource(?:[-_]?name)?)|RESOURCE(?:[-_]NAME)?|<[^>]*>|\{[^}]*\}")
#: the host of a URL: after the scheme and any user info, up to the port, path, query or fragment
_HOST = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)")


def placeholder_resource(url: str) -> str | None:
    """The resource name of ``url``'s host when it is an example's placeholder rather than a resource's (the guide's
    ``https://your-resource.openai.azure.com/``, pasted as written; a name elided, ``https://....openai.azure.com``),
    else None. Sent, it would fail as a name that does not resolve (or a proxy's error), blamed on the network, and
    ``magsag doctor`` would call the provider ready."""
    found = _HOST.match(url)
    host = found.group(1) if found else ""
    if "..." in host or "\u2026" in host:
        return host
    label = host.split(".", 1)[0] if not host.startswith(("<", "{")) else host.split(".openai.", 1)[0]
    return label if label and _PLACEHOLDER_RESOURCE.fullmatch(label) else None


def names_v1_api(url: str) -> bool:
    """Whether ``url`` is the v1 API's base URL or a path below it (``https://RESOURCE.openai.azure.com/openai/v1/``):
    Azure's own path (the last of :data:`AZURE_PATH`'s) is ``/openai/v1``."""
    found = list(AZURE_PATH.finditer(url, url.find("//") + 2))
    return bool(found) and _V1_AFTER.match(url, found[-1].end()) is not None


def pasted_api_version(url: str) -> str | None:
    """The ``api-version`` of the query after Azure's own path in ``url`` (a deployment's Target URI as the portal
    shows it, ``.../openai/deployments/NAME/chat/completions?api-version=2025-01-01-preview``), or None."""
    found = list(AZURE_PATH.finditer(url, url.find("//") + 2))
    if not found:
        return None
    query = url[found[-1].end() :].partition("?")[2].partition("#")[0]
    version = parse_qs(query).get("api-version", [""])[-1].strip()
    return version or None


#: the v1 API's segment, after Azure's ``/openai``
_V1_AFTER = re.compile(r"/v1(?:[/?#]|$)", re.IGNORECASE)


def azure_v1_api(api_version: str) -> bool:
    """Is this the v1 API (``v1``, or an undated version such as ``preview``)? Dated api-versions belong to
    the deployments path, ``/openai/deployments/{deployment}/...``, which answers any other "API version
    not supported"."""
    date = api_version[:10]
    return not (len(date) == 10 and date[:4].isdigit() and date[4] == "-")


def azure_serves_responses(api_version: str) -> bool:
    """Does this Azure api-version serve the Responses API? The v1 API does (``/openai/v1/responses``), and so do
    the dated previews from 2025-03-01-preview (``/openai/responses?api-version=...``); the GA versions (2024-10-21,
    the spec in ``../shared/specs``) and older previews have no such path."""
    if azure_v1_api(api_version):
        return True
    return api_version.endswith("-preview") and api_version[:10] >= "2025-03-01"


def azure_streams_usage(api_version: str) -> bool:
    """Does this Azure api-version accept ``stream_options`` (usage at the end of a stream)?

    It arrived in 2024-09-01-preview; the GA 2024-10-21 spec (``../shared/specs``) does not list it,
    and older versions answer 400 "Unknown parameter: 'stream_options'". Undated versions
    (``preview``, ``latest``) are the newest and have it.
    """
    date, _, rest = api_version.partition("-preview")
    if len(date) != 10 or not date[:4].isdigit():
        return True
    return date >= "2024-09-01" if rest == "" and api_version.endswith("-preview") else date > "2024-10-21"


def azure_takes_max_completion_tokens(api_version: str) -> bool:
    """Does this Azure api-version know ``max_completion_tokens``?

    It arrived with the o1 models in 2024-09-01-preview, and 2024-10-21 is the first GA version with it
    (its spec calls ``max_tokens`` "deprecated in favor of ``max_completion_tokens``"). Older versions
    (2024-06-01, 2024-08-01-preview, ...) answer 400 "Unrecognized request argument supplied:
    max_completion_tokens": they get ``max_tokens``. Undated versions are the newest and know it.
    """
    date = api_version[:10]
    if len(date) != 10 or not date[:4].isdigit():
        return True
    return date >= ("2024-09-01" if api_version.endswith("-preview") else "2024-10-21")


def azure_takes_json_schema(api_version: str) -> bool:
    """Does this Azure api-version take ``response_format: {type: json_schema}`` (structured outputs)?

    It arrived in 2024-08-01-preview, and 2024-10-21 is the first GA version with it; older ones (the
    2024-06-01 GA many resources pin) take only ``text`` and ``json_object`` and answer 400 "Invalid
    parameter: 'response_format' must be one of 'json_object', 'text'". Undated versions are the newest.
    """
    date = api_version[:10]
    if len(date) != 10 or not date[:4].isdigit():
        return True
    return date >= ("2024-08-01" if api_version.endswith("-preview") else "2024-10-21")


#: the fields at the root of OpenAI's Chat Completions request (openai.yaml's CreateChatCompletionRequest) and of its
#: Responses API's (CreateResponse): a dated api-version refusing one of these lacks a field a later one has (Azure's
#: previews, then its v1 API, follow OpenAI's); one of neither (another vendor's top_k, a misspelt field, one API's
#: field sent to the other) no api-version takes
OPENAI_CHAT_FIELDS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
        "max_tokens", "messages", "metadata", "modalities", "model", "moderation", "n", "parallel_tool_calls",
        "prediction", "presence_penalty", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
        "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
OPENAI_RESPONSES_FIELDS = frozenset(
    {
        "background", "context_management", "conversation", "include", "input", "instructions", "max_output_tokens",
        "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
        "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
        "top_logprobs", "top_p", "truncation", "user",
    }
)  # fmt: skip
#: the last dated api-version (Azure's fields since come to the v1 API alone)
LAST_DATED_API_VERSION = "2025-04-01-preview"


def later_version_fix(api_version: str, field: str, *, responses: bool) -> str | None:
    """What to set for a field a dated ``api_version`` refused as one it does not have, where a later api-version
    has it (a field of OpenAI's API, :data:`OPENAI_CHAT_FIELDS` or, for the Responses API, ``responses``,
    :data:`OPENAI_RESPONSES_FIELDS`); None for a field no api-version has, or the v1 API (it is the latest)."""
    if azure_v1_api(api_version) or field not in (OPENAI_RESPONSES_FIELDS if responses else OPENAI_CHAT_FIELDS):
        return None
    if api_version[:10] >= LAST_DATED_API_VERSION[:10]:
        return "set AZURE_OPENAI_API_VERSION=v1, which takes it"
    return (
        "set AZURE_OPENAI_API_VERSION to a later one that takes it (a preview such as "
        f"{LAST_DATED_API_VERSION}, or v1)"
    )


#: the fields magsag writes itself for a feature of the call (no params set them: ROUTER_FIELDS refuses them there), and
#: what of the call to leave out where the api-version is to stay: an api-version before 2023-12-01-preview (the
#: 2023-05-15 GA many resources pinned) has no tools and no response_format. (A refused stream_options is not here:
#: the call is sent again unstreamed, RefusedSettings.)
_BUILT_FOR: dict[str, tuple[str, str]] = {
    "tools": ("the call's tools", "call it without tools"),
    "tool_choice": ("the call's tools", "call it without tools"),
    "response_format": ("the call's JSON output", "call it without json_output or a json_schema"),
    "text": ("the call's JSON output", "call it without json_output or a json_schema"),
}


def built_field_fix(field: str, version_fix: str) -> str:
    """What follows "api-version V has no field ``field``" for a field magsag built for the call, not one its params
    set (taking it out of params, which do not hold it, would fix nothing): what of the call sent it and the
    ``version_fix`` (:func:`later_version_fix`), or leaving that feature out of the call."""
    built = _BUILT_FOR.get(field)
    if built is None:
        return f", which magsag sent for this call: {version_fix}"
    feature, without = built
    return f", which magsag sent for {feature}: {version_fix}, or {without}"
