"""What a failed attempt cost: 0 when the vendor never billed it, unknown (NULL, flagged) when it may have.

Driven through the service against the spec-checking loopback OpenAI (``tests/fakes``), so the errors
come from the real transport: a read timeout, a stream cut mid-answer, an HTTP 500 / 429, a refused
connection. Each is checked in the ledger's rows, in ``summarize()`` and in ``check_budget()``.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import load_policies
from magsag_mcp.governance.gate import check_summary
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger import migrations as M
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts, Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: long enough for a stream's first events to arrive, short enough that a silent server times out fast
IDLE = Timeouts(connect=2.0, read=0.25)
MAYBE_BILLED = "the provider may bill it; its cost is unknown"


@pytest.fixture
async def service(fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float) -> AsyncIterator[Service]:
    # noon: the calls' agent day is the day check_budget reads, as it was not when a UTC midnight fell in between
    svc = await open_service(tmp_path, fake_openai.url + "/v1")
    yield svc
    await svc.aclose()


async def open_service(tmp_path: Path, base_url: str, *, catalog: Path = CATALOG, db: str = "cost.db") -> Service:
    env = {
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": DEFAULT_KEY,
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }
    return await Service.open(catalog=catalog, db=tmp_path / db, env=env, transport=Transport(timeouts=IDLE))


async def call(svc: Service, run_id: str, *, stream: bool = False) -> None:
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o", "stream": stream}}
    await svc.invoke_skill("skill.analysis", payload, run_id=run_id, agent="ana")


def rows(db: Path, run_id: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT outcome, error_class, cost_pusd, warnings FROM attempts WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
    finally:
        conn.close()


async def books(svc: Service, run_id: str) -> tuple[dict, dict]:
    """(summary totals, check_budget) for the run: the two views of spend must agree."""
    summary = await svc.summarize({"run_id": run_id})
    status = await svc.check_budget(agent="ana", run_id=run_id)
    return summary["totals"], status


def limit(status: dict, kind: str) -> dict:
    return next(lim for lim in status["limits"] if lim["limit"] == kind)


def bounds(db: Path, run_id: str) -> list[int | None]:
    """Each attempt's cost_bound_pusd: the most an attempt of unknown cost can have cost."""
    conn = sqlite3.connect(db)
    try:
        return [
            r[0] for r in conn.execute("SELECT cost_bound_pusd FROM attempts WHERE run_id = ? ORDER BY id", (run_id,))
        ]
    finally:
        conn.close()


def held(db: Path) -> list[int]:
    """The budget reservations held in the ledger right now."""
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM budget_reservations")]
    finally:
        conn.close()


def spy_reservations(svc: Service) -> list[Decimal]:
    """The worst case each admission reserved, in order."""
    reserved: list[Decimal] = []
    real = svc.governance.admit

    async def admit(ctx):
        admission = await real(ctx)
        reserved.append(admission.reserved_usd)
        return admission

    svc.governance.admit = admit  # type: ignore[method-assign]
    return reserved


def assert_bound(db: Path, status: dict, run_id: str, reserved: Decimal) -> None:
    """The unknown attempt carries its reserved worst case as its bound, and the limits count it."""
    bound = next(b for b in bounds(db, run_id) if b is not None)
    assert Decimal(bound) / 10**12 == reserved > 0
    for kind in ("run", "agent_day"):
        lim = limit(status, kind)
        assert Decimal(lim["unknown_cost_bound_usd"]) == reserved, kind
        used = Decimal(lim["spent_usd"]) + reserved + Decimal(lim["reserved_usd"])
        assert Decimal(lim["remaining_usd"]) == Decimal(lim["limit_usd"]) - used, kind


def assert_unpriced(totals: dict, status: dict, n: int) -> None:
    assert totals["unpriced_calls"] == n and totals["cost_complete"] is (n == 0)
    for kind in ("run", "agent_day"):
        assert limit(status, kind)["unpriced_calls"] == n, kind
        assert limit(status, kind)["cost_complete"] is (n == 0), kind
    assert status["cost_complete"] is (n == 0)
    # the known spend is the same number in both views; the cost itself is null while any is unknown
    assert Decimal(totals["known_cost_usd"]) == Decimal(limit(status, "run")["spent_usd"])
    assert (totals["cost_usd_exact"] is None) is (n > 0) and (totals["cost_usd"] is None) is (n > 0)


# --- cut after the request reached the vendor: unknown, flagged -------------------------------------


