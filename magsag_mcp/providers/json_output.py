"""The answer a call asked to be JSON: the instruction sent to formats without a JSON mode, and the
parse and schema check of what came back (vendors' structured-output modes are not all strict, so the
caller's schema is enforced here, once, for every format)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .. import strict_json
from ..errors import InvalidOutputError, PayloadError, ProviderError, excerpt
from ..types import LLMRequest, LLMResult, Message

#: what a format without a JSON mode for this call (Anthropic always; Gemini beside tools) tells the model
JSON_INSTRUCTION = "Answer with a single JSON object and nothing else: no prose, no code fences."


#: what frames a schema asked for in the prompt, before the schema, and before its description
_SCHEMA_WORDING = (
    "Answer with a single JSON document that conforms to this JSON schema, and nothing else: no prose, no code "
    "fences. The schema: "
)
_DESCRIBED = "\nWhat the JSON document is: "


def any_object() -> dict[str, Any]:
    """JSON mode as a JSON schema (a name and a schema of any object; a new one each call), for local servers:
    LM Studio refuses json_object ("'response_format.type' must be 'json_schema' or 'text'"), Ollama's Responses
    API ignores it (the answer unconstrained); both, and vLLM and llama.cpp, hold an answer to it to an object."""
    return {"name": "json_object", "schema": {"type": "object"}}


#: what may not stand at the root of a schema OpenAI's structured outputs answer to (strict mode: "Root ... must not
#: be anyOf"), nor at the top of Claude's tool input_schema
_TOP_COMBINERS = frozenset({"oneOf", "anyOf", "allOf"})
#: the keys of a schema that belong at its document's root: "#/$defs/..." references point there
_ROOT_KEYS = ("$schema", "$defs", "definitions")


def object_rooted(schema: Mapping[str, Any]) -> bool:
    """Whether ``schema`` says an object at its root, with no combiner there: what OpenAI's structured outputs take
    (400 "Invalid schema for response_format 'x': schema must be a JSON Schema of 'type: "object"', got 'type:
    "array"'", strict or not); any other is sent :func:`value_wrapped`."""
    return schema.get("type") == "object" and _TOP_COMBINERS.isdisjoint(schema)


def value_wrapped(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as the ``value`` of an object's schema (closed, as strict mode requires), its ``$defs`` (and
    draft-07 ``definitions``) kept at the root, where its references point. The answer's ``value`` is the answer
    (:func:`unwrap_value`)."""
    inner = {k: v for k, v in schema.items() if k not in _ROOT_KEYS}
    out: dict[str, Any] = {
        "type": "object",
        "properties": {"value": inner},
        "required": ["value"],
        "additionalProperties": False,
    }
    out.update((k, schema[k]) for k in _ROOT_KEYS if k in schema)
    return out


def unwrap_value(result: LLMResult) -> None:
    """An answer to a :func:`value_wrapped` schema, ``{"value": ...}``: its value becomes the answer's text, which
    is then parsed and checked against the call's own schema. Any other (an answer the model wrote unwrapped, as a
    schema not held strictly lets it, or no JSON at all) is left for that check as it is."""
    try:
        doc = strict_json.loads(after_thinking(result.text).strip())
    except ValueError:
        return
    if isinstance(doc, dict) and len(doc) == 1 and "value" in doc:
        result.text = json.dumps(doc["value"], ensure_ascii=False)


def with_json_instruction(
    system: str | None, schema: Mapping[str, Any] | None = None, description: str | None = None
) -> str:
    """``system`` with the instruction to answer in JSON after it: :data:`JSON_INSTRUCTION`, or for a call whose JSON
    schema says more than "an object", the schema itself. Told only to answer with an object, the model never saw
    the schema its answer is checked against (no forced tool, no response schema carries it here): not its fields,
    nor that the answer is an array. ``description`` (``response_format.json_schema.description``: what the answer
    is for), which the schema's tool or response format carries elsewhere, follows it."""
    said = JSON_INSTRUCTION
    if schema is not None and dict(schema) != {"type": "object"}:
        written = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        said = f"{_SCHEMA_WORDING}{written}"
    if description:
        said = f"{said}{_DESCRIBED}{description}"
    return f"{system}\n\n{said}" if system else said


