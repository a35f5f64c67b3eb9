"""What the OpenAI fake answers: scripted steps, and the JSON bodies the spec gives them.

A test queues steps on :class:`~tests.fakes.openai_server.FakeOpenAI`:

    fake.queue(
        reply("Paris", usage=tokens(input=120, cached=100, output=9, reasoning=4)),
        reply(tool_calls=[call("get_weather", {"city": "Paris"})]),
        rate_limited(retry_after="2"),
        reply("a long answer that breaks", cut_after=3),
    )

A :class:`Reply` serves both a plain and a streamed request (the request's ``stream`` flag decides); an
:class:`ErrorReply` is an HTTP error in OpenAI's ``{"error": {message, type, param, code}}`` shape (Azure's
own shape on Azure routes). Every body built here is checked against the spec in
``tests/test_fake_openai_server.py``, so the fake cannot drift from the API it stands for.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FakeToolCall",
    "TokenCounts",
    "Reply",
    "ErrorReply",
    "Step",
    "call",
    "tokens",
    "reply",
    "json_reply",
    "error",
    "rate_limited",
    "insufficient_quota",
    "request_too_large",
    "TOO_LARGE",
    "context_length_exceeded",
    "model_not_found",
    "server_error",
    "overloaded",
    "CREATED",
]

CREATED = 1_732_000_000
_ids = itertools.count(1)


@dataclass(slots=True)
class FakeToolCall:
    name: str
    #: a dict is sent as its JSON text; a str is sent verbatim (to script a model that breaks JSON)
    arguments: dict[str, Any] | str
    id: str

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


def call(name: str, arguments: dict[str, Any] | str | None = None, id: str | None = None) -> FakeToolCall:
    return FakeToolCall(name, {} if arguments is None else arguments, id or f"call_{next(_ids):04d}")


@dataclass(slots=True)
class TokenCounts:
    """As OpenAI counts: ``input`` includes ``cached``, ``output`` includes ``reasoning`` and a predicted output's
    ``accepted`` and ``rejected`` tokens (the spec: rejected ones are "counted in the total completion tokens for
    purposes of billing")."""

    input: int = 11
    output: int = 7
    cached: int = 0
    reasoning: int = 0
    accepted: int = 0
    rejected: int = 0


def tokens(
    input: int = 11, output: int = 7, *, cached: int = 0, reasoning: int = 0, accepted: int = 0, rejected: int = 0
) -> TokenCounts:
    return TokenCounts(input, output, cached, reasoning, accepted, rejected)


@dataclass(slots=True)
class Reply:
    text: str | None = "ok"
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    usage: TokenCounts = field(default_factory=TokenCounts)
    #: chat ``finish_reason`` (default ``stop``/``tool_calls``); ``length`` and ``content_filter`` map onto
    #: the Responses API's ``incomplete`` status with that reason; ``cancelled`` (Responses API only) is that status,
    #: as vLLM's Responses API ends an answer its engine aborted (streamed, in ``response.completed``: the spec has
    #: no event of its own for it)
    finish: str | None = None
    #: the model name the server reports (default: the one asked for; real servers often name a snapshot)
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: streaming faults: send this many SSE events, then drop the connection / end the body cleanly
    #: without the terminal event / go silent until the fake is released
    cut_after: int | None = None
    truncate_after: int | None = None
    stall_after: int | None = None
    #: do not answer at all until the fake is released (for read timeouts)
    hang: bool = False
    #: streamed: each SSE event written in a pass of the event loop of its own, as a model's tokens come one by one
    #: (else every event goes out at once, and the client reads the whole stream in one read)
    drip: bool = False
    #: report no usage, as many OpenAI-compatible servers do (``usage`` is optional in the spec, and they
    #: ignore ``stream_options.include_usage``; the Responses API's response leaves its ``usage`` out)
    no_usage: bool = False
    #: answer 200 with this text/html body instead of JSON (a proxy or gateway page), streamed or not
    raw_body: str | None = None
    #: answer a streamed request with the plain JSON answer, as a server that ignores "stream": true does
    ignores_stream: bool = False
    #: the model declined: chat's ``message.refusal`` (``delta.refusal`` streamed), the Responses API's
    #: ``refusal`` content part (``response.refusal.delta`` streamed); ``text`` is then usually None (else chat's
    #: content beside it, and an output_text part before the refusal part)
    refusal: str | None = None
    #: Azure: the choice's ``content_filter_results`` (default: every category safe), streamed on the finish chunk
    filter_results: dict[str, Any] | None = None
    #: Azure's asynchronous filter, streamed: the text streams unchecked, then an annotation chunk (no delta, id and
    #: model blank, its ``content_filter_offsets`` spanning the text) flags it with these results before the finish
    flagged_after: dict[str, Any] | None = None
    #: Responses API only: the response failed (status "failed", this ``{code, message}`` as its error;
    #: streamed, ``response.failed``), after the model had used ``usage``
    failed: dict[str, str] | None = None
    #: the service tier the answer says served it (``service_tier`` on the completion, each chunk, the response;
    #: Azure's answers carry none): ``default`` unless a test scripts ``flex``, ``priority``, ``scale``
    service_tier: str = "default"
    #: Responses API only: the model reasoned first; its output starts with a reasoning item carrying this as its
    #: ``encrypted_content`` (populated by default, the spec says), which a later turn must send back
    reasoning: str | None = None
    #: Responses API only: that reasoning item carries its ``encrypted_content`` only when the request's ``include``
    #: lists ``reasoning.encrypted_content`` (null otherwise), as OpenAI's API did before it populated it by default,
    #: and as gateways that strip it unless asked still do
    encrypted_if_included: bool = False
    #: Responses API only: a message of intermediate commentary (``phase: "commentary"``, a gpt-5.3-codex preamble:
    #: "Let me check the numbers.") before the answer's, which is then ``phase: "final_answer"``
    commentary: str | None = None
    #: Responses API, streamed: the terminal event's response carries ``output: []``, the items having come only in
    #: ``response.output_item.done``, as gateways that translate other APIs (new-api, ChatGPT's Codex backend) send it
    terminal_without_output: bool = False
    #: Responses API, streamed: no ``response.output_item.done`` is sent (each item's other events are: its
    #: ``output_item.added``, its deltas and their ``.done``), as gateways that translate chat completions stream it
    without_items_done: bool = False


def reply(text: str | None = "ok", *, tool_calls: list[FakeToolCall] | None = None, **kw: Any) -> Reply:
    if tool_calls and text == "ok":
        text = None
    return Reply(text=text, tool_calls=list(tool_calls or []), **kw)


def json_reply(document: Any, **kw: Any) -> Reply:
    return Reply(text=json.dumps(document), **kw)


@dataclass(slots=True)
class ErrorReply:
    status: int
    message: str = "scripted failure"
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: a raw body instead of the JSON error object (``404 page not found`` from a plain router)
    raw: str | None = None
    content_type: str = "text/plain"
    #: on a streamed request: answer 200, send a first delta, then the error as a stream event
    in_stream: bool = False


Step = Reply | ErrorReply


def error(status: int, message: str = "scripted failure", **kw: Any) -> ErrorReply:
    return ErrorReply(status, message, **kw)


def rate_limited(
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    reset_requests: str | None = None,
    reset_tokens: str | None = None,
    remaining_requests: str | None = None,
    remaining_tokens: str | None = None,
    message: str = "Rate limit reached for gpt-4o in organization org-test on requests per min (RPM): Limit 500.",
) -> ErrorReply:
    headers = {
        name: value
        for name, value in (
            ("Retry-After", retry_after),
            ("retry-after-ms", retry_after_ms),
            ("x-ratelimit-reset-requests", reset_requests),
            ("x-ratelimit-reset-tokens", reset_tokens),
            ("x-ratelimit-remaining-requests", remaining_requests),
            ("x-ratelimit-remaining-tokens", remaining_tokens),
        )
        if value is not None
    }
    return ErrorReply(429, message, type="requests", code="rate_limit_exceeded", headers=headers)


def insufficient_quota() -> ErrorReply:
    return ErrorReply(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


#: OpenAI's 429 for a request larger than the organisation's tokens-per-minute limit for the model (prompt plus
#: max_tokens): no wait will let it through
TOO_LARGE = (
    "Request too large for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Requested 36881. "
    "The input or output tokens must be reduced in order to run successfully. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)


def request_too_large() -> ErrorReply:
    return ErrorReply(429, TOO_LARGE, type="tokens", code="rate_limit_exceeded")


def context_length_exceeded(limit: int = 128000, asked: int = 130512) -> ErrorReply:
    return ErrorReply(
        400,
        f"This model's maximum context length is {limit} tokens. However, your messages resulted in {asked} "
        "tokens. Please reduce the length of the messages.",
        type="invalid_request_error",
        code="context_length_exceeded",
        param="messages",
    )


def model_not_found(model: str) -> ErrorReply:
    return ErrorReply(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
    )


def server_error() -> ErrorReply:
    return ErrorReply(
        500, "The server had an error while processing your request. Sorry about that!", type="server_error"
    )


def overloaded() -> ErrorReply:
    return ErrorReply(503, "The engine is currently overloaded, please try again later", type="server_error")


# --- bodies ---------------------------------------------------------------------------------------


def error_body(err: ErrorReply, *, azure: bool = False) -> dict[str, Any]:
    if azure:
        # Azure's errorResponse: errorBase {code, message} + param/type, no nulls
        body: dict[str, Any] = {"code": err.code or str(err.status), "message": err.message}
        if err.param is not None:
            body["param"] = err.param
        if err.type:
            body["type"] = err.type
        return {"error": body}
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


def chat_usage(u: TokenCounts) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": u.accepted,
            "rejected_prediction_tokens": u.rejected,
        },
    }


def _finish(r: Reply) -> str:
    return r.finish or ("tool_calls" if r.tool_calls else "stop")


def azure_filters() -> dict[str, Any]:
    safe = {"filtered": False, "severity": "safe"}
    return {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}


def chat_completion(model: str, r: Reply, *, azure: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": r.text, "refusal": r.refusal}
    if r.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
            for c in r.tool_calls
        ]
    choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(r)}
    body: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids):06d}",
        "object": "chat.completion",
        "created": CREATED,
        "model": r.model or model,
        "choices": [choice],
        "usage": chat_usage(r.usage),
        "system_fingerprint": "fp_fake",
    }
    if r.no_usage:
        del body["usage"]
    if azure:
        choice["content_filter_results"] = r.filter_results or azure_filters()
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": azure_filters()}]
    else:
        body["service_tier"] = r.service_tier
    return body


