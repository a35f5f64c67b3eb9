"""`flow summarize --since DATE --until DATE --timezone ZONE` reads the dates as that zone's midnights: a user who
writes `--since 2025-12-01 --timezone Europe/Berlin` means Berlin's midnight, and the summary read UTC's. Checked
with a zone whose offset is not whole hours (Asia/Kathmandu, +05:45) and over the day Europe/Berlin's clocks go
forward (2025-03-30, 23 hours long), through the CLI and through the ledger's own summarize (which the CLI calls),
and through the MCP tool summarize_usage and Python's Magsag.summarize, which take the same `timezone` (before, they
took none: an MCP client or a script asking what a day in its zone cost got UTC days)."""

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
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord


def _at(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()


#: (zone, the day, calls as (run id, UTC time, cost)): the two calls inside the zone's day cost $0.2 and $0.8, the
#: one a few minutes before its first midnight $0.1, the one just after its second $0.4; the UTC day of the same date
#: holds other calls (reading the dates as UTC gave another sum)
DAYS = {
    # Kathmandu's 2025-12-01 runs from 2025-11-30T18:15Z to 2025-12-01T18:15Z
    "kathmandu": (
        "Asia/Kathmandu",
        ("2025-12-01", "2025-12-02"),
        [
            ("before", _at(2025, 11, 30, 18, 10), "0.1"),
            ("first", _at(2025, 11, 30, 18, 20), "0.2"),
            ("last", _at(2025, 12, 1, 18, 10), "0.8"),
            ("after", _at(2025, 12, 1, 18, 20), "0.4"),
        ],
    ),
    # Berlin's 2025-03-30 begins at 00:00 CET (+01:00, 2025-03-29T23:00Z) and ends at 00:00 CEST (+02:00,
    # 2025-03-30T22:00Z): an offset read once for the day would misplace one of its ends by an hour
    "berlin_clocks_forward": (
        "Europe/Berlin",
        ("2025-03-30", "2025-03-31"),
        [
            ("before", _at(2025, 3, 29, 22, 55), "0.1"),
            ("first", _at(2025, 3, 29, 23, 5), "0.2"),
            ("last", _at(2025, 3, 30, 21, 55), "0.8"),
            ("after", _at(2025, 3, 30, 22, 5), "0.4"),
        ],
    ),
}


def _record(db: Path, calls: list[tuple[str, float, str]]) -> None:
    async def go() -> None:
        async with Ledger(db) as ledger:
            for run_id, at, cost in calls:
                att = AttemptRecord(run_id, at, "openai", "gpt-4o", None, "ana", "ok", 0, 1, cost_usd=Decimal(cost))
                await ledger.record_call(RunRecord(run_id, "ana", None, at, ended_at=at + 1, status="ok"), [att])

    asyncio.run(go())


def _cli_summary(tmp_path: Path, capsys: Any, *args: str) -> dict[str, Any]:
    out = tmp_path / "summary.json"
    code = main(["flow", "summarize", "--db", str(tmp_path / "l.db"), *args, "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", sorted(DAYS))
def test_cli_dates_with_a_timezone_are_that_zones_midnights(tmp_path: Path, capsys: Any, case: str):
    zone, (since, until), calls = DAYS[case]
    _record(tmp_path / "l.db", calls)
    summary = _cli_summary(tmp_path, capsys, "--since", since, "--until", until, "--timezone", zone)
    assert summary["totals"]["known_cost_usd"] == "1"
    assert summary["totals"]["calls"] == 2
    assert summary["largest_day"]["date"] == since and summary["largest_day"]["known_cost_usd"] == "1"
    # the instants read, with the offset each has on its own day, so that a later reader (flow gate) reads them too
    expected = {
        "Asia/Kathmandu": {"since": "2025-12-01T00:00:00+05:45", "until": "2025-12-02T00:00:00+05:45"},
        "Europe/Berlin": {"since": "2025-03-30T00:00:00+01:00", "until": "2025-03-31T00:00:00+02:00"},
    }[zone]
    assert summary["period"]["filters"] == expected
    assert summary["period"]["timezone"] == zone
    # the same dates without a zone are UTC days, as before
    utc = _cli_summary(tmp_path, capsys, "--since", since, "--until", until)
    assert utc["period"]["filters"] == {"since": since, "until": until}
    assert utc["totals"]["known_cost_usd"] != "1"


@pytest.mark.parametrize("case", sorted(DAYS))
def test_ledger_summarize_reads_dates_in_its_timezone_given_filters_as_a_dict_or_built(tmp_path: Path, case: str):
    zone, (since, until), calls = DAYS[case]
    _record(tmp_path / "l.db", calls)

    async def go() -> list[dict[str, Any]]:
        async with Ledger(tmp_path / "l.db") as ledger:
            built = UsageFilters.build({"since": since, "until": until}, paged=False)
            return [
                await ledger.summarize({"since": since, "until": until}, zone),
                await ledger.summarize(built, zone),
            ]

    for summary in asyncio.run(go()):
        assert summary["totals"]["known_cost_usd"] == "1"
        assert summary["largest_day"]["date"] == since


def test_full_timestamps_and_durations_are_kept_as_written(tmp_path: Path, capsys: Any):
    _record(tmp_path / "l.db", DAYS["kathmandu"][2])
    since, until = "2025-11-30T18:15:00Z", "2025-12-01T18:15:00+00:00"
    summary = _cli_summary(tmp_path, capsys, "--since", since, "--until", until, "--timezone", "Asia/Kathmandu")
    assert summary["period"]["filters"] == {"since": since, "until": until}
    assert summary["totals"]["known_cost_usd"] == "1"
    filters = UsageFilters.build({"since": "1764460800", "until": "24h"}, zone="Asia/Kathmandu")
    assert (filters.since, filters.until) == ("1764460800", "24h")


def test_a_gate_on_a_summary_of_zone_dates_checks_whole_days_of_the_zone(tmp_path: Path, capsys: Any):
    """Before, `--since 2025-03-30 --timezone Europe/Berlin` began an hour into Berlin's day, and the gate said the
    window held only part of it; now the window is that whole day."""
    zone, (since, until), calls = DAYS["berlin_clocks_forward"]
    _record(tmp_path / "l.db", calls)
    summary = _cli_summary(tmp_path, capsys, "--since", since, "--until", until, "--timezone", zone)
    path, policy = tmp_path / "gated.json", tmp_path / "policy.yaml"
    path.write_text(json.dumps(summary))
    policy.write_text(
        "policies:\n  - name: berlin\n    timezone: Europe/Berlin\n    thresholds: {max_cost_per_day_usd: 0.9}\n"
    )
    assert main(["flow", "gate", str(path), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL berlin: 2025-03-30 (Europe/Berlin) cost $1 exceeds max_cost_per_day_usd $0.9" in out
    assert "NOTE" not in out


def test_a_window_in_order_only_in_the_zone_is_read_in_the_zone():
    # 2025-12-02 in Kathmandu is 2025-12-01T18:15Z, before 23:00Z: a window; as a UTC midnight it was none
    filters = UsageFilters.build({"since": "2025-12-02", "until": "2025-12-01T23:00Z"}, zone="Asia/Kathmandu")
    assert filters.since == "2025-12-02T00:00:00+05:45"
    # and one in order as UTC but not in the zone is refused, built or being built
    with pytest.raises(InputError, match="is not before"):
        UsageFilters.build({"since": "2025-12-02", "until": "2025-12-02T03:00Z"}, zone="America/New_York")
    built = UsageFilters.build({"since": "2025-12-02", "until": "2025-12-02T03:00Z"})
    with pytest.raises(InputError, match="is not before"):
        built.in_zone("America/New_York")


def test_docs_cli_says_dates_with_a_timezone_are_its_midnights():
    from tests.docs_helpers import doc

    text = " ".join(doc("cli.md").split())
    # it said "a date alone is a UTC midnight, with `flow summarize --timezone` too"
    assert "with `flow summarize --timezone` too" not in text
    assert (
        "but with `flow summarize --timezone ZONE` a date or time without an offset is ZONE's (`--since 2025-11-01 "
        "--until 2025-11-02 --timezone Europe/Berlin` is Berlin's 1st of November, from `2025-11-01T00:00:00+01:00`"
    ) in text
    assert UsageFilters.build({"since": "2025-11-01"}, zone="Europe/Berlin").since == "2025-11-01T00:00:00+01:00"


CATALOG = Path(__file__).resolve().parent.parent / "catalog"
BAD_ZONE = "unknown time zone 'Mars/Base'; use an IANA name such as 'UTC' or 'Europe/Berlin'"


def _same_days_as_the_cli(summary: dict[str, Any], zone: str, since: str) -> None:
    assert summary["totals"]["known_cost_usd"] == "1" and summary["totals"]["calls"] == 2
    assert summary["largest_day"]["date"] == since and summary["largest_day"]["known_cost_usd"] == "1"
    assert summary["period"]["timezone"] == zone


@pytest.mark.parametrize("case", sorted(DAYS))
def test_the_mcp_tool_reads_days_in_its_timezone_as_the_cli_does(tmp_path: Path, capsys: Any, case: str):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    zone, (since, until), calls = DAYS[case]
    _record(tmp_path / "l.db", calls)
    cli = _cli_summary(tmp_path, capsys, "--since", since, "--until", until, "--timezone", zone)
    window = {"since": since, "until": until}

    async def tool_calls() -> list[Any]:
        server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
        async with Client(server) as client:
            return [
                await client.call_tool("summarize_usage", {"filters": {**window, "agent": "anna"}, "timezone": zone}),
                await client.call_tool("summarize_usage", {"filters": window, "timezone": zone}),
                await client.call_tool("summarize_usage", {"filters": window}),
                await client.call_tool("summarize_usage", {"filters": window, "timezone": ""}),  # a client's "none"
                await client.call_tool("summarize_usage", {"timezone": "Mars/Base"}),
            ]

    typo, zoned, utc, empty, bad = anyio.run(tool_calls)
    # the agent nearly named: the note reads the same zoned window as the summary
    assert not typo.is_error and any("'ana'" in note for note in typo.structured_content["notes"]), typo
    assert not zoned.is_error, zoned
    _same_days_as_the_cli(zoned.structured_content, zone, since)
    assert zoned.structured_content["period"]["filters"] == cli["period"]["filters"]
    # none given: UTC days, as before
    assert (
        utc.structured_content["totals"]["known_cost_usd"] != "1"
        and utc.structured_content["period"]["timezone"] == "UTC"
    )
    assert empty.structured_content["period"] == utc.structured_content["period"]
    assert bad.is_error and BAD_ZONE in bad.structured_content["error"]["message"]
    # the CLI's words for the same zone
    assert main(["flow", "summarize", "--db", str(tmp_path / "l.db"), "--timezone", "Mars/Base"]) != 0
    said = capsys.readouterr()
    assert BAD_ZONE in said.out + said.err


@pytest.mark.parametrize("case", sorted(DAYS))
def test_python_summarize_reads_days_in_its_timezone_as_the_cli_does(tmp_path: Path, case: str):
    from magsag_mcp import Magsag

    zone, (since, until), calls = DAYS[case]
    _record(tmp_path / "l.db", calls)
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        _same_days_as_the_cli(mg.summarize(since=since, until=until, timezone=zone), zone, since)
        assert mg.summarize(since=since, until=until)["totals"]["known_cost_usd"] != "1"  # none given: UTC days
        with pytest.raises(InputError, match=BAD_ZONE.replace("(", r"\(")):
            mg.summarize(timezone="Mars/Base")

        async def in_async_code() -> dict[str, Any]:
            return dict(await mg.asummarize(since=since, until=until, timezone=zone))

        _same_days_as_the_cli(asyncio.run(in_async_code()), zone, since)