def asks_for_json(system: str) -> bool:
    """Whether a system prompt carries :func:`with_json_instruction`'s instruction (what a stand-in vendor, such as
    :mod:`magsag_mcp.loopback`, reads to answer in JSON as the model would)."""
    return JSON_INSTRUCTION in system or _SCHEMA_WORDING in system


def instruction_bytes(request: LLMRequest) -> int:
    """The bytes :func:`with_json_instruction` adds to a JSON call's prompt beside the schema itself: the wording, and
    the schema's description after it, which a budget's estimate of the prompt counts (a target that takes the schema
    in a tool or response format reads the description there; one that takes it in the prompt reads both)."""
    if request.json_schema is None and not request.json_output:
        return 0
    size = len(_SCHEMA_WORDING) if request.json_schema is not None else len(JSON_INSTRUCTION)
    if request.json_schema_description:
        size += len(_DESCRIBED) + len(request.json_schema_description.encode())
    return size + 2  # the blank line after a system prompt


def json_mode_system(request: LLMRequest) -> str | None:
    """The system prompt of an OpenAI-format call in JSON mode (json_object): OpenAI's "you **must** also
    instruct the model to produce JSON yourself via a system or user message", which the API enforces (400
    "'messages' must contain the word 'json' in some form"). When no message says "json", the system prompt
    asks for it."""
    if request.json_schema is not None or not request.json_output or "json" in (request.system or "").lower():
        return request.system
    if says_json(request.messages):
        return request.system
    return with_json_instruction(request.system)


def says_json(messages: list[Message]) -> bool:
    """Whether a message of the conversation says "json" (in any case)."""
    return any(m.content and "json" in m.content.lower() for m in messages)


_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def schema_name(name: str, notes: list[str]) -> str:
    """The JSON schema's name as the API takes it ("a-z, A-Z, 0-9, or ... underscores and dashes, with a
    maximum length of 64"; anything else is a 400): other characters become "_", noted in ``notes``."""
    sent = _NOT_IN_NAME.sub("_", name)[:64] or "output"
    if sent != name:
        notes.append(f"the JSON schema's name {name!r} was sent as {sent!r} (OpenAI takes a-z, 0-9, _ and -, up to 64)")
    return sent


def parse_json_output(
    result: LLMResult,
    provider: str,
    schema: Mapping[str, Any] | None = None,
    validator: Any = None,
    cut: tuple[str, str] | None = None,
) -> Any:
    """The model was asked for JSON: parse it (and check it against ``schema`` when one was asked
    for), or fail so the cascade can move on. Vendors' "structured output" modes are not all strict
    (JSON mode, Gemini's schema subset, a prompt instruction), so the caller's schema is enforced here.
    ``validator`` is ``schema`` already compiled (``LLMRequest.json_validator``), when its owner had one.
    ``cut``: what cut a "length" answer and the fix, where it was not max_tokens (:func:`.empty_answers.server_cut`).
    An answer that calls a tool is not the final answer, and its text (a model's "Let me look that up." before the
    call) is no JSON document: it is kept as the answer's text, and nothing is parsed (None)."""
    if result.tool_calls:
        return None
    text = document_text(result.text)
    try:
        value = strict_json.loads(text)  # NaN and Infinity are no JSON: an answer holding one is invalid
    except json.JSONDecodeError as exc:  # (strict_json's every refusal, with its msg and pos)
        what = f"{exc.msg}, char {exc.pos}"
        if result.finish_reason == "length":
            # not a model that wrote broken JSON: max_tokens (or the context window) stopped it mid-document
            by, fix = cut or ("max_tokens", "raise max_tokens")
            message = (
                f"{provider}:{result.model} was asked for JSON but its answer was cut short by {by} before the JSON "
                f"was complete (finish_reason length; {what}): {excerpt(result.text, 120)!r}; {fix}"
            )
        else:
            message = (
                f"{provider}:{result.model} was asked for JSON but returned invalid JSON ({what}): "
                f"{excerpt(result.text, 120)!r}"
            )
        raise _billed(InvalidOutputError(message, provider=provider, model=result.model), result) from None
    if schema:
        try:
            problem = _schema_problem(value, schema, validator)
        except PayloadError as exc:
            exc.usage = result.usage  # the caller's error, but found only once the vendor had answered
            raise
        if problem is not None:
            raise _billed(
                InvalidOutputError(
                    f"{provider}:{result.model} returned JSON that does not match the requested schema: {problem}",
                    provider=provider,
                    model=result.model,
                ),
                result,
            )
    return value


