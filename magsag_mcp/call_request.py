"""The request a call sends: the skill's prompt filled from the payload, with the call's settings
(``payload["model_config"]``, then ``context["llm_overrides"]`` under it) checked and applied.

Where the call goes is resolved separately, in :mod:`magsag_mcp.routing`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import PayloadError
from .plurals import agreeing
from .providers.json_output import instruction_bytes
from .skills import Skill, schema_problem
from .suggest import SCHEMA_KEYWORDS, named, no_schema_given, response_format_problem
from .types import LLMRequest, Message, ToolCall, ToolSpec

#: the keys ``model_config`` and ``context.llm_overrides`` accept: request settings and routing overrides
MODEL_CONFIG_KEYS = frozenset(
    {
        "provider",
        "model",
        "base_url",
        "params",
        "fallbacks",
        "tools",
        "tool_choice",
        "response_format",
        "max_tokens",
        "system",
        "temperature",
        "stop",
        "messages",
        "stream",
    }
)


def optional_str(source: Mapping[str, Any], key: str, where: str) -> str | None:
    """``source[key]`` as a string, or None when absent or empty; anything else is the caller's error."""
    value = source.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string, got {type(value).__name__}")
    return value


#: the tool types that are functions of the caller's: OpenAI's "function", Anthropic's "custom" (its default, with an
#: input_schema; the Responses API's "custom" tools take free text, which no other vendor's do)
_FUNCTION_TOOL_TYPES = frozenset({"function", "custom", None})


def _tools(raw: Any, where: str = "model_config") -> list[ToolSpec]:
    if not isinstance(raw, list):
        raise PayloadError(f"{where}.tools must be a list of tool definitions")
    tools = []
    named: dict[str, int] = {}  # each tool's name, and its place
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise PayloadError(f"{where}.tools[{i}] must be an object like {{'type': 'function', 'function': {{...}}}}")
        kind = item.get("type", "function")
        if (
            not (kind is None or isinstance(kind, str))
            or kind not in _FUNCTION_TOOL_TYPES
            or (kind == "custom" and "input_schema" not in item)
        ):
            # a vendor's own tool (Anthropic's web_search_20250305 or bash_20250124, the Responses API's
            # web_search): sent as a function of its name, the model would hand its calls to the caller to run
            raise PayloadError(
                f"{where}.tools[{i}] is of type {kind!r}: only function tools are taken, "
                "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}; a vendor's server tools "
                "(web search, code execution, bash, ...) are not: magsag sends functions only, and cannot price what "
                "a server tool bills (a web search is billed per search)"
            )
        fn = item.get("function", item) if kind == "function" else item
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise PayloadError(
                f"{where}.tools[{i}] needs a function name: {{'function': {{'name': ..., 'parameters': {{...}}}}}}"
            )
        # OpenAI's parameters, Anthropic's input_schema, or MCP's inputSchema (a client handing on its own tools)
        params = fn.get("parameters") or fn.get("input_schema") or fn.get("inputSchema")
        params = params or {"type": "object", "properties": {}}
        if not isinstance(params, Mapping):
            raise PayloadError(
                f"{where}.tools[{i}] ({fn['name']}): parameters must be a JSON Schema object, "
                f"e.g. {{'type': 'object', 'properties': {{...}}}}; got {type(params).__name__}"
            )
        same = named.setdefault(fn["name"], i)
        if same != i:
            raise PayloadError(
                f"{where}.tools[{i}] is named {fn['name']!r}, as {where}.tools[{same}] is: each tool needs a name of "
                "its own, which its calls name"
            )
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise PayloadError(f"{where}.tools[{i}] ({fn['name']}): strict must be true or false")
        if strict:  # its schema is applied to the answer's arguments: one that cannot be is refused now, unpaid
            _check_schema(params, f"{where}.tools[{i}] ({fn['name']}).parameters")
        tools.append(
            ToolSpec(fn["name"], str(fn.get("description") or ""), dict(params), bool(strict))  # name, ..., strict
        )
    return tools


def _check_schema(schema: Mapping[str, Any], where: str) -> None:
    """A broken schema is the caller's error, found before any target is paid to answer against it:
    the check a skill's own schemas pass at catalog load, a $ref that points at nothing included."""
    problem = schema_problem(dict(schema))
    if problem is not None:
        raise PayloadError(f"{where}: {problem}")


