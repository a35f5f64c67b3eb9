"""Wire format and endpoint: Google Gemini ``generateContent`` (v1beta).

``POST {base}/v1beta/models/{model}:generateContent`` (streaming: ``:streamGenerateContent?alt=sse``),
the key in the ``x-goog-api-key`` header, never in the URL where logs would keep it. Roles are
``user``/``model``; tool calls are ``functionCall`` parts and their results ``functionResponse``
parts. Gemini counts thinking tokens outside ``candidatesTokenCount``; our output includes them, and
counts the pictures ``candidatesTokensDetails`` reports (modality ``IMAGE``) as image tokens, priced at
the model's image rate. ``usageMetadata.serviceTier`` (flex, priority) is the tier the answer is priced at.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .. import strict_json
from ..errors import (
    ContentFilteredError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    excerpt,
)
from ..rates import bare_model
from ..transport import HttpResponse, SSEEvent, Transport
from ..types import FinishReason, LLMRequest, LLMResult, Target, ToolCall, Usage
from .anthropic_thinking import is_thinking
from .base import Endpoint, HTTPProvider
from .call_pairs import OpenCalls
from .content_filters import filtered
from .empty_calls import nothing_to_answer
from .gemini_errors import blocked, error_in_answer, gemini_error
from .gemini_json_schema import function_declaration, output_schema
from .gemini_notes import left_out, part_kind, retiring, stopped_early
from .gemini_schema import gemini_schema as gemini_schema  # where callers have imported it from
from .gemini_usage import gemini_usage
from .http_errors import IN_STREAM, UNDER_200
from .json_output import with_json_instruction
from .openai_chat_ends import with_calls
from .openai_reasoning import is_reasoning
from .wire_format import (
    StreamAccumulator,
    WireFormat,
    a_list,
    a_reason,
    an_object,
    first_stops,
    prompt_part,
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
#: the thoughtSignature Google documents for a function call in the history that Gemini did not sign
#: (https://ai.google.dev/gemini-api/docs/thought-signatures): it skips the check instead of failing it
UNSIGNED = "skip_thought_signature_validator"
#: GenerationConfig's knobs a target's params name at the top (``seed``, ``top_p``, ``thinkingConfig``), by JSON or
#: proto name: sent inside generationConfig (at the top Gemini answers 400 "Unknown name ...: Cannot find field").
#: Those magsag sets itself (maxOutputTokens, candidateCount, the response type and schema) are not here.
_GENERATION_PARAMS = {
    alias: name
    for name in (
        "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
        "enableEnhancedCivicAnswers", "responseModalities", "speechConfig", "thinkingConfig", "imageConfig",
        "mediaResolution",
    )
    for alias in (name, "".join(f"_{c.lower()}" if c.isupper() else c for c in name))
}  # fmt: skip


#: the id the answer's reader gives a call Gemini sent without one, before ``_<name>``: ``call_<answer>_<n>``, the
#: answer's own 8 hex digits (unique in a tool loop's history, as Claude requires ids to be) and the call's place in it;
#: ``call_<n>`` as earlier versions made it
_MADE_UP = re.compile(r"call_(?:[0-9a-f]{8}_)?[0-9]+")


def _made_up(call_id: str, name: str) -> bool:
    """Whether ``call_id`` is an id the answer's reader gave a call Gemini sent without one (:data:`_MADE_UP`)."""
    return call_id.endswith(f"_{name}") and _MADE_UP.fullmatch(call_id[: -len(name) - 1]) is not None


def _response_object(content: str | None, is_error: bool = False) -> dict[str, Any]:
    """functionResponse.response must be an object; tool results are usually JSON strings. A failed call's goes
    under "error" (the API: "if the function call failed to execute, the response can have an "error" key"). A
    result that is no strict JSON (a Python tool's NaN, which in the body would be none either) goes as its text."""
    if not content:
        return {"error": "(no output)"} if is_error else {}
    try:
        value = strict_json.loads(content)
    except (ValueError, RecursionError):
        value = content
    if is_error:
        return {"error": value}
    return value if isinstance(value, dict) else {"result": value}