def document_text(text: str) -> str:
    """The JSON document's text in an answer's ``text``: without a reasoning model's inline thinking before it
    (:func:`after_thinking`), and without a code fence around it (some models fence JSON even in JSON mode)."""
    text = after_thinking(text).strip()
    if text.startswith("```"):
        text = text.strip("`")
        if text.startswith("json"):
            text = text[4:]
        text = text.strip()
    return text


def check_strict_calls(result: LLMResult, request: LLMRequest, provider: str) -> None:
    """Fail an answer whose call of a ``strict`` tool has arguments that do not fit the tool's schema: OpenAI holds
    them to it, no other vendor does, and the caller that asked for strict runs the tool on them."""
    strict = {t.name: t.parameters for t in request.tools if t.strict}
    for call in result.tool_calls:
        schema = strict.get(call.name)
        problem = _schema_problem(call.arguments, schema) if schema is not None else None
        if problem is not None:
            raise _billed(
                InvalidOutputError(
                    f"{provider}:{result.model} called the strict tool {call.name!r} with arguments that do not match "
                    f"its schema: {problem}",
                    provider=provider,
                    model=result.model,
                ),
                result,
            )


#: a reasoning model's thinking written before its answer, in the answer: an opening tag, or (where the chat template
#: opened it in the prompt) the closing one alone, after text that is no JSON document (one may hold "</think>")
_THINKING = re.compile(r"\A\s*<(think|thinking)>.*?</\1>|\A\s*(?![{\[`]).*?</think>", re.DOTALL | re.IGNORECASE)


def after_thinking(text: str) -> str:
    """``text`` without the thinking a reasoning model wrote before its answer, inline (DeepSeek-R1's, Qwen3's
    ``<think>...</think>``, where the server has no reasoning parser: vLLM without --reasoning-parser, llama.cpp with
    --reasoning-format none, Together's and Groq's R1 by default). The thinking is not the JSON document after it."""
    if "</" not in text:  # most answers: no regex at all
        return text
    return _THINKING.sub("", text, count=1)


#: thinking written inline before a text answer: an opening tag at the start only (a text may quote a closing one)
_OPENED_THINKING = re.compile(r"\A\s*<(think|thinking)>.*?</\1>\s*", re.DOTALL | re.IGNORECASE)
#: thinking that max_tokens cut before its closing tag
_CUT_THINKING = re.compile(r"\A\s*<(think|thinking)>.*", re.DOTALL | re.IGNORECASE)
#: thinking whose opening tag the chat template wrote into the prompt: the answer holds only the closing one, on a line
#: of its own ("...\n</think>\n\nanswer", as DeepSeek-R1's and Qwen3's models write it); a first "</think>" in a
#: sentence or in code ('text.split("</think>")') is an answer's text about the tag, left whole
_CLOSED_THINKING = re.compile(
    r"\A(?:(?!</?think>).)*?(?:\A|(?<=\n))[ \t]*</think>[ \t\r]*(?:\n\s*|\Z)", re.DOTALL | re.IGNORECASE
)
_CLOSING_TAG = re.compile(r"</think>", re.IGNORECASE)


