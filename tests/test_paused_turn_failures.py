"""A paused turn's continuation that fails, or that yields nothing usable (cascade_paused.py, cascade_failed.py): a
retryable failure tried again as a first try is and its server's wait remembered for the target; a turn left paused
with nothing in it failed over to the next target, or failed naming the setting; a JSON skill's turns parsed once,
joined; a cancel during a continuation leaving what was paid recorded and nothing held."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import anyio
import pytest
from aiohttp import web

from magsag_mcp import errors as E
from magsag_mcp.mcp_server.call_models import InvokeSkillResult
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic
from tests.test_paused_turns import KEY, MODEL, SEARCHED, _call, _fake, _rows

pytestmark = pytest.mark.anyio
FALLBACK = "claude-sonnet-4-5"


async def test_a_continuation_failing_retryably_is_retried_as_a_first_try_is(catalog, tmp_path, serve):
    # A 500 on the continuation ended the turn there: the answer so far returned, unfinished, never tried again
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"error": 500, "message": "try again"}, {"text": "Rain."})
    env["MAGSAG_RETRY_BASE_DELAY"] = "0"  # (the backoff's wait: none, the retry's count is what is asked here)
    db = tmp_path / "ledger.db"
    result = await _call(catalog, db, env, stream=False)
    assert len(fake.requests) == 3 and fake.violations == []
    assert result.text == "Searching. Rain." and result.finish_reason == "stop"
    # the retry sends the same continuation again
    assert fake.requests[2]["body"] == fake.requests[1]["body"]
    rows = _rows(db)
    assert [(r["outcome"], r["error_class"], r["attempt_number"]) for r in rows] == [
        ("ok", None, 1),
        ("error", "server_error", 2),
        ("ok", None, 3),
    ]
    said = f"continues the turn anthropic:{MODEL} paused at attempt 1"
    assert said in json.loads(rows[1]["warnings"]) and said in json.loads(rows[2]["warnings"])


async def test_a_continuations_rate_limit_wait_is_kept_for_the_calls_after(catalog, tmp_path, serve):
    # The 429's Retry-After (over the retry cap: not waited) was forgotten: the next call sent the target at once, to
    # be refused again. Kept, the next call leaves it alone (a skip at no cost), as after a first try's 429
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    limited = {"error": 429, "kind": "rate_limit_error", "message": "slow down", "headers": {"Retry-After": "60"}}
    fake, env = await _fake(serve, first, limited, {"text": "never sent"})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        assert result.text == "Searching. " and result.finish_reason == "other"
        [said] = [w for w in result.warnings if "its continuation (attempt 2) was not answered" in w]
        assert "slow down" in said
        with pytest.raises(E.AllTargetsFailed):
            await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": config})
    assert len(fake.requests) == 2  # (the second call sent nothing)
    rows = _rows(db)
    assert [(r["outcome"], r["error_class"]) for r in rows[:2]] == [("ok", None), ("error", "rate_limited")]
    assert rows[2]["outcome"] == "skipped" and rows[2]["cost_pusd"] == 0


async def test_the_limit_reached_with_nothing_written_fails_over_to_the_next_target(catalog, tmp_path, serve):
    # Two paused turns with no text, the limit 1: an empty success was returned (finish "other", a warning), the
    # fallback never tried. Nothing usable came of it: the next target answers, the ledger saying why
    fake, env = await _fake(serve, SEARCHED, SEARCHED, {"text": "From the fallback."})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    config["fallbacks"] = [f"anthropic:{FALLBACK}"]
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        result = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": config}, context={"pause_continuations": 1}
        )
    assert result.text == "From the fallback." and result.model == FALLBACK and len(fake.requests) == 3
    rows = _rows(db)
    assert [(r["outcome"], r["error_class"], r["fallback_position"]) for r in rows] == [
        ("ok", None, 0),
        ("error", "unsupported_feature", 0),
        ("ok", None, 1),
    ]
    assert all(r["cost_pusd"] > 0 for r in rows)  # (what was paid for stays recorded at its cost)
    assert result.cost_usd is not None and result.cost_usd > 0


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_the_limit_reached_with_nothing_written_and_no_next_target_fails_naming_the_setting(
    catalog, tmp_path, serve, stream
):
    fake, env = await _fake(serve, SEARCHED, SEARCHED)
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        await _call(catalog, db, env, stream=stream, context={"pause_continuations": 1})
    message = info.value.message
    assert "MAGSAG_PAUSE_CONTINUATIONS" in message and "context.pause_continuations" in message
    assert "wrote nothing" in message and len(fake.requests) == 2
    assert [(r["outcome"], r["error_class"]) for r in _rows(db)] == [("ok", None), ("error", "unsupported_feature")]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
SCHEMA["additionalProperties"] = False


def _json_config(stream: bool) -> dict[str, Any]:
    rf = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}}
    return {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": stream, "response_format": rf}


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_json_skills_paused_turn_is_continued_and_its_joined_text_parsed_once(
    catalog, tmp_path, serve, stream
):
    # The paused turn's text, part of the document, was parsed alone: invalid JSON, the turn never continued
    fake, env = await _fake(serve, {**SEARCHED, "text": '{"city": '}, {"text": '"Oslo"}'})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": _json_config(stream)})
    assert len(fake.requests) == 2 and fake.violations == []
    assert result.output == {"city": "Oslo"} and result.finish_reason == "stop"
    assert [r["outcome"] for r in _rows(db)] == ["ok", "ok"]


async def test_a_json_skills_joined_text_that_breaks_the_schema_is_no_answer(catalog, tmp_path, serve):
    # checked against the schema once, joined: a document that breaks it fails over as any invalid output does
    fake, env = await _fake(serve, {**SEARCHED, "text": '{"town": '}, {"text": '"Oslo"}'})
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        async with await Service.open(catalog=catalog, db=db, env=env) as svc:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": _json_config(False)})
    assert "city" in info.value.message and len(fake.requests) == 2
    assert [(r["outcome"], r["error_class"]) for r in _rows(db)] == [("ok", None), ("error", "invalid_output")]


async def test_an_answer_cache_hit_reports_the_paused_turns_its_answer_took(catalog, tmp_path, serve):
    # a hit said paused_turns 0 for an answer that took three turns
    fake, env = await _fake(serve, {**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "}, {"text": "Three."})
    payload = {"data": "x", "model_config": {"provider": "anthropic", "model": MODEL, "max_tokens": 2000}}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paid = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 60})
        hit = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 60})
    assert len(fake.requests) == 3 and hit.text == paid.text == "One. Two. Three."
    assert [a.price_source for a in hit.attempts] == ["cache"]
    assert hit.to_dict()["paused_turns"] == paid.to_dict()["paused_turns"] == 2


class _HoldingTheContinuation(FakeAnthropic):
    """The fake, holding every request after the first (the continuation) unanswered once it has it: the caller
    cancels while the vendor has the second turn's request."""

    def __init__(self) -> None:
        super().__init__(KEY)
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.requests:
            self.requests.append({"path": request.path, "body": await request.json()})
            self.arrived.set()
            await asyncio.Event().wait()  # (never answered: the server's close ends it)
        return await super().handle(request)


