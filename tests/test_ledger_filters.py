"""UsageFilters: the times (durations, ISO dates, RFC 3339), statuses and counts a read of the ledger is filtered by,
and what a filter that cannot be read is told."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("filters", "needle"),
    [
        ({"since": "yesterday-ish"}, "since='yesterday-ish' is not a time"),
        ({"until": "2025-13-45"}, "until='2025-13-45' is not a time"),
        # a duration is one number and one unit: read as far as its first unit, these were 7 days and 2 hours
        ({"since": "7days"}, "since='7days' is not a time"),
        ({"since": "2h30m"}, "since='2h30m' is not a time"),
        ({"colour": "red"}, "colour: unknown filter"),
        ({"limit": 0}, "limit: 0 runs per page: give 1 to 10000"),
        ({"status": "meh"}, "status 'meh' is not a run status: give one of 'ok', "),
    ],
)
async def test_bad_filters_say_what_is_accepted(filters, needle):
    with pytest.raises(InputError, match=needle):
        UsageFilters.build(filters)


@pytest.mark.parametrize(("written", "meant"), [("failed", "error"), ("Success", "ok"), ("canceled", "cancelled")])
async def test_a_status_written_as_another_word_is_told_the_status_it_means(written, meant):
    # `magsag data query --status failed` (the guide's "errors: Failed calls") named no status it meant
    with pytest.raises(InputError, match=re.escape(f"(did you mean {meant!r}?)")):
        UsageFilters.build({"status": written})


async def test_relative_and_iso_times():
    from magsag_mcp.ledger import parse_since

    # between the clock read just before and just after, not within 5 s of one: no wall-clock margin to outrun
    before = time.time()
    since = parse_since("24h")
    assert before - 86400 <= since <= time.time() - 86400
    assert parse_since("2025-11-02") == 1762041600.0
    assert parse_since("2025-11-02T01:00:00+01:00") == 1762041600.0


def test_rfc3339s_lower_case_z_is_utc_as_its_upper_case_is():
    # RFC 3339 (5.6, NOTE) lets "T" and "Z" be written in lower case; a lower-case "t" was read, a "z" refused as
    # no time at all, with a message that named the form it was in (2025-11-02T13:00:00Z)
    from magsag_mcp.ledger import parse_since

    assert parse_since("2025-11-02t01:00:00z") == parse_since("2025-11-02T01:00:00Z") == 1762045200.0
    assert UsageFilters.build({"since": "2025-11-02t00:00z", "until": "2025-11-03T00:00:00z"}).since is not None


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        # (7D and 24H were refused here, told 7d and 24h: their units mean one thing each, and are read: see below)
        ("1M", "m is minutes (there is no month: 30d is about one)"),
        ("-7d", "a duration counts back from now, without a sign (7d is a week ago)"),
        ("yesterday", ""),
        # a date with one of its two dashes (seven digits): told the date it nearly is, in both forms a date takes
        ("2026-1205", "a date writes both its dashes or neither: 2026-12-05 (or 20261205); "),
        ("202612-05", "a date writes both its dashes or neither: 2026-12-05 (or 20261205); "),
        ("2026-1205T13:00:00Z", "a date writes both its dashes or neither: 2026-12-05T13:00:00Z; "),
    ],
)
def test_a_time_that_cannot_be_read_is_told_every_form_a_time_takes(written: str, hint: str):
    # The refusal named durations and ISO dates alone: not unix seconds (which the filter reads), not the units s
    # and w, not that a time without an offset is UTC, and 7D (a unit in upper case) was told only to write "7d"
    # in some other form of its own guessing
    with pytest.raises(InputError) as info:
        UsageFilters.build({"since": written})
    said = info.value.message
    assert f"since={written!r} is not a time: {hint}" in said, said
    for form in ("30m, 24h, 7d, 2w", "s, m for minutes, h, d or w", "2025-11-02T13:00:00Z", "UTC unless it gives an "
                 "offset", "unix seconds (1764460800)"):  # fmt: skip
        assert form in said, said


@pytest.mark.parametrize(
    ("upper", "lower"), [("7D", "7d"), ("24H", "24h"), ("2W", "2w"), ("90S", "90s"), ("1.5D", "1.5d")]
)
def test_a_durations_unit_in_upper_case_is_read_as_its_lower_case_but_m(upper: str, lower: str):
    # 7D was refused ("a duration's unit is in lower case (7d)"), where it can mean nothing but 7d; only M is
    # refused still, a minute to this and a month to its writer
    from magsag_mcp.ledger import parse_since
    from magsag_mcp.ledger.filters import cuts_a_day, is_duration, parse_duration_seconds

    assert parse_since(upper, now=1e9) == parse_since(lower, now=1e9)
    assert UsageFilters.build({"since": upper}).since == upper  # kept as written, read as a duration
    assert is_duration(upper) and cuts_a_day(upper) and parse_duration_seconds(upper) == parse_duration_seconds(lower)
    with pytest.raises(InputError, match="m is minutes"):
        parse_since(upper[:-1] + "M")


@pytest.mark.parametrize("field", ["limit", "offset"])
async def test_a_boolean_is_no_count_of_runs_or_hits(tmp_path: Path, field: str):
    # pydantic's lax int read True as 1: a page of one run, or one run skipped, asked for by nobody; so did search
    with pytest.raises(InputError, match=rf"invalid filters: {field}: True is no number of runs; give a whole number"):
        UsageFilters.build({field: True})
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError, match="limit must be between 1 and 10000, got True"):
            await ledger.search("x", True)


@pytest.mark.parametrize(("status", "meant"), [("Error", "error"), ("OK", "ok"), ("Policy_Denied", "policy_denied")])
def test_a_status_in_another_case_is_the_status_it_names(status: str, meant: str):
    # as a provider in any case is (it was told "did you mean 'ok'?", while --provider OpenAI was taken)
    assert UsageFilters.build({"status": status}).status == meant


@pytest.mark.parametrize(("status", "meant"), [("errors", "error"), ("Errors", "error"), ("denied", "policy_denied")])
def test_a_status_in_another_form_is_told_the_one_it_means(status: str, meant: str):
    # an agent, a model, a provider, a skill or a filter's own name is told the one it nearly is; a status was not
    with pytest.raises(InputError) as info:
        UsageFilters.build({"status": status})
    assert info.value.message.endswith(f"'cancelled' or 'running', in any case (did you mean {meant!r}?)")
    assert f"status {status!r} is not a run status" in info.value.message
    with pytest.raises(InputError) as info:
        UsageFilters.build({"status": "purple"})  # nothing near (nor another word for one): the list alone
    assert info.value.message.endswith("'cancelled' or 'running', in any case"), info.value.message


@pytest.mark.parametrize("field", ["agent", "run_id", "skill", "model", "provider"])
@pytest.mark.parametrize("blank", ["  ", " ", "\t", " \n "])
def test_a_name_of_only_whitespace_is_refused_as_an_empty_one_is(field: str, blank: str):
    # Before: '' was refused, but '  ' was taken and selected nothing (no recorded name is blank: text.py refuses
    # one), so a summary said $0 and a query found no runs, without a word.
    refusal = rf"{field}: a name of only whitespace \(.*\) selects nothing; leave the filter out"
    with pytest.raises(InputError, match=refusal):
        UsageFilters.build({field: blank})


async def test_a_window_holds_its_since_and_not_its_until(tmp_path: Path):
    # [since, until): a call at since is in the window, one at until is the next window's (each counted once when
    # windows are laid end to end), whether the runs are listed or summed
    from decimal import Decimal

    from magsag_mcp.records import AttemptRecord, RunRecord

    since = 1762041600.0  # 2025-11-02T00:00:00Z
    until = since + 3600
    async with Ledger(tmp_path / "l.db") as ledger:
        for run_id, at in (("before", since - 1), ("at-since", since), ("at-until", until)):
            run = RunRecord(run_id, "ana", "skill.analysis", at, status="ok")
            attempt = AttemptRecord(
                run_id, at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1,
                input_tokens=10, output_tokens=5, cost_usd=Decimal("0.001"),
            )  # fmt: skip
            await ledger.record_call(run, [attempt])
        filters = UsageFilters(since=since, until=until)
        assert [r["run_id"] for r in await ledger.query_runs(filters)] == ["at-since"]
        summary = await ledger.summarize(filters)
        assert summary["totals"]["input_tokens"] == 10 and summary["totals"]["calls"] == 1, summary["totals"]


async def test_a_run_filter_lists_the_runs_delegated_from_the_run_too(tmp_path: Path):
    # the scope of the run's budget limit and `magsag budget --run-id`: the top run and those it delegated, not another
    from decimal import Decimal

    from magsag_mcp.records import AttemptRecord, RunRecord

    at = 1762041600.0  # 2025-11-02T00:00:00Z
    async with Ledger(tmp_path / "l.db") as ledger:
        for i, (run_id, parent) in enumerate((("top", None), ("delegated", "top"), ("other", None))):
            run = RunRecord(run_id, "ana", "skill.analysis", at + i, status="ok", parent_run_id=parent)
            attempt = AttemptRecord(
                run_id, at + i, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1,
                input_tokens=10, output_tokens=5, cost_usd=Decimal("0.001"),
            )  # fmt: skip
            await ledger.record_call(run, [attempt])
        listed = await ledger.query_runs(UsageFilters(run_id="top"))
        assert sorted(r["run_id"] for r in listed) == ["delegated", "top"]
        assert (await ledger.summarize(UsageFilters(run_id="top")))["totals"]["input_tokens"] == 20


def test_each_duration_unit_counts_back_its_own_seconds_up_to_a_thousand_years():
    from magsag_mcp.ledger.filters import parse_since

    now = 1762041600.0  # 2025-11-02T00:00:00Z
    said = {"90s": 90, "30m": 1800, "24h": 86400, "7d": 604800, "2w": 1209600, "1.5h": 5400}
    assert {text: now - parse_since(text, now=now) for text in said} == said
    # a thousand years back is the longest a ledger is read for: one day more is a typo
    assert parse_since("365000d", now=now) == now - 1000 * 365 * 86400
    with pytest.raises(InputError, match="365001d"):
        parse_since("365001d", now=now)


def test_unix_seconds_a_thousand_years_back_are_the_earliest_read():
    from magsag_mcp.ledger.filters import parse_since

    earliest = -1000 * 365 * 86400
    assert parse_since(earliest) == earliest and parse_since(float(earliest)) == earliest
    with pytest.raises(InputError, match="since"):
        parse_since(earliest - 1)


def test_a_date_without_an_offset_is_utc_whatever_the_machines_zone(monkeypatch):
    from magsag_mcp.ledger.filters import parse_since

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert parse_since("2025-11-02") == 1762041600.0
        assert parse_since("2025-11-02T13:00:00") == 1762041600.0 + 13 * 3600
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("after", ["\x1f", "\x1c", "\x85", "\u2028"])
def test_unix_seconds_followed_by_a_space_float_does_not_take_are_read_as_the_seconds(after: str):
    # (found by test_properties_inputs) the digits were matched stripped of str.strip()'s whitespace, then read by
    # float() as written, which takes fewer spaces: "123456789\x1f" raised ValueError out of parse_since, and a filter
    # holding it was refused with Python's "could not convert string to float"
    from magsag_mcp.ledger.filters import parse_since

    assert parse_since("123456789" + after) == 123456789.0
    assert parse_since(after + " 1764460800.5 " + after) == 1764460800.5
    assert UsageFilters.build({"since": "123456789" + after}).since == "123456789" + after


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_duration_longer_than_any_ledger_is_refused_naming_its_filter(field: str):
    # (found by test_properties_inputs) every other refusal of a time names the filter it was given as; this one said
    # only "'400000d' is longer than any ledger", which of since and until left to the reader
    with pytest.raises(InputError) as refused:
        UsageFilters.build({"since": "1d", "until": "400000d"} if field == "until" else {"since": "400000d"})
    assert refused.value.message.startswith(f"{field}='4000"), refused.value.message
    assert "is longer than any ledger (at most 1000 years)" in refused.value.message


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/St_Johns", "Asia/Kathmandu"])
@pytest.mark.parametrize("naive", [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59)])
def test_a_naive_datetime_at_the_calendars_edge_is_refused_as_beyond_any_ledger_in_every_zone(
    monkeypatch, zone: str, naive: datetime
):
    # A naive datetime is local time, moved to its offset by astimezone(): on the calendar's first or last day, where
    # the offset moves it past year 1 or 9999, Python raised ValueError ('year 0 is out of range') or OverflowError out
    # of the read, on some machines' zones and not others (Kiritimati's +14 and St. John's -3:30; UTC read it). It is
    # a time no ledger holds, refused as one, naming its filter, whatever the machine's zone.
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        for field in ("since", "until"):
            with pytest.raises(InputError) as refused:
                UsageFilters.build({field: naive})
            assert refused.value.message.startswith(f"{field}="), refused.value.message
            assert "beyond any ledger" in refused.value.message, refused.value.message
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_filters_reading_a_read_only_ledger_s_dead_calls_are_named_for_them_and_the_old_name_still_works():
    # with_errored_runs set more than the errored runs (the runs dead calls add a call to, those they make a filter
    # select): it is with_dead_calls now, and the old name, a public class's method, still works with a warning
    given = UsageFilters(status="error", agent="ana")
    named = {"agent": ("r3",)}
    read = given.with_dead_calls(("r1",), ("r2",), named)
    assert (read._errored_runs, read._called_runs, dict(read._named_runs)) == (("r1",), ("r2",), named)
    assert read.model_dump() == given.model_dump() and given._errored_runs == ()  # a copy; the filters unchanged
    with pytest.warns(DeprecationWarning, match="with_dead_calls"):
        old = given.with_errored_runs(("r1",), ("r2",), named)
    assert (old._errored_runs, old._called_runs, dict(old._named_runs)) == (("r1",), ("r2",), named)