def without_inline_thinking(result: LLMResult, request: LLMRequest | None = None) -> None:
    """Leave a reasoning model's inline thinking out of a text answer (a local server without a reasoning parser
    writes ``<think>...</think>`` before it, as :func:`after_thinking` says): it is not the answer, and it restates the
    input (pii-redaction's answer carried the personal data it had redacted, in the thinking before it).

    DeepSeek-R1's chat template (and Qwen3's thinking models', as Qwen documents) writes the opening ``<think>`` at
    the end of the prompt, so the answer holds only ``...</think>`` and the answer after it; vLLM's deepseek_r1 and
    qwen3 reasoning parsers read everything before that closing tag as the reasoning. It is left out the same way,
    unless the prompt itself holds a ``</think>`` (``request``'s system or messages): then the answer may be quoting
    it (a redaction of a transcript that holds one), and text the caller needs is never cut on a guess."""
    if "<" not in result.text:  # most answers: no regex at all
        return
    found = _OPENED_THINKING.match(result.text) if "</" in result.text else None
    if found is not None:
        result.text = result.text[found.end() :]
        result.warnings.append(
            f"{result.model}'s inline thinking (<{found.group(1)}>...</{found.group(1)}>, {found.end():,} characters) "
            "was left out of the answer's text"
        )
    elif (
        "</" in result.text
        and request is not None
        and (closed := _CLOSED_THINKING.match(result.text)) is not None
        and not prompt_holds_closing_tag(request)
    ):
        result.text = result.text[closed.end() :]
        result.warnings.append(
            f"{result.model}'s inline thinking (...</think> without its opening tag, which the chat template writes "
            f"into the prompt; {closed.end():,} characters) was left out of the answer's text"
        )
    elif result.finish_reason == "length" and (cut := _CUT_THINKING.match(result.text)) is not None:
        # max_tokens stopped it mid-thought, before the closing tag: all of it is thinking (restating the input, as
        # above), and no answer
        result.text = ""
        result.warnings.append(
            f"{result.model}'s inline thinking (<{cut.group(1)}>... never closed, {cut.end():,} characters) was left "
            "out of the answer's text"
        )


def prompt_holds_closing_tag(request: LLMRequest) -> bool:
    if request.system and _CLOSING_TAG.search(request.system):
        return True
    return any(m.content and _CLOSING_TAG.search(m.content) for m in request.messages)


def _billed(exc: ProviderError, result: LLMResult) -> ProviderError:
    """The model answered (and the vendor bills the tokens) but the answer is unusable: the error
    carries the usage, so the attempt is recorded at its real cost, not at zero."""
    exc.usage = result.usage
    return exc


#: compiled schemas that came without a validator: a call's own ``response_format`` schema arrives as a
#: new dict each time, so only its content can tell that it was seen before
_VALIDATORS: dict[str, Any] = {}


def _compiled(schema: Mapping[str, Any]) -> Any:
    from ..skills import compile_validator

    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _VALIDATORS.get(key)
    if validator is None:
        if len(_VALIDATORS) > 256:  # per-call schemas: keep the cache bounded
            _VALIDATORS.clear()
        validator = _VALIDATORS[key] = compile_validator(dict(schema))
    return validator


def _schema_problem(value: Any, schema: Mapping[str, Any], validator: Any = None) -> str | None:
    """The first way ``value`` breaks ``schema`` ("at $.total: 'x' is not of type 'number'"), or None."""
    import jsonschema

    # The identity check, not trust: a request copied with another schema may still carry the old validator.
    if validator is None or validator.schema is not schema:
        validator = _compiled(schema)
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except Exception as exc:  # passed check_schema but cannot be applied: a dangling $ref
        if hasattr(exc, "ref"):  # a referencing error, which names its own kind ("PointerToNowhere: ...")
            what, fix = str(exc), "point each $ref at a schema it can reach, e.g. '#/$defs/name' with name under $defs"
        else:
            what, fix = f"{type(exc).__name__}: {exc}", "correct the schema"
        raise PayloadError(f"the requested JSON schema cannot be applied ({what[:200]}); {fix}") from None
    if error is None:
        return None
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"at {where}: {error.message[:200]}"


