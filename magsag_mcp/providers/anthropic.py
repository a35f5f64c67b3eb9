"""Wire format and endpoint: Anthropic Messages (``POST {base}/v1/messages``). Its answers, whole or streamed, are
read in :mod:`.anthropic_answers`.

The system prompt is top-level, ``max_tokens`` is required, tool calls are ``tool_use`` content blocks
and their results go back as ``tool_result`` blocks in a user turn. Usage reports cache reads and
writes *beside* ``input_tokens``; our :class:`~magsag_mcp.types.Usage` counts them inside it. Its
``inference_geo`` (``"us"``: US-only inference, billed at 1.1x) is kept, and priced. Extended thinking (a
target's ``params: {thinking: ...}``) is fitted to the request in :mod:`.anthropic_thinking`, and the
thinking before a tool call rides on the call's ``signature``, to go back with it.

JSON output: when a schema is given, the request forces a single tool whose ``input_schema`` is that
schema (``tool_choice: {type: tool}``), which the Messages API guarantees to answer with an object
of that shape; the tool's input is the document. Where no tool can be forced (thinking on, the caller's tools in the
call, a model that refuses a forced tool: Claude Fable 5.1, Mythos 5.1), Claude 4.5 and later take it as structured
output (``output_config.format``, :mod:`.anthropic_output`), and for the rest the system prompt gives the schema.
Without a schema, the system prompt asks for one JSON object and the answer is parsed (invalid JSON fails the attempt
so the cascade moves on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import (
    MalformedResponseError,
    ProviderError,
    UnsupportedFeatureError,
)
from ..transport import HttpResponse, Transport
from ..types import LLMRequest, LLMResult, Target, Usage
from .anthropic_answers import JSON_TOOL, JSON_VALUE_TOOL, MessagesStream, read_answer
from .anthropic_errors import anthropic_error
from .anthropic_output import output_format, takes_output_format
from .anthropic_samplers import fixed_sampling, refuses_prefill, takes_no_prefill, without_samplers
from .anthropic_thinking import adaptive_only, settle, thinking_setting
from .anthropic_turns import ends_in_prefill, json_prefill, turns, without_bare_json_prefill
from .anthropic_usage import tool_prompt_tokens
from .anthropic_usage import usage as _usage
from .base import Endpoint, ProgressCallback
from .empty_calls import nothing_to_answer
from .header_settings import anthropic_version_problem
from .http_errors import UNDER_200
from .json_output import sent_back_text, with_json_instruction
from .refused_settings import DROPPABLE, RefusedSettings, say_resend
from .wire_format import StreamAccumulator, WireFormat, a_reason

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice["name"]}
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}[choice]


#: what a tool's input_schema may not have at its top level
_TOP_COMBINERS = frozenset({"oneOf", "anyOf", "allOf"})
#: the keys of a schema that belong at its document's root: "#/$defs/..." references point there
_ROOT_KEYS = ("$schema", "$defs", "definitions")


def _wrapped(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as the ``value`` of an object's schema, its ``$defs`` (and draft-07 ``definitions``) kept at
    the root, where its references point: inside the value they would point at nothing (400 "JSON schema is
    invalid")."""
    inner = {k: v for k, v in schema.items() if k not in _ROOT_KEYS}
    out: dict[str, Any] = {"type": "object", "properties": {"value": inner}, "required": ["value"]}
    out.update((k, schema[k]) for k in _ROOT_KEYS if k in schema)
    return out


