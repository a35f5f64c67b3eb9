"""Loopback stand-ins for the vendors, checked against their specs field by field.

Each fake validates every request body against the spec's request schema (a violation is answered
400 in the vendor's error shape *and* kept in ``violations`` so the test fails), checks the auth
headers, and answers from a script of steps shaped as the spec shapes responses:

    {"text": "hi", "usage": {...}}                 a reply (usage in the vendor's own field names)
    {"tool_calls": [{"id", "name", "arguments"}]}  a tool call (arguments as a str: the JSON as streamed, which
                                                   max_tokens may cut short; Gemini 3 models sign the first call
                                                   and give each its id, Gemini 2.x none)
    {"error": 429, "body": {...}, "headers": {...}} an error in the vendor's shape
    {"text": "...", "cut": True}                   a stream that breaks mid-answer
    {"text": "...", "stream_error": {...}}         a stream that sends part of the answer, then an error event
    {"text": None, "finish": "SAFETY"}             a vendor finish reason (Anthropic: "refusal", + "stop_details";
                                                   the Responses API: "length", "content_filter" as an
                                                   incomplete response, "cancelled" as that status)
    {"block": "SAFETY"}                            Gemini: the prompt was blocked (promptFeedback.blockReason)
    {"thoughts": ["..."], "text": "..."}           Gemini: thought summaries before the answer (if includeThoughts)

A spec-valid request that the *model* cannot take (o1-preview with a system message) is answered with the
vendor's 400 for it, as the real API does; that is not a spec violation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes.spec import specs_dir

from .base import Fake, Step
from .openai import AZURE_REQUEST_ID, OPENAI_REQUEST_ID, FakeOpenAI

#: the names tests import from ``tests.providers.fakes``, wherever in the package they are defined
__all__ = [
    "AZURE_REQUEST_ID",
    "OPENAI_REQUEST_ID",
    "REDACTED_THINKING",
    "REQUEST_ID",
    "SIGNATURES",
    "THINKING",
    "Fake",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "Step",
    "signed",
    "signs_calls",
]


def _refs(schema: Any) -> list[str]:
    """Every local $ref ("#/...") in a schema."""
    if isinstance(schema, dict):
        own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#") else []
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def _resolves(root: dict[str, Any], ref: str) -> bool:
    """Whether a local $ref's JSON pointer names something in ``root``."""
    node: Any = root
    for part in [p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


#: the Anthropic fake's thinking (its signature, its text), and the encrypted thinking of its redacted_thinking
#: block, each as :func:`signed` by the model that thought: a thinking block sent back changed (another signature or
#: text, or none), or to another model, is refused, as the API refuses one
THINKING = ("EqQBCkgIARABGAIiQL2f", "The user wants the weather; call get_weather.")
REDACTED_THINKING = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlx"


def signed(value: str, model: str) -> str:
    """A thinking block's ``signature`` (or a redacted one's ``data``) as ``model`` made it: the API's are bound to the
    model that thought, and another model answers 400 "Invalid `signature` in `thinking` block" to them."""
    return value + hashlib.sha256(model.encode()).hexdigest()[:8]


#: the id Anthropic's fake gives every request, in its error bodies
REQUEST_ID = "req_011CfakeAnthropic01"


class FakeAnthropic(Fake):
    vendor = "anthropic"
    request_schema = "CreateMessageParams"
    #: the request-id header, whose id the error bodies' request_id repeats
    id_headers = {"request-id": REQUEST_ID}
    #: models that take no temperature but 1, no top_p below 0.99 and no top_k, as those released after Claude Opus 4.6
    #: (named as a test needs: a gateway's alias, a family the name rules do not know)
    fixed_temperature: frozenset[str] = frozenset({"claude-opus-4-7"})
    #: models that take no prefill (a final assistant turn): Claude Opus 4.6, Sonnet 4.6 and the models after them
    no_prefill: frozenset[str] = frozenset(
        {"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-7", "claude-fable-5"}
    )
    #: models that take no forced tool_choice (any, or a named tool), thinking or not: Claude Fable 5.1 and Mythos 5.1
    no_forced_tool: frozenset[str] = frozenset({"claude-fable-5-1", "claude-mythos-5-1"})
    #: the most output tokens a model takes (max_tokens above it is refused), as the models overview lists them
    output_ceilings: dict[str, int] = {"claude-3-5-sonnet-20241022": 8192, "claude-3-haiku-20240307": 4096}

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("x-api-key") == self.key and bool(request.headers.get("anthropic-version"))

    def error_body(self, status: int, message: str, kind: str) -> Any:
        # ErrorResponse: request_id is required (null where there is none)
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": REQUEST_ID}

    def refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        # "A value of 1.0 ... will be accepted ..., all other values will be rejected with a 400 error", in the
        # live API's words "`temperature` is deprecated for this model."
        if body.get("model") in self.fixed_temperature:
            # "A value >= 0.99 will be accepted [for top_p] ..., all other values will be rejected with a 400 error";
            # "Models released after Claude Opus 4.6 do not accept top_k; any value will be rejected with a 400 error"
            for name, taken in (
                ("temperature", body.get("temperature", 1) == 1),
                ("top_p", body.get("top_p", 1) >= 0.99),
            ):
                if not taken:
                    return self.error_body(400, f"`{name}` is deprecated for this model.", "invalid_request_error")
            if "top_k" in body:
                return self.error_body(400, "`top_k` is deprecated for this model.", "invalid_request_error")
            # adaptive thinking only, since Claude Opus 4.7
            if (body.get("thinking") or {}).get("type") == "enabled":
                message = (
                    '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
                    '"output_config.effort" to control thinking behavior.'
                )
                return self.error_body(400, message, "invalid_request_error")
        ceiling = self.output_ceilings.get(body.get("model"))
        if ceiling is not None and body.get("max_tokens", 0) > ceiling:
            message = (
                f"max_tokens: {body['max_tokens']} > {ceiling}, which is the maximum allowed number of output tokens "
                f"for {body['model']}"
            )
            return self.error_body(400, message, "invalid_request_error")
        if body.get("model") in self.no_forced_tool and (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
            message = 'tool_choice: type "tool" and "any" are not supported for this model'  # (inspect_ai quotes it)
            return self.error_body(400, message, "invalid_request_error")
        # Claude Opus 4.1, Sonnet 4.5 and Haiku 4.5 take one of the two samplers
        one_sampler = str(body.get("model", "")).startswith(
            ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")
        )
        if one_sampler and "temperature" in body and "top_p" in body:
            message = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
            return self.error_body(400, message, "invalid_request_error")
        # Spec-valid, but refused by the API: a stop sequence of only whitespace ("\n\n")
        if any(not s.strip() for s in body.get("stop_sequences") or []):
            message = "stop_sequences: each stop sequence must contain non-whitespace"
            return self.error_body(400, message, "invalid_request_error")
        # a final assistant turn (a prefill the answer continues) whose text ends in whitespace
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") == "assistant" and body.get("model") in self.no_prefill:
            message = (
                "This model does not support assistant message prefill. The conversation must end with a user message."
            )
            return self.error_body(400, message, "invalid_request_error")
        blocks = last.get("content") if isinstance(last.get("content"), list) else [{"text": last.get("content")}]
        text = blocks[-1].get("text") if blocks and isinstance(blocks[-1], dict) else None
        if last.get("role") == "assistant" and isinstance(text, str) and text != text.rstrip():
            message = "messages: final assistant content cannot end with trailing whitespace"
            return self.error_body(400, message, "invalid_request_error")
        message = (
            self.thinking_refused(body)
            or self.schema_refused(body)
            or self.empty_result_refused(body)
            or self.tool_ids_refused(body)
        )
        return None if message is None else self.error_body(400, message, "invalid_request_error")

    @staticmethod
    def tool_ids_refused(body: dict[str, Any]) -> str | None:
        """A tool_use id that an earlier tool_use of the request has too, or a tool_result that answers no tool_use
        of the message just before it, in the API's words."""
        messages = body.get("messages") or []
        seen: set[str] = set()
        for i, message in enumerate(messages):
            blocks = message["content"] if isinstance(message["content"], list) else []
            before = messages[i - 1] if i else {"role": "user", "content": []}
            made = {
                b.get("id")
                for b in (before["content"] if isinstance(before["content"], list) else [])
                if before["role"] == "assistant" and b.get("type") == "tool_use"
            }
            for j, block in enumerate(blocks):
                if block.get("type") == "tool_use":
                    if block["id"] in seen:
                        return f"messages.{i}.content.{j}: `tool_use` ids must be unique"
                    seen.add(block["id"])
                elif block.get("type") == "tool_result" and block["tool_use_id"] not in made:
                    return (
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block['tool_use_id']}. Each `tool_result` block must have a corresponding `tool_use` block "
                        "in the previous message."
                    )
        return None

    @staticmethod
    def empty_result_refused(body: dict[str, Any]) -> str | None:
        """A tool_result whose content is empty ("" or []) is taken for no result at all (as Zed found, 2025)."""
        for i, message in enumerate(body.get("messages") or []):
            blocks = message["content"] if isinstance(message["content"], list) else []
            empty = [
                b["tool_use_id"] for b in blocks if b.get("type") == "tool_result" and b.get("content") in ("", [])
            ]
            if empty:
                return (
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(empty)}. Each `tool_use` block must have a corresponding `tool_result` block in the "
                    "next message."
                )
        return None

    @staticmethod
    def schema_refused(body: dict[str, Any]) -> str | None:
        """A tool's input_schema the API refuses: a top-level oneOf/anyOf/allOf, or a $ref that points nowhere."""
        for i, tool in enumerate(body.get("tools") or []):
            schema = tool.get("input_schema") or {}
            if any(key in schema for key in ("oneOf", "anyOf", "allOf")):
                top = "input_schema does not support oneOf, allOf, or anyOf at the top level"
                return f"tools.{i}.custom.input_schema: {top}"
            if not all(_resolves(schema, ref) for ref in _refs(schema)):
                return (
                    f"tools.{i}.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12 "
                    "(https://json-schema.org/draft/2020-12). Learn more about tool use at https://docs.claude.com/en/docs/tool-use."
                )
        return None

    @staticmethod
    def thinking_on(body: dict[str, Any]) -> bool:
        return (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")

    @staticmethod
    def tool_loop(body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """The assistant messages of the turn in progress: those after the last user message that is more than
        tool results. Claude thinks at the start of that turn only, not again after each tool result."""
        messages = body.get("messages") or []
        start = 0
        for i, m in enumerate(messages):
            blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text"}]
            if m["role"] == "user" and any(b.get("type") != "tool_result" for b in blocks):
                start = i + 1
        return [(i, m) for i, m in enumerate(messages) if i >= start and m["role"] == "assistant"]

    def thinking_refused(self, body: dict[str, Any]) -> str | None:
        """What the API answers 400 to in a request with extended thinking on (or off), as its messages say."""
        messages = body.get("messages") or []
        sent = [(i, b) for i, m in enumerate(messages) if isinstance(m["content"], list) for b in m["content"]]
        thinks = [(i, b) for i, b in sent if b.get("type") in ("thinking", "redacted_thinking")]
        if not self.thinking_on(body):
            last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
            if any(i == last for i, _ in thinks):
                return (
                    f"messages.{last}.content.0: When thinking is disabled, an `assistant` message in the final "
                    "position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request."
                )
            return None
        doc = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        temperature = body.get("temperature")
        if temperature is not None and temperature != 1:
            return f"`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.{doc}"
        # "Thinking isn't compatible with temperature or top_k modifications"; "you can set top_p to values between 1
        # and 0.95"
        if "top_k" in body:
            return f"`top_k` is not supported when thinking is enabled.{doc}"
        if body.get("top_p", 1) < 0.95:
            return f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.{doc}"
        if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
        budget = body["thinking"].get("budget_tokens")
        if budget is not None and body["max_tokens"] <= budget:
            return f"`max_tokens` must be greater than `thinking.budget_tokens`.{doc}"
        loop = self.tool_loop(body)
        # a turn with tool calls, or a final assistant message (a prefill), must start with the turn's thinking
        calls = any(b.get("type") == "tool_use" for _, m in loop for b in m["content"])
        first = loop[0][1]["content"][0].get("type") if loop else None
        if (calls or messages[-1]["role"] == "assistant") and first not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{loop[0][0]}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block "
                "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
                f"thinking blocks from previous turns. To avoid this requirement, disable `thinking`.{doc}"
            )
        for i, b in thinks:
            model = str(body.get("model"))
            if b["type"] == "thinking" and (b.get("signature"), b.get("thinking")) != (
                signed(THINKING[0], model),
                THINKING[1],
            ):
                return f"messages.{i}.content.0: Invalid `signature` in `thinking` block"
            if b["type"] == "redacted_thinking" and b.get("data") != signed(REDACTED_THINKING, model):
                return f"messages.{i}.content.0: Invalid `data` in `redacted_thinking` block"
        return None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self.handle)
        return app

    @staticmethod
    def usage(step: Step) -> dict[str, Any]:
        u = step.get("usage") or {}
        return {
            "input_tokens": u.get("input_tokens", 11),
            "output_tokens": u.get("output_tokens", 7),
            "cache_creation_input_tokens": u.get("cache_creation_input_tokens", 0),
            "cache_read_input_tokens": u.get("cache_read_input_tokens", 0),
            # by time to live, when the step gives it: {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}
            "cache_creation": u.get("cache_creation"),
            # where inference ran ("global", "us"), when the step gives it
            "inference_geo": u.get("inference_geo"),
            "server_tool_use": None,
            # the tier that served it ("standard", "priority", "batch"), when the step gives it
            "service_tier": u.get("service_tier", "standard"),
            "output_tokens_details": {"thinking_tokens": u.get("thinking_tokens", 0)},
        }

    def content(self, step: Step, body: dict[str, Any]) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        # the answer starts with the model's (signed) thinking, unless it goes on with a turn after tool results
        if self.thinking_on(body) and not (self.tool_loop(body) and body["messages"][-1]["role"] == "user"):
            signature = signed(THINKING[0], body["model"])
            blocks.append({"type": "thinking", "thinking": THINKING[1], "signature": signature})
            if step.get("redacted"):
                blocks.append({"type": "redacted_thinking", "data": signed(REDACTED_THINKING, body["model"])})
        if step.get("text") is not None:
            blocks.append({"type": "text", "text": step["text"], "citations": None})
        for c in step.get("tool_calls", []):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": c["id"],
                    "name": c["name"],
                    "input": c["arguments"],
                    "caller": {"type": "direct"},
                }
            )
        return blocks

    def reply(self, request: web.Request, body: dict[str, Any], step: Step) -> Any:
        stop = step.get("finish", "tool_use" if step.get("tool_calls") else "end_turn")
        return {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": self.content(step, body),
            "stop_reason": stop,
            "stop_sequence": None,
            "stop_details": step.get("stop_details"),
            "container": None,
            "usage": self.usage(step),
        }

    async def stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        usage = self.usage(step)
        start = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "container": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("ping", {"type": "ping"}),
        ]
        for i, block in enumerate(self.content(step, body)):
            if block["type"] == "thinking":
                # thinking_delta(s), then its signature in a signature_delta just before content_block_stop
                empty = {"type": "thinking", "thinking": "", "signature": ""}
                events.append(
                    ("content_block_start", {"type": "content_block_start", "index": i, "content_block": empty})
                )
                half = len(block["thinking"]) // 2
                for piece in (block["thinking"][:half], block["thinking"][half:]):
                    delta = {"type": "thinking_delta", "thinking": piece}
                    events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
                delta = {"type": "signature_delta", "signature": block["signature"]}
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
            elif block["type"] == "redacted_thinking":
                events.append(
                    ("content_block_start", {"type": "content_block_start", "index": i, "content_block": block})
                )
            elif block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {"type": "text", "text": "", "citations": None},
                        },
                    )
                )
                # word by word, the pieces adding up to the text exactly, as the API's deltas do
                for word in re.findall(r"\s*\S+\s*|\s+", block["text"]) or [""]:
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": word},
                            },
                        )
                    )
            else:
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {
                                "type": "tool_use",
                                "id": block["id"],
                                "name": block["name"],
                                "input": {},
                                "caller": {"type": "direct"},
                            },
                        },
                    )
                )
                # a str is the input's JSON as streamed: cut short when max_tokens stopped it mid-call
                raw = block["input"] if isinstance(block["input"], str) else json.dumps(block["input"])
                for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "input_json_delta", "partial_json": piece},
                            },
                        )
                    )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        if step.get("stream_error"):
            # overloaded mid-answer: the 200 stream carries an `error` event and ends
            events = events[:-2] + [("error", step["stream_error"])]
            return await self.send_events(request, events, False)
        stop = step.get("finish", "tool_use" if step.get("tool_calls") else "end_turn")
        delta: dict[str, Any] = {
            "stop_reason": stop,
            "stop_sequence": None,
            "stop_details": step.get("stop_details"),
            "container": None,
        }
        # MessageDeltaUsage: the cumulative counts, every field present (null where there is nothing to say)
        delta_usage = {
            key: usage[key]
            for key in (
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens_details",
                "server_tool_use",
            )
        }
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return await self.send_events(request, events, step.get("cut", False))


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


