"""A gateway's answer echoing the request's key as its ``id`` or its ``model`` (a proxy minting the id from the bearer
token, a router naming the deployment by it): the result leaves the process without it (invoke_result.shown_answer),
but the call's span, exported to a collector, set ``gen_ai.response.id`` and ``gen_ai.response.model`` as sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY
from tests.pricing_audit import catalog_without_policies
from tests.test_otel_attempts import QUICK, exporter  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


async def test_an_answers_id_and_model_echoing_the_key_reach_no_span(tmp_path: Path, exporter, fake_openai):  # noqa: F811
    body = {
        "id": f"chatcmpl-{DEFAULT_KEY}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": f"gpt-4o@{DEFAULT_KEY}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    fake_openai.queue(R.reply(raw_body=json.dumps(body)))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, **QUICK}
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    said = json.dumps(dict(span.attributes)) + json.dumps([dict(e.attributes or {}) for e in span.events])
    assert DEFAULT_KEY not in said and DEFAULT_KEY[-12:] not in said, said
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-[REDACTED]"
    assert span.attributes["gen_ai.response.model"] == "gpt-4o@[REDACTED]"
