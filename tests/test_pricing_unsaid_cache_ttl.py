"""Claude's cache writes whose time to live the answer does not say (see Usage.cache_write_ttl_unsaid_tokens): a
stream's ``message_delta`` counts every write so far (MessageDeltaUsage: "the cumulative number of input tokens used
to create the cache entry") but holds no ``cache_creation``; only ``message_start`` splits the writes into 5-minute
(1.25x input) and 1-hour (2x input) ones. Writes past that split are billed at one of the two rates, and not said
which: priced as 5-minute writes, a 1-hour one was recorded at 5/8 of its bill as if exact. So are the writes of a
usage with no ``cache_creation`` at all (the spec's Usage makes it nullable). Where the two rates are one (an entry
pricing both alike), the cost is known and recorded; and where every cache marker (``cache_control``) the request
sent asked one time to live, the writes were of it (Anthropic writes only where a marker asks), and are priced at its
rate."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.attempt_cost import cut_in_flight, price_answered, price_failure
from magsag_mcp.errors import MalformedResponseError
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic_usage import cache_ttls_asked
from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.rates import UnitPrices
from magsag_mcp.records import AttemptRecord
from magsag_mcp.types import LLMRequest, LLMResult, Message, Target, Usage
from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


def _split_start_and_more_at_the_end(fake: FakeAnthropic) -> None:
    # message_start splits 10,000 writes (4,000 for 5 minutes, 6,000 for an hour); message_delta counts 12,000
    fake.queue(
        {
            "text": "ok",
            "usage": {
                "input_tokens": 1_000,
                "output_tokens": 800,
                "cache_read_input_tokens": 20_000,
                "cache_creation_input_tokens": 12_000,
                "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
            },
            "start_usage": {"cache_creation_input_tokens": 10_000},
        }
    )


async def test_a_streams_writes_past_message_starts_split_are_of_unknown_cost_not_5_minute_ones(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    _split_start_and_more_at_the_end(fake)
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    # every write counted (the cumulative 12,000), the 1-hour ones said; the cost unknown, and why
    assert (row["input_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (33_000, 12_000, 6_000)
    assert result.cost_usd is None and row["cost_usd"] is None
    said = " ".join(result.warnings)
    assert "2000 of them past those its cache_creation split" in said and "billed at different rates" in said
    # the ledger keeps how many: in its warnings, and in a column of their own (0033), which query_runs, the summary
    # and the export show beside the other cache writes (before: no column said it, and the row's cost could not be
    # told from its tokens)
    assert any("2000 of them past those its cache_creation split" in w for w in row["warnings"])
    assert row["cache_write_ttl_unsaid_tokens"] == 2_000
    stats = summary["model_stats"]["claude-sonnet-4-5"]
    assert stats["cost_complete"] is False and stats["cache_write_ttl_unsaid_tokens"] == 2_000
    assert summary["totals"]["cache_write_ttl_unsaid_tokens"] == 2_000
    [attempt] = result.attempts
    assert attempt.cache_write_ttl_unsaid_tokens == attempt.to_dict()["cache_write_ttl_unsaid_tokens"] == 2_000


async def test_writes_of_unsaid_time_to_live_are_priced_where_both_rates_are_one(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    _split_start_and_more_at_the_end(fake)
    rates = "{input: 3, output: 15, cache_read: 0.3, cache_write: 6, cache_write_1h: 6}"
    prices = f'"anthropic:claude-sonnet-4-5": {rates}\n'
    catalog = catalog_without_policies(tmp_path, prices)
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True}
    result, row, _ = await one_call(tmp_path, env, config, catalog)
    expected = (1_000 * 3 + 20_000 * D("0.3") + 12_000 * 6 + 800 * 15) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected


def test_a_body_whose_split_falls_short_of_its_writes_counts_the_rest_unsaid():
    raw = {
        "input_tokens": 1_000,
        "output_tokens": 800,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 12_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
    }
    u = anthropic_usage(raw)
    assert (u.cache_write_tokens, u.cache_write_1h_tokens, u.cache_write_ttl_unsaid_tokens) == (12_000, 6_000, 2_000)
    # a split that covers every write leaves none unsaid; one past the count is taken whole (the larger count)
    whole = anthropic_usage({**raw, "cache_creation_input_tokens": 10_000})
    assert (whole.cache_write_tokens, whole.cache_write_ttl_unsaid_tokens) == (10_000, 0)
    assert anthropic_usage({**raw, "cache_creation_input_tokens": 9_000}).cache_write_tokens == 10_000


def test_the_pricer_prices_unsaid_writes_only_where_the_5_minute_and_1_hour_rates_agree():
    usage = Usage(
        13_000, 800, cache_write_tokens=12_000, cache_write_1h_tokens=6_000, cache_write_ttl_unsaid_tokens=2_000
    )
    apart = Pricer([("anthropic:c", UnitPrices(D(3), D(15), cache_write=D("3.75"), cache_write_1h=D(6)))])
    quote = apart.price("anthropic", "c", usage)
    assert quote.cost_usd is None and "2000 of them" in (quote.warning or "")
    alike = Pricer([("anthropic:c", UnitPrices(D(3), D(15), cache_write=D(6), cache_write_1h=D(6)))])
    assert alike.price("anthropic", "c", usage).cost_usd == (1_000 * 3 + 12_000 * 6 + 800 * 15) / M
    # on genai-prices' rates (5-minute 1.25x, 1-hour 2x input): unknown, where all said was priced
    r = list_rates("anthropic", "claude-sonnet-4-5", 13_000)
    assert r["cache_write"] != r["cache_write_1h"]
    assert Pricer().price("anthropic", "claude-sonnet-4-5", usage).cost_usd is None
    said = Usage(13_000, 800, cache_write_tokens=12_000, cache_write_1h_tokens=6_000)
    assert Pricer().price("anthropic", "claude-sonnet-4-5", said).cost_usd is not None


@settings(max_examples=150, deadline=None)
@given(
    plain=st.integers(0, 150_000),
    read=st.integers(0, 150_000),
    five=st.integers(0, 50_000),
    hour=st.integers(0, 50_000),
    unsaid=st.integers(0, 50_000),
    out=st.integers(0, 100_000),
    us=st.booleans(),
)
def test_unsaid_writes_cost_to_the_token_where_known_and_nothing_where_not(plain, read, five, hour, unsaid, out, us):
    # a stream's counts as the reader gives them: message_start's split, message_delta's cumulative writes
    raw = {
        "input_tokens": plain,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": five + hour + unsaid,
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
        **({"inference_geo": "us"} if us else {}),
    }
    usage = anthropic_usage(raw)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (five + hour + unsaid, hour)
    assert usage.cache_write_ttl_unsaid_tokens == unsaid
    geo = D("1.1") if us else 1
    # an entry whose 5-minute and 1-hour rates are one: every write at that rate, known whatever its time to live
    alike = Pricer([("anthropic:c", UnitPrices(D(3), D(15), D("0.3"), cache_write=D(6), cache_write_1h=D(6)))])
    hand = (plain * 3 + read * D("0.3") + (five + hour + unsaid) * 6 + out * 15) / M * geo
    assert alike.price("anthropic", "c", usage).cost_usd == hand
    # genai-prices' claude-sonnet-4-5 (5-minute 1.25x input, 1-hour 2x): known to the token only where none is unsaid
    r = list_rates("anthropic", "claude-sonnet-4-5", plain + read + five + hour + unsaid)
    quote = Pricer().price("anthropic", "claude-sonnet-4-5", usage)
    if unsaid:
        assert quote.cost_usd is None and f"{unsaid} of them past those" in (quote.warning or "")
    else:
        said = plain * r["input"] + read * r["cache_read"] + five * r["cache_write"] + hour * r["cache_write_1h"]
        assert quote.cost_usd == (said + out * r["output"]) / M * geo


HOUR = {"type": "ephemeral", "ttl": "1h"}
FIVE = {"type": "ephemeral"}  # (ttl "5m" by default)


@pytest.mark.parametrize(("marker", "hour_rate"), [(HOUR, True), (FIVE, False)], ids=["1h", "5m"])
async def test_a_streams_unsaid_writes_are_priced_at_the_one_time_to_live_its_marker_asked(
    tmp_path, serve, marker, hour_rate
):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    _split_start_and_more_at_the_end(fake)
    params = {"cache_control": marker}
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True, "params": params}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    assert fake.requests[-1]["body"]["cache_control"] == marker
    # the 2,000 writes past message_start's split were written at the marker's time to live: priced at its rate
    r = list_rates("anthropic", "claude-sonnet-4-5", 33_000)
    five, hour = 4_000 + (0 if hour_rate else 2_000), 6_000 + (2_000 if hour_rate else 0)
    said = 1_000 * r["input"] + 20_000 * r["cache_read"] + five * r["cache_write"] + hour * r["cache_write_1h"]
    expected = (said + 800 * r["output"]) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    # the ledger keeps the counts as the answer said them (6,000 said 1-hour writes), and no warning of a guess; but
    # how many writes the marker priced is said, in the result and the ledger: the said split alone does not make
    # the cost recorded beside it
    assert (row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (12_000, 6_000)
    assert not any("recorded as unknown" in w for w in [*result.warnings, *row["warnings"]])
    rate = "1-hour" if hour_rate else "5-minute"
    said = "2,000 of them of a time to live its answer did not say (past its cache_creation's split, or without one)"
    for warnings in (result.warnings, row["warnings"]):
        assert any(said in w and f"priced as {rate} writes, the ttl {marker.get('ttl', '5m')!r}" in w for w in warnings)
    assert summary["model_stats"]["claude-sonnet-4-5"]["cost_complete"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_writes_of_an_answer_without_cache_creation_are_at_the_markers_time_to_live_not_5_minutes(
    tmp_path, serve, stream
):
    # a usage with cache_creation null (the spec's Usage makes it nullable: a gateway's) says no time to live of its
    # writes: they were priced as 5-minute ones, and a target asking ttl 1h was recorded at 5/8 of its bill
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    tokens = {"input_tokens": 1_000, "output_tokens": 800, "cache_creation_input_tokens": 10_000}
    fake.queue({"text": "ok", "usage": tokens})
    config = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "params": {"cache_control": HOUR},
    }
    result, row, _ = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("anthropic", "claude-sonnet-4-5", 11_000)
    expected = (1_000 * r["input"] + 10_000 * r["cache_write_1h"] + 800 * r["output"]) / M
    assert r["cache_write_1h"] != r["cache_write"]
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected


async def test_writes_without_cache_creation_and_no_marker_to_tell_are_of_unknown_cost(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    fake.queue(
        {"text": "ok", "usage": {"input_tokens": 1_000, "output_tokens": 800, "cache_creation_input_tokens": 10}}
    )
    result, row, _ = await one_call(tmp_path, env, {"provider": "anthropic", "model": "claude-sonnet-4-5"})
    assert result.cost_usd is None and row["cost_usd"] is None and row["cost_bound_usd"] is not None
    said = " ".join(result.warnings)
    assert "10 of them past those its cache_creation split" in said and "sent no cache_control marker" in said


def test_markers_of_two_times_to_live_leave_the_unsaid_writes_unknown():
    usage = Usage(
        13_000, 800, cache_write_tokens=12_000, cache_write_1h_tokens=6_000, cache_write_ttl_unsaid_tokens=2_000
    )
    both = cache_ttls_asked(
        LLMRequest(
            [Message("user", "hi")],
            extra={"cache_control": HOUR, "system": [{"type": "text", "text": "s", "cache_control": FIVE}]},
        )
    )
    assert both == {"1h", "5m"}
    quote = Pricer().price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=both)
    assert quote.cost_usd is None and "asked for both (1h, 5m)" in (quote.warning or "")
    # a ttl the API does not take is no time to live known
    odd = cache_ttls_asked(LLMRequest([Message("user", "hi")], extra={"cache_control": {"ttl": "2h"}}))
    assert Pricer().price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=odd).cost_usd is None
    # one time to live, however many markers ask it: priced, as said writes of it would be
    hours = cache_ttls_asked(
        LLMRequest([Message("user", "hi")], extra={"cache_control": HOUR, "tools": [{"cache_control": HOUR}]})
    )
    assert hours == {"1h"}
    r = list_rates("anthropic", "claude-sonnet-4-5", 13_000)
    priced = Pricer().price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=hours)
    assert "2,000 of them of a time to live its answer did not say" in (priced.warning or "")
    assert (
        priced.cost_usd
        == (1_000 * r["input"] + 4_000 * r["cache_write"] + 8_000 * r["cache_write_1h"] + 800 * r["output"]) / M
    )
    assert cache_ttls_asked(LLMRequest([Message("user", "hi")])) == frozenset()


def test_a_failed_attempts_unsaid_writes_are_priced_at_its_requests_marker():
    # an unusable answer is billed for the usage it reports: its unsaid writes priced as an answer's are
    target = Target("anthropic", "claude-sonnet-4-5", params=(("cache_control", HOUR),))
    request = LLMRequest([Message("user", "hi")], extra={"cache_control": HOUR})
    exc = MalformedResponseError("broken", provider="anthropic", model="claude-sonnet-4-5")
    exc.usage = anthropic_usage({"input_tokens": 1_000, "output_tokens": 800, "cache_creation_input_tokens": 10_000})
    record = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "error", 0, 1)
    price_failure(Pricer(), record, exc, target, None, request)
    r = list_rates("anthropic", "claude-sonnet-4-5", 11_000)
    assert record.cost_usd == (1_000 * r["input"] + 10_000 * r["cache_write_1h"] + 800 * r["output"]) / M


def test_only_a_marker_is_read_as_one_not_a_null_nor_a_schemas_property_of_that_name():
    # the top-level cache_control may be null (the spec's anyOf null: it asks nothing), and a JSON schema the params
    # carry (a tool's input_schema, output_config's format) may name a property cache_control: neither asks a ttl,
    # and read as markers they made a target asking ttl 1h alone look as if it asked two (its writes left unknown)
    request = LLMRequest(
        [Message("user", "hi")],
        extra={
            "cache_control": None,
            "system": [{"type": "text", "text": "s", "cache_control": HOUR}],
            "tools": [
                {"name": "t", "input_schema": {"type": "object", "properties": {"cache_control": {"type": "object"}}}}
            ],
        },
    )
    assert cache_ttls_asked(request) == {"1h"}


@pytest.mark.parametrize(("markers", "rate"), [({}, "cache_write_1h"), ({"cache_control": FIVE}, "cache_write")])
def test_a_cut_streams_counted_prompt_bounds_its_unsaid_writes_at_the_dearer_rate_where_no_one_ttl_was_asked(
    markers, rate
):
    # a stream cut after a message_start without cache_creation (a gateway's): its writes' time to live is unsaid;
    # with no marker to say it they were left unpriced, and the reservation, which holds no cache write for a target
    # with no marker, stood as the bound of a prompt whose writes alone may cost more
    target = Target("anthropic", "claude-sonnet-4-5")
    request = LLMRequest([Message("user", "hi")], max_tokens=100, extra=markers)
    prompt = anthropic_usage({"input_tokens": 1_000, "output_tokens": 0, "cache_creation_input_tokens": 50_000})
    admission = SimpleNamespace(reservation_id="r1", reserved_usd=D("0.01"))
    record = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "error", 0, 1)
    cut_in_flight(Pricer(), record, target, admission, request, "the stream was cut", prompt)
    r = list_rates("anthropic", "claude-sonnet-4-5", 51_000)
    assert record.cost_usd is None
    assert record.cost_bound_usd == (1_000 * r["input"] + 50_000 * r[rate] + 100 * r["output"]) / M


def test_an_unusable_answers_unsaid_writes_of_unknown_cost_are_bounded_at_the_dearer_rate_not_the_reservation():
    # no marker to say the writes' ttl: unknown cost, counted at its bound; the reservation (no cache write for a
    # target without a marker) was that bound, below what its counted writes alone cost at either rate
    target = Target("anthropic", "claude-sonnet-4-5")
    request = LLMRequest([Message("user", "hi")], max_tokens=100)
    usage = anthropic_usage({"input_tokens": 1_000, "output_tokens": 800, "cache_creation_input_tokens": 50_000})
    exc = MalformedResponseError("broken", provider="anthropic", model="claude-sonnet-4-5")
    exc.usage = usage
    failed = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "error", 0, 1)
    admission = SimpleNamespace(reservation_id="r1", reserved_usd=D("0.01"))
    price_failure(Pricer(), failed, exc, target, admission, request)
    answered = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "ok", 0, 1)
    price_answered(
        Pricer(), answered, LLMResult("ok", *target.label.split(":"), usage=usage), target, admission, request
    )
    r = list_rates("anthropic", "claude-sonnet-4-5", 51_000)
    for record in (failed, answered):
        assert record.cost_usd is None
        assert record.cost_bound_usd == (1_000 * r["input"] + 50_000 * r["cache_write_1h"] + 800 * r["output"]) / M


async def test_writes_priced_from_the_markers_are_counted_in_the_ledger_and_an_older_ledger_upgrades(tmp_path, serve):
    # writes whose time to live the answer left unsaid, priced at the 1 hour the target's marker asked: the ledger
    # counts them (0033), in the attempt's row, the day's rollup and the summary; a ledger the version before left (no
    # such column) is upgraded when opened, its rows kept, their count null (not counted then), its summary 0
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.service import Service
    from tests.older_version import (
        leave_as_before_0033,
        leave_as_before_0034,
        leave_as_before_0035,
        leave_as_the_version_before,
    )
    from tests.pricing_audit import catalog_without_policies

    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    catalog = catalog_without_policies(tmp_path)
    hour = {"cache_control": {"type": "ephemeral", "ttl": "1h"}}
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True, "params": hour}
    db = tmp_path / "audit.db"
    fake.queue({"text": "old", "usage": {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 500}})
    fake.queue({"text": "none", "usage": {"input_tokens": 10, "output_tokens": 1}})
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-old")
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-none")
    conn = sqlite3.connect(db)
    leave_as_the_version_before(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    conn.commit()
    conn.close()
    _split_start_and_more_at_the_end(fake)
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:  # (opened: migrated)
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-new")
        [old] = (await svc.query_runs({"run_id": "r-old"}))[0]["attempts"]
        [new] = (await svc.query_runs({"run_id": "r-new"}))[0]["attempts"]
        [none] = (await svc.query_runs({"run_id": "r-none"}))[0]["attempts"]
        summary = await svc.summarize()
    assert fake.violations == []
    assert result.cost_usd is not None and D(new["cost_usd"]) == result.cost_usd  # priced at the marker's 1 hour
    assert old["cache_write_tokens"] == 500 and old["cache_write_ttl_unsaid_tokens"] is None  # not counted then
    assert none["cache_write_tokens"] == 0 and none["cache_write_ttl_unsaid_tokens"] == 0  # none written: none unsaid
    assert new["cache_write_ttl_unsaid_tokens"] == 2_000
    assert summary["totals"]["cache_write_ttl_unsaid_tokens"] == 2_000
    # and beside it, the attempt it cannot count: r-old wrote to the cache before the count began (r-none wrote none)
    assert summary["totals"]["cache_write_ttl_uncounted_attempts"] == 1
    assert summary["model_stats"]["claude-sonnet-4-5"]["cache_write_ttl_uncounted_attempts"] == 1
    assert summary["totals"]["calls"] == 3
    async with Ledger(db) as ledger:
        rollup = await ledger.read(
            lambda c: c.execute("SELECT SUM(cache_write_ttl_unsaid_tokens) FROM usage_rollup").fetchone()[0]
        )
    assert rollup == 2_000


def test_unsaid_writes_are_priced_by_the_markers_of_the_body_sent_not_the_request_first_built():
    # A request sent again without a param the vendor refused (refused_settings.py) no longer carries what that param
    # held: the answer's writes were made at the markers of the body it came to. Read from the request as first built,
    # a 5-minute marker the retry left out beside the 1-hour one sent made the writes look of either ttl (unknown,
    # counted at the dearer bound) where they were all of the one hour asked; and a marker only the sent body holds
    # (on a system block, a tool) was not seen at all.
    target = Target("anthropic", "claude-sonnet-4-5")
    hour, five = {"type": "ephemeral", "ttl": "1h"}, {"type": "ephemeral"}
    extra = {"cache_control": hour, "stream_options": {"cache_control": five}}
    built = LLMRequest([Message("user", "hi")], max_tokens=100, extra=extra)
    sent = {"model": target.model, "max_tokens": 100, "messages": [], "cache_control": hour}
    usage = anthropic_usage({"input_tokens": 1_000, "output_tokens": 800, "cache_creation_input_tokens": 50_000})
    record = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "ok", 0, 1)
    record.sent = sent
    result = LLMResult("ok", target.provider, target.model, usage=usage)
    price_answered(Pricer(), record, result, target, SimpleNamespace(reserved_usd=None), built)
    assert record.cost_usd == (1_000 * 3 + 50_000 * 6 + 800 * 15) / M  # every write at the 1-hour rate
    # a marker on a system block of the body sent (none in the request's params) prices the writes as well
    on_system = {**sent, "cache_control": None, "system": [{"type": "text", "text": "be terse", "cache_control": hour}]}
    record = AttemptRecord("r", 0.0, target.provider, target.model, None, None, "ok", 0, 1)
    record.sent = on_system
    result = LLMResult("ok", target.provider, target.model, usage=usage)
    price_answered(Pricer(), record, result, target, SimpleNamespace(reserved_usd=None), LLMRequest([], max_tokens=100))
    assert record.cost_usd == (1_000 * 3 + 50_000 * 6 + 800 * 15) / M
    # nothing sent through a transport of ours (no body): the request's markers, as before
    assert cache_ttls_asked(built) == {"1h", "5m"}
