"""Properties of how every message says a duration (durations.py), searched by hypothesis for counterexamples: any
float is said without an exponent, at most to the millisecond by the rule, and a setting exactly as given; two
durations compared in one sentence read in the order they are ("20.04s, longer than the cap of 20s")."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from magsag_mcp.durations import LONGEST_SAID, OVER_THE_LONGEST, against, compared, seconds, setting

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=400)

#: a duration said in seconds: digits, a point and digits after it, no exponent, no trailing zero after the point
_SAID = re.compile(r"\A\d+(\.\d*[1-9])?s\Z")
#: durations as messages meet them, up to 31 days: a setting as users write one (to the microsecond), a wait as a
#: clock's difference gives it (a float's own digits, from a millisecond: 1e-300 s is no wait, and a comparison
#: is given 17 places at most)
durations = (
    st.decimals(min_value=0, max_value=Decimal(int(LONGEST_SAID)), places=6).map(float)
    | st.floats(min_value=1e-3, max_value=LONGEST_SAID, allow_nan=False)
    | st.sampled_from(
        [0.0, 0.0005, 0.0015, 9.995, 9.9995, 99.95, 99.5, 100.5, 1234.5, 20.04, 20.0, 5.004, 5.001, LONGEST_SAID]
    )
)
anything = st.floats(allow_nan=True, allow_infinity=True)


def _apart(a: float, b: float) -> bool:
    """Whether two durations differ within the 17 decimal places a compared duration is given (durations'
    _MOST_PLACES): 1e-94 s and 0 s are both 0s, a difference no message is for."""
    step = Decimal(1).scaleb(-17)
    return Decimal(repr(a)).quantize(step) != Decimal(repr(b)).quantize(step)


def _in_places(value: float) -> bool:
    """Whether ``value`` is written in at most those 17 decimal places (0.0010000000000000002 takes 19)."""
    return -min(0, Decimal(repr(value)).as_tuple().exponent) <= 17  # type: ignore[operator]


def _value(said: str) -> Decimal:
    assert _SAID.match(said), said
    return Decimal(said[:-1])


@PROPERTY
@given(anything)
def test_any_float_is_said_as_seconds_without_an_exponent_or_as_more_than_31_days(value):
    for said in (seconds(value), setting(value)):
        if value > LONGEST_SAID:
            assert said == OVER_THE_LONGEST
        else:  # (nan and -inf as Python writes them: no number, said as given)
            assert "e" not in said and (said in ("nans", "-infs") or re.fullmatch(r"-?\d+(\.\d+)?s", said)), said


@PROPERTY
@given(durations)
def test_a_duration_is_said_to_three_significant_digits_nothing_finer_than_a_millisecond(value):
    said = _value(seconds(value))
    places = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3
    assert abs(said - Decimal(repr(value))) <= Decimal(5).scaleb(-places - 1), (value, said)


@PROPERTY
@given(durations)
def test_a_setting_is_said_exactly_as_given(value):
    assert _value(setting(value)) == Decimal(repr(value))


@PROPERTY
@given(durations, durations)
def test_two_durations_compared_read_in_the_order_they_are(a, b):
    assume(_apart(a, b) or a == b)
    assume(_in_places(a) and _in_places(b))
    said_a, said_b = compared(a, b)
    order = (a > b) - (a < b)
    read = (_value(said_a) > _value(said_b)) - (_value(said_a) < _value(said_b))
    assert read == order, (a, b, said_a, said_b)


@PROPERTY
@given(durations, durations)
def test_a_duration_against_a_setting_reads_on_the_side_of_it_that_it_is(value, other):
    assume(_apart(value, other) or value == other)
    assume(_in_places(value) and _in_places(other))
    said, limit = _value(against(value, other)), _value(setting(other))
    assert (said > limit) - (said < limit) == (value > other) - (value < other), (value, other, said, limit)
