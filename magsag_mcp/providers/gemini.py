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
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .. import strict_json
from ..errors import (
    MalformedResponseError,
    ProviderError,
    UnsupportedFeatureError,
)
from ..gemini_thinking import thinking_tokens_beyond_max_tokens
from ..rates import bare_model
from ..transport import HttpResponse, Transport
from ..types import Image, LLMRequest, LLMResult, Message, Target, Usage
from .anthropic_thinking import is_thinking
from .base import Endpoint, HTTPProvider
from .call_pairs import OpenCalls
from .capabilities import Capabilities
from .empty_calls import nothing_to_answer
from .gemini_answers import GeminiStream
from .gemini_errors import gemini_error
from .gemini_json_schema import function_declaration, output_schema, takes_json_beside_tools
from .gemini_schema import gemini_schema as gemini_schema  # where callers have imported it from
from .gemini_usage import gemini_usage
from .http_errors import IN_STREAM, UNDER_200
from .json_output import with_json_instruction
from .openai_reasoning import is_reasoning
from .wire_format import (
    StreamAccumulator,
    WireFormat,
    first_stops,
)

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


#: why Gemini is sent no picture by its URL, and the fix
IMAGE_URL_REFUSED = (
    "Gemini takes a picture's bytes inline (inlineData) and reads no https URL there (fileData is for files uploaded "
    "to Google's own File API), and magsag-mcp never fetches a URL itself: send the picture as a data: URL "
    "(data:image/png;base64,...)"
)
#: why Gemini is sent no GIF, and the fix
GIF_REFUSED = "Gemini reads PNG, JPEG, WebP, HEIC and HEIF pictures, no GIF: send the picture as a PNG, JPEG or WebP"


def _part(part: str | Image) -> dict[str, Any]:
    """A part as the spec's Part writes it: text, or a picture's bytes as ``inlineData`` (Blob: mimeType, data)."""
    if isinstance(part, str):
        return {"text": part}
    # (a target's capabilities keep such a call from Gemini, a cascade passing it over: see GeminiProvider.caps)
    if part.data is None:
        raise UnsupportedFeatureError(IMAGE_URL_REFUSED)
    if part.media_type == "image/gif":
        raise UnsupportedFeatureError(GIF_REFUSED)
    return {"inlineData": {"mimeType": part.media_type, "data": part.data}}


def _result_pictures(msg: Message, name: str) -> list[dict[str, Any]]:
    """A tool result's pictures as parts after the results of its turn, led by a text naming its call."""
    which = f"{name}, id {msg.tool_call_id}" if msg.tool_call_id else name
    images = msg.images
    return [{"text": f"The picture{'s' if len(images) > 1 else ''} of tool call {which}:"}, *map(_part, images)]


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
                    # (after the results before it, before their pictures: see below)
                    results = contents[-1]["parts"]
                    results.insert(sum("functionResponse" in each for each in results), part)
                else:
                    contents.append({"role": "user", "parts": [part]})
                # A functionResponse takes a JSON object alone (no parts of its own in this API's FunctionResponse):
                # the result's pictures go as inlineData parts of the same user content, after its results (Content:
                # "Parts may have different MIME types"), led by a text naming the call they came from, where the
                # model reads them as pictures; as text, the base64 was read as words, each a token paid for.
                if msg.parts:
                    contents[-1]["parts"].extend(_result_pictures(msg, name))
                continue
            if msg.role == "user":
                names.close()
            parts: list[dict[str, Any]] = []
            if msg.parts:  # a user's texts and pictures in their order, each picture's bytes as the spec's Blob
                parts.extend(_part(part) for part in msg.parts if not isinstance(part, str) or part)
            elif msg.content:
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
        for tier in ("serviceTier", "service_tier"):
            if tier in extra and extra[tier] is None:
                # a null tier asks for the vendor's default, as the reservation reads it (worst_cases.request_asks);
                # the request's serviceTier is an enum string, its default ("unspecified", standard) the field left out
                del extra[tier]
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
        if (request.json_output or request.json_schema is not None) and (
            (request.tools and not takes_json_beside_tools(model)) or plain
        ):
            # Gemini before 3 refuses function declarations beside a JSON response type (400 INVALID_ARGUMENT "Function
            # calling with a response mime type: 'application/json' is unsupported"): the model is told instead.
            system = with_json_instruction(system, request.json_schema, request.json_schema_description)
            if request.json_schema is not None:
                why, fix = "Gemma", ""
                if not plain:  # (which Gemini takes both is said: the way to have the schema enforced beside tools)
                    why = f"with tools in the call, {bare_model('google', model)} (not Gemini 3 or later by its name)"
                    fix = "; Gemini 3 and later take both, and enforce the schema"
                notes.append(
                    f"{why} takes no JSON response type, so the JSON schema could not be enforced; the model was "
                    f"instructed to answer in JSON and its answer was checked against the schema{fix}"
                )
        elif request.json_output or request.json_schema is not None:
            config["responseMimeType"] = "application/json"
            if request.json_schema is not None:
                fields, instruct = output_schema(
                    request.json_schema, notes, request.json_schema_description, model, beside_tools=bool(request.tools)
                )
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
        acc = GeminiStream(provider, model)
        acc.error_said = IN_STREAM if isinstance(data, list) else UNDER_200  # (a 200's body is the error's)
        for chunk in chunks:
            acc.absorb(chunk)
        return acc.result(require_finish=False)

    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator:
        return GeminiStream(provider, model)

    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError:
        return gemini_error(response.status, response.body, response.headers, provider=provider, model=model)


class GeminiEndpoint(Endpoint):
    provider = "google"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    vendor_host = "generativelanguage.googleapis.com"
    vendor_keys = "GEMINI_API_KEY"
    vendor_name = "Google"
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
    #: a picture by its URL or a GIF is no call for Gemini (:data:`IMAGE_URL_REFUSED`, :data:`GIF_REFUSED`): a
    #: cascade passes Gemini over for it
    caps = Capabilities(image_urls=False, gif_images=False)

    @classmethod
    def output_beyond_max_tokens(cls, target: Target) -> int:
        return thinking_tokens_beyond_max_tokens(target)  # (its thoughts: see gemini_thinking)

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(GeminiFormat(), GeminiEndpoint(env), transport)
