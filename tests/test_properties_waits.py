"""Properties of how long a refused request is told to wait (providers/rate_limit_waits), searched by hypothesis for
counterexamples: whatever text a server puts in ``Retry-After``, ``retry-after-ms``, a reset header or a 429's message,
the reading never raises and is either no wait (None) or a wait between 0 and LONGEST_WAIT; the seconds and HTTP-date
forms read back the wait that was written."""

from __future__ import annotations

import email.utils
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.providers.rate_limit_waits import (
    LONGEST_WAIT,
    parse_duration,
    parse_retry_after,
    rate_limit_reset,
    until_unix_time,
    wait_in_message,
)

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=300)

#: a server's clock, as a unix time (1970 to 2200)
NOW = 1_780_000_000.0

#: header text as a server (or a proxy mangling it) may write it: numbers of every form, dates, and any text
header_text = (
    st.text(max_size=40)
    | st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.floats(allow_nan=True, allow_infinity=True).map(str)
    | st.datetimes(timezones=st.timezones()).map(lambda d: email.utils.format_datetime(d))
    | st.from_regex(r"\A\s*[+-]?\d{0,500}(\.\d{0,5})?([eE][+-]?\d{1,4})?\s*\Z")
    | st.from_regex(r"\A(\d{1,4}(\.\d{1,3})?(h|m|s|ms)){1,4}\Z")
)


def _a_wait(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= LONGEST_WAIT)


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "x-ms-retry-after-ms", "date", "Date"]),
        header_text,
    )
)
def test_any_retry_after_headers_read_as_no_wait_or_a_wait_within_the_cap(headers):
    assert _a_wait(parse_retry_after(headers, now=NOW))
    assert _a_wait(parse_retry_after(headers))  # (on the server's Date, or this machine's clock)


@PROPERTY
@given(st.floats(min_value=0, max_value=LONGEST_WAIT, allow_nan=False))
def test_retry_after_in_seconds_is_the_wait_written(seconds):
    assert parse_retry_after({"retry-after": repr(seconds)}, now=NOW) == seconds
    assert parse_retry_after({"retry-after-ms": repr(seconds * 1000)}, now=NOW) == seconds * 1000 / 1000.0


@PROPERTY
@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_retry_after_as_an_http_date_is_the_seconds_until_it_on_the_servers_clock(offset):
    date = email.utils.formatdate(NOW + offset, usegmt=True)
    expected = min(max(0.0, float(offset)), LONGEST_WAIT)
    assert parse_retry_after({"retry-after": date}, now=NOW) == expected
    # read against the answer's own Date header where no clock is given: the same wait
    served = {"retry-after": date, "date": email.utils.formatdate(NOW, usegmt=True)}
    assert parse_retry_after(served) == expected


@PROPERTY
@given(header_text)
def test_any_reset_duration_reads_as_no_wait_or_a_wait_within_the_cap(value):
    assert _a_wait(parse_duration(value))


@PROPERTY
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=59),
       st.integers(min_value=0, max_value=59), st.integers(min_value=0, max_value=999))  # fmt: skip
def test_a_reset_duration_is_its_parts_added(hours, minutes, seconds, millis):
    written = f"{hours}h{minutes}m{seconds}s{millis}ms"
    expected = min(hours * 3600 + minutes * 60 + seconds + millis / 1000.0, LONGEST_WAIT)
    assert parse_duration(written) == expected


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
                "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-tokens-reset",
                "date",
            ]
        ),
        header_text | st.just("0") | st.datetimes().map(lambda d: d.isoformat() + "Z"),
    )
)
def test_any_rate_limit_headers_read_as_no_wait_or_a_wait_within_the_cap(headers):
    assert _a_wait(rate_limit_reset(headers))


@PROPERTY
@given(st.text(max_size=60), header_text, st.sampled_from(["Please try again in ", "retry after ", "Try again in "]))
def test_any_429_message_reads_as_no_wait_or_a_wait_within_the_cap(before, wait, asking):
    assert _a_wait(wait_in_message(before))
    assert _a_wait(wait_in_message(f"{before}{asking}{wait}"))
    assert _a_wait(wait_in_message(f"{before}{asking}{wait} seconds."))


@PROPERTY
@given(
    st.one_of(
        header_text,
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
    st.sampled_from([1.0, 1000.0]),
)
def test_any_unix_time_reset_reads_as_no_wait_or_a_wait_within_the_cap(value, per_second):
    assert _a_wait(until_unix_time(value, per_second=per_second, now=NOW))
