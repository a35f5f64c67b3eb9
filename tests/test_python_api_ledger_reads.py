"""A Magsag's reads of its ledger beyond summarize and check_budget: query_runs and search, as the MCP tools
``query_runs`` and ``search_usage`` and ``magsag data query`` / ``data search`` give them. Before, Python code had
only summarize (whose refusal of ``limit`` pointed to a ``query_runs`` it could not call) and had to open the
service or the CLI to list its runs or find an error."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from magsag_mcp import InputError, Magsag, RateLimitError
from magsag_mcp.providers.fake import script

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="reader") as handle:
        yield handle


def _calls(mg: Magsag, runs: list[str]) -> None:
    for run_id in runs:
        mg.skills.invoke("skill.analysis", {"data": run_id, "model_config": {"model": "fake:echo"}}, run_id=run_id)


def test_query_runs_pages_the_runs_newest_first_without_repeats(mg: Magsag):
    _calls(mg, ["run-a", "run-b", "run-c"])
    first = mg.query_runs(limit=2, agent="reader")
    assert [r["run_id"] for r in first["runs"]] == ["run-c", "run-b"]
    assert first["has_more"] is True and first["next_cursor"] and first["notes"] == []
    rest = mg.query_runs(limit=2, agent="reader", cursor=first["next_cursor"])
    assert [r["run_id"] for r in rest["runs"]] == ["run-a"] and rest["has_more"] is False
    run = first["runs"][0]
    assert run["agent"] == "reader" and run["status"] == "ok" and run["calls"] == 1
    assert [(a["provider"], a["model"], a["outcome"]) for a in run["attempts"]] == [("fake", "echo", "ok")]


def test_query_runs_lists_as_many_attempts_as_asked(mg: Magsag):
    script("flaky", RateLimitError("slow down", status=429, retry_after=0.001), "fine")
    mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:flaky"}}, run_id="run-r")
    (run,) = mg.query_runs(run_id="run-r")["runs"]
    assert [(a["outcome"], a["error_class"]) for a in run["attempts"]] == [("error", "rate_limited"), ("ok", None)]
    assert run["attempts_omitted"] == 0
    (latest,) = mg.query_runs(run_id="run-r", attempts_per_run=1)["runs"]
    assert [a["outcome"] for a in latest["attempts"]] == ["ok"] and latest["attempts_omitted"] == 1
    (none,) = mg.query_runs(run_id="run-r", attempts_per_run=0)["runs"]
    assert none["attempts"] == [] and none["attempts_omitted"] == 2


def test_query_runs_says_what_a_filter_naming_nothing_recorded_meant(mg: Magsag):
    _calls(mg, ["run-a"])
    page = mg.query_runs(agent="raeder")
    assert page["runs"] == [] and any("'reader'" in note for note in page["notes"])


def test_search_finds_a_failed_attempt_by_its_error(mg: Magsag):
    script("limited", *[RateLimitError("quota window full", status=429, retry_after=0.001)] * 3)
    with pytest.raises(RateLimitError):
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:limited"}}, run_id="run-e")
    _calls(mg, ["run-ok"])
    found = mg.search("window full", since=timedelta(hours=1))
    assert len(found["hits"]) == 3 and found["has_more"] is False
    assert {(h["run_id"], h["model"], h["error_class"]) for h in found["hits"]} == {
        ("run-e", "limited", "rate_limited")
    }
    assert sorted(h["attempt_number"] for h in found["hits"]) == [1, 2, 3]
    first = mg.search("window full", limit=2)
    rest = mg.search("window full", limit=2, cursor=first["next_cursor"])
    tries = sorted(h["attempt_number"] for h in first["hits"] + rest["hits"])
    assert first["has_more"] is True and rest["has_more"] is False and tries == [1, 2, 3]


def test_the_async_forms_read_the_same_from_another_event_loop(mg: Magsag):
    _calls(mg, ["run-a", "run-b"])
    script("limited", *[RateLimitError("quota window full", status=429, retry_after=0.001)] * 3)
    with pytest.raises(RateLimitError):
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:limited"}}, run_id="run-e")

    async def read() -> tuple[dict, dict]:
        return await mg.aquery_runs(limit=10), await mg.asearch("window", limit=10)

    runs, hits = asyncio.run(read())
    assert runs == mg.query_runs(limit=10) and hits == mg.search("window", limit=10)
    assert [r["run_id"] for r in runs["runs"]] == ["run-e", "run-b", "run-a"] and len(hits["hits"]) == 3


def test_bad_reads_are_refused_naming_the_fix(mg: Magsag):
    with pytest.raises(InputError, match=r"limt: unknown filter \(did you mean 'limit'\?\)"):
        mg.query_runs(limt=5)
    with pytest.raises(InputError, match="attempts_per_run must be a whole number"):
        mg.query_runs(attempts_per_run=-1)
    with pytest.raises(InputError, match=r"to find the text as written: search '\\\('"):
        mg.search("(")
    with pytest.raises(InputError, match="limit must be between 1 and 10000"):
        mg.search("x", limit=0)
    # a summary counts every call: its refusal of a page's limit names the read that takes one, which now exists
    with pytest.raises(InputError, match="query_runs"):
        mg.summarize(limit=5)
    assert callable(mg.query_runs)


def test_check_budget_reads_an_empty_skill_as_left_out_as_mcp_does(mg: Magsag):
    # MCP's check_budget {"skill": ""} left the skill out; Magsag.check_budget(skill="") was "unknown skill ''"
    status = mg.check_budget(skill="")
    assert status == mg.check_budget() and "call" not in status
    with pytest.raises(InputError, match="name the skill too"):
        mg.check_budget(skill="", model="gpt-4o")