async def test_a_read_timeout_is_recorded_as_unknown_cost(service: Service, fake_openai: FakeOpenAI, tmp_path: Path):
    fake_openai.queue(R.Reply(hang=True))  # the retry gets the default answer
    reserved = spy_reservations(service)
    await call(service, "r-timeout")
    (outcome, kind, cost, warnings), ok = rows(tmp_path / "cost.db", "r-timeout")
    assert (outcome, kind, cost) == ("error", "timeout", None)
    assert MAYBE_BILLED in json.loads(warnings)[0]
    assert ok[0] == "ok" and ok[2] > 0
    assert bounds(tmp_path / "cost.db", "r-timeout")[1] is None  # a known cost has no bound
    totals, status = await books(service, "r-timeout")
    assert_unpriced(totals, status, 1)
    assert limit(status, "run")["reserved_usd"] == "0"  # the reservation went with the record
    assert_bound(tmp_path / "cost.db", status, "r-timeout", reserved[0])
    assert (totals["unbounded_calls"], Decimal(totals["unknown_cost_bound_usd"])) == (0, reserved[0])
    run = (await service.query_runs({"run_id": "r-timeout"}))[0]
    assert run["unpriced_calls"] == 1 and run["cost_complete"] is False
    assert run["cost_usd"] is None and Decimal(run["known_cost_usd"]) > 0  # the retry's answer
    assert Decimal(run["cost_bound_usd"]) == reserved[0]
    attempt = run["attempts"][0]
    assert (attempt["cost_usd"], Decimal(attempt["cost_bound_usd"])) == (None, reserved[0])
    # the audit export carries the bound, so an empty cost there is never read as $0
    from magsag_mcp.cli.data import runs_to_csv

    first = next(csv.DictReader(io.StringIO(runs_to_csv([run]))))
    assert (first["cost_usd"], Decimal(first["cost_bound_usd"])) == ("", reserved[0])
    # The shipped policy's gate checks the worst case instead of refusing a summary with one timeout.
    summary = await service.summarize({"run_id": "r-timeout"})
    assert check_summary(summary, load_policies(CATALOG)) == []


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (R.reply("a long answer that never finishes", cut_after=3), "connection_error"),
        # The vendor streamed part of an answer, then an in-band error: it may bill what it generated, as
        # for a dropped stream, whatever class the error maps to.
        (replace(R.overloaded(), in_stream=True), "server_error"),
    ],
    ids=["cut-mid-answer", "error-event-inside"],
)
async def test_a_stream_that_fails_after_it_began_is_recorded_as_unknown_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, failure: R.Reply | R.ErrorReply, error_class: str
):
    fake_openai.queue(failure)
    reserved = spy_reservations(service)
    await call(service, "r-stream", stream=True)
    (outcome, kind, cost, warnings), ok = rows(tmp_path / "cost.db", "r-stream")
    assert (outcome, kind, cost) == ("error", error_class, None)
    assert MAYBE_BILLED in json.loads(warnings)[0]
    assert ok[0] == "ok"
    totals, status = await books(service, "r-stream")
    assert_unpriced(totals, status, 1)
    assert_bound(tmp_path / "cost.db", status, "r-stream", reserved[0])


async def test_a_chat_stream_cut_before_its_usage_chunk_is_the_answer_paid_once_at_unknown_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # role, "whole", " answer" and the closing chunk came; the usage chunk and [DONE] did not. The whole answer
    # was thrown away as a dropped stream and asked for again: paid twice, its text shown twice to the caller.
    fake_openai.queue(R.reply("whole answer", usage=R.tokens(1000, 900), cut_after=4), R.reply("asked again"))
    reserved = spy_reservations(service)
    texts: list[str] = []

    async def progress(event: str, data: dict) -> None:
        if event == "delta":
            texts.append(data["text"])

    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o", "stream": True}}
    result = await service.invoke_skill("skill.analysis", payload, run_id="r-no-usage", agent="ana", progress=progress)
    assert (result.text, len(fake_openai.requests), "".join(texts)) == ("whole answer", 1, "whole answer")
    assert result.cost_usd is None and result.to_dict()["cost_unknown"] is True
    [(outcome, kind, cost, warnings)] = rows(tmp_path / "cost.db", "r-no-usage")
    assert (outcome, kind, cost) == ("ok", None, None)
    assert any(MAYBE_BILLED in w for w in json.loads(warnings))
    totals, status = await books(service, "r-no-usage")
    assert_unpriced(totals, status, 1)
    assert_bound(tmp_path / "cost.db", status, "r-no-usage", reserved[0])


