"""Anthropic writes a prompt to its cache only where the request marks it (``cache_control``; magsag sends one
only as a target's ``params.cache_control``, the top-level marker), and bills a write at 1.25x the input rate
(5 minutes) or 2x (``ttl: "1h"``). A worst case priced every Claude prompt as a 1-hour cache write: a call
that marks nothing was reserved (and estimated by explain) at twice its prompt's cost, and a call limit
refused calls that could not reach it."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.providers.anthropic_usage import cache_ttls_marked
from magsag_mcp.service import Service
from magsag_mcp.types import Usage

from .fakes import FakeAnthropic

KEY = "sk-test-key-123456"
M = 1_000_000
CATALOG = Path(__file__).resolve().parents[2] / "catalog"


def _ttls(cache_control):
    """The times to live a target's ``params.cache_control`` asks, as its reservation reads them."""
    return cache_ttls_marked({"cache_control": cache_control})


@pytest.mark.parametrize(
    ("tokens", "rates"),
    [(10_000, (D(3), D("3.75"), D(6), D(15))), (250_000, (D(6), D("7.5"), D(12), D("22.5")))],
    ids=["below the long-context tier", "past it"],
)
def test_an_anthropic_worst_case_prices_the_prompt_as_the_cache_writes_the_request_asks_for(tokens, rates):
    plain, five_minutes, one_hour, output = rates
    pricer = Pricer.from_catalog(None)

    def worst(cache_control):
        return pricer.worst_case("anthropic", "claude-sonnet-4-5", tokens, 1000, cache_ttls=_ttls(cache_control))

    assert worst(None) == (tokens * plain + 1000 * output) / D(M)
    assert worst({"type": "ephemeral"}) == (tokens * five_minutes + 1000 * output) / D(M)
    assert worst({"type": "ephemeral", "ttl": "5m"}) == worst({"type": "ephemeral"})
    assert worst({"type": "ephemeral", "ttl": "1h"}) == (tokens * one_hour + 1000 * output) / D(M)
    # each still bounds what the call it stands for can be billed
    all_hour = Usage(tokens, 1000, cache_write_tokens=tokens, cache_write_1h_tokens=tokens)
    assert (
        worst({"type": "ephemeral", "ttl": "1h"}) == pricer.price("anthropic", "claude-sonnet-4-5", all_hour).cost_usd
    )
    assert worst(None) == pricer.price("anthropic", "claude-sonnet-4-5", Usage(tokens, 1000)).cost_usd


def test_other_providers_cache_on_their_own_and_are_reserved_for_it():
    """OpenAI caches (and bills writes, where a model has a write rate) without any marker in the request."""
    pricer = Pricer.from_catalog(None)
    assert pricer.worst_case("openai", "gpt-5.6-luna", 10_000, 100, cache_ttls=frozenset()) == (
        10_000 * D("0.25") + 100 * D("1.2")
    ) / D(M)


@pytest.mark.anyio
async def test_a_call_limit_lets_through_a_claude_call_that_marks_nothing_for_the_cache(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    model = {"provider": "anthropic", "model": "claude-sonnet-4-5", "max_tokens": 1000}
    plain = {"data": "x" * 4000, "model_config": model}
    marked = {"data": "x" * 4000, "model_config": {**model, "params": {"cache_control": {"type": "ephemeral"}}}}
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        plan = svc.explain("skill.analysis", plain)
        estimated, unmarked = plan["estimated_input_tokens"], D(plan["targets"][0]["estimated_max_cost_usd"])
        five_minutes = D(svc.explain("skill.analysis", marked)["targets"][0]["estimated_max_cost_usd"])
    assert unmarked == (estimated * 3 + 1000 * 15) / D(M)
    assert five_minutes == (estimated * D("3.75") + 1000 * 15) / D(M)
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {(unmarked + five_minutes) / 2}}}\n"
    )
    fake.queue({"text": "ok", "usage": {"input_tokens": 2000, "output_tokens": 10}})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", plain)
        assert result.text == "ok"
        with pytest.raises(Exception, match="call limit"):
            await svc.invoke_skill("skill.analysis", marked)
    assert len(fake.requests) == 1 and fake.violations == []


