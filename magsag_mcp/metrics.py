"""What this process's calls did, counted for Prometheus: the process-wide :data:`METRICS` and :func:`exposition`.

Every call of every :class:`~magsag_mcp.service.Service` of the process (the MCP server's, the CLI's, the Python
API's) is counted at the one place its record is made (``Service._record``), from the records the ledger is given:
the figures are the ledger's, and a call the ledger refused (kept to be written again) is counted once, as it
happened. Counting is a few dict increments under one lock a call; what is read from the services (the calls and
budget reservations in flight, the ledger's write queue) is read when scraped, not kept up to date.

Labels are bounded: a skill is one of the catalog's, a provider one of the registry's, an outcome and an error kind
one of the code's. An agent is whatever a caller names, and a model whatever a call's ``model_config`` names: the
first :data:`AGENT_LABELS_DEFAULT` agents (``MAGSAG_MCP_METRICS_AGENTS`` on the server) and :data:`MODEL_LABELS`
provider/model pairs seen are labelled as themselves, every later one as :data:`OTHER` (a call with no agent as
:data:`NO_AGENT`), so that a caller naming a new agent per call cannot grow the scrape without end. Which are kept
is the order they came in since the process started.

The exposition's text: :mod:`.metrics_text`; the HTTP endpoint serving it: :mod:`.mcp_server.metrics_endpoint`.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .metrics_text import CONTENT_TYPE as CONTENT_TYPE  # (what /metrics answers with)
from .metrics_text import Exposition, Histogram, Labels

if TYPE_CHECKING:
    from .records import AttemptRecord, RunRecord

#: how many agents are labelled as themselves by default (the rest: OTHER)
AGENT_LABELS_DEFAULT = 100
#: how many provider/model pairs are labelled as themselves (the rest: model OTHER under their provider)
MODEL_LABELS = 200
#: the label of an agent or model past its cap
OTHER = "(other)"
#: the agent label of a call that named none (the ledger's reports group it as "(none)" too)
NO_AGENT = "(none)"
#: the error kind label of an attempt that did not fail
NO_ERROR = ""

#: seconds: a vendor's answer (streamed or not) takes from a fraction of a second to minutes
CALL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: seconds: a ledger commit is an fsync (a millisecond or so on an SSD), a slow or busy disk takes longer
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: the outcomes of an attempt never sent: recorded with no cost and no bound, the ledger writes them at $0
_NEVER_SENT = frozenset(("skipped", "policy_denied", "budget_exceeded"))
_ZERO = Decimal(0)


class _ModelCounts:
    """The tokens and vendor-call latency of one provider/model."""

    __slots__ = ("input", "output", "cached", "cache_write", "reasoning", "latency")

    def __init__(self) -> None:
        self.input = self.output = self.cached = self.cache_write = self.reasoning = 0
        self.latency = Histogram(CALL_BUCKETS)


class _Spend:
    """One provider/model/agent's cost: the known part (exact), and the attempts of unknown cost apart, with the worst
    case estimated for those that had one: never added in as 0."""

    __slots__ = ("known", "unknown", "unknown_bound")

    def __init__(self) -> None:
        self.known = _ZERO
        self.unknown = 0
        self.unknown_bound = _ZERO


class CallMetrics:
    """The process's counters (see the module's docstring). :meth:`observe` is the service's one hook."""

    def __init__(self, agent_labels: int = AGENT_LABELS_DEFAULT) -> None:
        self._lock = threading.Lock()
        self.agent_labels = agent_labels
        self.started_at = process_start_time()
        #: (skill, agent, status) -> calls
        self._calls: dict[tuple[str, str, str], int] = {}
        #: skill -> the whole call's duration
        self._call_seconds: dict[str, Histogram] = {}
        #: (provider, model, skill, outcome, error kind) -> attempts
        self._attempts: dict[tuple[str, str, str, str, str], int] = {}
        self._models: dict[tuple[str, str], _ModelCounts] = {}
        self._spend: dict[tuple[str, str, str], _Spend] = {}
        #: the agents and provider/model pairs labelled as themselves (see the caps)
        self._agents: dict[str, str] = {}
        self._model_names: dict[tuple[str, str], str] = {}
        #: path ("inline", "queued") -> the ledger's write transactions' durations
        self._commits: dict[str, Histogram] = {}
        #: the services open in this process, whose in-flight figures are read when scraped
        self._services: weakref.WeakSet[Any] = weakref.WeakSet()

    # --- counting ---------------------------------------------------------------------------------

    def serve(self, service: Any) -> None:
        """Read ``service``'s calls in flight, budget reservations and ledger queue when scraped (held weakly)."""
        with self._lock:
            self._services.add(service)

    def observe(self, run: RunRecord, attempts: list[AttemptRecord]) -> None:
        """A call's record (its run and attempts, as the ledger is given them). A record of no call (an agent's run
        that raised, ``run.calls == 0``) counts its attempts, if any, and no call."""
        with self._lock:
            skill = run.skill or ""
            agent = self._agent(run.agent)
            if run.calls:
                key = (skill, agent, run.status)
                self._calls[key] = self._calls.get(key, 0) + 1
                hist = self._call_seconds.get(skill)
                if hist is None:
                    hist = self._call_seconds[skill] = Histogram(CALL_BUCKETS)
                ended = run.ended_at or run.started_at
                hist.observe(ended - run.started_at if ended > run.started_at else 0.0)
            for a in attempts:
                self._attempt(a, skill, agent)

    def _attempt(self, a: AttemptRecord, skill: str, agent: str) -> None:
        pair = (a.provider, a.model)
        model = self._model_names.get(pair)
        if model is None:
            model = a.model if len(self._model_names) < MODEL_LABELS else OTHER
            if model is not OTHER:
                self._model_names[pair] = model
        outcome = a.outcome
        key = (a.provider, model, a.skill or skill, outcome, a.error_class or NO_ERROR)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        counts = self._models.get((a.provider, model))
        if counts is None:
            counts = self._models[(a.provider, model)] = _ModelCounts()
        counts.input += a.input_tokens
        counts.output += a.output_tokens
        counts.cached += a.cached_tokens
        counts.cache_write += a.cache_write_tokens
        counts.reasoning += a.reasoning_tokens
        if outcome == "ok" or outcome == "error":  # sent: the vendor call's time (none for one refused unsent)
            counts.latency.observe(a.latency_ms / 1000.0)
        cost = a.cost_usd
        if cost is None and a.cost_bound_usd is None and outcome in _NEVER_SENT:
            return  # never sent: $0, as the ledger writes it
        spend_key = (a.provider, model, agent)  # the call's agent, which its attempts are recorded under
        spend = self._spend.get(spend_key)
        if spend is None:
            spend = self._spend[spend_key] = _Spend()
        if cost is None:
            spend.unknown += 1
            if a.cost_bound_usd is not None:
                spend.unknown_bound += a.cost_bound_usd
        else:
            spend.known += cost

    def _agent(self, agent: str | None) -> str:
        if agent is None:
            return NO_AGENT
        label = self._agents.get(agent)
        if label is None:
            if len(self._agents) >= self.agent_labels:
                return OTHER
            label = self._agents[agent] = agent
        return label

    def commit(self, path: str, seconds: float) -> None:
        """A ledger write transaction's duration (its statements and its commit): ``path`` "inline" (on the event
        loop, with nothing else waiting) or "queued" (a group commit on the writer's thread)."""
        with self._lock:
            hist = self._commits.get(path)
            if hist is None:
                hist = self._commits[path] = Histogram(COMMIT_BUCKETS)
            hist.observe(seconds)

    # --- the scrape -------------------------------------------------------------------------------

    def exposition(self) -> str:
        """The Prometheus text of everything counted so far, and of what is in flight now."""
        with self._lock:
            calls = list(self._calls.items())
            call_seconds = [((("skill", s),), h.copy()) for s, h in self._call_seconds.items()]
            attempts = list(self._attempts.items())
            models = [(pair, _copy_counts(c)) for pair, c in self._models.items()]
            spend = [(key, (s.known, s.unknown, s.unknown_bound)) for key, s in self._spend.items()]
            commits = [((("path", p),), h.copy()) for p, h in self._commits.items()]
            services = list(self._services)
        out = Exposition()
        out.samples(
            "magsag_calls_total",
            "counter",
            "Calls made (one per invoke_skill), by skill, agent and how the call ended (status as the ledger's runs).",
            ((_labels(skill=s, agent=a, status=st), n) for (s, a, st), n in calls),
        )
        out.samples(
            "magsag_attempts_total",
            "counter",
            "Attempts (each target tried, each retry), by provider, model, skill, outcome (ok, error, skipped, "
            "policy_denied, budget_exceeded) and error kind (the error class of an attempt that failed, else empty).",
            ((_labels(provider=p, model=m, skill=s, outcome=o, error_kind=e), n) for (p, m, s, o, e), n in attempts),
        )
        token_kinds = (
            ("input", "Input (prompt) tokens"),
            ("output", "Output (completion) tokens, reasoning included"),
            ("cached", "Input tokens read from the vendor's prompt cache (part of the input tokens)"),
            ("cache_write", "Input tokens written to the vendor's prompt cache (part of the input tokens)"),
            ("reasoning", "Reasoning tokens, where the vendor reports them (part of the output tokens)"),
        )
        for field, said in token_kinds:
            out.samples(
                f"magsag_{field}_tokens_total",
                "counter",
                f"{said}, by provider and model.",
                ((_labels(provider=p, model=m), getattr(c, field)) for (p, m), c in models),
            )
        out.samples(
            "magsag_cost_usd_total",
            "counter",
            "Known cost in USD, by provider, model and agent; attempts of unknown cost are not in it (see "
            "magsag_unknown_cost_attempts_total).",
            ((_labels(provider=p, model=m, agent=a), known) for (p, m, a), (known, _, _) in spend),
        )
        out.samples(
            "magsag_unknown_cost_attempts_total",
            "counter",
            "Attempts whose cost is unknown (a model with no price, or an attempt cut after the vendor had it), by "
            "provider, model and agent.",
            ((_labels(provider=p, model=m, agent=a), n) for (p, m, a), (_, n, _) in spend),
        )
        out.samples(
            "magsag_unknown_cost_bound_usd_total",
            "counter",
            "The worst case in USD estimated before sending of the attempts of unknown cost that had one (what budget "
            "limits count them at), by provider, model and agent.",
            ((_labels(provider=p, model=m, agent=a), bound) for (p, m, a), (_, _, bound) in spend),
        )
        out.histograms(
            "magsag_attempt_duration_seconds",
            "The vendor call's duration of each attempt sent (ok or error), by provider and model.",
            ((_labels(provider=p, model=m), c.latency) for (p, m), c in models),
        )
        out.histograms(
            "magsag_call_duration_seconds",
            "A whole call's duration (routing, every attempt, the waits between them), by skill.",
            call_seconds,
        )
        in_flight = reservations = queued = 0
        for service in services:
            in_flight += service._in_flight
            governance = getattr(service, "governance", None)
            reservations += getattr(governance, "reservations_in_flight", 0)
            queued += getattr(service.ledger, "queued_writes", 0)
        out.samples("magsag_calls_in_flight", "gauge", "Calls under way in this process.", [((), in_flight)])
        out.samples(
            "magsag_budget_reservations_in_flight",
            "gauge",
            "Attempts under way that hold a budget reservation (their worst case, counted by every limit).",
            [((), reservations)],
        )
        out.samples(
            "magsag_ledger_queued_writes", "gauge", "Writes waiting for the ledger's group commit.", [((), queued)]
        )
        out.histograms(
            "magsag_ledger_commit_seconds",
            "Ledger write transactions' durations, fsync included: path inline (on the event loop) or queued (a "
            "group commit).",
            commits,
        )
        out.samples(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            [((), self.started_at)],
        )
        return out.text()


def process_start_time() -> float:
    """When this process started, in unix seconds: on Linux from ``/proc`` (what prometheus-client reports too), else
    when this module was imported (at the process's start, as the service imports it)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            # the 22nd field, after the command's name in parentheses (which may hold spaces): clock ticks since boot
            ticks = int(stat.read().rpartition(b")")[2].split()[19])
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def _labels(**labels: str) -> Labels:
    return tuple(labels.items())


def _copy_counts(c: _ModelCounts) -> _ModelCounts:
    copy = _ModelCounts()
    copy.input, copy.output, copy.cached, copy.cache_write, copy.reasoning = (
        c.input,
        c.output,
        c.cached,
        c.cache_write,
        c.reasoning,
    )
    copy.latency = c.latency.copy()
    return copy


#: the process's one registry: every service counts into it, and the server's /metrics serves it
METRICS = CallMetrics()


def exposition() -> str:
    """The Prometheus text of this process's calls (what ``/metrics`` serves): a Python API user can serve it from
    their own HTTP server."""
    return METRICS.exposition()