async def test_a_stream_that_goes_idle_is_recorded_as_unknown_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.queue(R.reply("one two three", stall_after=2))
    await call(service, "r-idle", stream=True)
    (outcome, kind, cost, _), _ok = rows(tmp_path / "cost.db", "r-idle")
    assert (outcome, kind, cost) == ("error", "timeout", None)
    totals, status = await books(service, "r-idle")
    assert_unpriced(totals, status, 1)


async def test_a_call_cancelled_in_flight_is_recorded_as_unknown_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.queue(R.Reply(hang=True))
    reserved = spy_reservations(service)
    held_until_recorded: list[int] = []
    real_record = service.ledger.record_call

    async def record_call(run, attempts, **kw):
        # the reservation is still held when the record that replaces it is written (one transaction)
        held_until_recorded.append(len(held(tmp_path / "cost.db")))
        assert attempts[-1].reservation_id is not None
        await real_record(run, attempts, **kw)

    service.ledger.record_call = record_call  # type: ignore[method-assign]
    with anyio.CancelScope() as scope:  # the caller gives up once the request is in flight
        async with anyio.create_task_group() as tg:
            tg.start_soon(fake_openai.cancel_once_received, scope)
            await call(service, "r-cancel")
    assert held_until_recorded == [1] and held(tmp_path / "cost.db") == []
    ((outcome, kind, cost, warnings),) = rows(tmp_path / "cost.db", "r-cancel")
    assert (outcome, kind, cost) == ("error", "cancelled", None)
    assert MAYBE_BILLED in json.loads(warnings)[0]
    totals, status = await books(service, "r-cancel")
    assert_unpriced(totals, status, 1)
    assert limit(status, "run")["reserved_usd"] == "0"
    assert_bound(tmp_path / "cost.db", status, "r-cancel", reserved[0])


