"""What this process's calls did, counted for Prometheus: the process-wide :data:`METRICS` and :func:`exposition`.

Every call of every :class:`~magsag_mcp.service.Service` of the process (the MCP server's, the CLI's, the Python
API's) is counted at the one place its record is made (``Service._record``), from the records the ledger is given:
the figures are the ledger's, and a call the ledger refused (kept to be written again) is counted once, as it
happened. Counting takes one lock and a dict lookup for the call and for each attempt, whose cell is added to, and
a lock and a bisect a ledger commit: some 27,500 instructions a full call, 2% of it (benchmarks/ROUNDS.md's
forty-seventh round), so a process counts only once something will read the figures (:func:`start`: the HTTP
server serving ``/metrics`` calls it as it is built, an application serving :func:`exposition` itself calls it, and
the first :func:`exposition` does); until then the service's hook is one attribute's truth. The
families are summed from the cells when scraped, and what is read from the services (the calls and budget
reservations in flight, the ledger's write queue) is read then, not kept up to date. The lock: a process may run
services on loops in several threads, and an increment is a read then a write.

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
from bisect import bisect_left
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


class _AttemptCell:
    """The attempts of one provider, model, skill, outcome, error kind and agent: how many, their tokens, their cost
    (the known part exact; those of unknown cost apart, with the worst case estimated for those that had one: never
    added in as 0) and the vendor call's duration of those sent."""

    __slots__ = (
        "count",
        "input",
        "output",
        "cached",
        "cache_write",
        "reasoning",
        "known",
        "unknown",
        "bound",
        "latency",
    )

    def __init__(self) -> None:
        self.count = self.input = self.output = self.cached = self.cache_write = self.reasoning = self.unknown = 0
        self.known: Decimal | int = 0
        self.bound: Decimal | int = 0
        self.latency = Histogram(CALL_BUCKETS)


