"""What the ledger says an Azure deployment serves, as a long-running process sees it: another process's later row,
or a ``magsag azure forget``, within REREAD_AFTER seconds, with no statement a call; shown by explain_route before
any call; trusted for MAGSAG_AZURE_SERVED_TRUST seconds."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance.served_memory import REREAD_AFTER, ServedMemory
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.azure_served import forget_served
from magsag_mcp.served_models import ServedModels
from magsag_mcp.service import Service
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

MINI_ONLY = "policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini]\n"
EAST = Target("azure", "gpt-4o-mini", base_url="https://east.openai.azure.com/")


class Counted:
    """A ledger whose reads are counted."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.reads, self.read_only = ledger, 0, False

    async def read(self, fn):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await self.ledger.read(fn)


async def test_a_running_process_sees_another_s_row_and_a_forget_within_the_bound_without_a_read_a_call(
    tmp_path: Path,
):
    # a deployment's row was read once a process: another process's later sighting (gpt-4o, forbidden) or a
    # `magsag azure forget` was seen only at restart, or after the day of trust
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        counted = Counted(ledger)
        await server.look(counted, EAST)  # the server's first call: no row yet
        assert server.models(EAST) == frozenset() and counted.reads == 1
        ServedMemory(ServedModels({})).answered(ledger, EAST, "gpt-4o-2024-08-06")  # another process's call
        await ledger.settled()
        for _ in range(100):  # calls within the bound: no statement each
            await server.look(counted, EAST)
        assert counted.reads == 1 and server.models(EAST) == frozenset()
        now[0] += REREAD_AFTER
        await server.look(counted, EAST)
        assert counted.reads == 2 and server.models(EAST) == {"gpt-4o-2024-08-06"}
        # the operator re-points the deployment and forgets its row: seen within the bound again
        assert await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini")) == 1
        now[0] += REREAD_AFTER / 2
        await server.look(counted, EAST)
        assert server.models(EAST) == {"gpt-4o-2024-08-06"} and counted.reads == 2  # (not yet: within the bound)
        now[0] += REREAD_AFTER / 2
        await server.look(counted, EAST)
        assert server.models(EAST) == frozenset() and counted.reads == 3
    finally:
        await ledger.close()