async def test_a_call_cancelled_during_its_continuation_keeps_what_was_paid_and_holds_nothing(
    catalog, tmp_path, serve
):
    # a limit, for every try to hold a reservation of its worst case while it is in flight
    limits = "policies:\n  - name: limits\n    thresholds:\n      max_cost_per_call_usd: 5\n"
    (catalog / "policies" / "model_governance.yaml").write_text(limits)
    fake = _HoldingTheContinuation()
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake.queue(first)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    scopes: list[anyio.CancelScope] = []
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:

        async def call() -> None:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
                raise AssertionError("answered: the continuation was held")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            await fake.arrived.wait()
            scopes[0].cancel()
        assert scopes[0].cancelled_caught
    assert len(fake.requests) == 2
    with sqlite3.connect(db) as conn:
        [status] = conn.execute("SELECT status FROM runs").fetchall()
        rows = conn.execute(
            "SELECT outcome, error_class, attempt_number, cost_pusd, cost_bound_pusd FROM attempts ORDER BY id"
        ).fetchall()
        held = conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
    assert status == ("cancelled",)
    # the first turn paid, at its cost; the continuation the vendor has: of unknown cost, bounded by its worst case
    (ok, _, one, paid, _), (cut, error_class, two, cost, bound) = rows
    assert (ok, one, paid) == ("ok", 1, (100 * 5 + 20 * 25) * 10**6)
    assert (cut, error_class, two, cost) == ("error", "cancelled", 2, None) and bound > 0
    assert held == 0  # (no reservation left held: each settled or gone with the call's record)


