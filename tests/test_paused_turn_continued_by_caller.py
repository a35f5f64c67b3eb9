"""A turn left paused, sent back by its caller (paused_calls.py): Service.continue_paused over the spec-checking fake
Messages API: the first call's request with the paused turn appended, to the same target, under the same run, admitted,
priced and recorded as any call; the answer the whole turn; refused with nothing sent where there is no turn."""

from __future__ import annotations

import json
import os
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-c0n7-1nu3-p4u5"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
MODEL = "claude-opus-4-6"
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}
SEARCH_USAGE = {"server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0}}
CONFIG = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}


def _rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT run_id, outcome, attempt_number, input_tokens, output_tokens, cost_pusd, warnings FROM attempts "
            "ORDER BY id"
        ).fetchall()
    return [dict(r) for r in rows]


async def _fake(serve, *steps: dict[str, Any]) -> tuple[FakeAnthropic, dict[str, str]]:
    fake = FakeAnthropic(KEY).queue(*steps)
    return fake, {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}


async def test_a_turn_left_paused_is_continued_by_its_caller_under_the_same_run_paying_only_the_rest(
    catalog, tmp_path, serve
):
    # The warning told a Python caller the turn was in .result.paused, and no Service method took it: "call again"
    # started the turn over and paid for its search again
    first = {**SEARCHED, "text": "Searching. ", "usage": {**SEARCH_USAGE, "input_tokens": 100, "output_tokens": 20}}
    rest = {"text": "It is raining in Oslo.", "usage": {"input_tokens": 300, "output_tokens": 40}}
    fake, env = await _fake(serve, first, rest)
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}  # (left paused by the first call)
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
        assert paused.finish_reason == "other" and paused.text == "Searching. "
        [said] = [w for w in paused.warnings if "the answer is incomplete" in w]
        assert "pass the result (or its paused_id) to Service.continue_paused, skills.continue_paused or MCP's" in said
        assert "calling again starts the turn over, paid again" in said
        assert "paused_call" not in repr(paused) and "paused_call" not in paused.to_dict()
        assert paused.to_dict()["paused_id"] == paused.paused_call.id  # (the id, not the turn: see paused_calls.py)
        done = await svc.continue_paused(paused, continuations=2)
    assert fake.violations == [] and len(fake.requests) == 2
    # the first call's request, the paused turn appended as the API wrote it, no user turn added
    asked, went_on = (r["body"] for r in fake.requests)
    written = FakeAnthropic().content(first, {"model": MODEL})
    assert went_on["messages"] == [*asked["messages"], {"role": "assistant", "content": written}]
    assert {k: v for k, v in went_on.items() if k != "messages"} == {k: v for k, v in asked.items() if k != "messages"}
    # the whole turn's answer, complete; its usage and cost this call's alone
    assert done.text == "Searching. It is raining in Oslo." and done.finish_reason == "stop"
    assert done.result.paused is None and done.paused_call is None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (300, 40)
    assert done.run_id == paused.run_id and done.model == MODEL
    assert done.cost_usd == (300 * 5 + 40 * 25) / D(1_000_000)  # (the search, on the first bill, not paid again)
    assert paused.cost_usd == (100 * 5 + 20 * 25) / D(1_000_000) + D(10) / 1000
    # both calls in the ledger under the one run, the second saying which turn it goes on with
    rows = _rows(db)
    assert [(r["run_id"], r["outcome"], r["attempt_number"]) for r in rows] == [
        (paused.run_id, "ok", 1),
        (paused.run_id, "ok", 2),  # (numbered on from the paused call's: one call's story)
    ]
    assert [D(r["cost_pusd"]) / 10**12 for r in rows] == [paused.cost_usd, done.cost_usd]
    warned = json.loads(rows[1]["warnings"])
    said = f"continues the turn anthropic:{MODEL} paused at attempt 1 in an earlier call of run {paused.run_id}"
    assert f"{said} ({paused.paused_call.id})" in warned
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0] == 0


