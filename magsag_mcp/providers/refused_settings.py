"""Sampling settings the model behind a name refuses, learned from its answer: for the endpoints whose model
names are the operator's (an Azure deployment, a gateway's alias), where the rules of :mod:`.openai_models`,
which go by OpenAI's model names, cannot tell that "prod-chat" is gpt-5 and takes no temperature but 1.

Such a model answers 400 naming the setting (``param``): "Unsupported value: 'temperature' does not support
0.2 with this model. Only the default (1) value is supported.", "Unsupported parameter: 'stop' is not supported
with this model." That 400 is not billed, and lost the target to the call; the call is now sent again without
the setting, with a warning, as the rules would have sent it, and the name is sent without it from then on.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import ClassVar

from ..errors import BadRequestError, ProviderError, UnsupportedFeatureError, excerpt
from ..kept import keep, look_up
from ..transport import Transport
from ..types import LLMRequest, LLMResult, Target, Usage
from .at_rest import tell_at_rest
from .base import Endpoint, HTTPProvider, ProgressCallback
from .json_output import check_strict_calls
from .openai_models import requested_effort
from .openai_reasoning import without_reasoning
from .wire_format import WireFormat

#: the settings that may be left out as the model rules leave them out: sampling knobs a reasoning model refuses,
#: without which it still answers the same call (tools, a schema or the messages never are); log probabilities,
#: which no result carries; ``parallel_tool_calls``, which the o-series take none of (its answer may then hold
#: several calls, which a caller runs in turn: the warning says it was not sent); and streaming, which a model may
#: not do ("Unsupported value: 'stream' does not support true with this model") or a server may not report the
#: usage of (400 naming ``stream_options``): the same answer comes unstreamed
DROPPABLE = (
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "parallel_tool_calls",
    "stream",
    "stream_options",
)
_STREAMING = ("stream", "stream_options")
#: the settings a model may refuse as it reasons and take when it does not: OpenAI's gpt-5.1 and gpt-5.2 take a
#: temperature, top_p and log probabilities only at reasoning effort "none" (their guides; the spec's ReasoningEffort:
#: "Not all reasoning models support every value"). A refusal of one is remembered for the reasoning effort the call
#: asked for (:meth:`RefusedSettings.reasoning_asked`, OpenAI's spellings of it): kept for the model alone, a
#: deployment of gpt-5.1 that refused top_p at effort low lost it at effort none too. Claude's extended thinking is
#: not read: the Anthropic request itself leaves out what thinking refuses (a temperature other than 1, top_k, a top_p
#: below 0.95: anthropic_samplers.without_samplers), so what a Claude model refuses reaches here only as the model's
#: own (a model after Opus 4.6 under a gateway's alias; a top_p beside a temperature) and holds with thinking or
#: without. The others (stop, streaming, parallel_tool_calls, a token limit's field) are the model's or the server's
#: at any effort, and remembered for the model
_AS_IT_REASONS = frozenset(
    {"temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias"}
)
#: the reasoning efforts OpenAI's spec names (ReasoningEffort), each remembered apart; any other a server took (a
#: gateway that passes on whatever it is sent) is remembered as one, "other": kept as it was asked, a caller naming a
#: new one on every call, of any length, added a refusal to the model's on every call
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
#: how many (base URL, model) names a provider remembers a refusal of (:attr:`RefusedSettings.refused`, the
#: streamed-only limits of :class:`~.openai.CompatProvider`): a caller naming a new model on every call, each
#: refused, grew them for as long as the server ran; one pushed out is refused once more and learned again. Read
#: through kept.look_up: the least recently used goes, not a name the server's calls use on every call
REFUSALS_KEPT = 1024


#: the settings that go only with another, and are left out with it: OpenAI's spec of ``top_logprobs``, "`logprobs`
#: must be set to `true` if this parameter is used" (sent without it: 400 "The 'top_logprobs' parameter is only allowed
#: when 'logprobs' is enabled.", a bad request that stopped the call, and every later one to a name that refused
#: logprobs)
_GOES_WITH = {"logprobs": ("top_logprobs",)}


def _with_it(request: LLMRequest, name: str) -> str:
    """What a warning says went with ``name`` (``" (and top_logprobs, which goes only with it)"``), and what leaving
    it out changes of the answer (``parallel_tool_calls`` false: the caller asked for one tool call at a time), or
    ""."""
    gone = [other for other in _GOES_WITH.get(name, ()) if other in request.extra]
    said = f" (and {', '.join(gone)}, which {'goes' if len(gone) == 1 else 'go'} only with it)" if gone else ""
    if name == "parallel_tool_calls" and request.extra.get(name) is False:
        said += ", and its answer may hold several tool calls at once"
    return said


def has_setting(request: LLMRequest, name: str) -> bool:
    if name == "temperature":
        return request.temperature is not None
    if name == "stop":
        return bool(request.stop)
    if name in _STREAMING:
        return request.stream
    return name in request.extra


def without_setting(request: LLMRequest, name: str) -> LLMRequest:
    if name == "temperature":
        return replace(request, temperature=None)
    if name == "stop":
        return replace(request, stop=None)
    if name in _STREAMING:
        return replace(request, stream=False)
    gone = (name, *_GOES_WITH.get(name, ()))
    return replace(request, extra={k: v for k, v in request.extra.items() if k not in gone})


#: OpenAI refusing a schema that strict mode cannot hold ("Invalid schema for response_format 'x': In context=(),
#: 'additionalProperties' is required to be supplied and to be false.", code invalid_json_schema)
_STRICT_SCHEMA_REFUSED = re.compile(r"invalid schema for response_format", re.IGNORECASE)


def strict_schema_refused(exc: ProviderError, request: LLMRequest) -> bool:
    """Whether ``exc`` is the 400 refusing the call's JSON schema as strict (``json_schema.strict: true`` asks for
    a subset of JSON Schema: every object ``additionalProperties: false`` and every property required, no
    ``format`` or ``minLength`` before the newest models, ...). Without ``strict`` the same schema is taken, and the
    answer is checked against it all the same: a schema is not the request's fault to every target alike."""
    return (
        request.json_schema_strict
        and isinstance(exc, BadRequestError)
        and exc.status == 400
        and (exc.details.get("code") == "invalid_json_schema" or bool(_STRICT_SCHEMA_REFUSED.search(exc.message)))
    )


