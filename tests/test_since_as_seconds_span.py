"""A ``since`` given as a number of seconds (``86400`` for "the last day", ``-3600`` for "an hour ago") is read as
unix seconds: a time in 1970, before any call, so the read selected the whole ledger and said nothing. Now each read
that takes ``since`` notes it, with the unit-bearing span to give instead; a real time (unix seconds of this
century, an ISO date) is noted nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, Schemas

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
SPAN = "before any call recorded, so it selects the whole ledger; for a span back from now give it with its unit"


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


async def test_a_since_of_seconds_before_any_ledger_is_noted_with_the_span_to_give(client: Client, schemas: Schemas):
    call = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "span-agent"}
    schemas.check("invoke_skill", await client.call_tool("invoke_skill", call))
    for since in (86400, -3600, 1800.5):
        read = {"filters": {"since": since}}
        summary = schemas.check("summarize_usage", await client.call_tool("summarize_usage", read))
        assert summary["totals"]["calls"] == 1  # the whole ledger, as before: what it selected is unchanged
        note = f"since {since!r} reads as unix seconds, "
        assert [n for n in summary["notes"] if n.startswith(note) and SPAN in n], (since, summary["notes"])
        assert since != 86400 or "1970-01-02T00:00:00+00:00" in summary["notes"][0]
        runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"since": since}}))
        assert len(runs["runs"]) == 1 and any(SPAN in n for n in runs["notes"]), runs["notes"]
        hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "gpt", "since": since}))
        assert hits["hits"] and any(SPAN in n for n in hits["notes"]), hits["notes"]
    # a time of this century, as unix seconds or a date, and a span with its unit are what they say: no note
    for since in (1764460800, "2025-11-02", "24h"):
        read = {"filters": {"since": since}}
        summary = schemas.check("summarize_usage", await client.call_tool("summarize_usage", read))
        assert not any(SPAN in n for n in summary["notes"]), (since, summary["notes"])
        hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "gpt", "since": since}))
        assert hits["notes"] == [], (since, hits["notes"])


async def test_a_since_of_a_few_digits_as_text_is_told_why_it_is_no_time(client: Client):
    """``"0"`` or ``"86400"`` as text was refused with the forms a time takes alone, though unix seconds are one of
    them: text is read as unix seconds from nine digits on (fewer may be a date, 20251102). The refusal says so."""
    for since in ("0", "86400", "-3600"):
        result = await client.call_tool("summarize_usage", {"filters": {"since": since}})
        said = result.content[0].text
        assert result.is_error and said.startswith(f"input_error: filters.since={since!r} is not a time: "), said
        assert "unix seconds from nine digits on" in said and "86400 seconds is 1d" in said, said