def test_a_marked_claude_call_priced_by_prices_yaml_without_write_rates_is_reserved_for_what_anthropic_bills():
    # prices.yaml prices a Claude model of the user's by its input and output alone (cache rates are optional).
    # A target marking the prompt for the cache (params.cache_control) is billed its write at Anthropic's own
    # multiple of the input rate, 1.25x (5 minutes) or 2x (an hour). The worst case priced the prompt at the
    # input rate: a call limit passed calls billed up to twice their prompt's reservation, and a 1-hour write
    # (whose cost is then unknown) was counted at that bound.
    from magsag_mcp.rates import UnitPrices

    pricer = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15)))])

    def worst(cache_control):
        return pricer.worst_case("anthropic", "my-claude", 10_000, 1000, cache_ttls=_ttls(cache_control))

    assert worst(None) == (10_000 * D(3) + 1000 * 15) / D(M)  # nothing marked: nothing written
    assert worst({"type": "ephemeral"}) == (10_000 * D("3.75") + 1000 * 15) / D(M)
    assert worst({"type": "ephemeral", "ttl": "1h"}) == (10_000 * D(6) + 1000 * 15) / D(M)
    # a rate the entry gives is the one billed
    given = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15), cache_write=D(4), cache_write_1h=D(7)))])
    hour = given.worst_case("anthropic", "my-claude", 10_000, 1000, cache_ttls=frozenset({"1h"}))
    assert hour == (10_000 * D(7) + 1000 * 15) / D(M)
    # other providers bill no write at a multiple of their own: a compat entry is reserved at its rates
    compat = Pricer([("compat:my-model", UnitPrices(D(3), D(15)))])
    assert compat.worst_case("compat", "my-model", 10_000, 1000) == (10_000 * D(3) + 1000 * 15) / D(M)


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_claude_cache_write_priced_by_prices_yaml_without_a_write_rate_is_recorded_at_what_anthropic_bills(
    tmp_path, serve, stream
):
    # prices.yaml prices a Claude model by its input and output alone (a negotiated rate, a model genai-prices does
    # not know yet). Anthropic bills a 5-minute cache write at 1.25x the input rate; the call was reserved so, but
    # recorded at the input rate itself: every write a fifth below its bill, in the ledger and in what budgets
    # counted, without a word.
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "prices.yaml").write_text(
        '"anthropic:my-claude": {input: 3, output: 15}\n"local:*": {input: 0, output: 0}\n'
    )
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    usage = {"input_tokens": 1000, "output_tokens": 10, "cache_read_input_tokens": 0}
    usage["cache_creation_input_tokens"] = 20_000
    fake.queue({"text": "ok", "usage": usage})
    model = {"provider": "anthropic", "model": "my-claude", "stream": stream}
    payload = {"data": "x", "model_config": {**model, "params": {"cache_control": {"type": "ephemeral"}}}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-write")
        [run] = await svc.query_runs({"run_id": "r-write"})
        summary = await svc.summarize({"run_id": "r-write"})
    billed = (1000 * D(3) + 20_000 * D("3.75") + 10 * 15) / D(M)
    assert result.cost_usd == billed
    assert D(run["cost_usd"]) == billed and summary["totals"]["cost_usd_exact"] == format(billed, "f")
    assert fake.violations == []
    # a rate the entry gives is the one billed; a compat entry's writes cost its input rate (no multiple of its own)
    given = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15), cache_write=D(4)))])
    assert given.price("anthropic", "my-claude", Usage(2000, 0, cache_write_tokens=1000)).cost_usd == D("0.007")
    compat = Pricer([("compat:my-model", UnitPrices(D(3), D(15)))])
    assert compat.price("compat", "my-model", Usage(2000, 0, cache_write_tokens=1000)).cost_usd == D("0.006")


def test_a_claude_one_hour_cache_write_priced_by_prices_yaml_without_its_rate_costs_anthropics_2x():
    # A Claude target whose cache_control asks for ttl 1h, priced by a prices.yaml entry of input and output rates:
    # Anthropic bills a 1-hour write at 2x the input rate (as its 5-minute one at 1.25x), and the call was reserved
    # so, but the call was recorded of unknown cost (null), making its summary's cost null for a rate Anthropic
    # publishes.
    pricer = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15)))])
    usage = Usage(21_000, 10, cache_write_tokens=20_000, cache_write_1h_tokens=5_000)
    billed = (1000 * D(3) + 15_000 * D("3.75") + 5_000 * D(6) + 10 * 15) / D(M)
    assert pricer.price("anthropic", "my-claude", usage).cost_usd == billed
    # a rate the entry gives wins; another provider has no 1-hour multiple of its own: its write stays unknown
    given = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15), cache_write_1h=D(7)))])
    assert given.price("anthropic", "my-claude", usage).cost_usd == billed + 5_000 * D(1) / D(M)
    compat = Pricer([("compat:my-model", UnitPrices(D(3), D(15)))])
    assert compat.price("compat", "my-model", usage).cost_usd is None


