"""A bug of magsag-mcp's while writing a call's record (not the ledger refusing it: a row that cannot be bound, a
TypeError building it). Before: a successful call raised the bare exception, its paid answer lost and its run
recorded nowhere (only an expired budget reservation ever counted it), and the records the ledger had refused
earlier, written in the same transaction, were dropped with it. Now the bad record is kept apart from the others
(which are written) and kept to be tried again, the caller gets an error of kind ``error`` with the run, what it
cost and the answer, and the traceback is logged without secrets."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import writes
from magsag_mcp.ledger.money import to_pusd
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
PAYLOAD = {"data": "the paid answer", "model_config": {"model": "fake:echo"}}
KEY = "sk-proj-4bC9dEf01aZ7kLm2nOp3QrSt"  # a bug's message may quote anything it held, a key included
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

_real_attempt_row = writes._attempt_row


def _unbindable(a: Any, cost: Any, bound: Any) -> tuple[Any, ...]:
    """The rows of run ``r-bad`` hold a value SQLite cannot bind (a service tier left as the vendor's object)."""
    row = _real_attempt_row(a, cost, bound)
    return row if a.run_id != "r-bad" else (*row[:23], {"tier": KEY}, *row[24:])


def _raising(a: Any, cost: Any, bound: Any) -> tuple[Any, ...]:
    """Building run ``r-bad``'s rows raises (a bug of ours in the write path)."""
    if a.run_id == "r-bad":
        raise TypeError(f"unsupported operand type(s) for +: 'int' and 'NoneType' (key {KEY})")
    return _real_attempt_row(a, cost, bound)


BUGS = pytest.mark.parametrize("bug", [_unbindable, _raising], ids=["cannot-be-bound", "raises"])


def _runs(db: Path) -> list[tuple[Any, ...]]:
    return sqlite3.connect(db).execute("SELECT run_id, status, calls FROM runs ORDER BY run_id").fetchall()


@BUGS
async def test_a_bug_writing_a_paid_calls_record_keeps_the_answer_and_names_the_run(
    tmp_path: Path, monkeypatch, caplog, bug: Any
):
    monkeypatch.setattr(writes, "_attempt_row", bug)
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=CATALOG, db=db, env=ENV)
    with pytest.raises(E.MagsagError) as info:
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-bad")
    err = info.value
    assert not isinstance(err, E.LedgerError) and err.kind == "error"
    assert err.run_id == "r-bad" and err.cost_usd is not None  # what it spent (the fake provider: $0)
    assert "the paid answer" in err.result.output and "calling again would pay twice" in err.message
    data = err.to_dict()
    assert (data["run_id"], data["cost_unknown"]) == ("r-bad", False) and "the paid answer" in data["result"]["text"]
    assert data["exception"] in ("TypeError", "ProgrammingError") and err.__cause__ is not None
    assert "Traceback" in caplog.text and KEY[8:20] not in caplog.text + str(data)
    assert [k[0].run_id for k in svc._kept.pending] == ["r-bad"]  # kept to be tried again, not forgotten
    # the next call is not failed by it: its record is written apart, and the bad one kept again
    out = await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next")
    assert out.run_id == "r-next" and [k[0].run_id for k in svc._kept.pending] == ["r-bad"]
    assert _runs(db) == [("r-next", "ok", 1)]
    assert caplog.text.count("Traceback") == 1  # the bug's, once: not again for every call after it
    with pytest.raises(E.MagsagError) as closing:  # still unwritable at close: named as lost, with its cost
        await svc.aclose()
    assert "r-bad ($0)" in closing.value.message and closing.value.details["lost_runs"][0]["run_id"] == "r-bad"


@BUGS
async def test_one_bad_record_does_not_drop_the_records_kept_before_it(tmp_path: Path, monkeypatch, bug: Any):
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=CATALOG, db=db, env=ENV)
    real = svc.ledger.record_call
    refusals = iter([True])

    async def record_call(*args: Any, **kw: Any) -> None:
        if next(refusals, False):  # the first record refused (a locked ledger): kept, to go with the next
            raise E.LedgerError("the ledger at l.db stayed locked for 30s by another process", db="l.db")
        await real(*args, **kw)

    svc.ledger.record_call = record_call  # type: ignore[method-assign]
    try:
        with pytest.raises(E.LedgerError, match="calling again would pay twice"):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-kept")
        monkeypatch.setattr(writes, "_attempt_row", bug)
        with pytest.raises(E.MagsagError) as info:  # written with r-kept's, in one transaction, which it failed
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-bad")
        assert info.value.run_id == "r-bad" and not isinstance(info.value, E.LedgerError)
        assert _runs(db) == [("r-kept", "ok", 1)]  # before: dropped, recorded nowhere
        assert [k[0].run_id for k in svc._kept.pending] == ["r-bad"]
        monkeypatch.undo()  # the bug fixed (a transient one): the kept record lands with the next
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next")
        assert svc._kept.pending == []
    finally:
        await svc.aclose()
    assert _runs(db) == [("r-bad", "ok", 1), ("r-kept", "ok", 1), ("r-next", "ok", 1)]