def azure_prompt_filter_chunk() -> dict[str, Any]:
    """The first chunk of an Azure stream: the prompt's filter results, ``choices`` empty, id and model blank
    (Azure sends ``object`` blank too; the 2024-10-21 spec the fake is checked against requires the chunk's)."""
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "chat.completion.chunk",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": azure_filters()}],
    }


def _pieces(text: str) -> list[str]:
    """A text split the way models stream it: word by word, the space leading."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def chat_chunks(model: str, r: Reply, *, include_usage: bool, azure: bool = False) -> list[dict[str, Any] | str]:
    """``chat.completion.chunk`` objects: role, content deltas, tool-call deltas, finish, usage, ``[DONE]``."""
    include_usage = include_usage and not r.no_usage
    base = {
        "id": f"chatcmpl-{next(_ids):06d}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": r.model or model,
        "system_fingerprint": "fp_fake",
    }
    if not azure:
        base["service_tier"] = r.service_tier  # on every chunk, as OpenAI sends it
    if include_usage:
        base["usage"] = None  # every chunk carries usage: null until the last one (as OpenAI sends it)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    out: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": piece}) for piece in _pieces(r.text)] if r.text else []
    out += [chunk({"refusal": piece}) for piece in _pieces(r.refusal)] if r.refusal else []
    for n, c in enumerate(r.tool_calls):
        head = {"index": n, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
        out.append(chunk({"tool_calls": [head]}))
        args = c.arguments_json()
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            out.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    out.append(chunk({}, _finish(r)))
    if include_usage:
        out.append({**base, "choices": [], "usage": chat_usage(r.usage)})
    out.append("[DONE]")
    return out


def chat_error_chunk(err: ErrorReply) -> dict[str, Any]:
    return error_body(err)


# --- Responses API --------------------------------------------------------------------------------


def _message_item(item_id: str, text: str | None, status: str, *, refusal: str | None = None) -> dict[str, Any]:
    """A message item; with a ``refusal``, its refusal part, after an output_text part of ``text`` where that is not
    None (a model that wrote nothing, or only whitespace, before it declined)."""
    said = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    parts = [said] if refusal is None or text is not None else []
    parts += [{"type": "refusal", "refusal": refusal}] if refusal is not None else []
    content = parts if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _phased(item: dict[str, Any], phase: str) -> dict[str, Any]:
    return {**item, "phase": phase}


def _reasoning_item(response_id: str, encrypted: str | None) -> dict[str, Any]:
    return {"type": "reasoning", "id": f"rs_{response_id}", "summary": [], "encrypted_content": encrypted}


def _encrypted(body: dict[str, Any], r: Reply) -> str | None:
    """The encrypted content of the answer's reasoning item, as the request's ``include`` has it given."""
    asked = "reasoning.encrypted_content" in (body.get("include") or [])
    return r.reasoning if asked or not r.encrypted_if_included else None


def _call_item(c: FakeToolCall, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{c.id}",
        "call_id": c.id,
        "name": c.name,
        "arguments": arguments,
        "status": status,
    }


def response_object(body: dict[str, Any], r: Reply, *, response_id: str, status: str = "completed") -> dict[str, Any]:
    """The ``Response`` object as OpenAI returns it, echoing the request's settings."""
    output: list[dict[str, Any]] = []
    if status != "in_progress":
        if r.reasoning is not None:
            output.append(_reasoning_item(response_id, _encrypted(body, r)))
        if r.commentary is not None:
            output.append(_phased(_message_item(f"msg_{response_id}_c", r.commentary, "completed"), "commentary"))
        if r.refusal is not None:
            output.append(_message_item(f"msg_{response_id}", r.text, "completed", refusal=r.refusal))
        elif r.text is not None:
            answer = _message_item(f"msg_{response_id}", r.text, "completed")
            output.append(_phased(answer, "final_answer") if r.commentary is not None else answer)
        output += [_call_item(c, c.arguments_json(), "completed") for c in r.tool_calls]
    incomplete = None
    if status == "completed" and body.get("background"):
        # background mode: answered at once, before the model has begun; the answer is fetched later
        status, output = "queued", []
    if status == "completed" and r.failed is not None:
        status, output = "failed", []
    if status == "completed" and r.finish in ("length", "content_filter"):
        status = "incomplete"
        incomplete = {"reason": "max_output_tokens" if r.finish == "length" else "content_filter"}
    if status == "completed" and r.finish == "cancelled":
        status = "cancelled"
    u = r.usage
    usage = {
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached, "cache_write_tokens": 0},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    }
    obj = {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "completed_at": CREATED + 1 if status == "completed" else None,
        "error": r.failed if status == "failed" else None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": r.model or body.get("model", ""),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": r.service_tier,
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text", {"format": {"type": "text"}}),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "metadata": body.get("metadata", {}),
    }
    # the spec has no null usage: it is absent until the response is done, and from a server that reports none (Response
    # does not require it: gateways that translate chat completions from a server that counts nothing leave it out)
    if status not in ("in_progress", "queued") and not r.no_usage:
        obj["usage"] = usage
    return obj


