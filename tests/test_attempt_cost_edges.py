"""attempt_cost's decisions at their edges, each priced by hand at a prices.yaml entry's rates (USD per million): a cut
prompt's bound at the dearest output rate (pictures), an answer costing exactly its reservation (no overrun), a stopped
answer with input and no output (billed, not $0), an unusable answer with tokens of no known rate (counted at its
reservation), and an unusable answer of an unpriced model that reported no usage (said so).

Each was found by a hand-made mutant (a way left out, ``>`` made ``>=``, ``and`` made ``or``, a bound dropped) that
every other test let pass."""

from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

from magsag_mcp import errors as E
from magsag_mcp.attempt_cost import (
    counted_bound,
    price_answer,
    price_answered,
    price_failure,
    price_stopped,
)
from magsag_mcp.cascade_report import unknown_cost_warning
from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.records import AttemptRecord
from magsag_mcp.types import LLMRequest, LLMResult, Message, Target, Usage

M = D(1_000_000)
#: $1 in, $2 out, $16 a picture token out; no audio rate
PICTURES = Target("compat", "pictures")
PRICER = Pricer([("compat:pictures", UnitPrices(D(1), D(2), output_image=D(16)))])
REQUEST = LLMRequest(messages=[Message("user", "Draw a cat.")], max_tokens=1000)


def _record() -> AttemptRecord:
    return AttemptRecord("r", 0.0, PICTURES.provider, PICTURES.model, None, None, "error", 0, 1)


def _held(reserved: str | None) -> SimpleNamespace:
    """An admission as the governance gives one: what its reservation holds."""
    return SimpleNamespace(reserved_usd=None if reserved is None else D(reserved), reservation_id=None)


def test_a_counted_prompt_is_bounded_at_the_dearest_output_rate_a_model_has():
    # the prompt's 100 tokens at $1, and the 1,000 output tokens allowed as pictures at $16 (as text, $2: the bound
    # was below what a picture answer cut in flight is billed)
    assert counted_bound(PRICER, PICTURES, Usage(100, 0), 1000) == (100 * 1 + 1000 * 16) / M


def test_an_answer_costing_exactly_its_reservation_did_not_overrun_it():
    usage = Usage(100, 50)
    cost = (100 * 1 + 50 * 2) / M
    quote = PRICER.price("compat", "pictures", usage)
    at = LLMResult("a cat", "compat", "pictures", usage=usage)
    price_answer(PRICER, _record(), at, quote, PICTURES, _held(f"{cost}"), REQUEST)
    assert quote.cost_usd == cost and at.warnings == []
    over = LLMResult("a cat", "compat", "pictures", usage=usage)
    price_answer(PRICER, _record(), over, quote, PICTURES, _held(f"{cost - D('1e-12')}"), REQUEST)
    assert len(over.warnings) == 1 and "above the $0.000199999999 its budget reservation held" in over.warnings[0]


def test_an_answer_stopped_whole_with_input_and_no_output_is_billed_its_input():
    # stopped at rest with its answer whole: 100 prompt tokens billed, none generated; $0 only when nothing was
    record = _record()
    price_stopped(PRICER, record, PICTURES, _held("0.5"), REQUEST, "cancelled", (Usage(100, 0), "answered"))
    assert record.cost_usd == 100 * 1 / M and record.input_tokens == 100
    nothing = _record()
    price_stopped(PRICER, nothing, PICTURES, _held("0.5"), REQUEST, "cancelled", (Usage(0, 0), "refused"))
    assert nothing.cost_usd == 0


