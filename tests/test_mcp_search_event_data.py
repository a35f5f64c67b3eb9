"""search_usage cuts a logged event's data whose JSON is long: an event an agent logged with a whole answer or prompt in
it (obs.log takes any JSON-like mapping, of any size) came back whole in each hit, fifty to a page by default, all of it
in the calling model's context. A cut one is its JSON's start, as text, with ``data_chars`` its whole length and a note
saying where it is read whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.search_hits import EVENT_DATA_CHARS
from tests.mcp_tools_helpers import CATALOG, ENV, Schemas

pytestmark = pytest.mark.anyio


async def test_a_long_events_data_is_cut_and_a_short_ones_is_whole(tmp_path: Path):
    from magsag_mcp.ledger import Ledger

    db = tmp_path / "ledger.db"
    long_data = {"model": "gpt-4o", "answer": "word " * 20_000}
    async with Ledger(db) as ledger:
        for i in range(5):
            await ledger.log_event(f"r-{i}", "writer", "answer_logged", long_data)
        await ledger.log_event("r-short", "writer", "answer_logged", {"model": "gpt-4o", "chars": 5})
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        schemas = Schemas((await client.list_tools()).tools)
        result = await client.call_tool("search_usage", {"pattern": "answer_logged"})
        page = schemas.check("search_usage", result)
    whole = json.dumps(long_data, ensure_ascii=False, separators=(",", ":"))
    short, *cut = page["hits"]  # newest first
    assert short["data"] == {"model": "gpt-4o", "chars": 5} and short["data_chars"] is None
    assert len(cut) == 5
    for hit in cut:
        assert hit["data"] == whole[:EVENT_DATA_CHARS] and hit["data_chars"] == len(whole)
    assert len(result.content[0].text) < 6 * EVENT_DATA_CHARS + 4000  # was five times 100 KB
    assert any(
        f"5 events' data longer than {EVENT_DATA_CHARS} characters" in note and "magsag data search" in note
        for note in page["notes"]
    ), page["notes"]
