"""A wall clock set back between an attempt's reservation and its sending (NTP stepping it, a clock corrected) across
midnight: the attempt's spend lands in the day its reservation was checked against (or a later one), never in the day
before, whose limit never counted it."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from magsag_mcp import cascade
from magsag_mcp.governance import budget
from magsag_mcp.ledger.migrations import SPEND_BUCKET_SECONDS
from magsag_mcp.ledger.money import from_pusd
from tests.governance_helpers import open_service, policy, prices

pytestmark = pytest.mark.anyio

#: a UTC midnight: 2025-10-10 00:00
MIDNIGHT = 20371 * 86400.0


def _day_spend(db: Path, start: float) -> Decimal:
    """What the ledger's spend buckets hold for the UTC day from ``start``, as the day limit reads them."""
    first, last = int(start // SPEND_BUCKET_SECONDS), int((start + 86400) // SPEND_BUCKET_SECONDS)
    with sqlite3.connect(db) as conn:
        (spent,) = conn.execute(
            "SELECT coalesce(SUM(cost_pusd), 0) FROM day_spend WHERE bucket >= ? AND bucket < ?", (first, last)
        ).fetchone()
    return from_pusd(spent)


async def test_an_attempt_reserved_after_midnight_and_sent_on_a_clock_set_back_before_it_spends_the_new_day(
    catalog_copy: Path, tmp_path: Path, upstream, monkeypatch
):
    prices(catalog_copy, '"compat:metered": {input: 1000, output: 1000}\n')
    policy(catalog_copy, "policies:\n  - name: daily\n    thresholds: {max_cost_per_day_usd: 0.13}\n")
    reserving = {"now": MIDNIGHT - 12 * 3600}  # the reservations' clock
    sending = {"now": MIDNIGHT - 12 * 3600}  # the clock the attempt reads as it is sent
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: reserving["now"]))
    monkeypatch.setattr(cascade, "time", SimpleNamespace(time=lambda: sending["now"]))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 50}}
    try:
        first = await svc.invoke_skill("skill.analysis", payload)  # noon: the day's spend
        # Reserved at 00:05:00 (the new day is empty: it fits), then the clock is set back ten minutes as the attempt
        # is sent: 23:55:00 the day before.
        reserving["now"], sending["now"] = MIDNIGHT + 300, MIDNIGHT - 300
        second = await svc.invoke_skill("skill.analysis", payload)
    finally:
        await svc.aclose()
    cost = Decimal(first["cost_usd"] if isinstance(first, dict) else first.cost_usd)
    assert 2 * cost > Decimal("0.13")  # (two of them pass the day's limit: one fits)
    # Before: the second call's spend landed at 23:55 in the day before, whose limit had not counted it: passed.
    assert _day_spend(tmp_path / "gov.db", MIDNIGHT - 86400) == cost
    assert _day_spend(tmp_path / "gov.db", MIDNIGHT) == Decimal(second.cost_usd)
    with sqlite3.connect(tmp_path / "gov.db") as conn:
        started = [at for (at,) in conn.execute("SELECT started_at FROM attempts ORDER BY id")]
    assert started == [MIDNIGHT - 12 * 3600, MIDNIGHT + 300]  # recorded as sent when its reservation was made


async def test_a_fallback_taking_over_a_reservation_on_a_clock_set_back_leaves_its_stand_in_in_the_new_day(
    tmp_path: Path, monkeypatch
):
    # The fallback's Carry wrote the clock's time as its reservation's: set back across midnight, the stand-in the
    # sweep records for it (its process dead with the fallback in flight) went to the day before, whose limit never
    # counted it. The reservation's time never goes back: its attempt is sent no earlier (see attempts.sent_at).
    from magsag_mcp.governance import Governance, Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.ledger.abandoned import record_abandoned
    from tests.test_carried_reservations import ByModel, hop

    clock = {"now": MIDNIGHT + 300}
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: clock["now"]))
    db = tmp_path / "l.db"
    day_cap = PolicySet([Policy(name="cap", thresholds={"max_cost_per_day_usd": "1"})])
    async with Ledger(db) as ledger:
        gov = Governance(day_cap, ledger, ByModel(a="0.6", b="0.5"))
        first = await gov.admit(hop("a", []))  # 00:05:00
        await gov.settle(first, Decimal(0))  # a 500: nothing billed
        clock["now"] = MIDNIGHT - 300  # set back: 23:55:00 the day before
        second = await gov.admit(hop("b", [first]))  # ... and the process dies with it in flight
    assert second.reservation_id is not None and second.reserved_at == MIDNIGHT + 300
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE budget_reservations SET expires_at = 0")
        assert record_abandoned(conn, MIDNIGHT + 600) == 1
        [(started,)] = conn.execute("SELECT started_at FROM attempts").fetchall()
        bounds = conn.execute("SELECT bucket, cost_bound_pusd FROM day_spend WHERE cost_bound_pusd > 0").fetchall()
    assert started == MIDNIGHT + 300
    # its bound (the $0.50 it held) counts in the new day's spend, whose limit counted it in flight
    assert bounds == [(int((MIDNIGHT + 300) // SPEND_BUCKET_SECONDS), 500_000_000_000)]


async def test_a_paused_turns_continuation_sent_on_a_clock_set_back_spends_the_day_it_was_reserved_in(
    tmp_path: Path, serve, monkeypatch
):
    # A continuation (cascade_paused.py) is admitted and sent as an attempt of its own: reserved at 00:05:00, the clock
    # set back as it is sent (23:55:00 the day before), its spend lands in the day its reservation was checked in.
    from magsag_mcp import cascade_paused
    from magsag_mcp.service import Service
    from tests.providers.fakes import FakeAnthropic
    from tests.test_paused_turns import CATALOG, KEY, MODEL, SEARCHED

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    policy(catalog, "policies:\n  - name: daily\n    thresholds: {max_cost_per_day_usd: 100}\n")
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: MIDNIGHT + 300))
    monkeypatch.setattr(cascade, "time", SimpleNamespace(time=lambda: MIDNIGHT + 300))
    monkeypatch.setattr(cascade_paused, "time", SimpleNamespace(time=lambda: MIDNIGHT - 300))
    first = {**SEARCHED, "text": "Searching. ", "usage": {"input_tokens": 100, "output_tokens": 20}}
    fake = FakeAnthropic(KEY).queue(
        first, {"text": "It is raining.", "usage": {"input_tokens": 300, "output_tokens": 40}}
    )
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000}
    async with await Service.open(catalog=catalog, db=tmp_path / "gov.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert fake.violations == [] and len(fake.requests) == 2 and result.text == "Searching. It is raining."
    with sqlite3.connect(tmp_path / "gov.db") as conn:
        started = [at for (at,) in conn.execute("SELECT started_at FROM attempts ORDER BY id")]
    assert started == [MIDNIGHT + 300, MIDNIGHT + 300]  # before: the continuation's at 23:55, the day before
    assert _day_spend(tmp_path / "gov.db", MIDNIGHT - 86400) == 0
    assert _day_spend(tmp_path / "gov.db", MIDNIGHT) == Decimal(result.cost_usd)