#: OpenAI refusing a tool's schema as strict ("Invalid schema for function 'f': In context=(), ...", code
#: invalid_function_parameters)
_STRICT_TOOL_REFUSED = re.compile(r"invalid schema for function", re.IGNORECASE)


def strict_tool_refused(exc: ProviderError, request: LLMRequest) -> bool:
    """Whether ``exc`` is the 400 refusing a strict tool's schema as strict: as for a JSON schema, the tool is taken
    without ``strict``, and its arguments are checked against the schema all the same."""
    return (
        any(t.strict for t in request.tools)
        and isinstance(exc, BadRequestError)
        and exc.status == 400
        and (exc.details.get("code") == "invalid_function_parameters" or bool(_STRICT_TOOL_REFUSED.search(exc.message)))
    )


def _said(exc: ProviderError) -> str:
    """What the vendor said, without the provider, model and status before it."""
    return excerpt(exc.message.split(": HTTP 400", 1)[-1].split(": ", 1)[-1], 160)


async def say_resend(progress: ProgressCallback | None, target: Target, reason: str) -> None:
    """Tell the caller's progress, as it happens, that the call goes to ``target`` again and why (``reason`` follows
    the target's label: "refused 'temperature' (...): sending it again without it"); its warning says so after."""
    if progress is not None:
        # nothing is in flight: the refused request is not billed, and the call is not sent again yet
        when = "before the call was sent again (the request it refused is not billed)"
        await tell_at_rest(progress, "resend", {"target": target.label, "reason": reason}, Usage(), when)


