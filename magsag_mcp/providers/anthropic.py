"""Wire format and endpoint: Anthropic Messages (``POST {base}/v1/messages``).

The system prompt is top-level, ``max_tokens`` is required, tool calls are ``tool_use`` content blocks
and their results go back as ``tool_result`` blocks in a user turn. Usage reports cache reads and
writes *beside* ``input_tokens``; our :class:`~magsag_mcp.types.Usage` counts them inside it. Its
``inference_geo`` (``"us"``: US-only inference, billed at 1.1x) is kept, and priced. Extended thinking (a
target's ``params: {thinking: ...}``) is fitted to the request in :mod:`.anthropic_thinking`, and the
thinking before a tool call rides on the call's ``signature``, to go back with it.

JSON output: when a schema is given, the request forces a single tool whose ``input_schema`` is that
schema (``tool_choice: {type: tool}``), which the Messages API guarantees to answer with an object
of that shape; the tool's input is the document. Where no tool can be forced (thinking on, the caller's tools in the
call, a model that refuses a forced tool: Claude Fable 5.1, Mythos 5.1), the system prompt gives the schema. Without a
schema, the system prompt asks for one JSON object and the answer is parsed (invalid JSON fails the attempt so the
cascade moves on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import strict_json
from ..errors import (
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    UnsupportedFeatureError,
)
from ..transport import HttpResponse, SSEEvent, Transport
from ..types import FinishReason, LLMRequest, LLMResult, Target, ToolCall, Usage
from .anthropic_errors import anthropic_error
from .anthropic_samplers import fixed_sampling, refuses_prefill, takes_no_prefill, without_samplers
from .anthropic_thinking import adaptive_only, settle, signature_for, thinking_setting
from .anthropic_turns import ends_in_prefill, json_prefill, turns, without_bare_json_prefill
from .anthropic_usage import tool_prompt_tokens
from .anthropic_usage import usage as _usage
from .base import Endpoint, ProgressCallback
from .json_output import StreamedDocument, with_json_instruction
from .openai_errors import error_status
from .refused_settings import DROPPABLE, RefusedSettings, say_resend
from .wire_format import StreamAccumulator, WireFormat

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
#: the forced tool that carries a JSON-schema answer
JSON_TOOL = "json_output"
#: the forced tool when the schema is not an object: its input is {"value": <the document>}. A name of
#: its own, so that an object schema whose only property is "value" is never unwrapped.
JSON_VALUE_TOOL = "json_value_output"

_STOP: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # pause_turn is left out on purpose: a paused turn is not finished (see _result)
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

#: stop reasons that leave no answer when nothing came with them (a stop sequence may end an answer at once)
_EMPTY_IS_NO_ANSWER = frozenset({"end_turn", "tool_use"})


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

    def __init__(self, *, continues: bool = False, prefix: str = "", json_tool: bool = True) -> None:
        #: the calls it sends end with the assistant's message (a prefill): an end_turn with no content is the
        #: model adding nothing to it, an answer ("Claude already decided it's done"), not a failure
        self.continues = continues
        #: a JSON call's prefill (Anthropic's way to start Claude's JSON: "{"), which its answer's text continues:
        #: the document is the two together
        self.prefix = prefix
        #: the calls it sends may force the JSON tool (they carry no tools of the caller's, and the model takes a
        #: forced tool): a call of the caller's own tool that has the JSON tool's name is the caller's, not the answer
        self.json_tool = json_tool

    def path(self, model: str, *, stream: bool) -> str:
        return "/v1/messages"

    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        notes: list[str] = []
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        extra = dict(request.extra)  # the vendor params sent: thinking may have to change to fit the request
        fixed = fixed_sampling(model)  # (a model released after Claude Opus 4.6)
        if fixed:
            adaptive_only(model, extra, notes)
        messages = turns(request, thinking=thinking_setting(extra) is not None)
        thinking = settle(request, messages, max_tokens, extra, notes)
        if not thinking and thinking_setting(request.extra) is not None:
            messages = turns(request, thinking=False)  # the API refuses thinking blocks with thinking off
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
        if choice is not None and (tools or choice.get("type") == "none"):
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
        return body, notes

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return _usage(data.get("usage"))

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        if isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict):
            # the API's error body under a 2xx (a gateway in front of it): the error its type names
            raise anthropic_error(200, json.dumps(data).encode(), {}, provider=provider, model=model)
        if not isinstance(data, dict) or data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise MalformedResponseError(f"{provider}:{model}: not a Messages response", provider=provider, model=model)
        return _result(data["content"], data.get("stop_reason"), data.get("usage"), data, provider, model, self)

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return _MessagesStream(provider, model, self)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return anthropic_error(response.status, response.body, response.headers, provider=provider, model=model)


def _result(
    content: list[dict[str, Any]],
    stop_reason: str | None,
    usage: Any,
    data: dict[str, Any],
    provider: str,
    model: str,
    wire: AnthropicMessagesFormat,
) -> LLMResult:
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[dict[str, Any]] = []  # the thinking since the last tool call: it goes back with the next one
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind in ("thinking", "redacted_thinking"):
            thoughts.append(block)
        elif kind == "tool_use":
            args = block.get("input")
            if not isinstance(args, dict):
                raise MalformedResponseError(
                    f"{provider}:{model}: tool_use input is not an object", provider=provider, model=model
                )
            call_id = block.get("id") or f"toolu_{len(calls)}"
            calls.append(ToolCall(call_id, block["name"], args, signature_for(thoughts)))
            thoughts = []
    finish = _STOP.get(stop_reason, "other")
    if finish == "length" and content and content[-1].get("type") == "tool_use":
        # Stopped inside the call: unstreamed, the API answers with the input written so far, as an object (a JSON
        # answer cut mid-string would pass its schema); streamed, its JSON does not parse (see _MessagesStream)
        cut = MalformedResponseError(
            f"{provider}:{model}: {_cut_short(content[-1].get('name'), stop_reason)}", provider=provider, model=model
        )
        cut.usage = _usage(usage)
        raise cut
    if finish == "content_filter":
        # "refusal": the streaming classifiers stopped the answer; whatever text came before is not an answer.
        details = data.get("stop_details") if isinstance(data.get("stop_details"), dict) else {}
        why = ", ".join(str(details[k]) for k in ("category", "explanation") if details.get(k))
        refused = ContentFilteredError(
            f"{provider}:{model}: the model refused (stop_reason: refusal{': ' + why if why else ''})",
            provider=provider,
            model=model,
        )
        # The tokens before the refusal are billed: the attempt is recorded at their cost.
        refused.usage = _usage(usage)
        raise refused
    text = "".join(texts)
    json_calls = [c for c in calls if c.name in (JSON_TOOL, JSON_VALUE_TOOL)] if wire.json_tool else []
    if json_calls:
        # The forced JSON tool carries the document: it is the answer, not a call for the caller.
        doc = json_calls[0].arguments
        text = json.dumps(doc.get("value") if json_calls[0].name == JSON_VALUE_TOOL else doc, ensure_ascii=False)
        calls = [c for c in calls if c.name not in (JSON_TOOL, JSON_VALUE_TOOL)]
        # its tool_use stop is the answer's end; max_tokens cut the document short, and says so
        if finish == "tool_calls":
            finish = "stop"
    elif wire.prefix:
        text = wire.prefix + text  # the prefilled start of a JSON document, and the rest of it
    # (after a prefill, an end_turn with nothing in it is the model adding nothing: see AnthropicMessagesFormat)
    nothing_to_add = wire.continues and stop_reason == "end_turn"
    if stop_reason in _EMPTY_IS_NO_ANSWER and not text.strip() and not calls and not nothing_to_add:
        # Claude at times answers with no content at all (the API's docs: "empty responses with end_turn"), or a
        # tool_use stop with no tool_use block in it: billed, and no answer; the next target may serve the call
        empty = MalformedResponseError(
            f"{provider}:{model}: no usable answer (stop_reason: {stop_reason}, with no content)",
            provider=provider,
            model=model,
        )
        empty.usage = _usage(usage)
        raise empty
    warnings = []
    explained = stop_reason == "model_context_window_exceeded"
    if explained:
        # the prompt and the answer filled the context window: more max_tokens would not have helped
        fix = "shorten the prompt, or use a model with a larger context window"
        if not text and not calls:
            full = ContextTooLongError(
                f"{provider}:{model}: the prompt left no room for an answer in the model's context window "
                f"(stop_reason: model_context_window_exceeded); {fix}",
                provider=provider,
                model=model,
            )
            full.usage = _usage(usage)  # the prompt was read, and is billed
            raise full
        warnings.append(
            f"{provider}:{model} stopped at its context window (stop_reason: model_context_window_exceeded): the "
            f"answer may be cut short; {fix}"
        )
    if stop_reason == "pause_turn":
        # "we paused a long-running turn" (server tools): the answer so far, said to be unfinished, not a stop
        warnings.append(
            f"{provider}:{model} paused its turn (stop_reason: pause_turn); the answer may be incomplete: send "
            "it back as the assistant turn to let the model continue"
        )
    return LLMResult(
        text=text,
        provider=provider,
        model=data.get("model") or model,
        usage=_usage(usage),
        tool_calls=calls,
        finish_reason=finish,
        warnings=warnings,
        response_id=data.get("id"),
        stop_explained=explained,
    )


def _cut_short(tool: Any, stop_reason: str | None) -> str:
    """Why a tool_use block that the answer's end stopped inside is no answer, and what to change."""
    what = "JSON answer" if tool in (JSON_TOOL, JSON_VALUE_TOOL) else "tool call"
    if stop_reason == "model_context_window_exceeded":  # more max_tokens would not have helped
        return (
            f"the {what} was cut short by the model's context window before its JSON was complete (stop_reason: "
            f"{stop_reason}); shorten the prompt, or use a model with a larger context window"
        )
    return (
        f"the {what} was cut short by max_tokens before its JSON was complete (stop_reason: {stop_reason}); raise "
        "max_tokens"
    )