class AnthropicMessagesFormat(WireFormat):
    name = "anthropic-messages"
    #: Tool.name: ``^[a-zA-Z0-9_-]{1,128}$``
    tool_name_limit = 128

    def __init__(
        self,
        *,
        continues: bool = False,
        prefix: str = "",
        json_tool: bool = True,
        output_format: bool = True,
        resumes: bool = False,
    ) -> None:
        #: the calls it sends end with the assistant's message (a prefill): an end_turn with no content is the
        #: model adding nothing to it, an answer ("Claude already decided it's done"), not a failure
        self.continues = continues
        #: the calls it sends end with a paused turn sent back that holds text: an end_turn with no content is the turn
        #: finished with that text (the model had nothing to add after its last search), not a failure. Apart from
        #: ``continues``: a paused turn's request is the call's own, its structured output sent as before the pause
        self.resumes = resumes
        #: a JSON call's prefill (Anthropic's way to start Claude's JSON: "{"), which its answer's text continues:
        #: the document is the two together
        self.prefix = prefix
        #: the calls it sends may force the JSON tool (they carry no tools of the caller's, and the model takes a
        #: forced tool): a call of the caller's own tool that has the JSON tool's name is the caller's, not the answer
        self.json_tool = json_tool
        #: a JSON schema no forced tool can carry goes, to a model that takes it, as ``output_config.format``
        #: (:mod:`.anthropic_output`); False for a target that refused it
        self.output_format = output_format

    def path(self, model: str, *, stream: bool) -> str:
        return "/v1/messages"

    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        notes: list[str] = []
        output: dict[str, Any] | None = None  # the answer's schema as structured outputs take it
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        extra = dict(request.extra)  # the vendor params sent: thinking may have to change to fit the request
        # OpenAI's parallel_tool_calls (a target's params are written once, for whichever vendor serves them) is no
        # field of the Messages API (400 "Extra inputs are not permitted", which loses the target): false is its
        # tool_choice.disable_parallel_tool_use, and true its default
        parallel = extra.pop("parallel_tool_calls") if isinstance(extra.get("parallel_tool_calls"), bool) else None
        if "service_tier" in extra and extra["service_tier"] is None:
            # a null service tier asks for the vendor's default (as OpenAI's wire takes it, and the reservation reads
            # it: worst_cases.request_asks); the Messages API takes none there (400, "None is not one of ['auto',
            # 'standard_only']", which stopped the cascade), and its default is the field left out ("auto")
            del extra["service_tier"]
        fixed = fixed_sampling(model)  # (a model released after Claude Opus 4.6)
        if fixed:
            adaptive_only(model, extra, notes)
        messages = turns(request, thinking=model if thinking_setting(extra) is not None else None)
        if not messages:
            raise nothing_to_answer("Claude's Messages API")
        thinking = settle(request, messages, max_tokens, extra, notes)
        if not thinking and thinking_setting(request.extra) is not None:
            messages = turns(request)  # the API refuses thinking blocks with thinking off
        temperature = request.temperature
        if temperature is not None and temperature > 1.0:
            notes.append(f"Anthropic's temperature range is 0-1; {temperature:g} was sent as 1")
            temperature = 1.0
        if fixed:
            if temperature is not None and temperature != 1.0:
                notes.append(f"{model} supports only the default temperature; temperature {temperature:g} was not sent")
                temperature = None
            without_samplers(model, 0.99, extra, notes)
        if thinking:
            if temperature is not None and temperature != 1.0:
                notes.append(
                    f"with extended thinking on, Anthropic takes only the default temperature; temperature "
                    f"{temperature:g} was not sent"
                )
                temperature = None
            without_samplers("with extended thinking on, Anthropic", 0.95, extra, notes)
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
        system = request.system or ""
        tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
        choice = _tool_choice(request.tool_choice)
        if request.json_schema is not None and not request.tools and not thinking and self.json_tool:
            # A tool's input_schema must describe an object, without a top-level oneOf/anyOf/allOf (400
            # "input_schema does not support oneOf, allOf, or anyOf at the top level"): anything else is
            # wrapped as {"value": ...}.
            wrapped = request.json_schema.get("type") != "object" or not _TOP_COMBINERS.isdisjoint(request.json_schema)
            name = JSON_VALUE_TOOL if wrapped else JSON_TOOL
            schema = _wrapped(request.json_schema) if wrapped else request.json_schema
            said = request.json_schema_description or "Return the answer as this JSON document."
            tools = [{"name": name, "description": said, "input_schema": schema}]
            choice = {"type": "tool", "name": name}
        elif (structured := self.structured_output(request, model)) is not None:
            # the caller's tools in the call, or thinking on: the schema constrains the answer's text instead
            output = structured
        elif request.json_output or request.json_schema is not None:
            system = with_json_instruction(system, request.json_schema, request.json_schema_description)
            if request.json_schema is not None:
                # Forcing the JSON tool would keep the model from calling the caller's tools, and the API
                # takes no forced tool with thinking on.
                why = "with tools in the call" if request.tools else "with extended thinking on" if thinking else ""
                why = why or f"as {model} takes no forced tool"
                notes.append(
                    f"{why}, the JSON schema could not be enforced by a forced tool; the model "
                    "was instructed to answer in JSON and its answer was checked against the schema"
                )
        if system:
            body["system"] = system
        if tools:
            body["tools"] = tools
        if parallel is False and tools and (choice is None or choice["type"] != "none"):
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None and tools:
            # beside no tools, the API refuses any tool_choice, "none" too (a 400 that stopped the cascade), and with
            # no tool to call there is no choice to make (as Chat Completions and Gemini leave it out)
            body["tool_choice"] = choice
        if temperature is not None:
            body["temperature"] = temperature
        if request.stop:
            # the API refuses a stop sequence of only whitespace (400 "each stop sequence must contain
            # non-whitespace"): such a one is left out, and said to be
            kept = [s for s in request.stop if s.strip()]
            if kept:
                body["stop_sequences"] = kept
            if len(kept) < len(request.stop):
                left_out = [repr(s) for s in request.stop if not s.strip()]
                verb = "was" if len(left_out) == 1 else "were"
                notes.append(
                    f"Anthropic takes no stop sequence of only whitespace; {', '.join(left_out)} {verb} not sent"
                )
        if stream:
            body["stream"] = True
        if extra:
            body.update(extra)
        if output is not None:  # (beside a target's own output_config, such as its effort)
            given = body.get("output_config")
            body["output_config"] = {**given, "format": output} if isinstance(given, dict) else {"format": output}
        return body, notes

    def structured_output(self, request: LLMRequest, model: str) -> dict[str, Any] | None:
        """``output_config.format`` for the call's JSON schema, where ``model`` takes it and the schema is one
        structured outputs take (:mod:`.anthropic_output`); None for a call that ends in a prefill, which they refuse,
        and one with no schema of its own (a name alone, or JSON mode: Claude has none)."""
        if request.json_schema is None or not request.json_schema_given or self.continues or not self.output_format:
            return None
        return output_format(request.json_schema) if takes_output_format(model) else None

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return _usage(data.get("usage"))

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        if isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict):
            # the API's error body under a 2xx (a gateway in front of it): the error its type names, said where it was
            raise anthropic_error(200, json.dumps(data).encode(), {}, provider=provider, model=model, where=UNDER_200)
        if not isinstance(data, dict) or data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise MalformedResponseError(f"{provider}:{model}: not a Messages response", provider=provider, model=model)
        stop_reason = a_reason(data.get("stop_reason"), "stop_reason", provider, model)
        return read_answer(data["content"], stop_reason, data.get("usage"), data, provider, model, self)

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return MessagesStream(provider, model, self)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return anthropic_error(response.status, response.body, response.headers, provider=provider, model=model)


