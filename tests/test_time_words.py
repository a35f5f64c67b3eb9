"""Every spelling of a time a user would try for ``since`` and ``until`` has a meaning the docs give (docs/cli.md) or
a refusal saying what to write instead. ``+7 days``, ``7M ago``, ``yesterday``, ``now-7d``, ``last week`` and
``1 month ago`` were told only the forms a time takes, which the reader had to match against what they wrote."""

from __future__ import annotations

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger.times import parse_duration_seconds, parse_since

#: 2026-12-07T10:00:00Z
NOW = 1796637600.0


@pytest.mark.parametrize(
    ("written", "seconds_back"),
    [("7d", 7 * 86400), ("7D", 7 * 86400), ("7 d", 7 * 86400), ("1w", 7 * 86400), ("7m", 7 * 60), ("2W", 14 * 86400)],
)
def test_the_durations_the_docs_give_are_read(written: str, seconds_back: int):
    assert parse_since(written, now=NOW) == NOW - seconds_back


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        # a sign, an "ago", a "now-", a "last": each told the duration's form, and why
        (
            "+7 days",
            "+7 days counts forward: a duration counts back from now, without a sign (7d is that long ago); "
            "for a time ahead give a date; ",
        ),
        ("-7 days", "-7 days is written 7d (a duration takes no sign or 'ago'); "),
        ("now-7d", "now-7d is written 7d (a duration counts back from now); "),
        ("now - 7 days", "now - 7 days is written 7d (a duration counts back from now); "),
        ("NOW-1h", "NOW-1h is written 1h (a duration counts back from now); "),
        (
            "now+7d",
            "now+7d counts forward: a duration counts back from now, without a sign (7d is that long ago); for "
            "a time ahead give a date; ",
        ),
        ("last week", "last week is written 1w (a duration counts back from now); "),
        ("last 7 days", "last 7 days is written 7d (a duration counts back from now); "),
        ("past 24 hours", "past 24 hours is written 24h (a duration counts back from now); "),
        # M: minutes to magsag, months to its writer, whatever comes with it
        ("7M", "m is minutes (there is no month: 30d is about one); "),
        ("7M ago", "m is minutes (there is no month: 30d is about one); "),
        ("now-7M", "m is minutes (there is no month: 30d is about one); "),
        # months and years, with an "ago" or a sign too
        ("1mo", "there is no unit of months: 1mo is about 30d; "),
        ("1 month ago", "there is no unit of months: 1 month ago is about 30d (a duration takes no sign or 'ago'); "),
        ("2 years ago", "there is no unit of years: 2 years ago is about 730d (a duration takes no sign or 'ago'); "),
        ("last month", "there is no unit of months: last month is about 30d; "),
        # the words for a day, or for now: the date meant (UTC's, as a date is read), or the option to leave out
        (
            "yesterday",
            "yesterday is no time magsag reads: give its date, 2026-12-06 (from its midnight, UTC), or 24h "
            "for the last 24 hours; ",
        ),
        (
            "Today",
            "Today is no time magsag reads: give its date, 2026-12-07 (from its midnight, UTC), or 24h for the "
            "last 24 hours; ",
        ),
        # (a since of now holds nothing: told a duration back, not of an until, which `data search` has none of)
        ("now", "now is no time magsag reads: a window from now on holds nothing yet; give since a duration back, "
         "such as 24h for the last 24 hours; "),
    ],
)
def test_each_spelling_a_user_would_try_is_told_what_to_write(written: str, hint: str):
    with pytest.raises(InputError) as info:
        parse_since(written, now=NOW)
    said = info.value.message
    assert said.startswith(f"since={written!r} is not a time: {hint}give a duration back from now"), said


def test_a_duration_option_is_told_the_same():
    # `data prune --older-than` reads a duration alone: the same hint, before its own examples
    with pytest.raises(InputError) as info:
        parse_duration_seconds("+7 days")
    assert info.value.message.startswith("'+7 days' is not a duration: +7 days counts forward: a duration counts back")
    with pytest.raises(InputError) as info:
        parse_duration_seconds("7M ago")
    assert "m is minutes (there is no month: 30d is about one); use e.g. 90d" in info.value.message