class _MessagesStream(StreamAccumulator):
    """message_start, content_block_start/delta/stop, message_delta, message_stop (plus ping, error)."""

    def __init__(self, provider: str, model: str, wire: AnthropicMessagesFormat) -> None:
        self.provider, self.model, self.wire = provider, model, wire
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial_json: dict[int, list[str]] = {}
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.done = False
        #: the prefilled start of a JSON document, which the answer continues: the first text delta carries it
        self.unsent = wire.prefix
        #: the forced JSON tool's document, whose text streams as the answer's (its block's index beside it)
        self.document: StreamedDocument | None = None
        self.document_at: int | None = None

    def usage_so_far(self) -> Usage | None:
        # message_start's usage counts one output token; only message_delta's (with the stop reason)
        # is the answer's: a stream cut before it may have been billed for far more
        return _usage(self.usage) if self.stop_reason is not None else None

    def complete(self) -> bool:
        # message_delta (the stop_reason and the final usage) comes after every content block: past it, only
        # message_stop, which carries nothing, is still to come
        return self.done or self.stop_reason is not None

    def feed(self, event: SSEEvent) -> str:
        data = event.json_object()
        # an event named error is one, whatever its data's type (llama.cpp's flat {code, message, type}: see sse.py)
        kind = "error" if event.event == "error" else data.get("type") or event.event
        if kind == "message_start":
            self.message = data.get("message") or {}
            self.usage.update(self.message.get("usage") or {})
        elif kind == "content_block_start":
            block = self.blocks[data["index"]] = dict(data.get("content_block") or {})
            if block.get("type") == "tool_use":
                self.partial_json[data["index"]] = []
                if self.wire.json_tool and block.get("name") in (JSON_TOOL, JSON_VALUE_TOOL) and self.document is None:
                    self.document = StreamedDocument(wrapped=block["name"] == JSON_VALUE_TOOL)
                    self.document_at = data["index"]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            block = self.blocks.setdefault(data["index"], {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
                text, self.unsent = self.unsent + str(delta.get("text", "")), ""  # (after a prefill, it goes first)
                return text
            if delta.get("type") == "input_json_delta":
                piece = delta.get("partial_json", "")
                self.partial_json.setdefault(data["index"], []).append(piece)
                if self.document is not None and data["index"] == self.document_at and isinstance(piece, str):
                    return self.document.feed(piece)  # the answer's text, as the caller's progress sees it
            elif delta.get("type") == "thinking_delta":  # kept: a tool call brings its thinking back
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif delta.get("type") == "signature_delta":
                block["signature"] = block.get("signature", "") + delta.get("signature", "")
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            if delta.get("stop_details"):
                self.message = {**self.message, "stop_details": delta["stop_details"]}
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            data = data if isinstance(data.get("error"), dict) else {"type": "error", "error": data}  # (flat)
            status = error_status(data["error"], 200)  # llama.cpp's integer code is an HTTP status
            raise anthropic_error(status, json.dumps(data).encode(), {}, provider=self.provider, model=self.model)
        return ""

    def finish(self) -> LLMResult:
        if not self.complete():
            raise ProviderConnectionError(
                f"{self.provider}:{self.model}: the stream ended before message_stop",
                provider=self.provider,
                model=self.model,
            )
        content = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block.get("type") == "tool_use":
                raw = "".join(self.partial_json.get(index, []))
                try:
                    block["input"] = strict_json.loads(raw) if raw else (block.get("input") or {})
                except ValueError:
                    if self.stop_reason == "refusal":  # stopped mid-call by the classifiers: the refusal it is
                        block["input"] = {}
                        content.append(block)
                        continue
                    why = "streamed tool input is not JSON"
                    if _STOP.get(self.stop_reason) == "length":  # stopped mid-call, not a model writing bad JSON
                        why = _cut_short(block.get("name"), self.stop_reason)
                    raise MalformedResponseError(
                        f"{self.provider}:{self.model}: {why}", provider=self.provider, model=self.model
                    ) from None
            content.append(block)
        result = _result(content, self.stop_reason, self.usage, self.message, self.provider, self.model, self.wire)
        if self.document is not None:  # its text as it streamed to the caller's progress, not re-serialized
            result.text = self.document.instead_of(result.text)
        return result


class AnthropicEndpoint(Endpoint):
    provider = "anthropic"
    key_env = ("ANTHROPIC_API_KEY",)
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
        return {
            "x-api-key": self.require_key(model),
            "anthropic-version": self.setting("ANTHROPIC_VERSION") or DEFAULT_VERSION,
        }


class AnthropicProvider(RefusedSettings):
    """The Messages API. A sampling setting a model refuses (a temperature, top_p or top_k, on a model released after
    Claude Opus 4.6 whose name the rule cannot read, such as a gateway's alias; a top_p beside a temperature) is left
    out and the call sent again (:mod:`.refused_settings`)."""

    droppable = (*DROPPABLE, "top_k")

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
        try:
            result = await self.call_fitted(wire, request, target, progress=progress)
        except UnsupportedFeatureError as exc:
            if exc.maybe_billed or exc.usage is not None:  # an answer under way: sent again, it is paid twice
                raise
            if refuses_prefill(exc.message) and ends_in_prefill(request) and without_bare_json_prefill(request)[1]:
                self.no_prefill.add(key)  # (not billed: a 400) sent again, the bare prefill is left out
                await say_resend(progress, target, "refused the JSON prefill: sending it again without it")
                return await self.complete(request, target, progress=progress)
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