class _CallCell:
    """The calls of one skill, agent and status, and their durations."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = Histogram(CALL_BUCKETS)


class CallMetrics:
    """The process's counters (see the module's docstring). :meth:`observe` is the service's one hook: one lock, and
    a dict lookup for the call and one for each attempt (most calls have one), whose cell holds every figure of it;
    the families are summed from the cells when scraped."""

    def __init__(self, agent_labels: int = AGENT_LABELS_DEFAULT) -> None:
        self._lock = threading.Lock()
        self.agent_labels = agent_labels
        #: when the process started, read from /proc when first scraped, not here: every process imports this module
        #: (a script, the CLI), and most never scrape; where /proc has none, when this registry was made
        self._made_at = time.time()
        self._started_at: float | None = None
        #: (skill, agent, status) -> its calls
        self._calls: dict[tuple[str, str, str], _CallCell] = {}
        #: (provider, model, skill, outcome, error kind, agent) -> its attempts
        self._attempts: dict[tuple[str, str, str, str, str, str], _AttemptCell] = {}
        #: the agents and provider/model pairs labelled as themselves (see the caps)
        self._agents: dict[str, str] = {}
        self._models: dict[tuple[str, str], str] = {}
        #: the ledger's write transactions' durations, made inline and in group commits
        self._inline_commits = Histogram(COMMIT_BUCKETS)
        self._queued_commits = Histogram(COMMIT_BUCKETS)
        #: the services open in this process, whose in-flight figures are read when scraped
        self._services: weakref.WeakSet[Any] = weakref.WeakSet()
        #: whether the services count their calls here (see the module's docstring): off until :meth:`start`
        self.counting = False

    def start(self) -> None:
        """Count this process's calls from now on (asked of the service's hook and the ledger's commits)."""
        self.counting = True

    @property
    def started_at(self) -> float:
        """When this process started, in unix seconds (``process_start_time_seconds``)."""
        if self._started_at is None:
            self._started_at = process_start_time(self._made_at)
        return self._started_at

    # --- counting ---------------------------------------------------------------------------------

    def serve(self, service: Any) -> None:
        """Read ``service``'s calls in flight, budget reservations and ledger queue when scraped (held weakly)."""
        with self._lock:
            self._services.add(service)

    def observe(self, run: RunRecord, attempts: list[AttemptRecord]) -> None:
        """A call's record (its run and attempts, as the ledger is given them). A record of no call (an agent's run
        that raised, ``run.calls == 0``) counts its attempts, if any, and no call."""
        with self._lock:
            agent = run.agent
            label = NO_AGENT if agent is None else self._agents.get(agent) or self._new_agent(agent)
            skill = run.skill or ""
            if run.calls:
                key = (skill, label, run.status)
                call = self._calls.get(key)
                if call is None:
                    call = self._calls[key] = _CallCell()
                call.count += 1
                seconds = (run.ended_at or run.started_at) - run.started_at
                if seconds < 0.0:
                    seconds = 0.0
                # (Histogram.observe written out, here and below: a method call a figure, on every call)
                hist = call.seconds
                hist.counts[bisect_left(CALL_BUCKETS, seconds)] += 1
                hist.sum += seconds
            for a in attempts:
                provider, outcome = a.provider, a.outcome
                model = self._models.get((provider, a.model)) or self._new_model(provider, a.model)
                where = (provider, model, a.skill or skill, outcome, a.error_class or NO_ERROR, label)
                cell = self._attempts.get(where)
                if cell is None:
                    cell = self._attempts[where] = _AttemptCell()
                cell.count += 1
                cell.input += a.input_tokens
                cell.output += a.output_tokens
                cell.cached += a.cached_tokens
                cell.cache_write += a.cache_write_tokens
                cell.reasoning += a.reasoning_tokens
                if outcome == "ok" or outcome == "error":  # sent: the vendor call's time (none for one refused)
                    seconds = a.latency_ms / 1000.0
                    hist = cell.latency
                    hist.counts[bisect_left(CALL_BUCKETS, seconds)] += 1
                    hist.sum += seconds
                cost = a.cost_usd
                if cost is not None:
                    if cost:
                        cell.known += cost
                elif a.cost_bound_usd is not None:
                    cell.unknown += 1
                    cell.bound += a.cost_bound_usd
                elif outcome not in _NEVER_SENT:  # never sent, nothing priced: $0, as the ledger writes it
                    cell.unknown += 1

    def _new_agent(self, agent: str) -> str:
        if len(self._agents) >= self.agent_labels:
            return OTHER
        self._agents[agent] = agent
        return agent

    def _new_model(self, provider: str, model: str) -> str:
        if len(self._models) >= MODEL_LABELS:
            return OTHER
        self._models[(provider, model)] = model
        return model

    def commit(self, path: str, seconds: float) -> None:
        """A ledger write transaction's duration (its statements and its commit): ``path`` "inline" (on the event
        loop, with nothing else waiting) or "queued" (a group commit on the writer's thread). (Two or three a call:
        the histogram's observe written out, no dict.)"""
        hist = self._inline_commits if path == "inline" else self._queued_commits
        with self._lock:
            hist.counts[bisect_left(COMMIT_BUCKETS, seconds)] += 1
            hist.sum += seconds

    # --- the scrape -------------------------------------------------------------------------------

    def exposition(self) -> str:
        """The Prometheus text of everything counted so far, and of what is in flight now."""
        calls: dict[Labels, int] = {}
        call_seconds: dict[Labels, Histogram] = {}
        attempts: dict[Labels, int] = {}
        tokens: dict[Labels, list[int]] = {}
        latency: dict[Labels, Histogram] = {}
        spend: dict[Labels, list[Any]] = {}
        with self._lock:  # summed into the families under the lock: a cell is not read half-counted
            for (skill, agent, status), call in self._calls.items():
                calls[_labels(skill=skill, agent=agent, status=status)] = call.count
                _add(call_seconds, _labels(skill=skill), call.seconds)
            for (p, m, skill, outcome, kind, agent), c in self._attempts.items():
                where = _labels(provider=p, model=m, skill=skill, outcome=outcome, error_kind=kind)
                attempts[where] = attempts.get(where, 0) + c.count
                model = _labels(provider=p, model=m)
                counts = tokens.setdefault(model, [0, 0, 0, 0, 0])
                for i, n in enumerate((c.input, c.output, c.cached, c.cache_write, c.reasoning)):
                    counts[i] += n
                _add(latency, model, c.latency)
                money = spend.setdefault(_labels(provider=p, model=m, agent=agent), [_ZERO, 0, _ZERO])
                money[0] += c.known
                money[1] += c.unknown
                money[2] += c.bound
            commits = {
                _labels(path=path): _add({}, (), hist)[()]
                for path, hist in (("inline", self._inline_commits), ("queued", self._queued_commits))
            }
            services = list(self._services)
        out = Exposition()
        out.samples(
            "magsag_calls_total",
            "counter",
            "Calls made (one per invoke_skill), by skill, agent and how the call ended (status as the ledger's runs).",
            calls.items(),
        )
        out.samples(
            "magsag_attempts_total",
            "counter",
            "Attempts (each target tried, each retry), by provider, model, skill, outcome (ok, error, skipped, "
            "policy_denied, budget_exceeded) and error kind (the error class of an attempt that failed, else empty).",
            attempts.items(),
        )
        token_kinds = (
            ("input", "Input (prompt) tokens"),
            ("output", "Output (completion) tokens, reasoning included"),
            ("cached", "Input tokens read from the vendor's prompt cache (part of the input tokens)"),
            ("cache_write", "Input tokens written to the vendor's prompt cache (part of the input tokens)"),
            ("reasoning", "Reasoning tokens, where the vendor reports them (part of the output tokens)"),
        )
        for i, (field, said) in enumerate(token_kinds):
            out.samples(
                f"magsag_{field}_tokens_total",
                "counter",
                f"{said}, by provider and model.",
                ((model, counts[i]) for model, counts in tokens.items()),
            )
        out.samples(
            "magsag_cost_usd_total",
            "counter",
            "Known cost in USD, by provider, model and agent; attempts of unknown cost are not in it (see "
            "magsag_unknown_cost_attempts_total).",
            ((where, money[0]) for where, money in spend.items()),
        )
        out.samples(
            "magsag_unknown_cost_attempts_total",
            "counter",
            "Attempts whose cost is unknown (a model with no price, or an attempt cut after the vendor had it), by "
            "provider, model and agent.",
            ((where, money[1]) for where, money in spend.items()),
        )
        out.samples(
            "magsag_unknown_cost_bound_usd_total",
            "counter",
            "The worst case in USD estimated before sending of the attempts of unknown cost that had one (what budget "
            "limits count them at), by provider, model and agent.",
            ((where, money[2]) for where, money in spend.items()),
        )
        out.histograms(
            "magsag_attempt_duration_seconds",
            "The vendor call's duration of each attempt sent (ok or error), by provider and model.",
            latency.items(),
        )
        out.histograms(
            "magsag_call_duration_seconds",
            "A whole call's duration (routing, every attempt, the waits between them), by skill.",
            call_seconds.items(),
        )
        in_flight = reservations = queued = 0
        for service in services:
            in_flight += service._in_flight
            reservations += getattr(service.governance, "reservations_in_flight", 0)
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
            commits.items(),
        )
        out.samples(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            [((), self.started_at)],
        )
        return out.text()


