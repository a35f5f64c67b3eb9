"""A turn Claude paused (stop_reason pause_turn), continued by the cascade (cascade_paused.py) over the spec-checking
fake Messages API: the request sent again to the same target with the paused assistant turn appended, blocks as the
request's schema takes them; each continuation an attempt of its own, admitted, priced and recorded; a maximum of
them (MAGSAG_PAUSE_CONTINUATIONS, context.pause_continuations); the answer the turns' text joined, usage summed."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.invoke_result import call_cost
from magsag_mcp.providers.anthropic_paused import paused_turn
from magsag_mcp.retry import retry_policy_from_env
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-e6t7-u8r9"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
MODEL = "claude-opus-4-6"

#: a web search's turn, paused after its search (the spec's server_tool_use and web_search_tool_result blocks)
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}
SEARCH_USAGE = {"server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0}}


async def _call(
    catalog: Path, db: Path, env: dict[str, str], *, stream: bool, context: dict[str, Any] | None = None
) -> Any:
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": stream}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        return await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=context)


def _rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT run_id, outcome, error_class, attempt_number, fallback_position, input_tokens, output_tokens, "
            "cost_pusd, warnings FROM attempts ORDER BY id"
        ).fetchall()
    return [dict(r) for r in rows]


async def _fake(serve, *steps: dict[str, Any]) -> tuple[FakeAnthropic, dict[str, str]]:
    fake = FakeAnthropic(KEY).queue(*steps)
    return fake, {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_paused_turn_is_continued_on_the_same_target_each_request_an_attempt(
    catalog, tmp_path, serve, stream
):
    # The paused answer was returned as the answer, its text so far with a warning, the model never let go on
    first = {**SEARCHED, "text": "Searching. ", "usage": {**SEARCH_USAGE, "input_tokens": 100, "output_tokens": 20}}
    last = {"text": "It is raining in Oslo.", "usage": {"input_tokens": 300, "output_tokens": 40}}
    fake, env = await _fake(serve, first, last)
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=stream)
    assert fake.violations == [] and len(fake.requests) == 2
    # the continuation: the same request, the paused turn appended as the API wrote it, no user turn added
    asked, went_on = (r["body"] for r in fake.requests)
    written = FakeAnthropic().content(first, {"model": MODEL})
    assert went_on["messages"] == [*asked["messages"], {"role": "assistant", "content": written}]
    assert {k: v for k, v in went_on.items() if k != "messages"} == {k: v for k, v in asked.items() if k != "messages"}
    # one answer: the turn's text joined, its usage summed, the pause said
    assert result.text == "Searching. It is raining in Oslo." and result.finish_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (400, 60)
    assert result.usage.server_tool_calls == (("web_search", 1),)
    assert result.result.paused is None and result.to_dict()["paused_turns"] == 1
    assert not [w for w in result.warnings if "pause_turn" in w]
    # two attempts, both recorded under the call's run, the second saying which it continues; the cost is theirs
    rows = _rows(db)
    assert [(r["run_id"], r["outcome"], r["attempt_number"], r["fallback_position"]) for r in rows] == [
        (result.run_id, "ok", 1, 0),
        (result.run_id, "ok", 2, 0),
    ]
    assert [(r["input_tokens"], r["output_tokens"]) for r in rows] == [(100, 20), (300, 40)]
    assert "continues the turn anthropic:claude-opus-4-6 paused at attempt 1" in json.loads(rows[1]["warnings"])
    assert result.cost_usd == call_cost(result.attempts) == sum(D(r["cost_pusd"]) for r in rows) / 10**12
    # $5 in, $25 out per million tokens; $10 per 1,000 searches, on the first turn's bill alone
    assert result.cost_usd == (400 * 5 + 60 * 25) / D(1_000_000) + D(10) / 1000


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_paused_turn_with_no_text_is_continued_not_failed(catalog, tmp_path, serve, stream):
    # Paused mid-search, nothing written yet (the common case): it failed as unsupported_feature, its blocks lost
    fake, env = await _fake(serve, {**SEARCHED, "usage": SEARCH_USAGE}, {"text": "Light rain, 9 degrees."})
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=stream)
    assert result.text == "Light rain, 9 degrees." and result.finish_reason == "stop"
    assert [(a.outcome, a.attempt_number) for a in result.attempts] == [("ok", 1), ("ok", 2)]
    assert fake.violations == [] and [r["outcome"] for r in _rows(db)] == ["ok", "ok"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_turn_still_paused_at_the_maximum_is_returned_with_what_came_naming_the_setting(
    catalog, tmp_path, serve, stream
):
    steps = [{**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "}]  # (a third would end the turn)
    fake, env = await _fake(serve, *steps)
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=stream, context={"pause_continuations": 1})
    assert len(fake.requests) == 2 and fake.violations == []
    assert result.text == "One. Two. " and result.finish_reason == "other"
    assert result.to_dict()["paused_turns"] == 2
    [said] = [w for w in result.warnings if "MAGSAG_PAUSE_CONTINUATIONS" in w]
    assert "paused its turn 2 times, and 1 continuation was sent at most" in said
    assert "raise MAGSAG_PAUSE_CONTINUATIONS (at most 20)" in said
    assert "the answer is incomplete, the text so far" in said
    # the turn still paused holds every block of it, to send back
    paused = result.result.paused
    assert paused is not None and [b["type"] for b in paused.blocks].count("server_tool_use") == 2
    # the setting's, when the call names none
    fake.queue(*steps)
    env["MAGSAG_PAUSE_CONTINUATIONS"] = "1"
    again = await _call(catalog, db, env, stream=stream)
    assert again.text == "One. Two. " and "raise MAGSAG_PAUSE_CONTINUATIONS" in " ".join(again.warnings)


async def test_a_budget_that_refuses_the_continuation_keeps_the_first_turns_answer(catalog, tmp_path, serve):
    # Each continuation is admitted as an attempt of its own: the call limit counts the first turn's cost and the
    # continuation's worst case (2,000 tokens out at $25 per million: $0.05), past the limit. Nothing is lost: the
    # first turn's answer is returned, and said unfinished; the refusal recorded
    limits = "policies:\n  - name: limits\n    thresholds:\n      max_cost_per_call_usd: 0.07\n"
    (catalog / "policies" / "model_governance.yaml").write_text(limits)
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 2000, "output_tokens": 800}}
    fake, env = await _fake(serve, first, {"text": "never sent"})
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=False)
    assert len(fake.requests) == 1 and result.text == "Searching. " and result.finish_reason == "other"
    [said] = [w for w in result.warnings if "its continuation (attempt 2) was not answered" in w]
    assert "max_cost_per_call_usd" in said and "the answer is incomplete, the text before it" in said
    rows = _rows(db)
    assert [(r["outcome"], r["attempt_number"]) for r in rows] == [("ok", 1), ("budget_exceeded", 2)]
    assert rows[0]["cost_pusd"] == (2000 * 5 + 800 * 25) * 10**6 and rows[1]["cost_pusd"] == 0
    assert result.cost_usd == D("0.03")


async def test_continuations_off_fail_a_paused_turn_with_nothing_in_it_at_its_cost(catalog, tmp_path, serve):
    # 0: no continuation sent; a paused turn with text is the answer (warned), one with none is no answer at all
    fake, env = await _fake(serve, {**SEARCHED, "usage": SEARCH_USAGE})
    env["MAGSAG_PAUSE_CONTINUATIONS"] = "0"
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        await _call(catalog, db, env, stream=False)
    assert "continuing it is off" in info.value.message and "MAGSAG_PAUSE_CONTINUATIONS" in info.value.message
    [row] = _rows(db)
    assert (row["outcome"], row["error_class"], row["input_tokens"]) == ("error", "unsupported_feature", 11)
    assert row["cost_pusd"] > 0 and len(fake.requests) == 1


async def test_blocks_the_request_refuses_are_sent_back_as_it_takes_them(catalog, tmp_path, serve):
    # A response block and its request block are two schemas: an empty text block (a request's text has minLength 1)
    # and a document citation's file_id (no Request*Citation names it) were sent back as they came, and refused
    cited = {
        "type": "char_location",
        "cited_text": "light rain",
        "document_index": 0,
        "document_title": "",
        "start_char_index": 0,
        "end_char_index": 10,
        "file_id": "file_011CNha8iCJcU1wXNR6q4V8w",
    }
    first = {**SEARCHED, "text": "Oslo: light rain.", "citations": [cited]}
    fake, env = await _fake(serve, {**SEARCHED, "text": ""}, first, {"text": " 9 degrees."})
    result = await _call(catalog, tmp_path / "ledger.db", env, stream=True)
    assert fake.violations == [] and len(fake.requests) == 3
    assert result.text == "Oslo: light rain. 9 degrees."
    sent = fake.requests[-1]["body"]["messages"][-1]["content"]
    assert [b["type"] for b in sent].count("text") == 1  # (the empty one left out)
    [text] = [b for b in sent if b["type"] == "text"]
    assert text["citations"] == [{**{k: v for k, v in cited.items() if k != "file_id"}, "document_title": None}]


def test_paused_turn_copies_and_leaves_the_answer_as_it_came():
    content = [{"type": "text", "text": ""}, {"type": "text", "text": "a", "citations": [{"type": "page_location",
               "file_id": "f", "document_title": "T"}]}]  # fmt: skip
    turn = paused_turn(content)
    assert turn.content == "a" and turn.blocks == ({"type": "text", "text": "a", "citations": [
        {"type": "page_location", "document_title": "T"}]},)  # fmt: skip
    assert content[1]["citations"][0]["file_id"] == "f"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("abc", "is not a number"),
        ("1.5", "must be a whole number"),
        ("21", "the largest value taken is 20"),
        ("-1", "must be >= 0"),
    ],
)
def test_the_setting_is_refused_saying_what_to_write(value, said):
    with pytest.raises(E.ConfigError) as info:
        retry_policy_from_env({"MAGSAG_PAUSE_CONTINUATIONS": value})
    assert said in info.value.message and "MAGSAG_PAUSE_CONTINUATIONS" in info.value.message
    assert retry_policy_from_env({}).continuations == 3


@pytest.mark.parametrize("value", ["3", -1, 21, 1.5, True])
async def test_the_calls_option_is_refused_saying_what_to_write(catalog, tmp_path, serve, value):
    fake, env = await _fake(serve, {"text": "unsent"})
    with pytest.raises(E.InputError) as info:
        await _call(catalog, tmp_path / "ledger.db", env, stream=False, context={"pause_continuations": value})
    assert "context.pause_continuations must be" in info.value.message and not fake.requests


async def test_a_continued_answer_in_the_answer_cache_saves_what_its_turns_cost(catalog, tmp_path, serve):
    # the cache kept the last attempt's cost as what a hit saves: a continued answer's was its last turn's alone
    first = {**SEARCHED, "text": "Searching. ", "usage": {**SEARCH_USAGE, "input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"text": "Rain.", "usage": {"input_tokens": 300, "output_tokens": 40}})
    payload = {"data": "x", "model_config": {"provider": "anthropic", "model": MODEL, "max_tokens": 2000}}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paid = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 60})
        hit = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 60})
    assert len(fake.requests) == 2 and hit.text == paid.text == "Searching. Rain."
    [cached] = hit.attempts
    assert cached.price_source == "cache" and cached.saved_usd == paid.cost_usd


@pytest.mark.parametrize("error", [E.InputError, E.ConfigError], ids=["input", "config"])
async def test_a_continuation_that_raises_a_callers_error_keeps_the_first_turns_paid_answer(
    catalog, tmp_path, serve, monkeypatch, error
):
    # A ConfigError or InputError in the continuation failed the whole call: the first turn, paid and recorded, was
    # lost to the caller. The continuation is a try that failed: recorded, and the answer so far returned, warned
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first)
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        provider = svc.providers.get("anthropic")
        complete = provider.complete
        asked: list[Any] = []

        async def refusing_the_continuation(request: Any, target: Any, **kw: Any) -> Any:
            asked.append(request)
            if len(asked) == 1:
                return await complete(request, target, **kw)
            raise error("the continuation's request: a block it cannot take")

        monkeypatch.setattr(provider, "complete", refusing_the_continuation)
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert len(asked) == 2 and len(fake.requests) == 1
    assert result.text == "Searching. " and result.finish_reason == "other" and result.result.paused is not None
    [said] = [w for w in result.warnings if "its continuation (attempt 2) was not answered" in w]
    assert "a block it cannot take" in said
    rows = _rows(db)
    assert [(r["outcome"], r["attempt_number"]) for r in rows] == [("ok", 1), ("error", 2)]
    assert rows[1]["error_class"] == error("x").kind and rows[1]["cost_pusd"] == 0
    assert result.cost_usd == D(100 * 5 + 20 * 25) / 1_000_000


async def test_a_continuation_takes_a_slot_of_its_targets_request_cap(catalog, tmp_path, serve):
    # A continuation is a request to the target as any try is: it went out past the target's request cap (here one
    # a minute, the first turn's), the cap's slot never asked. Not sent, the answer so far is returned saying why
    (catalog / "routing" / "caps.yaml").write_text(f"request_caps:\n  anthropic:{MODEL}: {{requests_per_minute: 1}}\n")
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"text": "never sent"})
    env["MAGSAG_RETRY_MAX_DELAY"] = "0"  # (no wait for the minute's slot)
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=False)
    assert len(fake.requests) == 1 and result.text == "Searching. " and result.finish_reason == "other"
    [said] = [w for w in result.warnings if "its continuation (attempt 2) was not answered" in w]
    assert "requests_per_minute 1" in said
    assert [(r["outcome"], r["attempt_number"]) for r in _rows(db)] == [("ok", 1), ("skipped", 2)]


async def test_a_continuation_is_told_to_the_callers_progress_as_a_try(catalog, tmp_path, serve):
    # every try of a target is an "attempt" event; a continuation, a request the call waits on, sent none
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    events: list[tuple[str, dict[str, Any]]] = []
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        result = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": config}, progress=lambda e, d: events.append((e, d))
        )
    assert result.text == "Searching. Rain."
    label = f"anthropic:{MODEL}"
    tries = [d for e, d in events if e == "attempt"]
    assert tries == [{"target": label, "try": 1, "position": 0}, {"target": label, "try": 2, "position": 0}]


async def test_a_continuation_whose_attempt_event_raises_is_recorded_unsent_and_raises_the_callers_error(
    catalog, tmp_path, serve
):
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "never sent"})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "attempt" and data["try"] == 2:
            raise LookupError("the caller's own")

    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        with pytest.raises(LookupError, match="the caller's own"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, progress=progress)
    assert len(fake.requests) == 1
    rows = _rows(db)
    assert [(r["outcome"], r["attempt_number"]) for r in rows] == [("ok", 1), ("skipped", 2)]
    assert rows[1]["cost_pusd"] == 0


async def test_a_streamed_continuations_text_is_shown_as_the_final_text_writes_it(catalog, tmp_path, serve):
    # A skill whose answer is written back from the prompt's escapes (pii-redaction's "&lt;/text>"): the
    # continuation's deltas reached the caller's progress as the model wrote them, escapes and all, while the final
    # text wrote them back; the progress showed text the answer did not hold
    said = "Ann wrote </text> here"
    fake, env = await _fake(serve, {**SEARCHED, "text": "Hello "}, {"text": "[NAME] wrote &lt;/text> here"})
    events: list[tuple[str, dict[str, Any]]] = []
    payload = {"text": said, "model_config": {"provider": "anthropic", "model": MODEL, "max_tokens": 2000}}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        result = await svc.invoke_skill("skill.pii-redaction", payload, progress=lambda e, d: events.append((e, d)))
    assert len(fake.requests) == 2 and fake.requests[1]["body"]["stream"] is True
    assert result.text == "Hello [NAME] wrote </text> here"
    assert "".join(d["text"] for e, d in events if e == "delta") == result.text


def test_the_turns_usage_sums_every_count_a_usage_has():
    # every token count of Usage (those its counts() gives, each a part the price reads), summed over the turns: a
    # count left at the last turn's would price the continued answer short
    from dataclasses import fields

    from magsag_mcp.cascade_paused import summed
    from magsag_mcp.token_usage import Usage

    names = [f.name for f in fields(Usage) if f.type == "int"]
    first = Usage(**{n: i + 1 for i, n in enumerate(names)})
    second = Usage(**{n: 100 * (i + 1) for i, n in enumerate(names)})
    total = summed([first, second])
    assert total.counts() == tuple(a + b for a, b in zip(first.counts(), second.counts(), strict=True))
    assert len(total.counts()) == len(names)


async def test_a_continuations_attempt_event_says_where_a_local_model_off_this_machine_runs(
    catalog, tmp_path, serve, monkeypatch
):
    # The first try's attempt event carries runs_at for a local target whose model runs off this machine (an Ollama
    # cloud model), and a client's heartbeat says "loads the model" only where it runs here; a continuation's event,
    # written out apart, carried none: the client said the cloud model was loading into this machine's memory. Here
    # "local" is registered as a Messages API provider (as Ollama serves Anthropic's API), over the fake.
    from magsag_mcp import providers
    from magsag_mcp.providers.anthropic import AnthropicProvider
    from magsag_mcp.targets import forget_parsed_targets

    monkeypatch.setitem(providers._REGISTRY, "local", AnthropicProvider)
    forget_parsed_targets()
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    events: list[tuple[str, dict[str, Any]]] = []
    config = {"provider": "local", "model": "gpt-oss:120b-cloud", "max_tokens": 2000, "stream": False}
    try:
        async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
            result = await svc.invoke_skill(
                "skill.analysis", {"data": "x", "model_config": config}, progress=lambda e, d: events.append((e, d))
            )
    finally:
        monkeypatch.undo()
        forget_parsed_targets()
    assert result.text == "Searching. Rain." and len(fake.requests) == 2
    tries = [d for e, d in events if e == "attempt"]
    label = "local:gpt-oss:120b-cloud"
    assert tries == [
        {"target": label, "try": 1, "position": 0, "runs_at": "ollama.com"},
        {"target": label, "try": 2, "position": 0, "runs_at": "ollama.com"},
    ], tries