class GeminiFormat(WireFormat):
    name = "gemini-generate-content"
    #: FunctionDeclaration.name: "Must be a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of
    #: 63", and (the API's 400) "must start with a letter or an underscore"
    tool_name_limit = 63
    tool_name_letter_first = True

    def path(self, model: str, *, stream: bool) -> str:
        collection, _, name = (
            model.partition("/") if model.startswith(("models/", "tunedModels/")) else ("models", "", model)
        )
        verb = "streamGenerateContent" if stream else "generateContent"
        # The id is one path segment: a "/" in it is encoded, never a separator, or a name such as
        # "gemini-1.5-flash/../gemini-ultra" would pass a policy's "gemini-1.5-*" and call another model.
        return f"/v1beta/{collection}/{quote(name, safe='')}:{verb}"

    def stream_params(self) -> dict[str, str]:
        return {"alt": "sse"}

    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        notes: list[str] = []
        contents: list[dict[str, Any]] = []
        names: OpenCalls[str] = OpenCalls()  # the name of the call a result answers: see call_pairs
        # A call's id goes back on it and on its result ("the client to execute the function_call and return the
        # response with the matching id"): Gemini 3 tells two results of the same function apart by it. Only an id a
        # tool result answers is sent, on both (an id on the one side alone matches nothing), and not one the reader
        # made up for a call Gemini gave none (see _made_up).
        answered = {m.tool_call_id for m in request.messages if m.role == "tool" and m.tool_call_id}
        sent: set[str] = set()
        for msg in request.messages:
            if msg.role == "tool":
                # the name of the call its id answers (what Gemini pairs them by), else its own
                name = names.answered(msg.tool_call_id) or msg.name or "tool"
                response: dict[str, Any] = {"name": name, "response": _response_object(msg.content, msg.is_error)}
                if msg.tool_call_id in sent:
                    response["id"] = msg.tool_call_id
                part = {"functionResponse": response}
                if contents and contents[-1]["role"] == "user" and "functionResponse" in contents[-1]["parts"][0]:
                    contents[-1]["parts"].append(part)
                else:
                    contents.append({"role": "user", "parts": [part]})
                continue
            if msg.role == "user":
                names.close()
            parts: list[dict[str, Any]] = []
            if msg.content:
                parts.append({"text": msg.content})
            for i, tc in enumerate(msg.tool_calls):
                names.called(tc.id, tc.name)
                call: dict[str, Any] = {"name": tc.name, "args": tc.arguments}
                if tc.id in answered and not _made_up(tc.id, tc.name):
                    sent.add(tc.id)
                    call["id"] = tc.id
                parts.append({"functionCall": call})
                # Gemini 3 refuses a turn whose first call lost its signature: a call it did not sign (another
                # model's history, a client that kept only id, name and arguments) gets Google's stand-in
                # (Anthropic's thinking blocks and OpenAI's reasoning items, which ride on a call's signature too,
                # are not Gemini's)
                foreign = is_thinking(tc.signature) or is_reasoning(tc.signature)
                signature = (None if foreign else tc.signature) or (UNSIGNED if i == 0 else None)
                if signature:
                    parts[-1]["thoughtSignature"] = signature
            if not parts:
                # an empty text part is no data to the API (400 "required oneof field 'data' must have one
                # initialized field"), and an empty turn says nothing
                continue
            role = "model" if msg.role == "assistant" else "user"
            contents.append({"role": role, "parts": parts})
        # `model` also travels in the path; the spec's GenerateContentRequest lists it as required.
        body: dict[str, Any] = {
            "model": model if model.startswith("models/") else f"models/{model}",
            "contents": contents,
        }
        system = request.system or ""
        extra = dict(request.extra)
        config: dict[str, Any] = {_GENERATION_PARAMS[k]: extra.pop(k) for k in request.extra if k in _GENERATION_PARAMS}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.stop:
            config["stopSequences"] = first_stops(request.stop, 5, "Gemini", notes)  # "(up to 5)"
        # Gemma 3 on the Gemini API takes neither (400 "Developer instruction is not enabled for models/gemma-3-27b-it",
        # "JSON mode is not enabled for ..."): the instructions, JSON's with them, open the first user turn instead
        plain = bare_model("google", model).startswith("gemma-3")
        if (request.json_output or request.json_schema is not None) and (request.tools or plain):
            # Gemini refuses function declarations beside a JSON response type (400 INVALID_ARGUMENT "Function
            # calling with a response mime type: 'application/json' is unsupported"): the model is told instead.
            system = with_json_instruction(system, request.json_schema, request.json_schema_description)
            if request.json_schema is not None:
                why = "with tools in the call, Gemini" if request.tools else "Gemma"
                notes.append(
                    f"{why} takes no JSON response type, so the JSON schema could not be enforced; the model was "
                    "instructed to answer in JSON and its answer was checked against the schema"
                )
        elif request.json_output or request.json_schema is not None:
            config["responseMimeType"] = "application/json"
            if request.json_schema is not None:
                fields, instruct = output_schema(request.json_schema, notes, request.json_schema_description, model)
                config.update(fields)
                if instruct:  # one its Schema cannot say: the model reads it, and its description
                    system = with_json_instruction(system, request.json_schema, request.json_schema_description)
        if system and plain:
            opening = contents[0] if contents and contents[0]["role"] == "user" else None
            if opening is None or "functionResponse" in opening["parts"][0]:
                contents.insert(0, {"role": "user", "parts": [{"text": system}]})
            else:
                opening["parts"].insert(0, {"text": system})
            notes.append(
                f"{bare_model('google', model)} takes no system instruction on the Gemini API; it was sent at the "
                "start of the first user turn"
            )
        elif system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if not contents:
            raise nothing_to_answer("Gemini's generateContent")
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [{"functionDeclarations": [function_declaration(t, model) for t in request.tools]}]
        if request.tool_choice is not None and request.tools:
            # without tools, a function calling config is refused (400 "Function calling config is set without
            # function_declarations"); and with no function to call, there is no choice to make
            choice = request.tool_choice
            if isinstance(choice, dict):
                fcc: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}
            else:
                fcc = {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]}
            body["toolConfig"] = {"functionCallingConfig": fcc}
        body.update(extra)
        return body, notes

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        return gemini_usage(data.get("usageMetadata") or {})

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        # streamGenerateContent without alt=sse (a proxy that dropped the query) answers its chunks, and an
        # error that cut them short, as one JSON array: read whole, as the stream would have been
        chunks = data if isinstance(data, list) and data else [data]
        if not all(isinstance(chunk, dict) for chunk in chunks):
            raise MalformedResponseError(
                f"{provider}:{model}: not a GenerateContentResponse", provider=provider, model=model
            )
        acc = _GeminiStream(provider, model)
        acc.error_said = IN_STREAM if isinstance(data, list) else UNDER_200  # (a 200's body is the error's)
        for chunk in chunks:
            acc.absorb(chunk)
        return acc.result(require_finish=False)

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return _GeminiStream(provider, model)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return gemini_error(response.status, response.body, response.headers, provider=provider, model=model)


