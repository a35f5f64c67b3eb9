"""Wire format: OpenAI Responses (``POST /responses``).

Used by OpenAI for models whose target asks for it (``params: {api: responses}``) and by the local
provider first, falling back to Chat Completions on servers that lack it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..errors import MalformedResponseError, ProviderConnectionError, ProviderError
from ..transport import HttpResponse, SSEEvent
from ..types import FinishReason, Image, LLMRequest, LLMResult, Message, ToolCall, Usage
from .content_filters import filtered
from .http_errors import IN_STREAM, UNDER_200, response_failed
from .json_output import any_object, json_mode_system, object_rooted, says_json, schema_name, value_wrapped
from .openai_chat_ends import FILTERED, interrupted, refused
from .openai_errors import body_error_status, error_status, failed_status, openai_error
from .openai_models import moved_for_responses, put_temperature, reasons, requested_effort
from .openai_reasoning import is_reasoning, made_by, reasoning_items, signature_for, with_origin
from .openai_tool_calls import RESPONSES_ID_LIMIT, WireCallIds, call_name, parse_arguments, tool_output, tool_parts
from .openai_usage import both_counts, with_reasoning
from .wire_format import (
    StreamAccumulator,
    WireFormat,
    a_list,
    an_object,
    call_id,
    prompt_part,
    reported_usage,
    with_reported_usage,
)


def _items(msg: Message, model: str, ids: WireCallIds) -> list[dict[str, Any]]:
    if msg.role == "tool":
        output: str | list[dict[str, Any]] = tool_output(msg)
        if msg.parts:  # its texts and pictures as input parts, as FunctionCallOutputItemParam.output takes them
            output = [_input_part(part) for part in tool_parts(msg)]
        return [{"type": "function_call_output", "call_id": ids.result(msg.tool_call_id), "output": output}]
    if msg.role == "user":
        ids.user_spoke()
    items: list[dict[str, Any]] = []
    reasoning = [reasoning_items(tc.signature, model) for tc in msg.tool_calls]
    if msg.parts:  # a user's texts and pictures, as input parts in their order
        items.append({"role": msg.role, "content": [_input_part(part) for part in msg.parts]})
    elif msg.content:
        if reasoning:  # the model reasoned before it wrote the text that came with its calls: the order it answered
            items.extend(reasoning[0])
            reasoning[0] = []
        items.append({"role": msg.role, "content": msg.content})
    for tc, before in zip(msg.tool_calls, reasoning, strict=True):
        items.extend(before)
        arguments = json.dumps(tc.arguments)
        items.append({"type": "function_call", "call_id": ids.call(tc.id), "name": tc.name, "arguments": arguments})
    return items


def _input_part(part: str | Image) -> dict[str, Any]:
    """A content part as the spec's InputTextContent or InputImageContent writes it (``detail`` is required there)."""
    if isinstance(part, str):
        return {"type": "input_text", "text": part}
    return {"type": "input_image", "image_url": part.as_url(), "detail": part.detail or "auto"}


MIN_OUTPUT_TOKENS = 16


