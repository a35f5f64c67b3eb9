"""Wire format: OpenAI Responses (``POST /responses``): the request built here; the answer read in
:mod:`.openai_responses_answers`.

Used by OpenAI for models whose target asks for it (``params: {api: responses}``) and by the local
provider first, falling back to Chat Completions on servers that lack it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..errors import MalformedResponseError, ProviderError
from ..transport import HttpResponse
from ..types import Image, LLMRequest, LLMResult, Message, Usage
from .http_errors import UNDER_200
from .json_output import any_object, json_mode_system, object_rooted, says_json, schema_name, value_wrapped
from .openai_errors import body_error_status, openai_error
from .openai_models import (
    moved_for_responses,
    put_temperature,
    reasons,
    requested_effort,
    without_refused_samplers,
)
from .openai_reasoning import is_reasoning, made_by, reasoning_items, with_origin
from .openai_responses_answers import _ResponsesStream, _result, _usage
from .openai_tool_calls import RESPONSES_ID_LIMIT, WireCallIds, tool_output, tool_parts
from .wire_format import StreamAccumulator, WireFormat


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
            without_refused_samplers(body, notes, model, requested_effort(request.extra))
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
        if isinstance(data, dict) and data.get("status") == "failed" and data.get("output") is None:
            # a failed response that leaves its output (and its error) out: the failure it says, as its stream's
            # response.failed is read (see _ResponsesStream.finish), not a malformed answer
            return _result({**data, "output": []}, provider=provider, model=model)
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
