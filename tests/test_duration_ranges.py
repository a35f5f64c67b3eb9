"""A duration or amount past what its reader takes is refused naming the range, never with a crash nor a hint that
tells a rewriting refused in its turn: a cache ttl of 1 and 400 zeros (YAML's int, a call's JSON number) raised
OverflowError out of the catalog's load and the call; ``1000000y`` was told it is about 365000000d (longer than any
ledger), and a cache ttl of ``1000000d`` that it is longer than any ledger (a cache ttl's longest is a year).
Searched by hypothesis too: any text or number is a value in range or the reader's own error."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from magsag_mcp import errors as E
from magsag_mcp.answer_cache import LONGEST_TTL, ttl_of_context
from magsag_mcp.cache_setting import CacheSetting
from magsag_mcp.errors import InputError
from magsag_mcp.ledger.duration_amounts import LEDGER_LONGEST, Longest
from magsag_mcp.ledger.times import parse_duration_seconds

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=300)

HUGE = 10**400
CACHE_LONGEST = Longest(LONGEST_TTL, "longer than a cache ttl may be (at most 365d, 31536000 seconds)")


@pytest.mark.parametrize("ttl", [HUGE, -HUGE, 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_a_cache_ttl_past_a_floats_range_is_refused_with_the_range(ttl: int):
    with pytest.raises(ValidationError) as info:
        CacheSetting(ttl=ttl)
    said = str(info.value)
    assert "must be between 0 and 365d (31536000 seconds), got a number of more than 24 digits" in said


@pytest.mark.parametrize("ttl", [HUGE, -HUGE, 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_a_calls_cache_ttl_past_a_floats_range_is_refused_with_the_range(ttl: int):
    with pytest.raises(E.PayloadError) as info:
        ttl_of_context({"cache_ttl": ttl})
    assert info.value.message == (
        "context.cache_ttl must be between 0 (leave the cache alone) and 31536000 seconds (a year), got a number of "
        "more than 24 digits"
    )


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("1" + "0" * 400, "must be between 0 and 365d (31536000 seconds), got a number of more than 24 digits"),
        ("1000000y", "1000000y is longer than a cache ttl may be (at most 365d, 31536000 seconds)"),
        ("1000000d", "'1000000d' is longer than a cache ttl may be (at most 365d, 31536000 seconds)"),
        ("400d", "'400d' is longer than a cache ttl may be (at most 365d, 31536000 seconds)"),
        ("P400D", "P400D is longer than a cache ttl may be (at most 365d, 31536000 seconds)"),
    ],
)
def test_a_routes_cache_ttl_too_long_is_refused_with_the_range_when_the_catalog_loads(
    catalog_copy: Path, written: str, said: str
):
    from magsag_mcp.catalog import load_catalog

    routing = catalog_copy / "routing" / "default.yaml"
    old = "  - match: analysis\n    priority: 10\n"
    routing.write_text(routing.read_text().replace(old, old + f"    cache: {{ttl: {written}}}\n"))
    with pytest.raises(E.ConfigError) as info:
        load_catalog(catalog_copy, env={})
    assert said in info.value.message
    assert "longer than any ledger" not in info.value.message and "is about" not in info.value.message


@pytest.mark.parametrize(
    "written", ["1000000y", "2000 years", "60000mo", "1000000 days", "P1000000D", "1e9d", "1000000D ago", "2000 Jahre"]
)
def test_a_duration_past_any_ledger_is_told_so_not_a_rewriting_refused_in_turn(written: str):
    with pytest.raises(InputError) as info:
        parse_duration_seconds(written)
    assert f"{written} is longer than any ledger (at most 1000 years)" in info.value.message
    assert " is written " not in info.value.message and " is about " not in info.value.message


#: a rewriting a hint tells: "is written 7d", "write 7d", "is about 365d", "is 0.5s", "is 42d"
_TOLD = re.compile(r"(?:is written|write|is about|is) (\d+(?:\.\d+)?[smhdw])\b")

_UNITS = ["s", "m", "h", "d", "w", "y", "mo", " years", " days", " weeks", " Tage", " Jahre", " quarters", "ms", ""]
_odd_durations = st.one_of(
    st.text(alphabet="0123456789.eE+-smhdwyMSHDWoPT ago", max_size=24),
    st.builds(
        lambda number, unit, around: around.format(number + unit),
        st.from_regex(r"\A[0-9]{1,60}(\.[0-9]{1,4})?\Z"),
        st.sampled_from(_UNITS),
        st.sampled_from(["{}", "-{}", "+{}", "{} ago", "'{}'", "P{}", "PT{}", "last {}"]),
    ),
)


@PROPERTY
@given(_odd_durations, st.sampled_from([LEDGER_LONGEST, CACHE_LONGEST]))
def test_any_duration_is_read_in_range_or_refused_and_no_hint_tells_a_rewriting_refused_in_turn(
    written: str, longest: Longest
):
    try:
        seconds = parse_duration_seconds(written, longest)
    except InputError as exc:
        for told in _TOLD.findall(exc.message):
            parse_duration_seconds(told, longest)  # raises where a hint told what the read refuses
        return
    assert math.isfinite(seconds) and 0 <= seconds <= longest.seconds


_numbers = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([HUGE, -HUGE, 10**5000, 0, LONGEST_TTL, LONGEST_TTL + 1]),
)


@PROPERTY
@given(_numbers | _odd_durations)
def test_any_cache_ttl_is_a_value_in_range_or_refused(ttl: object):
    try:
        read = CacheSetting(ttl=ttl).ttl
    except ValidationError as exc:
        assert "ttl" in str(exc)
    else:
        assert math.isfinite(read) and 0 <= read <= LONGEST_TTL


@PROPERTY
@given(_numbers)
def test_any_calls_cache_ttl_is_a_value_in_range_or_refused(ttl: float):
    try:
        read = ttl_of_context({"cache_ttl": ttl})
    except E.PayloadError as exc:
        assert exc.message.startswith("context.cache_ttl must be between 0")
    else:
        assert read is not None and math.isfinite(read) and 0 <= read <= LONGEST_TTL
