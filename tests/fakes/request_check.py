"""What a request's body gets wrong by its vendor's spec, judged by the path it was sent to: for the loopback servers
that answer every POST alike (a raw stream, a mutated answer, a compatible vendor's refusal), which would otherwise
take any body, and so hide a request built wrong behind a test of how the answer is read.

    problems = request_problems(request.path, body)  # [] when it is a valid request, or one of no known API

A field the API does not have is a problem too, as the vendor answers it (OpenAI's 400 "Unrecognized request argument
supplied: x" of Chat Completions, its Responses API's "Unknown parameter: 'x'.", Gemini's "Unknown name", Anthropic's
"Extra inputs are not permitted"): OpenAI's and Gemini's OpenAPI schemas do not forbid additional properties, so the
schema alone took a misspelt field, or one API's field sent to the other (``reasoning_effort`` on the Responses API,
``max_tokens`` for ``max_output_tokens``). A compatible vendor's own fields (``extra``: its extensions a test sends on
purpose) are taken.

An Azure deployment's path (``/openai/deployments/{id}/chat/completions?api-version=...``) is judged by Azure's spec
(its ``createChatCompletionRequest``: ``data_sources`` is Azure's, and Azure lacks fields OpenAI added later), as the
``api-version`` of its query takes them (:func:`azure_version_fields`: ``stream_options`` is refused at 2024-10-21 GA
and before 2024-09-01-preview); Azure refuses a field it does not have in Chat Completions' words. Its v1 API
(``/openai/v1/...``) is OpenAI's paths, judged as OpenAI's.

A path of no API these know (a test's own ``/v1/sse``) is judged by nothing: [].
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from .spec import spec_validator

#: the end of a request's path, the spec it is one of, and its request schema there
_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/openai/deployments/[^/]+/chat/completions$"), "azure", "createChatCompletionRequest"),
    (re.compile(r"/chat/completions$"), "openai", "CreateChatCompletionRequest"),
    (re.compile(r"/responses$"), "openai", "CreateResponse"),
    (re.compile(r"/v1/messages$"), "anthropic", "CreateMessageParams"),
    (re.compile(r":(?:stream)?[gG]enerateContent$"), "gemini", "GenerateContentRequest"),
)


#: fields an API takes though its spec does not name them, and why
_TAKEN: dict[str, frozenset[str]] = {
    # the deployment in the path is the model; OpenAI's own SDK (AzureOpenAI) still sends the body's ``model``, and
    # Azure takes it (and ignores it)
    "azure": frozenset({"model"}),
}

#: the api-version whose spec is ``azure-openai-2024-10-21.json`` (GA): a deployment's request under it is judged by
#: that spec's fields exactly
AZURE_SPEC_VERSION = "2024-10-21"


def _azure_after(api_version: str, preview: str, ga: str) -> bool:
    """Whether ``api_version`` is a preview from ``preview`` on or a GA version from ``ga`` on (Azure's previews
    carry a field months before a GA version does: 2024-09-01-preview has what 2024-10-21 GA lacks)."""
    return api_version[:10] >= (preview if api_version.endswith("-preview") else ga)


def azure_version_fields(api_version: str | None) -> frozenset[str]:
    """The root fields an Azure deployment's chat completions take under ``api_version``, as the deployment route
    answers them: the 2024-10-21 spec's own at that version; before it, without ``max_completion_tokens`` (it came
    with 2024-09-01-preview, GA 2024-10-21); and ``stream_options`` only from 2024-09-01-preview, and in no GA
    version up to 2024-10-21 (that spec has no such request field: Azure answers 400 "Unrecognized request argument
    supplied: stream_options"). A version after those (a later preview) takes OpenAI's fields too, which Azure's
    previews follow. A request judged by its path alone (no version) is judged by the spec, ``stream_options``
    taken."""
    spec = _fields("azure", "createChatCompletionRequest") | _TAKEN["azure"]
    if api_version is None:
        return spec | {"stream_options"}
    if _azure_after(api_version, "2024-09-01", "2024-10-22"):
        return spec | _fields("openai", "CreateChatCompletionRequest")
    if api_version == AZURE_SPEC_VERSION:
        return spec
    return spec - {"max_completion_tokens"}


def refusal_words(path: str, name: str) -> tuple[str, str | None, str | None]:
    """What the API ``path`` names answers a root field ``name`` it does not have: the message, ``param`` and
    ``code`` of its 400. Chat Completions (and an Azure deployment's) say "Unrecognized request argument supplied:
    NAME", naming no param; the Responses API says "Unknown parameter: 'NAME'." with the param and the code
    ``unknown_parameter`` (its answer to ``{"logprobs": true}``: ``{"message": "Unknown parameter: 'logprobs'.",
    "type": "invalid_request_error", "param": "logprobs", "code": "unknown_parameter"}``)."""
    if path.endswith("/responses"):
        return f"Unknown parameter: '{name}'.", name, "unknown_parameter"
    return f"Unrecognized request argument supplied: {name}", None, None


@cache
def _fields(spec: str, schema: str) -> frozenset[str]:
    """The fields ``schema`` of ``spec`` names at its root: its own properties and those of each schema it is all of
    (OpenAI's requests are an ``allOf`` of ``$ref``s, themselves ``allOf``s), as the API takes them."""
    schemas = spec_validator(spec).doc["components"]["schemas"]

    def named(node: Any) -> set[str]:
        if not isinstance(node, dict):
            return set()
        if "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        found = set(node.get("properties") or {})
        for part in node.get("allOf") or []:
            found |= named(part)
        return found

    return frozenset(named(schemas[schema]))


def _route(path: str) -> tuple[str, str] | None:
    """The spec and request schema of the API ``path`` names, or None (a path of no API these know)."""
    for route, spec, schema in _ROUTES:
        if route.search(path):
            return spec, schema
    return None


def unrecognized_arguments(
    path: str, body: Any, extra: Iterable[str] = (), api_version: str | None = None
) -> list[str]:
    """The fields at the root of ``body`` that the OpenAI-shaped API ``path`` names (OpenAI's Chat Completions or
    Responses, an Azure deployment's chat completions under ``api_version``: :func:`azure_version_fields`) does not
    have, but for ``extra``: each is one the API answers with a 400 (:func:`refusal_words`). [] for any other path,
    or a body that is no object."""
    route = _route(path)
    if route is None or route[0] not in ("openai", "azure") or not isinstance(body, dict):
        return []
    known = azure_version_fields(api_version) if route[0] == "azure" else _fields(*route)
    known |= frozenset(extra)
    return [name for name in body if name not in known]


def _unknown_fields(path: str, spec: str, body: Any, extra: frozenset[str], api_version: str | None) -> list[str]:
    if not isinstance(body, dict):
        return []  # (the schema itself says a body that is no object is wrong)
    if spec == "gemini":
        from tests.providers.fakes.gemini import _unknown_field  # Google's names, from its Discovery document

        said = _unknown_field({k: v for k, v in body.items() if k not in extra})
        return [said] if said is not None else []
    # (Anthropic's schemas say additionalProperties: false themselves)
    return [refusal_words(path, name)[0] for name in unrecognized_arguments(path, body, extra, api_version)]


def request_problems(path: str, body: Any, extra: Iterable[str] = (), api_version: str | None = None) -> list[str]:
    """Each way ``body``, POSTed to ``path`` (an Azure deployment's, under ``api_version``: None judges it as the
    newest), is not a valid request of the API the path names, with the path: what its schema refuses, and each field
    at its root the API does not have but for ``extra`` (a compatible vendor's)."""
    route = _route(path)
    if route is None:
        return []
    spec, schema = route
    problems = spec_validator(spec).errors(schema, body) + _unknown_fields(
        path, spec, body, frozenset(extra), api_version
    )
    return [f"{path}: {problem}" for problem in problems]


async def read_checked(request: Any, violations: list[str]) -> None:
    """Read an aiohttp request's body, adding to ``violations`` what :func:`request_problems` finds in it (a body
    that is no JSON is one)."""
    import json

    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        violations.append(f"{request.path}: the body is not JSON")
        return
    violations.extend(request_problems(request.path, body, api_version=request.query.get("api-version")))
