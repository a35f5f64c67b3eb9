"""The MCP ledger tools give what the ledger computed: nothing of it lost on the way through the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parents[1] / "catalog"


def _missing(whole: Any, shown: Any, at: str = "") -> list[str]:
    """Where ``shown`` lacks or changes what ``whole`` holds (keys ``shown`` adds are fine)."""
    if isinstance(whole, dict):
        if not isinstance(shown, dict):
            return [at or "."]
        out = []
        for k, v in whole.items():
            out += _missing(v, shown[k], f"{at}.{k}") if k in shown else [f"{at}.{k}"]
        return out
    if isinstance(whole, list):
        if not isinstance(shown, list) or len(shown) != len(whole):
            return [at or "."]
        return [p for i, (w, s) in enumerate(zip(whole, shown, strict=True)) for p in _missing(w, s, f"{at}[{i}]")]
    return [] if whole == shown else [at]


async def test_summarize_usage_keeps_which_providers_served_each_model(tmp_path: Path):
    """model_stats merges a model's calls from every provider that served it (gpt-4o from openai and
    azure); the summary says which in each entry's providers, and flow gate checks provider-pinned
    allowed_models (azure:gpt-4o) by them. Before, the MCP tool's schema dropped the field: a summary
    saved from summarize_usage let the gate pass openai:gpt-4o under a policy allowing only azure:gpt-4o."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        for model in ("gpt-4o", "fail-overloaded"):
            args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": model}}
            await client.call_tool("invoke_skill", args)
        shown = (await client.call_tool("summarize_usage", {"filters": {}})).structured_content
    async with Ledger(db) as ledger:
        whole = json.loads(json.dumps(await ledger.summarize()))
    assert whole["model_stats"]["gpt-4o"]["providers"] == ["fake"]
    assert _missing(whole, shown) == []


async def test_query_runs_keeps_each_attempts_skill_and_agent(tmp_path: Path):
    """A run that called several skills (a session, a MAG under one run id) records no skill of its own:
    each attempt names its skill (and agent), as the CSV export shows them. Before, query_runs' schema
    dropped both from every attempt, so an MCP client could not tell which skill each call was for."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        for skill, payload in (("skill.analysis", {"data": "x"}), ("skill.summarization", {"text": "y"})):
            await client.call_tool("invoke_skill", {"skill_id": skill, "payload": payload, "run_id": "session"})
        shown = (await client.call_tool("query_runs", {"filters": {}})).structured_content
        hits = (await client.call_tool("search_usage", {"pattern": "fake", "limit": 10})).structured_content
    async with Ledger(db) as ledger:
        whole = json.loads(json.dumps(await ledger.query_runs_page({"limit": 20})))
        found = json.loads(json.dumps(await ledger.search_page("fake", 10)))
    [run] = whole["runs"]
    assert run["skill"] is None
    assert [a["skill"] for a in run["attempts"]] == ["skill.analysis", "skill.summarization"]
    assert _missing(whole, shown) == []
    assert _missing(found, {k: v for k, v in hits.items() if k != "pattern"}) == []


async def test_check_budget_says_when_the_run_it_was_asked_about_has_no_recorded_call(tmp_path: Path):
    """`magsag budget --run-id` says a run id with no recorded call is one to check (a typo reads as a whole
    budget left); check_budget computes that as run_recorded, and the MCP schema dropped it."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "r1"})
        known = (await client.call_tool("check_budget", {"run_id": "r1"})).structured_content
        typo = (await client.call_tool("check_budget", {"run_id": "rl"})).structured_content
    assert (known["run_recorded"], typo["run_recorded"]) == (True, False)


async def test_check_budget_says_when_the_agent_it_was_asked_about_has_no_recorded_run(tmp_path: Path):
    """A misspelled agent ("tesster") read as an agent with its whole daily limit left: check_budget says
    agent_recorded false, as run_recorded does for a run id, and `magsag budget --agent` notes it."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "tester"}
        await client.call_tool("invoke_skill", args)
        known = (await client.call_tool("check_budget", {"agent": "tester"})).structured_content
        typo = (await client.call_tool("check_budget", {"agent": "tesster"})).structured_content
        neither = (await client.call_tool("check_budget", {})).structured_content
    assert (known["agent_recorded"], typo["agent_recorded"]) == (True, False)
    assert neither.get("agent_recorded") is None


async def test_ledger_tools_say_what_a_filter_naming_nothing_recorded_may_have_meant(tmp_path: Path):
    """`flow summarize` and `data query` note on stderr a --model, --skill, --agent or --run-id the ledger never
    recorded; the MCP tools answered the same misspelling with a summary of nothing (or no runs) and not a word,
    which a model reads as "nothing was spent"."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "tester", "run_id": "r1"}
        await client.call_tool("invoke_skill", args)
        typo = {"model": "gpt4o", "agent": "tesster", "run_id": "rl", "skill": "skill.analysys"}
        summary = (await client.call_tool("summarize_usage", {"filters": typo})).structured_content
        page = (await client.call_tool("query_runs", {"filters": {"model": "gpt4o"}})).structured_content
        right = {"model": "gpt-4o", "agent": "tester", "run_id": "r1", "skill": "skill.analysis"}
        found = (await client.call_tool("summarize_usage", {"filters": right})).structured_content
        found_page = (await client.call_tool("query_runs", {"filters": right})).structured_content
    assert summary["notes"] == [
        "no run in this ledger was recorded for agent 'tesster' (did you mean 'tester'?); its agents: tester",
        "no run in this ledger has the id 'rl', nor was delegated from it; did you mean 'r1'? Otherwise check the "
        "id (the run_id a call returned, or `magsag run` printed)",
        "no call in this ledger was recorded for model 'gpt4o' (did you mean 'gpt-4o'?); its models: gpt-4o",
        "no call in this ledger was recorded for skill 'skill.analysys' (did you mean 'skill.analysis'?); "
        "its skills: skill.analysis",
    ]
    assert page["notes"] == [summary["notes"][2]] and page["runs"] == []
    assert found["notes"] == [] and found_page["notes"] == [] and found_page["runs"]