async def test_a_continuations_retry_event_that_raises_raises_the_callers_own_error(catalog, tmp_path, serve):
    # The "retry" event of a continuation's retry went to the providers' wrapped callback: what the caller raised came
    # out of the call as magsag's CallbackFailed (a bug of ours to the service), not as the caller's own error, as a
    # first try's "retry" event raises it
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"error": 500, "message": "try again"}, {"text": "never sent"})
    env["MAGSAG_RETRY_BASE_DELAY"] = "0"
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "retry":
            raise LookupError("the caller's own")

    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        with pytest.raises(LookupError, match="the caller's own"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, progress=progress)
    assert len(fake.requests) == 2  # (the retry never sent)
    rows = _rows(db)
    assert [(r["outcome"], r["error_class"], r["attempt_number"]) for r in rows] == [
        ("ok", None, 1),
        ("error", "server_error", 2),
    ]


async def test_a_call_cancelled_while_its_continuation_waits_to_be_retried_holds_nothing(catalog, tmp_path, serve):
    # The wait before a continuation's retry: cancelled there, the failed continuation stays recorded at its cost, the
    # retry is never sent, and no reservation is left held (a guard, as for a first try's wait)
    limits = "policies:\n  - name: limits\n    thresholds:\n      max_cost_per_call_usd: 5\n"
    (catalog / "policies" / "model_governance.yaml").write_text(limits)
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"error": 500, "message": "try again"}, {"text": "never sent"})
    env["MAGSAG_RETRY_BASE_DELAY"] = "30"  # (a wait the cancel comes in)
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    waiting = anyio.Event()
    scopes: list[anyio.CancelScope] = []
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:

        def progress(event: str, data: dict[str, Any]) -> None:
            if event == "retry":
                waiting.set()

        async def call() -> None:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, progress=progress)
                raise AssertionError("answered: the retry's wait was cancelled")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            await waiting.wait()
            scopes[0].cancel()
        assert scopes[0].cancelled_caught
    assert len(fake.requests) == 2
    with sqlite3.connect(db) as conn:
        [status] = conn.execute("SELECT status FROM runs").fetchall()
        rows = conn.execute("SELECT outcome, error_class, attempt_number FROM attempts ORDER BY id").fetchall()
        held = conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
    assert status == ("cancelled",)
    assert rows == [("ok", None, 1), ("error", "server_error", 2)]
    assert held == 0


async def test_a_continuation_failing_for_good_returns_the_paid_text_said_incomplete_not_the_next_target(
    catalog, tmp_path, serve
):
    # A first try's 400 fails over to the next target; a continuation's cannot (no other target can go on with this
    # turn), and the first turn was paid: its text is returned, but never as if complete. The warning said it "may be"
    # incomplete of a turn known unfinished: it says it is, why, and that Service.continue_paused sends the turn
    # back ("call again" started it over, paid again); the failed continuation is recorded at its attempt, and the
    # fallback is left untried
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    refused = {"error": 400, "kind": "invalid_request_error", "message": "bad block"}
    fake, env = await _fake(serve, first, refused, {"text": "never sent"})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    config["fallbacks"] = [f"anthropic:{FALLBACK}"]
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert len(fake.requests) == 2 and result.model == MODEL
    assert result.text == "Searching. " and result.finish_reason == "other" and result.result.paused is not None
    [said] = [w for w in result.warnings if "its continuation (attempt 2) was not answered" in w]
    assert "bad block" in said and "the answer is incomplete, the text before it" in said
    # (where the turn is and what to do with it: Service.continue_paused, and calling again starts over, paid again)
    assert "pass the result (or its paused_id) to Service.continue_paused, skills.continue_paused or MCP's" in said
    assert "calling again starts the turn over, paid again" in said
    assert [(r["outcome"], r["error_class"], r["attempt_number"]) for r in _rows(db)] == [
        ("ok", None, 1),
        ("error", "bad_request", 2),
    ]


