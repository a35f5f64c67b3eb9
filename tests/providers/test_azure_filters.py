"""Azure OpenAI's content filter on an unstreamed Chat Completions answer, from the providers' OpenAI fake in Azure
mode, as the 2024-10-21 spec writes it: every answer carries the prompt's ``prompt_filter_results`` and each choice's
``content_filter_results``; a prompt the filter refused is a 400 whose inner error names the categories
(``ResponsibleAIPolicyViolation``); an answer the filter cut ends with finish_reason ``content_filter``.

What the provider makes of each, through the service and into the ledger: the refused prompt and the cut answer are
``content_filtered`` errors that name the categories that fired; the cut answer's row holds the tokens its usage
reports and their exact cost; the refused prompt reported none, so its cost is unknown (Azure bills a prompt it
evaluated), never 0."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target
from tests.conftest import CATALOG
from tests.fakes.spec import spec_validator
from tests.fakes.sse_reader import sse_blocks

from .fakes import AZURE_REQUEST_ID, FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "sk-test-key-123456"
DEPLOYMENT = "gpt4o-prod"
SAFE = {"filtered": False, "severity": "safe"}
M = 1_000_000


async def _post(serve: Any, step: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """The fake's answer to an unstreamed chat completion, read with a plain client: status, headers, body."""
    fake = FakeOpenAI(KEY, azure=True).queue(step)
    base = await serve(fake)
    body = {"model": DEPLOYMENT, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base + f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21",
            json=body,
            headers={"api-key": KEY},
        ) as resp,
    ):
        answer = (resp.status, dict(resp.headers), await resp.json())
    assert fake.violations == []
    return answer


