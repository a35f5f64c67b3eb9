"""A text answer's streamed deltas are its final text: the thinking and the escapes the final text leaves out are left
out of what the caller's progress is sent, whatever chunks the stream came in."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.providers.json_output import without_inline_thinking
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.stream_text import ThinkingFilter
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, LLMResult, Message, Target, Usage

pytestmark = pytest.mark.anyio

THOUGHT = "The text names Ann and ann@example.com; both go."
ANSWERS = [
    "",
    "hi",
    "   \n\n",
    "[NAME] wrote from [EMAIL].",
    f"<think>\n{THOUGHT}\n</think>\n\n[NAME] wrote from [EMAIL]; see </think> in the docs.",
    f"  <THINK>{THOUGHT}</Think>answer",
    f"<thinking>\n{THOUGHT}\n</thinking>\n \n[NAME] wrote.",
    f"<thinking>\n{THOUGHT}\n</think>\n\n[NAME] wrote.",
    f"<think>\n{THOUGHT}",
    "<think> opens a model's reasoning.",
    "<thinkers> are people.",
    "<thin",
    f"{THOUGHT}\n</think>\n\n[NAME] wrote from [EMAIL].",
    f"{THOUGHT}\r\n  </think>  \r\n\t [NAME] wrote.",
    "</think>\nanswer",
    f"{THOUGHT}\n</think>",
    f"{THOUGHT}\n</think>\n",
    f"{THOUGHT}\n</think> and more\nanswer",
    f"{THOUGHT}\n</think>x\n</think>\nanswer",
    'Split on it: `text.split("</think>")[-1]`, and keep the last part.\n</think>\nmore',
    "R1 ends its reasoning with </think> and answers after it; keep what follows.",
    "The tag <think> opens it and </think> closes it.",
    "Strip it with a regex:\n```python\nre.sub(r'(?s).*?</think>', '', text)\n```\nand then\n</think>\nends it.",
    "a <think>\n</think>\nb",
    "line one\n</thi\nline three",
    "line one\n</think\nline three",
    "<p>\n<b>x</b>\n</p>\n",
    "x\n< /think>\nanswer",
    "one\n\n\n   </think>   \n\n\n  two\n</think>\nthree",
]


def request(prompt: str = "Redact: Ann, ann@example.com", **kw: Any) -> LLMRequest:
    return LLMRequest(messages=[Message("user", prompt)], **kw)


def final_of(text: str, req: LLMRequest, finish: str = "stop") -> str:
    result = LLMResult(text=text, provider="p", model="m", finish_reason=finish)  # type: ignore[arg-type]
    without_inline_thinking(result, req)
    return result.text


def chunkings(text: str, rng: random.Random) -> list[list[str]]:
    ways = [[text], list(text)]
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 8)))) if len(text) > 1 else []
        bounds = [0, *cuts, len(text)]
        ways.append([text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    return ways


async def shown(chunks: list[str], final: str, req: LLMRequest) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """What a caller that renders the deltas (starting again at each restart) shows, and the events it was sent."""
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    filt = ThinkingFilter(progress, req)
    count = 0
    for chunk in chunks:
        count += len(chunk)
        await filt("delta", {"chars": count, "text": chunk})
    await filt.finish(final, Usage())
    text, running = "", 0
    for event, data in events:
        if event == "restart":
            text, running = "", 0
        else:
            assert event == "delta" and data["text"]
            text += data["text"]
            running += len(data["text"])
            assert data["chars"] == running  # the count is the shown text's so far
    return text, events


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("finish", ["stop", "length"])
async def test_the_streamed_text_is_the_final_text_whatever_the_chunks(answer: str, finish: str):
    rng = random.Random(answer + finish)
    for prompt in ("Redact: Ann, ann@example.com", "A transcript that holds </think> itself"):
        req = request(prompt)
        final = final_of(answer, req, finish)
        for chunks in chunkings(answer, rng):
            text, events = await shown(chunks, final, req)
            assert text == final, (chunks, events)
            # thinking that opened with its tag never reaches the caller (where the final text leaves it out)
            opened = answer.lstrip().lower().startswith(("<think>", "<thinking>"))
            if opened and THOUGHT in answer and THOUGHT not in final:
                assert not any(THOUGHT[:20] in d.get("text", "") for _, d in events), events
            if opened or final == answer:  # only thinking the prompt opened is sent before it is known to be
                assert all(event == "delta" for event, _ in events), events  # nothing taken back


async def test_an_answer_that_opens_no_thinking_streams_as_it_comes():
    # held back: only a line that may still turn out to close thinking, never the answer
    req, events = request(), []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append(data["text"])

    filt = ThinkingFilter(progress, req)
    for word in "one two\nthree <b>four</b>\nfive".split(" "):
        await filt("delta", {"text": word + " "})
    assert "".join(events) == "one two\nthree <b>four</b>\nfive "
    events.clear()
    filt = ThinkingFilter(progress, req)
    await filt("delta", {"text": "<think>\nAnn, ann@example.com\n</th"})
    assert events == []
    await filt("delta", {"text": "ink>\n\n"})
    await filt("delta", {"text": "[NAME]"})
    assert events == ["[NAME]"]


async def test_thinking_opened_in_the_prompt_is_taken_back_when_its_end_comes():
    req, events = request(), []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, data))

    filt = ThinkingFilter(progress, req)
    for piece in ["Ann and ann@", "example.com go.\n", "</think>", "\n\n[NAME]", " wrote."]:
        await filt("delta", {"text": piece})
    await filt.finish("[NAME] wrote.", Usage())
    assert [e for e, _ in events] == ["delta", "delta", "restart", "delta", "delta"]
    assert events[2][1]["chars"] == len("Ann and ann@example.com go.\n")
    assert [(d["text"], d["chars"]) for e, d in events[3:]] == [("[NAME]", 6), (" wrote.", 13)]


def _chat_stream(pieces: list[str], finish: str = "stop") -> str:
    events = [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    events.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39}})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@pytest.mark.parametrize(
    ("pieces", "taken_back"),
    [
        (
            [
                "<thi",
                "nk>\nThe text names Ann and ",
                "ann@example.com.\n</th",
                "ink>\n\n[NAME] wrote",
                " from [EMAIL].",
            ],
            0,
        ),
        (["The text names Ann and ", "ann@example.com.\n", "</think>\n", "\n[NAME] wrote from [EMAIL]."], 1),
    ],
    ids=["opened", "opened-in-the-prompt"],
)
async def test_a_local_reasoning_models_streamed_thinking_is_not_the_progress_text(
    transport: Transport, pieces: list[str], taken_back: int
):
    # Before: the final text left the inline thinking out, and the progress a caller streamed the answer from showed
    # all of it, the personal data pii-redaction's thinking restated among it, as the answer's text.
    async def route(_request: web.Request) -> web.Response:
        return web.Response(text=_chat_stream(pieces), content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", route)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    try:
        target = Target("local", "deepseek-r1:8b", base_url=str(server.make_url("/v1")), params=(("api", "chat"),))
        result = await LocalProvider({}, transport).complete(request(stream=True), target, progress=progress)
    finally:
        await server.close()
    assert result.text == "[NAME] wrote from [EMAIL]."
    shown = ""
    for event, data in events:
        shown = "" if event == "restart" else shown + data["text"]
    assert shown == result.text
    assert sum(event == "restart" for event, _ in events) == taken_back
    if not taken_back:  # thinking that opened with its tag never reached the caller
        assert "ann@example.com" not in json.dumps(events)
