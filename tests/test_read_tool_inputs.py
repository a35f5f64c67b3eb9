"""What the ledger's read tools are given by a hostile or careless caller (summarize_usage, query_runs, search_usage,
check_budget; ``magsag flow summarize``, ``magsag data query``; the Python API): a refusal quotes a bounded piece of
what it refused and says what a valid value looks like, and every entry point refuses the same."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger.filters import TIME_TEXT_MAX, UsageFilters, parse_duration_seconds, parse_since
from magsag_mcp.mcp_server import build_server
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
HUGE = "x" * 100_000
#: the most a refusal of one value may say: the value's start, and what would do
SAID_MAX = 400


@pytest.mark.parametrize(
    "value",
    [HUGE, "1" * 100_000, "0" * 100_000 + "1d", " " * 100_000 + "7d", "2025-11-02" + "9" * 100_000],
    ids=["letters", "digits", "zeros-then-a-duration", "spaces-then-a-duration", "a-date-then-digits"],
)
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_time_longer_than_any_time_is_refused_quoting_only_its_start(value: str, field: str):
    # a 100,000-character since came back whole in the error; a duration behind 100,000 zeros or spaces was read
    # as one, and the summary's period echoed all of it
    with pytest.raises(InputError) as info:
        UsageFilters.build({field: value})
    said = info.value.message
    assert len(said) < SAID_MAX, said
    assert f"at most {TIME_TEXT_MAX} characters" in said and "24h, 7d" in said and "2025-11-02" in said
    assert f"({len(value):,} characters)" in said and repr(value[:24]) in said


@pytest.mark.parametrize("value", [10**5000, -(10**400), 10**70], ids=["5001-digits", "minus-401-digits", "71-digits"])
def test_a_number_too_large_to_write_is_an_input_error_not_pythons(value: int):
    # 10**5000: Python refuses to write an int of more than 4,300 digits, and the refusal was a ValueError (from
    # search, or "invalid filters: since: Exceeds the limit (4300 digits) ..."); -10**400: an OverflowError
    for read in (lambda: parse_since(value), lambda: UsageFilters.build({"until": value})):
        with pytest.raises(InputError) as info:
            read()
        said = info.value.message
        assert "is not a time: give unix seconds (e.g. 1764460800)" in said and len(said) < SAID_MAX, said
        assert "a number of more than 64 digits" in said


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (99_999_999_999, "as seconds since 1970 it is after the year 3967, beyond any ledger"),
        ("99999999999", "as seconds since 1970 it is after the year 3967, beyond any ledger"),
        (1e30, "as seconds since 1970 it is after the year 3967, beyond any ledger"),
        (-40_000_000_000, "as seconds since 1970 it is before the year 971, beyond any ledger"),
    ],
)
def test_unix_seconds_beyond_any_ledger_are_told_so(value: Any, said: str):
    # until=99999999999 (the year 5138, a "far future" guess) was told only that it "is not a time: give unix seconds
    # (e.g. 1764460800)": it is unix seconds, and the answer did not say what was wrong with them, where the same
    # time written as a date is told it is beyond any ledger
    for read in (lambda: parse_since(value, field="until"), lambda: UsageFilters.build({"until": value})):
        with pytest.raises(InputError) as info:
            read()
        assert said in info.value.message and len(info.value.message) < SAID_MAX, info.value.message
        assert "milliseconds" not in info.value.message


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2026-02-30", "no calendar has 2026-02-30 (day is out of range for month); give a duration"),
        ("2026-02-29", "no calendar has 2026-02-29 (day is out of range for month)"),
        ("20261301", "no calendar has 20261301 (month must be in 1..12)"),
        ("2026-12-06T25:00", "no calendar has 2026-12-06T25:00 (hour must be in 0..23)"),
        ("2026-12-06T10:61Z", "no calendar has 2026-12-06T10:61Z (minute must be in 0..59)"),
    ],
)
def test_a_date_in_isos_form_that_no_calendar_has_is_told_which_part(value: str, said: str):
    # since=2026-02-30 (a month's last day guessed) was told only that it "is not a time", with the forms a time takes,
    # the very form it was written in: nothing said that February has no 30th
    for read in (lambda: parse_since(value), lambda: UsageFilters.build({"since": value})):
        with pytest.raises(InputError) as info:
            read()
        assert said in info.value.message and len(info.value.message) < SAID_MAX + 100, info.value.message
    with pytest.raises(InputError) as info:  # (a time zone's offset out of range quotes no timedelta repr)
        parse_since("2026-12-06T10:00+25:00")
    assert "calendar" not in info.value.message and "timedelta" not in info.value.message


@pytest.mark.parametrize(
    ("paging", "said"),
    [
        ({"limit": 0}, "limit: 0 runs per page: give 1 to 10000"),
        ({"limit": 1_000_000}, "limit: 1000000 runs per page: give 1 to 10000"),
        ({"limit": 1e30}, "limit: 1e+30 runs per page: give 1 to 10000"),
        ({"offset": -1}, "offset: -1 runs to skip: give 0 to 1000000000000"),
        ({"offset": 10**40}, "offset: too many runs to skip: give 0 to 1000000000000"),
    ],
)
def test_a_page_count_out_of_range_from_python_is_told_both_bounds(paging: dict[str, Any], said: str):
    # Magsag.query_runs(limit=0) said pydantic's "limit: Input should be greater than or equal to 1", naming the one
    # bound missed (a caller that then asked a million for "all of them" met the other), where `data query --limit 0`
    # and the query_runs tool name both
    with pytest.raises(InputError) as info:
        UsageFilters.build(paging)
    assert info.value.message == f"invalid filters: {said}", info.value.message


def test_a_duration_to_prune_longer_than_any_is_not_echoed_whole():
    with pytest.raises(InputError) as info:
        parse_duration_seconds("9" * 100_000 + "d")
    assert len(info.value.message) < SAID_MAX and "use e.g. 90d, 12h, 2w" in info.value.message


async def test_the_python_apis_reads_refuse_a_huge_time_as_the_tools_do(tmp_path: Path):
    async with Service.open(db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        for read in (
            lambda: svc.summarize({"since": HUGE}),
            lambda: svc.query_runs_page({"until": HUGE}),
            lambda: svc.search_page("error", since=HUGE),
            lambda: svc.search_page("error", since=10**5000),
        ):
            with pytest.raises(InputError) as info:
                await read()
            assert len(info.value.message) < SAID_MAX, info.value.message


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("summarize_usage", {"filters": {"since": HUGE}}),
        ("summarize_usage", {"filters": {"until": "0" * 100_000 + "1d"}}),
        ("query_runs", {"filters": {"until": HUGE}}),
        ("search_usage", {"pattern": "error", "since": HUGE}),
    ],
)
async def test_an_mcp_read_tool_refuses_a_huge_time_in_a_few_lines_and_logs_no_more(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tool: str, arguments: dict[str, Any]
):
    caplog.set_level(logging.DEBUG, logger="magsag_mcp")
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        result = await c.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text
    assert text.startswith("input_error: ") and len(text) < SAID_MAX and "24h, 7d" in text, text
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("magsag_mcp")]
    assert any("is not a time" in line for line in logged)
    assert max(map(len, logged)) < SAID_MAX


@pytest.mark.parametrize(
    "argv",
    [
        ["flow", "summarize", "--since", HUGE],
        ["data", "query", "--until", HUGE],
        ["data", "search", "x", "--since", HUGE],
    ],
)
def test_the_cli_refuses_a_huge_time_in_a_few_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
):
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    payload = '{"data": "x", "model_config": {"model": "fake:echo"}}'
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 0  # a ledger to read
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not a time" in err and len(err) < SAID_MAX and "Traceback" not in err, err


async def test_a_run_id_filter_longer_than_any_run_id_is_named_by_its_length_in_the_note(tmp_path: Path):
    # Every other filter's note names one longer than a name by its length; the run id's quoted it whole: 100,000
    # characters given, 100,000 back in summarize_usage's note and query_runs' note
    pasted = "run-" + "r" * 100_000
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        summary = await c.call_tool("summarize_usage", {"filters": {"run_id": pasted}})
        page = await c.call_tool("query_runs", {"filters": {"run_id": pasted}})
    (said,) = summary.structured_content["notes"]
    assert said.startswith(f"no run in this ledger has the id of {len(pasted):,} characters, nor was delegated")
    assert len(said) < SAID_MAX and page.structured_content["notes"] == [said]
    assert len(page.content[0].text) < SAID_MAX


@pytest.mark.parametrize("tool", ["summarize_usage", "query_runs"])
async def test_an_mcp_read_tools_empty_window_names_its_filters_as_its_arguments(tmp_path: Path, tool):
    # a window that ends before it starts was refused with "since='1h' ... is not before until='2h'", and an example
    # of command-line options: the tool's arguments are filters.since and filters.until
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        result = await c.call_tool(tool, {"filters": {"since": "1h", "until": "2h"}})
    assert result.is_error
    message = result.structured_content["error"]["message"]
    assert message.startswith("invalid filters: filters.since='1h' (")
    assert "is not before filters.until='2h' (" in message
    assert "filters.until is exclusive and must come after filters.since" in message
    assert "filters.since='2025-11-01' and filters.until='2025-11-02'" in message and "--since" not in message


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("summarize_usage", {"filters": {"since": "last week"}}, "filters.since='last week'"),
        ("query_runs", {"filters": {"until": "3M"}}, "filters.until='3M'"),
        ("search_usage", {"pattern": "error", "since": "7x"}, "since='7x'"),  # its own argument is since
    ],
)
async def test_an_mcp_read_tool_names_a_time_it_cannot_read_as_its_own_argument(tmp_path: Path, tool, arguments, named):
    # summarize_usage and query_runs said "since='...' is not a time" of their filters.since, an argument they have not
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        result = await c.call_tool(tool, arguments)
        upper = await c.call_tool("summarize_usage", {"filters": {"since": "7D"}})
    assert result.is_error
    assert result.structured_content["error"]["message"].startswith(f"{named} is not a time: "), result.content
    assert not upper.is_error and upper.structured_content["period"]["filters"] == {"since": "7D"}
