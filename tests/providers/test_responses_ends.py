"""How a Responses API answer ends short, from the providers' OpenAI fake as the spec writes it, and what the provider
and the ledger make of it.

An incomplete response (``status: "incomplete"``, ``incomplete_details.reason`` "max_output_tokens" or
"content_filter") has the output item under way when it stopped ``incomplete`` too (an item's status: "One of
`in_progress`, `completed`, or `incomplete`"), unstreamed and in the stream's ``response.output_item.done``; the
answer max_output_tokens cut comes back with the warning and its usage, the one the filter cut is content_filtered,
at its usage."""

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
