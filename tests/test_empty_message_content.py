"""A turn of ``model_config.messages`` whose content is parts that hold nothing (``[]``, text parts of no text) is
refused before anything is sent, naming the turn and the fix: it went to the vendor as the text "[]" (a list read as
a tool's JSON), or as a turn every vendor refuses (Chat's parts are minItems 1, the Messages API's "all messages must
have non-empty content"). An assistant turn of tool calls alone, its content [], carries no text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import Magsag
from magsag_mcp.call_messages import _messages
from magsag_mcp.errors import PayloadError
from magsag_mcp.types import Image
from tests.mcp_tools_helpers import CATALOG, ENV

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
    "rkJggg=="
)
CALL = {"id": "call_1", "function": {"name": "lookup", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("content", "held"),
    [
        ([], "[] (no part)"),
        ([{"type": "text", "text": ""}], "1 text part of no text"),
        ([{"type": "text", "text": ""}, {"type": "input_text", "text": " \n"}], "2 text parts of no text"),
    ],
)
@pytest.mark.parametrize("role", ["user", "assistant"])
def test_a_turn_of_parts_that_say_nothing_is_refused_naming_it(content: list[Any], held: str, role: str):
    turns = [{"role": "user", "content": "hi"}, {"role": role, "content": content}]
    with pytest.raises(PayloadError) as e:
        _messages(turns)
    said = e.value.message
    assert said.startswith(f"model_config.messages[1] (role {role!r}) has no content: its content is {held}")
    assert "'content': '" in said and "leave the turn out" in said


def test_an_assistant_turn_of_tool_calls_alone_carries_no_text():
    turns = [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": [], "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    assert _messages(turns)[1].content is None  # was the text "[]" beside the call


def test_parts_that_hold_a_picture_or_text_are_taken():
    picture = [{"type": "text", "text": ""}, {"type": "image_url", "image_url": {"url": PNG}}]
    (turn,) = _messages([{"role": "user", "content": picture}])
    assert isinstance(turn.parts[-1], Image)
    (turn,) = _messages([{"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "hi"}]}])
    assert turn.content == "\nhi"


def test_the_call_is_refused_before_anything_is_sent(db: Path):
    with Magsag(catalog=CATALOG, env={**ENV, "MAGSAG_DB": str(db)}) as mg:
        with pytest.raises(PayloadError, match=r"model_config\.messages\[0\] \(role 'user'\) has no content"):
            mg.skills.invoke(
                "skill.analysis",
                {"data": "x", "model_config": {"model": "fake:echo", "messages": [{"role": "user", "content": []}]}},
            )
        (run,) = mg.query_runs()["runs"]
    # recorded as the failed call it is, with no attempt: nothing went to a vendor
    assert (run["status"], run["error"]["type"], run["attempts"]) == ("error", "invalid_payload", [])