def test_an_unusable_answer_with_tokens_of_no_known_rate_is_counted_at_its_reservation():
    # 10 audio tokens out, which the entry prices at no rate: the cost is unknown, counted at the $0.5 the attempt's
    # reservation held (not at a worst case worked out again, nor left unbounded)
    error = E.MalformedResponseError("compat:pictures: not the JSON asked for", status=200)
    error.usage = Usage(100, 50, output_audio_tokens=10)
    record = _record()
    price_failure(PRICER, record, error, PICTURES, _held("0.5"), REQUEST)
    assert record.cost_usd is None and record.cost_bound_usd == D("0.5")
    assert PRICER.reserved_worst_case(PICTURES, 100, 1000) != D("0.5")  # (the reservation, not this, bounds it)
    assert record.output_tokens == 50 and "no price known for the audio output tokens" in record.warnings[0]


def test_an_unusable_answer_of_an_unpriced_model_that_reported_no_usage_says_so():
    # unpriced, so no bound; what is unknown is said as what happened (no usage), not as a missing price of its zeros
    unpriced = Target("compat", "nowhere-priced")
    error = E.MalformedResponseError("compat:nowhere-priced: not the JSON asked for", status=200)
    error.usage = Usage(0, 0, reported=False)
    record = AttemptRecord("r", 0.0, "compat", "nowhere-priced", None, None, "error", 0, 1)
    price_failure(PRICER, record, error, unpriced, _held(None), REQUEST)
    assert (record.cost_usd, record.cost_bound_usd) == (None, None)
    assert record.warnings == [unknown_cost_warning(unpriced, "answered without reporting its token usage")]


class Delegating:
    """A pricer of the cascade's protocol alone (:class:`~magsag_mcp.attempt_cost.Pricing`), handing each question
    to a Pricer: what a library user wraps one in, to log what is priced or mark it up."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer

    def price_for(self, target: Target, usage: Usage):  # type: ignore[no-untyped-def]
        return self.pricer.price_for(target, usage)

    def context_window(self, provider: str, model: str) -> int | None:
        return self.pricer.context_window(provider, model)

    def reserved_worst_case(
        self, target: Target, input_tokens: int, output_tokens: int, cache_ttls=None, *, params=None, picture_tokens=0
    ) -> D | None:
        return self.pricer.reserved_worst_case(
            target, input_tokens, output_tokens, params=params, picture_tokens=picture_tokens
        )


def test_a_pricer_of_the_protocol_alone_keeps_an_azure_sighting_by_its_endpoint():
    # the endpoint an Azure sighting is kept by was sniffed off the pricer (its `served` attribute, if a ServedModels):
    # a pricer without one, such as a wrapper, had it kept by the deployment's name alone, so that neither the
    # deployment's reservations nor its policies saw it. The pricer takes the target, and works the endpoint out
    pricer = Pricer.from_catalog(None, {"AZURE_OPENAI_ENDPOINT": "https://East.openai.azure.com/"})
    east = Target("azure", "gpt-4o-mini")  # (the environment's endpoint)
    west = Target("azure", "gpt-4o-mini", base_url="https://west.openai.azure.com/")
    mini = pricer.reserved_worst_case(west, 1000, 1000)
    gpt_4o = pricer.reserved_worst_case(Target("azure", "gpt-4o"), 1000, 1000)
    assert mini is not None and gpt_4o is not None and gpt_4o > mini
    answered = Usage(20, 5, answering_model="gpt-4o-2024-08-06")
    result = LLMResult("hi", "azure", "gpt-4o-mini", usage=answered)
    record = AttemptRecord("r", 0.0, "azure", "gpt-4o-mini", None, None, "ok", 0, 1)
    price_answered(Delegating(pricer), record, result, east, _held(None), REQUEST)
    assert "priced as gpt-4o-2024-08-06" in result.warnings[0]
    assert record.cost_usd == Pricer.from_catalog(None, {}).price("azure", "gpt-4o-2024-08-06", Usage(20, 5)).cost_usd
    assert pricer.served.models(("east.openai.azure.com", "gpt-4o-mini")) == {"gpt-4o-2024-08-06"}
    assert Delegating(pricer).reserved_worst_case(east, 1000, 1000) == gpt_4o  # reserved as what it serves
    assert Delegating(pricer).reserved_worst_case(west, 1000, 1000) == mini  # another resource's: not it