@pytest.mark.parametrize(
    ("field", "written", "hint"),
    [
        # until is exclusive: today's date as an until read nothing of today, and 24h as an until ends a day ago
        (
            "until",
            "today",
            "today is no time magsag reads: leave until out to read up to now, or give the next day's date, "
            "2026-12-08 (until is exclusive: it reads up to its midnight, UTC); ",
        ),
        (
            "--until",
            "Yesterday",
            "Yesterday is no time magsag reads: give the day after it, 2026-12-07, to read through 2026-12-06 (until "
            "is exclusive: it reads up to its midnight, UTC); ",
        ),
        (
            "filters.until",
            "today",
            "today is no time magsag reads: leave filters.until out to read up to now, or give the next day's date, "
            "2026-12-08 (until is exclusive: it reads up to its midnight, UTC); ",
        ),
    ],
)
def test_an_until_of_a_day_is_told_the_next_days_date_as_until_is_exclusive(field: str, written: str, hint: str):
    with pytest.raises(InputError) as info:
        parse_since(written, field=field, now=NOW)
    said = info.value.message
    assert said.startswith(f"{field}={written!r} is not a time: {hint}give a duration back from now"), said
    assert "24h" not in hint


@pytest.mark.parametrize(
    ("field", "written", "hint"),
    [
        (
            "--until",
            "now",
            "now is no time magsag reads: leave --until out to read up to now, or give --since a duration back, such "
            "as 24h; ",
        ),
        (
            "filters.until",
            "NOW",
            "NOW is no time magsag reads: leave filters.until out to read up to now, or give filters.since a duration "
            "back, such as 24h; ",
        ),
        ("--since", "now", "now is no time magsag reads: a window from now on holds nothing yet; give --since a "
         "duration back, such as 24h for the last 24 hours; "),
    ],
)
def test_now_is_told_the_options_as_they_were_written(field: str, written: str, hint: str):
    # it said "leave until out to read up to now, or give since a duration back" to `--until now`, `filters.until`
    # and a since alike (`data search --since now`, which has no --until to leave out)
    with pytest.raises(InputError) as info:
        parse_since(written, field=field, now=NOW)
    said = info.value.message
    assert said.startswith(f"{field}={written!r} is not a time: {hint}give a duration back from now"), said


@pytest.mark.parametrize(
    ("written", "days"),
    [("+1y", "365d"), ("+2 years", "730d"), ("now+1 month", "30d"), ("+6mo", "180d")],
)
def test_a_year_or_month_ahead_is_told_it_counts_forward_not_its_days_back(written: str, days: str):
    # "+1y" was told "there is no unit of years: +1y is about 365d": a year back, where a year ahead was meant
    with pytest.raises(InputError) as info:
        parse_since(written, now=NOW)
    assert info.value.message.startswith(
        f"since={written!r} is not a time: {written} counts forward: a duration counts back from now, without a sign "
        f"({days} is that long ago); for a time ahead give a date; "
    ), info.value.message


@pytest.mark.parametrize(
    ("zone", "written", "day"),
    [
        # 2026-12-07T20:00Z: the 8th in Tokyo, still the 7th in Los Angeles
        ("Asia/Tokyo", "today", "2026-12-08"),
        ("Asia/Tokyo", "yesterday", "2026-12-07"),
        ("America/Los_Angeles", "today", "2026-12-07"),
    ],
)
def test_a_day_word_under_a_timezone_is_told_that_zones_date(tmp_path, monkeypatch, capsys, zone, written, day):
    """A date given beside --timezone is that zone's midnight: the day word is told the zone's date, not UTC's (in
    Tokyo's morning UTC's date is Tokyo's yesterday, which read from Tokyo's midnight missed the day asked for)."""
    import time as real_time

    from magsag_mcp.cli import main
    from magsag_mcp.ledger import times

    class Clock:
        @staticmethod
        def time() -> float:
            return NOW + 10 * 3600

        def __getattr__(self, name: str):
            return getattr(real_time, name)

    monkeypatch.setattr(times, "time", Clock())
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "l.db"))
    assert main(["flow", "daily", "--since", written, "--timezone", zone]) == 2
    err = capsys.readouterr().err
    assert f"give its date, {day} (from its midnight, {zone})" in err, err


