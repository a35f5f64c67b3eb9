"""An attempt that ends in an error the call does not record as an attempt (a setting to fix, a bad payload, an
interpreter exit) gives its budget reservation back with a write of its own. When another process holds the ledger's
write lock past the busy timeout, that write is refused: the refusal took the place of the caller's own error, so
the caller read "the ledger stayed locked; retry" instead of what to fix, and retrying met the same error again.
The caller now gets its own error, the refusal kept in it (``release_error``, and a note) and logged; the
reservation is dropped by the process's next reservation or its close, as a refused drop of an orphan's is."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import clear_scripts, script
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_scripts_left():
    yield
    clear_scripts()


async def _call_while_another_process_locks(catalog: Path, db: Path, error: BaseException) -> tuple[BaseException, int]:
    """Invoke ``fake:a``, scripted to raise ``error``, under a run limit (so its attempt holds a reservation), with
    another process taking the write lock once the attempt is admitted; the error raised, and the reservations held
    once that lock is given back."""
    (catalog / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", error)
    svc = await Service.open(catalog=catalog, db=db, env={})
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted (its reservation made): another process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
    try:
        with pytest.raises(BaseException) as info:
            with anyio.fail_after(60):  # a hang guard
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        other.execute("ROLLBACK")
        held = other.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        other.close()
        await svc.aclose()
    return info.value, held


@pytest.mark.parametrize(
    "error",
    [
        E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path"),
        E.PayloadError("the requested JSON schema cannot be applied; correct the schema"),
    ],
    ids=["config", "payload"],
)
async def test_a_refused_release_leaves_the_callers_own_error(
    catalog_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, error: E.MagsagError
):
    caplog.set_level(logging.WARNING, logger="magsag_mcp.cascade")
    raised, held = await _call_while_another_process_locks(catalog_copy, tmp_path / "g.db", error)
    # before: LedgerError "the ledger at ... stayed locked for 30s by another process; retry, or stop the process
    # holding it", for a call whose fix is in its settings or its payload
    assert type(raised) is type(error) and raised.message == error.message
    refusal = raised.to_dict()["release_error"]
    assert refusal["type"] == "ledger_error" and "locked" in refusal["message"]
    assert any("budget reservation" in note and "expires" in note for note in raised.__notes__)
    # the reservation no write could drop is held while the lock is (its next reservation or the close drops it)
    assert held == 1
    logged = [r for r in caplog.records if r.name == "magsag_mcp.cascade" and r.levelno == logging.WARNING]
    assert len(logged) == 1 and "locked" in logged[0].getMessage() and "expires" in logged[0].getMessage()


async def test_a_refused_release_leaves_an_interpreter_exit_as_it_was(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # an exit (KeyboardInterrupt, SystemExit) is not a call's error: it goes on as it was, the refusal in its notes
    # alone. One that came before the request left gives the reservation back: the fake is made a provider that sends
    # through the transport, which it never does, so its attempt ends unsent (one that may have been sent is recorded
    # as cancelled instead, its reservation going with that record: see test_interrupted_calls.py)
    from magsag_mcp.providers.fake import FakeProvider

    monkeypatch.setattr(FakeProvider, "sends_through_transport", True)
    raised, held = await _call_while_another_process_locks(catalog_copy, tmp_path / "g.db", KeyboardInterrupt())
    assert type(raised) is KeyboardInterrupt
    assert any("budget reservation" in note and "locked" in note for note in raised.__notes__)
    assert held == 1


async def test_a_refused_release_is_made_at_close_not_left_to_become_an_abandoned_call(
    catalog_copy: Path, tmp_path: Path
):
    # Left to expire, the reservation of an attempt that was given back (a setting to fix, nothing billed) became the
    # sweep's stand-in for a call whose process died with its request in flight: a second call of the run beside its
    # own failed record ('the provider may bill it'), its worst case counted in the run's, agent's and day's limits for
    # good. It is now given back as a refused drop of an orphan's is: by the process's next reservation, or its close.
    from magsag_mcp.ledger.abandoned import record_abandoned

    error = E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path")
    raised, held = await _call_while_another_process_locks(catalog_copy, tmp_path / "g.db", error)
    assert type(raised) is E.ConfigError and held == 1  # refused while the lock was held, as before
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    try:
        left = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        record_abandoned(conn, 4e9)  # long after any reservation expired
        conn.execute("COMMIT")
        calls = conn.execute("SELECT calls, cost_bound_pusd FROM runs WHERE run_id = 'r'").fetchall()
        stand_ins = conn.execute("SELECT COUNT(*) FROM attempts WHERE error_class = 'abandoned'").fetchone()[0]
    finally:
        conn.close()
    assert left == 0  # given back at close, the lock gone
    assert (calls, stand_ins) == ([(1, 0)], 0)  # the call's own record alone


async def test_a_refused_release_is_made_by_the_next_reservation(catalog_copy: Path, tmp_path: Path):
    # the process's next reservation gives it back in its own transaction, before it reads the limits: the next call
    # is not refused for a hold of an attempt given back
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script(
        "a", E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path")
    )
    db = tmp_path / "g.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env={})
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted (its reservation made): another process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    try:
        with pytest.raises(E.ConfigError):
            with anyio.fail_after(60):  # a hang guard
                payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        other.execute("ROLLBACK")
        given_back = other.execute("SELECT id FROM budget_reservations").fetchall()
        seen: list[list[int]] = []

        async def note_held(event: str, data: dict) -> None:
            if event == "attempt":  # the next call admitted: the reservations it left
                seen.append([i for (i,) in other.execute("SELECT id FROM budget_reservations").fetchall()])

        payload = {"data": "d", "model_config": {"model": "fake:b", "max_tokens": 100}}
        await svc.invoke_skill("skill.analysis", payload, run_id="s", progress=note_held)
    finally:
        other.close()
        await svc.aclose()
    assert len(given_back) == 1  # refused while the lock was held
    assert len(seen) == 1 and given_back[0][0] not in seen[0] and len(seen[0]) == 1  # the next call's own alone


async def _failed_then_locked(catalog: Path, db: Path, config: dict, env: dict) -> tuple[BaseException, list, int]:
    """Invoke with ``config`` under a run limit, another process taking the write lock as the first attempt is
    announced (admitted, about to be sent): the error raised, the attempts recorded once the lock is given back and
    the service closed (its kept record written), and the reservations left."""
    (catalog / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    svc = await Service.open(catalog=catalog, db=db, env=env)
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt" and not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")

    try:
        with pytest.raises(BaseException) as info:
            with anyio.fail_after(60):  # a hang guard
                await svc.invoke_skill("skill.analysis", {"data": "d", "model_config": config}, progress=progress)
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT model, outcome, error_class FROM attempts ORDER BY id").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return info.value, rows, held


RETRIES = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}


@pytest.mark.parametrize(
    ("config", "env", "not_sent"),
    [
        # the vendor's 500 on the last target left, retried: the retry's reservation is refused
        ({"model": "fake:fail-server_error", "max_tokens": 100}, RETRIES, "fail-server_error"),
        # a timeout (a read timeout, the last target left), retried likewise
        ({"model": "fake:fail-timeout", "max_tokens": 100}, RETRIES, "fail-timeout"),
        # the vendor's 529 (retried on the last target only), then the fallback's reservation is refused
        ({"model": "fake:fail-overloaded", "fallbacks": ["fake:b"], "max_tokens": 100}, RETRIES, "b"),
    ],
    ids=["retry-after-500", "retry-after-timeout", "fallback-after-overload"],
)
async def test_a_retry_or_fallback_the_ledger_cannot_reserve_ends_the_call_with_its_own_error(
    catalog_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, config: dict, env: dict, not_sent: str
):
    # Before: the LedgerError of the retry's (or the fallback's) reservation took the place of what happened to the
    # call, the vendor's 500 or the timeout, which the caller then read nowhere but in the ledger. No call goes out
    # unreserved all the same: the target not sent is recorded as skipped, and the call ends with the error of the
    # attempt that failed, the refusal in it (reservation_error, a note) and logged.
    caplog.set_level(logging.WARNING, logger="magsag_mcp.cascade")
    first = config["model"].removeprefix("fake:")
    raised, rows, held = await _failed_then_locked(catalog_copy, tmp_path / "g.db", config, env)
    kind = {"fail-timeout": E.ProviderTimeoutError, "fail-overloaded": E.OverloadedError}.get(first, E.ServerError)
    assert isinstance(raised, E.AllTargetsFailed) and isinstance(raised, kind), repr(raised)
    refusal = raised.to_dict()["reservation_error"]
    assert refusal["type"] == "ledger_error" and "locked" in refusal["message"]
    assert any("budget reservation" in note and "locked" in note for note in raised.__notes__)
    assert f"fake:{not_sent} skipped (not sent: its budget reservation could not be made" in raised.message
    assert rows == [(first, "error", kind.kind), (not_sent, "skipped", "skipped")]
    assert held == 0  # the failed attempt's reservation went with the call's record
    logged = [r for r in caplog.records if r.name == "magsag_mcp.cascade" and r.levelno == logging.WARNING]
    assert len(logged) == 1 and "locked" in logged[0].getMessage()


async def test_a_first_reservation_the_ledger_refuses_is_still_the_calls_error(catalog_copy: Path, tmp_path: Path):
    # nothing was sent yet: the ledger's refusal is what happened to the call (docs/money-records-budgets.md: no call
    # goes out unreserved)
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "g.db", env={})
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")
    other = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(E.LedgerError, match="locked"):
            with anyio.fail_after(60):  # a hang guard
                payload = {"data": "d", "model_config": {"model": "fake:a", "fallbacks": ["fake:b"], "max_tokens": 100}}
                await svc.invoke_skill("skill.analysis", payload)
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
