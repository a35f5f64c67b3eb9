"""What an attempt that did not end in a usable, fully reported answer cost: a failed attempt, an answer
without its usage, and the bound an unknown cost is counted at (the worst case its admission reserved)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from .call_request import estimate_input_parts
from .cascade_report import set_usage, unknown_cost_warning
from .errors import MagsagError, excerpt, redacting_logger
from .predictions import prediction_tokens
from .providers import min_output_tokens, output_beyond_max_tokens, prompt_overhead
from .providers.anthropic_usage import CACHE_TTLS, cache_ttls_asked, cache_ttls_marked
from .records import AttemptRecord
from .types import LLMRequest, LLMResult, Target, Usage
from .worst_cases import AUDIO_PROVIDERS

if TYPE_CHECKING:
    from .cascade_guard import Guard
    from .pricing import PriceQuote

#: the output a request without max_tokens is budgeted for
DEFAULT_MAX_OUTPUT = 4096


def output_tokens_reserved(request: LLMRequest, target: Target) -> int:
    """The most output tokens ``target`` may answer ``request`` with, as budgets reserve them: its
    max_tokens, raised to what its provider sends at the least (the Responses API's minimum where that API
    is called), and the tokens of its ``params.prediction`` on top, which Chat Completions bills as output past
    max_tokens where the answer does not use them (the spec's rejected_prediction_tokens), and what else its provider
    may bill beyond max_tokens (a Gemini target's thinkingBudget: see gemini_thinking)."""
    asked = request.max_tokens or DEFAULT_MAX_OUTPUT
    least = min_output_tokens(target)
    # max(asked, least) without the builtin's call (some 1,200 instructions, on every attempt's reservation)
    beyond = output_beyond_max_tokens(target) if target.params else 0  # (most targets: no params asking any)
    return (least if least > asked else asked) + prediction_tokens(target) + beyond


def input_tokens_reserved(request: LLMRequest, target: Target) -> int:
    """The most input tokens ``target`` may bill ``request`` for, as budgets reserve them: the estimate of what it
    sends, and what its provider adds to the prompt (Anthropic's tool-use system prompt)."""
    return input_tokens_reserved_parts(request, target)[0]


def input_tokens_reserved_parts(request: LLMRequest, target: Target) -> tuple[int, int]:
    """(:func:`input_tokens_reserved`, the pictures' tokens of it): the pictures are counted at the most their vendor
    bills, so a reservation's bound of what the text's estimate may stand for (twice it: see
    worst_cases.PROMPT_PER_ESTIMATE_AT_MOST) adds them once (``picture_tokens`` of reserved_worst_case)."""
    text, pictures = estimate_input_parts(request, target)
    if request.tools or request.json_schema is not None:  # (no provider adds any to a call without either)
        text += prompt_overhead(target, request)
    return text + pictures, pictures


def marked_ttls(request: LLMRequest, target: Target) -> frozenset[str] | None:
    """The times to live ``request``'s cache markers ask (:func:`~.providers.anthropic_usage.cache_ttls_asked`: the
    call's own params and the target's, on a system block, a tool or a message's block too) for a reservation's
    worst case of an attempt at an Anthropic ``target``; None for another provider's, which caches without one."""
    return cache_ttls_asked(request) if target.provider == "anthropic" else None


def refused_whatever_was_spent(
    guard: Guard | None, pricer: Pricing, target: Target, request: LLMRequest, agent: str | None = None
) -> str | None:
    """Why a cost limit would refuse ``request``'s first attempt at ``target`` however little was spent (no known
    price under a limit that does not allow it; a worst case above a limit's amount, ``agent``'s daily limit too for
    a call of an agent), or None: the guard's :meth:`~.governance.Governance.spend_verdict` (None: no guard, no limit).
    Nothing is read from the ledger."""
    if guard is None:
        return None
    tokens_in, pictures = input_tokens_reserved_parts(request, target)
    worst = pricer.reserved_worst_case(
        target,
        tokens_in,
        output_tokens_reserved(request, target),
        params=request.extra,
        picture_tokens=pictures,
    )
    ok, policy, reason = guard.spend_verdict(target, worst, agent=agent)
    if ok:
        return None
    said = reason or "a cost limit refuses it whatever was spent"  # (Governance's refusal always says why)
    return said if said.startswith(f"{policy}:") else f"{policy}: {said}"


class Pricing(Protocol):
    """What the cascade and the governance ask of a pricer (:class:`~.pricing.Pricer`): each takes the target, which an
    Azure deployment's sightings are kept by (its endpoint and name), so no caller works that out."""

    def price_for(self, target: Target, usage: Usage, *, cache_ttls: frozenset[str] = ...) -> PriceQuote: ...
    def context_window(self, provider: str, model: str) -> int | None: ...
    def reserved_worst_case(
        self,
        target: Target,
        input_tokens: int,
        output_tokens: int,
        cache_ttls: frozenset[str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        picture_tokens: int = 0,
    ) -> Decimal | None: ...


def cache_ttls_of(request: LLMRequest, usage: Usage, sent: Any = None) -> frozenset[str]:
    """The times to live the cache markers of what was sent asked, read only for a ``usage`` with cache writes whose
    time to live it does not say, which they price; else none. ``sent``: the JSON body the answer came to (the last
    sent: AttemptRecord.sent), whose markers are the ones the vendor wrote at, wherever they are in it (a param a
    refusal left out of a request sent again carries none: see refused_settings.py); without one (a provider that
    sends through no transport of ours), the request's (:func:`~.providers.anthropic_usage.cache_ttls_asked`)."""
    if not usage.cache_write_ttl_unsaid_tokens:
        return frozenset()
    return cache_ttls_marked(sent) if isinstance(sent, dict) else cache_ttls_asked(request)


def quoted(pricer: Pricing, target: Target, usage: Usage, request: LLMRequest, sent: Any = None) -> PriceQuote:
    """What ``usage`` of ``request``'s attempt at ``target`` cost: its cache writes whose time to live the answer does
    not say priced at the one the markers of what was sent (``sent``: see :func:`cache_ttls_of`) asked, where they
    asked one (see Pricer.price)."""
    # (passed only where read: a pricer of the Pricing protocol need not take it otherwise)
    cache_ttls = cache_ttls_of(request, usage, sent)
    return pricer.price_for(target, usage, cache_ttls=cache_ttls) if cache_ttls else pricer.price_for(target, usage)


def price_failure(
    pricer: Pricing, record: AttemptRecord, exc: MagsagError, target: Target, admission: Any, request: LLMRequest
) -> None:
    """A failed attempt's cost. An unusable answer is billed for the tokens it reports (None when
    the model is unpriced). A request cut after it reached the vendor may be billed for tokens
    nobody reported: unknown (None), with its bound. A refused or rejected request costs 0."""
    # The reservation is dropped when this record lands (same transaction as the record).
    record.reservation_id = getattr(admission, "reservation_id", None)
    unreported = exc.usage is not None and not exc.usage.reported
    bound = cost_bound(pricer, admission, target, request) if unreported else None
    if unreported and bound != 0:  # a free model (a bound of 0) costs 0 whatever its tokens
        # The answer came (and is billed) but said nothing of its tokens: its zeros are no count.
        record.cost_usd, record.cost_bound_usd = None, bound
        record.warnings.append(unknown_cost_warning(target, "answered without reporting its token usage"))
    elif exc.usage is not None:
        try:
            quote = quoted(pricer, target, exc.usage, request, record.sent)
        except Exception as bug:  # ours: the attempt and its tokens are recorded all the same, and the call goes on
            said = priced_by_a_bug(bug, pricer, record, exc.usage, target, admission, request, "tokens")
            record.warnings.append(said)
            return
        set_usage(record, exc.usage, quote)
        if quote.cost_usd is None:
            record.cost_bound_usd = at_least(
                unsaid_bound(pricer, target, exc.usage, cost_bound(pricer, admission, target, request)), quote
            )
        if quote.warning:
            record.warnings.append(quote.warning)
    elif getattr(exc, "maybe_billed", False):
        what = f"{exc.kind} after the request was sent"
        cut_in_flight(pricer, record, target, admission, request, what, getattr(exc, "prompt_usage", None))
    else:
        record.cost_usd = Decimal(0)


def cut_in_flight(
    pricer: Pricing,
    record: AttemptRecord,
    target: Target,
    admission: Any,
    request: LLMRequest,
    what: str,
    prompt: Usage | None = None,
) -> None:
    """An attempt cut after its request was sent (a timeout, a dropped stream, the caller cancelling): billed
    for tokens nobody reported, so unknown, counted at its bound; but a model priced at 0 (a bound of 0: a local
    server, which the catalog prices at 0 unless told otherwise) costs 0 however many tokens it generated.
    ``prompt``: the prompt's tokens the vendor counted before the cut (see ProviderError.prompt_usage), recorded as
    the facts they are; the answer's tokens, which it did not count, leave the cost unknown all the same. Its bound is
    then at least what that prompt costs with every output token allowed (:func:`counted_bound`): the reservation
    estimated the prompt from its size, and a prompt that came to more may alone cost more than it held."""
    bound = cost_bound(pricer, admission, target, request)
    if prompt is not None:
        set_usage(record, prompt, _UNPRICED)
        if bound is not None:
            try:
                reserved = output_tokens_reserved(request, target)
                counted = counted_bound(pricer, target, prompt, reserved, cache_ttls_of(request, prompt, record.sent))
            except Exception:  # ours: the admission's bound stands (raised, the attempt was recorded nowhere)
                log.exception("%s: a bug in magsag-mcp pricing the prompt of an attempt cut in flight", target.label)
                counted = None
            bound = counted if counted is not None and counted > bound else bound
    if bound is not None and bound == 0:
        record.cost_usd, record.cost_bound_usd = Decimal(0), None
        return
    record.cost_usd, record.cost_bound_usd = None, bound
    record.warnings.append(unknown_cost_warning(target, what))


#: each time to live a cache write may have, as the one every marker of a request asked
ONE_TTL = {ttl: frozenset({ttl}) for ttl in CACHE_TTLS}


def dearest(costs: Iterable[Decimal | None]) -> Decimal | None:
    """The most of ``costs``; None where any is unknown (no bound on it)."""
    given = list(costs)
    known = [cost for cost in given if cost is not None]
    return max(known) if known and len(known) == len(given) else None


def unsaid_bound(pricer: Pricing, target: Target, usage: Usage, bound: Decimal | None) -> Decimal | None:
    """``bound``, or more: what ``usage`` costs with its cache writes of a time to live it does not say (unknown: its
    request's markers asked none or both) at the dearer write rate, where that is more. The reservation holds no cache
    write for a target without a marker, and a gateway's answer without cache_creation writes anyway."""
    if bound is None or not usage.cache_write_ttl_unsaid_tokens:
        return bound
    dear = dearest(pricer.price_for(target, usage, cache_ttls=ttls).cost_usd for ttls in ONE_TTL.values())
    return dear if dear is not None and dear > bound else bound


def at_least(bound: Decimal | None, quote: Any) -> Decimal | None:
    """``bound`` (the reservation's), or what ``quote``, of an unknown cost, says its tokens cost at the least where
    that is more (PriceQuote.at_least_usd: a flat-priced Claude's prompt past its window at the long-context rates;
    the reservation held them for the prompt estimated, and the vendor may count up to twice as many tokens)."""
    least = getattr(quote, "at_least_usd", None)  # (a Pricing wrapper's own quote may have none)
    return least if bound is not None and least is not None and least > bound else bound


def _or_least(quote: Any) -> Decimal | None:
    """``quote``'s cost, or where unknown, its least (see :func:`at_least`), as a bound on it."""
    return quote.cost_usd if quote.cost_usd is not None else getattr(quote, "at_least_usd", None)


def counted_bound(
    pricer: Pricing, target: Target, prompt: Usage, output_tokens: int, cache_ttls: frozenset[str] = frozenset()
) -> Decimal | None:
    """The most an attempt whose prompt the vendor counted (``prompt``: its cache reads and writes, tier and place
    included) can cost with ``output_tokens`` generated, at the dearest output rate it has (an image model's pictures
    are dearer than its text; audio, where its provider's wire reads it, as the reservation's worst case allows it,
    dearer still); None when it cannot be priced. Its cache writes whose time to live it does not say are at the one
    its request's markers asked (``cache_ttls``), or else at the dearer of the two: a bound, never their unknown."""
    ways = [
        replace(prompt, output_tokens=output_tokens),
        replace(prompt, output_tokens=output_tokens, output_image_tokens=output_tokens),
    ]
    if target.provider in AUDIO_PROVIDERS:
        ways.append(replace(prompt, output_tokens=output_tokens, output_audio_tokens=output_tokens))
    if not prompt.cache_write_ttl_unsaid_tokens:
        costs = [_or_least(pricer.price_for(target, way)) for way in ways]
    else:
        # (unpriced where the markers asked none or both: the reservation's worst case then stood, though it holds no
        # cache write for a target with no marker, and a gateway's answer without cache_creation writes anyway)
        asked = [cache_ttls] if len(cache_ttls) == 1 and cache_ttls <= CACHE_TTLS else [ONE_TTL[t] for t in CACHE_TTLS]
        costs = [dearest(pricer.price_for(target, way, cache_ttls=ttls).cost_usd for ttls in asked) for way in ways]
    known = [cost for cost in costs if cost is not None]
    return max(known) if costs[0] is not None else None


def price_stopped(
    pricer: Pricing,
    record: AttemptRecord,
    target: Target,
    admission: Any,
    request: LLMRequest,
    what: str,
    at_rest: tuple[Any, str] | None,
    prompt: Usage | None = None,
) -> None:
    """An attempt its caller stopped (a cancellation, a progress callback that raised): cut in flight (see
    :func:`cut_in_flight`; ``prompt``: the prompt's tokens its vendor had counted by then, as a dropped stream's), or,
    stopped with nothing in flight (``at_rest``: see :mod:`.providers.at_rest`), at what it was billed by then:
    a refused request about to be sent again, $0; an answer that had come whole, its tokens."""
    usage = at_rest[0] if at_rest is not None else None
    if usage is None or not usage.reported:
        cut_in_flight(pricer, record, target, admission, request, what, prompt)
        return
    if usage.input_tokens == 0 and usage.output_tokens == 0:
        # nothing billed (a refused request: see price_failure): $0 at any price, known or not
        record.cost_usd = Decimal(0)
        return
    try:
        quote = quoted(pricer, target, usage, request, record.sent)
    except Exception as bug:  # ours: the attempt and its tokens are recorded all the same
        record.warnings.append(priced_by_a_bug(bug, pricer, record, usage, target, admission, request, "tokens"))
        return
    set_usage(record, usage, quote)
    if quote.cost_usd is None:  # tokens at no known price: counted at the worst case admitted (or its least)
        record.cost_bound_usd = at_least(cost_bound(pricer, admission, target, request), quote)


#: where a bug of ours in an attempt is logged with its traceback (what its message tells the user to report)
log = redacting_logger("magsag_mcp.cascade")


def price_answered(
    pricer: Pricing, record: AttemptRecord, result: LLMResult, target: Target, admission: Any, request: Any
) -> None:
    """An answer's cost (see :func:`price_answer`), and its pricer's warning. A bug of ours pricing it (an exception
    outside errors.py's tree) loses neither the answer nor its spend: the answer came whole and is billed, so it is
    returned, its tokens recorded at an unknown cost (never 0), counted at its bound, and the result says so, naming
    the bug to report; raised, the answer was lost, its attempt recorded nowhere, its reservation left to expire."""
    try:
        quote = quoted(pricer, target, result.usage, request, record.sent)
        if quote.warning and result.usage.reported:  # (an unreported usage's is price_unreported's to say)
            result.warnings.append(quote.warning)
        elif quote.notes:  # (but not the rest of what its pricer said: an Azure "priced as")
            result.warnings.append(quote.notes)
        price_answer(pricer, record, result, quote, target, admission, request)
    except Exception as bug:
        result.warnings.append(priced_by_a_bug(bug, pricer, record, result.usage, target, admission, request))


def priced_by_a_bug(
    bug: Exception,
    pricer: Pricing,
    record: AttemptRecord,
    usage: Usage,
    target: Target,
    admission: Any,
    request: Any,
    what: str = "answer",
) -> str:
    """The record of tokens a bug of ours failed to price (an answer's, or a failed or stopped attempt's): recorded
    at an unknown cost (never 0), counted at its bound, the traceback logged; the warning that names the bug (``what``
    could not be priced: the answer, or a failed or stopped attempt's tokens)."""
    log.exception("%s: a bug in magsag-mcp pricing its %s", target.label, what)
    set_usage(record, usage, _UNPRICED)
    try:
        record.cost_bound_usd = cost_bound(pricer, admission, target, request)
    except Exception:  # (the same bug, in the worst case's pricing): unpriced, and unbounded
        record.cost_bound_usd = None
    return (
        f"{target.label}: its {what} could not be priced: a bug in magsag-mcp ({type(bug).__name__}: "
        f"{excerpt(str(bug), 200)}); its cost is unknown, counted at its worst case. Please report it to "
        "magsag-mcp's maintainers with the traceback logged under magsag_mcp.cascade"
    )


class _Unpriced:
    """The quote of an answer whose pricing failed: no cost, no source."""

    cost_usd = None
    source = None


_UNPRICED = _Unpriced()


def price_answer(
    pricer: Pricing, record: AttemptRecord, result: LLMResult, quote: Any, target: Target, admission: Any, request: Any
) -> None:
    """An answer's cost, from its usage priced as ``quote``: unreported usage is of unknown cost, counted at its bound
    (:func:`price_unreported`), as are priced tokens at no known rate. An answer that cost more than its admission
    reserved is said so in a warning (see :func:`overran`)."""
    set_usage(record, result.usage, quote)
    if not result.usage.reported:
        price_unreported(pricer, record, result, target, admission, request)
    elif quote.cost_usd is None:
        # priced tokens at no known rate (a service tier or a kind of token genai-prices has no price for):
        # counted at the worst case admitted, like any attempt of unknown cost (or at the least its tokens cost)
        record.cost_bound_usd = at_least(
            unsaid_bound(pricer, target, result.usage, cost_bound(pricer, admission, target, request)), quote
        )
    else:
        reserved = getattr(admission, "reserved_usd", None)
        if reserved is not None and quote.cost_usd > reserved:  # (one comparison on every priced answer)
            result.warnings.append(overran(record, reserved, target, request))


def overran(record: AttemptRecord, reserved: Decimal, target: Target, request: LLMRequest) -> str:
    """The warning of an attempt billed more than the worst case its budget reservation held: its prompt was
    billed more tokens than estimated from its size, or it was served at a dearer rate than reserved (an OpenAI
    project's priority tier, an Azure deployment serving a dearer model than its name), which reservations
    price from then on. The limits count what it cost, so it may have taken one past its amount: said, not silent."""
    estimated = input_tokens_reserved(request, target)
    return (
        f"{target.label} cost ${record.cost_usd:f}, above the ${reserved:f} its budget reservation held (billed "
        f"{record.input_tokens:,} input and {record.output_tokens:,} output tokens; reserved for {estimated:,} input "
        f"tokens estimated and {output_tokens_reserved(request, target):,} output allowed, at the rates known before "
        "it answered): the budget limits count its real cost, which may have taken one past its amount"
    )


def price_unreported(
    pricer: Pricing, record: AttemptRecord, result: LLMResult, target: Target, admission: Any, request: LLMRequest
) -> None:
    """An answer that came without its usage: billed for tokens nobody reported, so its cost is
    unknown, counted at its bound like an attempt cut in flight (never as a priced $0)."""
    bound = cost_bound(pricer, admission, target, request)
    if bound is not None and bound == 0:
        # a free model: zero tokens or many, it costs nothing; but its zeros are no count, and the result says so
        result.warnings.append(
            f"{target.label}: answered without reporting its token usage; its tokens are recorded as 0, "
            "not counted (its cost is 0 at a price of 0)"
        )
        return
    record.cost_usd, record.price_source = None, None
    record.cost_bound_usd = bound
    result.warnings.append(unknown_cost_warning(target, "answered without reporting its token usage"))


def cost_bound(pricer: Pricing, admission: Any, target: Target, request: LLMRequest) -> Decimal | None:
    """The bound on an attempt of unknown cost: the worst case its admission reserved, or, when no
    limit applied, the same estimate (None when the model's price is unknown)."""
    reserved = getattr(admission, "reserved_usd", None)
    if reserved is not None:
        return reserved
    tokens_in, pictures = input_tokens_reserved_parts(request, target)
    return pricer.reserved_worst_case(
        target,
        tokens_in,
        output_tokens_reserved(request, target),
        params=request.extra,
        picture_tokens=pictures,
    )