class _GeminiStream(StreamAccumulator):
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

    def absorb(self, chunk: dict[str, Any]) -> str:
        if chunk.get("error") is not None:
            raise error_in_answer(chunk, self.error_said, provider=self.provider, model=self.model)
        # a count written null (a gateway writing every field) is one left unset: it keeps the count it had
        counts = chunk.get("usageMetadata")
        if isinstance(counts, dict):  # (anything else reports no usage, as another format's usage that is no object)
            self.usage.update({k: v for k, v in counts.items() if v is not None})
        feedback = an_object(chunk.get("promptFeedback"), "promptFeedback", self.provider, self.model)
        if feedback.get("blockReason"):
            reason = a_reason(feedback["blockReason"], "promptFeedback's blockReason", self.provider, self.model)
            raise self._filtered(blocked("prompt", "blockReason", reason, feedback.get("safetyRatings")))
        self.model_version = chunk.get("modelVersion") or self.model_version
        self.response_id = chunk.get("responseId") or self.response_id
        self.status = chunk.get("modelStatus") or self.status
        delta = ""
        candidates = a_list(chunk.get("candidates"), "candidates", self.provider, self.model)
        if candidates:
            cand = an_object(candidates[0], "a candidate", self.provider, self.model)
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
                self.finish_reason = a_reason(
                    cand["finishReason"], "a candidate's finishReason", self.provider, self.model
                )
                self.finish_message = cand.get("finishMessage") or self.finish_message
        if delta:
            self.texts.append(delta)
        if self.finish_reason is not None and isinstance(counts, dict):
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
        call_id = fc.get("id") or f"call_{self._answer_tag()}_{len(self.calls)}_{name}"  # (see _made_up)
        return ToolCall(call_id, name, args, signature if isinstance(signature, str) else None)

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
        if self.finish_reason is not None and not self.counted_to_end:
            return Usage(reported=False)  # no counts at the end: an earlier chunk's (1 output token) were priced
        usage = gemini_usage(self.usage)
        if self.grounded and usage.reported:
            usage.server_tool_calls = (("grounded prompt", 1),)  # (see Usage.server_tool_calls)
        return usage

    def usage_so_far(self) -> Usage | None:
        # every chunk carries the counts so far; only the one with the finishReason has the answer's
        return self._usage() if self.finish_reason is not None else None

    def prompt_counted(self) -> Usage | None:
        # every chunk counts the prompt whole (promptTokenCount, its cached part), before any of the answer
        return prompt_part(gemini_usage(self.usage)) if self.usage else None

    def complete(self) -> bool:
        # Gemini has no terminal event of its own: the chunk with the candidate's finishReason, which carries the
        # answer's usage, is the last it sends. A connection lost after it lost nothing of the answer. A STOP before
        # any of the answer is none: gateways that translate another vendor's stream into this one stamp STOP on
        # every chunk without content (the reasoning phase's, first), and the answer is still to come.
        return self.finish_reason is not None and (self.answered or self.finish_reason != "STOP")

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
            why = f": {excerpt(self.finish_message, 200)}" if self.finish_message else ""
            stop = self.finish_reason + (", with no content" if self.finish_reason == "STOP" else "")
            raise with_reported_usage(
                MalformedResponseError(
                    f"{self.provider}:{self.model}: no usable answer (finishReason: {stop}){why}",
                    provider=self.provider,
                    model=self.model,
                ),
                self._usage() if self.usage else None,
            )
        if not require_finish and self.finish_reason is None and not self.texts and not self.calls:
            raise MalformedResponseError(
                f"{self.provider}:{self.model}: response has no candidates", provider=self.provider, model=self.model
            )
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
            ],
        )


class GeminiEndpoint(Endpoint):
    provider = "google"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env = ("GEMINI_BASE_URL",)
    probe_path = "/v1beta/models"
    base_url_hint = (
        "the base URL (GEMINI_BASE_URL, or the target's base_url) is the server's root, without /v1beta: "
        "https://generativelanguage.googleapis.com by default"
    )
    base_url_example = "https://generativelanguage.googleapis.com (the server's root, without /v1beta)"

    def base_url(self, target: Target) -> str:
        return target.base_url or self.setting("GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com"

    def headers(self, model: str) -> dict[str, str]:
        return {"x-goog-api-key": self.require_key(model)}


class GeminiProvider(HTTPProvider):
    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(GeminiFormat(), GeminiEndpoint(env), transport)