class ResponsesFormat(WireFormat):
    name = "openai-responses"
    #: FunctionToolParam.name: ``^[a-zA-Z0-9_-]+$``, maxLength 128
    tool_name_limit = 128
    empty_is_no_answer = True
    length_may_be_the_servers = True  # llama.cpp's, LM Studio's context size; their caps on output
    wraps_json_roots = True

    def __init__(self, *, json_mode_as_schema: bool = False, asks_encrypted_reasoning: bool = False) -> None:
        #: JSON mode sent as a JSON schema of any object (:func:`~.json_output.any_object`), for servers that
        #: refuse or ignore json_object
        self.json_mode_as_schema = json_mode_as_schema
        #: a call to a model OpenAI's names say reasons asks for its reasoning's encrypted content (OpenAI's and
        #: Azure's, whose reasoning models take it)
        self.asks_encrypted_reasoning = asks_encrypted_reasoning

    def path(self, model: str, *, stream: bool) -> str:
        return "/responses"

    def sends_stop(self, request: LLMRequest, model: str) -> bool:
        return False  # the Responses API has no stop sequences

    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        notes: list[str] = []
        items: list[dict[str, Any]] = []
        ids = WireCallIds(RESPONSES_ID_LIMIT)  # unique, as the API pairs a call's output with it by its id alone
        for m in request.messages:
            items.extend(_items(m, model, ids))
        body: dict[str, Any] = {"model": model, "input": items, "store": False}
        system = json_mode_system(request)
        if system and request.json_output and request.json_schema is None and not says_json(request.messages):
            # JSON mode looks for "json" in the input messages alone, not in the instructions (400 "Response input
            # messages must contain the word 'json' in some form"): the system prompt that says it goes first there
            items.insert(0, {"role": "system", "content": system})
        elif system:
            body["instructions"] = system
        if request.max_tokens is not None:
            # The Responses API refuses max_output_tokens below 16 (spec: minimum 16).
            body["max_output_tokens"] = max(MIN_OUTPUT_TOKENS, request.max_tokens)
            if request.max_tokens < MIN_OUTPUT_TOKENS:
                notes.append(
                    f"the Responses API takes at least {MIN_OUTPUT_TOKENS} output tokens; max_tokens "
                    f"{request.max_tokens} was sent as {MIN_OUTPUT_TOKENS}"
                )
        put_temperature(body, notes, model, request.temperature, requested_effort(request.extra))
        if request.tools:
            body["tools"] = [
                # `strict` is required by the spec: the tool's own. Strict mode demands additionalProperties: false
                # on every object of the caller's schema, which we do not rewrite behind their back.
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": t.strict,
                }
                for t in request.tools
            ]
        if request.tool_choice is not None and request.tools:  # (as Chat Completions: none without tools)
            choice = request.tool_choice
            body["tool_choice"] = {"type": "function", "name": choice["name"]} if isinstance(choice, dict) else choice
        if request.json_schema is not None:
            name = schema_name(request.json_schema_name, notes)
            schema = request.json_schema if object_rooted(request.json_schema) else value_wrapped(request.json_schema)
            fmt: dict[str, Any] = {"type": "json_schema", "name": name, "schema": schema}
            if request.json_schema_strict:
                fmt["strict"] = True
            if request.json_schema_description:
                fmt["description"] = request.json_schema_description
            body["text"] = {"format": fmt}
        elif request.json_output:
            body["text"] = {
                "format": {"type": "json_schema", **any_object()}
                if self.json_mode_as_schema
                else {"type": "json_object"}
            }
        if stream:
            body["stream"] = True
        if request.extra:
            body.update(request.extra)
            moved_for_responses(body)
            if not request.tools:
                body.pop("parallel_tool_calls", None)  # (as Chat Completions: none without tools)
        if self.asks_encrypted_reasoning and body["store"] is False and _reasons(model, request.extra):
            _include_encrypted_reasoning(body)
        if request.stop:
            notes.append("the Responses API has no stop sequences; 'stop' was not sent")
        return body, notes

    endpoint_bound = True  # the encrypted reasoning a tool call carries back

    def for_endpoint(self, request: LLMRequest, origin: str) -> LLMRequest:
        """``request`` with the reasoning on its tool calls (their ``signature``) that another endpoint encrypted
        left out: sent, it is refused (400 ``invalid_encrypted_content``, a bad request that stops the cascade),
        where the same turn without it is answered (the model reasons again)."""
        messages = request.messages
        for i, msg in enumerate(request.messages):
            if not any(is_reasoning(tc.signature) for tc in msg.tool_calls):
                continue
            calls = [
                tc
                if not is_reasoning(tc.signature) or (made_by(tc.signature) or {}).get("origin") == origin
                else replace(tc, signature=None)
                for tc in msg.tool_calls
            ]
            if any(a is not b for a, b in zip(calls, msg.tool_calls, strict=True)):
                if messages is request.messages:
                    messages = list(messages)
                messages[i] = replace(msg, tool_calls=calls)
        return request if messages is request.messages else replace(request, messages=messages)

    def from_endpoint(self, result: LLMResult, origin: str) -> None:
        for tc in result.tool_calls:
            if is_reasoning(tc.signature):
                tc.signature = with_origin(tc.signature, origin)

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return _usage(data.get("usage"), data)

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        if isinstance(data, dict) and data.get("error") and not isinstance(data.get("output"), list):
            # an error body under a 2xx status (LM Studio answers an unknown route 200 with
            # {"error": "Unexpected endpoint or method. ..."}; a gateway its upstream's failure): the server's error,
            # said as it said it, at the status its code names, as Chat Completions reads it
            status = body_error_status(data["error"])
            said = HttpResponse(status, {}, json.dumps(data).encode())
            raise openai_error(said, provider=provider, model=model, where=UNDER_200)
        if not isinstance(data, dict) or not isinstance(data.get("output"), list):
            raise MalformedResponseError(
                f"{provider}:{model}: response without an output list", provider=provider, model=model
            )
        return _result(data, provider=provider, model=model)

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return _ResponsesStream(provider, model)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return openai_error(response, provider=provider, model=model)


