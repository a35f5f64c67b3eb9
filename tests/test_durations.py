"""Durations in messages (a server's wait, the rest of it left, a retry's backoff, a timeout, the deadline) follow one
rule: at most three significant digits, whole seconds from 100 s, never an exponent."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade_waits import TargetRests
from magsag_mcp.durations import seconds
from magsag_mcp.mcp_server.progress import EVENTS
from magsag_mcp.targets import parse_target


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (0.5, "0.5s"),
        (12.345, "12.3s"),
        (2.345, "2.35s"),  # rounded as written, half up
        (0.05, "0.05s"),
        (0.001, "0.001s"),
        (20.0, "20s"),
        (120.0, "120s"),
        (1234.5, "1235s"),
        (86400.0, "86400s"),
        (0.0, "0s"),
        (-0.5, "0s"),  # a wait already over (a reset time the clock has passed): none, not "-0.5s"
    ],
)
def test_a_duration_is_said_to_three_significant_digits_and_whole_seconds_from_100(value, said):
    assert seconds(value) == said


def test_a_rest_message_says_the_wait_asked_and_the_wait_left_alike():
    """The rest's message said "left alone for 12.345s (rate_limited), 11.8s of that left": the server's wait to the
    millisecond (`:g`) beside the rest of it to three digits (`.3g`), which wrote 1234.5 s as 1.23e+03s."""
    target = parse_target("fake:a")
    rests = TargetRests()
    rests.note(target, E.RateLimitError("slow down", retry_after=12.345), 1000.0)
    said = rests.resting(target, 1000.5).message
    assert "asked 0.5s ago to be left alone for 12.3s (rate_limited), 11.8s of that left" in said


def test_progress_says_a_wait_by_the_same_rule():
    """Progress said "retrying fake:a in 12.345s" (the event's wait_s, rounded to the millisecond) beside the
    warnings' "11.8s"."""
    retry = EVENTS["retry"][1]
    assert retry({"target": "fake:a", "wait_s": 12.345}) == "retrying fake:a in 12.3s"
    assert retry({"target": "fake:a", "wait_s": 0.5}) == "retrying fake:a in 0.5s"
    assert retry({"target": "fake:a", "wait_s": 1234.5, "resting": True}).startswith("waiting 1235s before calling")


def _error_record():
    from magsag_mcp.records import AttemptRecord

    return AttemptRecord(
        run_id="r", started_at=0.0, provider="fake", model="a", skill=None, agent=None, outcome="error",
        fallback_position=0, attempt_number=1,
    )  # fmt: skip


def test_a_server_wait_just_over_the_retry_cap_is_said_longer_than_it():
    """A server's 20.04 s against the 20 s cap read "the server asked to wait 20s, longer than the retry cap of 20s":
    the wait compared is said to the digits that show it longer."""
    from magsag_mcp.cascade_report import CascadeState
    from magsag_mcp.cascade_waits import retry_wait
    from magsag_mcp.retry import RetryPolicy

    record = _error_record()
    error = E.RateLimitError("later", status=429, retry_after=20.04)
    assert retry_wait(RetryPolicy(max_delay=20.0), error, 1, 60.0, record, CascadeState(), 0) is None
    assert (
        "the server asked to wait 20.04s, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)"
        in (record.warnings[0])
    )


def test_a_wait_past_the_deadline_and_the_deadline_are_said_apart():
    """A wait of 5.004 s, the deadline 5.001 s away, read "the wait of 5s would pass the call's deadline, 5s away"."""
    from magsag_mcp.cascade_report import CascadeState
    from magsag_mcp.cascade_waits import retry_wait
    from magsag_mcp.retry import RetryPolicy

    record = _error_record()
    error = E.RateLimitError("later", status=429, retry_after=5.004)
    # no jitter (base_delay 0): the wait is the server's
    assert retry_wait(RetryPolicy(base_delay=0.0), error, 1, 5.001, record, CascadeState(), 0) is None
    assert "the wait of 5.004s would pass the call's deadline, 5.001s away (MAGSAG_CALL_DEADLINE)" in record.warnings[0]


def test_a_timeout_not_retried_says_what_the_deadline_leaves_is_short_of():
    """The warning "timeout after 120s, not retried: the call's deadline leaves 120.3s" read as room enough: what is
    compared is the wait before the retry and another timeout together."""
    from magsag_mcp.cascade_report import CascadeState
    from magsag_mcp.cascade_waits import retry_wait
    from magsag_mcp.retry import RetryPolicy

    record = _error_record()
    error = E.ProviderTimeoutError("no answer", timeout_s=120.0, retry_after=0.5)
    assert retry_wait(RetryPolicy(base_delay=0.0), error, 1, 120.3, record, CascadeState(), 0) is None
    assert (
        "timeout after 120s, not retried: the call's deadline leaves 120s, no more than the wait (0.5s) and another "
        "120s take"
    ) in record.warnings[0]


def test_a_rest_left_just_over_the_retry_cap_is_said_longer_than_it():
    """explain said of a rest "20s of that left, longer than the retry cap of 20s" (20.04 s left)."""
    from magsag_mcp.cascade_waits import rest_then
    from magsag_mcp.retry import RetryPolicy

    target = parse_target("fake:a")
    rests = TargetRests()
    rests.note(target, E.RateLimitError("slow down", retry_after=25.04), 1000.0)
    then = rest_then(RetryPolicy(max_delay=20.0), lambda: False)
    said = rests.resting(target, 1005.0, then).message
    assert "20.04s of that left, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)" in said


def test_a_setting_is_said_as_it_was_set():
    """MAGSAG_CALL_DEADLINE=1234.5 was said "the call's deadline of 1235s (MAGSAG_CALL_DEADLINE)", a figure found
    nowhere in the settings; a timeout's setting likewise."""
    from magsag_mcp.durations import setting
    from magsag_mcp.transport import Timeouts

    assert [setting(v) for v in (1234.5, 20.0, 0.001, 2.345)] == ["1234.5s", "20s", "0.001s", "2.345s"]
    assert Timeouts(connect=2.345, read=1234.5).read_described() == "the read timeout of 1234.5s (MAGSAG_READ_TIMEOUT)"
    assert "the connect timeout of 2.345s" in Timeouts(connect=2.345, read=1234.5).connect_described()


@pytest.mark.parametrize(
    ("a", "b", "said"),
    [
        (1e-9, 2e-9, ("0.000000001s", "0.000000002s")),
        (0.0, 1e-9, ("0s", "0.000000001s")),
        (1.2e-7, 1.1e-7, ("0.00000012s", "0.00000011s")),
    ],
)
def test_durations_compared_below_a_microsecond_are_said_without_an_exponent(a, b, said):
    """Two durations apart only past the sixth decimal were said '1E-9s' and '2E-9s' (and a zero beside them
    '0E-9s'): Decimal's str writes an exponent from the seventh place, which the rule says a message never shows."""
    from magsag_mcp.durations import against, compared

    assert compared(a, b) == said
    assert against(max(a, b), min(a, b)) == said[0 if a > b else 1]


def test_a_server_wait_under_a_microsecond_past_the_deadline_is_said_without_an_exponent():
    """Gemini's RetryInfo.retryDelay is a Duration to nine places ('0.00000012s'): a wait of 1.2e-7 s, the deadline
    1.1e-7 s away, read "the wait of 1.2E-7s would pass the call's deadline, 1.1E-7s away"."""
    from magsag_mcp.cascade_report import CascadeState
    from magsag_mcp.cascade_waits import retry_wait
    from magsag_mcp.retry import RetryPolicy

    record = _error_record()
    error = E.RateLimitError("later", status=429, retry_after=1.2e-7)
    assert retry_wait(RetryPolicy(base_delay=0.0), error, 1, 1.1e-7, record, CascadeState(), 0) is None
    assert "the wait of 0.00000012s would pass the call's deadline, 0.00000011s away" in record.warnings[0]


def test_a_duration_of_28_digits_or_more_is_said_readably_not_raised():
    """Decimal's default context holds 28 digits: from 1e28 s (a setting of 1e30, as MAGSAG_RETRY_MAX_DELAY=1e30 makes
    a backoff) quantize raised decimal.InvalidOperation out of the message that said it. Then it was said whole, 31
    digits (310 for the largest float), which no reader counts: past 31 days, the longest wait a server is taken to
    ask, it is said "more than 31 days" (changed on purpose: this test asserted the 31 digits)."""
    from magsag_mcp.durations import against, compared, setting
    from magsag_mcp.providers.rate_limit_waits import LONGEST_WAIT
    from magsag_mcp.transport import Timeouts

    assert seconds(1e30) == "more than 31 days" and seconds(1.7976931348623157e308) == "more than 31 days"
    assert against(1e30, 5.0) == "more than 31 days" and against(5.0, 1e30) == "5s"
    assert compared(1e30, 300.0) == ("more than 31 days", "300s")
    assert setting(1e30) == "more than 31 days" and seconds(float("inf")) == "more than 31 days"
    said = Timeouts(connect=1e30, read=1e30).read_described()
    assert said == "the read timeout of more than 31 days (MAGSAG_READ_TIMEOUT)"
    # the bound itself, the longest wait a server's answer is read as, is said in seconds, as any other
    assert seconds(LONGEST_WAIT) == "2678400s" and setting(LONGEST_WAIT) == "2678400s"
    assert seconds(LONGEST_WAIT + 1) == "more than 31 days"


def test_the_longest_duration_rounded_fits_the_context_to_the_most_places():
    """durations rounded in a Decimal context of 327 digits, enough for any float to the most places; only a
    duration up to LONGEST_SAID is rounded since a longer one is said "more than 31 days" (the test above), so the
    context holds its 7 digits and 17 places, and one more. The longest, to the most places, still fits: in 23
    digits quantize raised InvalidOperation."""
    import math

    from magsag_mcp import durations

    longest = durations.LONGEST_SAID
    below = math.nextafter(longest, 0.0)  # 2678399.9999999995: the most digits a duration rounded has
    assert durations._fixed(longest, durations._MOST_PLACES) == "2678400s"
    assert durations._fixed(below, durations._MOST_PLACES) == f"{below!r}s"
    assert durations.compared(below, longest) == (f"{below!r}s", "2678400s")
