"""Wire format: OpenAI Chat Completions (``POST /chat/completions``).

Spoken by OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio and most compatible servers; the endpoint
decides where it goes and which token-limit field the server understands.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import (
    ContentFilteredError,
    MalformedResponseError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ServerError,
    excerpt,
)
from ..transport import HttpResponse, SSEEvent
from ..types import FinishReason, LLMRequest, LLMResult, Message, ToolCall, Usage
from .content_filters import cut_short, filter_note
from .json_output import any_object, json_mode_system, schema_name
from .openai_errors import error_status, openai_error
from .openai_models import is_legacy_reasoning, put_temperature, requested_effort, takes_no_stop
from .openai_tool_calls import CHAT_ID_LIMIT, WireCallIds, call_name, parse_arguments, tool_output, unwrapped
from .openai_usage import chat_usage as _usage
from .wire_format import StreamAccumulator, WireFormat, first_stops, said, with_reported_usage

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # compatible servers' own words for the same ends: Together's "eos", TGI's and watsonx's "eos_token" and
    # "stop_sequence", what an Anthropic-style server says; read as "other", an empty answer passed for the answer
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "max_tokens": "length",
    "model_length": "length",  # Mistral's: the model's context window ended the answer
}
#: a server's word for an answer it stopped short itself, whatever it had written by then: DeepSeek's "the request is
#: interrupted due to insufficient resource of the inference system", Mistral's "error", vLLM's "abort"
_INTERRUPTED = frozenset({"insufficient_system_resource", "error", "abort"})


def _with_calls(finish: FinishReason, calls: list[ToolCall]) -> FinishReason:
    """An answer of tool calls finishes as "tool_calls", as the Responses API's and Gemini's are read: Ollama before
    0.3, vLLM (a required tool_choice), OVMS and OpenAI's gpt-4o (a named tool_choice) finish one with "stop", or
    none, which a caller that runs tools on "tool_calls" took for an answer with nothing to run."""
    return "tool_calls" if calls and finish in ("stop", "other") else finish


def interrupted(finish_reason: str, usage: Usage | None, *, provider: str, model: str) -> ServerError:
    """The error of an answer the server interrupted (:data:`_INTERRUPTED`): what it wrote is not the whole answer,
    and passed as one it was (read as "other", with no word of it). Asked again, as a server error is; billed at the
    usage it reports."""
    cls = OverloadedError if finish_reason == "insufficient_system_resource" else ServerError
    said = f"{provider}:{model}: the server interrupted the answer (finish_reason {finish_reason!r}); it is not whole"
    exc = cls(said, provider=provider, model=model)
    with_reported_usage(exc, usage)
    return exc


def refused(refusal: str, usage: Usage | None, *, provider: str, model: str) -> ContentFilteredError:
    """The model declined (chat's ``message.refusal``, the Responses API's ``refusal`` content part): there is
    no answer, only the refusal's text, which says why. Billed like any answer: the error carries the usage."""
    return with_reported_usage(
        ContentFilteredError(
            f"{provider}:{model}: the model refused: {excerpt(refusal, 200)!r}", provider=provider, model=model
        ),
        usage,
    )


def content_text(content: Any) -> str:
    """``content`` as text: the spec's string, or (Mistral's reasoning models and servers copying them) a list
    of parts in the request's shape, whose "text" parts are the answer and whose "thinking" ones are not."""
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _message(msg: Message, ids: WireCallIds) -> dict[str, Any]:
    if msg.role == "tool":
        return {"role": "tool", "tool_call_id": ids.result(msg.tool_call_id), "content": tool_output(msg)}
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
    return {"role": msg.role, "content": msg.content or ""}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