def _stop(raw: Any, where: str) -> list[str]:
    stop = [raw] if isinstance(raw, str) else raw
    if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
        raise PayloadError(f"{where}.stop must be a string or a list of non-empty strings, e.g. ['\\n\\n']")
    return list(stop)


def _tool_choice(raw: Any, where: str = "model_config") -> Any:
    if raw is None or raw in ("auto", "none", "required"):
        return raw
    if raw == "any":
        return "required"
    if isinstance(raw, Mapping):
        if raw.get("disable_parallel_tool_use"):
            # Anthropic's: no other vendor's tool_choice says it, and left out the model may call several tools at once
            raise PayloadError(
                f"{where}.tool_choice.disable_parallel_tool_use is not taken: a call's tool_choice goes to every "
                "target alike, and only Anthropic's API knows it; leave it out, and run the tool calls an answer holds "
                "in turn, or give the target params: {parallel_tool_calls: false}, which OpenAI's and Anthropic's "
                "models take (e.g. {'model': 'gpt-4o', 'params': {'parallel_tool_calls': false}})"
            )
        fn = raw.get("function")
        name = raw.get("name") or (fn.get("name") if isinstance(fn, Mapping) else None)
        if isinstance(name, str):
            return {"name": name}
        # MCP's: {"mode": "auto" | "required" | "none"}
        if raw.keys() == {"mode"} and raw["mode"] in ("auto", "none", "required"):
            return raw["mode"]
        # Anthropic's shape: {"type": "auto"}, {"type": "any"}, {"type": "none"}
        kind = raw.get("type")
        if kind in ("auto", "none", "any") and raw.keys() <= {"type", "disable_parallel_tool_use"}:
            return "required" if kind == "any" else kind
    raise PayloadError(f"{where}.tool_choice must be 'auto', 'none', 'required' or {{'name': 'function_name'}}")


