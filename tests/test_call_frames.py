"""What a request's own checks cost on every call: no generator or comprehension frame (each is a function
object and a frame made and dropped per call, some thousand instructions) where a plain loop does the same."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from magsag_mcp.providers.tool_names import fitted
from magsag_mcp.types import Image, LLMRequest, Message, ToolSpec

NESTED = ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>")


def nested_frames(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
    """``fn()``'s value, and the generator and comprehension frames it ran."""
    seen: list[str] = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code.co_name in NESTED:
            seen.append(f"{frame.f_code.co_name} in {frame.f_code.co_filename}:{frame.f_code.co_firstlineno}")

    sys.setprofile(watch)
    try:
        value = fn()
    finally:
        sys.setprofile(None)
    return value, seen


def test_needs_of_a_request_of_text_runs_no_generator():
    """Asked on every call (cascade_skips): a generator over the messages' pictures was made for none."""
    req = LLMRequest(messages=[Message(role="system", content="be brief"), Message(role="user", content="hi")])
    needs, seen = nested_frames(req.needs)
    assert needs == set()
    assert seen == []


def test_needs_still_reads_every_picture_of_every_message():
    gif = Image(media_type="image/gif", data="R0lGODlh")
    linked = Image(url="https://example.com/a.png")
    req = LLMRequest(
        messages=[
            Message(role="user", content="a", parts=("a", gif)),
            Message(role="user", content="plain"),
            Message(role="user", content="b", parts=(linked, "b")),
        ],
        json_output=True,
    )
    assert req.needs() == {"json", "gif_images", "image_urls"}


def test_fitting_the_tool_names_of_a_request_of_none_runs_no_comprehension():
    """Asked on every attempt to a wire that limits tool names (OpenAI's): most requests offer no tool."""
    req = LLMRequest(messages=[Message(role="user", content="hi")])
    (sent, names, notes), seen = nested_frames(lambda: fitted(req, 64, api="OpenAI"))
    assert sent is req and names is None and notes == ()
    assert seen == []


def test_fitting_tool_names_keeps_each_once_in_order():
    tools = [ToolSpec(name=n, description="", parameters={"type": "object"}) for n in ("get weather", "ok", "ok")]
    req = LLMRequest(messages=[Message(role="user", content="hi")], tools=tools)
    sent, names, notes = fitted(req, 64, api="OpenAI")
    assert [t.name for t in sent.tools] == ["get_weather", "ok", "ok"]
    assert names is not None and names.sent == {"get weather": "get_weather", "ok": "ok"}
    assert len(notes) == 1 and "'get weather' was sent as 'get_weather'" in notes[0]
