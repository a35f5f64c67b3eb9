"""The process's call metrics (magsag_mcp.metrics) and their text (magsag_mcp.metrics_text): what a record counts, the
label caps, unknown costs counted apart and never as $0, exact money, and label values escaped so that a model named
with a quote, a backslash or a line break neither ends its value nor its line. Each scrape is read back by the strict
parser of tests/metrics_parsing.py. (The HTTP endpoint and figures held to the ledger: test_mcp_http_metrics.py.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import metrics as metrics_module
from magsag_mcp import service as service_module
from magsag_mcp import service_records
from magsag_mcp.ledger import queued_writes as ledger_queue
from magsag_mcp.ledger import store as ledger_store
from magsag_mcp.metrics import MODEL_LABELS, NO_AGENT, OTHER, CallMetrics
from magsag_mcp.metrics_text import Exposition, Histogram, escape_label_value
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY
from tests.metrics_parsing import parse

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
WEIRD_MODEL = 'ft:gpt-4o:acme:"q3"\\v2\nnight'


def attempt(outcome: str = "ok", *, model: str = "gpt-4o", agent: str | None = "ana", **kw) -> AttemptRecord:
    fields = {"input_tokens": 10, "output_tokens": 3, "cost_usd": Decimal("0.1"), "latency_ms": 250.0, **kw}
    return AttemptRecord("r1", 1.0e9, "openai", model, "skill.analysis", agent, outcome, 0, 1, **fields)  # type: ignore[arg-type]


def run(agent: str | None = "ana", status: str = "ok", seconds: float = 2.0) -> RunRecord:
    record = RunRecord("r1", agent, "skill.analysis", 1.0e9)
    record.ended_at, record.status = 1.0e9 + seconds, status  # type: ignore[assignment]
    return record


def test_a_model_named_with_a_quote_a_backslash_and_a_line_break_is_escaped_and_read_back_whole():
    registry = CallMetrics()
    registry.observe(run(), [attempt(model=WEIRD_MODEL)])
    text = registry.exposition()
    assert 'model="ft:gpt-4o:acme:\\"q3\\"\\\\v2\\nnight"' in text
    got = parse(text)  # (a raw line break in a value would have made a line that is no sample)
    assert got["magsag_attempts_total"].label_values("model") == {WEIRD_MODEL}
    assert got["magsag_input_tokens_total"].value(provider="openai", model=WEIRD_MODEL) == 10
    assert escape_label_value("plain") == "plain"


def test_help_text_escapes_its_backslashes_and_line_breaks():
    out = Exposition()
    out.samples("x_total", "counter", "a \\ b\nc", [((), 1)])
    assert out.text() == "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total 1\n"
    assert parse(out.text())["x_total"].help == "a \\ b\nc"


def test_the_agents_past_the_cap_are_counted_as_other_and_no_agent_as_none():
    registry = CallMetrics(agent_labels=2)
    for agent in ("ana", "bo", "cy", "dee", None, "ana"):
        registry.observe(run(agent), [attempt(agent=agent)])
    got = parse(registry.exposition())
    calls = got["magsag_calls_total"]
    assert {a: calls.total(agent=a) for a in calls.label_values("agent")} == {"ana": 2, "bo": 1, OTHER: 2, NO_AGENT: 1}
    cost = got["magsag_cost_usd_total"]
    assert cost.value(provider="openai", model="gpt-4o", agent=OTHER) == Decimal("0.2")  # cy's and dee's
    assert cost.total() == Decimal("0.6")


def test_the_models_past_the_cap_are_counted_as_other_under_their_provider():
    registry = CallMetrics()
    for i in range(MODEL_LABELS + 3):
        registry.observe(run(), [attempt(model=f"m-{i}")])
    got = parse(registry.exposition())["magsag_attempts_total"]
    assert len(got.label_values("model")) == MODEL_LABELS + 1
    assert got.total(model=OTHER, provider="openai") == 3 and got.total() == MODEL_LABELS + 3


def test_an_unknown_cost_is_counted_apart_never_as_zero_and_known_costs_sum_exactly():
    registry = CallMetrics()
    registry.observe(run(), [attempt(cost_usd=Decimal("0.1")), attempt(cost_usd=Decimal("0.2"))])
    # cut after the vendor had it: unknown, with the worst case estimated before it was sent
    registry.observe(run(status="error"), [attempt("error", cost_usd=None, cost_bound_usd=Decimal("0.05"))])
    # a model with no price: unknown, and no bound
    registry.observe(run(), [attempt(cost_usd=None)])
    # never sent, nothing priced: $0, as the ledger writes it, and not unknown
    registry.observe(run(status="policy_denied"), [attempt("policy_denied", cost_usd=None, input_tokens=0)])
    got = parse(registry.exposition())
    labels = {"provider": "openai", "model": "gpt-4o", "agent": "ana"}
    assert got["magsag_cost_usd_total"].value(**labels) == Decimal("0.3")  # not 0.30000000000000004
    assert "magsag_cost_usd_total{" in registry.exposition() and '"ana"} 0.3\n' in registry.exposition()
    assert got["magsag_unknown_cost_attempts_total"].value(**labels) == 2
    assert got["magsag_unknown_cost_bound_usd_total"].value(**labels) == Decimal("0.05")
    outcomes = got["magsag_attempts_total"]
    assert outcomes.total(outcome="policy_denied") == 1 and outcomes.total(outcome="ok") == 3
    # the refused attempt was never sent: no vendor call to time
    assert got["magsag_attempt_duration_seconds"].value("_count", provider="openai", model="gpt-4o") == 4


def test_an_observation_on_a_bucket_bound_falls_in_that_bucket_and_counts_are_cumulative():
    hist = Histogram((0.5, 1.0, 2.0))
    for value in (0.5, 0.7, 1.0, 3.0):
        hist.observe(value)
    out = Exposition()
    out.histograms("d_seconds", "d", [((), hist)])
    got = parse(out.text())["d_seconds"]
    assert [got.value("_bucket", le=le) for le in ("0.5", "1.0", "2.0", "+Inf")] == [1, 3, 3, 4]
    assert got.value("_sum") == Decimal("5.2") and got.value("_count") == 4


def test_an_agents_run_that_raised_counts_no_call():
    registry = CallMetrics()
    ended = run(status="error")
    ended.calls = 0
    registry.observe(ended, [])
    assert parse(registry.exposition())["magsag_calls_total"].samples == {}


@pytest.mark.anyio
async def test_a_call_of_the_python_api_is_counted_in_the_process_registry(tmp_path: Path, monkeypatch):
    registry = CallMetrics()
    for module in (metrics_module, service_module, service_records, ledger_store, ledger_queue):
        monkeypatch.setattr(module, "METRICS", registry)
    metrics_module.start()  # (as an application serving exposition() does as it starts)
    service = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    try:
        await service.invoke_skill("skill.analysis", {"data": "x"}, agent="cli-user")
        got = parse(metrics_module.exposition())
        assert got["magsag_calls_in_flight"].value() == 0
    finally:
        await service.aclose()
    assert got["magsag_calls_total"].value(skill="skill.analysis", agent="cli-user", status="ok") == 1
    assert got["magsag_ledger_commit_seconds"].total("_count") >= 1


@pytest.mark.anyio
async def test_a_call_in_flight_and_its_budget_reservation_are_gauged_while_it_runs(
    tmp_path: Path, monkeypatch, fake_openai, clock_at_noon: float
):
    registry = CallMetrics()
    for module in (metrics_module, service_module, service_records, ledger_store, ledger_queue):
        monkeypatch.setattr(module, "METRICS", registry)
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    service = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    fake_openai.queue(R.Reply(hang=True))
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.invoke_skill, "skill.analysis", payload)
                while not fake_openai.requests:
                    await anyio.sleep(0.001)
                during = parse(metrics_module.exposition())  # the request is at the vendor: the call and its hold
                scope.cancel()
        after = parse(metrics_module.exposition())
    finally:
        fake_openai.release()
        await service.aclose()
    assert during["magsag_calls_in_flight"].value() == 1
    assert during["magsag_budget_reservations_in_flight"].value() == 1  # the default catalog's limits reserve
    assert during["magsag_calls_total"].samples == {}
    assert after["magsag_calls_in_flight"].value() == 0 and after["magsag_budget_reservations_in_flight"].value() == 0
    assert after["magsag_calls_total"].value(skill="skill.analysis", agent=NO_AGENT, status="cancelled") == 1
    # cut after the vendor had it: unknown, never $0
    assert after["magsag_unknown_cost_attempts_total"].value(provider="openai", model="gpt-4o", agent=NO_AGENT) == 1


@pytest.mark.anyio
async def test_a_process_counts_nothing_until_its_figures_will_be_read(tmp_path: Path, monkeypatch):
    # Counting costs some 2% of a call's instructions (ROUNDS.md's forty-seventh round): a process whose figures no
    # one reads (a script, the CLI, a stdio server) pays nothing for them. Started (metrics.start(), or the first
    # exposition()), the calls from then on are counted, and none before.
    registry = CallMetrics()
    for module in (metrics_module, service_module, service_records, ledger_store, ledger_queue):
        monkeypatch.setattr(module, "METRICS", registry)

    def observed(*args: object) -> None:
        raise AssertionError("counted while no one reads the figures")

    monkeypatch.setattr(registry, "observe", observed)
    monkeypatch.setattr(registry, "commit", observed)
    service = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    try:
        await service.invoke_skill("skill.analysis", {"data": "x"}, agent="before")
        monkeypatch.undo()
        for module in (metrics_module, service_module, service_records, ledger_store, ledger_queue):
            monkeypatch.setattr(module, "METRICS", registry)
        assert not registry.counting
        first = parse(metrics_module.exposition())  # starts counting
        await service.invoke_skill("skill.analysis", {"data": "x"}, agent="after")
        got = parse(metrics_module.exposition())
    finally:
        await service.aclose()
    assert first["magsag_calls_total"].samples == {}
    assert got["magsag_calls_total"].value(skill="skill.analysis", agent="after", status="ok") == 1
    assert got["magsag_calls_total"].total(agent="before") == 0


def test_the_process_start_time_is_read_when_scraped_not_when_the_registry_is_made(monkeypatch):
    # Every process imports the registry (a script, the CLI) and most never scrape: /proc is read at the first scrape.
    import time

    reads: list[float] = []

    def read(otherwise: float) -> float:
        reads.append(otherwise)
        return 1_700_000_000.0

    monkeypatch.setattr(metrics_module, "process_start_time", read)
    before = time.time()
    registry = CallMetrics()
    assert reads == []
    got = parse(registry.exposition())
    parse(registry.exposition())
    assert got["process_start_time_seconds"].value() == 1_700_000_000
    assert len(reads) == 1 and before <= reads[0] <= time.time()  # (read once; the registry's making its fallback)
