"""The Gemini fake: the Gemini API's generateContent and streamGenerateContent (``POST /v1beta/models/{model}:...``)
and ListModels, with what Google refuses of a spec-valid request (fields its Discovery document lacks, empty parts,
schemas without properties or items, Gemini 3's thought signatures, Gemma 3's system instruction).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.pictures import gemini_picture_refusal
from tests.fakes.spec import specs_dir

from .base import Fake, Step

#: the signature the fake signs Gemini 3's function calls with (base64, as the spec's bytes are), and the
#: stand-in Google documents for a call it did not answer with ("skip_thought_signature_validator")
SIGNATURES = ("c2lnbmVkIGJ5IHRoZSBmYWtl", "skip_thought_signature_validator")


def signs_calls(call: str) -> bool:
    """Gemini 3 models sign their function calls, and refuse a current turn whose calls lost the signature."""
    return call.startswith("gemini-3")


def _texts(content: dict[str, Any]) -> bool:
    return any("text" in p for p in content.get("parts") or [])


@functools.cache
def _discovery_fields(schema: str) -> frozenset[str]:
    """A message's field names in Google's Discovery document (newer than gemini.json), each as its JSON
    name (lowerCamelCase) and as its proto name (snake_case): Google's JSON parser takes either."""
    names = json.loads((specs_dir() / "gemini.discovery.json").read_text())["schemas"][schema]["properties"]
    return frozenset(names) | {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), n) for n in names}


def _first_schema(schema: Any, at: str, wrong: Callable[[dict[str, Any]], bool]) -> str | None:
    """Where in ``schema`` the first sub-schema that is ``wrong`` stands (the schema itself, then its properties, items
    and anyOf, depth first), named as Google's errors name the place, or None."""
    if not isinstance(schema, dict):
        return None
    if wrong(schema):
        return at
    subs = [(v, f'{at}.properties["{k}"]') for k, v in (schema.get("properties") or {}).items()]
    subs += [(schema.get("items"), f"{at}.items")]
    subs += [(v, f"{at}.any_of[{i}]") for i, v in enumerate(schema.get("anyOf") or [])]
    return next((found for sub, where in subs if (found := _first_schema(sub, where, wrong)) is not None), None)


def _empty_object(schema: Any, at: str) -> str | None:
    """Where in ``schema`` an OBJECT names no properties, as Google's error names the place, or None."""
    return _first_schema(schema, at, lambda s: s.get("type") == "OBJECT" and not s.get("properties"))


def _array_without_items(schema: Any, at: str) -> str | None:
    """Where in ``schema`` an ARRAY has no items (Google: "* GenerateContentRequest.<at>.items: missing field."),
    or None."""
    return _first_schema(schema, at, lambda s: s.get("type") == "ARRAY" and "items" not in s)


def _beside_ref(schema: Any) -> str | None:
    """A keyword beside a ``$ref`` that does not start with ``$``, at any depth of a JSON Schema, or None."""
    if isinstance(schema, list):
        return next((found for sub in schema if (found := _beside_ref(sub)) is not None), None)
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return next((k for k in schema if not k.startswith("$")), None)
    return next((found for sub in schema.values() if (found := _beside_ref(sub)) is not None), None)


def _unknown_field(body: dict[str, Any]) -> str | None:
    """Google's answer to a field its message lacks: 400 "Invalid JSON payload received. Unknown name ..."
    (the OpenAPI schemas allow additional properties, so the spec check alone does not catch one)."""
    config = body.get("generationConfig") or {}
    where = (
        (body, "GenerateContentRequest", ""),
        (config, "GenerationConfig", " at 'generation_config'"),
        (config.get("thinkingConfig"), "ThinkingConfig", " at 'generation_config.thinking_config'"),
    )
    for fields, schema, at in where:
        for name in fields if isinstance(fields, dict) else ():
            if name not in _discovery_fields(schema):
                return f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    return None


#: the thinkingBudget each Gemini 2.5 model takes besides -1 (dynamic thinking) and, where it may stop thinking, 0: the
#: thinking guide's table (https://ai.google.dev/gemini-api/docs/thinking#set-budget), which neither spec has (their
#: thinkingBudget is any int32); longest prefix first
_BUDGETS = (("gemini-2.5-flash-lite", 512, 24576), ("gemini-2.5-flash", 1, 24576), ("gemini-2.5-pro", 128, 32768))