_NO_SIGN = "a duration counts back from now, without a sign (7d is a week ago); for a time ahead give a date; "


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        # a sign and an M: told both (it was told of the sign alone, and wrote 7M next: seven minutes)
        ("-7M", "m is minutes (there is no month: 30d is about one); " + _NO_SIGN),
        ("+7M", "m is minutes (there is no month: 30d is about one); " + _NO_SIGN),
        ("-7m", _NO_SIGN),
        # ISO 8601's durations, in the unit written
        ("P7D", "P7D is ISO 8601's form: write 7d; "),
        ("PT24H", "PT24H is ISO 8601's form: write 24h; "),
        ("P1DT12H", "P1DT12H is ISO 8601's form: write 36h; "),
        ("PT30M", "PT30M is ISO 8601's form: write 30m; "),
        ("-P7D", "-P7D is ISO 8601's form: write 7d (a duration counts back from now, without a sign); "),
        ("P1M", "P1M is ISO 8601's duration in months, a unit magsag has not: 30d is about a month, 365d a year; "),
        # two units, a unit under a second, an exponent
        ("7d12h", "a duration takes one unit: 7d12h is written 180h; "),
        ("1h 30m", "a duration takes one unit: 1h 30m is written 90m; "),
        ("1w2d", "a duration takes one unit: 1w2d is written 9d; "),
        ("500ms", "there is no unit under a second: 500ms is 0.5s; "),
        ("1e3s", "a duration takes no exponent: 1e3s is written 1000s; "),
        # what a copy leaves around a value, and a typographic minus
        ("'7d'", "write 7d without the quotes or stop around it; "),
        ("7d.", "write 7d without the quotes or stop around it; "),
        ("\u22127d", "a duration counts back from now, without a sign: write 7d; "),
        ("2026\u201312\u201301", "write its dashes as ASCII hyphens: 2026-12-01; "),
        # a date in another form than ISO's
        ("2026-12", "a month is read from its first day: since 2026-12-01, until 2027-01-01 (exclusive); "),
        ("2026/12/05", "a date is written year-month-day: 2026-12-05; "),
        ("12/05/2026", "a date is written year-month-day: 2026-12-05 (month first) or 2026-05-12 (day first); "),
        ("25.12.2026", "a date is written year-month-day: 2026-12-25; "),
        ("Dec 5 2026", "a date is written year-month-day: 2026-12-05; "),
        ("5 December 2026", "a date is written year-month-day: 2026-12-05; "),
        (
            "2026-12-05T13:00 Europe/Berlin",
            "a zone's name (Europe/Berlin) is not read after a time: write its offset there, 2026-12-05T13:00+01:00; ",
        ),
        ("2026-12-05T13:00 PST", "a zone's name or abbreviation (PST) is not read after a time: write the time with"),
        # a period's words, all time
        ("this month", "this month is no time magsag reads: give its first day's date, 2026-12-01 (UTC); "),
        ("this week", "this week is no time magsag reads: give its first day's date, 2026-12-07 (UTC); "),
        ("all", "to read the whole ledger, leave it out; "),
        ("inf", "to read the whole ledger, leave it out; "),
    ],
)
def test_each_other_spelling_is_told_the_one_magsag_reads(written: str, hint: str):
    # each was told the forms a time takes alone (and -7M of its sign alone)
    with pytest.raises(InputError) as info:
        parse_since(written, now=NOW)
    said = info.value.message
    assert said.startswith(f"since={written!r} is not a time: {hint}"), said


def test_the_spellings_told_are_read(tmp_path):
    # what each hint says to write is read, as the hint says
    assert parse_since("180h", now=NOW) == parse_since("7.5d", now=NOW) == NOW - 7.5 * 86400
    assert parse_since("0.5s", now=NOW) == NOW - 0.5
    assert parse_since("2026-12-05T13:00+01:00") == parse_since("2026-12-05T12:00Z")