#: the start of a value wrapped as ``{"value": ...}`` (a forced JSON tool's input for a schema that is no object)
_WRAPPER_OPENS = re.compile(r'\s*\{\s*"value"\s*:\s*')


class StreamedDocument:
    """The text of the JSON document a forced tool's input carries, as its pieces stream in (Anthropic's
    ``input_json_delta``): the input itself, or, for a value wrapped as ``{"value": ...}``, the value's text
    alone (the wrapper's last brace, which any piece may still turn out to be, is held back until more comes)."""

    def __init__(self, *, wrapped: bool) -> None:
        self.wrapped = wrapped
        self._opened = not wrapped
        self._head: str | None = ""
        #: what may still close the wrapper, held back: whitespace, and at most one brace (then the whitespace after
        #: it in ``_after``); kept in pieces, so that a long run of whitespace is not read again for each piece
        self._before: list[str] = []
        self._after: list[str] | None = None
        self._parts: list[str] = []

    def feed(self, piece: str) -> str:
        """The document's text that ``piece`` adds ('' while it is still the wrapper's)."""
        if not self._opened:
            if self._head is None:  # no wrapper: nothing of it is the document's known text
                return ""
            self._head += piece
            opening = _WRAPPER_OPENS.match(self._head)
            if opening is None:
                if len(self._head) > 256:  # (longer than any opening the model writes)
                    self._head = None
                return ""
            self._opened, piece, self._head = True, self._head[opening.end() :], ""
        if self.wrapped:
            piece = self._past_the_held(piece)
        if piece:
            self._parts.append(piece)
        return piece

    def _past_the_held(self, piece: str) -> str:
        """The text that ``piece`` shows to be the value's, the held text first: all but the whitespace, and the one
        brace, that may still close the wrapper at the end of the text so far."""
        core = piece.rstrip()
        tail = piece[len(core) :]
        if not core:  # whitespace: before the closing brace, or after it
            (self._before if self._after is None else self._after).append(piece)
            return ""
        if core[-1] == "}" and not core[:-1].strip():  # a brace after whitespace: the one that may close the wrapper
            if self._after is None:
                self._before.append(core[:-1])
                self._after = [tail]
                return ""
            released = "".join(self._before) + "}"  # the held brace was the value's
            self._before, self._after = [*self._after, core[:-1]], [tail]
            return released
        held = "".join(self._before) + ("" if self._after is None else "}" + "".join(self._after))
        if core[-1] == "}":
            value = core[:-1].rstrip()
            self._before, self._after = [core[len(value) : -1]], [tail]
            return held + value
        self._before, self._after = [tail], None
        return held + core

    def instead_of(self, text: str) -> str:
        """The document's text as it streamed, in place of ``text`` (the document as the answer re-serialized it)
        when both are the same JSON; else ``text``."""
        streamed = "".join(self._parts)
        if streamed == text:
            return text
        try:
            return streamed if strict_json.loads(streamed) == json.loads(text) else text
        except ValueError:
            return text


#: how a JSON document's text begins (after any whitespace): an object, an array, a code fence
JSON_STARTS = ("{", "[", "```")


def sent_back_text(request: LLMRequest) -> str:
    """The text of the turn the request ends with where it is a paused turn sent back (its last messages assistant
    turns of blocks, each paused part in order, as only a paused turn is sent back), which the answer goes on
    writing; '' for any other request."""
    texts: list[str] = []
    for msg in reversed(request.messages):
        if msg.role != "assistant" or not msg.blocks:
            break
        texts.append(msg.content or "")
    return "".join(reversed(texts))
