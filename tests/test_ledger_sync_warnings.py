"""A failed sync of the ledger's -wal after a durable commit (log_sync.py) reaches the caller: the result of each call
whose record that sync covered carries a warning that its record may not survive a power loss, and why (the
OSError's words; the ledger's file name, no path). Before, it was only logged at ERROR: the client of a server was
never told its call's record stood on a disk that had just failed a sync."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from magsag_mcp.errors import AuthenticationError
from magsag_mcp.ledger import Ledger, log_sync
from magsag_mcp.providers.fake import script
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.conftest import CATALOG

pytestmark = pytest.mark.anyio
WARNING = (
    "this call's record may not survive a power loss: the ledger's log (l.db-wal) could not be synced to disk "
    "(Input/output error); it is in the ledger, but a power cut or an OS crash before the log is next synced may lose "
    "it (magsag's log says more, at ERROR; check the disk)"
)


class FailingSyncs:
    """The ledger's -wal sync, failing while :attr:`failing` (an I/O error, as a dying disk gives), counted."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.failing:
            raise OSError(5, "Input/output error")


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> FailingSyncs:
    failing = FailingSyncs()
    monkeypatch.setattr(log_sync, "_sync", failing)
    return failing


def _record(run_id: str) -> tuple[RunRecord, list[AttemptRecord]]:
    now = time.time()
    return RunRecord(run_id, "a", "s", now), [AttemptRecord(run_id, now, "fake", "m", "s", "a", "ok", 0, 1)]


async def test_record_call_returns_the_warning_inline_and_to_each_call_of_a_batch(tmp_path: Path, syncs):
    async with Ledger(tmp_path / "l.db") as ledger:
        assert await ledger.record_call(*_record("inline"), alone=True) == WARNING
        # one batch, one failed sync: each call it covered told once; a reservation's write, not synced, is not
        told: list[str] = []
        reserved = ledger.submit(lambda conn: None, durable=False, unsynced=told)
        said = await asyncio.gather(*(ledger.record_call(*_record(f"q{i}")) for i in range(3)), reserved)
        assert said == [WARNING] * 3 + [None] and told == [] and syncs.calls == 2
        syncs.failing = False
        assert await ledger.record_call(*_record("synced"), alone=True) is None
        assert await asyncio.gather(*(ledger.record_call(*_record(f"s{i}")) for i in range(2))) == [None, None]
        runs = await ledger.read(lambda c: [r[0] for r in c.execute("SELECT run_id FROM runs ORDER BY rowid")])
    assert runs == ["inline", "q0", "q1", "q2", "synced", "s0", "s1"]  # each kept once: committed before the sync
    assert str(tmp_path) not in WARNING


async def test_a_call_whose_record_sync_failed_carries_the_warning_once(tmp_path: Path, syncs, fake_scripts):
    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_MODEL": "fake:m"}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x"})
        assert result.warnings.count(WARNING) == 1 and result.text
        assert result.to_dict()["warnings"].count(WARNING) == 1
        # calls at once, their records in one group commit: each told
        results = await asyncio.gather(*(svc.invoke_skill("skill.analysis", {"data": str(i)}) for i in range(3)))
        assert [r.warnings.count(WARNING) for r in results] == [1, 1, 1]
        # a failed call is recorded too: its error carries it
        script("m", AuthenticationError("the key was refused", provider="fake", status=401))
        with pytest.raises(AuthenticationError) as failed:
            await svc.invoke_skill("skill.analysis", {"data": "y"})
        assert failed.value.details["record_warning"] == WARNING
        syncs.failing = False
        assert WARNING not in (await svc.invoke_skill("skill.analysis", {"data": "z"})).warnings