def _answer_began(exc: ProviderError) -> bool:
    """Whether the refusal came inside an answer already under way (an error event in a stream, whose text may
    have reached the caller): that may be billed (:attr:`~..errors.MagsagError.maybe_billed`, or usage it reports),
    and sent again it would deliver its text twice and be paid twice. Only the 400 that answers the request is not
    billed, and safe to send again."""
    return exc.maybe_billed or exc.usage is not None


class RefusedSettings(HTTPProvider):
    """An :class:`HTTPProvider` whose calls (:meth:`call_fitted`) leave out the settings its models refused."""

    #: the settings a refusal of which sends the call again without them (a subclass may handle some itself)
    droppable: ClassVar[tuple[str, ...]] = DROPPABLE

    def __init__(self, wire: WireFormat, endpoint: Endpoint, transport: Transport) -> None:
        super().__init__(wire, endpoint, transport)
        #: (the target's base URL, its model) -> the settings that model refused ("top_p+temperature": the one
        #: beside the other; "top_p@low": at that reasoning, :data:`_AS_IT_REASONS`, "top_p@" at the model's default)
        self.refused: dict[tuple[str | None, str], frozenset[str]] = {}

    def reasoning_asked(self, request: LLMRequest) -> str:
        """The reasoning ``request`` asks of the model, as a refusal of :data:`_AS_IT_REASONS` is remembered for it:
        the reasoning effort of its params in either OpenAI API's spelling, "" (the model's default), or "other" (an
        effort OpenAI's spec does not name, :data:`_EFFORTS`)."""
        effort = requested_effort(request.extra) if request.extra else None
        if effort is None:
            return ""
        return effort if isinstance(effort, str) and effort in _EFFORTS else "other"

    async def call_fitted(
        self, wire: WireFormat, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        key = (target.base_url, target.model)
        # a tuple, made anew for a note: most calls have none, and an empty list lived as long as the attempt, for
        # the cyclic collector to walk and promote at 200 callers (benchmarks/ROUNDS.md, the fiftieth round)
        notes: tuple[str, ...] = ()
        #: the request as asked, once its tools went without strict: their arguments are checked against it
        strict_asked: LLMRequest | None = None
        # "top_p+temperature": top_p refused beside a temperature only (a model that takes one sampler), weighed
        # after the settings refused outright, which may have left the temperature out already
        refused = look_up(self.refused, key)  # made the newest: a model called often keeps what it refused
        reasoning = self.reasoning_asked(request) if refused else ""  # (most calls' models refused nothing)
        for refusal in sorted(refused, key=lambda r: "+" in r) if refused else ():
            refusal, at, when = refusal.partition("@")
            if at and when != reasoning:
                continue  # refused as the model reasoned otherwise: it may take the setting on this call
            setting, _, alongside = refusal.partition("+")
            if setting == "max_tokens":
                wire = self.completion_tokens_wire(wire) or wire  # nothing is lost: no word of it
            elif has_setting(request, setting) and (not alongside or has_setting(request, alongside)):
                with_it = _with_it(request, setting)
                request = without_setting(request, setting)
                not_sent = "the call was not streamed" if setting in _STREAMING else f"it was not sent{with_it}"
                what = f"'{setting}' beside '{alongside}'" if alongside else f"'{setting}'"
                notes += (f"{target.label} refused {what} on an earlier call; {not_sent}",)
        while True:
            try:
                result = await self.call(wire, request, target, progress=progress)
                break
            except BadRequestError as exc:
                if _answer_began(exc):
                    raise
                if (
                    exc.details.get("code") == "invalid_encrypted_content"
                    and (bare := without_reasoning(request)) is not request
                ):
                    # the reasoning sent back with a tool call, which this endpoint no longer decrypts (another
                    # organization's key now, OpenAI's own incidents): not billed, and the turn is answered without it
                    request = bare
                    why = f"could not verify the reasoning sent back ({_said(exc)}): sending the turn without it"
                    await say_resend(progress, target, why)
                    notes += (
                        f"{target.label}: the encrypted reasoning sent back with the tool calls could not be verified "
                        f"({_said(exc)}); the turn was sent again without it, and the model reasoned anew",
                    )
                    continue
                if strict_tool_refused(exc, request):
                    strict_asked = request
                    request = replace(request, tools=[replace(t, strict=False) for t in request.tools])
                    why = f"refused a tool's schema as strict ({_said(exc)}): sending it again without strict"
                    await say_resend(progress, target, why)
                    notes += (
                        f"{target.label} refused a tool's schema as strict ({_said(exc)}); it was sent again without "
                        "strict, and the arguments were checked against the schema here",
                    )
                    continue
                if not strict_schema_refused(exc, request):
                    raise
                # the schema's fault, not the model's: this call only, nothing remembered for the name
                request = replace(request, json_schema_strict=False)
                why = f"refused the JSON schema as strict ({_said(exc)}): sending it again without strict"
                await say_resend(progress, target, why)
                notes += (
                    f"{target.label} refused the JSON schema as strict ({_said(exc)}); it was sent again without "
                    "strict, and the answer was checked against the schema here",
                )
                continue
            except UnsupportedFeatureError as exc:
                name = exc.details.get("param")
                # 422: a FastAPI server's (Mistral's) refusal of a field, as unbilled as a 400
                if exc.status not in (400, 422) or not isinstance(name, str) or _answer_began(exc):
                    raise
                said = _said(exc)
                # only a refusal that asks for the other field: "max_tokens is too large: 32768. This model supports
                # at most 16384 completion tokens" (param max_tokens too) is the limit's size, which the other
                # field would be refused for again, and which is no reason to send this name the other field
                renamed = (
                    self.completion_tokens_wire(wire)
                    if name == "max_tokens" and "max_completion_tokens" in exc.message
                    else None
                )
                if renamed is not None and request.max_tokens is not None:
                    # "Unsupported parameter: 'max_tokens' is not supported with this model. Use
                    # 'max_completion_tokens' instead." (OpenAI's reasoning models behind a proxy): the same limit,
                    # which budgets reserved, under the field the model takes
                    wire = renamed
                    await say_resend(
                        progress, target, f"refused 'max_tokens' ({said}): sending it as max_completion_tokens"
                    )
                    notes += (f"{target.label} refused 'max_tokens' ({said}); it was sent as max_completion_tokens",)
                elif name in self.droppable and has_setting(request, name):
                    with_it = _with_it(request, name)
                    request = without_setting(request, name)
                    again = "unstreamed" if name in _STREAMING else f"without it{with_it}"
                    await say_resend(progress, target, f"refused '{name}' ({said}): sending it again {again}")
                    notes += (f"{target.label} refused '{name}' ({said}); it was sent again {again}",)
                else:
                    raise
                beside = exc.details.get("beside")  # refused only together with this other setting
                refusal = f"{name}+{beside}" if isinstance(beside, str) else name
                if name in _AS_IT_REASONS:
                    refusal += f"@{self.reasoning_asked(request)}"
                keep(self.refused, key, self.refused.get(key, frozenset()) | {refusal}, REFUSALS_KEPT)
        if strict_asked is not None and result.tool_calls:
            check_strict_calls(result, strict_asked, self.name)
        result.warnings.extend(notes)
        return result

    def completion_tokens_wire(self, wire: WireFormat) -> WireFormat | None:
        """``wire`` sending its token limit as ``max_completion_tokens`` where it sends ``max_tokens``, or None
        (it already does, or the endpoint's API version would not know the field)."""
        return None