#: what ``include`` names to have a reasoning item's encrypted content in the answer
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def _reasons(model: str, extra: dict[str, Any]) -> bool:
    """Whether the call's model reasons: by OpenAI's names, or, whatever its name (an Azure deployment's, a
    gateway's alias), when the target's params ask for a reasoning effort other than "none" (a model that does not
    reason refuses the setting itself)."""
    effort = requested_effort(extra)
    return reasons(model, effort) or (isinstance(effort, str) and effort != "none")


def _include_encrypted_reasoning(body: dict[str, Any]) -> None:
    """``include`` with :data:`ENCRYPTED_REASONING` in it (beside what a target's params list). Nothing is stored
    (``store: false``): a reasoning model's tool calls go back with the reasoning before them only as its encrypted
    content, which OpenAI documents as the way to have it ("This enables reasoning items to be used in multi-turn
    conversations when using the Responses API statelessly"), and gateways return only when it is asked for.
    Without it, the reasoning was dropped from every tool loop, and the model reasoned anew (and was paid to) after
    each tool result."""
    include = body.get("include")
    if include is None or isinstance(include, list) and ENCRYPTED_REASONING not in include:
        body["include"] = [*(include or []), ENCRYPTED_REASONING]


def _text(value: Any, provider: str, model: str) -> str:
    if value is not None and not isinstance(value, str):
        raise MalformedResponseError(
            f"{provider}:{model}: an output_text's text is {type(value).__name__}, not a string",
            provider=provider,
            model=model,
        )
    return value or ""


def _result(data: dict[str, Any], *, provider: str, model: str) -> LLMResult:
    status = data.get("status")
    # A failed or filtered response still reports what it used, and the vendor bills that.
    reported = _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None
    if status == "failed":
        err = data.get("error") or {}
        code = err.get("code") if isinstance(err, dict) else None
        said = HttpResponse(failed_status(code), {}, json.dumps({"error": err}).encode())
        exc = openai_error(said, provider=provider, model=model, where=response_failed(code))
        raise with_reported_usage(exc, reported)
    if status == "cancelled":
        # ended before it was whole: vLLM's Responses API says so of an answer its engine aborted (its chat completions
        # say finish_reason "abort"), OpenAI's of a background response cancelled. Read on, the text so far came back
        # as a whole answer ("stop"), or, with none yet, as an empty one that named no cause.
        raise interrupted(status, reported, provider=provider, model=model, field="status")
    if status in ("queued", "in_progress"):
        # background mode (params.background): the answer is generated, and billed, after this reply
        raise MalformedResponseError(
            f"{provider}:{model}: the response is {status!r}, not done: it was made in background mode, whose "
            "answer magsag does not fetch; leave 'background' out of the target's params",
            provider=provider,
            model=model,
        )
    reason = None
    if status == "incomplete":
        reason = an_object(data.get("incomplete_details"), "incomplete_details", provider, model).get("reason")
    cut = reason == "max_output_tokens" or (status == "completed" and _at_limit(data, reported))
    texts: list[str] = []
    #: the text of the messages that end the turn (phase "final_answer"), where the model labels its messages
    final: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCall] = []
    #: reasoning items since the last function call: they go back with the next one
    reasoning: list[dict[str, Any]] = []
    for item in data["output"]:
        item = an_object(item, "an output item", provider, model)
        kind = item.get("type")
        if kind == "reasoning":
            reasoning.append(item)
        elif kind == "message":
            for part in a_list(item.get("content"), "a message's content", provider, model):
                part = an_object(part, "a message's content part", provider, model)
                if part.get("type") == "output_text":
                    texts.append(_text(part.get("text"), provider, model))
                    if item.get("phase") == "final_answer":
                        final.append(texts[-1])
                elif part.get("type") == "refusal":
                    # the model declined: its refusal is not the answer (nor, asked for JSON, broken JSON)
                    refusals.append(part.get("refusal") or "")
        elif kind == "function_call":
            calls.append(
                ToolCall(
                    id=call_id(item.get("call_id") or item.get("id"), f"call_{len(calls)}", provider, model),
                    name=call_name(item.get("name"), provider=provider, model=model),
                    arguments=parse_arguments(item.get("arguments"), provider=provider, model=model, cut=cut),
                    signature=signature_for(reasoning, model),
                )
            )
            reasoning = []
    if final:
        # gpt-5.3-codex and later write commentary ("Let me check the numbers.") in messages of its own, phase
        # "commentary", before the one that ends the turn: that one is the answer (joined, a JSON answer was not JSON)
        texts = final
    if refusals and not texts and not calls:
        raise refused("".join(refusals), reported, provider=provider, model=model)
    finish: FinishReason = "tool_calls" if calls else "stop"
    if cut:
        finish = "length"
    elif reason == "content_filter":  # with some of the answer or none, as every vendor's filter is read
        came = any(t.strip() for t in texts) or bool(calls)
        raise filtered(FILTERED, reported, provider=provider, model=model, came=came)
    elif status == "incomplete":
        finish = "length"  # a reason of a server's own (the spec's own example says "max_tokens")
    return LLMResult(
        text="".join(texts),
        provider=provider,
        model=data.get("model") or model,
        usage=_usage(data.get("usage"), data),
        tool_calls=calls,
        finish_reason=finish,
        response_id=data.get("id"),
    )