def _messages(raw: Any, where: str = "model_config") -> list[Message]:
    if not isinstance(raw, list):
        raise PayloadError(f"{where}.messages must be a list of {{role, content, ...}} objects")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping) or m.get("role") not in ("user", "assistant", "tool"):
            # a system prompt has a place of its own, which every provider sends its own way
            system = isinstance(m, Mapping) and m.get("role") in ("system", "developer")
            raise PayloadError(
                f"{where}.messages[{i}].role must be 'user', 'assistant' or 'tool'"
                + (f"; a system prompt goes in {where}.system" if system else "")
            )
        calls = []
        raw_calls = m.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise PayloadError(f"{where}.messages[{i}].tool_calls must be a list")
        for j, tc in enumerate(raw_calls):
            fn = tc.get("function", tc) if isinstance(tc, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                raise PayloadError(
                    f"{where}.messages[{i}].tool_calls[{j}] needs a function name: "
                    "{'id': ..., 'function': {'name': ..., 'arguments': '{...}'}}"
                )
            args = fn.get("arguments") or {}
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    raise PayloadError(f"{where}.messages[{i}]: tool call arguments are not JSON") from None
                except RecursionError:
                    raise PayloadError(
                        f"{where}.messages[{i}]: tool call arguments are nested too deeply to read; send them as "
                        "the model returned them"
                    ) from None
            if not isinstance(args, Mapping):
                raise PayloadError(f"{where}.messages[{i}].tool_calls[{j}].arguments must be a JSON object")
            signature = tc.get("signature")  # Gemini's, or Claude's or OpenAI's reasoning, as invoke returned it
            calls.append(
                ToolCall(
                    str(tc.get("id") or f"call_{len(calls)}"),
                    fn["name"],
                    args,
                    signature if isinstance(signature, str) else None,
                )
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            if m["role"] != "tool":  # (a tool's own output is its data, whatever it holds)
                _no_tool_blocks(content, f"{where}.messages[{i}]")
            texts = _text_blocks(content)
            content = "\n".join(texts) if texts is not None else json.dumps(content, ensure_ascii=False)
        answers = _answered_call(m, i, out, where) if m["role"] == "tool" else None
        msg = Message(role=m["role"], content=content, tool_calls=calls, tool_call_id=answers, name=m.get("name"))
        if m.get("is_error") is not None or m.get("isError") is not None:
            msg.is_error = _is_error(m, i, where)
        out.append(msg)
    return out


def _is_error(m: Mapping[str, Any], i: int, where: str) -> bool:
    """A tool message's ``is_error`` (or ``isError``, as an MCP CallToolResult an MCP client hands on says it): the
    tool failed, and its content says how (what Claude and Gemini are told)."""
    given = {key: m[key] for key in ("is_error", "isError") if m.get(key) is not None}
    for key, flag in given.items():
        if m["role"] != "tool":
            raise PayloadError(
                f"{where}.messages[{i}].{key} is taken on a tool result (role 'tool') only, to say the tool failed"
            )
        if not isinstance(flag, bool):
            raise PayloadError(f"{where}.messages[{i}].{key} must be true or false")
    if len(set(given.values())) > 1:
        raise PayloadError(
            f"{where}.messages[{i}] has is_error {str(given['is_error']).lower()} and isError "
            f"{str(given['isError']).lower()}: give one of them"
        )
    return next(iter(given.values()))


#: the blocks other APIs write a tool call or its result as, and whose shape they are
_TOOL_BLOCKS = {
    "tool_use": ("Anthropic's", "call"),
    "tool_result": ("Anthropic's", "result"),
    "function_call": ("the Responses API's", "call"),
    "function_call_output": ("the Responses API's", "result"),
}


def _no_tool_blocks(content: Any, where: str) -> None:
    """Refuse a tool call or result written as another API's content block: taken as text, the model read its JSON
    as the turn's words, and neither the call nor its result as such."""
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, Mapping) else None
        if isinstance(kind, str) and kind in _TOOL_BLOCKS:
            whose, what = _TOOL_BLOCKS[kind]
            shape = (
                "a tool call goes as {'role': 'assistant', 'tool_calls': "
                "[{'id': ..., 'name': ..., 'arguments': {...}}]}"
                if what == "call"
                else "a tool's result goes as {'role': 'tool', 'tool_call_id': ..., 'content': ...}"
            )
            raise PayloadError(f"{where}.content holds a {kind} block ({whose} shape): {shape}")


#: a text block's type: Anthropic's, OpenAI Chat's and MCP's "text", OpenAI Responses' input and output text
_TEXT_TYPES = ("text", "input_text", "output_text")
#: what a text block holds beside its text that the model does not read (a cache breakpoint, an answer's citations,
#: MCP's annotations and _meta on a tool result's blocks)
_TEXT_BLOCK_KEYS = frozenset({"type", "text", "cache_control", "citations", "annotations", "logprobs", "_meta"})


def _text_blocks(content: Any) -> list[str] | None:
    """The texts of content written as a list of text blocks (``[{"type": "text", "text": ...}]``, as Anthropic's and
    OpenAI's APIs and MCP tool results write it), or None for any other content (a tool's own JSON output, records
    with a "text" and fields of their own: a url, a score, which the model must see too)."""
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for block in content:
        if (
            not isinstance(block, Mapping)
            or block.get("type") not in _TEXT_TYPES
            or not isinstance(block.get("text"), str)
            or not block.keys() <= _TEXT_BLOCK_KEYS
        ):
            return None
        texts.append(block["text"])
    return texts


def _answered_call(m: Mapping[str, Any], i: int, before: list[Message], where: str) -> str:
    """The id of the tool call a ``tool`` message answers, which every vendor requires to be one an assistant
    message before it made: without it OpenAI and Anthropic refuse the whole request (400, after the caller's
    earlier turns were paid for), and Gemini's answer to it is named for no function. A message without one
    answers the one call still open (of its ``name``, if it gives one, as Gemini's own API pairs them)."""
    made = [tc for msg in before if msg.role == "assistant" for tc in msg.tool_calls]
    answered = {msg.tool_call_id for msg in before if msg.role == "tool"}
    open_calls = [tc for tc in made if tc.id not in answered]
    open_ids = ", ".join(repr(tc.id) for tc in open_calls) or "none is open"
    given = m.get("tool_call_id")
    if not made:
        raise PayloadError(
            f"{where}.messages[{i}] (role 'tool') answers no tool call: send the assistant message with the "
            "tool_calls invoke returned before it, then one tool message per call with that call's id as tool_call_id"
        )
    if given is None or given == "":
        name = m.get("name")
        candidates = [tc for tc in open_calls if name is None or tc.name == name]
        if len(candidates) == 1:
            return candidates[0].id
        raise PayloadError(
            f"{where}.messages[{i}] (role 'tool') needs tool_call_id, the id of the tool call it answers "
            f"(tool_calls[].id of the assistant message before it: {open_ids})"
        )
    if given not in {tc.id for tc in made}:
        raise PayloadError(
            f"{where}.messages[{i}].tool_call_id {given!r} is the id of no tool call of an assistant message before "
            f"it; the calls still to answer: {open_ids}"
        )
    return str(given)


def build_request(
    skill: Skill,
    payload: Mapping[str, Any],
    model_config: Mapping[str, Any],
    llm_overrides: Mapping[str, Any] | None = None,
) -> tuple[LLMRequest, set[str]]:
    """The skill's prompt filled from the payload, with the call's settings applied.

    ``context.llm_overrides`` takes the same keys as ``model_config`` and is applied first, so that
    ``model_config`` (the payload's own setting) wins key by key. Both are checked the same way.
    """
    for where, cfg in (("context.llm_overrides", llm_overrides), ("model_config", model_config)):
        if not cfg:  # (most calls set neither: no set made of nothing, none subtracted)
            continue
        unknown = set(cfg) - MODEL_CONFIG_KEYS
        if unknown:
            raise PayloadError(
                f"{where} has unknown {agreeing(len(unknown), 'key')} {named(unknown, MODEL_CONFIG_KEYS)}; allowed: "
                f"{sorted(MODEL_CONFIG_KEYS)}"
            )
    parts = skill.call_parts  # plain attributes: a pydantic model's cost several times as much to read
    user = parts.render(payload)
    # positional, in the field order: a class called with keywords builds and unpacks a dict of them
    # (Python 3.11), on every call
    req = LLMRequest(
        [Message("user", user)],  # messages
        parts.system,
        [],  # tools
        None,  # tool_choice
        parts.json_output,
        parts.json_schema,
        parts.json_schema_name,
        parts.output_validator,  # json_validator
        parts.max_tokens,
        parts.temperature,
    )
    pinned: set[str] = set()
    if not llm_overrides and not model_config:  # most calls: the skill's settings as they are
        return req, pinned
    lo = dict(llm_overrides or {})
    if model_config.get("messages") is not None:
        lo.pop("messages", None)  # key by key: model_config's history replaces, never doubles, the other
    _apply(req, pinned, lo, "context.llm_overrides")
    _apply(req, pinned, model_config, "model_config")
    if req.tool_choice not in (None, "auto", "none"):
        _check_forced_tool(req, "model_config" if "tool_choice" in model_config else "context.llm_overrides")
    return req, pinned


def _check_forced_tool(req: LLMRequest, where: str) -> None:
    """A tool_choice that forces a call ("required", or a function by name) needs the tool it forces among the call's
    tools (which ``model_config`` and ``context.llm_overrides`` give together): OpenAI refuses it otherwise (400,
    which stops the cascade), Anthropic's and Gemini's paths would drop it and answer in text."""
    choice = req.tool_choice
    names = [t.name for t in req.tools]
    if choice == "required":
        if not names:
            raise PayloadError(
                f"{where}.tool_choice 'required' asks for a tool call, but the call offers no tools: give "
                "model_config.tools, or leave tool_choice out"
            )
        return
    name = choice["name"] if isinstance(choice, dict) else None
    if name in names:
        return
    if not names:
        raise PayloadError(
            f"{where}.tool_choice names the function {name!r}, but the call offers no tools: give it in "
            "model_config.tools, or leave tool_choice out"
        )
    raise PayloadError(
        f"{where}.tool_choice names the function {name!r}, which is none of the call's tools: "
        f"{', '.join(repr(n) for n in names)}; name one of them, or give {name!r} in model_config.tools"
    )


def _apply(req: LLMRequest, pinned: set[str], cfg: Mapping[str, Any], where: str) -> None:
    if not cfg:  # most calls set nothing: a dozen lookups less, twice a call
        return
    if "system" in cfg:
        req.system = optional_str(cfg, "system", where)
    if cfg.get("max_tokens") is not None:
        value = cfg["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise PayloadError(f"{where}.max_tokens must be a positive integer")
        req.max_tokens = value
        pinned.add("max_tokens")
    if cfg.get("temperature") is not None:
        value = cfg["temperature"]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 2:
            raise PayloadError(f"{where}.temperature must be a number between 0 and 2")
        req.temperature = float(value)
        pinned.add("temperature")
    if cfg.get("stop") is not None:
        req.stop = _stop(cfg["stop"], where)
        pinned.add("stop")
    if cfg.get("tools") is not None:
        req.tools = _tools(cfg["tools"], where)
    if "tool_choice" in cfg:
        req.tool_choice = _tool_choice(cfg["tool_choice"], where)
    if cfg.get("response_format") is not None:
        rf = cfg["response_format"]
        kind = rf.get("type") if isinstance(rf, Mapping) else None
        req.json_schema_strict, req.json_schema_description = False, None
        if kind == "json_object":
            req.json_output, req.json_schema, req.json_validator = True, None, None
        elif kind == "json_schema":
            js = rf.get("json_schema") or {}
            if isinstance(js, Mapping) and js.get("schema") is None and not set(js) & SCHEMA_KEYWORDS:
                # no schema: the answer went unconstrained, as any JSON object, and came back as though it fitted
                raise PayloadError(no_schema_given(where, bool(rf.get("json_schema"))))
            if not isinstance(js, Mapping) or not isinstance(js.get("schema") or {}, Mapping):
                raise PayloadError(f"{where}.response_format.json_schema must be {{'name': ..., 'schema': {{...}}}}")
            _check_json_schema_keys(js, f"{where}.response_format.json_schema")
            _check_schema(js.get("schema") or {}, f"{where}.response_format.json_schema.schema")
            req.json_output = True
            req.json_schema = js.get("schema") or {"type": "object"}
            req.json_validator = None  # the skill's validator checks the skill's schema, not this one
            req.json_schema_name = js.get("name") or req.json_schema_name
            strict = js.get("strict")
            if strict is not None and not isinstance(strict, bool):
                raise PayloadError(f"{where}.response_format.json_schema.strict must be true or false")
            req.json_schema_strict = bool(strict)
            description = js.get("description")
            if description is not None and not isinstance(description, str):
                raise PayloadError(f"{where}.response_format.json_schema.description must be a string")
            req.json_schema_description = description or None
        elif kind == "text":
            req.json_output, req.json_schema, req.json_validator = False, None, None
        else:
            raise PayloadError(response_format_problem(rf, where))
    if cfg.get("messages") is not None:
        req.messages.extend(_messages(cfg["messages"], where))
    if cfg.get("stream") is not None:
        if not isinstance(cfg["stream"], bool):
            raise PayloadError(f"{where}.stream must be true or false")
        req.stream = cfg["stream"]


#: what OpenAI's ``response_format.json_schema`` takes (ResponseFormatJsonSchema), which every provider reads
JSON_SCHEMA_KEYS = ("name", "description", "schema", "strict")


def _check_json_schema_keys(js: Mapping[str, Any], where: str) -> None:
    """Refuse keys ``json_schema`` does not take: only its ``schema`` is applied, so a schema written in its place
    (``{"type": "object", "properties": ...}``) or a misspelt ``strict`` was ignored, and the answer came back
    unconstrained and unchecked as though it fitted."""
    unknown = [key for key in js if key not in JSON_SCHEMA_KEYS]
    if not unknown:
        return
    own = sorted(str(key) for key in unknown if key in SCHEMA_KEYWORDS)
    if own and "schema" not in js:
        keys = ", ".join(repr(key) for key in own)
        raise PayloadError(
            f"{where} holds a schema's own keys ({keys}); put the schema under 'schema': "
            "{'name': ..., 'schema': {...}, 'strict': true}"
        )
    raise PayloadError(
        f"{where} has unknown key {named(unknown, JSON_SCHEMA_KEYS)}; it takes: {', '.join(JSON_SCHEMA_KEYS)}"
    )


def estimate_input_tokens(request: LLMRequest) -> int:
    """A safe over-estimate of prompt tokens without a tokenizer: half the UTF-8 byte count.

    English runs about four bytes per token and CJK about three, so this errs high, which is the
    right way for a budget reservation to err.
    """
    size = len((request.system or "").encode())
    for m in request.messages:
        size += len((m.content or "").encode()) + 16
        for tc in m.tool_calls:
            size += len(str(tc.arguments).encode()) + len(tc.name) + 16
            if tc.signature:  # Claude's thinking before the call goes back with it, and is read as input
                size += len(tc.signature.encode())
    for t in request.tools:
        size += len(str(t.parameters).encode()) + len(t.description.encode()) + len(t.name) + 16
    if request.json_schema:
        size += len(str(request.json_schema).encode())
    # the schema's description, which the model reads wherever the schema goes, and the instruction framing the
    # schema where it goes in the prompt (a Claude that takes no forced tool, Gemini beside tools)
    size += instruction_bytes(request)
    return size // 2 + 8
