"""`magsag data query --since DATE --until DATE --timezone ZONE` reads the dates as that zone's midnights, as `flow
summarize` and `flow daily` read theirs: an operator reconciling a month's (or a day's) `flow daily --timezone
Europe/Berlin` with the attempts that make it up exports them with the same window. Before, `data query` took no
--timezone (exit 2, "unrecognized arguments"), and its dates were UTC's: the window had to be written with offsets,
which differ at its two ends across a clock change (October in Berlin: +02:00 at its start, +01:00 at its end), so
one offset written for both moved an end by an hour. Checked over the day Berlin's clocks go back (2026-10-25, 25
hours long), with calls a second inside and outside each of its midnights."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.mcp_tools_helpers import CATALOG, error_of


def _at(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()


#: Berlin's 2026-10-25 runs from 00:00 CEST (2026-10-24T22:00Z) to 00:00 CET (2026-10-25T23:00Z)
CALLS = [
    ("before", _at(2026, 10, 24, 21, 59, 59)),
    ("first", _at(2026, 10, 24, 22, 0, 0)),
    ("twice-0230-summer", _at(2026, 10, 25, 0, 30)),  # 02:30 CEST
    ("twice-0230-winter", _at(2026, 10, 25, 1, 30)),  # 02:30 CET, the hour the day lives twice
    ("last", _at(2026, 10, 25, 22, 59, 59)),
    ("after", _at(2026, 10, 25, 23, 0, 0)),
]
INSIDE = ["last", "twice-0230-winter", "twice-0230-summer", "first"]  # newest first
WINDOW = ["--since", "2026-10-25", "--until", "2026-10-26", "--timezone", "Europe/Berlin"]


def _ledger(tmp_path: Path) -> Path:
    db = tmp_path / "l.db"

    async def go() -> None:
        async with Ledger(db) as ledger:
            for run_id, at in CALLS:
                att = AttemptRecord(run_id, at, "openai", "gpt-4o", None, "ana", "ok", 0, 1, cost_usd=Decimal("0.1"))
                await ledger.record_call(RunRecord(run_id, "ana", None, at, ended_at=at + 1, status="ok"), [att])

    asyncio.run(go())
    return db


def _query(db: Path, capsys: Any, *args: str) -> tuple[str, str]:
    code = main(["data", "query", "--db", str(db), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_csv_export_of_a_zones_day_across_the_clock_change(tmp_path: Path, capsys: Any):
    db = _ledger(tmp_path)
    out, _ = _query(db, capsys, "--format", "csv", *WINDOW)
    assert [row["run_id"] for row in csv.DictReader(io.StringIO(out))] == INSIDE


def test_json_export_and_table_take_the_zone_too(tmp_path: Path, capsys: Any):
    db = _ledger(tmp_path)
    out, _ = _query(db, capsys, "--format", "json", *WINDOW)
    assert [run["run_id"] for run in json.loads(out)] == INSIDE
    out, _ = _query(db, capsys, *WINDOW)
    listed = [line.split()[1] for line in out.splitlines()[1:]]
    assert listed == INSIDE


def test_a_page_cut_at_limit_names_filters_that_read_on_without_the_zone(tmp_path: Path, capsys: Any):
    """The note's filters are the window as read (with the zone's offsets): given again with the --cursor, with or
    without --timezone, they are the same filters, and the next page holds the rest of the day's runs."""
    db = _ledger(tmp_path)
    out, err = _query(db, capsys, "--format", "csv", "--limit", "3", *WINDOW)
    assert [row["run_id"] for row in csv.DictReader(io.StringIO(out))] == INSIDE[:3]
    note = err.split("--cursor ", 1)[1]
    cursor = note.split()[0].rstrip(";")
    assert "--since 2026-10-25T00:00:00+02:00" in note and "--until 2026-10-26T00:00:00+01:00" in note
    since, until = "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"
    for zone in ([], ["--timezone", "Europe/Berlin"]):
        out, _ = _query(db, capsys, "--format", "csv", "--cursor", cursor, "--since", since, "--until", until, *zone)
        assert [row["run_id"] for row in csv.DictReader(io.StringIO(out))] == INSIDE[3:]


def test_an_unknown_zone_is_refused_as_the_flag(tmp_path: Path, capsys: Any):
    db = _ledger(tmp_path)
    code = main(["data", "query", "--db", str(db), "--since", "2026-10-25", "--timezone", "europe/berlin"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--timezone" in err and "Europe/Berlin" in err


def _query_runs(db: Path, arguments: dict[str, Any]) -> Any:
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    async def go() -> Any:
        async with Client(build_server(catalog=CATALOG, db=db, env={})) as client:
            return await client.call_tool("query_runs", arguments)

    return asyncio.run(go())


def test_the_query_runs_tool_takes_the_zone_as_the_command_does(tmp_path: Path):
    """query_runs took no timezone where summarize_usage and daily_usage do (its arguments refuse unknown fields): a
    client listing the runs behind a Berlin day of daily_usage had to write both ends' offsets itself."""
    db = _ledger(tmp_path)
    window = {"since": "2026-10-25", "until": "2026-10-26"}
    page = _query_runs(db, {"filters": window, "timezone": "Europe/Berlin", "limit": 3}).structured_content
    assert [run["run_id"] for run in page["runs"]] == INSIDE[:3] and page["has_more"]
    offsets = {"since": "2026-10-25T00:00:00+02:00", "until": "2026-10-26T00:00:00+01:00"}
    for zone in ({}, {"timezone": "Europe/Berlin"}):  # its cursor reads on with the window as read, as the CLI's
        rest = _query_runs(db, {"filters": offsets, "cursor": page["next_cursor"], **zone}).structured_content
        assert [run["run_id"] for run in rest["runs"]] == INSIDE[3:]
    err = error_of(_query_runs(db, {"filters": window, "timezone": "europe/berlin"}))
    assert err["type"] == "input_error" and "timezone" in err["message"] and "Europe/Berlin" in err["message"]


def test_a_refused_time_under_a_zone_says_dates_are_that_zones(tmp_path: Path, capsys: Any):
    """A --since that is no time, given with --timezone, was told the forms a time takes as "an ISO date or time
    (...; UTC unless it gives an offset)": under --timezone Europe/Berlin a date is Berlin's, and a user told UTC
    would write the offset by hand, or a UTC date, an hour or two off Berlin's day."""
    db = _ledger(tmp_path)
    for flag, value in (("--since", "2026-10-32"), ("--until", "25.10.2026"), ("--since", "yesterday")):
        code = main(["data", "query", "--db", str(db), flag, value, "--timezone", "Europe/Berlin"])
        err = json.loads(capsys.readouterr().err)["error"]["message"]
        assert code == 2 and f"{flag}='{value}' is not a time" in err
        assert "UTC" not in err and "Europe/Berlin's unless it gives an offset" in err, err
    code = main(["data", "query", "--db", str(db), "--since", "2026-10-32"])  # without a zone, dates are UTC's
    assert code == 2 and "UTC unless it gives an offset" in capsys.readouterr().err
