"""The JSON document of a JSON call's answer that goes on with a turn sent back: a turn the API paused
(:attr:`~magsag_mcp.types.LLMResult.paused`, Claude's ``stop_reason`` "pause_turn"), whether the cascade or the caller
sends it back. The turn's text so far and the answer's are one assistant turn's text, and the document is written
across them: the answer alone holds its tail at most.

A model may write prose before the document, in the turn it paused: "Let me search." before its search, "Here is the
weather:" before the document's start. That prose is no part of the document: where the joined text does not parse
whole, the document is the joined text from the place in the turn's text where a whole one starts (an object, an
array, a code fence), or the answer's text alone where the turn's text was prose only. Prose in the answer's own text
is the model's answer, held to the JSON it was asked for as any answer is.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .. import strict_json
from ..errors import InvalidOutputError
from ..types import LLMRequest, LLMResult
from .empty_answers import server_cut
from .json_output import JSON_STARTS, document_text, object_rooted, parse_json_output, sent_back_text, unwrap_value
from .wire_format import WireFormat

#: where a JSON document may start in a turn's prose: an object, an array, a code fence
_STARTS = re.compile(r"[{\[]|```")
#: the most such places in a turn's text tried from its first, each parsed to the end (bounded: a text of thousands of
#: "[" is each parsed that far). Prose may hold more brackets than this (a search's citations, "[1]" to "[40]"): the
#: place the text's last bracket closes from is tried first (see :func:`_closed_last`), wherever it is
_MOST_STARTS = 32
#: a code fence's opening line just before a document's bracket: the fence is where that document starts
_FENCE_BEFORE = re.compile(r"```(?:json)?\s*$")


def continued_document(wire: WireFormat, request: LLMRequest, result: LLMResult, provider: str) -> Any:
    """The JSON document of ``result``, a JSON call's answer, parsed and checked (:func:`parse_json_output`), with the
    text of the turn the request sent back before it where it sent one back (:func:`sent_back_text`)."""
    sent = sent_back_text(request)
    schema = request.json_schema
    wrapped = wire.wraps_json_roots and schema is not None and not object_rooted(schema) and not result.tool_calls
    whole = result if not sent else dataclasses.replace(result, text=sent + result.text)
    if wrapped:
        unwrap_value(whole)
    cut = server_cut(whole, request, wire.length_may_be_the_servers)
    try:
        return parse_json_output(whole, provider, schema, request.json_validator, cut)
    except InvalidOutputError:
        if whole is result:
            raise
    document = dataclasses.replace(result, text=after_prose(sent, result.text))
    if wrapped:
        unwrap_value(document)
    return parse_json_output(document, provider, schema, request.json_validator, cut)


def turn_document(result: LLMResult, provider: str, schema: Any = None, validator: Any = None) -> Any:
    """The JSON document of a turn's text whole (``result``: a turn left paused, its parts' text joined), parsed and
    checked: the text itself, else the document a whole one after prose is (:func:`after_prose`); InvalidOutputError
    where it holds none."""
    try:
        return parse_json_output(result, provider, schema, validator)
    except InvalidOutputError:
        if not _STARTS.search(result.text):
            raise
    document = dataclasses.replace(result, text=after_prose(result.text, ""))
    return parse_json_output(document, provider, schema, validator)


def after_prose(turn: str, answer: str) -> str:
    """The text of the JSON document that ``turn`` (a paused turn's text, which begins with prose) and ``answer`` (the
    text that finishes it) hold: the joined text from the first place in ``turn`` a whole document starts at; else
    ``answer`` where it starts a document itself or ``turn`` starts none (the turn was prose alone); else the joined
    text from the turn's first start, whose error then quotes the document the model began, not its tail alone."""
    starts = [found.start() for found in _STARTS.finditer(turn)]
    for start in dict.fromkeys([*_closed_last(turn, turn + answer), *starts[:_MOST_STARTS]]):
        if _whole(turn[start:] + answer):
            return turn[start:] + answer
    # (a turn that opens with a bracket, as a document does, is read from there: its error quotes the joined text)
    if not starts or (answer.lstrip().startswith(JSON_STARTS) and not turn.lstrip().startswith(JSON_STARTS)):
        return answer
    return turn[starts[0] :] + answer


def _whole(text: str) -> bool:
    """Whether ``text`` is one whole JSON document, as :func:`parse_json_output` reads one (a code fence around it)."""
    try:
        strict_json.loads(document_text(text))
    except ValueError:
        return False
    return True


def _closed_last(turn: str, text: str) -> list[int]:
    """The place in ``turn`` (``text``'s start) of the bracket that ``text``'s last closing bracket closes, counted as
    brackets nest (strings not told apart: a first guess, parsed like any): where a whole document ends the text, its
    start, past the prose's own brackets however many. With the code fence just before it, the fence's place first."""
    opened: list[int] = []
    last = None
    for at, char in enumerate(text):
        if char in "{[":
            opened.append(at)
        elif char in "}]" and opened:
            last = opened.pop()
    if last is None or last >= len(turn):
        return []
    fence = _FENCE_BEFORE.search(turn, 0, last)
    return [last] if fence is None else [fence.start(), last]
