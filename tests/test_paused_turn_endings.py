"""How a paused turn ends (cascade_paused.py, providers/turn_document.py, anthropic_answers.py), over the spec-checking
fake Messages API: a JSON document the turn starts after prose and its continuation finishes; a continuation that ends
the turn with nothing more to add; a continuation owed to a target another call left resting; what a paused turn
left as it is (continuing off) says of itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target
from tests.test_paused_turn_failures import _json_config
from tests.test_paused_turns import MODEL, SEARCHED, _call, _fake, _rows

pytestmark = pytest.mark.anyio


async def _json_call(catalog, db, env, *, stream: bool, context: dict[str, Any] | None = None) -> Any:
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        payload = {"data": "x", "model_config": _json_config(stream)}
        return await svc.invoke_skill("skill.analysis", payload, context=context)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize(
    ("paused", "rest"),
    [
        ('Here is the weather: {"city": ', '"Oslo"}'),
        ("I found it.\n```json\n{\"city\": ", '"Oslo"}\n```'),
        ('Results [1] and [2] agree. {"city": "Os', 'lo"}'),
        # more brackets in the prose than the starts tried from the first (32): a search's citations, [1] to [40]
        (f"Sources: {' '.join(f'[{n}]' for n in range(1, 41))}. " + '{"city": ', '"Oslo"}'),
        (f"Sources: {' '.join(f'[{n}]' for n in range(1, 41))}.\n```json\n" + '{"city": ', '"Oslo"}\n```'),
        # prose that itself begins with a bracket (a citation, a tag) is prose all the same
        ('[1] says it rains. Here: {"city": ', '"Oslo"}'),
    ],
    ids=["prose", "fenced", "brackets-in-prose", "40-citations", "40-citations-fenced", "prose-opens-bracketed"],
)
async def test_a_document_the_paused_turn_starts_after_prose_is_parsed_joined(
    catalog, tmp_path, serve, stream, paused, rest
):
    # The turn's text was prose and the document's start, the continuation its end: the joined text failed to parse
    # (the prose), and the answer's text alone ('"Oslo"}') was then parsed: invalid_output, the next target tried for
    # a document the model had written whole. The prose before it is left out, as a turn of prose alone is
    fake, env = await _fake(serve, {**SEARCHED, "text": paused}, {"text": rest})
    db = tmp_path / "ledger.db"
    result = await _json_call(catalog, db, env, stream=stream)
    assert len(fake.requests) == 2 and fake.violations == []
    assert result.output == {"city": "Oslo"} and result.finish_reason == "stop"
    assert [r["outcome"] for r in _rows(db)] == ["ok", "ok"]


async def test_a_broken_document_after_prose_is_said_as_the_joined_document_not_its_tail(catalog, tmp_path, serve):
    # The joined document is broken: the error quoted the answer's tail alone ('"Oslo"'), as if the model had answered
    # with that; it quotes the document from where the turn started it
    fake, env = await _fake(serve, {**SEARCHED, "text": 'Here it is: {"city": '}, {"text": '"Oslo"'})
    with pytest.raises(E.AllTargetsFailed) as info:
        await _json_call(catalog, tmp_path / "ledger.db", env, stream=False)
    assert "returned invalid JSON" in info.value.message
    assert """'{"city": "Oslo"'""" in info.value.message, info.value.message


async def test_a_document_after_prose_that_breaks_the_schema_says_so(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {**SEARCHED, "text": 'Here it is: {"town": '}, {"text": '"Oslo"}'})
    with pytest.raises(E.AllTargetsFailed) as info:
        await _json_call(catalog, tmp_path / "ledger.db", env, stream=False)
    assert "does not match the requested schema" in info.value.message and "city" in info.value.message


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("empty", [{}, {"text": ""}], ids=["no-content", "empty-text-block"])
async def test_a_continuation_that_ends_the_turn_with_nothing_more_returns_the_text_so_far_complete(
    catalog, tmp_path, serve, stream, empty
):
    # end_turn with no new text after a turn sent back: "no usable answer" (malformed_response), and the text so far
    # returned said incomplete, finish_reason "other", LLMResult.paused set, though the model had finished the turn
    first = {**SEARCHED, "text": "It is raining in Oslo.", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {**empty, "usage": {"input_tokens": 300, "output_tokens": 1}})
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=stream)
    assert len(fake.requests) == 2 and fake.violations == []
    assert result.text == "It is raining in Oslo." and result.finish_reason == "stop"
    assert result.result.paused is None and not [w for w in result.warnings if "incomplete" in w]
    assert [(r["outcome"], r["error_class"]) for r in _rows(db)] == [("ok", None), ("ok", None)]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (400, 21)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("paused", ['{"city": "Oslo"}', 'Done: {"city": "Oslo"}'], ids=["document", "after-prose"])
async def test_a_json_document_the_paused_turn_wrote_whole_is_the_answer_of_an_empty_end_turn(
    catalog, tmp_path, serve, stream, paused
):
    fake, env = await _fake(serve, {**SEARCHED, "text": paused}, {})
    result = await _json_call(catalog, tmp_path / "ledger.db", env, stream=stream)
    assert len(fake.requests) == 2 and result.output == {"city": "Oslo"} and result.finish_reason == "stop"


async def test_an_empty_end_turn_after_a_turn_with_no_text_is_still_no_answer(catalog, tmp_path, serve):
    # nothing written in the whole turn (a search, then end_turn with no content): no answer, as a first try's is
    fake, env = await _fake(serve, SEARCHED, {})
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        await _call(catalog, db, env, stream=False)
    assert "wrote nothing" in info.value.message and "no usable answer" in info.value.message
    assert [(r["outcome"], r["error_class"]) for r in _rows(db)] == [
        ("error", "unsupported_feature"),
        ("error", "malformed_response"),
    ]


async def test_a_provider_called_alone_takes_an_empty_end_turn_after_its_paused_turn_as_the_turns_end(
    serve, transport
):
    # A library caller sending LLMResult.paused back itself: the empty end_turn was a MalformedResponseError
    fake, env = await _fake(serve, {**SEARCHED, "text": "Light rain."}, {})
    target = Target("anthropic", MODEL)
    provider = AnthropicProvider(env, transport)
    asked = LLMRequest(messages=[Message("user", "Weather in Oslo?")], max_tokens=500)
    first = await provider.complete(asked, target)
    assert first.paused is not None
    again = LLMRequest(messages=[*asked.messages, first.paused], max_tokens=500)
    last = await provider.complete(again, target)
    assert last.text == "" and last.finish_reason == "stop" and last.paused is None
    assert fake.violations == []


async def test_a_continuation_is_sent_to_its_target_though_another_call_left_it_resting(catalog, tmp_path, serve):
    # The circuit breaker opened on the target between the turn's first answer and its continuation (another call
    # failed there, the breaker's count 1). The continuation is owed to the target: no other can go on with the turn,
    # so it is sent all the same, and its answer finishes the turn
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"error": 500, "message": "down a moment"}, {"text": "Rain."})
    env.update({"MAGSAG_MAX_RETRIES": "0", "MAGSAG_BREAKER_FAILURES": "1", "MAGSAG_BREAKER_COOLDOWN": "600"})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    rested: list[Any] = []
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        cascade = svc.cascade
        go_on = cascade._go_on

        async def after_another_calls_failure(state: Any, position: int, *args: Any) -> Any:
            with pytest.raises(E.AllTargetsFailed):  # (the other call: the 500, its breaker's count reached)
                await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": config})
            target = state.plan.candidates[position].target
            rested.append(cascade.rests.resting(target, cascade.clock()))
            return await go_on(state, position, *args)

        cascade._go_on = after_another_calls_failure
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    [rest] = rested
    assert isinstance(rest, E.ServerError)  # (resting, as the calls that follow see it)
    assert len(fake.requests) == 3 and fake.violations == []
    assert result.text == "Searching. Rain." and result.finish_reason == "stop" and result.result.paused is None
    assert not any("breaker" in w for w in result.warnings)
    rows = _rows(db)  # (the other call's row first: a call's attempts are written as it ends)
    assert [(r["run_id"] == result.run_id, r["outcome"], r["attempt_number"]) for r in rows] == [
        (False, "error", 1),
        (True, "ok", 1),
        (True, "ok", 2),
    ]
    assert f"continues the turn anthropic:{MODEL} paused at attempt 1" in json.loads(rows[2]["warnings"])


async def test_the_providers_pause_warning_says_the_turn_is_unfinished_why_and_the_setting(catalog, tmp_path, serve):
    # With continuing off, the first attempt's record (and a provider called alone) said the answer "may be
    # incomplete" of a turn known unfinished, and not how to have it go on
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "})
    env["MAGSAG_PAUSE_CONTINUATIONS"] = "0"
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=False)
    [row] = _rows(db)
    [said] = [w for w in json.loads(row["warnings"]) if "pause_turn" in w]
    assert "may be" not in said and "the turn is unfinished" in said, said
    assert "MAGSAG_PAUSE_CONTINUATIONS" in said and "context.pause_continuations" in said and "LLMResult.paused" in said
    assert "a long-running turn" in said  # (why: the API's own word for what it paused)
    # and the call's warning says continuing is off and how to turn it on, not "0 continuations were sent at most"
    assert result.text == "Searching. " and result.finish_reason == "other"
    [off] = [w for w in result.warnings if "MAGSAG_PAUSE_CONTINUATIONS" in w]
    assert "0 continuations" not in off and "continuing paused turns is off" in off, off
    assert "the answer is incomplete" in off and "to 1 or more" in off


@pytest.mark.parametrize("paused", ['{"city": "Oslo"}', 'Here it is: {"city": "Oslo"}'], ids=["document", "prose"])
async def test_a_turn_left_paused_reads_a_whole_document_after_prose_as_one_written_alone(
    catalog, tmp_path, serve, paused
):
    # A turn left paused (continuing off) whose text holds a whole document: returned, said incomplete, where the
    # document stood alone; after prose it failed as "the JSON document is incomplete", though it was whole
    fake, env = await _fake(serve, {**SEARCHED, "text": paused})
    result = await _json_call(catalog, tmp_path / "ledger.db", env, stream=False, context={"pause_continuations": 0})
    assert len(fake.requests) == 1 and result.output == {"city": "Oslo"} and result.finish_reason == "other"
    assert any("the answer is incomplete" in w for w in result.warnings)


async def test_the_ledger_record_of_a_turn_sent_back_does_not_say_to_turn_continuing_on(catalog, tmp_path, serve):
    # Each paused answer's record kept the provider's own warning, which says what a caller with continuing off does:
    # "set MAGSAG_PAUSE_CONTINUATIONS ... to 1 or more for magsag to send the turn back". In the ledger of a call that
    # did send it back (continuing on, the default 3), that sent its reader to a setting already on. The record says
    # which attempt went on with the turn; the last, left paused at the most allowed, says to raise the setting
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {**SEARCHED, "text": "More. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=False)
    assert result.text == "Searching. More. Rain." and result.finish_reason == "stop"
    rows = _rows(db)
    said = [[w for w in json.loads(row["warnings"]) if "pause_turn" in w] for row in rows]
    assert said[2] == [], said
    for number, [paused] in enumerate(said[:2], start=1):
        assert "1 or more" not in paused and "LLMResult.paused back yourself" not in paused, paused
        assert f"sent back to go on at attempt {number + 1}" in paused, paused
    # at the most allowed (1), the last paused turn's record says the setting to raise, as the call's warning does
    fake, env = await _fake(serve, first, {**SEARCHED, "text": "More. "})
    db = tmp_path / "ledger-most.db"
    result = await _call(catalog, db, env, stream=False, context={"pause_continuations": 1})
    assert result.finish_reason == "other"
    [first_said, last_said] = [[w for w in json.loads(r["warnings"]) if "paused its turn" in w] for r in _rows(db)]
    assert "sent back to go on at attempt 2" in first_said[0]
    [left] = last_said
    assert "1 or more" not in left and "raise MAGSAG_PAUSE_CONTINUATIONS" in left, left