def _empty_object(schema: Any, at: str) -> str | None:
    """Where in ``schema`` an OBJECT names no properties, as Google's error names the place, or None."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "OBJECT" and not schema.get("properties"):
        return at
    subs = [(v, f'{at}.properties["{k}"]') for k, v in (schema.get("properties") or {}).items()]
    subs += [(schema.get("items"), f"{at}.items")]
    subs += [(v, f"{at}.any_of[{i}]") for i, v in enumerate(schema.get("anyOf") or [])]
    return next((found for sub, where in subs if (found := _empty_object(sub, where)) is not None), None)


def _array_without_items(schema: Any, at: str) -> str | None:
    """Where in ``schema`` an ARRAY has no items (Google: "* GenerateContentRequest.<at>.items: missing field."),
    or None."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "ARRAY" and "items" not in schema:
        return at
    subs = [(v, f'{at}.properties["{k}"]') for k, v in (schema.get("properties") or {}).items()]
    subs += [(schema.get("items"), f"{at}.items")]
    subs += [(v, f"{at}.any_of[{i}]") for i, v in enumerate(schema.get("anyOf") or [])]
    return next((found for sub, where in subs if (found := _array_without_items(sub, where)) is not None), None)


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
        model = {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]}
        return web.json_response({"models": [model]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1beta/models", self.list_models)
        app.router.add_post("/v1beta/models/{call}", self.handle)
        return app

    def refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        unknown = _unknown_field(body)
        if unknown is not None:
            bad = {"fieldViolations": [{"description": unknown}]}
            violation = {"@type": "type.googleapis.com/google.rpc.BadRequest", **bad}
            return {"error": {"code": 400, "message": unknown, "status": "INVALID_ARGUMENT", "details": [violation]}}
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
        # Refused by the Gemini 2.x models: function declarations beside a JSON response type.
        declares = any("functionDeclarations" in tool for tool in body.get("tools") or [])
        if declares and (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
            message = "Function calling with a response mime type: 'application/json' is unsupported"
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        return None

    def is_stream(self, request: web.Request, body: dict[str, Any]) -> bool:
        return request.match_info["call"].endswith(":streamGenerateContent")

    def chunk(self, step: Step, parts: list[dict[str, Any]], finish: str | None, usage: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
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
