"""The Responses API's and Gemini's answers without a usage count keep the model that answered, as Chat Completions'
do (tests/test_unreported_usage_notes.py): an Azure deployment named gpt-4o-mini answering on the Responses API as
gpt-4o-2024-08-06 without a ``usage`` object lost its "priced as" note and its sighting (the ledger's served_model,
and the dearer reservations it makes), and a Gemini stream whose last chunk counted nothing lost its modelVersion."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from aiohttp import web

from tests.pricing_audit import catalog_without_policies, one_call

pytestmark = pytest.mark.anyio
KEY = "az-test-key-123456"
GEMINI_KEY = "AIzaSyTest-key-0123456789abcdefghijkl"
SERVED = "gpt-4o-2024-08-06"


def _response(status: str) -> dict:
    # the Responses API's Response object as the spec writes it; usage is optional (nullable) and left null
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_741_252_964,
        "status": status,
        "model": SERVED,
        "output": []
        if status == "in_progress"
        else [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "usage": None,
        "error": None,
        "incomplete_details": None,
    }


def _responses_answer(stream: bool) -> web.Response:
    if not stream:
        return web.json_response(_response("completed"))
    events = [
        {"type": "response.created", "sequence_number": 0, "response": _response("in_progress")},
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "ok",
        },
        {"type": "response.completed", "sequence_number": 2, "response": _response("completed")},
    ]
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return web.Response(text=text, content_type="text/event-stream")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_azure_responses_answer_without_usage_keeps_its_answering_model(tmp_path, serve_posts, stream):
    async def handler(request: web.Request) -> web.Response:
        assert request.path.endswith("/responses")
        await request.json()
        return _responses_answer(stream)

    env = {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": await serve_posts(handler) + "/",
        "AZURE_OPENAI_API_VERSION": "2025-04-01-preview",
    }
    config = {"provider": "azure", "model": "gpt-4o-mini", "stream": stream, "params": {"api": "responses"}}
    result, row, _ = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path))
    assert row["cost_usd"] is None
    assert row["cost_bound_usd"] is not None and D(row["cost_bound_usd"]) > 0
    warnings = " | ".join(result.warnings)
    assert "answered without reporting its token usage" in warnings
    assert f"azure:gpt-4o-mini answered as {SERVED}; priced as {SERVED}" in warnings
    assert row["served_model"] == SERVED


@pytest.mark.parametrize("counted_before", [True, False], ids=["counts-before-the-end", "no-counts"])
async def test_a_gemini_stream_without_counts_at_its_end_keeps_its_model_version(tmp_path, serve_posts, counted_before):
    version = "gemini-2.5-flash-preview-09-2025"

    def chunk(parts: list, finish: str | None, counts: dict | None) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        c: dict = {"candidates": [candidate], "modelVersion": version, "responseId": "r-1"}
        if counts is not None:
            c["usageMetadata"] = counts
        return c

    async def handler(request: web.Request) -> web.Response:
        assert ":streamGenerateContent" in request.path
        await request.json()
        first = {"promptTokenCount": 12, "candidatesTokenCount": 1, "totalTokenCount": 13} if counted_before else None
        chunks = [chunk([{"text": "o"}], None, first), chunk([{"text": "k"}], "STOP", None)]
        text = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks)
        return web.Response(text=text, content_type="text/event-stream")

    env = {"GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": await serve_posts(handler)}
    config = {"provider": "google", "model": "gemini-2.5-flash", "stream": True}
    result, row, _ = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path))
    assert row["cost_usd"] is None
    assert row["cost_bound_usd"] is not None and D(row["cost_bound_usd"]) > 0
    assert "answered without reporting its token usage" in " | ".join(result.warnings)
    assert row["served_model"] == version