class Slow(Counted):
    """A ledger whose reads are counted, and held until released (a read in flight while other calls arrive)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self.release = asyncio.Event()

    async def read(self, fn):  # type: ignore[no-untyped-def]
        self.reads += 1
        await self.release.wait()
        return await self.ledger.read(fn)


async def test_200_calls_at_once_to_a_deployment_make_one_read_and_each_waits_for_the_first(tmp_path: Path):
    # the first read in flight, the other 199 calls skipped the read and were sent without the row: a deployment the
    # ledger says serves a forbidden model, 199 calls sent to it unrefused; a re-read in flight is not waited for
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        ServedMemory(ServedModels({})).answered(ledger, EAST, "gpt-4o-2024-08-06")  # another process's sighting
        await ledger.settled()
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        slow = Slow(ledger)
        seen: list[frozenset[str]] = []

        async def call() -> None:
            await server.look(slow, EAST)
            seen.append(server.models(EAST))

        calls = [asyncio.create_task(call()) for _ in range(200)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert slow.reads == 1 and seen == []  # one read in flight, every call waiting for it
        slow.release.set()
        await asyncio.gather(*calls)
        assert slow.reads == 1 and seen == [frozenset({"gpt-4o-2024-08-06"})] * 200
        # a re-read in flight: the calls meanwhile go on with what was read, one read still
        slow.release.clear()
        now[0] += REREAD_AFTER
        rereading = asyncio.create_task(server.look(slow, EAST))
        await asyncio.sleep(0)
        await asyncio.wait_for(server.look(slow, EAST), 5)
        assert slow.reads == 2 and server.models(EAST) == {"gpt-4o-2024-08-06"}
        slow.release.set()
        await rereading
        assert slow.reads == 2
    finally:
        await ledger.close()


async def test_a_cancelled_first_read_leaves_its_waiters_and_the_next_call_to_read(tmp_path: Path):
    # the first read's call cancelled (a client's cancel, a timeout) while calls waited for it: they went on without
    # the row, sent to a deployment the ledger says serves a forbidden model, and no call read it for REREAD_AFTER
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        ServedMemory(ServedModels({})).answered(ledger, EAST, "gpt-4o-2024-08-06")  # another process's sighting
        await ledger.settled()
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        slow = Slow(ledger)
        seen: list[frozenset[str]] = []

        async def call() -> None:
            await server.look(slow, EAST)
            seen.append(server.models(EAST))

        first = asyncio.create_task(call())
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(call()) for _ in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert slow.reads == 1 and seen == []
        first.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert first.cancelled() and slow.reads == 2 and seen == []  # one waiter reads, the others wait for it
        slow.release.set()
        await asyncio.gather(*waiting)
        assert seen == [frozenset({"gpt-4o-2024-08-06"})] * 3 and slow.reads == 2
        # no waiter: the next call reads
        alone = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        slow.release.clear()
        cut = asyncio.create_task(alone.look(slow, EAST))
        await asyncio.sleep(0)
        cut.cancel()
        slow.release.set()
        await asyncio.gather(cut, return_exceptions=True)
        await alone.look(slow, EAST)
        assert slow.reads == 4 and alone.models(EAST) == {"gpt-4o-2024-08-06"}
    finally:
        await ledger.close()


class FailsOnce(Counted):
    """A ledger whose first read fails as a locked one does past its busy timeout."""

    async def read(self, fn):  # type: ignore[no-untyped-def]
        self.reads += 1
        if self.reads == 1:
            raise E.LedgerError("database is locked")
        return await self.ledger.read(fn)


async def test_a_failed_first_read_is_made_again_by_the_next_call(tmp_path: Path):
    # a first read the ledger could not make was taken for a read: for REREAD_AFTER, no call read the row, and each
    # was sent to a deployment the ledger says serves a forbidden model
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        ServedMemory(ServedModels({})).answered(ledger, EAST, "gpt-4o-2024-08-06")  # another process's sighting
        await ledger.settled()
        server = ServedMemory(ServedModels({}))
        failing = FailsOnce(ledger)
        await server.look(failing, EAST)  # sent as by a process without the row (the documented rule)
        assert server.models(EAST) == frozenset() and failing.reads == 1
        await server.look(failing, EAST)
        assert server.models(EAST) == {"gpt-4o-2024-08-06"} and failing.reads == 2
        await server.look(failing, EAST)
        assert failing.reads == 2  # read: not again within REREAD_AFTER
    finally:
        await ledger.close()


class LosesWrites(Counted):
    """A ledger whose writes fail (a full disk) while ``losing``."""

    losing = True

    def enqueue(self, fn, *, durable: bool = True, failed=None) -> None:  # type: ignore[no-untyped-def]
        def write(conn: sqlite3.Connection) -> None:
            if self.losing:
                raise sqlite3.OperationalError("database or disk is full")
            fn(conn)

        self.ledger.enqueue(write, durable=durable, failed=failed)


async def test_a_lost_row_write_is_not_read_as_a_forget_and_is_written_again(tmp_path: Path):
    # the process's own sighting of a forbidden model, whose row's write failed, was dropped by the second read after
    # it (no row, as after a forget): the next call was sent to the deployment, one call a minute while writes failed
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        losing = LosesWrites(ledger)
        await server.look(losing, EAST)
        server.answered(losing, EAST, "gpt-4o-2024-08-06")
        await ledger.settled()
        assert rows(ledger.path) == []
        for _ in range(3):
            now[0] += REREAD_AFTER
            await server.look(losing, EAST)
            await ledger.settled()
            assert server.models(EAST) == {"gpt-4o-2024-08-06"}  # still refused
        losing.losing = False  # the disk has room again: the next read writes the row
        now[0] += REREAD_AFTER
        await server.look(losing, EAST)
        await ledger.settled()
        assert [row[:3] for row in rows(ledger.path)] == [("east.openai.azure.com", "gpt-4o-mini", "gpt-4o-2024-08-06")]
        # a forget is still one: the next read drops the sighting
        await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini"))
        now[0] += REREAD_AFTER
        await server.look(losing, EAST)
        assert server.models(EAST) == frozenset()
    finally:
        await ledger.close()


def rows(db: Path) -> list[tuple[str, str, str, float]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT endpoint, deployment, model, seen_at FROM azure_served").fetchall()


async def test_a_forget_drops_what_the_running_process_saw_itself_but_not_on_a_ledger_it_cannot_write(
    tmp_path: Path,
):
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        await server.look(ledger, EAST)
        server.answered(ledger, EAST, "gpt-4o-2024-08-06")  # its own call, written to the ledger
        await ledger.settled()
        now[0] += REREAD_AFTER
        await server.look(ledger, EAST)
        assert server.models(EAST) == {"gpt-4o-2024-08-06"}
        await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini"))
        now[0] += REREAD_AFTER
        await server.look(ledger, EAST)
        assert server.models(EAST) == frozenset()  # the next call is sent and learns again
        # a process on a ledger it cannot write wrote no row: no row read is no forget, and it keeps what it saw
        reader = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        counted = Counted(ledger)
        counted.read_only = True
        await reader.look(counted, EAST)
        reader.answered(counted, EAST, "gpt-4o-2024-08-06")
        now[0] += REREAD_AFTER
        await reader.look(counted, EAST)
        assert reader.models(EAST) == {"gpt-4o-2024-08-06"}
    finally:
        await ledger.close()


def _azure_env(fake: FakeOpenAI, **more: str) -> dict[str, str]:
    return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/", **more}


async def test_explain_route_shows_a_deployment_the_ledger_will_refuse_and_writes_nothing(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
):
    # explain_route read no row: a deployment another process saw serving a forbidden model was shown as routable,
    # and the call then refused it
    import anyio

    from magsag_mcp.cli import main as cli_main

    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    call = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}
    fake_openai.queue(R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"))
    async with Service.open(catalog=catalog_copy, db=db, env=_azure_env(fake_openai)) as svc:
        await svc.invoke_skill("skill.analysis", call)
    before = db.read_bytes()
    async with Service.open(catalog=catalog_copy, db=db, env=_azure_env(fake_openai)) as svc:
        [target] = svc.explain("skill.analysis", call)["targets"]
        with pytest.raises(E.PolicyDenied):
            await svc.invoke_skill("skill.analysis", call)
    verdict = target["policy"]
    assert verdict["allowed"] is False and verdict["policy"] == "small_models"
    assert "answered as gpt-4o-2024-08-06" in verdict["reason"] and "the ledger records deployment" in verdict["reason"]
    assert "magsag azure forget gpt-4o-mini" in verdict["reason"] and AZURE_KEY not in verdict["reason"]
    assert len(fake_openai.requests) == 1
    # the CLI's explain, on a ledger it only reads
    with pytest.MonkeyPatch.context() as m:
        for name, value in _azure_env(fake_openai).items():
            m.setenv(name, value)
        argv = ["explain", "skill.analysis", "--payload", json.dumps(call), "--db", str(db)]
        capsys.readouterr()
        code = await anyio.to_thread.run_sync(cli_main, [*argv, "--catalog", str(catalog_copy)])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and shown["targets"][0]["policy"]["allowed"] is False
    assert db.read_bytes()[:100] == before[:100]


@pytest.mark.parametrize("value", ["1 day", "-5", "nan", "9999999999"])
def test_a_bad_trust_setting_is_refused_naming_the_variable_the_value_and_the_fix(value: str):
    with pytest.raises(E.ConfigError) as info:
        ServedModels({"MAGSAG_AZURE_SERVED_TRUST": value})
    message = info.value.message
    assert "MAGSAG_AZURE_SERVED_TRUST" in message and "from 0 to 2592000" in message


async def test_the_trust_setting_bounds_how_long_a_sighting_refuses(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # a day was fixed: an operator who re-points deployments often could not shorten it
    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    call = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}
    fake_openai.queue(
        R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"),
        R.reply("from mini", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"),
    )
    async with Service.open(catalog=catalog_copy, db=db, env=_azure_env(fake_openai)) as svc:
        await svc.invoke_skill("skill.analysis", call)
    async with Service.open(
        catalog=catalog_copy, db=db, env=_azure_env(fake_openai, MAGSAG_AZURE_SERVED_TRUST="0")
    ) as svc:
        assert svc.governance.served.trusted_for == 0
        assert (await svc.invoke_skill("skill.analysis", call)).result.text == "from mini"  # trusted no longer


async def test_a_forget_wins_over_a_sighting_whose_write_was_lost_and_is_not_undone_by_its_retry(tmp_path: Path):
    # the process's sighting of a forbidden model, its row's write lost (a full disk); the operator re-points the
    # deployment and runs `magsag azure forget`: the next read wrote the lost sighting again (older than the forget),
    # so the forget was undone, in this process and, through the row, in every other, for up to the trusted time
    now = [time.time()]
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        server = ServedMemory(ServedModels({}, clock=lambda: now[0]))
        losing = LosesWrites(ledger)
        await server.look(losing, EAST)
        server.answered(losing, EAST, "gpt-4o-2024-08-06")
        await ledger.settled()
        assert rows(ledger.path) == []
        losing.losing = False
        await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini", at=now[0] + 1))
        now[0] += REREAD_AFTER
        await server.look(losing, EAST)
        await ledger.settled()
        assert server.models(EAST) == frozenset()  # the next call is sent and learns what it serves now
        assert rows(ledger.path) == []  # nor does the lost sighting come back to refuse it elsewhere
        # a sighting since the forget is one, kept and written
        now[0] += 1
        server.answered(losing, EAST, "gpt-4o-2024-08-06")
        await ledger.settled()
        assert [row[2] for row in rows(ledger.path)] == ["gpt-4o-2024-08-06"]
        now[0] += REREAD_AFTER
        await server.look(losing, EAST)
        assert server.models(EAST) == {"gpt-4o-2024-08-06"}
    finally:
        await ledger.close()


async def test_a_sighting_made_before_a_forget_and_committed_after_it_writes_no_row(tmp_path: Path):
    # a queued row (not waited for) of a sighting made before `magsag azure forget`, committed after it, brought the
    # forgotten row back; a forget of every endpoint's, or of this endpoint's, holds; another endpoint's does not
    from magsag_mcp.ledger.azure_served import read_served, write_served

    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        east, west = "east.openai.azure.com", "west.openai.azure.com"
        await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini", at=200.0))
        await ledger.submit(lambda conn: forget_served(conn, "gpt-4o-mini", west, at=300.0))
        await ledger.submit(lambda conn: write_served(conn, east, "gpt-4o-mini", "gpt-4o", 150.0))
        await ledger.submit(lambda conn: write_served(conn, west, "gpt-4o-mini", "gpt-4o", 250.0))
        assert rows(ledger.path) == []
        await ledger.submit(lambda conn: write_served(conn, east, "gpt-4o-mini", "gpt-4o", 250.0))
        await ledger.submit(lambda conn: write_served(conn, west, "gpt-4o-mini", "gpt-4o", 350.0))
        assert sorted(rows(ledger.path)) == [
            (east, "gpt-4o-mini", "gpt-4o", 250.0),
            (west, "gpt-4o-mini", "gpt-4o", 350.0),
        ]
        assert await ledger.read(lambda conn: read_served(conn, east, "gpt-4o-mini")) == ("gpt-4o", 250.0)
    finally:
        await ledger.close()
