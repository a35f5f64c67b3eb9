"""How a Responses API answer ends short, from the providers' OpenAI fake as the spec writes it, and what the provider
and the ledger make of it.

An incomplete response (``status: "incomplete"``, ``incomplete_details.reason`` "max_output_tokens" or
"content_filter") has the output item under way when it stopped ``incomplete`` too (an item's status: "One of
`in_progress`, `completed`, or `incomplete`"), unstreamed and in the stream's ``response.output_item.done``; the
answer max_output_tokens cut comes back with the warning and its usage, the one the filter cut is content_filtered,
at its usage.

A stream cut after its every output item was done but before its terminal event (``response.completed``, the one
event that says the response is whole, and the one that carries its usage) is asked again, whether the connection
was lost or the stream ended cleanly: nothing before that event says that no more items were to come. The cut
attempt is recorded at an unknown cost (never 0), bounded by its reservation, and the caller is told so."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.fakes.spec import spec_validator
from tests.fakes.sse_reader import sse_blocks

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "sk-test-key-123456"
M = 1_000_000
PICO = 10**12
USAGE = {"input_tokens": 1000, "output_tokens": 1500}
#: gpt-4o: $2.50 in, $10 out per million
COST = (1000 * D("2.5") + 1500 * 10) / M


async def _answer(serve: Any, step: dict[str, Any], stream: bool) -> tuple[Any, list[dict[str, Any]]]:
    """The fake's Response for ``step``, read with a plain client, and the events that streamed it (none unstreamed)."""
    fake = FakeOpenAI(KEY).queue(step)
    url = await serve(fake)
    body = {"model": "gpt-4o", "input": "hi", "max_output_tokens": 1500, "stream": stream}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp,
    ):
        assert resp.status == 200
        if not stream:
            response = await resp.json()
            spec_validator("openai").assert_valid("Response", response)
            return response, []
        events = [json.loads(data) for _, data in await sse_blocks(resp)]
    assert fake.violations == []
    for event in events:
        spec_validator("openai").assert_valid("ResponseStreamEvent", event)
    return events[-1]["response"], events


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
async def test_the_fakes_incomplete_response_has_the_item_under_way_incomplete(
    serve, stream: bool, finish: str, reason: str
):
    step = {"text": "the first half", "tool_calls": [{"id": "c1", "name": "f", "arguments": '{"a": '}]}
    response, events = await _answer(serve, {**step, "finish": finish}, stream)
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": reason}
    # the message was done before the call began; the call was under way when the response stopped
    assert [(item["type"], item["status"]) for item in response["output"]] == [
        ("message", "completed"),
        ("function_call", "incomplete"),
    ]
    if stream:
        done = [e["item"]["status"] for e in events if e["type"] == "response.output_item.done"]
        assert done == ["completed", "incomplete"] and events[-1]["type"] == "response.incomplete"
    # a whole response's items are all completed
    response, events = await _answer(serve, step, stream)
    assert response["status"] == "completed" and {item["status"] for item in response["output"]} == {"completed"}


