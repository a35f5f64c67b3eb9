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
