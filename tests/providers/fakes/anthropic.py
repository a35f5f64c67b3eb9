"""The Anthropic fake: the Messages API (``POST /v1/messages``), whole and streamed, with what its models refuse of a
spec-valid request (sampling of the newer models, prefills, thinking and its signatures, tool ids and schemas). What it
refuses of thinking, and the signatures its models write, are :mod:`.anthropic_thinking`'s.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from tests.fakes.pictures import anthropic_picture_refusal

from .anthropic_thinking import REDACTED_THINKING, THINKING, signed, thinking_on, thinking_refused, tool_loop
from .base import Fake, Step


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


#: what structured outputs refuse in a schema (newer than the spec, whose JsonOutputFormat.schema is any object: the
#: structured outputs guide's "JSON Schema limitations", https://platform.claude.com/docs/en/build-with-claude/
#: structured-outputs): numerical constraints, string lengths, array constraints beyond a minItems of 0 or 1, an
#: object's property counts. A pattern is taken, but for what the guide lists as not supported (:data:`_UNTAKEN_REGEX`)
_UNTAKEN_BOUNDS = frozenset(
    {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
        "maxItems", "uniqueItems", "minProperties", "maxProperties",
    }
)  # fmt: skip
#: a pattern's backreference, lookahead or lookbehind, or word boundary, which the guide says regexes may not hold
_UNTAKEN_REGEX = re.compile(r"\\[1-9bB]|\(\?(?:[=!]|<[=!])")


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
    #: models that take a JSON schema as structured output (output_config.format): Claude 4.5 and later, and an alias
    output_formats: frozenset[str] = frozenset(
        {"claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-opus-4-6", "claude-fable-5-1", "claude-latest"}
    )
    #: the most output tokens a model takes (max_tokens above it is refused), as the models overview lists them
    output_ceilings: dict[str, int] = {"claude-3-5-sonnet-20241022": 8192, "claude-3-haiku-20240307": 4096}

    def __init__(self, key: str = "test-key-123456") -> None:
        super().__init__(key)
        #: the content blocks of the answers this fake paused (stop_reason pause_turn), by the conversation they go on
        #: (its messages before the paused turn, as :func:`conversation` keys them), since its last answer that was not
        #: paused: the assistant turn a continuation must send back (see :meth:`continuation_refused`). Kept apart, as
        #: two calls' turns are: another call served between a turn's pause and its continuation leaves it as it was
        self.paused: dict[str, list[list[dict[str, Any]]]] = {}

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("x-api-key") == self.key and bool(request.headers.get("anthropic-version"))

    def bad_key(self) -> tuple[int, Any]:
        # Anthropic's own words for a wrong or missing key, which name the header and never echo the key
        return 401, self.error_body(401, "invalid x-api-key", "authentication_error")

    def error_body(self, status: int, message: str, kind: str) -> Any:
        # ErrorResponse: request_id is required (null where there is none)
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": REQUEST_ID}

    def picture_problems(self, request: web.Request, body: dict[str, Any]) -> list[str]:
        picture = anthropic_picture_refusal(body)
        return [picture[0]] if picture is not None and picture[1] else []

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
        if "tool_choice" in body and not body.get("tools"):
            # the API takes a tool_choice ("none" too) only beside tools (opencode and a claude-cookbooks issue found
            # it refused; the fake's words)
            return self.error_body(400, "tool_choice: may be given only with tools", "invalid_request_error")
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
        # a final assistant turn (a prefill the answer continues) whose text ends in whitespace; a paused turn sent
        # back is no prefill: the model goes on with it in blocks of its own, on every model
        last = (body.get("messages") or [{}])[-1]
        continuing = self.continuation_refused(body.get("messages") or [{}])
        if isinstance(continuing, str):
            return self.error_body(400, continuing, "invalid_request_error")
        prefill = last.get("role") == "assistant" and continuing is False
        if prefill and body.get("model") in self.no_prefill:
            message = (
                "This model does not support assistant message prefill. The conversation must end with a user message."
            )
            return self.error_body(400, message, "invalid_request_error")
        blocks = last.get("content") if isinstance(last.get("content"), list) else [{"text": last.get("content")}]
        text = blocks[-1].get("text") if blocks and isinstance(blocks[-1], dict) else None
        if prefill and isinstance(text, str) and text != text.rstrip():
            message = "messages: final assistant content cannot end with trailing whitespace"
            return self.error_body(400, message, "invalid_request_error")
        message = (
            self.output_format_refused(body)
            or self.empty_content_refused(body)
            or thinking_refused(body)
            or self.schema_refused(body)
            or self.empty_result_refused(body)
            or self.tool_ids_refused(body)
        )
        return None if message is None else self.error_body(400, message, "invalid_request_error")

    def continuation_refused(self, messages: list[dict[str, Any]]) -> str | bool | None:
        """A request that continues a turn this fake paused: False where ``messages`` (the request's) end in no such
        turn (no assistant turn, or none paused after the messages before it); else None, or what the API says of a
        paused turn not sent back "as is": the blocks of every answer paused since, in order, each as the request's
        schema takes it (see :func:`as_sent`; the spec, checked before this, refuses what it does not name)."""
        last = messages[-1]
        turns = self.paused.get(conversation(messages[:-1])) if last.get("role") == "assistant" else None
        if not turns:
            return False
        if self._turn_sent(turns, last) is None:
            return "messages: the paused assistant turn must be sent back as it was returned, to continue it"
        return None

    @staticmethod
    def _turn_sent(turns: list[list[dict[str, Any]]], last: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Which of a conversation's paused turns ``last`` (the request's assistant turn) sends back as it was: the API
        keeps no state, so any turn it left paused may be sent again (a continuation whose answer its caller lost)."""
        for turn in turns:
            if last.get("content") == [block for block in map(as_sent, turn) if block is not None]:
                return turn
        return None

    def output_format_refused(self, body: dict[str, Any]) -> str | None:
        """A JSON schema as structured output (output_config.format) the API refuses: on a model that takes none, beside
        a prefill, an object not closed, a constraint of :data:`_UNTAKEN_BOUNDS`, a pattern of :data:`_UNTAKEN_REGEX`
        (the fake's words)."""
        fmt = (body.get("output_config") or {}).get("format")
        if fmt is None:
            return None
        if body.get("model") not in self.output_formats:
            return f"output_config.format: structured outputs are not supported for the model {body.get('model')}"
        if (body.get("messages") or [{}])[-1].get("role") == "assistant":
            return "output_config.format: structured outputs are incompatible with assistant message prefill"
        pending = [fmt.get("schema")]
        while pending:
            schema = pending.pop()
            if isinstance(schema, list):
                pending.extend(schema)
            if not isinstance(schema, dict):
                continue
            if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
                return "output_config.format.schema: For 'object' type, 'additionalProperties' must be set to false"
            bounds = set(schema) & _UNTAKEN_BOUNDS
            if schema.get("minItems") not in (None, 0, 1):
                bounds.add("minItems")
            if bounds:
                return f"output_config.format.schema: properties {', '.join(sorted(bounds))} are not supported"
            if isinstance(schema.get("pattern"), str) and _UNTAKEN_REGEX.search(schema["pattern"]):
                return f"output_config.format.schema: pattern {schema['pattern']!r} is not supported"
            for key in ("properties", "$defs", "definitions"):
                pending.extend((schema.get(key) or {}).values())
            pending.extend([schema.get("items"), schema.get("anyOf"), schema.get("allOf")])
        return None

    @staticmethod
    def empty_content_refused(body: dict[str, Any]) -> str | None:
        """What the API refuses of a spec-valid conversation that says nothing somewhere (the spec sets no minimum
        length on the messages, their content or a text block's text): no message at all, a message with no content
        (but a final assistant one), a text block of only whitespace, in the API's words."""
        messages = body.get("messages") or []
        if not messages:
            return "messages: at least one message is required"
        for i, message in enumerate(messages):
            content = message.get("content")
            final_assistant = i == len(messages) - 1 and message.get("role") == "assistant"
            if content in ("", []) and not final_assistant:
                return (
                    f"messages.{i}: all messages must have non-empty content except for the optional final assistant "
                    "message"
                )
            for j, block in enumerate(content if isinstance(content, list) else []):
                text = block.get("text") if isinstance(block, dict) and block.get("type") == "text" else None
                if isinstance(text, str) and text.isspace():  # (an empty one the spec refuses itself: minLength 1)
                    return f"messages.{i}.content.{j}.text: text content blocks must contain non-whitespace text"
        return None

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
            # server tools' requests, when the step gives them: {"web_search_requests": n, "web_fetch_requests": n}
            "server_tool_use": u.get("server_tool_use"),
            # the tier that served it ("standard", "priority", "batch"), when the step gives it
            "service_tier": u.get("service_tier", "standard"),
            "output_tokens_details": {"thinking_tokens": u.get("thinking_tokens", 0)},
        }

    def content(self, step: Step, body: dict[str, Any]) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        # the answer starts with the model's (signed) thinking, unless it goes on with a turn after tool results
        if thinking_on(body) and not (tool_loop(body) and body["messages"][-1]["role"] == "user"):
            signature = signed(THINKING[0], body["model"])
            blocks.append({"type": "thinking", "thinking": THINKING[1], "signature": signature})
            if step.get("redacted"):
                blocks.append({"type": "redacted_thinking", "data": signed(REDACTED_THINKING, body["model"])})
        if step.get("searched"):
            # a server tool's turn (web search): its call and its result, as the API writes them in the answer's
            # content (ResponseServerToolUseBlock, ResponseWebSearchToolResultBlock), before the text
            blocks += [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_01",
                    "name": "web_search",
                    "input": {"query": step["searched"]},
                    "caller": {"type": "direct"},
                },
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_01",
                    "content": [
                        {
                            "type": "web_search_result",
                            "url": "https://example.com/a",
                            "title": "A page",
                            "encrypted_content": "EqgfCioIARgBIiQ3",
                            "page_age": None,
                        }
                    ],
                    "caller": {"type": "direct"},
                },
            ]
        if step.get("text") is not None:
            # the search's sources of the text, when the step gives them (ResponseWebSearchResultLocationCitation)
            blocks.append({"type": "text", "text": step["text"], "citations": step.get("citations")})
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

    def written(self, step: Step, body: dict[str, Any], stop: str) -> list[dict[str, Any]]:
        """The answer's content blocks, kept while its turn is paused (the turn a continuation sends back grows by
        each paused answer's blocks), forgotten once an answer ends it."""
        content = self.content(step, body)
        messages = body.get("messages") or []
        goes_on = bool(messages) and messages[-1].get("role") == "assistant"
        goes_on = goes_on and conversation(messages[:-1]) in self.paused
        key = conversation(messages[:-1] if goes_on else messages)
        # (a new turn of the user's starts afresh; every paused turn of a conversation is kept: any may be sent again)
        before = (self._turn_sent(self.paused[key], messages[-1]) or []) if goes_on else []
        if stop == "pause_turn":
            self.paused.setdefault(key, []).append([*before, *content])
        return content

    def reply(self, request: web.Request, body: dict[str, Any], step: Step) -> Any:
        stop = step.get("finish", "tool_use" if step.get("tool_calls") else "end_turn")
        return {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            # (the API answers with the model that served: a dated snapshot of an alias asked for)
            "model": step.get("model") or body["model"],
            "content": self.written(step, body, stop),
            "stop_reason": stop,
            "stop_sequence": None,
            "stop_details": step.get("stop_details"),
            "container": step.get("container"),
            "usage": self.usage(step),
        }

    async def stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        usage = self.usage(step)
        start = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": step.get("model") or body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "container": None,
            # the counts so far: one output token, and no server tool request yet (the searches are counted in
            # message_delta, as the API's streamed web search shows: its message_start's usage names none)
            # (a step's start_usage: message_start's counts where they differ, such as fewer cache writes split by
            # time to live than message_delta's cumulative count)
            "usage": {**usage, "output_tokens": 1, "server_tool_use": None, **(step.get("start_usage") or {})},
        }
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("ping", {"type": "ping"}),
        ]
        stop = step.get("finish", "tool_use" if step.get("tool_calls") else "end_turn")
        for i, block in enumerate(self.written(step, body, stop)):
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
            elif block["type"] in ("redacted_thinking", "web_search_tool_result"):  # (whole in their start)
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
                # its citations first, each in a citations_delta, as the API streams a cited text
                for citation in block["citations"] or []:
                    delta = {"type": "citations_delta", "citation": citation}
                    events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
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
                                "type": block["type"],  # tool_use, or a server tool's server_tool_use
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
        delta: dict[str, Any] = {
            "stop_reason": stop,
            "stop_sequence": None,
            "stop_details": step.get("stop_details"),
            "container": step.get("container"),
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


#: the citations that cite a document (ResponseCharLocationCitation, page and content block locations): their request
#: forms name no ``file_id`` and take a ``document_title`` of one character or more, or null
_DOCUMENT_CITATIONS = ("char_location", "page_location", "content_block_location")


def conversation(messages: list[dict[str, Any]]) -> str:
    """The key of the conversation ``messages`` are (a paused turn is kept under the messages it goes on)."""
    return json.dumps(messages, sort_keys=True)


def as_sent(block: dict[str, Any]) -> dict[str, Any] | None:
    """A response's content block as the API takes it back in a request (its Request* schema, which refuses what it
    does not name): a text block with no text is none (RequestTextBlock.text: minLength 1); a citation of a document
    loses its ``file_id`` and an empty title is null (as a web search citation's empty ``title`` is)."""
    if block.get("type") == "text" and not block.get("text"):
        return None
    sent = json.loads(json.dumps(block))
    for citation in sent.get("citations") or [] if sent.get("type") == "text" else []:
        if citation.get("type") in _DOCUMENT_CITATIONS:
            citation.pop("file_id", None)
            citation["document_title"] = citation.get("document_title") or None
        elif citation.get("type") == "web_search_result_location":
            citation["title"] = citation.get("title") or None
    return sent
