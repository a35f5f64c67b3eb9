"""What OpenAI's models accept of a request, by model name: which take only the default temperature, which
take no stop sequences, which take no system message. Sent anyway, each is a 400 that loses the target to the
call; left out, it is said in the result's warnings. Shared by Chat Completions and the Responses API."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import Target

_O_SERIES = re.compile(r"^o\d")
#: models the Responses API serves and Chat Completions does not (it answers 404 "This model is only supported in
#: v1/responses and not in v1/chat/completions."): the pro, codex and deep-research models, computer-use-preview
_RESPONSES_ONLY = re.compile(
    r"^(?:o1-pro|o3-pro|gpt-5(?:\.\d+)?-pro|codex-mini|gpt-5(?:\.\d+)?-codex|o3-deep-research|o4-mini-deep-research"
    r"|computer-use-preview)(?:-|$)"
)


@lru_cache(maxsize=1024)  # asked twice before every attempt (its reserved tokens, its API), of a handful of names
def responses_only(model: str) -> bool:
    """Whether OpenAI serves ``model`` on the Responses API alone (o3-pro, gpt-5-pro, gpt-5-codex, ...)."""
    return bool(_RESPONSES_ONLY.match(_base_name(model)))


def uses_responses_api(target: Target) -> bool:
    """Whether a target of OpenAI's (or Azure's, whose deployments the portal names for their models) is called on
    the Responses API: ``params: {api: responses}``, or a model only it serves unless the target says ``api: chat``.
    (OpenAIProvider's and AzureProvider's ``uses_responses``: a function here, which both modules import.)"""
    api = target.param("api") if target.params else None  # most targets have no params to look in
    return api == "responses" or (api is None and responses_only(target.model))


#: the gpt-5 family (gpt-5, gpt-5-mini, gpt-5.1, gpt-5.2-pro, gpt-5-codex, ...); its -chat variants do not reason
_GPT5 = re.compile(r"^gpt-5(?:[.-]|$)")
#: the gpt-5 models whose reasoning effort is "none" unless the call sets one: gpt-5.1 and gpt-5.2 (and their
#: snapshots); the rest of the family (gpt-5 itself, its -mini, -nano, -pro and -codex, later versions) reasons
_NO_REASONING_BY_DEFAULT = re.compile(r"^gpt-5\.[12](?:-\d{4}-\d{2}-\d{2})?$")


@lru_cache(maxsize=1024)  # read by each rule below, several before every attempt, of a handful of names
def _base_name(model: str) -> str:
    """The OpenAI model a name is: without a gateway's ``vendor/`` prefix, a fine-tune's base model
    (``ft:o4-mini-2025-04-16:org:name:id`` is o4-mini, and refuses what o4-mini refuses), and without a gateway's
    variant after a colon (OpenRouter's ``openai/gpt-5:online``, ``:nitro``, ``:floor``, ``:free``, ``:thinking``:
    gpt-5 served with web search, by the fastest or cheapest provider, free, reasoning), which refuses what the model
    refuses. Only these rules read the base name: the name sent, priced and recorded is the caller's, variant and all
    (a variant's price is its own: ``:online`` adds a web search's fee, ``:free`` costs nothing)."""
    name = model.rsplit("/", 1)[-1].lower()
    return (name[3:] if name.startswith("ft:") else name).partition(":")[0]


def _gpt5_reasoner(name: str) -> bool:
    return bool(_GPT5.match(name)) and "-chat" not in name


#: the web-search models (gpt-4o-search-preview, gpt-4o-mini-search-preview, gpt-5-search-api): no sampling
#: parameter at all ("Model incompatible request argument supplied: temperature")
_SEARCH = re.compile(r"-search-(?:preview|api)(?:-|$)")


def searches_every_call(model: str) -> bool:
    """Whether the model is one of the web-search models, which search the web on every call (billed per search,
    on top of the tokens)."""
    return bool(_SEARCH.search(_base_name(model)))


def fixed_temperature(model: str, effort: Any = None) -> bool:
    """Whether the model reasons on this call, and so accepts only the default temperature (1): OpenAI's
    o-series (o1, o3, o4-mini, ...) always; the gpt-5 family unless its reasoning effort (``effort``, or the
    model's default when None) is "none". Nor do the web-search models take one. Sent, any other temperature
    is a 400 that loses the target."""
    return bool(_SEARCH.search(_base_name(model))) or reasons(model, effort)


def reasons(model: str, effort: Any = None) -> bool:
    """Whether ``model`` reasons on this call, by OpenAI's names: the o-series, and the gpt-5 family (its -chat models
    aside) unless its reasoning effort (``effort``, or the model's default when None) is "none"."""
    name = _base_name(model)
    if _O_SERIES.match(name):
        return True
    if not _gpt5_reasoner(name):
        return False
    return effort != "none" if effort is not None else not _NO_REASONING_BY_DEFAULT.match(name)


def temperature_for(model: str, temperature: float | None, effort: Any = None) -> tuple[float | None, str | None]:
    """The temperature to send (None: leave it out) and, when the caller's was left out, the note."""
    if temperature is None or not fixed_temperature(model, effort):
        return temperature, None
    if temperature == 1:
        return None, None  # the default is what the model uses anyway: nothing was lost
    return None, f"{model} supports only the default temperature; temperature {temperature:g} was not sent"


def put_temperature(
    body: dict[str, Any], notes: list[str], model: str, temperature: float | None, effort: Any = None
) -> None:
    """Set ``body["temperature"]`` as :func:`temperature_for` decides, noting in ``notes`` what was left out."""
    temperature, note = temperature_for(model, temperature, effort)
    if temperature is not None:
        body["temperature"] = temperature
    if note:
        notes.append(note)


#: the fields (a target's params) a model that reasons on the call refuses outright, whatever their value (400
#: "Unsupported parameter: 'top_p' is not supported with this model."), and the value of each that is the API's
#: default, whose leaving out changes nothing: OpenAI's reasoning guide lists them for the o-series, and its gpt-5.1
#: and gpt-5.2 guides take top_p and logprobs "only ... with reasoning effort set to none"
_REASONING_REFUSES = {
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "top_logprobs": None,
    "logit_bias": None,
}


def without_refused_samplers(body: dict[str, Any], notes: list[str], model: str, effort: Any = None) -> None:
    """Leave out of ``body`` the fields of :data:`_REASONING_REFUSES` where ``model`` takes only the default
    temperature on this call (:func:`fixed_temperature`: it reasons, or it is a web-search model, which takes no
    sampling parameter), noting in ``notes`` each one whose value was not the default. Sent, each was a 400 that
    lost the target to the call, or, where the setting may be left out (top_p, the penalties), a round trip
    more and a warning that the model refused it; a target's params are written once, for whichever model serves
    them."""
    if body.keys().isdisjoint(_REASONING_REFUSES) or not fixed_temperature(model, effort):
        return
    for name, default in _REASONING_REFUSES.items():
        if name not in body:
            continue
        value = body.pop(name)
        if value is not None and value != default and value != {}:
            why = "while it reasons" if reasons(model, effort) else "(a web-search model takes no sampling setting)"
            notes.append(f"{model} takes no {name} {why}; {name} {value!r} was not sent")


def without_parallel_tool_calls(body: dict[str, Any], notes: list[str], model: str) -> None:
    """Leave a target's ``parallel_tool_calls`` out of a Chat Completions ``body`` for ``model`` of OpenAI's o-series
    (o1, o3-mini, o3, o4-mini, ...), which answer it, whatever its value, 400 "Unsupported parameter:
    'parallel_tool_calls' is not supported with this model.": a target lost to every call of tools, where magsag's
    own refusal of Anthropic's ``disable_parallel_tool_use`` names the param as the way to ask it. ``false`` left
    out is said in ``notes``: the answer may then hold several tool calls at once."""
    if "parallel_tool_calls" not in body or not _O_SERIES.match(_base_name(model)):
        return
    if body.pop("parallel_tool_calls") is False:
        notes.append(
            f"{model} takes no parallel_tool_calls; parallel_tool_calls false was not sent, and its answer may hold "
            "several tool calls at once"
        )


@lru_cache(maxsize=1024)  # asked before every attempt
def is_legacy_reasoning(model: str) -> bool:
    """o1-preview and o1-mini (and their snapshots): no system/developer messages, only the default
    temperature, no stop sequences. o1, o3 and later take a system message (as a developer message)."""
    return _base_name(model).startswith(("o1-preview", "o1-mini"))


#: o3 and o4-mini and their snapshots; not o3-mini, which came before them and is not named
_NO_STOP = re.compile(r"^(?:o3(?!-mini)|o4-mini)(?:-|$)")


def takes_no_stop(model: str) -> bool:
    """openai.yaml, StopConfiguration: "Not supported with latest reasoning models `o3` and `o4-mini`" (they
    answer 400 "Unsupported parameter: 'stop'"), nor by o1-preview and o1-mini, nor by the gpt-5 family
    (gpt-5, gpt-5-mini, gpt-5.1, ...; its -chat variants take them)."""
    name = _base_name(model)
    return is_legacy_reasoning(model) or bool(_NO_STOP.match(name)) or _gpt5_reasoner(name)


def requested_effort(extra: dict[str, Any]) -> Any:
    """The reasoning effort a target's params ask for, in either API's spelling: the Responses API's
    ``reasoning: {effort}`` or Chat Completions' ``reasoning_effort``; None when neither."""
    reasoning = extra.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        return reasoning["effort"]
    return extra.get("reasoning_effort")


def moved_for_responses(body: dict[str, Any]) -> None:
    """Chat Completions' spellings of the settings the Responses API took elsewhere, put where it takes them:
    ``reasoning_effort`` as ``reasoning.effort``, ``verbosity`` as ``text.verbosity``. Sent as they are, each is
    a 400 ("Unsupported parameter: 'reasoning_effort'. In the Responses API, this parameter has moved to
    'reasoning.effort'.") that stops the call; a target's params are written once, for whichever API magsag calls
    (the models only the Responses API serves are called on it unasked)."""
    effort = body.pop("reasoning_effort", None)
    if effort is not None:
        reasoning = body.get("reasoning")
        body["reasoning"] = {"effort": effort, **(reasoning if isinstance(reasoning, dict) else {})}
    verbosity = body.pop("verbosity", None)
    if verbosity is not None:
        text = body.get("text")
        body["text"] = {**(text if isinstance(text, dict) else {}), "verbosity": verbosity}
