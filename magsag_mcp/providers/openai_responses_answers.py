"""The OpenAI Responses API's answers: a response read (its output items, status, usage and the per-use server tools it
reports), whole or as the events of a stream. The request is built in :mod:`.openai_responses`.

(Split from openai_responses.py, unchanged: it re-exports ``_usage`` and ``_ResponsesStream``, where tests import
them.)"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MalformedResponseError, ProviderConnectionError
from ..transport import HttpResponse, SSEEvent
from ..types import FinishReason, LLMResult, ToolCall, Usage
from .content_filters import filtered
from .empty_answers import unknown_end
from .http_errors import IN_STREAM, response_failed
from .openai_chat_ends import (
    FILTERED,
    SERVER_ENDS,
    filtered_as,
    finish_of,
    interrupted,
    refused,
    refused_beside,
    server_end,
)
from .openai_errors import error_status, failed_status, openai_error
from .openai_reasoning import signature_for
from .openai_tool_calls import call_name, parse_arguments
from .openai_usage import both_counts, with_reasoning, with_thoughts_in_total
from .wire_format import (
    StreamAccumulator,
    a_list,
    an_object,
    call_id,
    prompt_part,
    reported_usage,
    said,
    with_reported_usage,
)


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
                    # (one that is no string, a broken server's, is read as its text, as chat's is: joined, a TypeError)
                    refusals.append(str(part.get("refusal") or ""))
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
    if refusals and not any(t.strip() for t in texts) and not calls:  # (an empty output_text beside it is no text)
        raise refused("".join(refusals), reported, provider=provider, model=model)
    finish: FinishReason = "tool_calls" if calls else "stop"
    if cut:
        finish = "length"
    elif reason is not None and finish_of(reason) == "content_filter":  # (the spec's, or a gateway's "SAFETY")
        # with some of the answer or none, as every vendor's filter is read
        came = any(t.strip() for t in texts) or bool(calls)
        stop = FILTERED + filtered_as(reason, _WHY)
        raise filtered(stop, reported, provider=provider, model=model, came=came)
    elif status == "incomplete":
        # a reason of a server's own: the spec's own example's "max_tokens", a word servers use for a cut (a watsonx
        # time limit, Claude's context window, said by server_end below), or none, is a cut; any other word is an end
        # magsag does not know (read as max_tokens' cut, its warning said to raise max_tokens, which would not help)
        finish = "length" if not reason or finish_of(reason) == "length" else "other"
    unknown = status is not None and not (isinstance(status, str) and status in _ENDED)  # (an object is unhashable)
    if unknown:
        finish = "other"  # (a status newer than this reader, or a compatible server's own word: not said to be whole)
    result = LLMResult(
        text="".join(texts),
        provider=provider,
        model=data.get("model") or model,
        usage=_usage(data.get("usage"), data),
        tool_calls=calls,
        finish_reason=finish,
        response_id=data.get("id"),
    )
    if refusals and (refusal := "".join(refusals)).strip():  # (beside text or calls: with neither, the error above)
        result.warnings.append(refused_beside(refusal, provider, model))
    if unknown:
        came = any(t.strip() for t in texts) or bool(calls)
        if note := unknown_end(status, "status", came, result.usage, provider=provider, model=model):
            result.warnings.append(note)
    elif reason and not cut and isinstance(reason, str):  # (an incomplete one's reason outside the spec's two)
        came = any(t.strip() for t in texts) or bool(calls)
        if reason in SERVER_ENDS:
            ended = server_end(reason, came, result.usage, provider=provider, model=model, field=_WHY)
            result.warnings.append(ended)
            result.stop_explained = True
        elif finish == "other":
            note = unknown_end(reason, _WHY, came, result.usage, provider=provider, model=model)
            result.warnings += [note] if note else []
    return result


#: where the Responses API says why a response is incomplete
_WHY = "incomplete_details.reason"


#: the spec's statuses of a response read as an answer (failed, cancelled, queued and in_progress are read before),
#: and none at all (a compatible server that leaves it out, or leaves it empty: the zero value of a gateway written in
#: Go, which says no more than null, as an empty finish_reason does): any other was read as "completed", its text a
#: whole answer
_ENDED = frozenset({"completed", "incomplete", None, ""})


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
    ``model`` say the tier and the model that served it, and so the rates it is billed at. Unreported, the model
    that served it is kept all the same, as Chat Completions' (see chat_usage)."""
    usage = reported_usage(_counted, raw, response)
    if not usage.reported:
        usage.answering_model = said(response.get("model"))
    return usage