async def test_a_turn_paused_again_is_continued_again_with_every_block_of_it(catalog, tmp_path, serve):
    steps = [{**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "}, {"text": "Three."}]
    fake, env = await _fake(serve, *steps)
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}
        first = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
        second = await svc.continue_paused(first)  # (the first call's context: none sent again, paused again)
        assert second.text == "One. Two. " and second.finish_reason == "other" and second.paused_call is not None
        third = await svc.continue_paused(second)
    assert fake.violations == [] and len(fake.requests) == 3
    assert third.text == "One. Two. Three." and third.finish_reason == "stop"
    # the last request sent back both paused turns, in order (the wire's one assistant turn)
    sent_back = [m for m in fake.requests[2]["body"]["messages"] if m["role"] == "assistant"]
    uses = [b for m in sent_back for b in m["content"] if b["type"] == "server_tool_use"]
    assert len(uses) == 2
    assert {r["run_id"] for r in _rows(db)} == {first.run_id}


async def test_nothing_to_continue_is_refused_with_nothing_sent(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {"text": "Done."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        done = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG})
        with pytest.raises(E.InputError, match="was not left paused: there is no turn to continue"):
            await svc.continue_paused(done)
        with pytest.raises(E.InputError, match="a dict of it, as skills.invoke and MCP return, holds no turn"):
            await svc.continue_paused(done.to_dict())  # type: ignore[arg-type]
    assert len(fake.requests) == 1 and len(_rows(db)) == 1


async def _run_paused_turn_example(n: int, tmp_path, serve, monkeypatch, capsys) -> list[dict[str, Any]]:
    """docs/python.md's "A turn Claude left paused" example ``n`` (0: async, 1: sync by paused_id) run as written: the
    default 3 continuations sent, the turn still paused, then continued by the example (run in a thread: it runs its
    own event loop); its rows."""
    import anyio

    from tests.docs_helpers import doc
    from tests.test_docs_python_blocks import _python_blocks

    text = doc("python.md")
    code = _python_blocks(text[text.index("## A turn Claude left paused\n") : text.index("## Tracing with")])[n]
    steps = [{**SEARCHED, "text": f"{k}. "} for k in range(1, 5)]
    fake, env = await _fake(serve, *steps, {"text": "Rain."})
    prefixes = ("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_", "OLLAMA_")
    for name in [n for n in os.environ if n.startswith(prefixes)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # (no ./catalog: the bundled one)
    for name, value in {**env, "MAGSAG_DB": str(tmp_path / "ledger.db")}.items():
        monkeypatch.setenv(name, value)
    await anyio.to_thread.run_sync(lambda: exec(compile(code, "docs/python.md", "exec"), {}))
    assert fake.violations == [] and len(fake.requests) == 5
    return _rows(tmp_path / "ledger.db")


async def test_the_python_pages_paused_turn_example_runs_as_written(tmp_path, serve, monkeypatch, capsys):
    rows = await _run_paused_turn_example(0, tmp_path, serve, monkeypatch, capsys)
    assert capsys.readouterr().out == "1. 2. 3. 4. Rain.\n"
    # one call's story: the continuation's attempt numbered on from the four of the call that left the turn paused
    assert len({r["run_id"] for r in rows}) == 1 and [r["attempt_number"] for r in rows] == [1, 2, 3, 4, 5]


async def test_the_python_pages_sync_paused_turn_example_runs_as_written(tmp_path, serve, monkeypatch, capsys):
    rows = await _run_paused_turn_example(1, tmp_path, serve, monkeypatch, capsys)
    assert capsys.readouterr().out == "1. 2. 3. 4. Rain.\n"
    assert len({r["run_id"] for r in rows}) == 1 and [r["attempt_number"] for r in rows] == [1, 2, 3, 4, 5]


async def test_a_continuation_the_policies_refuse_is_recorded_under_the_run_nothing_sent(catalog, tmp_path, serve):
    # admitted as any call: a policy that no longer allows the model (another service, its catalog changed) refuses
    # it before anything is sent, the refusal recorded under the run; the turn stays in the result, to go on later
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
    allowed = "policies:\n  - name: models\n    allowed_models: [claude-3-haiku-20240307]\n"
    (catalog / "policies" / "model_governance.yaml").write_text(allowed)
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        with pytest.raises(E.PolicyDenied, match=MODEL):
            await svc.continue_paused(paused)
    assert len(fake.requests) == 1
    rows = _rows(db)
    assert [(r["run_id"], r["outcome"]) for r in rows] == [(paused.run_id, "ok"), (paused.run_id, "policy_denied")]
    assert paused.paused_call is not None and paused.text == "Searching. "


async def test_a_turn_paused_by_an_alias_the_api_answered_as_a_snapshot_is_continued_on_its_target(
    catalog, tmp_path, serve
):
    # The API answers with the model that served the call, a dated snapshot of the alias asked for: the turn was held
    # as paused by "anthropic:<snapshot>", which no route names, and its continuation was refused as though the route
    # had changed. The target is the one the call was sent to
    snapshot = f"{MODEL}-20260205"
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. ", "model": snapshot}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
        assert paused.result.model == snapshot  # (what the API said)
        done = await svc.continue_paused(paused)
    assert fake.violations == [] and len(fake.requests) == 2
    assert [r["body"]["model"] for r in fake.requests] == [MODEL, MODEL]
    assert done.text == "Searching. Rain." and done.finish_reason == "stop"
    warned = json.loads(_rows(db)[1]["warnings"])
    said = f"continues the turn anthropic:{MODEL} paused at attempt 1 in an earlier call of run {paused.run_id}"
    assert any(w.startswith(said) for w in warned)


async def test_a_turn_continued_once_is_not_sent_again_from_the_same_result(catalog, tmp_path, serve):
    # Continuing the same result again sent its turn again, paid again, and forked the turn (two answers to one pause);
    # two continuations at once sent it twice. The turn goes on from the result its continuation returned. A
    # continuation that fails (refused, nothing answered) leaves the turn to continue again
    steps = [{**SEARCHED, "text": "Searching. "}, {"text": "Rain."}, {**SEARCHED, "text": "Again. "}]
    fake, env = await _fake(serve, *steps)
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
        done = await svc.continue_paused(paused)
        assert done.text == "Searching. Rain."
        with pytest.raises(E.InputError, match="already continued") as refused:
            await svc.continue_paused(paused)
        assert "continue the result that call returned" in str(refused.value)
        assert len(fake.requests) == 2
        again = await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": CONFIG}, context=context)
        outcomes: list[Any] = []

        async def go_on() -> None:
            try:
                outcomes.append(await svc.continue_paused(again))
            except E.InputError as exc:
                outcomes.append(exc)

        fake.queue({"text": "Sun."})
        async with anyio.create_task_group() as tg:
            tg.start_soon(go_on)
            tg.start_soon(go_on)
    assert len(fake.requests) == 4 and fake.violations == []
    [answered] = [o for o in outcomes if not isinstance(o, Exception)]
    [busy] = [o for o in outcomes if isinstance(o, Exception)]
    assert answered.text == "Again. Sun." and "being continued" in str(busy)
    assert [r["outcome"] for r in _rows(db)] == ["ok"] * 4


async def test_a_continuation_that_failed_leaves_the_turn_to_continue_again(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        context = {"pause_continuations": 0}
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=context)
    policies = catalog / "policies" / "model_governance.yaml"
    policies.write_text("policies:\n  - name: models\n    allowed_models: [claude-3-haiku-20240307]\n")
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        with pytest.raises(E.PolicyDenied):
            await svc.continue_paused(paused)
    policies.write_text("policies: []\n")
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        done = await svc.continue_paused(paused)
    assert done.text == "Searching. Rain." and len(fake.requests) == 2


async def test_the_continuation_sends_the_first_calls_request_though_its_caller_changed_the_payload_since(
    catalog, tmp_path, serve
):
    # The result held the caller's own payload and context dicts: a caller reusing them for its next call (another
    # item's data) had the continuation send the new data with the old turn, a request the turn was not paused in
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        payload: dict[str, Any] = {"data": "Oslo", "model_config": dict(CONFIG)}
        context: dict[str, Any] = {"pause_continuations": 0}
        paused = await svc.invoke_skill("skill.analysis", payload, context=context)
        payload["data"] = "Bergen"
        payload["model_config"]["max_tokens"] = 100
        context["pause_continuations"] = 5
        done = await svc.continue_paused(paused)
    asked, went_on = (r["body"] for r in fake.requests)
    assert went_on["messages"][:-1] == asked["messages"] and went_on["max_tokens"] == asked["max_tokens"] == 2000
    assert done.text == "Searching. Rain."
