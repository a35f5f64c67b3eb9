"""A Chat Completions stream (``chat.completion.chunk`` events) read into one answer, as
:class:`~.openai_chat.ChatCompletionsFormat` reads a whole one: its text, refusal, reasoning and tool calls pieced
together, its usage wherever a server puts it (the usage chunk, Moonshot's choice, Groq's ``x_groq``), and where the
stream ended (a closing chunk, ``[DONE]``, or a cut that leaves only the usage unsaid)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import MalformedResponseError, ProviderConnectionError
from ..transport import HttpResponse, SSEEvent
from ..types import LLMResult, ToolCall, Usage
from .content_filters import answer_notes, filter_note, filtered, prompt_notes
from .empty_answers import unknown_end
from .http_errors import IN_STREAM
from .openai_chat_ends import (
    FILTERED,
    INTERRUPTED,
    NOT_FINISHED,
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
from .openai_errors import error_status, failed_status, openai_error
from .openai_tool_calls import call_name, parse_arguments, unwrapped
from .openai_usage import chat_usage as _usage
from .wire_format import StreamAccumulator, a_list, a_reason, an_object, call_id, prompt_part, said

__all__ = ["ChatStream"]


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


#: a delta's keys that carry some of the answer (and function_call, the deprecated tool call, when it holds a piece)
_CARRIED = ("content", "refusal", "tool_calls", "reasoning_content", "reasoning")


def _carries(chunk: dict[str, Any]) -> bool:
    """Whether a chunk carries some of the answer (or of its reasoning): not the closing one, whatever else it says
    (gateways that translate Gemini, gcli2api's, put finish_reason "stop" and the usage on every chunk). A
    function_call of neither name nor arguments, which some gateways put on every delta, carries nothing (taken for a
    piece, the closing chunk was one of a gateway stamping every chunk: see legacy_call)."""
    deltas = [c.get("delta") or {} for c in chunk.get("choices") or () if isinstance(c, dict)]
    return any(d.get(k) for d in deltas for k in _CARRIED) or any(legacy_call(d.get("function_call")) for d in deltas)


def _add_piece(slot: dict[str, Any], fn: dict[str, Any]) -> None:
    """A tool-call delta's ``function`` added to its call. The spec sends the name once and the arguments' JSON in
    pieces; NVIDIA NIM's MiniMax and others send the whole name again on every delta (joined, it was
    "read_fileread_file", a tool the caller never offered), and Venice's and others stream the arguments as the
    object itself, as an unstreamed answer may give them (joined to text, a TypeError lost the paid answer).

    The text goes into ``slot["pieces"]``, joined once the answer is whole: added to a string a delta at a time, each
    delta copied all the arguments before it (a tool call writing a file took time growing with the square of its
    length, on the event loop)."""
    name, args = fn.get("name"), fn.get("arguments")
    if name and name != slot["name"]:
        slot["name"] += name
    pieces = slot["pieces"]
    if isinstance(args, dict) and not pieces and slot["arguments"] in ("", args):
        slot["arguments"] = args  # (the same object again on a later delta is the same arguments)
    elif args:  # anything else is text of the arguments' JSON, and so is an object after some of it
        if not pieces and slot["arguments"]:  # (an object given whole before it)
            pieces.append(json.dumps(slot["arguments"]))
        pieces.append(args if isinstance(args, str) else json.dumps(args))


#: the ends of an answer that may close it with nothing in it: the filter withheld all of it, or max_tokens was spent
#: before any of it (a reasoning model's thinking). No gateway stamps these on every chunk, as some do "stop" (see
#: _carries): a closing chunk of either ends the answer, text or none, as one after text does (see survives_the_cut)
_EMPTY_ENDS = frozenset({"content_filter", "length"})


class ChatStream(StreamAccumulator):
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
        #: which filters flagged text that had already streamed: Azure's asynchronous filter checks the text after
        #: sending it, and flags it in an annotation whose ``content_filter_offsets`` span text already sent
        self.flagged_late = ""
        #: the warnings for a prompt or an answer Azure's content filter did not check (:func:`not_checked`), or in
        #: which it detected something and let it through (:func:`let_through`)
        self.unchecked: list[str] = []

    def usage_so_far(self) -> Usage | None:
        # OpenAI sends usage once, after the finish; some servers send the count so far in every chunk,
        # which is the whole answer's only once the finish_reason (or [DONE]) has come
        final = (self._ended() and self.finishes < 2) or self.done or self.usage_last
        return self.usage if final else None

    def prompt_counted(self) -> Usage | None:
        # OpenAI counts nothing before the end; servers that count in every chunk have counted the prompt whole
        return prompt_part(self.usage)

    def _ended(self) -> bool:
        """Whether a finish_reason that ends the answer came (watsonx's "not_finished" says more is to come)."""
        return self.finish_raw is not None and self.finish_raw != NOT_FINISHED

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
        error = chunk.get("error")
        if error or event.event == "error":
            # {"error": {...}} in a chunk, or an event named "error" whose data is the error itself (llama.cpp's);
            # not "error": null, which gateways that write every field of a chunk put on each one of the answer
            body = chunk if error else {"error": chunk}
            # the status its integer code names (vLLM's, llama.cpp's), else the one its code or type stands for (a
            # spent balance said in the stream, insufficient_quota, is a 429 that no retry clears), as the Responses
            # API's error event is read (failed_status: any other code named is a refusal, no code a 500)
            err = body["error"] if isinstance(body["error"], dict) else {}
            status = error_status(err, 0) or failed_status(err.get("code"), err.get("type"))
            raise openai_error(
                HttpResponse(status, {}, json.dumps(body).encode()),
                provider=self.provider,
                model=self.model,
                where=IN_STREAM,
            )
        if "prompt_filter_results" in chunk:  # Azure's, on the first chunk
            self._unchecked(prompt_notes(self.provider, self.model, chunk["prompt_filter_results"]))
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
        for choice in a_list(chunk.get("choices"), "a chunk's choices", self.provider, self.model):
            choice = an_object(choice, "a choice", self.provider, self.model)
            delta = an_object(choice.get("delta"), "a choice's delta", self.provider, self.model)
            content = delta.get("content")
            if content:
                delta_text += content if isinstance(content, str) else content_text(content)
            if refusal := delta.get("refusal"):
                # (one that is no string, a broken server's, is read as the unstreamed answer's is: as its text)
                self.refusal.append(refusal if isinstance(refusal, str) else str(refusal))
            wire_calls = delta.get("tool_calls")
            if not wire_calls and (legacy := delta.get("function_call")):  # (looked up alone on most deltas)
                wire_calls = legacy_call(legacy)
            for tc in a_list(wire_calls, "a delta's tool_calls", self.provider, self.model):
                tc = an_object(tc, "a tool call delta", self.provider, self.model)
                slot = self._slot(tc)
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = an_object(tc.get("function"), "a tool call delta's function", self.provider, self.model)
                if not isinstance(fn.get("name") or "", str):
                    raise MalformedResponseError(
                        f"{self.provider}:{self.model}: a tool call delta's name is not a string",
                        provider=self.provider,
                        model=self.model,
                    )
                _add_piece(slot, fn)
            if choice.get("finish_reason"):
                self.finish_raw = a_reason(
                    choice["finish_reason"], "a chunk's finish_reason", self.provider, self.model
                )
                # (watsonx's "not_finished" says more is to come: kept, the stream's last word if none follows, it
                # says the answer did not end; counted as a finish, the usage so far passed for the whole answer's)
                finished = self.finish_raw != NOT_FINISHED
            if "content_filter_results" in choice:  # Azure's, on each choice
                note = filter_note(choice["content_filter_results"])
                self.filtered = note or self.filtered
                if note and "content_filter_offsets" in choice:
                    self.flagged_late = note
                self._unchecked(answer_notes(self.provider, self.model, choice["content_filter_results"]))
        self.finishes += finished
        if finished or self.closed:  # closed by a finish that carries nothing, opened again by any of the answer
            carries = _carries(chunk)
            self.stamped = self.stamped or (finished and carries)  # (and a first chunk, the role alone, closes nothing)
            came = bool(self.parts or self.calls or self.refusal) or finish_of(self.finish_raw) in _EMPTY_ENDS
            self.closed = not carries and not self.stamped and came
        # after the choices: its finish counts (a stamping gateway's, beside choices, does not: its usage so far)
        if usage and self._ended() and not _carries(chunk):
            self.usage_last = self.usage_last or not (self.stamped and chunk.get("choices"))
        if delta_text:
            self.parts.append(delta_text)
        return delta_text

    def _unchecked(self, notes: list[str]) -> None:
        for note in notes:
            if note not in self.unchecked:  # (each chunk's results may say it again)
                self.unchecked.append(note)

    def _slot(self, tc: dict[str, Any]) -> dict[str, Any]:
        """The call a tool-call delta continues, or a new one. The spec keys the deltas by ``index``; some
        compatible servers leave it out (Gemini's OpenAI endpoint) or give parallel calls all the same one,
        sending each call with its own id. So a delta with an id other than its call's starts a new call, and
        one without an index continues the call the last delta went to."""
        index, its_id = tc.get("index"), tc.get("id")
        key = self._key_of.get(index) if isinstance(index, int) else self._last_call
        slot = self.calls.get(key) if key is not None else None
        if slot is None or (its_id and slot["id"] not in (None, its_id)):
            key = len(self.calls)
            slot = self.calls[key] = {"id": None, "name": "", "arguments": "", "pieces": []}
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
        if self.finish_raw in INTERRUPTED:
            raise interrupted(self.finish_raw, self.usage, provider=self.provider, model=self.model)
        if self.flagged_late:
            # the text is what the filter flagged, not the part before a cut: withheld, as the default (synchronous)
            # filter would have withheld it, and billed
            said = (
                "the provider's content filter flagged the answer after it had streamed (Azure's asynchronous filter)"
                f"{self.flagged_late}; the answer is withheld"
            )
            raise filtered(said, self.usage, provider=self.provider, model=self.model)
        finish = finish_of(self.finish_raw)
        text = "".join(self.parts)
        if self.finish_raw is None and not text and not self.calls and not self.refusal:
            # [DONE] after no choice at all (a gateway closing a stream it could not serve): no answer, as
            # a completion without choices is none
            raise MalformedResponseError(
                f"{self.provider}:{self.model}: the stream ended with [DONE] but carried no answer",
                provider=self.provider,
                model=self.model,
            )
        if finish == "content_filter":  # with some of the answer or none, as every vendor's filter is read
            came = bool(text.strip() or self.calls)
            said = FILTERED + filtered_as(self.finish_raw) + self.filtered
            raise filtered(said, self.usage, provider=self.provider, model=self.model, came=came)
        if self.refusal and not text.strip() and not self.calls:  # (blank text beside it is no text)
            raise refused("".join(self.refusal), self.usage, provider=self.provider, model=self.model)
        calls = [
            ToolCall(
                id=call_id(slot["id"], f"call_{i}", self.provider, self.model),
                name=call_name(slot["name"], provider=self.provider, model=self.model),
                arguments=parse_arguments(
                    "".join(slot["pieces"]) if slot["pieces"] else slot["arguments"],
                    provider=self.provider,
                    model=self.model,
                    cut=finish == "length",
                ),
            )
            for i, slot in sorted(self.calls.items())
        ]
        calls = unwrapped(calls)
        result = LLMResult(
            text=text,
            provider=self.provider,
            model=self.model_seen or self.model,
            # (unreported, the model that served it all the same: see chat_usage)
            usage=self.usage or Usage(reported=False, answering_model=self.model_seen),
            tool_calls=calls,
            finish_reason=with_calls(finish, calls),
            response_id=self.response_id,
        )
        result.warnings += self.unchecked
        if self.refusal:  # (beside text or calls: with neither it is the error above)
            result.warnings.append(refused_beside("".join(self.refusal), self.provider, self.model))
        if self.finish_raw in SERVER_ENDS:
            came = bool(text.strip() or calls)
            result.warnings.append(
                server_end(self.finish_raw, came, result.usage, provider=self.provider, model=self.model)
            )
            result.stop_explained = True
        elif unknown_reason(self.finish_raw):
            came = bool(text.strip() or calls)
            note = unknown_end(
                self.finish_raw, "finish_reason", came, result.usage, provider=self.provider, model=self.model
            )
            result.warnings += [note] if note else []
        if self.cut:
            result.warnings.append(
                f"{self.provider}:{self.model}: the stream was cut after the answer's end, before the usage it was to "
                "report; the answer is kept, not asked for (and paid for) again"
            )
        return result