def test_a_duration_option_is_told_the_other_spellings_too():
    # `data prune --older-than P90D`: ISO's duration
    with pytest.raises(InputError) as info:
        parse_duration_seconds("P90D")
    assert info.value.message.startswith("'P90D' is not a duration: P90D is ISO 8601's form: write 90d; use e.g. 90d")


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        # ISO's P and T with no amount: an IndexError from the hint, not the refusal
        ("PT", ""),
        ("-PT", ""),
        ("pT", ""),
        # a month or year with no date a day after it, or none itself: a ValueError from the hint ('9999-12'), or told
        # to write a date Python reads as none ('0000-01-01', '10000-01-01')
        ("9999-12", ""),
        ("9999", ""),
        ("0000", ""),
        # the spelling told is read: '6.048e+06s' was not (an exponent), nor 'infs'
        ("10w1s", "a duration takes one unit: 10w1s is written 6048001s; "),
        ("P100DT1S", "P100DT1S is ISO 8601's form: write 8640001s; "),
        ("1e400s", ""),
    ],
)
def test_a_spellings_hint_is_one_a_time_is_read_as_or_none(written: str, hint: str):
    # each refused as a time with its hint (or the forms a time takes alone), never an error of the hint's own
    with pytest.raises(InputError) as info:
        parse_since(written, now=NOW)
    said = info.value.message
    assert said.startswith(f"since={written!r} is not a time: {hint}"), said
    assert "10000-" not in said and "0000-01-01" not in said and "e+" not in said and "inf" not in said, said
    if hint:  # (what it says to write is read, as that many seconds)
        told = hint.split()[-1].rstrip(";")
        assert parse_duration_seconds(told) == int(told.rstrip("s")), told


@pytest.mark.parametrize(
    "written",
    [
        "1e-400s",
        "1E-20W",
        "0.0000000001ns",
        "PT0.0000000000001S",
        "0.0000000000001s",
        "0.00000000000000000001w",
        # the hints of a unit written out, of years and months, and of two units: they were told to write what the
        # parser then refused as under a nanosecond (0.0000000000001s, 3.65e-18d, 0.0000000003601s)
        "0.0000000000001 seconds",
        "0.00000000000000000001y",
        "0.0000000000001h0.0000000000001s",
    ],
)
def test_a_duration_too_small_to_write_is_refused_as_such_not_told_it_is_nothing(written: str):
    # 1e-400s is a float's 0.0: it was told "1e-400s is written 0s", a duration of nothing, which it was not meant as.
    # One rule, a nanosecond, for the hints and the parser: 1E-20W and PT0.0000000000001S were told they were too
    # small (under a billionth of their unit) while 0.0000000000001s typed was read as 1e-13 seconds
    for read in (lambda: parse_since(written, now=NOW), lambda: parse_duration_seconds(written)):
        with pytest.raises(InputError) as info:
            read()
        said = info.value.message
        too_small = f"{written} is more than nothing but under 0.000000001s (a nanosecond), too small for a duration: "
        assert too_small + "the shortest is 0.000000001s, and 0s is none; " in said, said
        assert "0s;" not in said and "written 0" not in said and " is 0s" not in said, said


