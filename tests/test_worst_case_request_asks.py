"""A reservation's worst case reads where inference is asked to run (``inference_geo``) and the service tier asked from
the request sent (``LLMRequest.extra``: the call's own params, the target's filling what it left open), as the provider
sends them and the answer's price follows: one reader (``worst_cases.request_asks``), as ``cache_ttls_marked`` is of
the cache markers. Read from the target's params alone, a request that asked US-only inference (billed at 1.1x) was
reserved at the global rates, below what it could cost, and one that kept off Priority Tier (``standard_only``) after
priority answers had no worst case, and was refused by every cost limit."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.attempt_cost import (
    cost_bound,
    input_tokens_reserved,
    output_tokens_reserved,
    refused_whatever_was_spent,
)
from magsag_mcp.cascade_guard import attempt_context
from magsag_mcp.governance import Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.pricing import Pricer
from magsag_mcp.routing import Candidate, Plan
from magsag_mcp.types import LLMRequest, Message, Target, Usage

pytestmark = pytest.mark.anyio
M = 1_000_000
OPUS = "claude-opus-4-6"
SONNET = "claude-3-5-sonnet-20241022"


def _request(**extra: object) -> LLMRequest:
    return LLMRequest([Message("user", "x")], max_tokens=100, extra=dict(extra))


def test_the_one_reader_reads_a_requests_mapping_and_a_targets_pairs_alike():
    from magsag_mcp.worst_cases import request_asks

    asked = {"inference_geo": "us", "service_tier": "standard_only"}
    assert request_asks(asked) == request_asks(tuple(asked.items())) == ("us", "standard_only")
    assert request_asks({"serviceTier": "standard"}) == (None, "standard")  # (Gemini's, as its request writes it)
    assert request_asks({"seed": 7}) == (None, None)


def test_a_request_asking_us_inference_is_reserved_at_its_multiple():
    pricer = Pricer()
    target = Target("anthropic", OPUS)  # (no params of its own: the request asks)
    request = _request(inference_geo="us")
    tokens = input_tokens_reserved(request, target), output_tokens_reserved(request, target)
    plain = pricer.reserved_worst_case(target, *tokens)
    assert plain is not None
    # the bound of an unknown cost (no limit admitted the call): the worst case of the request sent
    assert cost_bound(pricer, None, target, request) == plain * D("1.1")
    geo = pricer.reserved_worst_case(target, *tokens, params=request.extra)
    assert geo == plain * D("1.1")
    # a target's own params are read as before where no request is given (the catalog's check)
    own = Target("anthropic", OPUS, params=(("inference_geo", "us"),))
    assert pricer.reserved_worst_case(own, *tokens) == geo


def test_a_request_keeping_off_priority_is_reserved_at_the_standard_rates():
    pricer = Pricer()
    answer = Usage(1_000, 100, service_tier="priority")
    assert pricer.price("anthropic", SONNET, answer).cost_usd is None  # (Priority Tier: no known rates)
    target = Target("anthropic", SONNET)
    assert pricer.reserved_worst_case(target, 1_000, 100) is None
    kept_off = _request(service_tier="standard_only").extra
    assert pricer.reserved_worst_case(target, 1_000, 100, params=kept_off) == D("0.0045")


async def test_admission_reserves_what_the_request_sent_asks(tmp_path: Path):
    pricer = Pricer()
    target = Target("anthropic", OPUS)
    request = _request(inference_geo="us")
    cand = Candidate(target, "routing", False)
    plan = Plan("skill.analysis", "analysis", "test", [cand], request)
    sent = plan.request_for(target)
    ctx = attempt_context(plan, cand, sent, "r1", None, None, [])
    worst = pricer.reserved_worst_case(target, ctx.estimated_input_tokens, ctx.max_output_tokens)
    assert worst is not None
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(PolicySet([Policy(name="cap", thresholds={"max_cost_per_run_usd": "5"})]), ledger, pricer)
        admission = await gov.admit(ctx)
        try:
            assert admission.reserved_usd == worst * D("1.1")
        finally:
            await gov.release(admission)
        # a call limit between the global rates and US-only inference's refuses it whatever was spent, as admission
        # would: the verdict reads the request too
        between = (worst + worst * D("1.1")) / 2
        strict = Governance(
            PolicySet([Policy(name="cap", thresholds={"max_cost_per_call_usd": str(between)})]), ledger, pricer
        )
        assert refused_whatever_was_spent(strict, pricer, target, sent) is not None