class ChatCompletionsFormat(WireFormat):
    name = "openai-chat"
    empty_is_no_answer = True
    length_may_be_the_servers = True  # llama.cpp's, LM Studio's context size; their caps on output

    def __init__(
        self,
        *,
        max_tokens_field: str = "max_completion_tokens",
        max_stops: int | None = 4,
        json_mode_as_schema: bool = False,
        strict_tools: str | None = None,
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
        for m in request.messages:  # not extend() over a generator: a frame less on every attempt
            messages.append(_message(m, ids))
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
            json_schema: dict[str, Any] = {"name": name, "schema": request.json_schema}
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
        return body, notes

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return _usage(data.get("usage"), data)

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # an error body under a 2xx (a gateway's upstream failure, LM Studio's unknown route): the
            # server's error as it said it, at the status its integer code names
            raise openai_error(
                HttpResponse(error_status(data["error"], 200), {}, json.dumps(data).encode()),
                provider=provider,
                model=model,
            )
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise MalformedResponseError(
                f"{provider}:{model}: chat completion without choices[0].message", provider=provider, model=model
            ) from None
        finish = _FINISH.get(choice.get("finish_reason"), "other")
        if choice.get("finish_reason") in _INTERRUPTED:
            usage = _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None
            raise interrupted(choice["finish_reason"], usage, provider=provider, model=model)
        if finish == "content_filter" and not message.get("content") and not message.get("tool_calls"):
            raise with_reported_usage(
                ContentFilteredError(
                    f"{provider}:{model}: the answer was withheld by the provider's content filter"
                    + filter_note(choice.get("content_filter_results")),
                    provider=provider,
                    model=model,
                ),
                _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None,
            )
        refusal = message.get("refusal")
        if refusal and not message.get("content") and not message.get("tool_calls"):
            # content is null and finish_reason "stop": without this, the refusal would pass as an empty answer
            usage = _usage(data["usage"], data) if isinstance(data.get("usage"), dict) else None
            raise refused(str(refusal), usage, provider=provider, model=model)
        calls = []
        for i, tc in enumerate(message.get("tool_calls") or []):
            fn = tc.get("function") if isinstance(tc, dict) else None
            fn = fn if isinstance(fn, dict) else {}
            name = call_name(fn.get("name"), provider=provider, model=model)
            arguments = parse_arguments(fn.get("arguments"), provider=provider, model=model, cut=finish == "length")
            calls.append(ToolCall(id=tc.get("id") or f"call_{i}", name=name, arguments=arguments))  # tc: a dict, named
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
        result.finish_reason = _with_calls(finish, calls)
        result.response_id = data.get("id")
        if finish == "content_filter":
            result.warnings.append(cut_short(provider, model, filter_note(choice.get("content_filter_results"))))
        return result

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return _ChatStream(provider, model)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return openai_error(response, provider=provider, model=model)


def _choice_usage(chunk: dict[str, Any]) -> Any:
    """The usage Moonshot's (Kimi's) stream puts in its last chunk's choice, beside its finish_reason, where the
    spec puts it beside the choices: unread, every streamed answer's cost was unknown."""
    choices = chunk.get("choices")
    choice = choices[0] if isinstance(choices, list) and len(choices) == 1 else None
    return choice.get("usage") if isinstance(choice, dict) else None


def _groq_usage(chunk: dict[str, Any]) -> Any:
    """The usage Groq's stream puts in its last chunk's ``x_groq`` (beside the finish_reason), where a Groq without
    ``stream_options`` (and gateways passing its chunks on) sends no usage chunk: unread, the answer's cost was
    unknown."""
    extra = chunk.get("x_groq")
    return extra.get("usage") if isinstance(extra, dict) else None


def _carries(chunk: dict[str, Any]) -> bool:
    """Whether a chunk carries some of the answer (or of its reasoning): not the closing one, whatever else it says
    (gateways that translate Gemini, gcli2api's, put finish_reason "stop" and the usage on every chunk)."""
    deltas = [c.get("delta") or {} for c in chunk.get("choices") or () if isinstance(c, dict)]
    return any(d.get(k) for d in deltas for k in ("content", "refusal", "tool_calls", "reasoning_content", "reasoning"))


def _add_piece(slot: dict[str, Any], fn: dict[str, Any]) -> None:
    """A tool-call delta's ``function`` added to its call. The spec sends the name once and the arguments' JSON in
    pieces; NVIDIA NIM's MiniMax and others send the whole name again on every delta (joined, it was
    "read_fileread_file", a tool the caller never offered), and Venice's and others stream the arguments as the
    object itself, as an unstreamed answer may give them (joined to text, a TypeError lost the paid answer)."""
    name, args = fn.get("name"), fn.get("arguments")
    if name and name != slot["name"]:
        slot["name"] += name
    if isinstance(args, dict) and slot["arguments"] in ("", args):
        slot["arguments"] = args  # (the same object again on a later delta is the same arguments)
    elif args:  # anything else is text of the arguments' JSON, and so is an object after some of it
        so_far = slot["arguments"]
        slot["arguments"] = (so_far if isinstance(so_far, str) else json.dumps(so_far)) + (
            args if isinstance(args, str) else json.dumps(args)
        )


class _ChatStream(StreamAccumulator):
    """``chat.completion.chunk`` events, then (with include_usage) a usage chunk, then ``[DONE]`` (which some
    servers never send: a clean end after the finish_reason is a whole answer too)."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self.parts: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        #: a delta's index -> the key of its call in ``calls`` (keys count the calls in order of arrival)
        self._key_of: dict[int, int] = {}
        #: the key of the call the last tool-call delta went to
        self._last_call: int | None = None
        self.finish_raw: str | None = None
        self.usage: Usage | None = None
        #: the usage came with the finish_reason or after it: the spec's usage chunk (no choices, the last before
        #: [DONE]), or the finish_reason's own chunk, where llama.cpp's server and others put it
        self.usage_last = False
        #: the last chunk with choices was a closing one: a finish_reason and nothing of the answer (the spec's
        #: ``{"delta": {}, "finish_reason": "stop"}``), after which only the usage chunk and [DONE] are to come
        self.closed = False
        #: the stream was cut after the closing chunk, before its usage chunk (:meth:`survives_the_cut`)
        self.cut = False
        #: a finish_reason came on a chunk of the answer: a gateway stamping every chunk (gcli2api's), whose ends say
        #: nothing; and how many chunks came with one (more than one: the usage beside them is the count so far)
        self.stamped, self.finishes = False, 0
        self.done = False
        self.response_id: str | None = None
        self.model_seen: str | None = None
        self.tier_seen: str | None = None
        #: which of Azure's content filters fired, as the message of a withheld answer ends
        self.filtered = ""

    def usage_so_far(self) -> Usage | None:
        # OpenAI sends usage once, after the finish; some servers send the count so far in every chunk,
        # which is the whole answer's only once the finish_reason (or [DONE]) has come
        final = (self.finish_raw is not None and self.finishes < 2) or self.done or self.usage_last
        return self.usage if final else None

    def complete(self) -> bool:
        # [DONE], or the usage chunk before it: "an additional chunk will be streamed before the data: [DONE]
        # message ... the choices field will always be an empty array", or a finish_reason's chunk that carries
        # the usage itself (a clean end after the finish_reason alone is read as whole by finish())
        return self.done or self.usage_last

    def survives_the_cut(self) -> bool:
        # Not a finish_reason on a chunk that carries text: gateways that put finish_reason "stop" on every chunk
        # (see _carries) would have an answer cut midway taken for a whole one.
        self.cut = self.closed
        return self.closed

    def feed(self, event: SSEEvent) -> str:
        if event.data == "[DONE]":
            self.done = True
            return ""
        chunk = event.json_object()
        if "error" in chunk or event.event == "error":
            # {"error": {...}} in a chunk, or an event named "error" whose data is the error itself (llama.cpp's)
            body = chunk if "error" in chunk else {"error": chunk}
            raise openai_error(
                HttpResponse(error_status(body["error"]), {}, json.dumps(body).encode()),
                provider=self.provider,
                model=self.model,
            )
        self.response_id = self.response_id or chunk.get("id")
        self.model_seen = self.model_seen or said(chunk.get("model"))
        self.tier_seen = chunk.get("service_tier") or self.tier_seen
        usage = chunk.get("usage") or _choice_usage(chunk) or _groq_usage(chunk)
        if usage:
            self.usage = _usage(usage, chunk)
            self.usage.service_tier = self.usage.service_tier or said(self.tier_seen)  # (read once, not per chunk)
            self.usage.answering_model = self.usage.answering_model or self.model_seen
        delta_text = ""
        finished = False
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                delta_text += content if isinstance(content, str) else content_text(content)
            if delta.get("refusal"):
                self.refusal.append(delta["refusal"])
            for tc in delta.get("tool_calls") or []:
                slot = self._slot(tc)
                if tc.get("id"):
                    slot["id"] = tc["id"]
                _add_piece(slot, tc.get("function") or {})
            if choice.get("finish_reason"):
                self.finish_raw = choice["finish_reason"]
                finished = True
            if "content_filter_results" in choice:  # Azure's, on each choice
                self.filtered = filter_note(choice["content_filter_results"]) or self.filtered
        self.finishes += finished
        if finished or self.closed:  # closed by a finish that carries nothing, opened again by any of the answer
            carries = _carries(chunk)
            self.stamped = self.stamped or (finished and carries)  # (and a first chunk, the role alone, closes nothing)
            self.closed = not carries and not self.stamped and bool(self.parts or self.calls or self.refusal)
        # after the choices: its finish counts (a stamping gateway's, beside choices, does not: its usage so far)
        if usage and self.finish_raw is not None and not _carries(chunk):
            self.usage_last = self.usage_last or not (self.stamped and chunk.get("choices"))
        if delta_text:
            self.parts.append(delta_text)
        return delta_text

    def _slot(self, tc: dict[str, Any]) -> dict[str, Any]:
        """The call a tool-call delta continues, or a new one. The spec keys the deltas by ``index``; some
        compatible servers leave it out (Gemini's OpenAI endpoint) or give parallel calls all the same one,
        sending each call with its own id. So a delta with an id other than its call's starts a new call, and
        one without an index continues the call the last delta went to."""
        index, call_id = tc.get("index"), tc.get("id")
        key = self._key_of.get(index) if isinstance(index, int) else self._last_call
        slot = self.calls.get(key) if key is not None else None
        if slot is None or (call_id and slot["id"] not in (None, call_id)):
            key = len(self.calls)
            slot = self.calls[key] = {"id": None, "name": "", "arguments": ""}
            if isinstance(index, int):
                self._key_of[index] = key
        self._last_call = key
        return slot

    def finish(self) -> LLMResult:
        if not self.done and self.finish_raw is None:
            raise ProviderConnectionError(
                f"{self.provider}:{self.model}: the stream ended before the answer was complete",
                provider=self.provider,
                model=self.model,
            )
        # finish_reason came and the stream then ended cleanly (a dropped connection fails in the transport,
        # before this): the answer is whole, whether or not [DONE] followed. llama.cpp's server before
        # 2024-09, ik_llama.cpp without --send-done and TGI before 2.2 never send it.
        if self.finish_raw in _INTERRUPTED:
            raise interrupted(self.finish_raw, self.usage, provider=self.provider, model=self.model)
        finish = _FINISH.get(self.finish_raw, "other")
        text = "".join(self.parts)
        if self.finish_raw is None and not text and not self.calls and not self.refusal:
            # [DONE] after no choice at all (a gateway closing a stream it could not serve): no answer, as
            # a completion without choices is none
            raise MalformedResponseError(
                f"{self.provider}:{self.model}: the stream ended with [DONE] but carried no answer",
                provider=self.provider,
                model=self.model,
            )
        if finish == "content_filter" and not text and not self.calls:
            raise with_reported_usage(
                ContentFilteredError(
                    f"{self.provider}:{self.model}: the answer was withheld by the provider's content filter"
                    + self.filtered,
                    provider=self.provider,
                    model=self.model,
                ),
                self.usage,
            )
        if self.refusal and not text and not self.calls:
            raise refused("".join(self.refusal), self.usage, provider=self.provider, model=self.model)
        calls = [
            ToolCall(
                id=slot["id"] or f"call_{i}",
                name=call_name(slot["name"], provider=self.provider, model=self.model),
                arguments=parse_arguments(
                    slot["arguments"], provider=self.provider, model=self.model, cut=finish == "length"
                ),
            )
            for i, slot in sorted(self.calls.items())
        ]
        calls = unwrapped(calls)
        result = LLMResult(
            text=text,
            provider=self.provider,
            model=self.model_seen or self.model,
            usage=self.usage or Usage(reported=False),
            tool_calls=calls,
            finish_reason=_with_calls(finish, calls),
            response_id=self.response_id,
        )
        if finish == "content_filter":
            result.warnings.append(cut_short(self.provider, self.model, self.filtered))
        if self.cut:
            result.warnings.append(
                f"{self.provider}:{self.model}: the stream was cut after the answer's end, before the usage it was to "
                "report; the answer is kept, not asked for (and paid for) again"
            )
        return result
