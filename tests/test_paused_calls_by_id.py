"""A turn left paused, continued by its ``paused_id`` (paused_calls.py): the sync API's ``skills.continue_paused`` and
MCP's ``continue_paused`` tool, thin layers over ``Service.continue_paused``, over the spec-checking fake Messages API;
the continuation sent to the very target that paused the turn (two of a route may share ``provider:model``), its
attempts numbered on from the paused call's, held to the same run, agent and data classes (the same budgets), and a
paused call left alone holding no reservation."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
import jsonschema
import pytest
from mcp.client import Client

from magsag_mcp import Magsag
from magsag_mcp import errors as E
from magsag_mcp.mcp_server import build_server
from magsag_mcp.paused_calls import HELD_BYTES, HELD_MOST, PausedCall, resumed_plan
from magsag_mcp.service import Service
from magsag_mcp.types import Message, Target
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-3d1d-c0n7"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
MODEL = "claude-opus-4-6"
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}
CONFIG = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
PAUSED = {"pause_continuations": 0}  # (the turn left paused by the first call)


def _rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT run_id, agent, outcome, attempt_number, fallback_position, warnings, data_classes FROM attempts "
            "ORDER BY id"
        ).fetchall()
    return [dict(r) for r in rows]


def _held(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0])


async def _fake(serve, *steps: dict[str, Any]) -> tuple[FakeAnthropic, dict[str, str]]:
    fake = FakeAnthropic(KEY).queue(*steps)
    return fake, {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}


async def test_the_sync_api_continues_a_paused_call_by_the_paused_id_its_dict_gives(catalog, tmp_path, serve):
    # skills.invoke returns a dict, which held no turn: its caller had no way on but calling again (paid again)
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"

    def script() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        refusals = []
        with Magsag(catalog=catalog, db=db, env=env) as mg:
            paused = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
            done = mg.skills.continue_paused(paused["paused_id"])
            for again in (paused["paused_id"], "paused_0000000000000000"):
                try:
                    mg.skills.continue_paused(again)
                except E.InputError as exc:
                    refusals.append(exc.message)
        return paused, done, refusals

    paused, done, refusals = await anyio.to_thread.run_sync(script)
    assert paused["finish_reason"] == "other" and paused["paused_id"].startswith("paused_")
    assert done["text"] == "Searching. Rain." and done["finish_reason"] == "stop" and done["paused_id"] is None
    assert done["run_id"] == paused["run_id"]
    assert fake.violations == [] and len(fake.requests) == 2  # (neither refusal sent anything)
    # continued once: the id is let go (the turn goes on from the result the continuation returned)
    assert all("is held by this process" in r and "call the skill again to start the turn over" in r for r in refusals)
    assert [r["attempt_number"] for r in _rows(db)] == [1, 2]


async def test_the_async_form_continues_from_another_event_loop(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "}, {"text": "Three."})
    db = tmp_path / "ledger.db"

    def script() -> list[dict[str, Any]]:
        with Magsag(catalog=catalog, db=db, env=env) as mg:

            async def go() -> list[dict[str, Any]]:
                first = await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
                second = await mg.skills.acontinue_paused(first["paused_id"])  # (paused again: a new id)
                third = await mg.skills.acontinue_paused(second["paused_id"], continuations=1)
                return [first, second, third]

            return anyio.run(go)

    first, second, third = await anyio.to_thread.run_sync(script)
    assert second["paused_id"] not in (None, first["paused_id"]) and second["text"] == "One. Two. "
    assert third["text"] == "One. Two. Three." and third["paused_id"] is None
    assert fake.violations == [] and [r["attempt_number"] for r in _rows(db)] == [1, 2, 3]


async def test_mcp_continues_a_paused_call_by_its_id_and_refuses_an_unknown_one(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    call = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": CONFIG, "context": PAUSED}
    async with Client(build_server(catalog=catalog, db=db, env=env)) as c:
        listed = {tool.name: tool for tool in (await c.list_tools()).tools}
        names = set(listed)
        paused = (await c.call_tool("invoke_skill", call)).structured_content
        assert paused["finish_reason"] == "other" and paused["paused_id"].startswith("paused_")
        done = await c.call_tool("continue_paused", {"paused_id": paused["paused_id"]})
        assert not done.is_error, done.content[0].text
        answer = done.structured_content
        again = await c.call_tool("continue_paused", {"paused_id": paused["paused_id"]})
        run_id = await c.call_tool("continue_paused", {"paused_id": paused["run_id"]})
        runs = (await c.call_tool("query_runs", {})).structured_content["runs"]
    assert "continue_paused" in names
    jsonschema.Draft202012Validator(listed["continue_paused"].output_schema).validate(answer)
    assert answer["output"] == "Searching. Rain." and answer["run_id"] == paused["run_id"]
    assert answer["paused_id"] is None and D(answer["cost_usd"]) > 0
    assert again.is_error and again.structured_content["error"]["type"] == "input_error"
    assert "no paused call" in again.structured_content["error"]["message"]
    # a run id where the paused id goes: refused by the schema, saying which argument
    assert run_id.is_error and run_id.structured_content["error"]["type"] == "invalid_arguments"
    assert "paused_id" in run_id.content[0].text
    assert len(fake.requests) == 2 and fake.violations == []
    # query_runs reads one story: the run's attempts numbered on, the continuation saying which attempt it goes on from
    [run] = runs
    attempts = sorted(run["attempts"], key=lambda a: a["attempt_number"])
    assert [a["attempt_number"] for a in attempts] == [1, 2]
    said = f"continues the turn anthropic:{MODEL} paused at attempt 1 in an earlier call of run {paused['run_id']}"
    assert any(w.startswith(said) for w in attempts[1]["warnings"]), attempts[1]["warnings"]


async def test_a_pinned_mcp_client_cannot_continue_another_agents_paused_call(catalog, tmp_path, serve):
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": CONFIG}, agent="planner", context=PAUSED
        )
        assert paused.paused_call is not None
        with pytest.raises(E.InputError, match="is not agent 'desk''s"):  # (was: told let go by this process)
            await svc.continue_paused(paused.paused_call.id, agent="desk")
        with pytest.raises(E.InputError, match="agent 'planner'"):
            await svc.continue_paused(paused, agent="desk")
        assert len(fake.requests) == 1
        done = await svc.continue_paused(paused.paused_call.id, agent="planner")
    assert done.text == "Searching. Rain." and [r["agent"] for r in _rows(db)] == ["planner", "planner"]


async def test_the_continuation_goes_to_the_target_that_paused_not_another_of_its_provider_and_model(
    catalog, tmp_path, serve
):
    # Two targets of one provider:model (two servers): the first failed, the second paused the turn; the
    # continuation was held to the first of the label, a server the turn (its container) never was on
    down = FakeAnthropic(KEY).queue(
        {"error": 404, "kind": "not_found_error", "message": f"model: {MODEL}"},
        {"error": 404, "kind": "not_found_error", "message": f"model: {MODEL}"},
    )
    up, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    down_url = await serve(down)
    env["MAGSAG_ALLOWED_BASE_URLS"] = f"anthropic={down_url}"
    fallback = {"provider": "anthropic", "model": MODEL, "base_url": env["ANTHROPIC_BASE_URL"]}
    config = {**CONFIG, "base_url": down_url, "fallbacks": [fallback]}
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=PAUSED)
        assert paused.paused_call is not None and paused.finish_reason == "other"
        done = await svc.continue_paused(paused)
    assert done.text == "Searching. Rain."
    assert len(down.requests) == 1 and len(up.requests) == 2 and up.violations == []
    rows = _rows(db)
    # the answering target's try 1 paused, its continuation try 2: numbered on from that target's
    tries = [(r["outcome"], r["fallback_position"], r["attempt_number"]) for r in rows]
    assert tries[1:] == [("ok", 1, 1), ("ok", 0, 2)], tries


def test_a_route_naming_the_paused_label_on_other_endpoints_only_is_refused_naming_them():
    paused_on = Target("local", "llama3.1:70b", "http://gpu-a:11434")
    paused = PausedCall(
        "skill.analysis", {}, None, None, "run-1", paused_on, Message("assistant", "x"), None, 1, None, (), "paused_1"
    )
    others = [Target("local", "llama3.1:70b", "http://gpu-b:11434"), Target("local", "llama3.1:70b", "http://gpu-c:11434")]
    plan = SimpleNamespace(candidates=[SimpleNamespace(target=t) for t in others], cache_ttl=None, resumed=None)
    with pytest.raises(E.InputError) as refused:
        resumed_plan(plan, paused)  # type: ignore[arg-type]
    message = refused.value.message
    assert "paused by local:llama3.1:70b (at http://gpu-a:11434)" in message, message
    assert "gpu-b" in message and "gpu-c" in message and "2 of them local:llama3.1:70b" in message
    # the very target, among them, is the one kept
    plan.candidates.insert(1, SimpleNamespace(target=Target("local", "llama3.1:70b", "http://gpu-a:11434")))
    kept = resumed_plan(plan, paused)  # type: ignore[arg-type]
    assert [c.target.base_url for c in kept.candidates] == ["http://gpu-a:11434"]


async def test_a_continuation_is_held_to_the_runs_budget_and_a_paused_call_left_alone_holds_nothing(
    catalog, tmp_path, serve
):
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake, env = await _fake(serve, first)
    db = tmp_path / "ledger.db"
    small = {**CONFIG, "max_tokens": 100}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": small}, context=PAUSED)
    assert paused.paused_call is not None and paused.cost_usd == (100 * 5 + 20 * 25) / D(1_000_000)
    assert _held(db) == 0  # (left paused, never continued: its attempt settled, nothing held for the turn)
    # the run's limit a hundredth of a cent over what the first call spent: the continuation's worst case crosses it
    limit = paused.cost_usd + D("0.0001")
    limits = f"policies:\n  - name: limits\n    thresholds:\n      max_cost_per_run_usd: {limit}\n"
    (catalog / "policies" / "model_governance.yaml").write_text(limits)
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        with pytest.raises(E.BudgetExceeded) as refused:
            await svc.continue_paused(paused, continuations=0)
        status = await svc.check_budget(run_id=paused.run_id)
    assert "run" in refused.value.message, refused.value.message
    assert len(fake.requests) == 1 and _held(db) == 0
    assert [(r["run_id"], r["outcome"]) for r in _rows(db)] == [
        (paused.run_id, "ok"),
        (paused.run_id, "budget_exceeded"),
    ]
    assert json.dumps(status, default=str).count(paused.run_id) >= 1
    assert paused.paused_taken is None  # (refused: the turn left to continue)


async def test_a_continuation_is_held_to_its_agent_runs_data_classes(catalog, tmp_path, serve):
    # A runner's call is held to its run's data classes; its continuation went without them (the policies of those
    # classes not applied, the ledger's attempt recorded of no class)
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED, run_classes=("internal",)
        )
        await svc.continue_paused(paused)
    classes = [r["data_classes"] for r in _rows(db)]
    assert len(classes) == 2 and classes[0] == classes[1] and "internal" in classes[1], classes


async def test_the_service_holds_the_last_results_left_paused_and_lets_the_oldest_go(catalog, tmp_path, serve):
    fake, env = await _fake(serve, *[{**SEARCHED, "text": "Searching. "}] * 2)
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        first = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
        second = await svc.invoke_skill("skill.analysis", {"data": "y", "model_config": CONFIG}, context=PAUSED)
        assert first.paused_call is not None and second.paused_call is not None
        assert svc.held_paused(first.paused_call.id) is first and svc.held_paused(second.paused_call.id) is second
        for n in range(HELD_MOST - 1):  # (others' results, as many as make the first the oldest past the most)
            other = dataclasses.replace(second.paused_call, id=f"paused_{n:016x}")
            svc.hold_paused(SimpleNamespace(paused_call=other, paused_taken=None))  # type: ignore[arg-type]
        with pytest.raises(E.InputError, match="among the last 256 left paused"):
            svc.held_paused(first.paused_call.id)
        assert svc.held_paused(second.paused_call.id) is second


async def test_the_results_held_are_bounded_by_their_size_too_the_newest_always_kept(catalog, tmp_path, serve):
    # Each held result keeps a deep copy of its call's payload: 256 calls of a large document each were all held, for
    # as long as the process lived (a long-running MCP server's memory growing by hundreds of megabytes)
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "})
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
        assert paused.paused_call is not None
        big = dataclasses.replace(paused.paused_call, payload={"data": "x" * (HELD_BYTES // 4)})
        ids = [f"paused_{n:016x}" for n in range(4)]
        for held_id in ids:  # (four of a quarter of the bound each, and a bit: the oldest let go, well short of 256)
            svc.hold_paused(SimpleNamespace(paused_call=dataclasses.replace(big, id=held_id), paused_taken=None))  # type: ignore[arg-type]
        with pytest.raises(E.InputError, match="MB of payloads") as refused:
            svc.held_paused(paused.paused_call.id)
        assert "among the last 256" in refused.value.message
        with pytest.raises(E.InputError):
            svc.held_paused(ids[0])
        assert [svc.held_paused(i).paused_call.id for i in ids[1:]] == ids[1:]
        # one alone past the bound is still held: the newest result's id always names it
        huge = dataclasses.replace(big, payload={"data": "x" * (HELD_BYTES + 1)}, id="paused_ffffffffffffffff")
        svc.hold_paused(SimpleNamespace(paused_call=huge, paused_taken=None))  # type: ignore[arg-type]
        assert svc.held_paused(huge.id).paused_call is huge
        for i in ids:
            with pytest.raises(E.InputError):
                svc.held_paused(i)


async def test_a_paused_call_whose_record_the_ledger_refused_is_held_by_the_id_its_error_gives(
    catalog, tmp_path, serve, monkeypatch
):
    # The ledger refused the paused call's record (a full disk: the record kept, written with the next): the paid answer
    # went with the error, its dict's paused_id too, but the service held it only once the record was written, so that
    # id was refused as unknown, and the only way on was to call again and pay for the turn twice
    from magsag_mcp.ledger import Ledger

    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "}, {"text": "Rain."})
    record_call = Ledger.record_call
    refused = []

    async def refuse_once(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        if not refused:
            refused.append(True)
            raise E.LedgerError(f"the ledger at {self.path} is on a full disk: free some space there, then retry")
        return await record_call(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "record_call", refuse_once)
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        with pytest.raises(E.LedgerError, match="calling again would pay twice") as lost:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
        paused_id = lost.value.result.to_dict()["paused_id"]
        assert paused_id is not None
        done = await svc.continue_paused(paused_id)
    assert done.text == "Searching. Rain." and len(fake.requests) == 2 and fake.violations == []


async def test_the_paused_id_of_a_result_not_left_paused_is_refused_saying_so(catalog, tmp_path, serve):
    # A result not left paused gives paused_id None (finish_reason "other" has causes of its own): passed on, it was
    # refused as "got NoneType ... pass its paused_id", which its caller had just done
    fake, env = await _fake(serve, {"text": "Rain."})
    db = tmp_path / "ledger.db"

    def script() -> tuple[dict[str, Any], str]:
        with Magsag(catalog=catalog, db=db, env=env) as mg:
            answer = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": CONFIG})
            try:
                mg.skills.continue_paused(answer["paused_id"])
            except E.InputError as exc:
                return answer, exc.message
        raise AssertionError("continued a result not left paused")

    answer, message = await anyio.to_thread.run_sync(script)
    assert answer["paused_id"] is None and len(fake.requests) == 1
    assert "paused_id is None" in message and "not left paused" in message and "pass its paused_id" not in message


async def test_another_agents_paused_id_asked_by_a_pinned_caller_says_so_and_the_fix_naming_nothing_of_it(
    catalog, tmp_path, serve
):
    # It was told the id was let go by this process (continued already, or among the oldest): neither was so, and
    # the fix it gave (continue the continuation's result) was no fix. Said: the call is not its agent's, and what
    # to do, naming neither the other agent, its skill, its run nor its payload
    fake, env = await _fake(serve, {**SEARCHED, "text": "Searching. "})
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "secret-notes", "model_config": CONFIG}, agent="planner", context=PAUSED
        )
        assert paused.paused_call is not None
        with pytest.raises(E.InputError) as refused:
            await svc.continue_paused(paused.paused_call.id, agent="desk")
        assert svc.held_paused(paused.paused_call.id, "planner") is paused  # (still the planner's to continue)
    said = refused.value.message
    assert paused.paused_call.id in said and "not agent 'desk''s" in said and "pinned to agent 'desk'" in said
    assert "only the agent whose call left a turn paused can continue it" in said
    assert "call the skill again" in said and "let it go" not in said and "another process" not in said
    for unseen in ("planner", "skill.analysis", paused.run_id, "secret-notes"):
        assert unseen not in said
    assert len(fake.requests) == 1


async def test_a_continuation_paused_again_takes_its_paused_calls_place_among_those_held_not_the_oldests(
    catalog, tmp_path, serve
):
    # The most held: the continuation's result, paused again, was held beside the paused call it continues (let go
    # only once the continuation returns), one past the most, and the oldest paused call, another's, was let go for it
    steps = [{**SEARCHED, "text": "Old. "}, {**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "}]
    fake, env = await _fake(serve, *steps)
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        oldest = await svc.invoke_skill("skill.analysis", {"data": "o", "model_config": CONFIG}, context=PAUSED)
        assert oldest.paused_call is not None
        for n in range(HELD_MOST - 2):
            other = dataclasses.replace(oldest.paused_call, id=f"paused_{n:016x}")
            svc.hold_paused(SimpleNamespace(paused_call=other, paused_taken=None))  # type: ignore[arg-type]
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
        assert paused.paused_call is not None and svc.held_paused(oldest.paused_call.id) is oldest  # (the most held)
        again = await svc.continue_paused(paused.paused_call.id, continuations=0)
        assert again.paused_call is not None and svc.held_paused(again.paused_call.id) is again
        assert svc.held_paused(oldest.paused_call.id) is oldest  # (was: let go)
        with pytest.raises(E.InputError, match="continued already"):  # (its place taken by its continuation's)
            svc.held_paused(paused.paused_call.id)
    assert len(fake.requests) == 3


async def test_a_paused_call_whose_continuation_was_lost_stays_held_when_the_most_are(
    catalog, tmp_path, serve, monkeypatch
):
    # The paused call the oldest of the most held: its continuation's result, paused again, held beside it, let it
    # go; the continuation cancelled once its record was handed on, the warning said the paused call could be
    # continued again, and it could not (let go: no turn left to anyone)
    fake, env = await _fake(serve, {**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Lost. "}, {"text": "Rain."})
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, context=PAUSED)
        assert paused.paused_call is not None
        for n in range(HELD_MOST - 1):
            other = dataclasses.replace(paused.paused_call, id=f"paused_{n:016x}")
            svc.hold_paused(SimpleNamespace(paused_call=other, paused_taken=None))  # type: ignore[arg-type]
        real_record = svc.ledger.record_call

        async def waited_for(*a: Any, **k: Any) -> Any:  # (a group commit's wait: the cancel lands there)
            written = await real_record(*a, **k)
            await anyio.lowlevel.checkpoint()
            return written

        monkeypatch.setattr(svc.ledger, "record_call", waited_for)
        scope = anyio.CancelScope()
        with scope:
            await svc.continue_paused(paused.paused_call.id, continuations=0, recorded_ok=lambda _: scope.cancel())
        assert scope.cancelled_caught
        assert svc.held_paused(paused.paused_call.id) is paused  # (was: let go)
        done = await svc.continue_paused(paused.paused_call.id)
    assert done.text == "One. Rain." and len(fake.requests) == 3