@functools.cache
def _thinking_levels() -> frozenset[str]:
    """ThinkingConfig.thinkingLevel's values in Google's Discovery document (gemini.json has no such field)."""
    config = json.loads((specs_dir() / "gemini.discovery.json").read_text())["schemas"]["ThinkingConfig"]
    return frozenset(config["properties"]["thinkingLevel"]["enum"])


def _thinking_refused(thinking: Any, model: str) -> str | None:
    """What the API answers 400 to in a ThinkingConfig the spec check lets through. ``thinkingLevel`` is newer than
    gemini.json: its values are gemini.discovery.json's enum (which Google's parser reads in any case: the thinking
    guide writes "low"), it is "Recommended for Gemini 3 or later models. Use with earlier models results in an error."
    (the Discovery document), and "You cannot use both thinkingLevel and the legacy thinkingBudget parameter in the same
    request. Doing so will return a 400 error." (the thinking guide; the fake's words for it); a budget outside its
    model's range is refused in the words the live API answers with."""
    if not isinstance(thinking, dict):
        return None
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    if level is not None:
        if not isinstance(level, str) or level.upper() not in _thinking_levels():
            return (
                "Invalid value at 'generation_config.thinking_config.thinking_level' "
                f"(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), {level!r}"
            )
        if not model.startswith("gemini-3"):
            return "Thinking level is not supported for this model."
        if budget is not None:
            return "You can only set one of thinking budget and thinking level."
    for prefix, low, high in _BUDGETS:
        if model.startswith(prefix):
            if isinstance(budget, int) and budget not in (-1, 0) and not low <= budget <= high:
                return f"Budget {budget} is invalid. Please choose a value between {low} and {high}."
            break
    return None


def _text_tokens(count: int) -> list[dict[str, Any]]:
    """A count's ModalityTokenCount list, of text alone."""
    return [{"modality": "TEXT", "tokenCount": count}]