async def test_a_json_skills_turn_left_unfinished_fails_saying_why_not_as_invalid_json(catalog, tmp_path, serve):
    # The document's start is no answer, so the next target is tried (here none): the error said the model "returned
    # invalid JSON", sending the caller to the model's output, where the continuation had been refused. It says the
    # turn was left unfinished, and why; what was paid stays recorded
    first = {**SEARCHED, "text": '{"city": ', "usage": {"input_tokens": 100, "output_tokens": 20}}
    refused = {"error": 400, "kind": "invalid_request_error", "message": "bad block"}
    fake, env = await _fake(serve, first, refused)
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        async with await Service.open(catalog=catalog, db=db, env=env) as svc:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": _json_config(False)})
    message = info.value.message
    assert "left unfinished" in message and "bad block" in message and "JSON document is incomplete" in message
    assert "returned invalid JSON" not in message and len(fake.requests) == 2
    rows = _rows(db)
    assert [(r["outcome"], r["error_class"]) for r in rows] == [("error", "invalid_output"), ("error", "bad_request")]
    assert rows[0]["cost_pusd"] > 0


async def test_a_failed_continuation_leaves_the_breaker_uncounted_its_call_answered(catalog, tmp_path, serve):
    # The breaker counts calls a target failed to answer. A call whose first turn it answered, its continuation then
    # failing (its retries spent) and the paid text returned, was counted one more failed call: at a count of 1, the
    # calls after were refused the target for its cooldown on the strength of a call it had answered
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first, {"error": 500, "message": "down a moment"}, {"text": "Next call's answer."})
    env.update({"MAGSAG_MAX_RETRIES": "0", "MAGSAG_BREAKER_FAILURES": "1"})
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        partial = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        assert partial.text == "Searching. " and partial.finish_reason == "other"
        assert not any("breaker" in w for w in partial.warnings)
        after = await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": config})
    assert after.text == "Next call's answer." and len(fake.requests) == 3
    assert [(r["outcome"], r["error_class"]) for r in _rows(db)] == [
        ("ok", None),
        ("error", "server_error"),
        ("ok", None),
    ]


async def test_a_json_skills_turn_left_unfinished_at_the_most_continuations_names_the_setting(
    catalog, tmp_path, serve
):
    # The most continuations sent, the document unfinished: the error said why ("1 continuation sent, the most
    # allowed") but not the fix, where a turn left empty at the maximum names the setting to raise
    fake, env = await _fake(serve, {**SEARCHED, "text": '{"city": '}, {**SEARCHED, "text": '"Os'})
    db = tmp_path / "ledger.db"
    with pytest.raises(E.AllTargetsFailed) as info:
        async with await Service.open(catalog=catalog, db=db, env=env) as svc:
            payload = {"data": "x", "model_config": _json_config(False)}
            await svc.invoke_skill("skill.analysis", payload, context={"pause_continuations": 1})
    message = info.value.message
    assert "left unfinished (1 continuation sent, the most allowed)" in message and len(fake.requests) == 2
    assert "raise MAGSAG_PAUSE_CONTINUATIONS or the call's context.pause_continuations (at most 20)" in message


async def test_a_partial_answer_over_mcp_is_said_incomplete_with_what_an_mcp_caller_can_do(catalog, tmp_path, serve):
    # What MCP's invoke_skill, the CLI and the guide's skills.invoke show (to_dict) has no LLMResult.paused: the warning
    # sent their callers to a field they never get. It says who holds the turn, and what the others do
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    refused = {"error": 400, "kind": "invalid_request_error", "message": "bad block"}
    fake, env = await _fake(serve, first, refused)
    result = await _call(catalog, tmp_path / "ledger.db", env, stream=False)
    shown = result.to_dict()
    assert shown["output"] == "Searching. " and shown["finish_reason"] == "other" and "paused" not in shown
    [said] = [w for w in shown["warnings"] if "its continuation (attempt 2) was not answered" in w]
    assert "the answer is incomplete" in said, said
    # (the guide's skills.invoke returns this dict too: "a Python caller" was sent to a field its result lacks)
    # and that calling again there starts the turn over, paid again (it said "call again", as though that went on)
    # (its dict carries the paused_id that skills.continue_paused and MCP's continue_paused take: see
    # test_paused_calls_by_id.py; the CLI's process ends with its call)
    assert shown["paused_id"] == result.paused_call.id and "MCP's continue_paused" in said, said
    assert "the CLI holds no turn: calling again starts the turn over, paid again" in said, said
    assert len(fake.requests) == 2
    # and MCP's own description of finish_reason "other" names the paused turn left unfinished, said incomplete
    described = InvokeSkillResult.model_fields["finish_reason"].description or ""
    assert "paused and left unfinished: the answer is incomplete" in described
