"""A turn Claude paused (``stop_reason`` "pause_turn": "we paused a long-running turn. You may provide the response back
as-is in a subsequent request to let the model continue"): the assistant turn to send back, and what the answer says
of it. The cascade continues it (see :mod:`magsag_mcp.cascade_paused`); this module only reads it.

"As-is" is the API's word for the turn, not for every field of every block: a response block and the request block it
goes back as are two schemas (``Response*`` and ``Request*`` in the spec), and the request's refuse what they do not
name (``additionalProperties: false``). Each block is sent back whole, but for what the request's schema refuses of a
block the response's allows:

- a text block with no text (``RequestTextBlock.text`` has ``minLength: 1``; a response's may be empty, as a stream's
  block started before the pause and given no delta is): left out, it says nothing;
- a citation's ``file_id`` (``ResponseCharLocationCitation``, page and content block locations), which no
  ``Request*Citation`` names: left out;
- a citation's empty ``document_title`` or a web search citation's empty ``title`` (the request's ``minLength: 1``,
  null allowed): null;
- a tool search error's ``error_message`` (``ResponseToolSearchToolResultError``), which its request block lacks.

A web search tool result has no container of its own in the spec; the answer's ``container`` (code execution's, the
Message's ``container.id``) is the one a continuation names, to go on in the same one (:attr:`LLMResult.container`).
"""

from __future__ import annotations

import copy
from typing import Any

from ..types import Message

#: the citations whose ``document_title`` the request takes as null or at least one character, and no ``file_id``
_DOCUMENT_CITATIONS = frozenset({"char_location", "page_location", "content_block_location"})

#: said in the warning of every paused turn, which the cascade reads to leave out of a continued turn's warnings
PAUSED_SAID = "paused its turn (stop_reason: pause_turn)"


def paused_turn(content: list[dict[str, Any]]) -> Message:
    """The assistant turn of a paused answer, to be sent back for the model to go on (:attr:`LLMResult.paused`): each
    content block as the API wrote it (a server_tool_use's input, a web_search_tool_result's results with their
    encrypted_content, a text's citations, a thinking block's signature), but for what the request's schema refuses
    (see the module's doc), copied so that nothing reading the result changes what goes back; its text, the text
    blocks' joined."""
    blocks = tuple(sent for block in content if (sent := _as_sent(block)) is not None)
    text = "".join(block["text"] for block in blocks if block.get("type") == "text")
    return Message("assistant", text or None, blocks=blocks)


def _as_sent(block: dict[str, Any]) -> dict[str, Any] | None:
    """``block`` as a request takes it back, copied; None for a text block with no text (the request's minLength 1)."""
    kind = block.get("type")
    if kind == "text" and not block.get("text"):
        return None
    sent = copy.deepcopy(block)
    if kind == "text" and isinstance(sent.get("citations"), list):
        sent["citations"] = [_citation(c) for c in sent["citations"] if isinstance(c, dict)]
    elif kind == "tool_search_tool_result" and isinstance(sent.get("content"), dict):
        sent["content"].pop("error_message", None)
    return sent


def _citation(citation: dict[str, Any]) -> dict[str, Any]:
    kind = citation.get("type")
    if kind in _DOCUMENT_CITATIONS:
        citation.pop("file_id", None)
        if citation.get("document_title") == "":
            citation["document_title"] = None
    elif kind == "web_search_result_location" and citation.get("title") == "":
        citation["title"] = None
    return citation


def container_of(data: dict[str, Any]) -> str | None:
    """The id of the container the answer's code execution ran in (the Message's ``container``), None where none."""
    container = data.get("container")
    found = container.get("id") if isinstance(container, dict) else None
    return found if isinstance(found, str) and found else None


def paused(provider: str, model: str) -> str:
    """The warning of a turn the API paused: the answer is the text so far, and the turn unfinished. The cascade sends
    the turn back for the model to go on (``MAGSAG_PAUSE_CONTINUATIONS`` times at most) and says so in the result where
    it still ends paused; where it does not (continuing off: 0), and to a provider called alone, this is what is said
    of it, with the two ways to have the model go on."""
    return (
        f"{provider}:{model} {PAUSED_SAID}: the turn is unfinished, and the answer is the text so far (the API "
        "paused a long-running turn, as it does in a long run of server tools such as web search); for the model to "
        "go on, call through the router (Service.invoke_skill, skills.invoke, MCP, the CLI) with "
        "MAGSAG_PAUSE_CONTINUATIONS (or the call's context.pause_continuations) 1 or more for magsag to send the turn "
        "back, or send LLMResult.paused back yourself as the assistant turn"
    )
