"""A worst case bounds what a call can be billed, and no more: Gemini's usage is priced without audio (magsag's
prompts are text, an audio answer is refused, and the Gemini wire counts no audio tokens), so its worst case
must not price the prompt at Gemini's audio-input rate. It did: gemini-2.0-flash was reserved at seven times
the most a call could cost ($0.70 per million prompt tokens, where text is $0.10), gemini-2.5-flash at three,
and a call limit refused calls that could not reach it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage

M = 1_000_000


@pytest.mark.parametrize(
    ("model", "rate_in", "rate_out"),
    [("gemini-2.0-flash", D("0.1"), D("0.4")), ("gemini-2.5-flash", D("0.3"), D("2.5"))],
)
def test_a_gemini_worst_case_prices_the_prompt_as_the_text_it_is(model, rate_in, rate_out):
    pricer = Pricer.from_catalog(None)
    units = pricer.unit_prices("google", model)
    assert units.input == rate_in and units.output == rate_out and units.input_audio > rate_in  # the rates
    worst = pricer.worst_case("google", model, 20_000, 4096)
    assert worst == (20_000 * rate_in + 4096 * rate_out) / D(M)
    # and it still bounds any answer's cost, however much of the prompt was cached
    assert worst >= pricer.price("google", model, Usage(20_000, 4096, cached_tokens=5_000)).cost_usd


def test_a_call_limit_lets_through_a_gemini_call_that_cannot_reach_it():
    from magsag_mcp.governance import Governance
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.types import Target

    policies = PolicySet([Policy(name="limits", thresholds={"max_cost_per_call_usd": "0.01"})])
    governance = Governance(policies, ledger=None, pricer=Pricer.from_catalog(None), env={})
    target = Target("google", "gemini-2.0-flash")
    worst = governance.pricer.worst_case("google", "gemini-2.0-flash", 20_000, 4096)
    assert governance.spend_verdict(target, worst) == (True, None, None)


def test_an_openai_audio_models_worst_case_still_prices_audio():
    """The Chat Completions wire counts audio tokens (an audio model may report some): unchanged there."""
    pricer = Pricer.from_catalog(None)
    all_audio = Usage(1000, 500, input_audio_tokens=1000, output_audio_tokens=500)
    assert (
        pricer.worst_case("openai", "gpt-audio", 1000, 500) == pricer.price("openai", "gpt-audio", all_audio).cost_usd
    )


@pytest.mark.parametrize(
    "rates",
    [
        (D("2.5"), D("10")),
        (D("0.075"), D("0.3"), D("0.01875"), D("0.09375"), D("0.15"), D("0.5"), D("2"), D("30")),
        (None, D("10")),  # a price without an input rate: unknown for a prompt, 0 for none
        (D("2.5"), None),
        (None, None),
        (D(0), D(0)),
    ],
)
def test_a_worst_case_of_text_is_what_the_ceilings_cost_prices_that_usage_at(rates):
    # a worst case is priced every attempt, before it is sent: without a Usage made for it and read back
    from magsag_mcp.rates import UnitPrices

    units = UnitPrices(*rates)
    for input_tokens in (0, 1, 20_000, 1_000_001, -3):
        for output_tokens in (0, 1, 4096, 128_000):
            expected = units.cost(Usage(input_tokens, output_tokens))
            assert units.text_cost(input_tokens, output_tokens) == expected
            assert type(units.text_cost(input_tokens, output_tokens)) is type(expected)
