"""The daily report (each agent's spend on each day, in a zone's days) for an MCP client (the ``daily_usage`` tool) and
a script (``Magsag.daily`` / ``adaily``): before, only ``magsag flow daily`` gave it, so a client asking what each
agent spent each day last week, or a script putting a month's report into a spreadsheet, had to run the CLI. The
figures are the CLI's for the same ledger and zone: over Berlin's 23-hour day (clocks forward), with an attempt of
no known price (its day's at_most_usd null, never 0, and a note), paged by a cursor."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
BAD_ZONE = "unknown time zone 'Mars/Base'; use an IANA name such as 'UTC' or 'Europe/Berlin'"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


#: (run, agent, UTC time, model, cost: None for no known price). Berlin's 2025-03-30 runs from 2025-03-29T23:00Z
#: to 2025-03-30T22:00Z (clocks go forward: 23 hours); its first and last calls are inside it, the ones a few minutes
#: either side are not
CALLS = [
    ("r1", "ana", "2025-03-29T22:55:00", "gpt-4o", Decimal("0.1")),
    ("r2", "ana", "2025-03-29T23:05:00", "gpt-4o", Decimal("0.2")),
    ("r3", "ana", "2025-03-30T21:55:00", "gpt-4o", Decimal("0.8")),
    ("r4", "ana", "2025-03-30T22:05:00", "gpt-4o", Decimal("0.4")),
    ("r5", "bo7", "2025-03-30T12:00:00", "gpt-4o", Decimal("0.125")),
    ("r6", "bo7", "2025-03-30T13:00:00", "mystery-7b", None),  # no known price
    ("r7", "cy3", "2025-03-31T09:00:00", "gpt-4o", Decimal("1")),
]


def _fill(db: Path) -> None:
    async def fill() -> None:
        async with Ledger(db) as ledger:
            for run_id, agent, when, model, cost in CALLS:
                at = _at(when)
                attempt = AttemptRecord(run_id, at, "openai", model, "s", agent, "ok", 0, 1, cost_usd=cost)
                await ledger.record_call(RunRecord(run_id, agent, "s", at), [attempt])

    anyio.run(fill)


def _cli_days(db: Path, capsys: Any, *args: str) -> list[dict[str, Any]]:
    assert main(["flow", "daily", "--db", str(db), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


async def _tool(db: Path, *calls: dict[str, Any]) -> list[Any]:
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    server = build_server(catalog=CATALOG, db=db, env=ENV)
    async with Client(server) as client:
        return [await client.call_tool("daily_usage", arguments) for arguments in calls]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Kathmandu", None])
def test_the_tool_and_python_give_flow_daily_s_rows_for_the_same_ledger_and_zone(
    tmp_path: Path, capsys: Any, zone: str | None
):
    from magsag_mcp import Magsag

    db = tmp_path / "l.db"
    _fill(db)
    zoned = ["--timezone", zone] if zone else []
    cli = _cli_days(db, capsys, *zoned)
    assert len(cli) >= 4
    (tool,) = anyio.run(_tool, db, {"timezone": zone} if zone else {})
    assert not tool.is_error, tool
    read = tool.structured_content
    assert read["days"] == cli and read["has_more"] is False and read["next_cursor"] is None
    assert read["timezone"] == (zone or "UTC")
    with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        page = mg.daily(timezone=zone)
        assert page["days"] == cli and page["timezone"] == (zone or "UTC")

        async def in_async_code() -> dict[str, Any]:
            return dict(await mg.adaily(timezone=zone))

        assert asyncio.run(in_async_code())["days"] == cli


def test_berlin_s_23_hour_day_and_a_day_of_no_known_price(tmp_path: Path, capsys: Any):
    from magsag_mcp import Magsag

    db = tmp_path / "l.db"
    _fill(db)
    window = {"since": "2025-03-30", "until": "2025-03-31"}
    calls = anyio.run(
        _tool,
        db,
        {"filters": window, "timezone": "Europe/Berlin"},
        {"filters": {**window, "agent": "anna"}, "timezone": "Europe/Berlin"},
        {"timezone": "Mars/Base"},
        {"filters": window, "timezone": ""},  # a client's "none": UTC days
    )
    berlin, typo, bad, utc = (call.structured_content for call in calls)
    # Berlin's day holds ana's two calls inside it ($0.2 + $0.8), not the ones minutes outside it
    assert [(r["date"], r["agent"], r["known_cost_usd"], r["at_most_usd"]) for r in berlin["days"]] == [
        ("2025-03-30", "ana", "1", "1"),
        ("2025-03-30", "bo7", "0.125", None),  # an attempt of no known price: null, never the known part alone
    ]
    assert berlin["days"][1]["unbounded_attempts"] == 1
    assert any("1 agent-day holds an attempt of no known price" in note for note in berlin["notes"]), berlin
    cli = _cli_days(db, capsys, "--since", "2025-03-30", "--until", "2025-03-31", "--timezone", "Europe/Berlin")
    assert berlin["days"] == cli
    # no zone: UTC's 2025-03-30 holds ana's 0.8 and 0.4 calls (the 0.2 one, at 23:05Z, was the 29th)
    assert utc["timezone"] == "UTC" and utc["days"][0]["known_cost_usd"] == "1.2"
    # a mistyped agent: what it may have meant, as summarize_usage's notes say it
    assert typo["days"] == [] and any("'ana'" in note for note in typo["notes"]), typo
    assert calls[2].is_error and BAD_ZONE in bad["error"]["message"]
    with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        assert mg.daily(since="2025-03-30", until="2025-03-31", timezone="Europe/Berlin")["days"] == berlin["days"]
        with pytest.raises(InputError, match=BAD_ZONE.replace("(", r"\(")):
            mg.daily(timezone="Mars/Base")


def test_pages_follow_each_other_by_the_cursor_and_a_bad_cursor_or_limit_is_refused(tmp_path: Path):
    from magsag_mcp import Magsag

    db = tmp_path / "l.db"
    _fill(db)
    with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        whole = mg.daily(timezone="Europe/Berlin")["days"]
        first = mg.daily(timezone="Europe/Berlin", limit=2)
        assert first["days"] == whole[:2] and first["has_more"] is True and first["next_cursor"]
        rest = mg.daily(timezone="Europe/Berlin", limit=100, cursor=first["next_cursor"])
        assert rest["days"] == whole[2:] and rest["has_more"] is False and rest["next_cursor"] is None
        with pytest.raises(InputError, match="is not a next_cursor of the daily report's pages"):
            mg.daily(cursor="bm90LWEtY3Vyc29y")
        with pytest.raises(InputError, match="limit must be a whole number of rows from 1 to 10000"):
            mg.daily(limit=0)
        runs_cursor = mg.query_runs(limit=1)["next_cursor"]
        with pytest.raises(InputError, match="is not a next_cursor of the daily report's pages"):
            mg.daily(cursor=runs_cursor)
    pages = anyio.run(_tool, db, {"limit": 3}, {"limit": 0})
    assert pages[0].structured_content["has_more"] is True and len(pages[0].structured_content["days"]) == 3
    assert pages[1].is_error and pages[1].structured_content["error"]["type"] == "invalid_arguments"
    (after,) = anyio.run(_tool, db, {"limit": 3, "cursor": pages[0].structured_content["next_cursor"]})
    together = pages[0].structured_content["days"] + after.structured_content["days"]
    with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        assert together == mg.daily()["days"]


def test_a_python_callers_bad_cursor_is_not_told_of_an_mcp_tool(tmp_path: Path):
    # mg.daily(cursor=...) was told "is not one daily_usage gave", mg.search's "search_usage": tools a script never
    # called. The refusal names the report and the keyword (the tool's argument alike), and the fix.
    from magsag_mcp import Magsag

    db = tmp_path / "l.db"
    _fill(db)
    with Magsag(catalog=CATALOG, db=db, env=ENV) as mg:
        with pytest.raises(InputError) as daily:
            mg.daily(cursor="bm90LWEtY3Vyc29y")
        with pytest.raises(InputError) as search:
            mg.search("x", cursor="bm90LWEtY3Vyc29y")
    for refused in (daily.value.message, search.value.message):
        assert "daily_usage" not in refused and "search_usage" not in refused, refused
        assert refused.startswith("cursor 'bm90LWEtY3Vyc29y' is not a next_cursor of "), refused
        assert "leave cursor out" in refused