async def test_a_bug_writing_a_failed_calls_record_leaves_the_calls_own_error(tmp_path: Path, monkeypatch, caplog):
    # the call's own error (what to fix) goes on, the bug in it as record_error: before, a bare TypeError took its place
    monkeypatch.setattr(writes, "_attempt_row", _raising)
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=CATALOG, db=db, env=ENV)
    try:
        payload = {"data": "x", "model_config": {"model": "fake:fail-bad-request"}}
        with pytest.raises(E.BadRequestError) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="r-bad")
        record_error = info.value.details["record_error"]
        assert record_error["type"] == "error" and record_error["exception"] == "TypeError"
        assert "Traceback" in caplog.text and KEY[8:20] not in caplog.text + str(info.value.to_dict())
        monkeypatch.undo()
    finally:
        await svc.aclose()  # the kept record lands at close
    assert _runs(db) == [("r-bad", "error", 1)]


async def test_a_kept_records_reservation_counts_the_call_until_the_record_lands(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch
):
    # the shipped catalog's cost limits reserve each attempt's worst case; the reservation goes only with the record
    fake_openai.queue(R.reply("the paid answer", usage=R.tokens(1000, 100)), R.reply("second"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    db = tmp_path / "l.db"
    monkeypatch.setattr(writes, "_attempt_row", _raising)
    svc = await Service.open(catalog=CATALOG, db=db, env=env)
    try:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="r-bad", agent="a")
        spent = info.value.cost_usd
        assert spent is not None and spent > 0 and info.value.result.output == "the paid answer"
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 1  # still counted
        monkeypatch.undo()
        await svc.invoke_skill("skill.analysis", payload, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0
    (cost,) = conn.execute("SELECT cost_pusd FROM runs WHERE run_id = 'r-bad'").fetchone()
    assert cost == to_pusd(spent)  # recorded at what it cost, once


async def test_an_mcp_client_gets_the_bug_with_the_run_its_cost_and_the_answer(client, monkeypatch):
    # the bug only in here: the server closes as the test ends, writing the record it kept, which the bug still in
    # place failed again (raised from the client's teardown wherever monkeypatch was set up before it: a plugin's
    # autouse fixture using it)
    with monkeypatch.context() as patched:
        patched.setattr(writes, "_attempt_row", _raising)
        res = await client.call_tool(
            "invoke_skill", {"skill_id": "skill.analysis", "payload": PAYLOAD, "run_id": "r-bad"}
        )
    assert res.is_error
    err = res.structured_content["error"]
    assert (err["type"], err["exception"], err["run_id"]) == ("error", "TypeError", "r-bad")
    assert err["cost_usd"] is not None and "the paid answer" in err["result"]["text"]
    assert KEY[8:20] not in str(res.content)


def test_a_record_a_bug_failed_after_its_caller_was_cancelled_is_kept(caplog):
    # the write's failure handed back once its caller was gone (see Ledger.submit's refused): a bug's was "lost", the
    # paid call recorded nowhere and its traceback nowhere; now kept as a refusal is, for the next write to try apart
    from magsag_mcp.kept_records import KeptRecords
    from magsag_mcp.records import RunRecord

    kept = KeptRecords(ledger=None)  # type: ignore[arg-type]  # (handing back touches no ledger)
    record = (RunRecord("r-bad", None, "skill.analysis", 0.0), [], None)
    try:
        raise TypeError(f"a row that cannot be built (key {KEY})")
    except TypeError as bug:
        kept._gone([record], bug)
    assert kept.pending == [record]
    assert "kept, to be written" in caplog.text and "Traceback" in caplog.text and KEY[8:20] not in caplog.text


def test_the_cli_prints_the_bug_with_the_answer_and_what_the_close_lost(tmp_path: Path, monkeypatch, capsys):
    import json

    from magsag_mcp.cli import main

    monkeypatch.setattr(writes, "_attempt_row", _raising)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main(["invoke", "skill.analysis", "--payload", json.dumps(PAYLOAD), "--run-id", "r-bad"]) == 1
    err = json.loads(capsys.readouterr().err)["error"]
    assert (err["type"], err["exception"], err["run_id"]) == ("error", "TypeError", "r-bad")
    assert "the paid answer" in err["result"]["text"]  # (before: a traceback, the answer lost)
    assert err["closing_error"]["lost_runs"][0]["run_id"] == "r-bad"  # the close could not write it either: named


async def test_a_close_names_a_bad_record_kept_before_one_it_writes(tmp_path: Path, monkeypatch):
    # at close, r-bad (a bug keeps it out) is tried apart from r-locked (refused once by a locked ledger), which lands:
    # the close ended quietly, and r-bad was lost with the service, with nobody told
    monkeypatch.setattr(writes, "_attempt_row", _raising)
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=CATALOG, db=db, env=ENV)
    real, refusals = svc.ledger.record_call, iter([True])

    async def record_call(run: Any, *args: Any, **kw: Any) -> None:
        if run.run_id == "r-locked" and not kw.get("earlier") and next(refusals, False):  # its first write alone
            raise E.LedgerError("the ledger at l.db stayed locked for 30s by another process", db="l.db")
        await real(run, *args, **kw)

    with pytest.raises(E.MagsagError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-bad")
    svc.ledger.record_call = record_call  # type: ignore[method-assign]
    with pytest.raises(E.LedgerError, match="calling again would pay twice"):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-locked")
    assert [k[0].run_id for k in svc._kept.pending] == ["r-bad", "r-locked"]
    with pytest.raises(E.MagsagError) as closing:
        await svc.aclose()
    assert "r-bad ($0)" in closing.value.message and [r["run_id"] for r in closing.value.details["lost_runs"]] == [
        "r-bad"
    ]
    assert _runs(db) == [("r-locked", "ok", 1)]
