"""What the service hands to the ledger: one record per attempt and one per run.

The router fills an :class:`AttemptRecord` for every attempt (a success, a provider failure, a
skip for policy or budget) and the service writes it before the call returns. Money is a
:class:`~decimal.Decimal` (USD) or ``None`` when the cost is unknown (an unknown price, or an attempt
cut after it reached the vendor): never a float, never a silent 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # (it names this module's Outcome)
    from .result_dicts import AttemptDict

Outcome = Literal["ok", "error", "skipped", "policy_denied", "budget_exceeded"]
RunStatus = Literal["running", "ok", "error", "policy_denied", "budget_exceeded", "cancelled"]


@dataclass(slots=True)
class AttemptRecord:
    run_id: str
    started_at: float  # unix seconds
    provider: str
    model: str
    skill: str | None
    agent: str | None
    outcome: Outcome
    #: position in the candidate list (0 = primary) and the try number on that target (1-based; a try
    #: refused by policy, budget or the deadline has the number it would have had; 0: a target skipped
    #: before any try, for want of a key, an endpoint, a feature or the time to reach it)
    fallback_position: int
    attempt_number: int
    error_class: str | None = None
    error_message: str | None = None  # already redacted
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal | None = None
    #: where the price came from: "genai-prices", "catalog:prices.yaml", "free" (fake, local), "answer:usage.cost"
    #: (what the answer said it was billed, where no price is known), or None
    price_source: str | None = None
    latency_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    #: the budget reservation this attempt settled; the ledger drops it when the attempt lands
    reservation_id: int | None = None
    #: when the cost is unknown but the price is not: the attempt's worst case as estimated before it was
    #: sent (the input estimated from the request's size, max_tokens of output, at the model's prices).
    #: Budget limits count this, so an attempt cut after it reached the vendor never counts as $0.
    cost_bound_usd: Decimal | None = None
    #: what else the vendor reported that sets the price (see :class:`~magsag_mcp.types.Usage`): the
    #: service tier that served the answer, the 1-hour part of the cache writes, the audio tokens. Kept
    #: so that a recorded cost can be checked against its tokens, and two like calls that cost
    #: differently (one served on priority) tell why.
    service_tier: str | None = None
    cache_write_1h_tokens: int = 0
    #: of ``cache_write_tokens``, those whose time to live the answer did not say (0033): priced at the one every
    #: cache marker of the request asked, or of unknown cost (see Usage.cache_write_ttl_unsaid_tokens)
    cache_write_ttl_unsaid_tokens: int = 0
    #: how many more cache writes the answer's split by time to live counted than its total of them (0036), priced at
    #: the split's, the larger (see Usage.cache_write_split_past_tokens)
    cache_write_split_past_tokens: int = 0
    #: where this attempt's answer left its turn paused and held: the paused_id it is held by (0037)
    paused_id: str | None = None
    #: where this attempt's call continues a paused turn (Service.continue_paused): the paused_id it continues (0037)
    continues_paused_id: str | None = None
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    #: the model the answer said it came from (its ``model`` field; ``Usage.answering_model``), None where it said
    #: none: an Azure deployment's name is its operator's choice, and this is the model that served it (0026)
    served_model: str | None = None
    #: the data classes the call was held to (the skill's, its agent run's, its context's: ``Plan.data_classes``),
    #: which `flow gate` checks against each policy's ``requirements`` (0027); () for a call of none
    data_classes: tuple[str, ...] = ()
    #: the endpoint an Azure attempt went to, as what each deployment serves is kept by it (``azure_served``: the
    #: host and a gateway's path, never a key; :meth:`~.served_models.ServedModels.endpoint`), which `flow summarize`
    #: and `flow gate` tell deployments of one name apart by (0029). A local attempt's is the host off this machine its
    #: prompt went to (ollama.com: see providers/local_reach.py), None on the operator's own server, by which `flow
    #: summarize` counts a data class's attempts that left the machine; None for other providers
    endpoint: str | None = None
    #: the parts of its bill its tokens alone do not give (0030), None where the answer did not say: of
    #: ``output_tokens``, images (Gemini's, at an image rate); where inference ran (Anthropic's ``inference_geo``:
    #: "us" is billed at 1.1x); its per-use server tool calls by kind (``{"web_search": 3}``, billed per use; keyed as
    #: Usage.server_tool_calls)
    output_image_tokens: int | None = None
    inference_geo: str | None = None
    server_tool_uses: dict[str, int] | None = None
    #: an attempt answered from the answer cache (price_source "cache", cost $0): what the answer cost when it was
    #: paid for (None: unknown), and the run that paid for it (see answer_cache.py)
    saved_usd: Decimal | None = None
    cached_from: str | None = None
    #: the JSON body its request was sent with (the last, where a refused setting sent it again), None where nothing
    #: was sent through the transport: what its OpenTelemetry span says it asked (see otel_requests.py). Not written
    #: to the ledger, nor shown
    sent: Any = field(default=None, repr=False, compare=False)
    #: the cascade's clock (monotonic) when it was sent, None where nothing was: its OpenTelemetry span's end is the
    #: first try's start plus the time gone on this clock, never on the wall clock's started_at, which a clock set back
    #: between tries (NTP, a VM resumed) put before the start. Not written to the ledger, nor shown
    sent_clock: float | None = field(default=None, repr=False, compare=False)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> AttemptDict:
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "error_class": self.error_class,
            "error_message": self.error_message,
            "fallback_position": self.fallback_position,
            "attempt_number": self.attempt_number,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_write_ttl_unsaid_tokens": self.cache_write_ttl_unsaid_tokens,
            "cache_write_split_past_tokens": self.cache_write_split_past_tokens,
            "input_audio_tokens": self.input_audio_tokens,
            "output_audio_tokens": self.output_audio_tokens,
            "service_tier": self.service_tier,
            "cost_usd": None if self.cost_usd is None else format(self.cost_usd, "f"),
            "cost_bound_usd": None if self.cost_bound_usd is None else format(self.cost_bound_usd, "f"),
            "price_source": self.price_source,
            "latency_ms": round(self.latency_ms, 3),
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class RunRecord:
    run_id: str
    agent: str | None
    skill: str | None
    started_at: float
    parent_run_id: str | None = None
    ended_at: float | None = None
    status: RunStatus = "running"
    #: totals over the run's attempts, filled when the run ends
    input_tokens: int = 0
    output_tokens: int = 0
    #: the calls this record adds to its run: 1, a call's; 0, the end of an agent's run whose code raised (its status
    #: and error: see Service.record_agent_failure), its calls recorded by each call
    calls: int = 1
    #: the paused_id of the call whose paused turn this call continues (each of its attempts records it: 0037)
    continues_paused_id: str | None = None