def _counted(raw: dict[str, Any], response: dict[str, Any]) -> Usage:
    input_tokens, output_tokens = both_counts(raw, "input_tokens", "output_tokens")
    reasoning = int((raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    details = raw.get("input_tokens_details") or {}
    cached, written = int(details.get("cached_tokens") or 0), int(details.get("cache_write_tokens") or 0)
    # (a gateway translating Gemini to the Responses API may count its thoughts in total_tokens alone, as one
    # translating it to Chat Completions does: billed as output, they are made good from the total; one translating
    # Claude may count the cache there, which the spec counts in input_tokens: see with_thoughts_in_total)
    output = with_reasoning(raw, input_tokens, output_tokens, reasoning)
    input_tokens, output, reasoning, unsplit = with_thoughts_in_total(
        raw, input_tokens, output, reasoning, cached, written
    )
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output,
        cached_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
        total_unsplit_tokens=unsplit,
        service_tier=response.get("service_tier"),
        answering_model=response.get("model"),
        # (no count of none is said: the API has no count of server tool use, only an item for each use, whose absence
        # is no report, and the servers that speak it (Ollama, vLLM, a gateway) write no such item whatever they ran:
        # an attempt's server_tool_uses is then NULL, as a Chat Completions one's, never {} for "none")
        server_tool_calls=server_tool_calls(response.get("output")),
    )


#: the Responses API's output items of a server tool billed per call beside the tokens ($10 per 1,000 web searches,
#: $2.50 per 1,000 file searches, a code interpreter's container by the session, an image at the image model's rates,
#: which the answer's usage does not count), and the kind each is one use of: the tool's own name in the API's
#: ``tools`` (see Usage.server_tool_calls)
_PER_USE_ITEMS = {
    "web_search_call": "web_search",
    "file_search_call": "file_search",
    "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation",
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
        #: the function calls as their other documented events carry them (``response.output_item.added``'s item, the
        #: ``function_call_arguments.delta`` and ``.done`` events): the answer's calls where neither the terminal
        #: event's output nor an ``output_item.done`` lists them
        self.calls = _StreamedCalls()
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
            # (an item_id that is no string, a broken gateway's list or object, is no commentary's: looked up, it
            # raised TypeError)
            item = data.get("item_id") if self.commentary else None
            return "" if isinstance(item, str) and item in self.commentary else delta
        if kind == "response.output_item.added":
            item = data.get("item")
            if isinstance(item, dict) and item.get("phase") == "commentary" and isinstance(item.get("id"), str):
                self.commentary.add(item.get("id"))
            if isinstance(item, dict) and item.get("type") == "function_call":
                self.calls.added(data, item)
        elif kind == "response.function_call_arguments.delta":
            self.calls.delta(data)
        elif kind == "response.function_call_arguments.done":
            self.calls.done(data)
        elif kind == "response.output_item.done":
            item, index = data.get("item"), data.get("output_index")
            if isinstance(item, dict):
                if not isinstance(index, int) or isinstance(index, bool):
                    # (a gateway's that leaves out output_index: the index its call's other events gave it, so that
                    # the call is not taken twice, once whole and once from its parts)
                    index = self.calls.index_of(item.get("id"))
                self.done_items[len(self.done_items) if index is None else index] = item
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
        if self.final.get("status") == "failed" and self.final.get("output") is None:
            # a failed response that leaves its output out (a gateway's): the failure it names is the answer, as the
            # unstreamed body's error is read, not a malformed answer that loses its code and message
            self.final = {**self.final, "output": []}
        calls = self.calls.items()
        if not self.final.get("output") and (self.done_items or calls):
            # the items came in response.output_item.done alone, or a function call in the events that build it alone
            # (output_item.added, function_call_arguments.delta / .done): they are the answer (a spec-compliant
            # terminal event, whose output lists them, wins; an item's output_item.done wins over its parts)
            items = {**calls, **self.done_items}
            self.final = {**self.final, "output": [items[i] for i in sorted(items)]}
        elif isinstance(self.final.get("output"), list) and not _calls_in(self.final["output"]):
            # a terminal output that lists the message but none of the function calls streamed (a gateway that
            # writes its output from the text alone): the calls are the answer's too, in their output_index order.
            # (One that lists any call is taken as it is: its ids may be its own, and a call added twice runs twice.)
            streamed = {**calls, **self.done_items}
            missing = [streamed[i] for i in sorted(streamed) if streamed[i].get("type") == "function_call"]
            if missing:
                self.final = {**self.final, "output": [*self.final["output"], *missing]}
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


#: where the indexes of the items whose events leave out output_index start (see _StreamedCalls._index)
_GUESSED = 1 << 40


class _StreamedCalls:
    """The function calls of a Responses stream, built from the events that carry them: ``response.output_item.added``
    (the item: its ``call_id`` and ``name``, its arguments empty), ``response.function_call_arguments.delta`` (the
    arguments, piece by piece) and ``.done`` (the whole arguments and the name), each naming the item by its
    ``output_index`` and ``item_id``. Whichever of them arrive, the call is whole: a gateway that ends with
    ``output: []`` and sends no ``output_item.done`` lost it, and the answer ended with no tool call."""

    def __init__(self) -> None:
        self._started: dict[int, dict[str, Any]] = {}
        self._pieces: dict[int, list[str]] = {}
        self._whole: dict[int, dict[str, Any]] = {}
        #: the output index of each item id (a gateway's event that leaves out output_index is found by its item_id)
        self._indexes: dict[str, int] = {}
        #: the item ids whose index was guessed (an event of theirs without output_index came before one with it)
        self._guessed: set[str] = set()
        #: the indexes guessed, in order
        self._guesses: list[int] = []

    def _index(self, data: dict[str, Any], item_id: Any) -> int:
        index = data.get("output_index")
        named = isinstance(item_id, str)
        if isinstance(index, int) and not isinstance(index, bool):
            if named and item_id in self._guessed:
                # its arguments came before the event that says where it is: they move there, not stay a call of no
                # name (which failed the whole answer as malformed)
                self._guessed.discard(item_id)
                self._move(self._indexes[item_id], index)
                self._indexes[item_id] = index
            found = index
        elif named and item_id in self._indexes:
            found = self._indexes[item_id]
        else:
            # past every index a response has: a guess is no other item's place (the arguments of one item put at an
            # index a later item's output_item.added names were that item's, and moved with them), and one never
            # placed comes after those that were
            found = _GUESSED + len(self._guesses)
            self._guesses.append(found)
            if named:
                self._guessed.add(item_id)
        if named:
            self._indexes.setdefault(item_id, found)
        return found

    def _move(self, guessed: int, index: int) -> None:
        for parts in (self._started, self._whole):
            if guessed in parts:
                parts.setdefault(index, parts.pop(guessed))
        if guessed in self._pieces:
            self._pieces[index] = self._pieces.pop(guessed) + self._pieces.get(index, [])

    def index_of(self, item_id: Any) -> int | None:
        """The output index the events of item ``item_id`` gave it (None: no event named it)."""
        return self._indexes.get(item_id) if isinstance(item_id, str) else None

    def added(self, data: dict[str, Any], item: dict[str, Any]) -> None:
        self._started[self._index(data, item.get("id"))] = item

    def delta(self, data: dict[str, Any]) -> None:
        piece = data.get("delta")
        index = self._index(data, data.get("item_id"))
        self._pieces.setdefault(index, []).append(piece if isinstance(piece, str) else "")

    def done(self, data: dict[str, Any]) -> None:
        self._whole[self._index(data, data.get("item_id"))] = data

    def items(self) -> dict[int, dict[str, Any]]:
        """The calls as FunctionToolCall items, by output index."""
        calls: dict[int, dict[str, Any]] = {}
        for index in sorted({*self._started, *self._pieces, *self._whole}):
            started, whole = self._started.get(index, {}), self._whole.get(index, {})
            item = {"type": "function_call", **started, "status": "completed"}
            item.setdefault("id", whole.get("item_id"))
            if whole.get("name"):  # (.done names the function; output_item.added's item did already)
                item["name"] = whole["name"]
            if isinstance(whole.get("arguments"), str):
                item["arguments"] = whole["arguments"]
            elif index in self._pieces:
                item["arguments"] = "".join(self._pieces[index])
            calls[index] = item
        return calls


def _calls_in(output: list[Any]) -> bool:
    """Whether a response's output lists a function call."""
    return any(isinstance(item, dict) and item.get("type") == "function_call" for item in output)


def _texts(item: dict[str, Any]) -> bool:
    """Whether an output item is a message with text in it."""
    parts = item.get("content") if item.get("type") == "message" else None
    if not isinstance(parts, list):  # (no list where the spec has one: _result says the answer is malformed)
        return False
    return any(isinstance(p, dict) and p.get("type") == "output_text" and p.get("text") for p in parts)
