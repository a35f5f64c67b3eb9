"""A call cancelled at each of its steps in turn (``tests/cancel_sweep.py``), on the full path (one target that
answers), the fallback path (a first target that refuses the connection, then one that answers) and a streamed call
whose events come one by one. Wherever the cancellation lands, the caller gets the cancellation (or the answer, where
it came first), the call is in the ledger, no request the vendor received is recorded at $0, nothing of any limit
stays reserved, no key is in a message, and the next call on the same service works."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.invoke_result import InvokeResult
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts, Transport
from tests.cancel_sweep import CANCELLED, cancelled_at_each_step
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

#: what the compat target is sent with: a key of its own, which no message may carry either
COMPAT_KEY = "ck-sweep7f3a9c1e5b2d8k4m6"


def _rows(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _check_step(db: Path, run_id: str, outcome: object) -> None:
    """What a call cancelled at one step (or not cancelled) must have left."""
    if not isinstance(outcome, InvokeResult):
        assert outcome == CANCELLED or isinstance(outcome, asyncio.CancelledError), f"{run_id}: {outcome!r}"
    (status,) = _rows(db, "SELECT status FROM runs WHERE run_id = ?", run_id)  # recorded, whatever happened
    attempts = _rows(
        db, "SELECT outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = ? ORDER BY id", run_id
    )
    if isinstance(outcome, InvokeResult):
        assert status == ("ok",) and attempts[-1][0] == "ok" and outcome.cost_usd is not None and outcome.cost_usd > 0
    else:
        assert status in (("cancelled",), ("ok",)), f"{run_id}: {status}"  # ok: recorded before the cancellation
    for attempt in attempts:
        kind, error_class, cost, bound = attempt
        if kind == "ok":
            assert cost is not None and cost > 0, f"{run_id}: {attempts}"
        elif error_class == "cancelled":  # not sent: cost 0; maybe sent: unknown, bounded by its worst case
            assert cost == 0 or (cost is None and bound is not None and bound > 0), f"{run_id}: {attempts}"
    assert _rows(db, "SELECT count(*) FROM budget_reservations") == [(0,)], f"{run_id}: a reservation stays held"


def _check_sweep(db: Path, fake: FakeOpenAI, run_prefix: str) -> None:
    """What the whole sweep must have left: every request the vendor received is an attempt recorded as answered, as
    of unknown cost (it may be billed) or as refused with a 500 (not billed); none as cut before it was sent, at $0."""
    paid_or_unknown = _rows(
        db,
        "SELECT count(*) FROM attempts WHERE run_id LIKE ? AND provider = 'openai'"
        " AND (outcome = 'ok' OR cost_pusd IS NULL OR error_class = 'server_error')",
        run_prefix + "%",
    )[0][0]
    received = sum(1 for r in fake.requests if r.path.endswith(("/chat/completions", "/responses")))
    assert received <= paid_or_unknown, (received, paid_or_unknown)
    texts = _rows(db, "SELECT coalesce(error_message, '') || coalesce(warnings, '') FROM attempts")
    assert not [t for (t,) in texts if DEFAULT_KEY in t or COMPAT_KEY in t]


@pytest.fixture
async def service(fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, refused_port: int, clock_at_noon: float):
    (catalog_copy / "prices.yaml").write_text('"compat:*": {input: 1.0, output: 1.0}\n')
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "MAGSAG_COMPAT_BASE_URL": f"http://127.0.0.1:{refused_port}/v1",
        "MAGSAG_COMPAT_API_KEY": COMPAT_KEY,
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
        # every call of a path meets the same step (the retry path's 500 first): the circuit breaker would leave the
        # target alone after three of them, and the later calls would have no retry's wait to be cancelled in (the
        # breaker's own paths: tests/test_breaker.py)
        "MAGSAG_BREAKER_FAILURES": "0",
    }
    timeouts = Timeouts(connect=30.0, read=30.0)  # a hang guard: nothing here waits on a timeout
    db = tmp_path / "sweep.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=env, transport=Transport(timeouts=timeouts))
    yield svc
    await svc.aclose()


#: each path: its model_config, the fake's default answer (None: its own), the step queued before each call (None:
#: none), and whether the call tells a progress callback what comes
PATHS = {
    "full": ({"model": "openai:gpt-4o"}, None, None, False),
    "fallback": ({"model": "compat:gpt-4o", "fallbacks": ["openai:gpt-4o"]}, None, None, False),
    # a 500, then the same target again after its backoff: cancelled in the wait too
    "retry": ({"model": "openai:gpt-4o"}, None, R.server_error, False),
    "stream": (
        {"model": "openai:gpt-4o", "stream": True},
        R.reply("one two three four five six", drip=True),
        None,
        True,
    ),
    # the Responses API's events, one by one: its usage comes only in the terminal event
    "responses-stream": (
        {"model": "openai:gpt-4o", "stream": True, "params": {"api": "responses"}},
        R.reply("one two three four five six", drip=True),
        None,
        True,
    ),
}


@pytest.mark.parametrize("how", ["task", "scope"])
@pytest.mark.parametrize("by", ["steps", "passes"])
@pytest.mark.parametrize("path", list(PATHS))
async def test_a_call_cancelled_at_each_step_is_recorded_and_holds_nothing(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, path: str, by: str, how: str
):
    model_config, answer, first, told = PATHS[path]
    if answer is not None:
        fake_openai.default = answer
    events: list[str] = []

    async def progress(event: str, data: dict) -> None:
        events.append(event)

    run_ids = (f"r-{path}-{n}" for n in range(1, 10**6))
    run_id = ""

    def call():  # type: ignore[no-untyped-def]
        nonlocal run_id
        run_id = next(run_ids)
        if first is not None:
            # (a request a cancelled call sent may reach the fake after this, and take the step: that call then
            # retries, this one is answered at once; each is checked all the same)
            fake_openai.steps.clear()
            fake_openai.queue(first())
        payload = {"data": "x", "model_config": model_config}
        return service.invoke_skill(
            "skill.analysis", payload, run_id=run_id, agent="ana", progress=progress if told else None
        )

    swept = 0
    async for step, outcome in cancelled_at_each_step(call, by=by, how=how):
        _check_step(tmp_path / "sweep.db", run_id, outcome)
        swept = step
    assert isinstance(outcome, InvokeResult) and swept > 2  # the sweep ended on a call that ran to its end
    assert not told or "delta" in events
    _check_sweep(tmp_path / "sweep.db", fake_openai, "r-")
    # the next call on the same service is served, and holds nothing after it either
    _check_step(
        tmp_path / "sweep.db",
        "r-after",
        await service.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": model_config}, run_id="r-after", agent="ana"
        ),
    )
    status = await service.check_budget(agent="ana")
    assert status["limits"] and all(lim["reserved_usd"] == "0" for lim in status["limits"]), status
