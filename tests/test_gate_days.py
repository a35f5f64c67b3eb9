"""`flow summarize --timezone ZONE` writes its costliest days in a policy's zone, so that `flow gate` checks the
day limits of a policy with a ``timezone`` on the days its budget counts, not on UTC days."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

NOV_1 = 1_761_955_200.0  # 2025-11-01T00:00:00Z
BERLIN = (
    "policies:\n  - name: berlin\n    timezone: Europe/Berlin\n"
    "    thresholds: {max_cost_per_day_usd: 1.0, max_cost_per_agent_daily_usd: 1.0}\n"
)


def _record(db: Path, calls: list[tuple[str, float, str]]) -> None:
    async def go() -> None:
        async with Ledger(db) as ledger:
            for run_id, at, cost in calls:
                att = AttemptRecord(run_id, at, "openai", "gpt-4o", None, "ana", "ok", 0, 1, cost_usd=Decimal(cost))
                await ledger.record_call(RunRecord(run_id, "ana", None, at, ended_at=at + 1, status="ok"), [att])

    asyncio.run(go())


def _summarize(tmp_path: Path, capsys, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    out = tmp_path / "summary.json"
    code = main(["flow", "summarize", "--db", str(tmp_path / "l.db"), *args, "--output", str(out)])
    err = capsys.readouterr().err
    return code, (json.loads(out.read_text()) if code == 0 else None), err


def _gate(tmp_path: Path, capsys, summary: dict[str, Any], policy: str = BERLIN) -> tuple[int, str]:
    path, pol = tmp_path / "gated.json", tmp_path / "policy.yaml"
    path.write_text(json.dumps(summary))
    pol.write_text(policy)
    capsys.readouterr()
    code = main(["flow", "gate", str(path), "--policy", str(pol)])
    return code, capsys.readouterr().out


def test_a_berlin_day_over_its_limit_fails_on_a_summary_of_berlin_days(tmp_path: Path, capsys):
    """$0.60 at 00:30 in Berlin (23:30 UTC the day before) and $0.60 at 11:00 in Berlin: $1.20 on one Berlin day,
    over its $1 limit, but $0.60 on each of two UTC days. Before, the gate could only check UTC days and passed it
    (a NOTE said the days differ, with no way to check the policy's); now the summary is written in its zone."""
    _record(tmp_path / "l.db", [("late", NOV_1 + 86400 - 1800, "0.6"), ("day", NOV_1 + 86400 + 36000, "0.6")])
    code, utc, _ = _summarize(tmp_path, capsys)
    assert code == 0 and utc is not None and utc["period"]["timezone"] == "UTC"
    assert utc["largest_day"]["at_most_usd"] == "0.6"
    code, out = _gate(tmp_path, capsys, utc)
    assert code == 0
    assert (
        "NOTE berlin: the summary's days are UTC days; the policy's budget counts days in Europe/Berlin, so its day "
        "limits were checked on other days than its own; write the summary with `magsag flow summarize --timezone "
        "Europe/Berlin` to check them on its days"
    ) in out
    code, berlin, _ = _summarize(tmp_path, capsys, "--timezone", "Europe/Berlin")
    assert code == 0 and berlin is not None and berlin["period"]["timezone"] == "Europe/Berlin"
    assert berlin["largest_day"] == {
        "date": "2025-11-02",
        "known_cost_usd": "1.2",
        "unknown_cost_bound_usd": "0",
        "at_most_usd": "1.2",
        "unbounded_attempts": 0,
    }
    assert berlin["by_agent"]["ana"]["largest_day"]["at_most_usd"] == "1.2"
    code, out = _gate(tmp_path, capsys, berlin)
    assert code == 1
    assert "FAIL berlin: 2025-11-02 (Europe/Berlin) cost $1.2 exceeds max_cost_per_day_usd $1.0" in out
    assert "FAIL berlin: agent 'ana' on 2025-11-02 (Europe/Berlin) cost $1.2 exceeds" in out
    assert "NOTE" not in out
    # the same summary under a UTC policy says its days are not the policy's
    code, out = _gate(tmp_path, capsys, berlin, BERLIN.replace("Europe/Berlin", "UTC"))
    assert "NOTE berlin: the summary's days are Europe/Berlin days; the policy's budget counts days in UTC" in out


def test_a_berlin_summary_whose_window_cuts_a_berlin_day_says_so_and_how_to_give_whole_days(tmp_path: Path, capsys):
    # (a UTC midnight: a date alone given with --timezone is now that zone's midnight, test_summary_zone_dates)
    _record(tmp_path / "l.db", [("r", NOV_1 + 36000, "0.1")])
    since = "2025-11-01T00:00:00Z"
    code, summary, _ = _summarize(tmp_path, capsys, "--timezone", "Europe/Berlin", "--since", since)
    assert code == 0 and summary is not None
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 0
    assert (
        "NOTE berlin: this summary's window (since='2025-11-01T00:00:00Z') starts inside a Europe/Berlin day, and "
        "holds only the part of that day within it: max_cost_per_day_usd and max_cost_per_agent_daily_usd were "
        "checked against that part, not the whole day; to check whole days, give --since and --until as dates (e.g. "
        "--since 2025-11-01 --until 2025-11-02) with `magsag flow summarize --timezone Europe/Berlin`, or as "
        "midnights in Europe/Berlin with its UTC offset (e.g. --since 2025-11-01T00:00:00+01:00)"
    ) in out
    for since in ("2025-11-01T00:00:00+01:00", "2025-11-01"):
        code, summary, _ = _summarize(tmp_path, capsys, "--timezone", "Europe/Berlin", "--since", since)
        assert code == 0 and summary is not None
        assert _gate(tmp_path, capsys, summary) == (0, "gate: pass\n")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CET+1"])
def test_an_unknown_time_zone_is_bad_input_naming_it(tmp_path: Path, capsys, zone):
    _record(tmp_path / "l.db", [("r", NOV_1, "0.1")])
    code, _, err = _summarize(tmp_path, capsys, "--timezone", zone)
    assert code == 2 and f"unknown time zone {zone!r}" in err and "Europe/Berlin" in err


@pytest.mark.parametrize(
    ("zone", "meant"),
    [("Europe/Berln", "Europe/Berlin"), ("america/new_york", "America/New_York"), ("Berlin", "Europe/Berlin")],
)
def test_a_misspelt_time_zone_is_told_the_zone_it_nearly_names(tmp_path: Path, capsys, zone, meant):
    # every other unknown name (agent, skill, model, provider) is told the one it nearly is; a time zone was told
    # 'Europe/Berlin' whatever it was, a New York one too
    _record(tmp_path / "l.db", [("r", NOV_1, "0.1")])
    code, _, err = _summarize(tmp_path, capsys, "--timezone", zone)
    assert code == 2 and f"unknown time zone {zone!r} (did you mean {meant!r}?); use an IANA name" in err, err


@pytest.mark.parametrize("bound", [[1764460800], {"date": "2025-11-01"}, "not a time"])
def test_a_window_bound_of_no_time_in_a_summary_is_read_as_none_not_a_traceback(tmp_path: Path, capsys, bound):
    """A summary whose `period.filters.since` is a list or an object (edited by hand, or written by another tool)
    stopped `flow gate` with an AttributeError traceback, and exit 1, its "fail": parse_since took any value that is
    no text or number for text. Such a bound is no time, so it cuts no day, as one written as other text is."""
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger import parse_since

    _record(tmp_path / "l.db", [("r", NOV_1 + 36000, "0.1")])
    code, summary, _ = _summarize(tmp_path, capsys, "--since", "2025-11-01")
    assert code == 0 and summary is not None
    summary["period"]["filters"]["since"] = bound
    assert _gate(tmp_path, capsys, summary, BERLIN.replace("Europe/Berlin", "UTC")) == (0, "gate: pass\n")
    # the Python API's and the MCP tools' readers of a time say what would do, as UsageFilters does
    if not isinstance(bound, str):
        with pytest.raises(InputError, match=r"^since=.* is not a time: give a datetime, a date, a timedelta"):
            parse_since(bound)


@pytest.mark.parametrize(
    ("zone", "said"),
    [
        ("localtime", "time zone 'localtime' is this machine's own zone"),
        ("posixrules", "time zone 'posixrules' is the machine's rule for zones written as POSIX strings"),
        ("Factory", "time zone 'Factory' is no zone"),
        ("right/Europe/Berlin", "counts leap seconds, which Unix times (the ledger's) do not"),
        ("posix/Europe/Berlin", "is the machine's copy of the IANA zone; write 'Europe/Berlin'"),
        ("Europe", "unknown time zone 'Europe'"),  # a folder of zones: IsADirectoryError, a traceback, before
    ],
)
def test_a_zone_of_the_machines_zone_folder_is_no_zone_to_count_days_in(tmp_path: Path, capsys, zone, said):
    # zoneinfo opened these from /usr/share/zoneinfo where the machine has them: 'localtime' counted the days of
    # whichever machine read the summary, 'right/' zones ended each day 27 s (the leap seconds) off its midnight
    _record(tmp_path / "l.db", [("r", NOV_1, "0.1")])
    code, _, err = _summarize(tmp_path, capsys, "--timezone", zone)
    # named where it was given: it ended "(the policy's timezone)", a policy the command never read
    assert code == 2 and said in err and "--timezone: " in err and "the policy's timezone" not in err, err


@pytest.mark.parametrize(("policy_zone", "summary_zone"), [("GMT", None), ("Etc/UTC", "Zulu"), ("UTC", "Etc/GMT")])
def test_a_policy_in_a_name_of_utc_is_checked_on_a_utc_summarys_days_without_a_note(
    tmp_path: Path, capsys, policy_zone: str, summary_zone: str | None
):
    # GMT, Zulu and Etc/GMT are UTC by other names (the IANA database links them to it): their days are UTC's. A policy
    # with timezone: GMT gated on a summary of UTC days was told its days were other days than its own, and to write
    # the summary again in GMT, which gave the same days.
    _record(tmp_path / "l.db", [("day", NOV_1 + 36000, "1.5")])
    code, summary, _ = _summarize(tmp_path, capsys, *(("--timezone", summary_zone) if summary_zone else ()))
    assert code == 0 and summary is not None
    code, out = _gate(tmp_path, capsys, summary, BERLIN.replace("Europe/Berlin", policy_zone))
    assert code == 1 and "FAIL berlin: 2025-11-01 (UTC) cost $1.5 exceeds max_cost_per_day_usd $1.0" in out, out
    assert "NOTE" not in out, out


def test_a_zone_that_is_no_zone_is_named_where_it_was_given(tmp_path: Path, capsys):
    # each ended "(the policy's timezone)": `flow daily --timezone`, the MCP tools' timezone argument and Python's
    # keyword, none of which a policy gave; a policy's own is named by its key on loading (policies.N.timezone)
    import anyio
    from mcp.client import Client

    from magsag_mcp import Magsag
    from magsag_mcp.errors import InputError
    from magsag_mcp.mcp_server import build_server

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    db = tmp_path / "l.db"
    _record(db, [("r", NOV_1, "0.1")])
    unknown = "unknown time zone 'Europ/Berlin' (did you mean 'Europe/Berlin'?)"
    assert main(["flow", "daily", "--db", str(db), "--timezone", "Europ/Berlin"]) == 2
    err = capsys.readouterr().err
    assert f"--timezone: {unknown}" in err and "policy" not in err, err

    async def tool_calls() -> list[Any]:
        async with Client(build_server(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
            return [
                await client.call_tool("summarize_usage", {"timezone": "Europ/Berlin"}),
                await client.call_tool("daily_usage", {"timezone": "Europ/Berlin"}),
            ]

    for result in anyio.run(tool_calls):
        message = result.structured_content["error"]["message"]
        assert result.is_error and message.startswith("timezone: unknown time zone") and "policy" not in message
    with Magsag(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"}) as mg:
        for read in (mg.summarize, mg.daily):
            with pytest.raises(InputError) as refused:
                read(timezone="Europ/Berlin")
            assert refused.value.message.startswith(f"timezone: {unknown}")
            assert "policy" not in refused.value.message
