"""Wire format: OpenAI Chat Completions (``POST /chat/completions``).

Spoken by OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio and most compatible servers; the endpoint
decides where it goes and which token-limit field the server understands. A streamed answer is read in
:mod:`.openai_chat_stream`, how an answer ended in :mod:`.openai_chat_ends`.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MalformedResponseError, ProviderError
from ..transport import HttpResponse
from ..types import Image, LLMRequest, LLMResult, Message, ToolCall, Usage
from .content_filters import answer_notes, filter_note, filtered, prompt_notes
from .empty_answers import unknown_end
from .http_errors import UNDER_200
from .json_output import any_object, json_mode_system, object_rooted, schema_name, value_wrapped
from .openai_chat_ends import (
    FILTERED,
    INTERRUPTED,
    SERVER_ENDS,
    content_text,
    filtered_as,
    finish_of,
    interrupted,
    legacy_call,
    refused,
    refused_beside,
    server_end,
    unknown_reason,
    with_calls,
)
from .openai_chat_stream import ChatStream
from .openai_errors import body_error_status, openai_error
from .openai_models import (
    is_legacy_reasoning,
    put_temperature,
    requested_effort,
    takes_no_stop,
    without_parallel_tool_calls,
    without_refused_samplers,
)
from .openai_tool_calls import CHAT_ID_LIMIT, WireCallIds, call_name, parse_arguments, tool_output, unwrapped
from .openai_usage import chat_usage as _usage
from .wire_format import StreamAccumulator, WireFormat, a_list, a_reason, call_id, first_stops

#: what a tool message that held pictures alone says, its pictures sent after it (:func:`_tool_pictures`)
PICTURES_AFTER = "(a picture: in the user message after the tool results)"


def _message(msg: Message, ids: WireCallIds) -> dict[str, Any]:
    if msg.role == "tool":
        output = tool_output(msg) or (PICTURES_AFTER if msg.parts else "")
        return {"role": "tool", "tool_call_id": ids.result(msg.tool_call_id), "content": output}
    if msg.role == "assistant" and msg.tool_calls:
        return {
            "role": "assistant",
            "content": msg.content,
            "tool_calls": [
                {
                    "id": ids.call(tc.id),
                    "type": "function",
                    "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)},
                }
                for tc in msg.tool_calls
            ],
        }
    if msg.role == "user":
        ids.user_spoke()
        if msg.parts:  # texts and pictures, as content parts in their order
            return {"role": "user", "content": [_chat_part(part) for part in msg.parts]}
    return {"role": msg.role, "content": msg.content or ""}


def _chat_part(part: str | Image) -> dict[str, Any]:
    """A content part as the spec's ChatCompletionRequestMessageContentPartText or ...PartImage writes it."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    image_url = {"url": part.as_url()}
    if part.detail is not None:
        image_url["detail"] = part.detail
    return {"type": "image_url", "image_url": image_url}


def _tool_pictures(msg: Message, sent_id: str) -> list[dict[str, Any]]:
    """The pictures of a tool result, as parts of the user message that follows the tool messages, after a text that
    names the call they came from. A tool message takes text parts alone (ChatCompletionRequestToolMessageContentPart),
    and a picture sent as its text was base64 read as words, each a token paid for; OpenAI's vision guide has pictures
    go in a user message, where the model reads them as pictures (so does an agent built on Chat Completions)."""
    named = f" ({msg.name})" if msg.name else ""
    return [
        {"type": "text", "text": f"The picture{'s' if len(msg.images) > 1 else ''} of tool call {sent_id}{named}:"},
        *(_chat_part(image) for image in msg.images),
    ]


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