async def test_a_model_filter_is_told_the_model_it_nearly_is_by_the_one_rule_for_models(tmp_path: Path):
    """A model filter matching nothing was told any recorded name 60% alike: gpt-4o-mini, another model the ledger
    never recorded, was asked "did you mean 'gpt-4o'?" (a model's reader then reported gpt-4o's spend as
    gpt-4o-mini's), while GPT-4o, the same model in another case, was told nothing. A model filter now follows the
    rule a policy's refusal does (governance.model_patterns.nearest_model)."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        for model in ("gpt-4o", "claude-3-5-sonnet-20241022"):
            args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": f"fake:{model}"}}
            assert not (await client.call_tool("invoke_skill", args)).is_error

        async def note(model: str) -> str:
            summary = await client.call_tool("summarize_usage", {"filters": {"model": model}})
            (said,) = summary.structured_content["notes"]
            return said

        assert "(did you mean" not in await note("gpt-4o-mini")
        assert "'GPT-4o' (did you mean 'gpt-4o'?)" in await note("GPT-4o")
        assert "(did you mean 'claude-3-5-sonnet-20241022'?)" in await note("claude-3-5-sonnet")
        assert "'gpt4o' (did you mean 'gpt-4o'?)" in await note("gpt4o")


async def test_a_model_filter_longer_than_a_name_is_named_by_its_length_not_echoed_whole(tmp_path: Path):
    """The model filter's note quoted the value whole (repr), where every other filter's (agent, skill, provider)
    names one longer than a name by its length: a document or a key pasted as the model came back in the note, to
    an MCP client or a CI log, at any length."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    pasted = "gpt-4o " + "x" * 5000
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "fake:gpt-4o"}}
        assert not (await client.call_tool("invoke_skill", args)).is_error
        summary = await client.call_tool("summarize_usage", {"filters": {"model": pasted}})
        (said,) = summary.structured_content["notes"]
        page = await client.call_tool("query_runs", {"filters": {"model": pasted}})
    assert "x" * 600 not in said and f"recorded for model of {len(pasted):,} characters;" in said
    assert page.structured_content["notes"] == [said]


async def test_a_filter_longer_than_any_name_comes_back_in_period_filters_by_its_start_and_length(tmp_path: Path):
    """summarize_usage takes a filter of any length (it selects nothing, and a note says so by its length), but wrote
    it back whole in period.filters: a megabyte sent was a megabyte of the result."""
    from mcp.client import Client

    from magsag_mcp import Magsag
    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    huge = "ana" + "x" * 1_000_000
    filters = {"agent": huge, "model": huge, "skill": "skill.analysis"}
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        summary = (await client.call_tool("summarize_usage", {"filters": filters})).structured_content
    shown = "ana" + "x" * 37 + "... (1,000,003 characters)"
    assert summary["period"]["filters"] == {"agent": shown, "model": shown, "skill": "skill.analysis"}
    assert sum("1,000,003 characters" in note for note in summary["notes"]) == 2  # agent's and model's, said so
    assert len(json.dumps(summary)) < 20_000
    with Magsag(catalog=CATALOG, env={"MAGSAG_PROVIDER": "fake", "MAGSAG_DB": str(db)}) as mg:
        assert mg.summarize(agent=huge)["period"]["filters"] == {"agent": shown}  # as the Python API reports it
    # a model's name of the longest length taken comes back whole
    longest = "m" * 512
    with Magsag(catalog=CATALOG, env={"MAGSAG_PROVIDER": "fake", "MAGSAG_DB": str(db)}) as mg:
        assert mg.summarize(model=longest)["period"]["filters"] == {"model": longest}


async def test_every_filter_longer_than_a_name_is_said_in_the_notes_in_one_phrase(tmp_path: Path):
    """The notes said a model filter too long to quote was "a name of N characters", an agent, provider or skill
    "a key of N characters": one phrase now (text.of_length), after the filter's name, as the run id's is."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "ledger.db"
    pasted = "x" * 5000
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
        assert not (await client.call_tool("invoke_skill", args)).is_error
        for column in ("model", "provider", "skill", "agent"):
            summary = await client.call_tool("summarize_usage", {"filters": {column: pasted}})
            (said,) = summary.structured_content["notes"]
            assert f" recorded for {column} of 5,000 characters; its {column}s: " in said, said
        summary = await client.call_tool("summarize_usage", {"filters": {"run_id": pasted}})
        assert summary.structured_content["notes"][0].startswith("no run in this ledger has the id of 5,000 characters")