async def _call(serve: Any, tmp_path: Any, steps: list[dict[str, Any]], stream: bool) -> tuple[Any, list[tuple]]:
    """A call of the analysis skill on gpt-4o over the Responses API, the fake answering ``steps``: what it returned
    (or raised), and its attempts' ledger rows, each with the call's worst case (its reservation) after it."""
    fake = FakeOpenAI(KEY).queue(*steps)
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(fake) + "/v1",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "stream": stream}}
    payload["model_config"]["params"] = {"api": "responses"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        worst = D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"])
        try:
            outcome: Any = await svc.invoke_skill("skill.analysis", payload, run_id="r1")
        except E.AllTargetsFailed as exc:
            outcome = exc.last_error
    assert fake.violations == [] and len(fake.requests) == len(steps)
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        rows = conn.execute(
            "SELECT outcome, error_class, input_tokens, output_tokens, cost_pusd, cost_bound_pusd, warnings"
            " FROM attempts WHERE run_id = 'r1' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return outcome, [(*row, worst) for row in rows]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_answer_max_output_tokens_cut_comes_with_the_warning_at_its_usage(serve, tmp_path, stream: bool):
    step = {"text": "the first half", "finish": "length", "usage": USAGE}
    called, (row,) = await _call(serve, tmp_path, [step], stream)
    assert (called.result.text, called.result.finish_reason) == ("the first half", "length")
    warning = "openai:gpt-4o stopped at max_tokens (1500): the answer is cut short; raise max_tokens"
    assert any(w.startswith(warning) for w in called.warnings), called.warnings
    assert row[:4] == ("ok", None, 1000, 1500) and D(row[4]) / PICO == COST and row[5] is None


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_answer_the_filter_cut_is_content_filtered_at_its_usage(serve, tmp_path, stream: bool):
    err, (row,) = await _call(
        serve, tmp_path, [{"text": "the first half", "finish": "content_filter", "usage": USAGE}], stream
    )
    assert isinstance(err, E.ContentFilteredError) and "the provider's content filter" in err.message
    assert "the part of the answer that came before it is not returned" in err.message
    assert "the first half" not in err.message
    assert row[:4] == ("error", "content_filtered", 1000, 1500) and D(row[4]) / PICO == COST and row[5] is None


async def _cut_stream(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a stream the fake cuts, read up to the connection's loss (which must come, not the end)."""
    got = b""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp,
    ):
        with pytest.raises(aiohttp.ClientPayloadError):
            async for piece in resp.content.iter_any():
                got += piece
    blocks = [b for b in got.decode().split("\n\n") if b.strip()]
    return [json.loads(next(ln for ln in b.splitlines() if ln.startswith("data: "))[6:]) for b in blocks]


async def test_the_fakes_stream_cut_before_its_terminal_event_sends_every_item_done(serve):
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    body = {"model": "gpt-4o", "input": "hi", "stream": True}
    step = {"text": "the whole answer", "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]}
    fake.queue({**step, "cut": "before_terminal"}, {**step, "cut": "after_first_item"}, step)
    before_terminal = await _cut_stream(url, body)
    after_first_item = await _cut_stream(url, body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp,
    ):
        whole = [json.loads(data) for _, data in await sse_blocks(resp)]
    assert fake.violations == []
    # what the whole stream sends, but its terminal event, whose response alone carries the usage
    assert before_terminal == whole[:-1] and whole[-1]["type"] == "response.completed"
    assert [e["output_index"] for e in before_terminal if e["type"] == "response.output_item.done"] == [0, 1]
    assert all("usage" not in e.get("response", {}) for e in before_terminal)
    # or up to its first item done: the message, the call not begun
    assert after_first_item[-1]["type"] == "response.output_item.done" and after_first_item[-1]["output_index"] == 0
    assert after_first_item == whole[: len(after_first_item)]


async def test_a_stream_cut_before_response_completed_is_asked_again_and_its_cost_is_unknown(serve, tmp_path):
    called, (cut, answer) = await _call(
        serve,
        tmp_path,
        [
            {"text": "the whole answer", "usage": USAGE, "cut": "before_terminal"},
            {"text": "the answer", "usage": {"input_tokens": 1000, "output_tokens": 10}},
        ],
        stream=True,
    )
    assert called.result.text == "the answer"
    # the cut attempt: billed, its usage never came (OpenAI's response.created counts nothing), so its cost is unknown,
    # at its reservation's bound, never 0; the call's cost is then unknown too, and the caller is told
    assert cut[:5] == ("error", "connection_error", 0, 0, None) and D(cut[5]) / PICO == cut[7] > 0
    assert called.cost_usd is None
    told = "openai:gpt-4o: connection_error after the request was sent; the provider may bill it; its cost is unknown"
    assert told in called.warnings and told in json.loads(cut[6])
    assert answer[:4] == ("ok", None, 1000, 10) and D(answer[4]) / PICO == (1000 * D("2.5") + 10 * 10) / M


async def test_a_stream_cut_after_an_item_is_done_may_have_had_more_to_come(serve, tmp_path):
    # Why the cut stream is asked again rather than its done items kept as the answer: from the client's side this cut
    # (the message done, the connection lost) is the one above, but the model had a call to make after its message;
    # kept, the answer would have been the message alone, passed off as whole, the call lost
    step = {"text": "Let me look that up.", "tool_calls": [{"id": "c1", "name": "lookup", "arguments": {"q": "x"}}]}
    called, (cut, answer) = await _call(serve, tmp_path, [{**step, "cut": "after_first_item"}, step], stream=True)
    assert [tc.name for tc in called.result.tool_calls] == ["lookup"]
    assert cut[:5] == ("error", "connection_error", 0, 0, None) and D(cut[5]) > 0 and answer[0] == "ok"


async def test_a_stream_that_ends_cleanly_before_response_completed_is_asked_again_and_its_cost_is_unknown(
    serve, tmp_path
):
    # the events of a whole answer but its terminal one, the stream then ended as if whole (a proxy that closes it
    # cleanly), not cut: no different, the usage never came and nothing said the response was whole
    called, (ended, answer) = await _call(
        serve,
        tmp_path,
        [{"text": "the whole answer", "usage": USAGE, "ends": "before_terminal"}, {"text": "the answer"}],
        stream=True,
    )
    assert called.result.text == "the answer" and called.cost_usd is None
    assert ended[:5] == ("error", "connection_error", 0, 0, None) and D(ended[5]) / PICO == ended[7] > 0
    told = "openai:gpt-4o: connection_error after the request was sent; the provider may bill it; its cost is unknown"
    assert told in called.warnings and answer[0] == "ok"
