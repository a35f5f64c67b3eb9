"""Reading an Anthropic Messages answer, whole or streamed: its content blocks (text, thinking, tool calls, the forced
JSON tool's document), its stop reason and its usage, into an :class:`~magsag_mcp.types.LLMResult`; a stream's events
(message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error) gathered into the same.
The request side, the endpoint and the provider are in :mod:`.anthropic`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import strict_json
from ..errors import (
    ContextTooLongError,
    MalformedResponseError,
    ProviderConnectionError,
)
from ..text import one_line
from ..transport import SSEEvent
from ..types import FinishReason, LLMResult, ToolCall, Usage
from .anthropic_errors import anthropic_error
from .anthropic_paused import container_of, paused, paused_turn
from .anthropic_thinking import signature_for
from .anthropic_usage import usage as _usage
from .content_filters import filtered
from .empty_answers import unknown_end
from .http_errors import IN_STREAM
from .json_output import StreamedDocument
from .openai_errors import error_status
from .wire_format import StreamAccumulator, a_reason, an_object, call_id, prompt_part, with_reported_usage
from .wire_format import said as word_said  # (read_answer's own `said` is a refusal's text)

if TYPE_CHECKING:
    from .anthropic import AnthropicMessagesFormat

#: the forced tool that carries a JSON-schema answer
JSON_TOOL = "json_output"
#: the forced tool when the schema is not an object: its input is {"value": <the document>}. A name of
#: its own, so that an object schema whose only property is "value" is never unwrapped.
JSON_VALUE_TOOL = "json_value_output"

_STOP: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # pause_turn is left out on purpose: a paused turn is not finished (see read_answer)
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

#: stop reasons that leave no answer when nothing came with them (a stop sequence may end an answer at once)
_EMPTY_IS_NO_ANSWER = frozenset({"end_turn", "tool_use"})


def read_answer(
    content: list[dict[str, Any]],
    stop_reason: str | None,
    usage: Any,
    data: dict[str, Any],
    provider: str,
    model: str,
    wire: AnthropicMessagesFormat,
) -> LLMResult:
    if stop_reason == "":  # (a gateway's zero value: no reason, read as a missing one is, not as one unknown)
        stop_reason = None
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[dict[str, Any]] = []  # the thinking since the last tool call: it goes back with the next one
    for block in content:
        block = an_object(block, "a content block", provider, model)
        kind = block.get("type")
        if kind == "text":
            texts.append(_text(block.get("text"), "a text block's text", provider, model))
        elif kind in ("thinking", "redacted_thinking"):
            thoughts.append(block)
        elif kind == "tool_use":
            args = block.get("input")
            if not isinstance(args, dict):
                raise MalformedResponseError(
                    f"{provider}:{model}: tool_use input is not an object", provider=provider, model=model
                )
            its_id = call_id(block.get("id"), f"toolu_{len(calls)}", provider, model)
            calls.append(ToolCall(its_id, _tool_name(block, provider, model), args, signature_for(thoughts, model)))
            thoughts = []
    finish = _STOP.get(stop_reason, "other")
    if finish == "length" and content and content[-1].get("type") == "tool_use":
        # Stopped inside the call: unstreamed, the API answers with the input written so far, as an object (a JSON
        # answer cut mid-string would pass its schema); streamed, its JSON does not parse (see MessagesStream)
        cut = MalformedResponseError(
            f"{provider}:{model}: {_cut_short(content[-1].get('name'), stop_reason)}", provider=provider, model=model
        )
        raise with_reported_usage(cut, _usage(usage))
    if finish == "content_filter":
        # "refusal": the streaming classifiers stopped the answer; whatever text came before is not an answer.
        details = stop if isinstance(stop := data.get("stop_details"), dict) else {}
        # (the vendor's words on one line, without control characters, and bounded, as every vendor's are quoted)
        why = ", ".join(one_line(str(details[k]), 200) for k in ("category", "explanation") if details.get(k))
        said = f"the model refused (stop_reason: refusal{': ' + why if why else ''})"
        # The tokens before the refusal are billed: the attempt is recorded at their cost.
        came = any(t.strip() for t in texts) or bool(calls)
        raise filtered(said, _usage(usage), provider=provider, model=model, came=came)
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
    # (after a prefill, or a paused turn's text sent back, an end_turn with nothing in it is the model adding nothing:
    # see AnthropicMessagesFormat)
    nothing_to_add = (wire.continues or wire.resumes) and stop_reason == "end_turn"
    if stop_reason in _EMPTY_IS_NO_ANSWER and not text.strip() and not calls and not nothing_to_add:
        # Claude at times answers with no content at all (the API's docs: "empty responses with end_turn"), or a
        # tool_use stop with no tool_use block in it: billed, and no answer; the next target may serve the call
        empty = MalformedResponseError(
            f"{provider}:{model}: no usable answer (stop_reason: {stop_reason}, with no content)",
            provider=provider,
            model=model,
        )
        raise with_reported_usage(empty, _usage(usage))
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
            raise with_reported_usage(full, _usage(usage))  # the prompt was read, and is billed
        warnings.append(
            f"{provider}:{model} stopped at its context window (stop_reason: model_context_window_exceeded): the "
            f"answer may be cut short; {fix}"
        )
    held = None
    if stop_reason == "pause_turn":  # (continued by the cascade: see cascade_paused.py)
        warnings.append(paused(provider, model))
        held = paused_turn(content)
    elif stop_reason is None:
        warnings.append(unended(bool(text.strip() or calls), _usage(usage), provider, model))
    elif stop_reason not in _STOP and (
        note := unknown_end(
            stop_reason, "stop_reason", bool(text.strip() or calls), _usage(usage), provider=provider, model=model
        )
    ):
        warnings.append(note)  # (a reason newer than this reader: the beta's "compaction")
    answered = _usage(usage)
    # the model the Message says answered (an alias's dated id), kept on the attempt as it is for OpenAI's snapshot
    answered.answering_model = word_said(data.get("model"))
    return LLMResult(
        text=text,
        provider=provider,
        model=data.get("model") or model,
        usage=answered,
        tool_calls=calls,
        finish_reason=finish,
        warnings=warnings,
        response_id=data.get("id"),
        stop_explained=explained,
        paused=held,
        container=container_of(data),
    )


def unended(came: bool, usage: Usage, provider: str, model: str) -> str:
    """The warning of an answer without a stop_reason, which the spec says a finished one always has ("In
    non-streaming mode this value is always non-null"; a stream's message_delta gives it): a gateway's answer of a turn
    that had not ended, read as "other" with nothing said, its text passed for a whole answer (and with nothing in it,
    an empty success). As Gemini's answer without a finishReason is read (:func:`~.gemini_notes.unfinished`); with
    nothing in it there is no answer, billed at ``usage``."""
    if not came:
        empty = MalformedResponseError(
            f"{provider}:{model}: no usable answer (no stop_reason, with no content)", provider=provider, model=model
        )
        raise with_reported_usage(empty, usage)
    return (
        f"{provider}:{model} answered without a stop_reason, which a finished answer always has: the answer may not be "
        "whole; ask again, or use another model"
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


class MessagesStream(StreamAccumulator):
    """message_start, content_block_start/delta/stop, message_delta, message_stop (plus ping, error)."""

    def __init__(self, provider: str, model: str, wire: AnthropicMessagesFormat) -> None:
        self.provider, self.model, self.wire = provider, model, wire
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        #: the pieces of each block's text, thinking and signature, by (index, field), joined into the block by
        #: finish(): added to the block's string a delta at a time, each delta copied all that came before it (a long
        #: answer's or thinking's stream took time growing with the square of its length: a minute for 640 KB)
        self.pieces: dict[tuple[int, str], list[str]] = {}
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

    def prompt_counted(self) -> Usage | None:
        # message_start's usage counts the prompt whole (its cache reads and writes too), as it is billed
        return prompt_part(_usage(self.usage)) if self.usage else None

    def complete(self) -> bool:
        # message_delta (the stop_reason and the final usage) comes after every content block: past it, only
        # message_stop, which carries nothing, is still to come
        return self.done or self.stop_reason is not None

    def feed(self, event: SSEEvent) -> str:
        data = event.json_object()
        # an event named error is one, whatever its data's type (llama.cpp's flat {code, message, type}: see sse.py)
        kind = "error" if event.event == "error" else data.get("type") or event.event
        if kind == "message_start":
            self.message = an_object(data.get("message"), "message_start's message", self.provider, self.model)
            self._add_usage(self.message.get("usage"))  # (anything but an object says no count, as message_delta's)
        elif kind == "content_block_start":
            started = an_object(data.get("content_block"), "a content block", self.provider, self.model)
            index = self._index(data, kind)
            block = self.blocks[index] = dict(started)
            # (its type looked up in a set below: a list there raised TypeError, a bug of ours, not the vendor's answer)
            _text(block.get("type"), "a content block's type", self.provider, self.model)
            for field in _STREAMED:
                self.pieces.pop((index, field), None)
            if block.get("type") in _STREAMED_INPUT:
                self.partial_json[index] = []
                if self.wire.json_tool and block.get("name") in (JSON_TOOL, JSON_VALUE_TOOL) and self.document is None:
                    self.document = StreamedDocument(wrapped=block["name"] == JSON_VALUE_TOOL)
                    self.document_at = index
        elif kind == "content_block_delta":
            delta = an_object(data.get("delta"), "a content block's delta", self.provider, self.model)
            index = self._index(data, kind)
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                piece = self._piece(index, "text", delta.get("text"))
                text, self.unsent = self.unsent + piece, ""  # (after a prefill, it goes first)
                return text
            if delta.get("type") == "input_json_delta":
                piece = _text(delta.get("partial_json"), "a partial_json delta", self.provider, self.model)
                self.partial_json.setdefault(index, []).append(piece)
                if self.document is not None and index == self.document_at:
                    return self.document.feed(piece)  # the answer's text, as the caller's progress sees it
            elif delta.get("type") == "thinking_delta":  # kept: a tool call brings its thinking back
                self._piece(index, "thinking", delta.get("thinking"))
            elif delta.get("type") == "signature_delta":
                self._piece(index, "signature", delta.get("signature"))
            elif delta.get("type") == "citations_delta":
                # a web search's source of the text: part of the block, which a paused turn sends back whole
                cited = block.get("citations")
                block["citations"] = [*(cited if isinstance(cited, list) else []), delta.get("citation")]
        elif kind == "message_delta":
            delta = an_object(data.get("delta"), "message_delta's delta", self.provider, self.model)
            stop_reason = a_reason(delta.get("stop_reason"), "message_delta's stop_reason", self.provider, self.model)
            self.stop_reason = stop_reason or self.stop_reason
            for said in ("stop_details", "container"):  # (the container code execution ran in, for a continuation)
                if delta.get(said):
                    self.message = {**self.message, said: delta[said]}
            final = data.get("usage")
            self._add_usage(final)
            if not isinstance(final, dict) or final.get("output_tokens") is None:
                # MessageDeltaUsage's output_tokens (required) is the answer's count, message_start's a placeholder
                # (1): without it the answer's output is not known, nor its cost (it was priced at that 1 token)
                self.usage.pop("output_tokens", None)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            data = data if isinstance(data.get("error"), dict) else {"type": "error", "error": data}  # (flat)
            status = error_status(data["error"], 200)  # llama.cpp's integer code is an HTTP status
            # (it came in a 200: its message says where, as no "HTTP 529" was sent)
            raise anthropic_error(
                status, json.dumps(data).encode(), {}, provider=self.provider, model=self.model, where=IN_STREAM
            )
        return ""

    def _index(self, data: dict[str, Any], kind: str) -> int:
        """A content block event's ``index``, which the spec requires, an integer: missing or of another type (text,
        null), the blocks cannot be told apart nor put in order, and the answer is the server's malformed one."""
        index = data.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            said = f"{self.provider}:{self.model}: {kind} without an integer index"
            raise MalformedResponseError(said, provider=self.provider, model=self.model)
        return index

    def _piece(self, index: int, field: str, piece: Any) -> str:
        piece = _text(piece, f"a {field} delta", self.provider, self.model)
        pieces = self.pieces.get((index, field))
        if pieces is None:
            pieces = self.pieces[index, field] = []
        pieces.append(piece)
        return piece

    def _add_usage(self, raw: Any) -> None:
        """message_delta's usage over message_start's: its counts are cumulative, so one never falls. A count below
        the one already had (the ``input_tokens: 0`` SGLang's Messages API writes there, the prompt having been
        counted in message_start) is no count of less: taken, the prompt was recorded and priced as free. A null
        says nothing. A negative count is taken, to be priced as unknown, as a body's is (kept back, message_start's
        placeholder of 1 output token was priced as the answer's)."""
        for key, value in (raw if isinstance(raw, dict) else {}).items():
            if value is None:
                continue
            had = self.usage.get(key)
            if _count(value) and _count(had) and 0 <= value < had:  # (a negative one is no count: taken, as said)
                continue
            self.usage[key] = value

    def finish(self) -> LLMResult:
        if not self.complete():
            raise ProviderConnectionError(
                f"{self.provider}:{self.model}: the stream ended before message_stop",
                provider=self.provider,
                model=self.model,
            )
        for (index, field), pieces in self.pieces.items():
            block = self.blocks[index]
            block[field] = _text(block.get(field), f"a content block's {field}", self.provider, self.model) + "".join(
                pieces
            )
        self.pieces = {}
        content = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block.get("type") in _STREAMED_INPUT:
                raw = "".join(self.partial_json.get(index, []))
                try:
                    block["input"] = strict_json.loads(raw) if raw else (block.get("input") or {})
                except ValueError:
                    # stopped mid-call by the classifiers: the refusal it is; or a server tool's call (a search's
                    # query) cut by max_tokens: the API's, not the caller's, read as the whole answer's is (cut)
                    server_cut = block.get("type") == "server_tool_use" and _STOP.get(self.stop_reason) == "length"
                    if self.stop_reason == "refusal" or server_cut:
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
        result = read_answer(content, self.stop_reason, self.usage, self.message, self.provider, self.model, self.wire)
        if self.document is not None:  # its text as it streamed to the caller's progress, not re-serialized
            result.text = self.document.instead_of(result.text)
        return result


#: the fields of a content block that its deltas add to a piece at a time
_STREAMED = ("text", "thinking", "signature")
#: the blocks whose ``input`` streams as input_json_delta pieces: a tool call's, and a server tool's call (a web
#: search's query), which a paused turn sends back as it was written (left {}, as its start gives it, the search
#: sent back was one of nothing)
_STREAMED_INPUT = frozenset({"tool_use", "server_tool_use"})


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any, what: str, provider: str, model: str) -> str:
    """``value`` where the spec has a string (null or left out: none yet, as a gateway writing every field writes it);
    anything else (a number, an object) is the server's malformed answer, where joining it crashed as a bug of ours."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedResponseError(
            f"{provider}:{model}: {what} is {type(value).__name__}, not a string", provider=provider, model=model
        )
    return value


def _tool_name(block: dict[str, Any], provider: str, model: str) -> str:
    """A tool_use block's ``name``, which the spec requires: without it, the call names no tool to run."""
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedResponseError(
            f"{provider}:{model}: a tool_use block without its tool's name", provider=provider, model=model
        )
    return name
