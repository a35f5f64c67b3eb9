"""summarize_usage lists the costliest ``top`` entries of each per-key map and counts the rest: a ledger of 200
agents (a sub-agent each) answered with 109 KB of JSON, every agent's stats, all of it in the calling model's context
window, with no word that it could be smaller."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, ENV, Schemas, error_of

pytestmark = pytest.mark.anyio


def _call(agent: str, model: str = "fake:good") -> dict[str, object]:
    return {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": agent, "model_config": {"model": model}}


@pytest.mark.usefixtures("fake_scripts")
async def test_many_agents_are_cut_to_the_default_top_with_the_rest_counted_and_said(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        schemas = Schemas((await client.list_tools()).tools)
        for i in range(23):
            assert not (await client.call_tool("invoke_skill", _call(f"sub-agent-{i:02d}"))).is_error
        summary = schemas.check("summarize_usage", await client.call_tool("summarize_usage", {}))
        assert len(summary["by_agent"]) == 20
        assert summary["omitted"] == {"by_agent": 3}
        assert summary["totals"]["calls"] == 23  # the totals count every call, those left out too
        # equal costs and calls: by name, so a page is the same each time it is asked for
        assert list(summary["by_agent"]) == [f"sub-agent-{i:02d}" for i in range(20)]
        assert summary["notes"] == [
            "by_agent lists the 20 costliest agents (known cost plus the bound on unknown costs, then calls) of the 23 "
            "agents the filters matched; the other 3 (omitted.by_agent) are counted in totals: name one with "
            "filters.agent, or raise top (at most 10000), to see them"
        ]
        whole = schemas.check("summarize_usage", await client.call_tool("summarize_usage", {"top": 23}))
        assert len(whole["by_agent"]) == 23 and whole["omitted"] == {} and whole["notes"] == []
        refused = error_of(await client.call_tool("summarize_usage", {"top": 0}))
        assert refused["type"] == "invalid_arguments" and "top" in refused["message"]


async def test_the_entries_kept_are_the_costliest(fake_openai: FakeOpenAI, db: Path):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, "MAGSAG_MAX_RETRIES": "0"}
    spent = {"cheap": 10, "dear": 100_000, "middling": 1000}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        schemas = Schemas((await client.list_tools()).tools)
        for agent, output_tokens in spent.items():
            fake_openai.queue(R.Reply(text="fine", usage=R.tokens(100, output_tokens)))
            assert not (await client.call_tool("invoke_skill", _call(agent, "openai:gpt-4o"))).is_error
        summary = schemas.check("summarize_usage", await client.call_tool("summarize_usage", {"top": 2}))
        assert list(summary["by_agent"]) == ["dear", "middling"]  # costliest first
        assert summary["omitted"] == {"by_agent": 1}
        kept = sum(Decimal(s["known_cost_usd"]) for s in summary["by_agent"].values())
        assert Decimal(summary["totals"]["known_cost_usd"]) > kept  # cheap's cost is still in the totals
        assert len(summary["model_stats"]) == 1 and "model_stats" not in summary["omitted"]


@pytest.mark.usefixtures("fake_scripts")
async def test_the_python_api_takes_top_as_the_tool_does(db: Path):
    # mg.summarize(top=5) was refused as an unknown filter ("top"), though summarize_usage takes it: the service cuts
    # the summary for both, so the library's answer is the tool's for the same arguments
    from magsag_mcp import Magsag
    from magsag_mcp.errors import InputError

    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        for i in range(4):
            assert not (await client.call_tool("invoke_skill", _call(f"sub-agent-{i:02d}"))).is_error
        tool = (await client.call_tool("summarize_usage", {"top": 2})).structured_content
    async with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        cut = await mg.asummarize(top=2)
        whole = await mg.asummarize()
        with pytest.raises(InputError) as refused:
            await mg.asummarize(top=0)
    assert list(cut["by_agent"]) == list(tool["by_agent"]) == ["sub-agent-00", "sub-agent-01"]
    assert cut["omitted"] == tool["omitted"] == {"by_agent": 2} and cut["notes"] == tool["notes"]
    assert len(whole["by_agent"]) == 4 and "omitted" not in whole  # left out: the whole summary, as before
    assert refused.value.message == (
        "top must be a whole number of entries from 1 to 10000 (e.g. 20), the most each of model_stats, by_provider, "
        "by_agent and by_skill lists, or left out for all of them; not 0"
    )