async def test_the_azure_fakes_unstreamed_answer_carries_the_filter_results_of_the_prompt_and_the_choice(serve):
    status, _, answer = await _post(serve, {"text": "hello there"})
    assert status == 200
    spec_validator("azure").assert_valid("createChatCompletionResponse", answer)
    # promptFilterResults: one per prompt, its contentFilterPromptResults with the prompt shield's jailbreak
    (prompt,) = answer["prompt_filter_results"]
    assert prompt["prompt_index"] == 0
    assert prompt["content_filter_results"] == {
        "hate": SAFE,
        "self_harm": SAFE,
        "sexual": SAFE,
        "violence": SAFE,
        "jailbreak": {"filtered": False, "detected": False},
    }
    # contentFilterChoiceResults on the choice
    (choice,) = answer["choices"]
    assert choice["content_filter_results"] == {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
    assert (choice["message"]["content"], choice["finish_reason"]) == ("hello there", "stop")


async def test_the_azure_fakes_answer_the_filter_cut_names_the_categories_on_its_choice(serve):
    fired = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": {"filtered": True, "severity": "medium"}}
    step = {"text": "Step one of", "finish": "content_filter", "filter_results": fired}
    status, _, answer = await _post(serve, step)
    assert status == 200
    spec_validator("azure").assert_valid("createChatCompletionResponse", answer)
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "content_filter" and choice["content_filter_results"] == fired
    assert answer["usage"]["completion_tokens"] == 7


@pytest.mark.parametrize("as_served", [False, True], ids=["spec-names", "service-names"])
async def test_the_azure_fakes_refused_prompt_is_the_400_of_the_spec(serve, as_served: bool):
    step = {"prompt_filtered": {"violence": {"filtered": True, "severity": "high"}}, "as_served": as_served}
    status, headers, answer = await _post(serve, step)
    assert status == 400 and headers["apim-request-id"] == AZURE_REQUEST_ID
    spec_validator("azure").assert_valid("errorResponse", answer)
    error = answer["error"]
    assert (error["code"], error["param"]) == ("content_filter", "prompt")
    assert "content management policy" in error["message"]
    # the spec's innerError (inner_error: code, content_filter_results), or the names the service sends it by
    inner = error["innererror"] if as_served else error["inner_error"]
    results = inner["content_filter_result"] if as_served else inner["content_filter_results"]
    assert inner["code"] == "ResponsibleAIPolicyViolation"
    spec_validator("azure").assert_valid("contentFilterPromptResults", results)
    assert results["violence"] == {"filtered": True, "severity": "high"} and results["hate"] == SAFE
    assert results["jailbreak"] == {"filtered": False, "detected": False}
    assert ("inner_error" in error, "innererror" in error) == (not as_served, as_served)


async def test_the_azure_provider_reads_an_unstreamed_answer_and_its_filter_results_whole(serve, transport):
    fake = FakeOpenAI(KEY, azure=True).queue({"text": "hello there", "usage": {"prompt_tokens": 20}})
    url = await serve(fake)
    provider = AzureProvider({"AZURE_OPENAI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=50), Target(provider.name, DEPLOYMENT, url)
    )
    assert fake.violations == []
    assert (result.text, result.finish_reason, result.warnings) == ("hello there", "stop", [])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 7) and result.usage.reported


async def _through_the_service(serve: Any, tmp_path: Any, step: dict[str, Any], stream: bool) -> tuple[Any, tuple]:
    """The step answered to a call of the analysis skill on azure:gpt-4o: the attempt's error, and its ledger row."""
    fake = FakeOpenAI(KEY, azure=True).queue(step)
    url = await serve(fake)
    env = {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": url + "/",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }
    config = {"model": "azure:gpt-4o", "stream": stream}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.ContentFilteredError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r1")
    assert fake.violations == [] and len(fake.requests) == 1
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        (row,) = conn.execute(
            "SELECT outcome, error_class, input_tokens, output_tokens, cost_pusd, cost_bound_pusd, error_message"
            " FROM attempts WHERE run_id = 'r1'"
        ).fetchall()
    finally:
        conn.close()
    return info.value.last_error, row


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("as_served", [False, True], ids=["spec-names", "service-names"])
async def test_a_prompt_the_filter_refused_names_the_categories_and_is_recorded_at_an_unknown_cost(
    serve, tmp_path, stream: bool, as_served: bool
):
    fired = {"violence": {"filtered": True, "severity": "high"}, "jailbreak": {"filtered": True, "detected": True}}
    err, row = await _through_the_service(serve, tmp_path, {"prompt_filtered": fired, "as_served": as_served}, stream)
    assert err.kind == "content_filtered" and err.moves_on and not err.retryable
    assert err.message.endswith("(filtered: violence (high), jailbreak (detected))"), err.message
    outcome, error_class, input_tokens, output_tokens, cost, bound, message = row
    assert (outcome, error_class, input_tokens, output_tokens) == ("error", "content_filtered", 0, 0)
    # Azure bills a prompt its filter evaluated, and the 400 counts no tokens: unknown, at its bound, not 0
    assert cost is None and bound > 0
    assert message.endswith("(filtered: violence (high), jailbreak (detected))") and KEY not in message


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("text", ["Step one of", None], ids=["part-way", "before-any"])
async def test_an_answer_the_filter_cut_names_the_categories_and_is_recorded_at_its_usage(
    serve, tmp_path, stream: bool, text: str | None
):
    fired = {"hate": SAFE, "self_harm": SAFE, "sexual": {"filtered": True, "severity": "medium"}, "violence": SAFE}
    step = {
        "text": text,
        "finish": "content_filter",
        "filter_results": fired,
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
    }
    err, row = await _through_the_service(serve, tmp_path, step, stream)
    assert err.kind == "content_filtered" and err.moves_on and not err.retryable
    assert "content filter (filtered: sexual (medium))" in err.message, err.message
    assert ("the part of the answer that came before it is not returned" in err.message) is bool(text)
    assert "Step one" not in err.message
    outcome, error_class, input_tokens, output_tokens, cost, bound, _ = row
    assert (outcome, error_class, input_tokens, output_tokens, bound) == ("error", "content_filtered", 1000, 100, None)
    # gpt-4o: $2.50 in, $10 out per million
    assert D(cost) / 10**12 == (1000 * D("2.5") + 100 * 10) / M


async def test_the_azure_fakes_stream_opens_with_the_prompt_results_its_whole_answer_carries(serve):
    fake = FakeOpenAI(KEY, azure=True).queue({"text": "hello"}, {"text": "hello"})
    base = await serve(fake)
    url = base + f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21"
    body = {"model": DEPLOYMENT, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers={"api-key": KEY}) as resp:
            whole = await resp.json()
        async with session.post(url, json={**body, "stream": True}, headers={"api-key": KEY}) as resp:
            opening = json.loads((await sse_blocks(resp))[0][1])
    assert fake.violations == []
    spec_validator("azure").assert_valid("createChatCompletionStreamResponse", opening)
    assert opening["prompt_filter_results"] == whole["prompt_filter_results"]
    assert opening["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
