"""A bug of magsag-mcp's inside an attempt (a TypeError in a parse step): recorded as our bug, ``internal_error``, with
the exception's type and no secret; the call stops there instead of paying another target for the same bug. A
vendor's genuinely malformed body keeps ``malformed_response`` and its fallback (tests/test_attempt_cost.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import HTTPProvider, Provider, ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.openai import OpenAIEndpoint
from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
from magsag_mcp.routing import plan_call
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMResult
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


class BuggyChat(ChatCompletionsFormat):
    """The Chat Completions format with a bug of ours in its parse step: the vendor's answer is sound."""

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        result = super().parse_response(data, provider=provider, model=model)
        return result.text.usage  # type: ignore[attr-defined]  # (an AttributeError: text is a str)


class BuggyBuild(ChatCompletionsFormat):
    """The Chat Completions format with a bug of ours in building the request's body: nothing is sent."""

    def build(self, request: Any, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        body, notes = super().build(request, model, stream=stream)
        return body, notes + [body["tools"]]  # (a KeyError: a call without tools has none)


class CyclicBody(ChatCompletionsFormat):
    """The Chat Completions format with a bug of ours that puts a cycle in the body, which JSON cannot carry."""

    def build(self, request: Any, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        body, notes = super().build(request, model, stream=stream)
        body["metadata"] = {"request": body}
        return body, notes


class SentThenBuggy(HTTPProvider):
    """A provider whose attempt sends one request, then fails building a second (a resend, as Anthropic's without
    its prefill): the first may be billed."""

    async def complete(self, request: Any, target: Any, *, progress: Any = None) -> LLMResult:
        await self.call(self.wire, request, target, progress=progress)
        return await self.call(BuggyBuild(), request, target, progress=progress)


class OwnTimer(HTTPProvider):
    """A provider that bounds its request by a timer of its own, and leaves the TimeoutError it raises unconverted. The
    timer fires once the server has the request (``arrived``): one of 50 ms fired, on a loaded machine, while the
    connection was still being opened, and nothing of the request had left (not billed, as the cascade now tells)."""

    def __init__(self, *args: Any, arrived: Any) -> None:
        super().__init__(*args)
        self.arrived = arrived

    async def complete(self, request: Any, target: Any, *, progress: Any = None) -> LLMResult:
        async with asyncio.timeout(None) as timer:
            fire = asyncio.ensure_future(self._fire_once_arrived(timer))
            try:
                return await self.call(self.wire, request, target, progress=progress)
            finally:
                fire.cancel()

    async def _fire_once_arrived(self, timer: asyncio.Timeout) -> None:
        while not self.arrived():
            await asyncio.sleep(0.001)
        timer.reschedule(asyncio.get_running_loop().time())


class Providers(ProviderSet):
    """The service's providers, with ``openai`` made by the test (the cascade takes its providers injected)."""

    def __init__(self, env: dict[str, str], transport: Transport, openai: Provider) -> None:
        super().__init__(env, transport)
        self._instances["openai"] = openai


async def test_a_bug_in_our_parse_step_is_an_internal_error_and_pays_no_other_target(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Before: recorded as the vendor's malformed_response, and the fallback was sent the call, billed, and lost to
    # the same bug (two requests, two unknown costs, "every target failed").
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("first", usage=R.tokens(100, 10)), R.reply("second", usage=R.tokens(100, 10)))
    providers = Providers(env, transport, HTTPProvider(BuggyChat(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    err = info.value
    assert len(fake_openai.requests) == 1  # neither retried nor sent to the fallback
    assert isinstance(err, E.AllTargetsFailed) and err.kind == "internal_error"
    (attempt,) = err.attempts
    assert (attempt.model, attempt.error_class) == ("gpt-4o", "internal_error")
    assert attempt.cost_usd is None and attempt.cost_bound_usd is not None  # the answer came: maybe billed
    assert "bug in magsag-mcp" in attempt.error_message and "AttributeError" in attempt.error_message
    assert "not the provider's" in err.message and "report it" in err.message
    assert err.to_dict()["exception"] == "AttributeError"
    assert DEFAULT_KEY not in json.dumps(err.to_dict(), default=str)
    assert isinstance(err.__cause__ or err.last_error.__cause__, AttributeError)  # the traceback is kept


@pytest.mark.parametrize("stream", [False, True])
async def test_a_bug_before_the_request_was_sent_costs_nothing(fake_openai: FakeOpenAI, transport: Transport, stream):
    # Before: recorded as maybe billed, its cost unknown and counted at its worst case in every limit, although the
    # transport never sent it (the bug came while the body was built): nothing can be billed for it
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    providers = Providers(env, transport, HTTPProvider(BuggyBuild(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    plan.request = replace(plan.request, stream=stream)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    err = info.value
    assert fake_openai.requests == []  # nothing went out, and the call still stopped at the bug
    (attempt,) = err.attempts
    assert attempt.error_class == "internal_error"
    assert attempt.cost_usd == 0 and attempt.cost_bound_usd is None and attempt.warnings == []
    assert not err.last_error.maybe_billed and not err.last_error.reached
    assert "nothing was sent to the provider" in err.message and "may be billed" not in err.message
    assert "KeyError" in err.message


async def test_a_body_that_cannot_be_serialized_is_our_bug_not_a_config_error(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Before: config_error, "cannot send a request ... check the provider's base URL (no user:password@ in it) and
    # its key and organisation variables": the user was sent to fix settings that were right, and no attempt recorded
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    providers = Providers(env, transport, HTTPProvider(CyclicBody(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    assert fake_openai.requests == []
    (attempt,) = info.value.attempts
    assert attempt.error_class == "internal_error" and attempt.cost_usd == 0  # nothing was sent
    assert "ValueError" in info.value.message and "base URL" not in info.value.message


async def test_a_bug_after_a_request_of_the_attempt_was_sent_is_still_maybe_billed(
    fake_openai: FakeOpenAI, transport: Transport
):
    # the attempt's first request went out (and was answered, billed); the bug came building its second: not 0
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("first", usage=R.tokens(100, 10)))
    providers = Providers(env, transport, SentThenBuggy(ChatCompletionsFormat(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    assert len(fake_openai.requests) == 1
    (attempt,) = info.value.attempts
    # bounded at its worst case, which covers what the first request was billed ($0.00035): 78 input tokens estimated
    # and the skill's max_tokens (1500) at gpt-4o's $2.50 and $10 per million
    assert attempt.cost_usd is None and attempt.cost_bound_usd == Decimal("0.015195")
    assert "may be billed" in info.value.message


async def test_a_bug_of_a_provider_that_sends_by_other_means_is_maybe_billed():
    # what a provider that does not send through the transport sent is not known: never a silent 0
    script("buggy", KeyError("choices"))
    cascade = Cascade(
        ProviderSet({}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=1, base_delay=0.001, max_delay=0.002, deadline=60.0),
    )
    payload = {"data": "x", "model_config": {"model": "fake:buggy"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env={})
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    assert info.value.last_error.maybe_billed and "may be billed" in info.value.message


class BuggyPricer(Pricer):
    """Prices with a bug of ours (genai-prices, or our code around it, raising on a usage it should price)."""

    def price(self, provider: str, model: str, usage: Any) -> Any:
        raise TypeError("unsupported operand type(s) for *: 'NoneType' and 'Decimal'")


class BuggierPricer(BuggyPricer):
    """... and whose worst case, the bound of an unknown cost, has the bug too."""

    def worst_case(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("unsupported operand type(s) for *: 'NoneType' and 'Decimal'")


@pytest.mark.parametrize(("pricer", "bounded"), [(BuggyPricer, True), (BuggierPricer, False)])
async def test_a_bug_pricing_a_sound_answer_keeps_the_answer_and_its_spend(
    fake_openai: FakeOpenAI, transport: Transport, caplog, pricer: type[Pricer], bounded: bool
):
    # Before: the TypeError left the cascade after the answer came (and was billed): the answer was lost, the attempt
    # recorded nowhere (the run said 0 tokens, $0), its reservation left to expire; the caller got a bare TypeError
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("the answer", usage=R.tokens(100, 10)))
    providers = Providers(env, transport, HTTPProvider(ChatCompletionsFormat(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    out = await cascade.run(plan, run_id="r", agent=None)
    assert out.result.text == "the answer" and len(fake_openai.requests) == 1
    (attempt,) = out.attempts
    assert (attempt.outcome, attempt.input_tokens, attempt.output_tokens) == ("ok", 100, 10)
    assert attempt.cost_usd is None and (attempt.cost_bound_usd is not None) is bounded  # unknown, never 0
    (warning,) = [w for w in out.result.warnings if "could not be priced" in w]
    assert "a bug in magsag-mcp (TypeError" in warning and "report it" in warning
    assert [r.levelname for r in caplog.records if r.name == "magsag_mcp.cascade"] == ["ERROR"]
    assert "Traceback" in caplog.text  # the traceback to report


async def test_a_bug_pricing_an_answer_is_recorded_in_the_ledger_as_an_unpriced_call(tmp_path: Path):
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        svc.cascade.pricer = BuggyPricer.from_catalog(CATALOG)
        out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:fine"}})
    assert out.cost_usd is None and any("could not be priced" in w for w in out.warnings)
    conn = sqlite3.connect(db)
    status, calls, unpriced, tokens = conn.execute(
        "SELECT status, calls, unpriced_calls, input_tokens FROM runs"
    ).fetchone()
    assert (status, calls, unpriced) == ("ok", 1, 1) and tokens > 0
    assert conn.execute("SELECT outcome, cost_pusd IS NULL FROM attempts").fetchall() == [("ok", 1)]


async def test_a_malformed_body_still_falls_back(fake_openai: FakeOpenAI, transport: Transport):
    # the vendor's fault, with the same providers: malformed_response, and the fallback answers
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply(tool_calls=[R.call("", {"city": "Paris"})], usage=R.tokens(100, 10)), R.reply("fine"))
    providers = Providers(env, transport, HTTPProvider(ChatCompletionsFormat(), OpenAIEndpoint(env), transport))
    retry = RetryPolicy(tries_per_target=3, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    out = await cascade.run(plan, run_id="r", agent=None)
    assert out.result.text == "fine"
    assert [a.error_class for a in out.attempts] == ["malformed_response", None]


async def test_the_ledger_records_the_bug_as_ours(tmp_path: Path, caplog):
    key = "sk-proj-4bC9dEf01aZ7kLm2nOp3QrSt"  # a bug's message may quote anything it held, a key included
    script("buggy", KeyError(f"choices (sent with {key})"))
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        mc = {"model": "fake:buggy", "fallbacks": ["fake:fine"]}
        with pytest.raises(E.InternalError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-bug")
    assert info.value.run_id == "r-bug"
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT model, outcome, error_class, error_message FROM attempts").fetchall()
    assert [r[:3] for r in rows] == [("buggy", "error", "internal_error")]  # fake:fine was not called
    assert "KeyError" in rows[0][3] and "bug in magsag-mcp" in rows[0][3]
    status, error_class, message = conn.execute("SELECT status, error_class, error_message FROM runs").fetchone()
    assert (status, error_class) == ("error", "internal_error")
    assert "choices (sent with" in rows[0][3] and key[8:20] not in rows[0][3] + message
    assert [r.levelname for r in caplog.records if r.name == "magsag_mcp.cascade"] == ["ERROR"]
    assert "Traceback" in caplog.text and key[8:20] not in caplog.text  # the traceback to report, without the key


async def test_an_mcp_client_gets_an_internal_error_with_the_run_and_attempts(client):
    script("buggy", TypeError("'NoneType' object is not subscriptable"))
    payload = {"data": "x", "model_config": {"model": "fake:buggy", "fallbacks": ["fake:fine"]}}
    res = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": payload})
    assert res.is_error
    err = res.structured_content["error"]
    assert err["type"] == "internal_error" and err["exception"] == "TypeError"
    assert err["run_id"] and [a["error_class"] for a in err["attempts"]] == ["internal_error"]
    assert "bug in magsag-mcp" in err["message"]


def test_the_cli_exits_1_with_the_json_error(tmp_path: Path, monkeypatch, capsys):
    from magsag_mcp.cli import main

    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    script("buggy", AttributeError("'dict' object has no attribute 'text'"))
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:buggy"}})
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 1  # the operation failed, not bad input
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "internal_error" and err["exception"] == "AttributeError"


def _wires() -> dict[str, Any]:
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
    from magsag_mcp.providers.gemini import GeminiFormat
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    return {
        "chat": ChatCompletionsFormat(),
        "responses": ResponsesFormat(),
        "anthropic": AnthropicMessagesFormat(),
        "gemini": GeminiFormat(),
    }


@pytest.mark.parametrize(
    ("wire", "body"),
    [
        ("chat", {"choices": [{"message": None, "finish_reason": "stop"}]}),
        ("chat", {"choices": [{"message": "hi", "finish_reason": "stop"}]}),
        ("responses", {"output": ["hi"], "status": "completed"}),
        ("responses", {"output": [{"type": "message", "content": ["hi"]}], "status": "completed"}),
        ("responses", {"output": [{"type": "message", "content": [{"type": "output_text", "text": 5}]}]}),
        ("anthropic", {"type": "message", "content": ["hi"], "stop_reason": "end_turn"}),
        ("gemini", {"candidates": ["hi"]}),
        ("gemini", {"candidates": [{"content": "hi", "finishReason": "STOP"}]}),
    ],
)
def test_a_body_whose_parts_are_not_the_apis_objects_is_malformed_not_our_bug(wire: str, body: dict[str, Any]):
    # Each crashed the parse (an AttributeError reading an object where the body has a string, a TypeError joining a
    # number): taken for the vendor's by a catch-all before, it would now read as a bug of magsag's and stop the call.
    # The body breaks the API's spec: the vendor's malformed_response, and the next target is tried.
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()[wire].parse_response(body, provider=wire, model="m")
    assert type(info.value) is E.MalformedResponseError


def test_a_gemini_answer_whose_usage_is_not_an_object_is_kept_with_its_usage_unreported():
    # as the other formats read a usage that is no object (the answer is whole; its cost is unknown, never 0): it
    # crashed the parse with an AttributeError
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}], "usageMetadata": 1}
    result = _wires()["gemini"].parse_response(body, provider="google", model="m")
    assert result.text == "x" and not result.usage.reported


@pytest.mark.parametrize(
    ("wire", "event", "data"),
    [
        ("chat", None, {"choices": ["hi"]}),
        ("chat", None, {"choices": [{"delta": "hi"}]}),
        ("chat", None, {"choices": [{"delta": {"tool_calls": ["hi"]}}]}),
        ("responses", "response.completed", {"type": "response.completed", "response": "hi"}),
        ("anthropic", "message_start", {"type": "message_start", "message": "hi"}),
        ("anthropic", "content_block_start", {"type": "content_block_start", "index": 0, "content_block": "hi"}),
        ("anthropic", "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": "hi"}),
        ("anthropic", "message_delta", {"type": "message_delta", "delta": "hi"}),
        ("gemini", None, {"candidates": [{"content": "hi"}]}),
    ],
)
def test_a_stream_event_whose_parts_are_not_the_apis_objects_is_malformed_not_our_bug(
    wire: str, event: str | None, data: dict[str, Any]
):
    # as for a whole body: each crashed the stream's reading with an AttributeError (or a ValueError making a dict of
    # a string), which would now read as a bug of magsag's
    from magsag_mcp.sse import SSEEvent

    acc = _wires()[wire].accumulator(provider=wire, model="m")
    with pytest.raises(E.MalformedResponseError) as info:
        acc.feed(SSEEvent(event, json.dumps(data)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError and "not an object" in info.value.message


@pytest.mark.parametrize("kind", [[], {}, 7], ids=["a list", "an object", "a number"])
def test_a_streamed_content_blocks_type_that_is_no_string_is_malformed_not_our_bug(kind: Any):
    # found by test_properties_answers (CI58): a content_block_start whose block's type was a list raised TypeError
    # (unhashable, looked up in a set of the streamed-input types), which read as a bug of magsag's
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["anthropic"].accumulator(provider="anthropic", model="m")
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": kind, "text": ""}}
    with pytest.raises(E.MalformedResponseError) as info:
        acc.feed(SSEEvent("content_block_start", json.dumps(start)))
    assert "a content block's type is" in info.value.message and "not a string" in info.value.message


def _broken_result(*args: Any, **kwargs: Any) -> Any:
    """A bug of ours in the service after the call: building the result of an answer that came, and was paid for."""
    raise KeyError("trace")


async def test_a_bug_after_the_call_is_an_error_naming_the_run_and_its_spend(tmp_path: Path, monkeypatch, caplog):
    # Before: a bare KeyError reached the caller, with neither the run the call was recorded under nor what it cost,
    # nor where to report it (the CLI printed a traceback; an MCP client was told to look in the server's log)
    monkeypatch.setattr(Service, "_result", _broken_result)
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:fine"}}, run_id="r")
    err = info.value
    # what it spent: known (the fake provider is free), $0, not unknown
    assert err.kind == "error" and err.run_id == "r" and err.cost_usd == Decimal(0)
    assert isinstance(err.__cause__, KeyError)  # the traceback is kept
    assert "unexpected KeyError in magsag-mcp (a bug)" in err.message and "report it" in err.message
    data = err.to_dict()
    assert (data["exception"], data["run_id"], data["cost_unknown"]) == ("KeyError", "r", False)
    assert "Traceback" in caplog.text and any(r.name == "magsag_mcp.service" for r in caplog.records)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, error_class, calls FROM runs").fetchone() == ("error", "error", 1)
    assert conn.execute("SELECT model, outcome FROM attempts").fetchall() == [("fine", "ok")]  # its spend is there


async def test_an_mcp_client_gets_the_bug_after_the_call_with_its_run(client, monkeypatch):
    monkeypatch.setattr(Service, "_result", _broken_result)
    payload = {"data": "x", "model_config": {"model": "fake:fine"}}
    res = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": payload, "run_id": "r-m"})
    assert res.is_error
    err = res.structured_content["error"]
    assert (err["type"], err["exception"], err["run_id"]) == ("error", "KeyError", "r-m")
    assert err["cost_usd"] is not None and "report it" in err["message"]


def test_the_cli_exits_1_with_the_bug_after_the_call_as_its_json_error(tmp_path: Path, monkeypatch, capsys):
    from magsag_mcp.cli import main

    monkeypatch.setattr(Service, "_result", _broken_result)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:fine"}})
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 1  # (a traceback, exit 1, before)
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "error" and err["exception"] == "KeyError" and err["run_id"]


@pytest.mark.parametrize("event", ["attempt", "delta"])
async def test_the_callers_own_callback_failing_is_raised_as_it_was_and_not_called_a_bug(tmp_path: Path, event: str):
    # what the caller's progress callback raised is the caller's: it reaches the caller as raised (not as a bug of
    # magsag's), and the ledger says whose it was (it said "unexpected RuntimeError in magsag-mcp (a bug)")
    db = tmp_path / "l.db"

    async def progress(name: str, data: dict) -> None:
        if name == event:
            raise RuntimeError("the caller's own")

    async with Service.open(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        with pytest.raises(RuntimeError, match="the caller's own"):
            payload = {"data": "x", "model_config": {"model": "fake:fine"}}
            await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
    (message,) = sqlite3.connect(db).execute("SELECT error_message FROM runs").fetchone()
    assert "the caller's progress callback raised RuntimeError: the caller's own" in message and "bug" not in message


_MESSAGE_START = {
    "type": "message_start",
    "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": {"input_tokens": 9}},
}


def _text_block(index: Any = 0, text: Any = "") -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": text}}


def _text_delta(index: Any = 0, text: Any = "hi") -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


_TOOL_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1"}}
_JSON_DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": 5}}


@pytest.mark.parametrize(
    "events",
    [
        [{k: v for k, v in _text_block().items() if k != "index"}, _text_delta()],  # no index
        [_text_block(), {k: v for k, v in _text_delta().items() if k != "index"}],
        [_text_block(0), _text_delta(None)],  # an index written null
        [_text_block(0), _text_block(1), _text_delta(1), _text_delta("0")],  # an index written as text
        [_text_block(), _text_delta(text=5)],  # a number where the text goes
        [_TOOL_START],  # a tool_use block without its name
        [{**_TOOL_START, "content_block": {**_TOOL_START["content_block"], "name": "f"}}, _JSON_DELTA],  # a number
    ],
)
def test_a_messages_stream_missing_what_the_spec_requires_is_malformed_not_our_bug(events: list[dict[str, Any]]):
    # Each crashed the stream's reading (a KeyError on the index, a TypeError sorting or joining), which the cascade
    # now takes for a bug of magsag's: internal_error, the call stopped with no fallback tried, for a gateway's or a
    # compatible server's answer that breaks the Messages API's spec (its index, a tool_use's name are required)
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["anthropic"].accumulator(provider="anthropic", model="m")
    ending = [
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    with pytest.raises(E.MalformedResponseError) as info:
        for data in [_MESSAGE_START, *events, *ending]:
            acc.feed(SSEEvent(data["type"], json.dumps(data)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "tool_use", "id": "toolu_1", "input": {}}],  # no name
        [{"type": "text", "text": 5}],
    ],
)
def test_a_messages_body_missing_what_the_spec_requires_is_malformed_not_our_bug(content: list[dict[str, Any]]):
    body = {"type": "message", "content": content, "stop_reason": "end_turn", "usage": {"input_tokens": 1}}
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()["anthropic"].parse_response(body, provider="anthropic", model="m")
    assert type(info.value) is E.MalformedResponseError


def test_a_messages_stream_with_nulls_where_text_goes_is_read_as_none_yet():
    # a gateway writing every field writes null for a text not begun: read as empty, as before, and the answer kept
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["anthropic"].accumulator(provider="anthropic", model="m")
    events = [
        _MESSAGE_START,
        _text_block(0, None),
        _text_delta(0, None),
        _text_delta(0, "hi"),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    for data in events:
        acc.feed(SSEEvent(data["type"], json.dumps(data)))
    result = acc.finish()
    assert result.text == "hi" and result.usage.output_tokens == 3


@pytest.mark.parametrize(
    "tool_call",
    [
        None,  # a null in the list (an_object read it as {}, and the next line read the null again)
        {"index": 0, "id": "call_1", "function": "f"},  # text where the function object goes
        {"index": 0, "id": "call_1", "function": {"name": 5, "arguments": "{}"}},  # a number where the name goes
    ],
)
def test_a_chat_stream_tool_call_delta_that_is_not_the_apis_object_is_malformed_not_our_bug(tool_call: Any):
    # each crashed the stream's reading (an AttributeError, a TypeError adding a number to the name), which the
    # cascade takes for a bug of magsag's: the call stopped with no fallback tried
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["chat"].accumulator(provider="openai", model="m")
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [tool_call]}, "finish_reason": None}]}
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    with pytest.raises(E.MalformedResponseError) as info:
        acc.feed(SSEEvent(None, json.dumps(chunk)))
        acc.feed(SSEEvent(None, json.dumps(last)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError


@pytest.mark.parametrize("usage", [5, "n/a", [1, 2]])
def test_a_messages_stream_whose_start_usage_is_not_an_object_reports_none_there(usage: Any):
    # as message_delta's usage and Gemini's usageMetadata are read: anything but an object says no count (the
    # update crashed with a TypeError or a ValueError, taken for our bug, and the answer after it was lost)
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["anthropic"].accumulator(provider="anthropic", model="m")
    start = {"type": "message_start", "message": {**_MESSAGE_START["message"], "usage": usage}}
    events = [
        start,
        _text_block(0, ""),
        _text_delta(0, "hi"),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    for data in events:
        acc.feed(SSEEvent(data["type"], json.dumps(data)))
    result = acc.finish()
    # kept, its usage unreported (message_start's carries the prompt's count): its cost unknown, never 0
    assert result.text == "hi" and not result.usage.reported


@pytest.mark.parametrize(
    ("wire", "body"),
    [
        ("chat", {"choices": [{"message": {"role": "assistant", "tool_calls": 5}, "finish_reason": "tool_calls"}]}),
        ("responses", {"output": [{"type": "message", "content": 5}], "status": "completed"}),
        ("gemini", {"candidates": 5}),
        ("gemini", {"candidates": [{"content": {"parts": 5}, "finishReason": "STOP"}]}),
    ],
)
def test_a_body_with_a_number_where_the_api_has_a_list_is_malformed_not_our_bug(wire: str, body: dict[str, Any]):
    # as text where an object goes: iterating the number crashed the parse with a TypeError, taken for our bug (the
    # call stopped, no fallback tried) for an answer that breaks the API's spec
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()[wire].parse_response(body, provider=wire, model="m")
    assert type(info.value) is E.MalformedResponseError and "not a list" in info.value.message


@pytest.mark.parametrize(
    ("wire", "data"),
    [
        ("chat", {"choices": 5}),
        ("chat", {"choices": [{"index": 0, "delta": {"tool_calls": 5}}]}),
        ("gemini", {"candidates": 5}),
        ("gemini", {"candidates": [{"content": {"parts": 5}}]}),
    ],
)
def test_a_stream_event_with_a_number_where_the_api_has_a_list_is_malformed_not_our_bug(
    wire: str, data: dict[str, Any]
):
    from magsag_mcp.sse import SSEEvent

    acc = _wires()[wire].accumulator(provider=wire, model="m")
    with pytest.raises(E.MalformedResponseError) as info:
        acc.feed(SSEEvent(None, json.dumps(data)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError and "not a list" in info.value.message


def test_a_responses_stream_whose_final_message_content_is_a_number_is_malformed_not_our_bug():
    # the text streamed in deltas is checked against the final output's messages: iterating a number there crashed
    from magsag_mcp.sse import SSEEvent

    acc = _wires()["responses"].accumulator(provider="openai", model="m")
    delta = {"type": "response.output_text.delta", "delta": "hi", "output_index": 0, "content_index": 0}
    output = [{"type": "message", "content": 5}]
    done = {"type": "response.completed", "response": {"id": "r", "status": "completed", "output": output}}
    with pytest.raises(E.MalformedResponseError) as info:
        for data in (delta, done):
            acc.feed(SSEEvent(data["type"], json.dumps(data)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError and "not a list" in info.value.message


_STOPPED_BY = [["stop"], {"reason": "stop"}]


@pytest.mark.parametrize("bad", _STOPPED_BY, ids=["list", "object"])
@pytest.mark.parametrize(
    ("wire", "body"),
    [
        ("chat", lambda bad: {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": bad}]}),
        ("anthropic", lambda bad: {"type": "message", "content": [{"type": "text", "text": "hi"}], "stop_reason": bad}),
        ("gemini", lambda bad: {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": bad}]}),
    ],
)
def test_a_body_with_a_list_or_object_where_the_stop_reason_goes_is_malformed_not_our_bug(
    wire: str, body: Any, bad: Any
):
    # looked up among the reasons known, a list or an object crashed the parse with a TypeError (unhashable): taken
    # for our bug, the call stopped on it with no fallback tried, for an answer that breaks the API's spec
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()[wire].parse_response(body(bad), provider=wire, model="m")
    assert type(info.value) is E.MalformedResponseError and "not a string" in info.value.message


@pytest.mark.parametrize(
    "feedback", [{"blockReason": ["SAFETY"]}, {"blockReason": {"reason": "SAFETY"}}, ["SAFETY"], "SAFETY"]
)
def test_a_gemini_prompt_feedback_with_no_object_or_a_block_reason_not_a_string_is_malformed_not_our_bug(
    feedback: Any,
):
    # the reason a prompt was blocked, looked up among the reasons known (a TypeError, unhashable), or the feedback
    # read as the object it must be (an AttributeError): taken for our bug, the call stopped on it
    answer = {"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}
    body = {"candidates": [answer], "promptFeedback": feedback}
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()["gemini"].parse_response(body, provider="google", model="m")
    assert type(info.value) is E.MalformedResponseError


@pytest.mark.parametrize("details", [["max_output_tokens"], "max_output_tokens"])
def test_a_responses_body_whose_incomplete_details_is_no_object_is_malformed_not_our_bug(details: Any):
    # the object that says why a response is incomplete, read for its reason: a list or text there crashed the parse
    # with an AttributeError, taken for our bug
    output = [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}]
    body = {"output": output, "status": "incomplete", "incomplete_details": details}
    with pytest.raises(E.MalformedResponseError) as info:
        _wires()["responses"].parse_response(body, provider="openai", model="m")
    assert type(info.value) is E.MalformedResponseError and "not an object" in info.value.message


def _stream_ending(wire: str, bad: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """A stream of ``wire`` whose one answer, "hi", ends with ``bad`` where the reason it stopped goes."""
    if wire == "chat":
        return [
            (None, {"choices": [{"index": 0, "delta": {"content": "hi"}}]}),
            (None, {"choices": [{"index": 0, "delta": {}, "finish_reason": bad}]}),
        ]
    if wire == "gemini":
        return [(None, {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": bad}]})]
    message = {"id": "m", "type": "message", "role": "assistant", "content": [], "usage": {"input_tokens": 1}}
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}),
        ("content_block_delta", _text_delta(0, "hi")),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": bad}, "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ]


@pytest.mark.parametrize("bad", _STOPPED_BY, ids=["list", "object"])
@pytest.mark.parametrize("wire", ["chat", "anthropic", "gemini"])
def test_a_stream_with_a_list_or_object_where_the_stop_reason_goes_is_malformed_not_our_bug(wire: str, bad: Any):
    from magsag_mcp.sse import SSEEvent

    acc = _wires()[wire].accumulator(provider=wire, model="m")
    with pytest.raises(E.MalformedResponseError) as info:
        for event, data in _stream_ending(wire, bad):
            acc.feed(SSEEvent(event, json.dumps(data)))
        acc.finish()
    assert type(info.value) is E.MalformedResponseError and "not a string" in info.value.message


def test_a_number_where_the_stop_reason_goes_is_still_read_as_a_reason_not_known():
    # the check refuses only what cannot be looked up: a number ends the answer as an unknown reason does (as
    # tests/providers/test_gemini_answers.py keeps Gemini's finishReason 9)
    body = {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": 7}]}
    result = _wires()["chat"].parse_response(body, provider="openai", model="m")
    assert result.text == "hi" and result.finish_reason == "other"


async def test_a_timeout_error_of_a_providers_own_timer_is_not_the_calls_deadline(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Before: any TimeoutError out of an attempt was taken for the call's deadline: "no complete answer within the
    # call's deadline of 60s (MAGSAG_CALL_DEADLINE)" 50 ms in, the caller told to raise a setting that was not what
    # fired, and the fallback sent the call (and billed) for a timer of the provider's that its boundary left as it was
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.Reply(hang=True), R.reply("second"))
    own_timer = OwnTimer(
        ChatCompletionsFormat(), OpenAIEndpoint(env), transport, arrived=lambda: bool(fake_openai.requests)
    )
    providers = Providers(env, transport, own_timer)
    retry = RetryPolicy(tries_per_target=2, base_delay=0.001, max_delay=0.002, deadline=60.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    err = info.value
    assert [a.model for a in err.attempts] == ["gpt-4o"]  # neither retried nor sent to the fallback
    assert err.to_dict()["exception"] == "TimeoutError"
    assert "MAGSAG_CALL_DEADLINE" not in err.message and "deadline" not in err.attempts[0].error_message
    assert err.last_error.maybe_billed  # the request had gone out