@pytest.mark.parametrize(
    ("written", "told"),
    [
        ("1e-11w", "0.00000000001w"),
        ("PT0.0000000015S", "0.0000000015s"),
        ("0.000002ms", "0.000000002s"),
        ("P1.1W", "1.1w"),
        ("0.00000000001 Jahre", "0.00000000365d"),
        ("1e-9s", "0.000000001s"),
        # years and months were told in a float's exponent form (3.65e-06d), which a duration does not take
        ("0.00000001y", "0.00000365d"),
        ("0.0000001 months", "0.000003d"),
    ],
)
def test_a_duration_a_hint_writes_tiny_is_written_whole_and_read(written: str, told: str):
    # a hint wrote nine places: 1e-11w (six microseconds) was told it was too small, under 0.000000001w, and
    # PT0.0000000015S to write 0.000000002s; what a hint says to write is what the parser reads, above a nanosecond
    with pytest.raises(InputError) as info:
        parse_duration_seconds(written)
    assert f" {told}; " in info.value.message, info.value.message
    assert parse_duration_seconds(told) >= 1e-9


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("'90d'", "write 90d without the quotes or stop around it; "),
        ("90d.", "write 90d without the quotes or stop around it; "),
        ("\u201c90d\u201d", "write 90d without the quotes or stop around it; "),
        ("\u221290d", "a duration takes no sign: write 90d; "),
        ("\u201390d", "a duration takes no sign: write 90d; "),
    ],
)
def test_every_duration_option_is_told_the_spellings_a_since_is_told(written: str, hint: str):
    # `data prune --older-than '90d'` (and a route's cache ttl) was told the forms alone, where --since was told hints
    from magsag_mcp.ledger.prune import retention_seconds

    with pytest.raises(InputError) as info:
        parse_duration_seconds(written)
    assert info.value.message == f"{written!r} is not a duration: {hint}use e.g. 90d, 12h, 2w"
    with pytest.raises(InputError) as info:
        retention_seconds(written)
    assert info.value.message == f"--older-than: {written!r} is not a duration: {hint}use e.g. 90d, 12h, 2w"


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("7 Tage", "7 Tage is written 7d (a unit is one of s, m, h, d and w); "),
        ("7j", "7j is written 7d (a unit is one of s, m, h, d and w); "),
        ("3 semaines", "3 semaines is written 3w (a unit is one of s, m, h, d and w); "),
        ("7 días", "7 días is written 7d (a unit is one of s, m, h, d and w); "),
        ("12 Stunden", "12 Stunden is written 12h (a unit is one of s, m, h, d and w); "),
        ("fortnight", "fortnight is 14d (2w is a fortnight; a unit is one of s, m, h, d and w); "),
        ("2 fortnights", "2 fortnights is 28d (2w is a fortnight; a unit is one of s, m, h, d and w); "),
        ("1q", "there is no unit of quarters: 1q is about 90d; "),
        ("3 mois", "there is no unit of months: 3 mois is about 90d; "),
        ("2 Jahre", "there is no unit of years: 2 Jahre is about 730d; "),
    ],
)
def test_a_unit_word_of_another_language_or_a_fortnight_is_told_the_duration_it_means(written: str, hint: str):
    # each was told the general forms alone, which left the reader to work out that 7 Tage is 7d
    with pytest.raises(InputError) as info:
        parse_since(written, now=NOW)
    assert info.value.message.startswith(f"since={written!r} is not a time: {hint}give "), info.value.message
    with pytest.raises(InputError) as info:
        parse_duration_seconds(written)
    assert info.value.message == f"{written!r} is not a duration: {hint}use e.g. 90d, 12h, 2w"


@pytest.mark.parametrize("written", ["7 blorps", "7x", "tage", "an", "q"])
def test_a_word_that_is_no_unit_gets_no_guess(written: str):
    with pytest.raises(InputError) as info:
        parse_duration_seconds(written)
    assert info.value.message == f"{written!r} is not a duration: use e.g. 90d, 12h, 2w"


@pytest.mark.parametrize(
    "written",
    ["2000 Jahre", "400000 Tage", "99999999999999999999 jahre", "0.000000000000000001 Jahre", "30000 quarters"],
)
def test_a_unit_word_is_not_told_a_duration_no_read_takes(written: str):
    # "2000 Jahre" was told it is about 730000d, which is refused as longer than any ledger; "0.00000000001 Jahre"
    # that it is about 0d, a duration of nothing it was not meant as: a hint is one a time is read as, or none (that
    # one is now told 0.00000000365d, which is read: under a nanosecond, as this one, it is told it is too small)
    for read in (lambda: parse_since(written, now=NOW), lambda: parse_duration_seconds(written)):
        with pytest.raises(InputError) as info:
            read()
        said = info.value.message
        assert " is written " not in said and " is about " not in said and " is 0d" not in said, said


@pytest.mark.parametrize(("ttl", "read"), [(1e-13, None), ("0.0000000000001s", None), (0, 0.0), (1e-9, 1e-9)])
def test_a_cache_ttl_is_too_small_by_the_rule_a_duration_is(ttl: object, read: float | None):
    # a route's cache ttl in seconds (a number) was read as 1e-13 seconds, where written with its unit it is refused
    from pydantic import ValidationError

    from magsag_mcp.cache_setting import CacheSetting

    if read is not None:
        assert CacheSetting(ttl=ttl).ttl == read
        return
    with pytest.raises(ValidationError) as info:
        CacheSetting(ttl=ttl)
    assert "more than nothing but under 0.000000001s (a nanosecond), too small for a duration" in str(info.value)