def response_events(body: dict[str, Any], r: Reply, *, response_id: str) -> list[dict[str, Any]]:
    """The typed events of a streamed response, ``response.created`` .. ``response.completed``."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "response.output_item.done" and r.without_items_done:
            return
        events.append({"type": kind, "sequence_number": len(events), **fields})

    started = response_object(body, r, response_id=response_id, status="in_progress")
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    index = 0
    if r.reasoning is not None:
        item = _reasoning_item(response_id, _encrypted(body, r))
        emit("response.output_item.added", output_index=index, item={**item, "encrypted_content": None})
        emit("response.output_item.done", output_index=index, item=item)
        index += 1
    if r.commentary is not None:
        item_id = f"msg_{response_id}_c"
        said = _phased(_message_item(item_id, "", "in_progress"), "commentary")
        emit("response.output_item.added", output_index=index, item=said)
        for piece in _pieces(r.commentary):
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            emit("response.output_text.delta", **where, delta=piece, logprobs=[])
        said = _phased(_message_item(item_id, r.commentary, "completed"), "commentary")
        emit("response.output_item.done", output_index=index, item=said)
        index += 1
    if r.refusal is not None:
        item_id = f"msg_{response_id}"
        emit("response.output_item.added", output_index=index, item=_message_item(item_id, "", "in_progress"))
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        emit("response.content_part.added", **where, part={"type": "refusal", "refusal": ""})
        for piece in _pieces(r.refusal):
            emit("response.refusal.delta", **where, delta=piece)
        emit("response.refusal.done", **where, refusal=r.refusal)
        emit("response.content_part.done", **where, part={"type": "refusal", "refusal": r.refusal})
        done = _message_item(item_id, r.text, "completed", refusal=r.refusal)
        emit("response.output_item.done", output_index=index, item=done)
        index += 1
    elif r.text is not None:
        item_id = f"msg_{response_id}"
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit("response.output_item.added", output_index=index, item=_message_item(item_id, "", "in_progress"))
        emit("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part)
        for piece in _pieces(r.text):
            emit(
                "response.output_text.delta",
                item_id=item_id,
                output_index=index,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        emit("response.output_text.done", **where, text=r.text, logprobs=[])
        emit("response.content_part.done", **where, part={**part, "text": r.text})
        done = _message_item(item_id, r.text, "completed")
        emit(
            "response.output_item.done",
            output_index=index,
            item=_phased(done, "final_answer") if r.commentary else done,
        )
        index += 1
    for c in r.tool_calls:
        args = c.arguments_json()
        item_id = f"fc_{c.id}"
        emit("response.output_item.added", output_index=index, item=_call_item(c, "", "in_progress"))
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            emit("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece)
        emit(
            "response.function_call_arguments.done",
            item_id=item_id,
            name=c.name,
            output_index=index,
            arguments=args,
        )
        emit("response.output_item.done", output_index=index, item=_call_item(c, args, "completed"))
        index += 1
    final = response_object(body, r, response_id=response_id)
    if r.terminal_without_output:
        final["output"] = []
    terminal = {"incomplete": "response.incomplete", "failed": "response.failed"}.get(final["status"])
    emit(terminal or "response.completed", response=final)
    return events


def response_error_event(err: ErrorReply, sequence_number: int) -> dict[str, Any]:
    return {
        "type": "error",
        "code": err.code,
        "message": err.message,
        "param": err.param,
        "sequence_number": sequence_number,
    }


def new_response_id() -> str:
    return f"resp_{next(_ids):06d}"
