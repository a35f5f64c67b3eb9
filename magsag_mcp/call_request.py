"""The request a call sends: the skill's prompt filled from the payload, with the call's settings
(``payload["model_config"]``, then ``context["llm_overrides"]`` under it) checked and applied.

Where the call goes is resolved separately, in :mod:`magsag_mcp.routing`; the conversation a call carries
(``messages``) is read in call_messages.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from .call_messages import _messages, every_call_answered
from .errors import PayloadError
from .images import image_tokens_at_most
from .max_tokens_limit import max_tokens_refusal
from .plurals import agreeing
from .predictions import tokens_at_most
from .providers.json_output import instruction_bytes
from .response_formats import RESPONSE_FORMAT_TYPES, no_schema_given, response_format_problem
from .skills import CallParts, schema_problem
from .suggest import SCHEMA_KEYWORDS, named, named_settings
from .types import LLMRequest, Message, Target, ToolSpec

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
        # (an empty name every vendor refuses, and calls of it would name nothing)
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
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


class WithCallParts(Protocol):
    """What :func:`build_request` reads of a skill: its call parts (a :class:`~.skills.Skill`'s, or those of the
    smallest call of one that ``call_fit.floor_plan`` builds)."""

    @property
    def call_parts(self) -> CallParts: ...


def build_request(
    skill: WithCallParts,
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
                f"{where} has unknown {agreeing(len(unknown), 'key')} {named_settings(unknown, MODEL_CONFIG_KEYS)}; "
                "allowed: "
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
        if (refusal := max_tokens_refusal(value, f"{where}.max_tokens")) is not None:
            raise PayloadError(refusal)
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
        req.json_schema_strict, req.json_schema_description, req.json_schema_given = False, None, True
        if kind in RESPONSE_FORMAT_TYPES:
            _check_response_format_keys(rf, kind, where)
        if kind == "json_object":
            req.json_output, req.json_schema, req.json_validator = True, None, None
        elif kind == "json_schema":
            js = rf.get("json_schema") or {}
            unsaid = isinstance(js, Mapping) and js.get("schema") is None and not set(js) & SCHEMA_KEYWORDS
            if unsaid and not js.get("name"):
                # neither a schema nor a name: nothing says this is the structured answer OpenAI's name alone asks
                raise PayloadError(no_schema_given(where, bool(rf.get("json_schema"))))
            if not isinstance(js, Mapping) or not isinstance(js.get("schema", {}), Mapping | None):
                raise PayloadError(f"{where}.response_format.json_schema must be {{'name': ..., 'schema': {{...}}}}")
            _check_json_schema_keys(js, f"{where}.response_format.json_schema")
            _check_schema(js.get("schema") or {}, f"{where}.response_format.json_schema.schema")
            req.json_output = True
            req.json_schema = js.get("schema") or {"type": "object"}
            req.json_validator = None  # the skill's validator checks the skill's schema, not this one
            name = js.get("name")
            if name is not None and not isinstance(name, str):
                raise PayloadError(f"{where}.response_format.json_schema.name must be a string")
            req.json_schema_name = name or req.json_schema_name
            # a name alone (OpenAI's json_schema requires only it): any JSON object, {"type": "object"} above
            req.json_schema_given = not unsaid
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
        history = _messages(cfg["messages"], where)
        every_call_answered(history, where)
        req.messages.extend(history)
    if cfg.get("stream") is not None:
        if not isinstance(cfg["stream"], bool):
            raise PayloadError(f"{where}.stream must be true or false")
        req.stream = cfg["stream"]


#: what OpenAI's ``response_format.json_schema`` takes (ResponseFormatJsonSchema), which every provider reads
JSON_SCHEMA_KEYS = ("name", "description", "schema", "strict")
#: what ``response_format`` itself takes (ResponseFormatText, ResponseFormatJsonObject, ResponseFormatJsonSchema)
RESPONSE_FORMAT_KEYS = ("type", "json_schema")


def _check_response_format_keys(rf: Mapping[str, Any], kind: str, where: str) -> None:
    """Refuse what ``response_format`` does not take, which was passed over: a ``strict: true`` beside
    ``json_schema`` left the answer unheld to the schema, the Responses API's flat ``text.format`` (name and schema
    beside the type) was told only that json_schema is missing, and a ``json_schema`` beside type ``json_object``
    or ``text`` was never applied, the answer returned unchecked against it."""
    unknown = [key for key in rf if key not in RESPONSE_FORMAT_KEYS]
    misplaced = sorted(str(key) for key in unknown if key in JSON_SCHEMA_KEYS)
    if misplaced:
        keys = ", ".join(repr(key) for key in misplaced)
        flat = ", as the Responses API's text.format writes them" if {"name", "schema"} & set(misplaced) else ""
        raise PayloadError(
            f"{where}.response_format holds json_schema's own keys ({keys}){flat}; put them under 'json_schema': "
            "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}, 'strict': true}}"
        )
    if unknown:
        raise PayloadError(
            f"{where}.response_format has unknown key {named(unknown, RESPONSE_FORMAT_KEYS)}; it takes: "
            f"{', '.join(RESPONSE_FORMAT_KEYS)}"
        )
    if kind != "json_schema" and rf.get("json_schema"):
        raise PayloadError(
            f"{where}.response_format.json_schema is taken with type 'json_schema' alone: with type {kind!r} the "
            "answer is not held to it nor checked against it; write {'type': 'json_schema', 'json_schema': {...}}, "
            "or leave json_schema out"
        )


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


def estimate_input_tokens(request: LLMRequest, target: Target | None = None) -> int:
    """A safe over-estimate of prompt tokens without a tokenizer: half the UTF-8 byte count (:func:`tokens_at_most`,
    the rule a prediction's tokens are bounded by too), and each picture at the most ``target``'s vendor bills one as
    (:func:`~.images.image_tokens_at_most`; without a target, the most any vendor does), not its base64's size."""
    text, pictures = estimate_input_parts(request, target)
    return text + pictures


def estimate_input_parts(request: LLMRequest, target: Target | None = None) -> tuple[int, int]:
    """:func:`estimate_input_tokens` in its two parts: (the text's estimate, the pictures' tokens). The text's is half
    its bytes, and the vendor may count up to twice it (see worst_cases.PROMPT_PER_ESTIMATE_AT_MOST); the pictures'
    are already the most the vendor bills them as, which no multiple of the estimate should raise."""
    size = len((request.system or "").encode())
    pictures = 0
    provider, model = (target.provider, target.model) if target is not None else (None, "")
    for m in request.messages:
        size += len((m.content or "").encode()) + 16
        if m.blocks:  # a paused turn sent back whole: its search results' encrypted_content is read as input too
            size += len(json.dumps(m.blocks, ensure_ascii=False, default=str).encode())
        for image in m.images if m.parts else ():
            pictures += image_tokens_at_most(image, provider, model)
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
    return tokens_at_most(size), pictures
