"""The answer cache (answer_cache.py): off by default; on for a call (context cache_ttl) or a route (routing YAML's
``cache: {ttl: 1h}``), a request sent again to the same target by the same agent within the ttl is answered from the
ledger, not sent (the loopback server counts what reaches it), and recorded as an attempt of its own at a known $0
with what it saved; nothing else is answered from it (another agent, another body or model, a model a policy forbids
now), and nothing but a complete answer is stored."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.ledger_schema_helpers import ledger_of_schema
from tests.test_attempt_cost import CATALOG, open_service

pytestmark = pytest.mark.anyio

HOUR = {"cache_ttl": 3600}


@pytest.fixture
async def service(fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float) -> AsyncIterator[Service]:
    svc = await open_service(tmp_path, fake_openai.url + "/v1")
    yield svc
    await svc.aclose()


def _payload(data: str = "numbers", model: str = "gpt-4o") -> dict[str, Any]:
    return {"data": data, "model_config": {"provider": "openai", "model": model}}


async def _call(svc: Service, *, agent: str | None = "ana", context: Any = HOUR, **kw: Any) -> Any:
    return await svc.invoke_skill("skill.analysis", kw.pop("payload", None) or _payload(), agent=agent, context=context)


def _attempts(db: Path, run_id: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT outcome, price_source, cost_pusd, input_tokens, output_tokens, warnings FROM attempts"
            " WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()


async def test_a_repeat_within_its_ttl_is_answered_from_the_cache_and_recorded_at_zero(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    first = await _call(service)
    assert len(fake_openai.requests) == 1 and first.cost_usd > 0
    assert not any("cache" in w for w in first.warnings)
    second = await _call(service)
    assert len(fake_openai.requests) == 1  # not sent
    assert second.text == first.text and second.run_id != first.run_id
    assert second.cost_usd == Decimal(0)
    (note,) = [w for w in second.warnings if "answered from the cache" in w]
    assert f"run {first.run_id}" in note and f"${first.cost_usd:f}" in note
    (row,) = _attempts(tmp_path / "cost.db", second.run_id)
    assert row[:5] == ("ok", "cache", 0, 0, 0)  # a known $0, no tokens billed
    assert second.to_dict()["attempts"][0]["price_source"] == "cache"
    # the summary counts the hit and what it saved: the first answer's cost, exact
    summary = await service.summarize({})
    assert summary["cache"] == {
        "hits": 1,
        "saved_usd": format(first.cost_usd, "f"),
        "saved_known_usd": format(first.cost_usd, "f"),
        "saved_complete": True,
    }
    assert summary["totals"]["calls"] == 2 and summary["totals"]["errors"] == 0
    assert (await service.summarize({"agent": "bob"}))["cache"]["hits"] == 0
    # a third call: a hit again, of the answer the first one paid for
    third = await _call(service)
    assert len(fake_openai.requests) == 1 and third.text == first.text
    assert f"run {first.run_id}" in next(w for w in third.warnings if "cache" in w)


async def test_off_by_default_and_a_ttl_of_zero_leaves_it_alone(service: Service, fake_openai: FakeOpenAI):
    await _call(service, context=None)
    await _call(service, context=None)
    assert len(fake_openai.requests) == 2  # nothing turned it on: every call is sent
    await _call(service)  # stored
    await _call(service, context={"cache_ttl": 0})  # neither read nor stored
    assert len(fake_openai.requests) == 4
    await _call(service)
    assert len(fake_openai.requests) == 4  # (the answer of the third call)


async def test_after_its_ttl_the_request_is_sent_again(service: Service, fake_openai: FakeOpenAI):
    now = [1_000_000.0]
    service.answers.clock = lambda: now[0]
    await _call(service, context={"cache_ttl": 60})
    now[0] += 59
    await _call(service, context={"cache_ttl": 60})
    assert len(fake_openai.requests) == 1
    now[0] += 2  # 61 s after it was stored
    await _call(service, context={"cache_ttl": 60})
    assert len(fake_openai.requests) == 2
    # a call asking for a shorter ttl than the answer's age is sent, whatever the answer's own ttl
    now[0] += 30
    await _call(service, context={"cache_ttl": 10})
    assert len(fake_openai.requests) == 3


async def test_another_agent_another_body_or_model_is_not_answered(service: Service, fake_openai: FakeOpenAI):
    await _call(service, agent="ana")
    await _call(service, agent="bob")
    await _call(service, agent=None)
    assert len(fake_openai.requests) == 3  # one agent is never answered from another's record
    await _call(service, agent="ana", payload=_payload("other numbers"))
    await _call(service, agent="ana", payload=_payload(model="gpt-4o-mini"))
    assert len(fake_openai.requests) == 5
    await _call(service, agent="bob")
    await _call(service, agent="ana", payload=_payload(model="gpt-4o-mini"))
    assert len(fake_openai.requests) == 5  # each its own answer


async def test_a_model_a_policy_forbids_now_is_not_answered_from_its_cache(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    await _call(service)
    policies = service.governance.policies
    allowed = policies.allowed

    def forbids_gpt_4o(target, data_class):
        if target.model == "gpt-4o":
            return False, "test_policy", "gpt-4o is forbidden from now on", "allowed_models"
        return allowed(target, data_class)

    monkeypatch.setattr(policies, "allowed", forbids_gpt_4o)
    with pytest.raises(E.PolicyDenied, match="forbidden from now on"):
        await _call(service)
    assert len(fake_openai.requests) == 1


async def test_failures_and_cut_answers_are_not_stored(service: Service, fake_openai: FakeOpenAI):
    fake_openai.queue(R.ErrorReply(400, "scripted bad request"))
    with pytest.raises(E.MagsagError):
        await _call(service)
    fake_openai.queue(R.Reply(text="cut short", finish="length"))
    cut = await _call(service)
    assert cut.text == "cut short"
    answered = await _call(service)  # sent: neither the error nor the cut answer was stored
    assert len(fake_openai.requests) == 3 and answered.text != "cut short"
    await _call(service)
    assert len(fake_openai.requests) == 3


async def test_a_hit_gives_progress_the_whole_text_at_once(service: Service, fake_openai: FakeOpenAI):
    first = await _call(service)
    seen: list[tuple[str, dict]] = []
    await service.invoke_skill(
        "skill.analysis", _payload(), agent="ana", context=HOUR, progress=lambda e, d: seen.append((e, d))
    )
    assert len(fake_openai.requests) == 1
    assert [(e, d["text"]) for e, d in seen if e == "delta"] == [("delta", first.text)]


@pytest.mark.parametrize(
    ("ttl", "said"),
    [("1h", "must be a number of seconds"), (-1, "between 0"), (True, "must be a number"), (float("inf"), "between")],
)
async def test_a_bad_cache_ttl_is_refused_before_anything_is_sent(
    service: Service, fake_openai: FakeOpenAI, ttl: Any, said: str
):
    with pytest.raises(E.PayloadError, match=said) as refused:
        await _call(service, context={"cache_ttl": ttl})
    assert "cache_ttl" in refused.value.message
    assert fake_openai.requests == []


async def test_a_misspelt_cache_ttl_is_refused(service: Service, fake_openai: FakeOpenAI):
    with pytest.raises(E.PayloadError, match="did you mean 'cache_ttl'"):
        await _call(service, context={"cache_tll": 60})
    assert fake_openai.requests == []


async def test_a_route_turns_it_on_for_its_task_types(fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path):
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    old = "  - match: analysis\n    priority: 10\n"
    assert old in text
    routing.write_text(text.replace(old, old + "    cache: {ttl: 1h}\n"))
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=catalog_copy)
    try:
        assert svc.catalog.routing.cache_ttl("analysis") == 3600
        assert svc.catalog.routing.cache_ttl("coding") is None
        await _call(svc, context=None)
        hit = await _call(svc, context=None)
        assert len(fake_openai.requests) == 1 and any("answered from the cache" in w for w in hit.warnings)
        await _call(svc, context={"cache_ttl": 0})  # the call's word over its route's
        assert len(fake_openai.requests) == 2
    finally:
        await svc.aclose()


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("{ttl: 1y}", "there is no unit of years"),
        ("{ttl: soon}", "is not a duration"),
        ("{tll: 1h}", "tll"),
        ("{ttl: -5}", "between 0 and 365d"),
    ],
)
def test_a_routes_cache_is_checked_when_the_catalog_loads(catalog_copy: Path, written: str, said: str):
    from magsag_mcp.catalog import load_catalog

    routing = catalog_copy / "routing" / "default.yaml"
    old = "  - match: analysis\n    priority: 10\n"
    routing.write_text(routing.read_text().replace(old, old + f"    cache: {written}\n"))
    with pytest.raises(E.ConfigError, match=said):
        load_catalog(catalog_copy, env={})


async def test_clearing_the_cache_sends_the_next_call(service: Service, fake_openai: FakeOpenAI):
    await _call(service)
    assert await service.answers.clear(expired_only=True) == 0
    assert await service.answers.clear() == 1
    await _call(service)
    assert len(fake_openai.requests) == 2


async def test_the_stored_row_holds_no_key_nor_request(service: Service, tmp_path: Path):
    first = await _call(service)
    conn = sqlite3.connect(tmp_path / "cost.db")
    try:
        ((key, agent, answer),) = conn.execute("SELECT key, agent, answer FROM answer_cache").fetchall()
    finally:
        conn.close()
    assert len(key) == 64 and agent == "ana"
    assert first.text in answer and "numbers" not in answer.replace(first.text, "")
    assert "sk-" not in answer and "Bearer" not in answer


async def test_a_blank_and_an_existing_ledger_migrate_to_the_cache_tables(tmp_path: Path):
    async with Ledger(tmp_path / "new.db"):
        pass
    before = [m for m in MIGRATIONS if m[0] != "0023_answer_cache"]
    conn = ledger_of_schema(tmp_path / "old.db", before)
    conn.close()
    async with Ledger(tmp_path / "old.db"):
        pass
    for name in ("new.db", "old.db"):
        conn = sqlite3.connect(tmp_path / name)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        finally:
            conn.close()
        assert {"answer_cache", "cache_hits"} <= tables and "0023_answer_cache" in applied, name


async def test_the_mcp_tools_path_answers_from_the_cache_and_summarizes_it(
    fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float
):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.fakes.openai_server import DEFAULT_KEY

    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "numbers"},
        "model_config": {"provider": "openai", "model": "gpt-4o"},
        "agent": "ana",
        "context": {"cache_ttl": 600},
    }
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "m.db", env=env)) as client:
        first = (await client.call_tool("invoke_skill", args)).structured_content
        second = (await client.call_tool("invoke_skill", args)).structured_content
        assert len(fake_openai.requests) == 1
        assert second["output"] == first["output"] and second["cost_usd"] == "0"
        assert any("answered from the cache" in w for w in second["warnings"])
        refused = await client.call_tool("invoke_skill", {**args, "context": {"cache_ttl": -1}})
        assert refused.is_error and "cache_ttl" in str(refused.content)
        summary = (await client.call_tool("summarize_usage", {})).structured_content
        assert summary["cache"]["hits"] == 1 and summary["cache"]["saved_usd"] == first["cost_usd"]
    assert len(fake_openai.requests) == 1


def test_the_cli_clears_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    import json
    import time

    from magsag_mcp.cli import main

    db = tmp_path / "l.db"
    conn = ledger_of_schema(db, MIGRATIONS)
    now = time.time()
    conn.executemany(
        "INSERT INTO answer_cache VALUES (?, 'ana', 'openai', 'gpt-4o', ?, ?, 'r', 1, '{}')",
        [("k1", now - 100, now - 50), ("k2", now, now + 3600)],
    )
    conn.close()
    assert main(["cache", "clear", "--expired", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "expired_only": True}
    assert main(["cache", "clear", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "expired_only": False}


async def test_a_prune_takes_the_cache_hits_with_their_attempts(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import time

    await _call(service)
    await _call(service)
    assert (await service.summarize({}))["cache"]["hits"] == 1
    later = time.time() + 30 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    deleted = await service.ledger.prune(7 * 86400, vacuum=False)  # the calls are 30 days old now
    assert deleted["attempts"] == 2 and deleted["answers"] == 1  # the first call's answer, which the second's hit read
    assert (await service.summarize({}))["cache"] == {
        "hits": 0,
        "saved_usd": "0",
        "saved_known_usd": "0",
        "saved_complete": True,
    }


def test_the_docs_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import re

    from tests.docs_helpers import doc
    from tests.test_docs import offline_upstream

    text = doc("money-records-budgets.md")
    section = text[text.index("## The answer cache\n") : text.index("## Backups, restores and moves\n")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    with offline_upstream(monkeypatch, tmp_path):
        exec(compile(code, "docs/money-records-budgets.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["True 0 True", "['answered from the cache, recorded 0s ago']", "1"]
    said = re.search(r"prints `(.*?)`, `(.*?)` and `(.*?)`\.", section)
    assert said is not None and list(said.groups()) == printed
    # its YAML is a route the catalog takes, cache and all
    (yaml_text,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    import textwrap

    import yaml

    from magsag_mcp.routing_files import RoutingFile

    (route,) = RoutingFile.model_validate(yaml.safe_load(textwrap.dedent(yaml_text))).routes
    assert route.cache is not None and route.cache.ttl == 3600


async def test_an_azure_api_version_of_its_own_is_another_request(transport: Any):
    # The api-version goes in the URL's query, not in the body nor the base URL: a deployment asked under another one
    # (AZURE_OPENAI_API_VERSION changed between two runs on one ledger) is another request to Azure, answered by
    # another version of its API, and not answered from the answer the first one got.
    from magsag_mcp.answer_cache import request_key
    from magsag_mcp.providers.openai import AzureProvider
    from magsag_mcp.types import Target
    from tests.llm_requests import ask

    def key(version: str) -> str | None:
        env = {
            "AZURE_OPENAI_API_KEY": "fake-azure-key-for-tests",
            "AZURE_OPENAI_ENDPOINT": "https://cache-test.openai.azure.com/",
            "AZURE_OPENAI_API_VERSION": version,
        }
        return request_key(AzureProvider(env, transport), ask(), Target("azure", "prod-chat"), "ana")

    dated, later = key("2024-10-21"), key("2025-01-01-preview")
    assert dated is not None and later is not None
    assert dated != later
    assert key("2024-10-21") == dated  # (the same version: the same key)


async def test_a_hit_of_an_answer_of_unknown_cost_is_a_known_zero_and_its_saving_unknown(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # the answer paid for cost an unknown amount (its stream ended, finish "stop", before its usage chunk came): the
    # hit itself is a known $0, and the summary's saving is null with saved_complete false, never a silent $0
    fake_openai.queue(R.reply("whole answer", usage=R.tokens(1000, 900), cut_after=4))
    payload = {**_payload(), "model_config": {"provider": "openai", "model": "gpt-4o", "stream": True}}
    first = await _call(service, payload=payload)
    assert len(fake_openai.requests) == 1 and first.cost_usd is None and first.text == "whole answer"
    second = await _call(service, payload=payload)
    assert len(fake_openai.requests) == 1
    assert second.cost_usd == Decimal(0)
    assert any("it cost an unknown amount then" in w for w in second.warnings)
    (row,) = _attempts(tmp_path / "cost.db", second.run_id)
    assert row[:3] == ("ok", "cache", 0)
    summary = await service.summarize({"agent": "ana"})
    assert summary["cache"] == {"hits": 1, "saved_usd": None, "saved_known_usd": "0", "saved_complete": False}
    # the hit is no unpriced call: what is unknown is the first call's cost alone
    assert summary["totals"]["calls"] == 2 and summary["totals"]["unpriced_calls"] == 1


async def test_a_stored_answer_that_cannot_be_read_is_a_miss_not_a_failed_call(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # a row whose answer this version cannot read (written by another version of magsag-mcp, or damaged): the call is
    # sent and answered, as for a ledger the cache could not read, and the row replaced by its answer
    await _call(service)
    conn = sqlite3.connect(tmp_path / "cost.db")
    with conn:
        conn.execute("UPDATE answer_cache SET answer = ?", ('{"content": "a shape of another version"}',))
    conn.close()
    again = await _call(service)
    assert len(fake_openai.requests) == 2 and again.cost_usd > 0
    assert not any("answered from the cache" in w for w in again.warnings)
    assert "answer cache" in caplog.text
    third = await _call(service)
    assert len(fake_openai.requests) == 2 and third.text == again.text  # the new answer, stored in its place


async def test_a_hit_whose_record_the_ledger_refused_does_not_say_it_was_paid_for(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    # the ledger refuses the record of a call answered from the cache: its error said "The call itself succeeded and
    # was paid for ... calling again would pay twice", of a call that sent nothing and cost $0
    await _call(service)

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise E.LedgerError("database is locked", db="cost.db")

    with monkeypatch.context() as patched:
        patched.setattr(service.ledger, "record_call", refuse)
        with pytest.raises(E.LedgerError) as info:
            await _call(service)
    assert len(fake_openai.requests) == 1
    message = info.value.message
    assert "paid" not in message and "answered from the answer cache" in message and "$0" in message
    assert info.value.result.text == "ok" and info.value.result.cost_usd == Decimal(0)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hit_keeps_the_answers_response_id(service: Service, fake_openai: FakeOpenAI, stream: bool):
    # the vendor's id of the answer paid for (chatcmpl-...), to trace a hit to it: on the result, and in its warning
    payload = {**_payload(), "model_config": {"provider": "openai", "model": "gpt-4o", "stream": stream}}
    first = await _call(service, payload=payload)
    answer_id = first.result.response_id
    assert answer_id and answer_id.startswith("chatcmpl-")
    hit = await _call(service, payload=payload)
    assert len(fake_openai.requests) == 1
    assert hit.result.response_id == answer_id
    (note,) = [w for w in hit.warnings if "answered from the cache" in w]
    assert f"(run {first.run_id}, response {answer_id})" in note


async def test_an_answer_stored_before_its_response_id_was_kept_answers_without_one(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    import json

    await _call(service)
    conn = sqlite3.connect(tmp_path / "cost.db")
    with conn:
        (answer,) = conn.execute("SELECT answer FROM answer_cache").fetchone()
        older = {k: v for k, v in json.loads(answer).items() if k != "response_id"}
        conn.execute("UPDATE answer_cache SET answer = ?", (json.dumps(older),))
    conn.close()
    hit = await _call(service)
    assert len(fake_openai.requests) == 1 and hit.result.response_id is None
    assert any("answered from the cache" in w and ", response" not in w for w in hit.warnings)


async def test_a_prune_takes_the_cached_answers_of_the_runs_it_deletes(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """A stored answer whose run a prune deleted still answered, its warning naming that run, which query_runs no
    longer finds, and the answer outlived the retention asked for: it goes with its run's attempts now. One whose run
    the prune left answers as before."""
    import time

    year = {"cache_ttl": 365 * 86400}
    old = await _call(service, agent="old", context=year)  # paid for, and stored for a year
    later = time.time() + 30 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(service.answers, "clock", lambda: later)
    recent = await _call(service, agent="recent", context=year)
    assert len(fake_openai.requests) == 2
    deleted = await service.ledger.prune(7 * 86400, vacuum=False)  # the old call is 30 days old now
    assert deleted["attempts"] == 1
    assert deleted["answers"] == 1  # counted: the prune's output said nothing of the answer it deleted
    again = await _call(service, agent="old", context=year)
    assert len(fake_openai.requests) == 3  # sent: its answer went with its run
    assert not any("answered from the cache" in w or old.run_id in w for w in again.warnings)
    hit = await _call(service, agent="recent", context=year)
    assert len(fake_openai.requests) == 3
    assert any(f"answered from the cache, recorded 0s ago (run {recent.run_id}" in w for w in hit.warnings)


async def test_a_prune_takes_an_answer_whose_run_has_no_attempt_left_and_keeps_one_whose_run_has(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """The prune's second rule, apart from its cutoff: an answer stored after the cutoff whose run has no attempt left
    (its call began before the cutoff and was answered after it) goes; an answer of a run the prune took some
    attempts of, but not the one that paid for it (a run that goes on), stays and answers."""
    import time

    year = {"cache_ttl": 365 * 86400}
    start = time.time()
    now = [start]
    stored_after = [0.0]  # how long after its attempt began a call's answer is stored
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(service.answers, "clock", lambda: now[0] + stored_after[0])
    stored_after[0] = 25 * 86400  # begun 30 days before the prune, stored 5: after the cutoff (7 days)
    spanned = await _call(service, agent="spans", context=year)
    stored_after[0] = 0.0
    await service.invoke_skill("skill.analysis", _payload("first"), agent="goes-on", context=year, run_id="run-goes-on")
    now[0] = start + 30 * 86400
    await service.invoke_skill(
        "skill.analysis", _payload("second"), agent="goes-on", context=year, run_id="run-goes-on"
    )
    assert len(fake_openai.requests) == 3
    db = service.ledger.path
    with sqlite3.connect(db) as conn:
        created = dict(conn.execute("SELECT run_id, max(created_at) FROM answer_cache GROUP BY run_id").fetchall())
    assert created[spanned.run_id] >= now[0] - 7 * 86400  # not older than the cutoff: the cutoff alone keeps it
    deleted = await service.ledger.prune(7 * 86400, vacuum=False)
    assert deleted["attempts"] == 2  # the spanning call's, and the first of run-goes-on's
    assert _attempts(db, spanned.run_id) == [] and len(_attempts(db, "run-goes-on")) == 1
    again = await _call(service, agent="spans", context=year)
    assert len(fake_openai.requests) == 4  # sent: its answer went with its run's last attempt
    assert not any("answered from the cache" in w for w in again.warnings)
    hit = await _call(service, agent="goes-on", context=year, payload=_payload("second"))
    assert len(fake_openai.requests) == 4
    assert any("answered from the cache" in w and "run-goes-on" in w for w in hit.warnings)
    first = await _call(service, agent="goes-on", context=year, payload=_payload("first"))
    assert len(fake_openai.requests) == 5  # stored before the cutoff: gone with it
    assert not any("answered from the cache" in w for w in first.warnings)


async def test_a_prune_that_deletes_no_attempt_still_takes_the_answers_stored_before_its_cutoff(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """A ledger pruned by a version before answers went with their runs holds answers whose attempts are gone: the
    next prune deletes no attempt, and it took no answer either (only a step that deleted attempts did), so an answer
    stored before its cutoff still answered for a year, naming a run query_runs no longer finds."""
    import time

    year = {"cache_ttl": 365 * 86400}
    old = await _call(service, agent="old", context=year)
    db = service.ledger.path
    with sqlite3.connect(db) as conn:  # what that version's prune left: the attempts gone, the answer kept
        conn.execute("DELETE FROM attempts WHERE run_id = ?", (old.run_id,))
    later = time.time() + 30 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(service.answers, "clock", lambda: later)
    deleted = await service.ledger.prune(7 * 86400, vacuum=False)
    assert deleted["attempts"] == 0
    again = await _call(service, agent="old", context=year)
    assert len(fake_openai.requests) == 2  # sent: the answer went at the cutoff
    assert not any("answered from the cache" in w or old.run_id in w for w in again.warnings)