async def test_an_attempt_admitted_after_the_call_deadline_is_not_sent_and_costs_nothing(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """The reservation waited past the call's deadline (another process held the ledger's write lock).
    The attempt then started with no time left and was cut at once, unsent, yet recorded as a timeout
    of unknown cost: every budget limit counted its worst case."""
    from magsag_mcp.retry import RetryPolicy

    fake_openai.queue(R.reply("too late"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    svc = await Service.open(db=tmp_path / "cost.db", env=env, retry=RetryPolicy(deadline=0.3))
    real = svc.governance.admit

    async def admit(ctx):
        admission = await real(ctx)
        await anyio.sleep(0.4)  # waiting for the ledger's write lock
        return admission

    svc.governance.admit = admit  # type: ignore[method-assign]
    try:
        with pytest.raises(E.AllTargetsFailed) as info:
            await call(svc, "r-late")
        totals, status = await books(svc, "r-late")
    finally:
        await svc.aclose()
    assert isinstance(info.value.last_error, E.ProviderTimeoutError)
    assert "deadline" in info.value.last_error.message
    assert fake_openai.requests == []
    ((outcome, _kind, cost, _warnings),) = rows(tmp_path / "cost.db", "r-late")
    assert (outcome, cost) == ("skipped", 0)
    assert_unpriced(totals, status, 0)
    assert limit(status, "run")["unknown_cost_bound_usd"] == "0" and held(tmp_path / "cost.db") == []


@pytest.mark.parametrize(
    "failure",
    [
        R.error(504, "Gateway Timeout", type="server_error"),  # a gateway (APIM, a proxy) gave up waiting
        R.error(524, "A timeout occurred", type="server_error"),  # Cloudflare's: the origin took too long
    ],
    ids=["504", "524"],
)
async def test_a_gateway_timeout_is_recorded_as_unknown_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, failure: R.ErrorReply
):
    # A gateway timeout is not the vendor refusing the request: the server behind the gateway had it and
    # was still generating (billed) when the gateway gave up. It was recorded at exactly $0, so every
    # retry of a long answer through a gateway could spend past the run's limit unseen.
    fake_openai.queue(failure)
    reserved = spy_reservations(service)
    await call(service, "r-gateway")
    (outcome, kind, cost, warnings), ok = rows(tmp_path / "cost.db", "r-gateway")
    assert (outcome, cost) == ("error", None)
    assert MAYBE_BILLED in json.loads(warnings)[0]
    assert ok[0] == "ok"
    totals, status = await books(service, "r-gateway")
    assert_unpriced(totals, status, 1)
    assert_bound(tmp_path / "cost.db", status, "r-gateway", reserved[0])


# --- never billed: exactly 0 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [R.server_error(), R.rate_limited(retry_after="0"), R.error(408, "Request Timeout", type="timeout")],
    ids=["500", "429", "408"],
)
async def test_a_request_rejected_by_status_costs_exactly_zero(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, failure: R.ErrorReply
):
    fake_openai.queue(failure)
    await call(service, "r-status")
    (outcome, _, cost, warnings), ok = rows(tmp_path / "cost.db", "r-status")
    assert (outcome, cost, warnings) == ("error", 0, None)  # an explicit 0, not NULL
    assert ok[0] == "ok"
    assert bounds(tmp_path / "cost.db", "r-status") == [None, None]
    totals, status = await books(service, "r-status")
    assert_unpriced(totals, status, 0)
    assert limit(status, "run")["unknown_cost_bound_usd"] == "0"


async def test_a_refused_connection_costs_exactly_zero(tmp_path: Path, refused_port: int):
    svc = await open_service(tmp_path, f"http://127.0.0.1:{refused_port}/v1")
    try:
        with pytest.raises(E.ProviderConnectionError):
            await call(svc, "r-refused")
        totals, status = await books(svc, "r-refused")
    finally:
        await svc.aclose()
    tried = rows(tmp_path / "cost.db", "r-refused")
    # changed on purpose (back to three): refused on loopback, the last target left gets its retries (a5eb4ff tried
    # it once)
    assert [(o, k) for o, k, _, _ in tried if o == "error"] == [("error", "connection_error")] * 3
    assert all(cost == 0 for _, _, cost, _ in tried)  # skipped fallbacks too: never sent
    assert_unpriced(totals, status, 0)
    assert totals["cost_usd_exact"] == "0"


# --- migration 0006 ---------------------------------------------------------------------------------


async def test_migration_0006_makes_old_error_rows_zero_and_keeps_unknown_answers_unknown(tmp_path: Path, monkeypatch):
    """A ledger written before 0006: failed and skipped attempts have NULL cost meaning $0, an answer of
    unknown price has NULL meaning unknown. After the migration the books read the same."""
    db = tmp_path / "old.db"
    now = time.time()
    conn = sqlite3.connect(db, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(M, "MIGRATIONS", M.MIGRATIONS[:5])
        assert M.migrate(conn)[-1] == "0005_trim_hot_indexes"
    old = [  # outcome, error_class, cost_pusd
        ("error", "server_error", None),
        ("skipped", "skipped", None),
        ("ok", None, None),  # an answer whose price was unknown
        ("ok", None, 5_000_000),
    ]
    for outcome, kind, cost in old:
        conn.execute(
            "INSERT INTO attempts (run_id, started_at, provider, model, skill, agent, outcome, error_class, cost_pusd)"
            " VALUES ('r-old', ?, 'openai', 'gpt-4o', 's', 'ana', ?, ?, ?)",
            (now, outcome, kind, cost),
        )
    # the counters as the code before 0006 kept them: only an 'ok' NULL was unpriced
    conn.execute(
        "INSERT INTO runs (run_id, agent, skill, started_at, status, calls, cost_pusd, unpriced_calls)"
        " VALUES ('r-old', 'ana', 's', ?, 'ok', 1, 5000000, 1)",
        (now,),
    )
    conn.execute(
        "INSERT INTO usage_rollup SELECT CAST(started_at / 86400 AS INTEGER), model, provider, agent, skill, outcome,"
        " COUNT(*), 0, 0, 0, 0, coalesce(SUM(cost_pusd), 0), SUM(outcome = 'ok' AND cost_pusd IS NULL)"
        " FROM attempts GROUP BY 1, 2, 3, 4, 5, 6"
    )
    conn.close()

    async with Ledger(db) as ledger:
        summary = await ledger.summarize()  # from usage_rollup
        by_run = await ledger.summarize({"run_id": "r-old"})  # from attempts
        run_cost = await ledger.run_cost("r-old")
    conn = sqlite3.connect(db)
    costs = conn.execute("SELECT outcome, cost_pusd FROM attempts ORDER BY id").fetchall()
    applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    conn.close()
    assert "0006_error_attempts_cost_zero" in applied
    assert costs == [("error", 0), ("skipped", 0), ("ok", None), ("ok", 5_000_000)]
    for view in (summary, by_run):
        assert view["totals"]["unpriced_calls"] == 1 and view["totals"]["cost_complete"] is False
        assert view["totals"]["known_cost_usd"] == "0.000005" and view["totals"]["cost_usd_exact"] is None
    assert run_cost == (Decimal("0.000005"), True)


async def test_a_progress_callback_that_raises_mid_stream_stops_the_call_with_its_own_error(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # The caller's callback failing on a streamed delta was taken for a provider bug: a "malformed
    # response", and the cascade went on to the next target, which streamed (and billed) again only to
    # fail the same way. It is the caller's error, as when the callback fails on "attempt": it stops
    # the call and reaches the caller as raised; the attempt it cut was in flight, so may be billed.
    async def progress(event: str, data: dict) -> None:
        if event == "delta":
            raise RuntimeError("the caller's callback broke")

    fake_openai.queue(R.reply("a long streamed answer"), R.reply("the fallback's answer"))
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    with pytest.raises(RuntimeError, match="the caller's callback broke"):
        await service.invoke_skill("skill.analysis", payload, run_id="r-progress", agent="ana", progress=progress)
    assert len(fake_openai.requests) == 1
    [(outcome, _, cost, warnings)] = rows(tmp_path / "cost.db", "r-progress")
    assert outcome == "error" and cost is None and MAYBE_BILLED in json.loads(warnings)[0]
    assert bounds(tmp_path / "cost.db", "r-progress")[0] > 0
    assert service.governance._running == 0


@pytest.mark.parametrize("how", ["read-timeout", "stream-dropped", "cancelled"])
async def test_a_local_model_cut_in_flight_costs_exactly_zero(fake_openai: FakeOpenAI, tmp_path: Path, how: str):
    # The catalog prices local:* at 0 (a server of your own). A local model still loading or generating past
    # the read timeout, a stream that dropped, or Ctrl-C while it answered, was recorded at an unknown cost
    # ("the provider may bill it"): the call came back cost_usd null, cost_unknown, and every summary of the
    # local model cost_complete false, for a model that can cost nothing however many tokens it generated.
    fake_openai.key = None
    env = {
        "MAGSAG_LOCAL_LLM_BASE_URL": fake_openai.url + "/v1",
        "MAGSAG_READ_TIMEOUT": str(IDLE.read),  # local's own default is 600 s
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
    }
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "cost.db", env=env, transport=Transport(timeouts=IDLE))
    payload = {"data": "numbers", "model_config": {"model": "llama3.1:70b", "stream": how == "stream-dropped"}}
    fake_openai.queue(R.reply("cut", cut_after=2) if how == "stream-dropped" else R.Reply(hang=True))
    try:
        if how == "cancelled":
            with anyio.CancelScope() as scope:  # the caller gives up once the request is in flight
                async with anyio.create_task_group() as tg:
                    tg.start_soon(fake_openai.cancel_once_received, scope)
                    await svc.invoke_skill("skill.analysis", payload, run_id="r-local", agent="ana")
        else:
            result = await svc.invoke_skill("skill.analysis", payload, run_id="r-local", agent="ana")
            assert result.cost_usd == 0 and not [w for w in result.warnings if MAYBE_BILLED in w]
        totals, status = await books(svc, "r-local")
    finally:
        await svc.aclose()
    recorded = rows(tmp_path / "cost.db", "r-local")
    kind = {"read-timeout": "timeout", "stream-dropped": "connection_error", "cancelled": "cancelled"}[how]
    assert recorded[0][:3] == ("error", kind, 0) and MAYBE_BILLED not in (recorded[0][3] or "")
    message = sqlite3.connect(tmp_path / "cost.db").execute("SELECT error_message FROM attempts").fetchone()[0]
    assert "may still bill" not in message and "may bill" not in message
    assert bounds(tmp_path / "cost.db", "r-local")[0] is None
    assert_unpriced(totals, status, 0)
    assert held(tmp_path / "cost.db") == []


def test_the_output_reserved_is_max_tokens_raised_to_the_apis_least():
    from magsag_mcp.attempt_cost import DEFAULT_MAX_OUTPUT, output_tokens_reserved
    from magsag_mcp.types import LLMRequest, Message, Target

    responses = Target("openai", "o3-pro")  # only the Responses API serves it: at least 16 output tokens are sent
    chat = Target("openai", "gpt-4o")
    default = DEFAULT_MAX_OUTPUT
    for max_tokens, on_responses, on_chat in ((8, 16, 8), (16, 16, 16), (17, 17, 17), (None, default, default)):
        request = LLMRequest(messages=[Message("user", "hi")], max_tokens=max_tokens)
        assert output_tokens_reserved(request, responses) == on_responses, max_tokens
        assert output_tokens_reserved(request, chat) == on_chat, max_tokens
