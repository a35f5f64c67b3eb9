"""The conversation as Messages API turns: the system prompt is not one, tool calls are ``tool_use``
blocks of an assistant turn and their results ``tool_result`` blocks of the user turn after it, roles
alternate, and the API refuses an empty text block, an empty tool result, a tool call id of other than
letters, digits, ``_`` and ``-`` or one that an earlier call of the request has too, and a final assistant turn
(a prefill) that ends in whitespace.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

from ..types import Image, LLMRequest, Message
from .anthropic_thinking import thinking_blocks
from .call_pairs import SentCallIds

#: what a tool result that is empty says instead
NO_OUTPUT = "(no output)"

#: what a tool_use id may not hold (the API takes ^[a-zA-Z0-9_-]+$)
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def _wire_id(call_id: str | None) -> str:
    """A tool call's id as the API takes it: another vendor's (vLLM's Kimi K2 "functions.get_weather:0") with
    each other character as "_", the same in the call and in its result, so they still pair."""
    return _ID_UNSAFE.sub("_", call_id or "") or "toolu"


class _CallIds(SentCallIds):
    """The tool call ids as sent: each as the API takes it (:func:`_wire_id`, of any length), and unique in the request
    (400 "`tool_use` ids must be unique"). Ids that repeat are no error elsewhere (:mod:`.call_pairs`), and two may
    differ only in characters the API does not take: a repeated one is sent with a suffix, and each result with the id,
    as sent, of the call it answers (:class:`.SentCallIds`)."""

    def fitted(self, call_id: str | None) -> str:
        return _wire_id(call_id)


def _content(msg: Message, thinking: str | None, ids: _CallIds) -> list[dict[str, Any]]:
    """The turn's blocks; with ``thinking`` on (the model the call goes to), each tool call's thinking blocks that
    model made before it, as they came (the first call's lead the turn, before its text)."""
    if msg.blocks:  # a paused turn's, which the API continues from only when they come back exactly as it wrote them
        return [copy.deepcopy(block) for block in msg.blocks]
    blocks: list[dict[str, Any]] = []
    if thinking and msg.tool_calls:
        blocks.extend(thinking_blocks(msg.tool_calls[0].signature, thinking))
    if msg.parts:  # a user's texts and pictures in their order
        blocks.extend(_block(part) for part in msg.parts if not isinstance(part, str) or part.strip())
    elif msg.content and msg.content.strip():  # the API refuses a text block with no visible text
        blocks.append({"type": "text", "text": msg.content})
    for i, tc in enumerate(msg.tool_calls):
        if thinking and i > 0:
            blocks.extend(thinking_blocks(tc.signature, thinking))
        blocks.append({"type": "tool_use", "id": ids.call(tc.id), "name": tc.name, "input": tc.arguments})
    return blocks


def _block(part: str | Image) -> dict[str, Any]:
    """A content block as the spec's RequestTextBlock or RequestImageBlock (its Base64ImageSource or URLImageSource)
    writes it."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}


def turns(request: LLMRequest, *, thinking: str | None = None) -> list[dict[str, Any]]:
    """Roles must alternate: consecutive tool results merge into one user turn. ``thinking``: the model the call goes
    to with thinking on, whose own thinking blocks go back with its tool calls (None: thinking off, and none do)."""
    out: list[dict[str, Any]] = []
    ids = _CallIds()
    for msg in request.messages:
        if msg.role == "tool":
            # an empty result is taken for none at all (400 "tool_use ids were found without tool_result blocks")
            output: str | list[dict[str, Any]] = msg.content if msg.content and msg.content.strip() else NO_OUTPUT
            if msg.parts:  # its texts and pictures as blocks, as RequestToolResultBlock.content takes them
                output = [_block(part) for part in msg.parts if not isinstance(part, str) or part.strip()]
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": ids.result(msg.tool_call_id),
                "content": output,
            }
            if msg.is_error:
                block["is_error"] = True
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        if role == "user":
            ids.user_spoke()
        blocks = _content(msg, thinking, ids)
        if not blocks:
            continue  # the API refuses an empty text block, and an empty turn says nothing
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    last = out[-1] if out else None
    if last is not None and ends_in_prefill(request) and last["content"][-1]["type"] == "text":
        # a prefill the answer continues: the API refuses one that ends in whitespace (400 "final assistant
        # content cannot end with trailing whitespace"); what the model writes next is the same without it
        block = last["content"][-1]
        last["content"][-1] = {**block, "text": block["text"].rstrip()}
    return out


def ends_in_prefill(request: LLMRequest) -> bool:
    """Whether the call ends with the assistant's text (a prefill the answer continues), as :func:`turns` sends it:
    a message with no visible text and no tool call is no turn, and the one before it is the last."""
    for msg in reversed(request.messages):
        if msg.blocks:
            return False  # a paused turn sent back (Message.blocks): the model goes on from it in blocks of its own
        if msg.role != "tool" and not msg.tool_calls and not msg.parts and not (msg.content and msg.content.strip()):
            continue
        return msg.role == "assistant" and not msg.tool_calls
    return False


#: how a prefill that starts a JSON document begins (after any whitespace): an object, an array, a code fence
_JSON_STARTS = ("{", "[", "```")
#: a prefill that says nothing but where a JSON document starts, which JSON mode gives whole without it
_BARE_STARTS = frozenset({"{", "[", "```", "```json"})


def without_bare_json_prefill(request: LLMRequest) -> tuple[LLMRequest, str]:
    """``request`` without its prefill where it is a JSON call's bare start ("{": :data:`_BARE_STARTS`), and that
    prefill; else ``request`` as it is, and ''. A model that takes no prefill is sent the call so: JSON mode has it
    answer the whole document, which the prefill and its continuation were."""
    start = json_prefill(request).strip() if request.json_output or request.json_schema is not None else ""
    if start not in _BARE_STARTS:
        return request, ""
    messages = list(request.messages)
    while messages and messages[-1].role != "tool" and not messages[-1].tool_calls:
        if messages[-1].role != "assistant" and (messages[-1].parts or (messages[-1].content or "").strip()):
            break
        messages.pop()
    return replace(request, messages=messages), start


def json_prefill(request: LLMRequest) -> str:
    """The call's :func:`prefill` where it starts a JSON document ("{", Anthropic's own way to start Claude's JSON):
    the document is it and the answer that continues it. A prefill of prose ("Here is the JSON:") is no part of the
    document the model writes after it: ''."""
    start = prefill(request)
    return start if start.lstrip().startswith(_JSON_STARTS) else ""


def prefill(request: LLMRequest) -> str:
    """The text of the final assistant turn as :func:`turns` sends it (the start the answer continues), where the call
    ends in one (:func:`ends_in_prefill`); else ''."""
    texts: list[str] = []
    for msg in reversed(request.messages):
        if msg.role == "tool" or msg.tool_calls or msg.blocks:
            break
        if not msg.parts and not (msg.content and msg.content.strip()):
            continue
        if msg.role != "assistant":
            break
        texts.append(msg.content or "")
    return "".join(reversed(texts)).rstrip()
