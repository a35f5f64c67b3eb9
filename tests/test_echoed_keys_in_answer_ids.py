"""What of a key a gateway echoes where redaction did not look: as the answer's own id (OpenAI's and Anthropic's
``id``, Gemini's ``responseId``: the vendor's string, passed on as it came, so the MCP tool's result carried the key
whole while the ledger's copy of the same id was redacted), a hex key (Azure's) echoed in the other case, and an
answer quoting the key kept in the answer cache's rows of the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.key_echo_helpers import KEYS, MODELS, gateway, key_env, ledger_bytes, sent_key

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

#: the answer skill.analysis asks for (its output schema's fields)
_ANSWER = json.dumps({"summary": "ok", "key_points": [], "confidence": 0.5})


def _answer_with_id(family: str, answer_id: str) -> dict[str, Any]:
    """A successful answer as each family's spec shapes it, its id ``answer_id``."""
    if family == "anthropic":
        return {
            "id": answer_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-sonnet-20241022",
            "content": [{"type": "text", "text": _ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 5},
        }
    if family == "google":
        return {
            "candidates": [{"content": {"role": "model", "parts": [{"text": _ANSWER}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8},
            "modelVersion": "gemini-1.5-pro",
            "responseId": answer_id,
        }
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": 1733500000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


@pytest.mark.parametrize("family", ["openai", "anthropic", "google", "azure"])
async def test_a_key_echoed_as_the_answers_id_reaches_neither_the_tool_result_nor_the_ledger(
    tmp_path: Path, family: str
):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.key_echo_helpers import CATALOG

    key, state = KEYS[family], {}

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(_answer_with_id(family, f"resp-{sent_key(request)}"))

    db = tmp_path / "ledger.db"
    async with gateway(answer, state):
        async with Client(build_server(catalog=CATALOG, db=db, env=key_env(family, state["url"]))) as client:
            result = await client.call_tool(
                "invoke_skill",
                {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": MODELS[family]}}},
            )
    assert not result.is_error, result
    shown = json.dumps(result.structured_content) + "".join(getattr(c, "text", "") for c in result.content)
    assert result.structured_content["response_id"] == "resp-[REDACTED]"
    assert key not in shown and key[10:30] not in shown
    assert key.encode() not in ledger_bytes(db)


@pytest.mark.parametrize("echoed", ["whole", "start"])
async def test_a_hex_key_echoed_in_the_other_case_reaches_no_result_ledger_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, echoed: str
):
    # An Azure resource's key is 32 hex digits: a gateway in front of it that echoes the key upper-cased ("invalid
    # subscription key 3F9A..."), as a .NET service formats a GUID-like value, gave away the key itself (hex is the
    # same number in either case), in the error, the MCP result, the ledger file and the log.
    import logging

    from tests.key_echo_helpers import error_body, invoke_and_search

    caplog.set_level(logging.DEBUG)
    key, state = KEYS["azure"], {}
    assert key == key.lower() and key != key.upper()

    async def answer(request: web.Request) -> web.Response:
        shown = sent_key(request).upper()
        shown = shown if echoed == "whole" else shown[:16] + "..."
        said = f"Access denied due to invalid subscription key {shown}. Make sure to provide a valid key."
        return web.json_response(error_body("azure", 401, said), status=401)

    db = tmp_path / "ledger.db"
    async with gateway(answer, state):
        refused = await invoke_and_search(db, key_env("azure", state["url"]), MODELS["azure"], "subscription")
    shown_out = json.dumps(refused.result.structured_content) + str(refused.hits)
    assert "invalid subscription key [REDACTED]" in shown_out
    upper = key.upper()
    for where in (shown_out, ledger_bytes(db).decode("latin-1"), caplog.text):
        assert upper[:12] not in where and upper[16:28] not in where


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_an_answer_quoting_the_key_is_not_kept_in_the_answer_cache(tmp_path: Path, family: str):
    # The answer cache keeps an answer's text in the ledger (its answer_cache rows): a gateway echoing the request's
    # headers in its answer, a cached call, and the key lay whole in the ledger's file, while the caller's copy of the
    # same answer was shown less the key. Such an answer is not kept; the same call is asked again.
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.key_echo_helpers import CATALOG

    key, state, asked = KEYS[family], {}, []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        said = json.dumps({"summary": f"you sent {sent_key(request)}", "key_points": [], "confidence": 0.5})
        body = _answer_with_id(family, "resp-1")
        if family == "anthropic":
            body["content"] = [{"type": "text", "text": said}]
        else:
            body["choices"][0]["message"]["content"] = said
        return web.json_response(body)

    db = tmp_path / "ledger.db"
    arguments = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x", "model_config": {"model": MODELS[family]}},
        "context": {"cache_ttl": 3600},
    }
    async with gateway(answer, state):
        async with Client(build_server(catalog=CATALOG, db=db, env=key_env(family, state["url"]))) as client:
            first = await client.call_tool("invoke_skill", arguments)
            again = await client.call_tool("invoke_skill", arguments)
    for result in (first, again):
        assert not result.is_error, result
        assert "you sent [REDACTED]" in json.dumps(result.structured_content)
    assert len(asked) == 2  # not answered from the cache: nothing was kept
    assert key.encode() not in ledger_bytes(db) and key[20:40].encode() not in ledger_bytes(db)


def test_a_text_answers_id_is_looked_in_without_writing_the_answer_out_as_json(monkeypatch: pytest.MonkeyPatch):
    # the plain case (a text answer, no tool call) with its id, which nearly every answer has: the text and the id
    # are looked in as they are; writing the whole answer out as JSON was a copy of it on every call
    import types

    from magsag_mcp import invoke_result
    from magsag_mcp.redaction import register_secret

    key = "gwKey-Hx4Tq8Ln2Vb6Rm0Zc3Wd7"
    register_secret(key)

    def no_json(*args: object, **kwargs: object) -> str:
        raise AssertionError("the plain answer was written out as JSON")

    monkeypatch.setattr(invoke_result, "json", types.SimpleNamespace(dumps=no_json))
    answer = "a plain answer, no key in it"
    data = {"output": answer, "text": answer, "tool_calls": [], "response_id": f"resp-{key}", "warnings": []}
    shown = invoke_result.shown_answer(data)
    assert shown["response_id"] == "resp-[REDACTED]" and shown["output"] == answer
    clean = {**data, "response_id": "chatcmpl-Abc123"}
    assert invoke_result.shown_answer(clean) == clean
    echoed = {**clean, "output": f"your key is {key}", "text": f"your key is {key}"}
    assert key not in json.dumps(invoke_result.shown_answer(echoed))
