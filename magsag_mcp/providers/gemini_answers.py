"""Gemini's answer read: each GenerateContentResponse chunk of a stream (or the one of an answer not streamed, or a
stream read whole as one JSON array) into the text, the calls, the usage and how the answer ended, and the errors a
chunk or a finishReason says (a block, a broken candidate, an error said in the 200)."""

from __future__ import annotations

import secrets
from typing import Any

from ..errors import ContentFilteredError, MalformedResponseError, ProviderConnectionError
from ..text import one_line
from ..transport import SSEEvent
from ..types import FinishReason, LLMResult, ToolCall, Usage
from .content_filters import filtered
from .gemini_errors import blocked, error_in_answer
from .gemini_notes import left_out, part_kind, retiring, stopped_early, unfinished
from .gemini_usage import gemini_usage
from .http_errors import IN_STREAM
from .openai_chat_ends import with_calls
from .wire_format import (
    StreamAccumulator,
    a_list,
    a_reason,
    an_object,
    call_id,
    prompt_part,
    said,
    with_reported_usage,
)

_BLOCKED = {
    "SAFETY",
    "RECITATION",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "IMAGE_SAFETY",
    "LANGUAGE",
    # newer than gemini.json; in the discovery document's Candidate.finishReason
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "ESCALATION",
}
#: finish reasons that say the candidate is no usable answer (there is usually no content at all): the
#: tokens are billed, but the attempt failed and the next target may serve the call
_BROKEN = {
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "MALFORMED_RESPONSE",
    # the request lacked a thought signature: no answer either, and sent again as it is it would fail again
    "MISSING_THOUGHT_SIGNATURE",
}
#: finish reasons that leave no answer when the candidate came without content ("Unknown reason", an image
#: model that made no image, and a STOP with nothing in it, which Gemini at times answers); with text before
#: them, the text is the answer
_EMPTY_IS_BROKEN = {"OTHER", "FINISH_REASON_UNSPECIFIED", "NO_IMAGE", "IMAGE_OTHER", "STOP"}
_FINISH: dict[str | None, FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
#: PromptFeedback.blockReason's zero value ("Default value. This value is unused."): a gateway writing every field
#: (proto3 JSON with its defaults) puts it on each answer, which it does not block. Vertex AI's enum, and Google's genai
#: SDKs' (Python's and JS's types, which a gateway built on them writes for either API), spell it
#: BLOCKED_REASON_UNSPECIFIED
_NO_BLOCK = frozenset({"BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED"})
#: Candidate.finishReason's zero value, which ends nothing mid-stream (see GeminiStream.complete)
_UNSPECIFIED = "FINISH_REASON_UNSPECIFIED"


#: usageMetadata's counts of the answer, which grow as it comes: the latest chunk's are the ones that stand
_ANSWER_COUNTS = frozenset(
    {
        "candidatesTokenCount",
        "candidatesTokensDetails",
        "thoughtsTokenCount",
        "toolUsePromptTokenCount",
        "toolUsePromptTokensDetails",
        "totalTokenCount",
    }
)


class GeminiStream(StreamAccumulator):
    """Each SSE event is a whole GenerateContentResponse chunk; a finishReason ends the answer."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self.error_said = IN_STREAM  # where an error said in a 200 was: its message says so (came_with)
        self.texts: list[str] = []
        #: parts that are neither text, thought nor a call (an image model's picture): content all the same
        self.other_parts = 0
        #: what those parts were (a picture's MIME type, else the part's field), which the result leaves out
        self.left_out: dict[str, int] = {}
        self.calls: list[ToolCall] = []
        self.finish_reason: str | None = None
        self.finish_message: str | None = None
        #: the candidate's latest safetyRatings: a block names the categories that blocked it
        self.ratings: Any = None
        self.usage: dict[str, Any] = {}
        #: counts came with the finishReason or after it: the answer's (each chunk before carries those so far)
        self.counted_to_end = False
        self.model_version: str | None = None
        self.response_id: str | None = None
        #: the response's modelStatus: a model on its way out says so, and when it goes
        self.status: Any = None
        #: some of the answer has come (text that is not only whitespace, a call, another part): see complete()
        self.answered = False
        #: see _answer_tag
        self.tag: str | None = None
        #: a candidate said it was grounded (groundingMetadata): billed per use beside the tokens
        self.grounded = False
        #: a candidate came (an answer without one is no answer, and one with one says what came: see result())
        self.candidate_came = False

    def absorb(self, chunk: dict[str, Any]) -> str:
        if chunk.get("error") is not None:
            raise error_in_answer(chunk, self.error_said, provider=self.provider, model=self.model)
        counts = chunk.get("usageMetadata")
        if isinstance(counts, dict):  # (anything else reports no usage, as another format's usage that is no object)
            # each chunk's usageMetadata is the request's usage so far, a whole message: the last one's counts of the
            # answer are the answer's, and one it leaves out (or writes null) is none said there, never an earlier
            # chunk's (a picture's IMAGE tokens counted midway, gone from the last chunk's candidatesTokensDetails,
            # were billed at the image rate). The prompt's counts, the same on every chunk, keep the count they had
            # where a gateway writes them null or leaves them out; and a usageMetadata that counts no answer (no
            # candidatesTokenCount: the prompt alone, as the chunks before the answer's do) after one that did is no
            # count of less: the answer's counts stand (priced at none, the answer was recorded as free)
            if counts.get("candidatesTokenCount") is not None:
                self.usage = {k: v for k, v in self.usage.items() if k not in _ANSWER_COUNTS}
            self.usage.update({k: v for k, v in counts.items() if v is not None})
        feedback = an_object(chunk.get("promptFeedback"), "promptFeedback", self.provider, self.model)
        reason = a_reason(feedback.get("blockReason"), "promptFeedback's blockReason", self.provider, self.model)
        if reason and reason not in _NO_BLOCK:
            raise self._filtered(blocked("prompt", "blockReason", reason, feedback.get("safetyRatings")))
        self.model_version = chunk.get("modelVersion") or self.model_version
        self.response_id = chunk.get("responseId") or self.response_id
        self.status = chunk.get("modelStatus") or self.status
        delta = ""
        candidates = a_list(chunk.get("candidates"), "candidates", self.provider, self.model)
        if candidates:
            cand = an_object(candidates[0], "a candidate", self.provider, self.model)
            self.candidate_came = True
            content = an_object(cand.get("content"), "a candidate's content", self.provider, self.model)
            for part in a_list(content.get("parts"), "a candidate's parts", self.provider, self.model):
                if not isinstance(part, dict) or part.get("thought"):
                    continue  # thought summaries are not the answer
                # a field written null is one left unset, as proto3's JSON reads it (a gateway that writes every
                # field of the message sends "text": null beside a functionCall)
                text, fc = part.get("text"), part.get("functionCall")
                if isinstance(text, str):
                    delta += text
                elif text is not None:  # a gateway's bug, not a part of another kind (the call answered "")
                    said = f"{self.provider}:{self.model}: a part's text is {type(text).__name__}, not a string"
                    raise MalformedResponseError(said, provider=self.provider, model=self.model)
                elif isinstance(fc, dict):
                    self.calls.append(self._call(fc, part.get("thoughtSignature")))
                elif fields := [
                    k
                    for k, v in part.items()
                    if v is not None and k not in ("thoughtSignature", "partMetadata", "thought")
                ]:
                    self.other_parts += 1
                    kind = part_kind(part, fields)
                    self.left_out[kind] = self.left_out.get(kind, 0) + 1
            if cand.get("safetyRatings"):
                self.ratings = cand["safetyRatings"]
            if cand.get("groundingMetadata"):
                # grounded with Google Search (or Maps): billed per grounded prompt (per search query on Gemini 3)
                # past a free daily quota, beside the tokens; magsag sends no such tool, but an answer that says so
                # was billed for it
                self.grounded = True
            if cand.get("finishReason"):
                reason = a_reason(cand["finishReason"], "a candidate's finishReason", self.provider, self.model)
                # the zero value after a real reason says nothing: a gateway writing every field stamps it on a
                # trailing chunk (usage alone, an empty part), and over a real STOP the answer read as stopped
                # early (finish_reason "other", a warning) and its counts as ones before the end
                if reason != _UNSPECIFIED or not self._ended():
                    self.finish_reason = reason
                self.finish_message = cand.get("finishMessage") or self.finish_message
        if delta:
            self.texts.append(delta)
        if self._ended() and isinstance(counts, dict):
            self.counted_to_end = True
        if not self.answered:
            self.answered = bool(self.calls or self.other_parts or (delta and not delta.isspace()))
        return delta

    def _call(self, fc: dict[str, Any], signature: Any) -> ToolCall:
        """A functionCall part as a ToolCall. One without its name (which the spec requires) or whose args are no
        object is a malformed answer: the usage it was billed at is added where the whole answer's is known."""
        name, args = fc.get("name"), fc.get("args") or {}
        if not isinstance(name, str) or not name or not isinstance(args, dict):
            what = (
                "functionCall.args is not an object"
                if name and isinstance(name, str)
                else "functionCall without a name"
            )
            raise MalformedResponseError(
                f"{self.provider}:{self.model}: {what}", provider=self.provider, model=self.model
            )
        its_id = call_id(fc.get("id"), "", self.provider, self.model)  # ("": none came; one is made up)
        its_id = its_id or f"call_{self._answer_tag()}_{len(self.calls)}_{name}"  # (see gemini._made_up)
        return ToolCall(its_id, name, args, signature if isinstance(signature, str) else None)

    def _answer_tag(self) -> str:
        """This answer's 8 hex digits, in the ids made up for its calls: a tool loop's every answer has a call 0."""
        if self.tag is None:
            self.tag = secrets.token_hex(4)
        return self.tag

    def _filtered(self, what: str) -> ContentFilteredError:
        """A block, carrying the usage reported with it: a blocked prompt's tokens are billed too."""
        usage = self._usage() if self.usage else None
        came = bool(self.calls or self.other_parts or any(not t.isspace() for t in self.texts))
        return filtered(what, usage, provider=self.provider, model=self.model, came=came)

    def _usage(self) -> Usage:
        if self._ended() and not self.counted_to_end:
            # no counts at the end: an earlier chunk's (1 output token) were priced. The model that answered is said
            # all the same (dropped, the attempt's served_model was lost: see chat_usage)
            usage = Usage(reported=False)
        else:
            usage = gemini_usage(self.usage)
        usage.answering_model = said(self.model_version)  # (modelVersion: the attempt's served_model, as OpenAI's)
        if self.grounded and usage.reported:
            usage.server_tool_calls = (("grounded_prompt", 1),)  # (see Usage.server_tool_calls)
        return usage

    def usage_so_far(self) -> Usage | None:
        # every chunk carries the counts so far; only the one with the finishReason has the answer's
        return self._usage() if self._ended() else None

    def prompt_counted(self) -> Usage | None:
        # every chunk counts the prompt whole (promptTokenCount, its cached part), before any of the answer
        return prompt_part(gemini_usage(self.usage)) if self.usage else None

    def complete(self) -> bool:
        # Gemini has no terminal event of its own: the chunk with the candidate's finishReason, which carries the
        # answer's usage, is the last it sends. A connection lost after it lost nothing of the answer. A STOP before
        # any of the answer is none: gateways that translate another vendor's stream into this one stamp STOP on
        # every chunk without content (the reasoning phase's, first), and the answer is still to come.
        # FINISH_REASON_UNSPECIFIED ("Default value. This value is unused.") is the zero value a gateway writing every
        # field stamps on each chunk before the last: taken for the end, the rest of the answer was read only while
        # it came within a second (stream_end.after_the_end), a thinking pause cutting it, and a cut stream's counts
        # so far were priced as the answer's
        return self._ended() and (self.answered or self.finish_reason != "STOP")

    def _ended(self) -> bool:
        """Whether a finishReason that ends the answer came (see :meth:`complete`)."""
        return self.finish_reason is not None and self.finish_reason != _UNSPECIFIED

    def feed(self, event: SSEEvent) -> str:
        chunk = event.json()
        if not isinstance(chunk, dict):
            raise MalformedResponseError(f"{self.provider}:{self.model}: stream chunk is not an object")
        return self.absorb(chunk)

    def finish(self) -> LLMResult:
        return self.result(require_finish=True)

    def result(self, *, require_finish: bool) -> LLMResult:
        if require_finish and self.finish_reason is None:
            raise ProviderConnectionError(
                f"{self.provider}:{self.model}: the stream ended before a finishReason",
                provider=self.provider,
                model=self.model,
            )
        if self.finish_reason in _BLOCKED:
            raise self._filtered(blocked("answer", "finishReason", self.finish_reason, self.ratings))
        # only whitespace is no text, as empty_answers.no_answer reads every other vendor's answer
        empty = not self.calls and not self.other_parts and all(t.isspace() for t in self.texts)
        if self.finish_reason in _BROKEN or (empty and self.finish_reason in _EMPTY_IS_BROKEN):
            # (said as its text: a finishMessage that is no string, an object, was sliced for its excerpt, a TypeError;
            # on one line, as gemini_notes quotes it)
            why = f": {one_line(str(self.finish_message), 200)}" if self.finish_message else ""
            stop = self.finish_reason + (", with no content" if self.finish_reason == "STOP" else "")
            raise with_reported_usage(
                MalformedResponseError(
                    f"{self.provider}:{self.model}: no usable answer (finishReason: {stop}){why}",
                    provider=self.provider,
                    model=self.model,
                ),
                self._usage() if self.usage else None,
            )
        if not require_finish and self.finish_reason is None and empty:
            # read whole (a stream without one is cut, above): a candidate with nothing in it and no finishReason,
            # which says the model had not stopped, was said to be no candidate at all; billed, at what it reported
            what = (
                "no usable answer (a candidate with no content and no finishReason: the model had not stopped)"
                if self.candidate_came
                else "response has no candidates"
            )
            said = f"{self.provider}:{self.model}: {what}"
            none = MalformedResponseError(said, provider=self.provider, model=self.model)
            raise with_reported_usage(none, self._usage() if self.usage else None)
        # an answer of calls finishes "tool_calls"; one that max_tokens cut after a call stays "length", as Chat
        # Completions and the Responses API read it: said "tool_calls", the turn passed for whole, and the calls the
        # model had still to write were lost unsaid
        finish = with_calls(_FINISH.get(self.finish_reason, "other"), self.calls)
        return LLMResult(
            text="".join(self.texts),
            provider=self.provider,
            model=self.model_version or self.model,
            usage=self._usage(),
            tool_calls=self.calls,
            finish_reason=finish,
            response_id=self.response_id,
            warnings=[
                *retiring(self.status, self.provider, self.model),
                *left_out(self.provider, self.model, self.left_out, any(not t.isspace() for t in self.texts)),
                *(
                    []
                    if self.calls
                    else stopped_early(self.provider, self.model, self.finish_reason, self.finish_message)
                ),
                # (only an answer read whole gets here without one: a stream without one is cut, asked again)
                *(unfinished(self.provider, self.model) if self.finish_reason is None else []),
            ],
        )