class ChatCompletionsFormat(WireFormat):
    name = "openai-chat"
    #: "Must be a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 64."
    tool_name_limit = 64
    empty_is_no_answer = True
    length_may_be_the_servers = True  # llama.cpp's, LM Studio's context size; their caps on output
    wraps_json_roots = True

    def __init__(
        self,
        *,
        max_tokens_field: str = "max_completion_tokens",
        max_stops: int | None = 4,
        json_mode_as_schema: bool = False,
        strict_tools: str | None = None,
        schema_required: bool = False,
    ) -> None:
        # OpenAI and Azure take max_completion_tokens (o-series reject max_tokens) and up to 4 stop sequences;
        # most local and compatible servers only know the older max_tokens, and take more stop sequences.
        self.max_tokens_field = max_tokens_field
        self.max_stops = max_stops
        #: JSON mode sent as a JSON schema of any object (:func:`~.json_output.any_object`), for servers that
        #: refuse or ignore json_object
        self.json_mode_as_schema = json_mode_as_schema
        #: why the server takes no tool's ``strict`` (an Azure api-version from before structured outputs), or None
        self.strict_tools = strict_tools
        #: the server needs ``json_schema.schema`` (OpenAI's and Azure's specs make it optional: a name alone asks
        #: for any JSON object); one that does gets a call's name alone with the schema of any object
        self.schema_required = schema_required

    def sends_stop(self, request: LLMRequest, model: str) -> bool:
        return bool(request.stop) and not takes_no_stop(model)  # as build() decides

    def path(self, model: str, *, stream: bool) -> str:
        return "/chat/completions"

    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        legacy = is_legacy_reasoning(model)
        notes: list[str] = []
        messages: list[dict[str, Any]] = []
        system = json_mode_system(request)
        if system:
            # o1-preview/o1-mini reject the system role: the instructions go first, as a user turn.
            messages.append({"role": "user" if legacy else "system", "content": system})
            if legacy:
                notes.append(f"{model} takes no system prompt; it was sent as the first user message")
        ids = WireCallIds(CHAT_ID_LIMIT)
        pictures: list[dict[str, Any]] = []  # the pictures of the tool results before, for the user turn after them
        for m in request.messages:  # not extend() over a generator: a frame less on every attempt
            if m.role != "tool" and pictures:
                messages.append({"role": "user", "content": pictures})
                pictures = []
            messages.append(_message(m, ids))
            if m.role == "tool" and m.parts:
                pictures.extend(_tool_pictures(m, messages[-1]["tool_call_id"]))
        if pictures:
            messages.append({"role": "user", "content": pictures})
        body: dict[str, Any] = {"model": model, "messages": messages}
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        put_temperature(body, notes, model, request.temperature, requested_effort(request.extra))
        if request.stop:
            if takes_no_stop(model):
                notes.append(f"{model} has no stop sequences; 'stop' was not sent")
            else:
                limit = self.max_stops
                body["stop"] = (
                    request.stop if limit is None else first_stops(request.stop, limit, "OpenAI's API", notes)
                )
        if request.tools:
            strict = self.strict_tools is None
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters}
                    | ({"strict": True} if t.strict and strict else {}),
                }
                for t in request.tools
            ]
            if not strict and any(t.strict for t in request.tools):
                notes.append(
                    f"{self.strict_tools}: strict was not sent, and the arguments were checked against each strict "
                    "tool's schema"
                )
        if request.tool_choice is not None and request.tools:
            # beside no tools, any tool_choice is refused (400 "'tool_choice' is only allowed when 'tools' are
            # specified"); with no function to call there is no choice to make
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.json_schema is not None:
            name = schema_name(request.json_schema_name, notes)
            json_schema: dict[str, Any] = {"name": name}
            if request.json_schema_given or self.schema_required:
                schema = request.json_schema
                json_schema["schema"] = schema if object_rooted(schema) else value_wrapped(schema)
            if request.json_schema_strict:
                json_schema["strict"] = True
            if request.json_schema_description:
                json_schema["description"] = request.json_schema_description
            body["response_format"] = {"type": "json_schema", "json_schema": json_schema}
        elif request.json_output:
            body["response_format"] = (
                {"type": "json_schema", "json_schema": any_object()}
                if self.json_mode_as_schema
                else {"type": "json_object"}
            )
        if stream:
            body["stream"] = True
            # the usage chunk; an Azure api-version without it is never streamed (AzureProvider)
            body["stream_options"] = {"include_usage": True}
        if request.extra:
            body.update(request.extra)
            if not request.tools:
                # a target's parallel_tool_calls (false beside strict tools, as OpenAI's guide says) on a call of
                # no tools is refused ("'parallel_tool_calls' is only allowed when 'tools' are specified")
                body.pop("parallel_tool_calls", None)
            without_refused_samplers(body, notes, model, requested_effort(request.extra))
            without_parallel_tool_calls(body, notes, model)
        return body, notes

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return _usage(data.get("usage"), data)

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # an error body under a 2xx (a gateway's upstream failure, LM Studio's unknown route): the
            # server's error as it said it, at the status its code names
            raise openai_error(
                HttpResponse(body_error_status(data["error"]), {}, json.dumps(data).encode()),
                provider=provider,
                model=model,
                where=UNDER_200,
            )
        try:
            choice = data["choices"][0]
            message = choice["message"]
            if not isinstance(message, dict):  # (null, or text where the object goes)
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise MalformedResponseError(
                f"{provider}:{model}: chat completion without choices[0].message", provider=provider, model=model
            ) from None
        finish_reason = a_reason(choice.get("finish_reason"), "choices[0].finish_reason", provider, model)
        finish = finish_of(finish_reason)
        if finish_reason in INTERRUPTED:
            usage = _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None
            raise interrupted(finish_reason, usage, provider=provider, model=model)
        wire_calls = message.get("tool_calls")
        if not wire_calls and (legacy := message.get("function_call")):  # (looked up alone on most answers)
            wire_calls = legacy_call(legacy)
        if finish == "content_filter":  # with some of the answer or none, as every vendor's filter is read
            raise filtered(
                FILTERED + filtered_as(finish_reason) + filter_note(choice.get("content_filter_results")),
                _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None,
                provider=provider,
                model=model,
                came=bool(content_text(message.get("content")).strip() or wire_calls),
            )
        refusal = message.get("refusal")
        if refusal and not content_text(message.get("content")).strip() and not wire_calls:
            # content is null and finish_reason "stop": without this, the refusal would pass as an empty answer
            usage = _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None
            raise refused(str(refusal), usage, provider=provider, model=model)
        calls = []
        for i, tc in enumerate(a_list(wire_calls, "a message's tool_calls", provider, model)):
            fn = tc.get("function") if isinstance(tc, dict) else None
            fn = fn if isinstance(fn, dict) else {}
            name = call_name(fn.get("name"), provider=provider, model=model)
            arguments = parse_arguments(fn.get("arguments"), provider=provider, model=model, cut=finish == "length")
            its_id = call_id(tc.get("id"), f"call_{i}", provider, model)
            calls.append(ToolCall(id=its_id, name=name, arguments=arguments))  # tc: a dict, named
        calls = unwrapped(calls)
        # positional (text, provider, model, usage, tool_calls), the rest set after: a class called with
        # keywords builds and unpacks a dict of them (Python 3.11), on every answer
        result = LLMResult(
            content_text(message.get("content")),
            provider,
            data.get("model") or model,
            _usage(data.get("usage"), data),
            calls,
        )
        result.finish_reason = with_calls(finish, calls)
        result.response_id = data.get("id")
        if refusal:  # (beside text or calls: with neither it is the error above)
            result.warnings.append(refused_beside(str(refusal), provider, model))
        if finish_reason in SERVER_ENDS:
            came = bool(result.text.strip() or calls)
            result.warnings.append(server_end(finish_reason, came, result.usage, provider=provider, model=model))
            result.stop_explained = True
        elif unknown_reason(finish_reason):
            came = bool(result.text.strip() or calls)
            if note := unknown_end(finish_reason, "finish_reason", came, result.usage, provider=provider, model=model):
                result.warnings.append(note)
        if "prompt_filter_results" in data or "content_filter_results" in choice:  # Azure's
            result.warnings += prompt_notes(provider, model, data.get("prompt_filter_results"))
            result.warnings += answer_notes(provider, model, choice.get("content_filter_results"))
        return result

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return ChatStream(provider, model)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return openai_error(response, provider=provider, model=model)
