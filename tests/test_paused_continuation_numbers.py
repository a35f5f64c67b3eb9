"""A paused call continued again after a continuation of it failed, or was cancelled (paused_calls.py): each
continuation's attempts number on from the last attempt the run gave the target, its failed and cancelled ones too,
never again from the paused call's (two attempts of one run numbered alike read as one in the ledger's story), and
the answer says the attempt whose answer paused the turn it continues."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-numb-3r5d"
MODEL = "claude-opus-4-6"
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}
PAUSED = {"pause_continuations": 0}  # (each call leaves its turn paused where it pauses)
REFUSED = {"error": 400, "kind": "invalid_request_error", "message": "the request was refused"}


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT outcome, attempt_number, paused_id, continues_paused_id, warnings FROM attempts ORDER BY id"
        ).fetchall()


async def test_a_paused_call_continued_after_its_continuations_failed_numbers_on_past_them(catalog, tmp_path, serve):
    # two continuations failing for good (each its call's error, the turn kept), then one answering: numbered 2, 3
    # and 4, each saying it continues the turn paused at attempt 1 (the third was numbered 2 again, as each was)
    fake = FakeAnthropic(KEY).queue({**SEARCHED, "text": "Searching. "}, REFUSED, REFUSED, {"text": "Rain."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=PAUSED)
        assert paused.paused_call is not None
        paused_id = paused.paused_call.id
        for _ in range(2):
            with pytest.raises(E.MagsagError):
                await svc.continue_paused(paused_id)
        done = await svc.continue_paused(paused_id)
    assert done.text == "Searching. Rain." and len(fake.requests) == 4
    rows = _rows(db)
    assert [(r[0], r[1]) for r in rows] == [("ok", 1), ("error", 2), ("error", 3), ("ok", 4)]
    assert rows[0][2] == paused_id and [r[3] for r in rows] == [None, paused_id, paused_id, paused_id]
    said = f"continues the turn anthropic:{MODEL} paused at attempt 1"
    # (the answer says it; the failed ones' continues_paused_id names the call they continued)
    assert any(said in w for w in json.loads(rows[3][4]))


async def test_a_turn_left_paused_by_a_failed_continuation_is_continued_as_the_attempt_that_paused_it(
    catalog, tmp_path, serve
):
    # The call continued its turn itself (attempt 2), refused: left paused. Continued by its caller at attempt 3, the
    # answer said it continued the turn paused at attempt 2 (the refused one, which paused nothing)
    fake = FakeAnthropic(KEY).queue({**SEARCHED, "text": "Searching. "}, REFUSED, {"text": "Rain."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": config}, context={"pause_continuations": 1}
        )
        assert paused.finish_reason == "other" and paused.paused_call is not None
        done = await svc.continue_paused(paused)
    assert done.text == "Searching. Rain." and len(fake.requests) == 3
    rows = _rows(db)
    assert [(r[0], r[1]) for r in rows] == [("ok", 1), ("error", 2), ("ok", 3)]
    [said] = [w for w in json.loads(rows[2][4]) if w.startswith("continues the turn")]
    assert said.startswith(f"continues the turn anthropic:{MODEL} paused at attempt 1 in an earlier call"), said


@pytest.mark.parametrize("continuations", [-1, 10**6, 2.5, True, "3"])
async def test_a_continuations_argument_out_of_range_is_refused_naming_it_nothing_sent_nor_recorded(
    catalog, tmp_path, serve, continuations
):
    # It was put in the context as pause_continuations: refused inside the call, recorded as a failed call of the
    # run, its message naming context.pause_continuations, which the caller never wrote
    fake = FakeAnthropic(KEY).queue({**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=PAUSED)
        assert paused.paused_call is not None
        with pytest.raises(E.InputError) as refused:
            await svc.continue_paused(paused.paused_call.id, continuations=continuations)  # type: ignore[arg-type]
        said = refused.value.message
        assert said.startswith("continuations must be a whole number from 0") and "context." not in said, said
        assert svc.held_paused(paused.paused_call.id) is paused and paused.paused_taken is None
        done = await svc.continue_paused(paused.paused_call.id)
    assert done.text == "Searching. Rain." and len(fake.requests) == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        assert [r[0] for r in conn.execute("SELECT attempt_number FROM attempts ORDER BY id")] == [1, 2]


@pytest.mark.parametrize("given", ["a list the last call filled", "not a list"])
async def test_invoke_skills_attempts_list_must_come_empty_nothing_sent_nor_recorded(catalog, tmp_path, serve, given):
    # invoke_skill's attempts (what continue_paused reads its continuation's attempts from) is the list the call's
    # attempts are put in: one handed in holding another call's attempts was recorded as this call's too, that call's
    # spend written twice in the ledger (the run's and the budgets' sums with it)
    fake = FakeAnthropic(KEY).queue({"text": "Sun."}, {"text": "Rain."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    tried: list[Any] = []
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        first = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, attempts=tried)
        assert first.text == "Sun." and [a.attempt_number for a in tried] == [1]
        handed: Any = tried if given == "a list the last call filled" else (1, 2)
        with pytest.raises(E.InputError) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": config}, attempts=handed)
    said = refused.value.message
    assert said.startswith("attempts must be an empty list") and "fill" in said, said
    assert len(fake.requests) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM attempts").fetchone() == (1,)