class FakeGemini(Fake):
    vendor = "gemini"
    request_schema = "GenerateContentRequest"

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("x-goog-api-key") == self.key and "key" not in request.query

    def error_body(self, status: int, message: str, kind: str) -> Any:
        names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            499: "CANCELLED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED",
        }
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}

    def bad_key(self) -> tuple[int, Any]:
        # Gemini answers a wrong key 400 INVALID_ARGUMENT, not 401: only the ErrorInfo's reason says it is the key
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
        message = "API key not valid. Please pass a valid API key."
        return 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": [info]}}

    async def list_models(self, request: web.Request) -> web.Response:
        """``GET /v1beta/models`` (ListModels), which ``magsag doctor --probe`` asks; the key checked as for a call."""
        if not self.auth_ok(request):
            status, refusal = self.bad_key()
            return web.json_response(refusal, status=status)
        # Model: name, baseModelId and version are required
        model = {
            "name": "models/gemini-2.5-flash",
            "baseModelId": "gemini-2.5-flash",
            "version": "001",
            "supportedGenerationMethods": ["generateContent"],
        }
        return web.json_response({"models": [model]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1beta/models", self.list_models)
        app.router.add_post("/v1beta/models/{call}", self.handle)
        return app

    def picture_problems(self, request: web.Request, body: dict[str, Any]) -> list[str]:
        picture = gemini_picture_refusal(body)
        return [picture[0]] if picture is not None and picture[1] else []

    def refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        picture = gemini_picture_refusal(body)  # (a picture of a type Gemini does not read: GIF)
        if picture is not None:
            return {"error": {"code": 400, "message": picture[0], "status": "INVALID_ARGUMENT"}}
        unknown = _unknown_field(body)
        if unknown is not None:
            bad = {"fieldViolations": [{"description": unknown}]}
            violation = {"@type": "type.googleapis.com/google.rpc.BadRequest", **bad}
            return {"error": {"code": 400, "message": unknown, "status": "INVALID_ARGUMENT", "details": [violation]}}
        # Spec-valid, but refused by the model: thinking turned off (thinkingBudget 0) on a model that always thinks
        # (gemini-2.5-pro, the gemini-3 models), which the live API answers 400 INVALID_ARGUMENT as below
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        model = request.match_info.get("call", "").partition(":")[0]
        if thinking.get("thinkingBudget") == 0 and model.startswith(("gemini-2.5-pro", "gemini-3")):
            message = "Budget 0 is invalid. This model only works in thinking mode."
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        message = _thinking_refused(thinking, model)
        if message is not None:
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # Spec-valid, but refused by the API: a request of no content at all
        if not body.get("contents"):
            message = "* GenerateContentRequest.contents: contents is not specified"
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # Spec-valid, but refused by the API: a part whose one data field is empty is no data at all (proto3
        # leaves "" unset), answered "* GenerateContentRequest.contents[1].parts[0].data: required oneof ...".
        for i, content in enumerate(body.get("contents") or []):
            for j, part in enumerate(content.get("parts") or []):
                data = {k: v for k, v in part.items() if k not in ("thought", "thoughtSignature")}
                if not any(v not in (None, "", {}) for v in data.values()):
                    message = (
                        f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must "
                        "have one initialized field"
                    )
                    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # A Schema of type OBJECT must name properties, at any depth of a declaration's parameters or the response
        # schema: a tool without arguments declares none ("* GenerateContentRequest.tools[0].function_declarations
        # [0].parameters.properties: should be non-empty for OBJECT type"), and a dict of any keys cannot be said.
        schemas = [
            (decl.get("parameters"), f"tools[{i}].function_declarations[{j}].parameters")
            for i, tool in enumerate(body.get("tools") or [])
            for j, decl in enumerate(tool.get("functionDeclarations") or [])
        ]
        # FunctionDeclaration.parametersJsonSchema: "This field is mutually exclusive with `parameters`."; and its name
        # "Must be a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 63." (gemini.json, and the
        # live API's 400 below). gemini.discovery.json, a year newer, says "underscores, colons, dots, and dashes, with
        # a maximum length of 128": the specs here disagree, and the fake keeps the stricter rule, which the provider
        # fits every name to (tool_names) and which both take
        for i, tool in enumerate(body.get("tools") or []):
            for j, decl in enumerate(tool.get("functionDeclarations") or []):
                if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_-]{0,62}", str(decl.get("name"))):
                    message = (
                        f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Invalid function name. "
                        "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores and "
                        "dashes, with a maximum length of 63.\n"
                    )
                    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
                if "parameters" in decl and "parametersJsonSchema" in decl:
                    message = (
                        f"* GenerateContentRequest.tools[{i}].function_declarations[{j}]: parameters and "
                        "parameters_json_schema are mutually exclusive"
                    )
                    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        config = body.get("generationConfig") or {}
        response = config.get("responseSchema")
        schemas.append((response, "generation_config.response_schema"))
        # GenerationConfig.responseJsonSchema: "If set, `response_schema` must be omitted, but `response_mime_type` is
        # required. [...] If `$ref` is set on a sub-schema, no other properties, except for than those starting as a
        # `$`, may be set."
        if "responseJsonSchema" in config:
            if "responseSchema" in config or "responseMimeType" not in config:
                message = "response_json_schema needs response_mime_type set, and response_schema unset"
                return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
            beside = _beside_ref(config["responseJsonSchema"])
            if beside is not None:
                message = f"* GenerateContentRequest.generation_config.response_json_schema: $ref with sibling {beside}"
                return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        for schema, at in schemas:
            empty = _empty_object(schema, at)
            if empty is not None:
                message = f"* GenerateContentRequest.{empty}.properties: should be non-empty for OBJECT type\n"
                return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
            # and a Schema of type ARRAY must say its items (an MCP tool's {"type": "array"}, of anything)
            bare = _array_without_items(schema, at)
            if bare is not None:
                message = f"* GenerateContentRequest.{bare}.items: missing field.\n"
                return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # Gemini 3 checks the thought signatures of the current turn (from the last user text on): each model
        # turn's first functionCall part carries the one it was answered with, or the documented stand-in.
        if signs_calls(request.match_info["call"]):
            contents = body.get("contents") or []
            users = [i for i, c in enumerate(contents) if c.get("role") == "user" and _texts(c)]
            for i, content in enumerate(contents[users[-1] if users else 0 :], start=users[-1] if users else 0):
                calls = [p for p in content.get("parts") or [] if "functionCall" in p]
                if content.get("role") == "model" and calls and calls[0].get("thoughtSignature") not in SIGNATURES:
                    message = (
                        "Function call is missing a thought_signature in functionCall parts. This is required for "
                        "tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `default_api:{calls[0]['functionCall']['name']}`"
                        f" , position {i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures"
                    )
                    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # A functionResponse that names an id answers the functionCall of the model turn before it with that id
        # (FunctionResponse.id: "Populated by the client to match the corresponding function call id").
        contents = body.get("contents") or []
        for i, content in enumerate(contents):
            asked = {
                p["functionCall"].get("id")
                for p in (contents[i - 1].get("parts") or [] if i else [])
                if "functionCall" in p and contents[i - 1].get("role") == "model"
            }
            for part in content.get("parts") or []:
                answer_id = (part.get("functionResponse") or {}).get("id")
                if answer_id is not None and answer_id not in asked:
                    message = f"functionResponse.id {answer_id!r} matches no functionCall.id of the turn before it"
                    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # Gemma 3 on the Gemini API takes no system instruction, and no JSON response type
        call = request.match_info["call"].split(":")[0]
        if call.startswith("gemma-3") and (
            "systemInstruction" in body or "responseMimeType" in (body.get("generationConfig") or {})
        ):
            what = "Developer instruction" if "systemInstruction" in body else "JSON mode"
            message = f"{what} is not enabled for models/{call}"
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # a function calling config with no function to call
        if "toolConfig" in body and not any("functionDeclarations" in tool for tool in body.get("tools") or []):
            message = "Function calling config is set without function_declarations."
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # GenerationConfig.stopSequences: "The set of character sequences (up to 5)"
        if len((body.get("generationConfig") or {}).get("stopSequences") or []) > 5:
            message = "* GenerateContentRequest.generation_config.stop_sequences: must have at most 5 elements\n"
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        # Refused by the Gemini 2.x models: function declarations beside a JSON response type (Gemini 3 takes them
        # together: "Structured Outputs with tools", Google's Gemini 3 guide).
        declares = any("functionDeclarations" in tool for tool in body.get("tools") or [])
        json_type = (body.get("generationConfig") or {}).get("responseMimeType") == "application/json"
        if declares and json_type and not re.match(r"gemini-([3-9]|\d\d)", call):
            message = "Function calling with a response mime type: 'application/json' is unsupported"
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        return None

    def is_stream(self, request: web.Request, body: dict[str, Any]) -> bool:
        return request.match_info["call"].endswith(":streamGenerateContent")

    def chunk(self, step: Step, parts: list[dict[str, Any]], finish: str | None, usage: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        if finish and step.get("grounding"):
            # Candidate.groundingMetadata, when the step gives it (webSearchQueries, groundingChunks, ...): the answer
            # was grounded with Google Search; it comes with the candidate's end
            cand["groundingMetadata"] = step["grounding"]
        if finish and step.get("finish_message"):  # Candidate.finishMessage: "the reason why the model stopped"
            cand["finishMessage"] = step["finish_message"]
        if finish == "OTHER" and not parts:  # "Unknown reason": the candidate came with nothing in it
            del cand["content"]
        if finish == "MALFORMED_FUNCTION_CALL" and not parts:
            # the call the model wrote could not be parsed: no content, only finishMessage saying so
            del cand["content"]
            cand["finishMessage"] = "Malformed function call: print(default_api.get_weather(city='Oslo'"
        if finish == "SAFETY":
            # a blocked answer has no content, only the ratings that blocked it
            if not parts:
                del cand["content"]
            cand["safetyRatings"] = [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
            ]
        out: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-test-001", "responseId": "r1"}
        if step.get("model_status"):  # GenerateContentResponse.modelStatus: the model's stage and retirementTime
            out["modelStatus"] = step["model_status"]
        if step.get("feedback"):  # a promptFeedback beside the candidates (a gateway's zero-valued blockReason)
            out["promptFeedback"] = step["feedback"]
        if step.get("block"):
            out = {"promptFeedback": {"blockReason": step["block"]}}
            if step["block"] == "SAFETY":  # "Inspect safety_ratings to understand which safety category blocked it"
                out["promptFeedback"]["safetyRatings"] = [
                    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "MEDIUM", "blocked": True},
                    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                ]
        if usage and step.get("block"):
            # a blocked prompt was read, not answered: only its tokens are counted
            out["usageMetadata"] = self.prompt_counts(step)
        elif usage:
            u = step.get("usage") or {}
            out["usageMetadata"] = {
                **self.prompt_counts(step),
                "candidatesTokenCount": u.get("candidatesTokenCount", 7),
                **{k: v for k, v in u.items() if k in ("thoughtsTokenCount", "toolUsePromptTokenCount", "serviceTier")},
            }
            counted = out["usageMetadata"]
            # each count's ModalityTokenCount breakdown, as the API sends it beside the count (all text here, unless
            # the step says otherwise: an image model's pictures)
            for count, details in (
                ("toolUsePromptTokenCount", "toolUsePromptTokensDetails"),
                ("candidatesTokenCount", "candidatesTokensDetails"),
            ):
                if details in u or counted.get(count):
                    counted[details] = u.get(details, _text_tokens(counted[count]))
            # UsageMetadata.totalTokenCount: "prompt + thoughts + response candidates" (and the tool-use prompt)
            counts = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")
            counted["totalTokenCount"] = sum(counted.get(k, 0) for k in counts)
        else:
            # every chunk of a stream counts the prompt so far (its cached part too); only the last, with the
            # finishReason, the answer
            out["usageMetadata"] = self.prompt_counts(step)
        return out

    @staticmethod
    def prompt_counts(step: Step) -> dict[str, Any]:
        """The usageMetadata counts of the prompt, which every chunk carries: promptTokenCount (the cached content
        included) with its promptTokensDetails, and cachedContentTokenCount with its cacheTokensDetails where part of
        it was read from the cache (Gemini 2.5's implicit caching hits without being asked)."""
        u = step.get("usage") or {}
        prompt = u.get("promptTokenCount", 11)
        counts: dict[str, Any] = {"promptTokenCount": prompt}
        counts["promptTokensDetails"] = u.get("promptTokensDetails", _text_tokens(prompt))
        if u.get("cachedContentTokenCount") is not None:
            counts["cachedContentTokenCount"] = u["cachedContentTokenCount"]
            counts["cacheTokensDetails"] = u.get("cacheTokensDetails", _text_tokens(u["cachedContentTokenCount"]))
        counts["totalTokenCount"] = prompt
        return counts

    def parts(self, step: Step, call: str = "") -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if step.get("text") is not None:
            parts.append({"text": step["text"]})
        if step.get("image"):  # an image model's picture, which the text answer leaves out
            parts.append({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
        for i, c in enumerate(step.get("tool_calls", [])):
            parts.append({"functionCall": {"name": c["name"], "args": c["arguments"]}})
            if signs_calls(call):
                # Gemini 3 gives every call an id, for the client to answer it by; the first call of an answer
                # carries its signature
                parts[-1]["functionCall"]["id"] = c["id"]
                if i == 0:
                    parts[-1]["thoughtSignature"] = SIGNATURES[0]
        return parts

    @staticmethod
    def thoughts(body: dict[str, Any], step: Step) -> list[dict[str, Any]]:
        """The thought summary parts (``thought: true``) the step thinks, sent only where the request asked for them
        (ThinkingConfig.includeThoughts): they come before the answer's parts, and are no part of it."""
        config = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        asked = config.get("includeThoughts", config.get("include_thoughts"))
        return [{"text": t, "thought": True} for t in step.get("thoughts", [])] if asked else []

    def reply(self, request: web.Request, body: dict[str, Any], step: Step) -> Any:
        parts = self.thoughts(body, step) + self.parts(step, request.match_info.get("call", ""))
        return self.chunk(step, parts, step.get("finish", "STOP"), True)

    async def stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        words = (step.get("text") or "").split(" ") if step.get("text") else []
        # the thinking comes first, a chunk for each thought summary, then the answer
        events: list[tuple[str | None, Any]] = [
            (None, self.chunk(step, [t], None, False)) for t in self.thoughts(body, step)
        ]
        events += [(None, self.chunk(step, [{"text": w + " "}], None, False)) for w in words[:-1]]
        if step.get("stream_error"):
            # the stream ends with an error object instead of a finishReason
            events.append((None, step["stream_error"]))
            return await self.send_events(request, events, False)
        last = [{"text": words[-1]}] if words else []
        last += [p for p in self.parts(step, request.match_info.get("call", "")) if "text" not in p]
        events.append((None, self.chunk(step, last, step.get("finish", "STOP"), True)))
        return await self.send_events(request, events, step.get("cut", False))
