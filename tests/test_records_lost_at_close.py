"""A paid call's record the ledger refuses (a full disk) and refuses again when the service closes.

The record is kept in memory and written at close. When that write failed too, the close's error took the
place of the call's own: `magsag invoke` (and ``async with Service``, ``with Magsag``) printed only "the
ledger ... is on a full disk: free some space there, then retry", without the answer that was paid for and
without a word that the call had succeeded: retried, it was paid twice. And what was lost (which run, what it
cost) was said nowhere. Now the call's error goes on, with its answer, and the close's error with it, naming
the runs whose records are lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
FULL = "is on a full disk (database or disk is full): free some space there, then retry"
PAYLOAD = {"data": "the paid answer", "model_config": {"model": "fake:echo"}}


@pytest.fixture
def full_disk(monkeypatch, fake_scripts):
    """Every call's record is refused, as by a ledger on a full disk (reservations and reads still work)."""

    async def refuse(self: Ledger, *args: object, **kwargs: object) -> None:
        raise LedgerError(f"the ledger at {self.path} {FULL}", db=str(self.path))

    monkeypatch.setattr(Ledger, "record_call", refuse)


def _lost(closing: dict[str, object], run_id: str) -> None:
    message = str(closing["message"])
    assert closing["type"] == "ledger_error" and FULL in message
    assert f"{run_id} ($0)" in message and "lost" in message and "then retry" in message
    assert closing["lost_runs"] == [
        {"run_id": run_id, "agent": None, "skill": "skill.analysis", "status": "ok", "attempts": 1, "cost_usd": "0"}
    ]


@pytest.mark.anyio
async def test_a_close_that_cannot_write_a_kept_record_names_the_run_it_loses(tmp_path: Path, full_disk):
    from magsag_mcp.service import Service

    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    with pytest.raises(LedgerError, match="calling again would pay twice"):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-paid")
    with pytest.raises(LedgerError) as info:
        await svc.aclose()
    _lost(info.value.to_dict(), "r-paid")


@pytest.mark.anyio
async def test_the_calls_error_and_its_answer_outlive_a_close_that_fails(tmp_path: Path, full_disk):
    from magsag_mcp.service import Service

    with pytest.raises(LedgerError) as info:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as svc:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-paid")
    error = info.value
    assert "calling again would pay twice" in error.message and "the paid answer" in error.result.output
    _lost(error.to_dict()["closing_error"], "r-paid")


@pytest.mark.anyio
async def test_the_calls_error_and_its_answer_outlive_a_close_that_fails_in_async_with_service_open(
    tmp_path: Path, full_disk
):
    # `async with Service.open(...)`, not awaited first (the form Service.open's docstring gives): the close's error
    # took the place of the call's, and the answer paid for was lost with it
    from magsag_mcp.service import Service

    with pytest.raises(LedgerError) as info:
        async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as svc:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-paid")
    error = info.value
    assert "calling again would pay twice" in error.message and "the paid answer" in error.result.output
    _lost(error.to_dict()["closing_error"], "r-paid")


def test_magsag_invoke_prints_the_paid_answer_when_its_record_is_lost(tmp_path: Path, full_disk, monkeypatch, capsys):
    from magsag_mcp.cli import main

    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    code = main(
        ["invoke", "skill.analysis", "--payload", json.dumps(PAYLOAD), "--run-id", "r-paid"]
        + ["--db", str(tmp_path / "l.db"), "--catalog", str(CATALOG)]
    )
    error = json.loads(capsys.readouterr().err)["error"]
    assert code == 2 and "calling again would pay twice" in error["message"]
    assert "the paid answer" in error["result"]["output"]
    _lost(error["closing_error"], "r-paid")


def test_a_magsag_closed_by_its_with_block_keeps_the_calls_error(tmp_path: Path, full_disk):
    from magsag_mcp import Magsag

    with pytest.raises(LedgerError) as info:
        with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
            mg.skills.invoke("skill.analysis", PAYLOAD)
    error = info.value
    assert "calling again would pay twice" in error.message and "the paid answer" in error.result["output"]
    _lost(error.to_dict()["closing_error"], error.result["run_id"])


@pytest.mark.anyio
async def test_a_close_that_loses_many_records_names_ten_and_counts_the_rest(tmp_path: Path, full_disk):
    """A ledger refusing every record for the life of a server: the close's error named every call whose record
    it lost, thousands of them in one message. It names ten, the rest in lost_runs."""
    from magsag_mcp.service import Service

    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    for i in range(13):
        with pytest.raises(LedgerError):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id=f"r-{i:02}")
    with pytest.raises(LedgerError) as info:
        await svc.aclose()
    error = info.value.to_dict()
    assert [r["run_id"] for r in error["lost_runs"]] == [f"r-{i:02}" for i in range(13)]
    assert error["message"].endswith(
        ", ".join(f"r-{i:02} ($0)" for i in range(10))
        + ", and 3 more (lost_runs); each that reached a provider is logged whole"
    )