def _at_limit(data: dict[str, Any], usage: Usage | None) -> bool:
    """Whether a response that says it is complete wrote as many output tokens as the ``max_output_tokens`` it
    echoes: it was stopped there. Ollama's Responses API says "completed" of every answer, those num_predict
    cut included (its chat completions say "length"); taken as whole, a cut answer was returned as the
    answer, a cut JSON document was "invalid JSON", and a thinking model that spent the whole allowance
    thinking was "no usable answer", none of them saying to raise max_tokens."""
    limit = data.get("max_output_tokens")
    return (
        isinstance(limit, int)
        and not isinstance(limit, bool)
        and usage is not None
        and usage.reported
        and usage.output_tokens >= limit > 0
    )


def _usage(raw: Any, response: dict[str, Any]) -> Usage:
    """``raw``: the ``usage`` object; ``response``: the response around it, whose ``service_tier`` and
    ``model`` say the tier and the model that served it, and so the rates it is billed at."""
    return reported_usage(_counted, raw, response)


def _counted(raw: dict[str, Any], response: dict[str, Any]) -> Usage:
    input_tokens, output_tokens = both_counts(raw, "input_tokens", "output_tokens")
    reasoning = int((raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=with_reasoning(raw, input_tokens, output_tokens, reasoning),
        cached_tokens=int((raw.get("input_tokens_details") or {}).get("cached_tokens") or 0),
        cache_write_tokens=int((raw.get("input_tokens_details") or {}).get("cache_write_tokens") or 0),
        reasoning_tokens=reasoning,
        service_tier=response.get("service_tier"),
        answering_model=response.get("model"),
        server_tool_calls=server_tool_calls(response.get("output")),
    )


#: the Responses API's output items of a server tool billed per call beside the tokens ($10 per 1,000 web searches,
#: $2.50 per 1,000 file searches, a code interpreter's container by the session, an image at the image model's rates,
#: which the answer's usage does not count), and what one of each is
_PER_USE_ITEMS = {
    "web_search_call": "web search",
    "file_search_call": "file search",
    "code_interpreter_call": "code interpreter call",
    "image_generation_call": "generated image",
}


def server_tool_calls(output: Any) -> tuple[tuple[str, int], ...]:
    """The per-use server tool calls a response's ``output`` items hold, counted by kind (see Usage.server_tool_calls):
    magsag sends function tools alone, but an answer that reports any was billed for them."""
    counts: dict[str, int] = {}
    for item in output if isinstance(output, list) else ():
        # (a type that is no name, a broken gateway's object or list, is no per-use item: looked up, it raised
        # TypeError, and the answer's whole usage was thrown away as unreported)
        kind = item.get("type") if isinstance(item, dict) else None
        what = _PER_USE_ITEMS.get(kind) if isinstance(kind, str) else None
        if what is not None:
            counts[what] = counts.get(what, 0) + 1
    return tuple(counts.items())


class _ResponsesStream(StreamAccumulator):
    """Typed events; the terminal one (``response.completed`` / ``.incomplete`` / ``.failed``)
    carries the whole response object, which is parsed exactly like a non-streamed answer."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self.final: dict[str, Any] | None = None
        #: the response as response.created / .in_progress gave it (its usage null at OpenAI's; a server's count)
        self.begun: dict[str, Any] = {}
        #: ``response.output_item.done``'s items by their output index: the answer where the terminal event's
        #: response lists no output (gateways that translate another API into this one send ``output: []``)
        self.done_items: dict[int, dict[str, Any]] = {}
        #: the text of the output_text.delta events (those of commentary too: see :meth:`feed`)
        self.streamed: list[str] = []
        #: the ids of the messages of intermediate commentary (phase "commentary"), whose text is no part of the
        #: answer's where a message of phase "final_answer" follows (see _result)
        self.commentary: set[Any] = set()

    def usage_so_far(self) -> Usage | None:
        return _usage(self.final.get("usage"), self.final) if self.final else None  # the terminal event's, whole

    def prompt_counted(self) -> Usage | None:
        # OpenAI's response.created and .in_progress carry usage null; a server that counted the prompt there, did
        return prompt_part(_usage(self.begun.get("usage"), self.begun)) if self.begun.get("usage") else None

    def complete(self) -> bool:
        return self.final is not None  # response.completed / .incomplete / .failed

    def feed(self, event: SSEEvent) -> str:
        if event.data == "[DONE]":
            # Chat Completions' end marker, which compatible servers (and gateways) send after a Responses
            # stream too: the answer is the terminal event's, and a stream without one still fails in finish()
            return ""
        data = event.json_object()
        # an event named error is one, whatever its data's type (llama.cpp's flat {code, message, type}: see sse.py)
        kind = "error" if event.event == "error" else data.get("type") or event.event
        if kind == "response.output_text.delta":
            delta = str(data.get("delta") or "")
            self.streamed.append(delta)
            # commentary ("Let me check the numbers.") is not sent to the caller's progress as the answer's text: the
            # final answer after it is the answer (should none come, the commentary is, sent once the answer is whole)
            return "" if self.commentary and data.get("item_id") in self.commentary else delta
        if kind == "response.output_item.added":
            item = data.get("item")
            if isinstance(item, dict) and item.get("phase") == "commentary" and isinstance(item.get("id"), str):
                self.commentary.add(item.get("id"))
        elif kind == "response.output_item.done":
            item, index = data.get("item"), data.get("output_index")
            if isinstance(item, dict):
                self.done_items[index if isinstance(index, int) else len(self.done_items)] = item
        elif kind in ("response.created", "response.in_progress") and isinstance(data.get("response"), dict):
            self.begun = data["response"]
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = an_object(data.get("response"), f"{kind}'s response", self.provider, self.model)
        elif kind == "error":
            # ResponseErrorEvent: {type, code, message, param} flat, as documented; the live API nests them
            # under "error" ({"type": "error", "error": {type, code, message, param}}). Field by field, so that
            # either is classified by its code and says its message.
            nested = inner if isinstance(inner := data.get("error"), dict) else {}
            err = {k: data.get(k) or nested.get(k) for k in ("code", "message", "param")}
            flat = data.get("type") if data.get("type") not in (None, "error") else None  # (llama.cpp's)
            err["type"] = nested.get("type") or flat
            status = error_status(err, 0) or failed_status(err["code"], err["type"])  # (llama.cpp's code: 400)
            raise openai_error(
                HttpResponse(status, {}, json.dumps({"error": err}).encode()),
                provider=self.provider,
                model=self.model,
                where=IN_STREAM,
            )
        return ""

    def finish(self) -> LLMResult:
        if self.final is None:
            raise ProviderConnectionError(
                f"{self.provider}:{self.model}: the stream ended before response.completed",
                provider=self.provider,
                model=self.model,
            )
        if not self.final.get("output") and self.done_items:
            # the items came in response.output_item.done alone: they are the answer (a spec-compliant terminal
            # event, whose output lists them, wins)
            self.final = {**self.final, "output": [self.done_items[i] for i in sorted(self.done_items)]}
        output = self.final.get("output")
        if not isinstance(output, list):
            raise MalformedResponseError(
                f"{self.provider}:{self.model}: final stream event has no output list",
                provider=self.provider,
                model=self.model,
            )
        text = "".join(self.streamed)
        if text and not any(_texts(item) for item in output if isinstance(item, dict)):
            # the text came in the deltas alone (vLLM's Responses API for models without the Harmony format, gateways
            # that translate chat completions, whose terminal output and items leave the message's content out): it is
            # the answer's message, as the caller's progress showed it
            part = {"type": "output_text", "text": text, "annotations": []}
            message = {"type": "message", "role": "assistant", "status": "completed", "content": [part]}
            self.final = {**self.final, "output": [*output, message]}
        return _result(self.final, provider=self.provider, model=self.model)


def _texts(item: dict[str, Any]) -> bool:
    """Whether an output item is a message with text in it."""
    parts = item.get("content") if item.get("type") == "message" else None
    if not isinstance(parts, list):  # (no list where the spec has one: _result says the answer is malformed)
        return False
    return any(isinstance(p, dict) and p.get("type") == "output_text" and p.get("text") for p in parts)
