"""When a resolved price stops being right (genai_rates._next_price_change): the next edge of a time-of-day price,
whatever zone genai-prices writes the edge in, so a price resolved before an off-peak window is not kept into it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from types import SimpleNamespace

import pytest
from genai_prices.types import TimeOfDateConstraint

from magsag_mcp.genai_rates import _next_price_change


def _info(start: time, end: time) -> SimpleNamespace:
    return SimpleNamespace(prices=[SimpleNamespace(constraint=TimeOfDateConstraint(start_time=start, end_time=end))])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # DeepSeek's off-peak window as genai-prices writes it (UTC), and the same window written in other zones
        (time(16, 30, tzinfo=UTC), time(0, 30, tzinfo=UTC)),
        (time(0, 30, tzinfo=timezone(timedelta(hours=8))), time(8, 30, tzinfo=timezone(timedelta(hours=8)))),
        (time(11, 30, tzinfo=timezone(timedelta(hours=-5))), time(19, 30, tzinfo=timezone(timedelta(hours=-5)))),
    ],
)
@pytest.mark.parametrize("hour", [0.25, 6, 16.4, 16.6, 20, 23.9])
def test_the_next_price_change_is_the_next_edge_of_a_time_of_day_price_in_any_zone(start, end, hour):
    # Each edge was put on now's UTC date in its own zone, and a day later if that was past: an edge written west of
    # UTC (19:30-05:00 is 00:30 UTC) landed a day after its next time, and the price resolved before it was kept a day
    # into the other rate; one written east of it could land in the past (a price read again on every call).
    now = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=hour)
    edges = [now.replace(hour=16, minute=30), now.replace(hour=0, minute=30)]  # 16:30 and 00:30 UTC, every zone above
    expected = min(e if e > now else e + timedelta(days=1) for e in edges)
    assert _next_price_change(_info(start, end), now, with_variants=False) == expected.timestamp()