def test_a_claude_cache_read_priced_by_prices_yaml_without_its_rate_costs_anthropics_tenth_of_the_input_rate():
    # A prices.yaml entry giving a Claude model input and output rates priced its 5-minute and 1-hour writes at
    # Anthropic's 1.25x and 2x, but each cache read at the full input rate, ten times what Anthropic bills (0.1x):
    # a cached prompt of 20,000 tokens was recorded at nearly ten times its cost, and every day and run limit counted
    # that spend, refusing calls the budget had room for.
    pricer = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15)))])
    usage = Usage(21_000, 10, cached_tokens=20_000)
    assert pricer.price("anthropic", "my-claude", usage).cost_usd == (1000 * D(3) + 20_000 * D("0.3") + 10 * 15) / D(M)
    # a rate the entry gives wins; another provider's reads have no multiple of Anthropic's: the input rate
    given = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15), cache_read=D("0.5")))])
    assert given.price("anthropic", "my-claude", usage).cost_usd == (1000 * D(3) + 20_000 * D("0.5") + 150) / D(M)
    compat = Pricer([("compat:my-model", UnitPrices(D(3), D(15)))])
    assert compat.price("compat", "my-model", usage).cost_usd == (21_000 * D(3) + 150) / D(M)



_HOUR = {"type": "ephemeral", "ttl": "1h"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [
        # a gateway's field the Messages API behind it takes blocks in (magsag refuses params.system, tools and
        # messages, which it writes itself: a marker below the top level comes only in such a param)
        {"gateway_prefix": [{"type": "text", "text": "You are terse.", "cache_control": _HOUR}]},
        {"cache_control": {"type": "ephemeral"}, "gateway_prefix": {"blocks": [{"cache_control": _HOUR}]}},
    ],
    ids=["a nested 1h marker alone", "a nested 1h marker beside a 5m top-level one"],
)
async def test_a_reservation_holds_the_cache_writes_every_marker_the_pricer_reads_asks_for(tmp_path, params):
    # The reservation read the target's top-level params.cache_control alone; the pricer reads every marker the
    # request sends (cache_ttls_asked). A request whose 1-hour marker is below the top level was reserved at the input
    # rate (or at 1.25x, beside a 5-minute top-level marker), its answer's writes priced at 2x: a call limit between
    # the two let through a call that cost more than the limit. One reader now: the bound holds what the price counts.
    from magsag_mcp.cascade_guard import attempt_context
    from magsag_mcp.governance import Governance, Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.providers.anthropic_usage import cache_ttls_asked
    from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
    from magsag_mcp.routing import Candidate, Plan
    from magsag_mcp.types import LLMRequest, Message, Target

    target = Target("anthropic", "claude-sonnet-4-5", params=tuple(params.items()))
    request = LLMRequest([Message("user", "x" * 4000)], max_tokens=1000)
    cand = Candidate(target, "routing", False)
    plan = Plan("skill.analysis", "analysis", "test", [cand], request)
    sent = plan.request_for(target)
    ctx = attempt_context(plan, cand, sent, "r1", None, None, [])
    pricer = Pricer.from_catalog(None)
    tokens = ctx.estimated_input_tokens
    # the answer: every prompt token written to the cache for an hour, as the nested marker asked
    hour = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": tokens}
    raw = {"input_tokens": 0, "output_tokens": 1000, "cache_creation_input_tokens": tokens, "cache_creation": hour}
    billed = pricer.price("anthropic", target.model, anthropic_usage(raw), cache_ttls=cache_ttls_asked(sent)).cost_usd
    assert billed == (tokens * 6 + 1000 * 15) / D(M)  # at the 1-hour rate
    five = (tokens * D("3.75") + 1000 * 15) / D(M)
    limit = (five + billed) / 2  # below the bill, above what a prompt written for 5 minutes or not at all costs
    async with Ledger(tmp_path / "l.db") as ledger:
        policies = PolicySet([Policy(name="per_call", thresholds={"max_cost_per_call_usd": limit})])
        gov = Governance(policies, ledger, pricer)
        with pytest.raises(Exception, match="call limit"):
            await gov.admit(ctx)
    assert pricer.reserved_worst_case(target, tokens, 1000, ctx.cache_ttls) == billed
