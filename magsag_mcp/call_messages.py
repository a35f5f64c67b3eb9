"""The conversation a call carries (``model_config.messages``): its turns checked and read into
:class:`~.types.Message` (a tool call's arguments, a tool message's ``tool_call_id`` and ``is_error``, content
written as text blocks), with another API's tool blocks refused. The rest of the request a call sends is built in
call_request.py, which re-exports :func:`_messages` (as the provider tests import it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import PayloadError
from .images import read_image
from .payload_checks import json_text
from .plurals import agreeing
from .types import Image, Message, ToolCall


def _messages(raw: Any, where: str = "model_config") -> list[Message]:
    if not isinstance(raw, list):
        raise PayloadError(f"{where}.messages must be a list of {{role, content, ...}} objects")
    out: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping) or m.get("role") not in ("user", "assistant", "tool"):
            # a system prompt has a place of its own, which every provider sends its own way
            system = isinstance(m, Mapping) and m.get("role") in ("system", "developer")
            raise PayloadError(
                f"{where}.messages[{i}].role must be 'user', 'assistant' or 'tool'"
                + (f"; a system prompt goes in {where}.system" if system else "")
            )
        calls: list[ToolCall] = []
        raw_calls = m.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise PayloadError(f"{where}.messages[{i}].tool_calls must be a list")
        for j, tc in enumerate(raw_calls):
            fn = tc.get("function", tc) if isinstance(tc, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
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
            # (a mapping of Python code's, a MappingProxyType, is a dict here: the settings' check made the settings
            # plain JSON before any of them is read, payload_checks.check_nesting)
            if not isinstance(args, dict):
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
        parts: tuple[str | Image, ...] = ()
        if content is not None and not isinstance(content, str):
            if m["role"] != "tool" and _says_nothing(content):
                if calls:  # an assistant turn of tool calls alone: no text, as content None says (not the text "[]")
                    content = None
                else:
                    raise PayloadError(_no_content(content, f"{where}.messages[{i}]", m["role"]))
        if content is not None and not isinstance(content, str):
            if m["role"] != "tool":
                _no_tool_blocks(content, f"{where}.messages[{i}]")
                parts = _media_parts(content, f"{where}.messages[{i}]", m["role"])
            else:  # (a tool's own output is its data, whatever it holds, but a picture is carried as one)
                parts = _tool_parts(content, f"{where}.messages[{i}]")
            if parts:
                content = "\n".join(part for part in parts if isinstance(part, str))
            else:
                texts = _text_blocks(content)
                as_text = "\n".join(texts) if texts is not None else None
                content = as_text if as_text is not None else json_text(content, f"{where}.messages[{i}].content")
        answers = _answered_call(m, i, out, where) if m["role"] == "tool" else None
        msg = Message(
            role=m["role"], content=content, tool_calls=calls, tool_call_id=answers, name=m.get("name"), parts=parts
        )
        if m.get("is_error") is not None or m.get("isError") is not None:
            msg.is_error = _is_error(m, i, where)
        out.append(msg)
    return out


def _says_nothing(content: Any) -> bool:
    """Whether a turn's content written as parts holds nothing to read: no part (``[]``), or text parts of no text or
    whitespace alone. Sent, ``[]`` went as the text "[]"; every vendor refuses a turn with no content (Chat's parts
    are ``minItems: 1``, and its user turns need content; the Messages API "all messages must have non-empty
    content", "text content blocks must contain non-whitespace text")."""
    if not isinstance(content, list):
        return False
    if not content:
        return True
    texts = _text_blocks(content)
    return texts is not None and not any(text.strip() for text in texts)


def _no_content(content: list[Any], where: str, role: str) -> str:
    held = "[] (no part)" if not content else f"{len(content)} text {agreeing(len(content), 'part')} of no text"
    said, example = ("its text", "Summarise the report") if role == "user" else ("the answer given", "Revenue rose 8%")
    return (
        f"{where} (role {role!r}) has no content: its content is {held}, and a vendor refuses a turn that says "
        f"nothing; write {said}, e.g. 'content': {example!r} (or [{{'type': 'text', 'text': ...}}]), or leave the "
        "turn out"
    )


def every_call_answered(messages: list[Message], where: str) -> None:
    """Each tool call of an assistant message has its result among the tool messages right after it, before the next
    user or assistant message: every vendor refuses a call left unanswered (OpenAI 400 "An assistant message with
    'tool_calls' must be followed by tool messages responding to each 'tool_call_id'", Claude "tool_use ids were found
    without tool_result blocks immediately after", Gemini "the number of function response parts is equal to the number
    of function call parts", the Responses API "No tool output found for function call"), and so would every target of
    a cascade, each refusal sent after the caller's earlier turns were paid for. Ids may repeat (a server that numbers
    each answer's calls ``call_0``...): each result answers one call of its id."""
    for i, msg in enumerate(messages):
        if msg.role != "assistant" or not msg.tool_calls:
            continue
        results: dict[str | None, int] = {}
        for after in messages[i + 1 :]:
            if after.role != "tool":
                break
            results[after.tool_call_id] = results.get(after.tool_call_id, 0) + 1
        for j, tc in enumerate(msg.tool_calls):
            if results.get(tc.id, 0) > 0:
                results[tc.id] -= 1
                continue
            raise PayloadError(
                f"{where}.messages[{i}].tool_calls[{j}] ({tc.name}, id {tc.id!r}) has no result: every tool call "
                f"needs a tool message {{'role': 'tool', 'tool_call_id': {tc.id!r}, 'content': ...}} right after the "
                "assistant message, before the next user or assistant message (a vendor refuses a call left "
                "unanswered); send the tool's result, or its failure with 'is_error': true"
            )


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


#: the content parts other than text that OpenAI's, Anthropic's, the Responses API's and MCP's shapes write, and
#: what each holds
_MEDIA_PARTS = {
    "image_url": "a picture",
    "input_image": "a picture",
    "image": "a picture",
    "file": "a file",
    "input_file": "a file",
    "document": "a document",
    "input_audio": "a sound",
    "audio": "a sound",
}
#: the parts that are a picture, which a user message carries (:mod:`.images`)
_IMAGE_PARTS = ("image_url", "input_image", "image")


def _media_parts(content: Any, where: str, role: str) -> tuple[str | Image, ...]:
    """A user message's texts and pictures in order, where its content holds a picture; () where it holds none. A
    part that is no text and is not carried (a file, a sound; a picture in an assistant message, which no vendor
    takes) is refused: taken as text, the model read the part's JSON, its base64 data as words, each a token paid for
    (a 1 MB screenshot is some 1.3 M characters of prompt), and budgets reserved for them all. The data itself is not
    quoted: it is what the caller sent, and may be megabytes."""
    if not isinstance(content, list):
        return ()
    kinds = [part.get("type") if isinstance(part, Mapping) else None for part in content]
    for j, kind in enumerate(kinds):
        if not isinstance(kind, str) or kind not in _MEDIA_PARTS:
            continue
        if kind in _IMAGE_PARTS and role == "user":
            continue
        taken = "text and pictures" if role == "user" else "text (a picture goes in a user message)"
        raise PayloadError(
            f"{where}.content[{j}] is {_MEDIA_PARTS[kind]} (a {kind!r} part), which is not carried: a {role} "
            f"message's content is taken as {taken}, a string or parts [{{'type': 'text', 'text': ...}}"
            + (", {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,...'}}" if role == "user" else "")
            + "]; say in words what the model needs of it, or leave it out"
        )
    if not any(kind in _IMAGE_PARTS for kind in kinds):
        return ()
    parts: list[str | Image] = []
    for j, part in enumerate(content):
        if kinds[j] in _IMAGE_PARTS:
            parts.append(read_image(part, f"{where}.content[{j}]"))
            continue
        text = _text_blocks([part])
        if text is None:
            raise PayloadError(
                f"{where}.content[{j}] is neither a text part {{'type': 'text', 'text': ...}} nor a picture: beside "
                "a picture, a message's content is text and pictures alone"
            )
        parts.append(text[0])
    return tuple(parts)


def _tool_parts(content: Any, where: str) -> tuple[str | Image, ...]:
    """A tool result's texts and pictures in order, where its content holds a picture (a screenshot tool's MCP
    ImageContent, OpenAI's image_url part, Anthropic's image block); () where it holds none, and its JSON goes as it
    is. Taken as text, the picture's base64 was read as words, each a token paid for. Beside a picture, a part that is
    neither text nor a picture (a tool's own record) goes as its JSON text; a file or a sound is refused, as in a user
    message, for its data would be words too."""
    if not isinstance(content, list):
        return ()
    kinds = [part.get("type") if isinstance(part, Mapping) else None for part in content]
    if not any(kind in _IMAGE_PARTS for kind in kinds):
        return ()
    parts: list[str | Image] = []
    for j, part in enumerate(content):
        kind = kinds[j]
        if kind in _IMAGE_PARTS:
            parts.append(read_image(part, f"{where}.content[{j}]"))
        elif isinstance(kind, str) and kind in _MEDIA_PARTS:
            raise PayloadError(
                f"{where}.content[{j}] is {_MEDIA_PARTS[kind]} (a {kind!r} part), which is not carried: a tool "
                "result is taken as text and pictures; say in words what the model needs of it, or leave it out"
            )
        else:
            text = _text_blocks([part])
            parts.append(text[0] if text is not None else json_text(part, f"{where}.content[{j}]"))
    return tuple(parts)


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