def _add(into: dict[Labels, Histogram], labels: Labels, hist: Histogram) -> dict[Labels, Histogram]:
    """``hist`` added to ``into``'s histogram of ``labels`` (a copy made where it has none yet)."""
    mine = into.get(labels)
    if mine is None:
        mine = into[labels] = Histogram(hist.bounds)
    mine.add(hist.counts, hist.sum)
    return into


def process_start_time(otherwise: float) -> float:
    """When this process started, in unix seconds: on Linux from ``/proc`` (what prometheus-client reports too), else
    ``otherwise`` (when the registry was made: as this module was imported, at the process's start, as the service
    imports it)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            # the 22nd field, after the command's name in parentheses (which may hold spaces): clock ticks since boot
            ticks = int(stat.read().rpartition(b")")[2].split()[19])
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return otherwise


def _labels(**labels: str) -> Labels:
    return tuple(labels.items())


#: the process's one registry: every service counts into it, and the server's /metrics serves it
METRICS = CallMetrics()


def start() -> None:
    """Count this process's calls from now on: an application serving :func:`exposition` calls it as it starts (the
    MCP server's HTTP transport does, serving ``/metrics``); the first :func:`exposition` starts counting too, from
    then on."""
    METRICS.start()


def exposition() -> str:
    """The Prometheus text of this process's calls (what ``/metrics`` serves): a Python API user can serve it from
    their own HTTP server (calling :func:`start` first: counted are the calls made since; a first call of this one
    starts it, and holds no call before it)."""
    METRICS.start()
    return METRICS.exposition()