class AnthropicEndpoint(Endpoint):
    provider = "anthropic"
    key_env = ("ANTHROPIC_API_KEY",)
    vendor_host = "api.anthropic.com"
    vendor_keys = "ANTHROPIC_API_KEY"
    vendor_name = "Anthropic"
    base_url_env = ("ANTHROPIC_BASE_URL",)
    probe_path = "/v1/models"
    base_url_hint = (
        "the base URL (ANTHROPIC_BASE_URL, or the target's base_url) is the server's root, without /v1: "
        "https://api.anthropic.com by default"
    )
    base_url_example = "https://api.anthropic.com (the server's root, without /v1)"

    def base_url(self, target: Target) -> str:
        return target.base_url or self.setting("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"

    def headers(self, model: str) -> dict[str, str]:
        return {"x-api-key": self.require_key(model), **self.answer_headers()}

    def answer_headers(self) -> dict[str, str]:
        # the Messages API answers as its version says (a request's shape, a stop reason, what a model may do)
        return {"anthropic-version": self.setting("ANTHROPIC_VERSION") or DEFAULT_VERSION}

    def header_problem(self) -> str | None:
        return anthropic_version_problem(self.env)


class AnthropicProvider(RefusedSettings):
    """The Messages API. A sampling setting a model refuses (a temperature, top_p or top_k, on a model released after
    Claude Opus 4.6 whose name the rule cannot read, such as a gateway's alias; a top_p beside a temperature) is left
    out and the call sent again (:mod:`.refused_settings`)."""

    droppable = (*DROPPABLE, "top_k")
    wire: AnthropicMessagesFormat  # (the Messages API's, which __init__ hands the base class)

    @classmethod
    def prompt_overhead(cls, target: Target, request: LLMRequest) -> int:
        return tool_prompt_tokens(target.model, request)

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(AnthropicMessagesFormat(), AnthropicEndpoint(env), transport)
        self.continuing = AnthropicMessagesFormat(continues=True)
        #: for the calls that carry the caller's tools, or go to a model that takes no forced tool: neither forces the
        #: JSON tool
        self.unforced_wire = AnthropicMessagesFormat(json_tool=False)
        #: (the target's base URL, its model) that refused a forced tool (Claude Fable 5.1, Mythos 5.1): a JSON schema
        #: goes to it in the prompt; and those that refused a prefill, whose names did not tell (a gateway's alias)
        self.unforced: set[tuple[str | None, str]] = set()
        self.no_prefill: set[tuple[str | None, str]] = set()
        #: (the target's base URL, its model) that refused a JSON schema as output_config.format: it goes in the prompt
        self.no_output_format: set[tuple[str | None, str]] = set()

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        bare = ""  # a JSON call's prefill "{", left out for a model that takes no prefill
        key = (target.base_url, target.model)
        if (takes_no_prefill(target.model) or key in self.no_prefill) and ends_in_prefill(request):
            request, bare = without_bare_json_prefill(request)
        forced = not request.tools and key not in self.unforced  # (the JSON tool, for a call with a schema)
        wire = self.wire if forced else self.unforced_wire
        if ends_in_prefill(request):
            wire = self.continuing
            if request.json_output or request.json_schema is not None or not forced:
                prefix = json_prefill(request) if request.json_output or request.json_schema is not None else ""
                wire = AnthropicMessagesFormat(continues=True, prefix=prefix, json_tool=forced)
        resumes = bool(sent_back_text(request).strip())  # (a paused turn's text, which an empty end_turn finishes)
        if key in self.no_output_format or resumes:
            wire = AnthropicMessagesFormat(
                continues=wire.continues,
                prefix=wire.prefix,
                json_tool=wire.json_tool,
                output_format=key not in self.no_output_format,
                resumes=resumes,
            )
        try:
            result = await self.call_fitted(wire, request, target, progress=progress)
        except UnsupportedFeatureError as exc:
            if exc.maybe_billed or exc.usage is not None:  # an answer under way: sent again, it is paid twice
                raise
            if refuses_prefill(exc.message) and ends_in_prefill(request) and without_bare_json_prefill(request)[1]:
                self.no_prefill.add(key)  # (not billed: a 400) sent again, the bare prefill is left out
                await say_resend(progress, target, "refused the JSON prefill: sending it again without it")
                return await self.complete(request, target, progress=progress)
            # the format refused where magsag sent one (an API that has no output_config at all says so of the whole
            # field); a target's own output_config refused is the target's, as any param of its is
            if (
                exc.details.get("param") in ("output_config.format", "output_config")
                and key not in self.no_output_format
                and wire.structured_output(request, target.model) is not None
            ):
                self.no_output_format.add(key)  # (not billed: a 400) sent again, the schema in the prompt
                said = "refused the JSON schema as structured output (output_config.format)"
                await say_resend(progress, target, f"{said}: sending it again with the schema in the prompt")
                result = await self.complete(request, target, progress=progress)
                result.warnings.insert(
                    0, f"{target.label} {said}; the call was sent again with the schema in the prompt"
                )
                return result
            if not (forced and request.json_schema is not None and exc.details.get("param") == "tool_choice"):
                raise
            self.unforced.add(key)
            said = "refused a forced tool (tool_choice), which carried the JSON schema"
            await say_resend(progress, target, f"{said}: sending it again with the schema in the prompt")
            result = await self.complete(request, target, progress=progress)
            result.warnings.insert(0, f"{target.label} {said}; the call was sent again with the schema in the prompt")
        if bare:
            said = f"{target.model} takes no prefill: the JSON call went without its {bare!r}, and the answer is"
            result.warnings.insert(0, f"{said} the whole document")
        return result
