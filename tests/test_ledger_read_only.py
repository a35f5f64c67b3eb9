"""A ledger this user cannot write (a copy to audit, a 0444 file, a read-only folder or mount) is read
through SQLite's read-only open: summaries, runs, searches and budgets work, and a write says why not.

The suite runs as root in CI, where file modes stop nothing: the read-only open is tested by asking for
it (``Ledger(read_only=True)``: SQLite's ``mode=ro``, which stops root too) and by making the writability
check answer "no"; one test drops to an unprivileged user in a child process to meet real file modes."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, opening
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.mcp_tools_helpers import READ_TOOL_CALLS

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
READ_ONLY = "is read-only, or its folder is"
FIX = "copy the ledger to a folder you can write and pass the copy with "  # (--db, or from Python db=)


def _utc_day(at: float) -> int:
    return int(at // 86400)


async def _ledger_with_an_expired_reservation(db: Path) -> float:
    """Records a call, of 0.25 USD, at the time it returns: a minute ago, or today's first second in UTC if that is
    later, so that an agent's day counts it (a minute ago, at 00:00:30 UTC, was yesterday: CI ran at midnight)."""
    async with Ledger(db) as ledger:
        now = time.time()
        at = max(now - 60, _utc_day(now) * 86400.0)
        run = RunRecord("r1", "ana", "skill.analysis", at)
        attempt = AttemptRecord(
            "r1", at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal("0.25")
        )
        await ledger.record_call(run, [attempt])
        await ledger.log_event("r1", "ana", "overloaded upstream", {"n": 1})
        # a process that died with a request in flight: its reservation expired, not yet recorded
        await ledger.submit(
            lambda c: c.execute(
                "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
                " attempt_run_id, provider, model, skill)"
                " VALUES ('r2', 'ana', ?, ?, 600000000, 'held', 'r2', 'openai', 'gpt-4o', 'skill.analysis')",
                (now - 2000, now - 1000),
            )
        )
    return at


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
async def audited(tmp_path: Path) -> Path:
    """A ledger in a folder of its own, closed (as a copy to audit is)."""
    folder = tmp_path / "audit"
    folder.mkdir()
    db = folder / "ledger.db"
    recorded_at[db] = await _ledger_with_an_expired_reservation(db)
    return db


#: when each audited ledger's call was recorded
recorded_at: dict[Path, float] = {}


@pytest.fixture
def unwritable(monkeypatch):
    """The writability check says no, as it does for a user without write permission (never for root)."""
    monkeypatch.setattr(opening, "file_writable", lambda path: False)


async def test_reads_work_and_write_nothing(audited: Path):
    before = _files(audited.parent)
    async with Ledger(audited, read_only=True) as ledger:
        assert ledger.read_only
        summary = await ledger.summarize()
        assert summary["totals"]["calls"] == 2 and summary["totals"]["known_cost_usd"] == "0.25"  # (and the dead call)
        page = await ledger.query_runs_page()
        assert [r["run_id"] for r in page["runs"]] == ["r1"]  # the expired reservation is not made an attempt
        hits = await ledger.search_page("overloaded", 10)
        assert len(hits["hits"]) == 1
        spend = await ledger.run_spend("r1")
        assert spend.known_usd == Decimal("0.25")
    # no housekeeping, no -wal or -shm file: the folder is as it was, byte for byte
    assert _files(audited.parent) == before


async def test_a_writer_that_begins_after_the_open_is_read_too(audited: Path):
    # opened with no writer (read as immutable, nothing left beside it): when one begins, its log is read
    async with Ledger(audited, read_only=True) as reader:
        assert (await reader.summarize())["totals"]["calls"] == 2
        async with Ledger(audited) as writer:  # the owner's process, recording a call meanwhile
            now = time.time()
            await writer.record_call(RunRecord("r3", "bo", None, now), [
                AttemptRecord("r3", now, "openai", "gpt-4o", None, "bo", "ok", 0, 1, cost_usd=Decimal("0.5"))
            ])  # fmt: skip
            assert (await reader.summarize())["totals"]["calls"] == 3
        assert [r["run_id"] for r in (await reader.query_runs_page())["runs"]] == ["r3", "r1"]


async def test_a_writer_that_came_and_went_between_reads_is_read_too(audited: Path):
    # read as immutable, SQLite keeps the pages it read: a writer that began and ended between two reads
    # (a one-shot `magsag invoke` of the owner's) leaves no -wal file, and its calls must still be read
    async with Ledger(audited, read_only=True) as reader:
        assert (await reader.summarize())["totals"]["calls"] == 2
        async with Ledger(audited) as writer:
            now = time.time()
            await writer.record_call(RunRecord("r3", "bo", None, now), [
                AttemptRecord("r3", now, "openai", "gpt-4o", None, "bo", "ok", 0, 1, cost_usd=Decimal("0.5"))
            ])  # fmt: skip
        assert not Path(f"{audited}-wal").exists()
        summary = await reader.summarize()
        assert summary["totals"]["calls"] == 3 and summary["totals"]["known_cost_usd"] == "0.75"
        assert (await reader.run_spend("r3")).known_usd == Decimal("0.5")


async def test_a_writer_at_work_is_read_through_a_link_to_the_ledger(audited: Path, tmp_path: Path):
    # SQLite keeps the -wal file beside the file a link points to, not beside the link: read through a link while
    # the owner's server had the ledger open, it was read as immutable (no -wal beside the link), without the
    # writer's log, and the calls recorded since its last checkpoint were missing from the reports
    link = tmp_path / "linked.db"
    link.symlink_to(audited)
    async with Ledger(audited) as writer:  # the owner's server, at work
        now = time.time()
        await writer.record_call(RunRecord("r3", "bo", None, now), [
            AttemptRecord("r3", now, "openai", "gpt-4o", None, "bo", "ok", 0, 1, cost_usd=Decimal("0.5"))
        ])  # fmt: skip
        async with Ledger(link, read_only=True) as reader:
            summary = await reader.summarize()
            assert summary["totals"]["calls"] == 3 and summary["totals"]["known_cost_usd"] == "0.75"
            await writer.record_call(RunRecord("r4", "bo", None, now), [
                AttemptRecord("r4", now, "openai", "gpt-4o", None, "bo", "ok", 0, 1, cost_usd=Decimal("0.5"))
            ])  # fmt: skip
            assert (await reader.summarize())["totals"]["calls"] == 4


async def test_writes_are_refused_with_the_cause_and_the_fix(audited: Path):
    async with Ledger(audited, read_only=True) as ledger:
        now = time.time()
        writes = [
            ledger.log_event(None, None, "e", {}),
            ledger.record_call(RunRecord("r9", None, None, now), []),
            ledger.prune(86400),
        ]
        for write in writes:
            with pytest.raises(LedgerError) as info:
                await write
            assert f"the ledger at {audited} {READ_ONLY}" in info.value.message and FIX in info.value.message
            assert info.value.details.get("read_only") is True


async def test_a_ledger_the_user_cannot_write_opens_for_reading(audited: Path, unwritable):
    before = _files(audited.parent)
    async with Ledger(audited) as ledger:
        assert ledger.read_only
        assert (await ledger.summarize())["totals"]["calls"] == 2
        with pytest.raises(LedgerError, match=READ_ONLY):
            await ledger.log_event(None, None, "e", {})
    assert _files(audited.parent) == before


async def test_a_write_open_refused_as_read_only_falls_back_to_reading(audited: Path, monkeypatch):
    # a read-only mount, or a file SQLite opened read-only by itself: the first write (the migration
    # check) fails with SQLITE_READONLY, as it did for `magsag flow summarize --db ro.db`
    def refuse(conn: sqlite3.Connection) -> None:
        exc = sqlite3.OperationalError("attempt to write a readonly database")
        exc.sqlite_errorcode = 8  # type: ignore[attr-defined]
        raise exc

    monkeypatch.setattr(opening, "migrate", refuse)
    async with Ledger(audited) as ledger:
        assert ledger.read_only
        assert (await ledger.query_runs_page())["runs"]
        with pytest.raises(LedgerError) as info:
            await ledger.log_event(None, None, "e", {})
    assert "(attempt to write a readonly database)" in info.value.message and FIX in info.value.message


async def test_a_name_with_uri_characters_is_read_as_named(tmp_path: Path):
    # the read-only open goes through a URI: "?", "#", "%" and spaces in the path are the file's own
    folder = tmp_path / "a b?c#d%20e"
    folder.mkdir()
    db = folder / "ledger ?#%.db"
    await _ledger_with_an_expired_reservation(db)
    async with Ledger(db, read_only=True) as ledger:
        assert (await ledger.summarize())["totals"]["calls"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["ledger ?#%.db"]


# (an older version's ledger is no longer refused: it is read from a migrated copy, and only a prune of it is
# refused so: see test_ledger_read_only_older.py)
@pytest.mark.parametrize("case", ["blank", "newer"])
async def test_a_read_only_ledger_that_reads_cannot_use_says_what_to_do(tmp_path: Path, case: str):
    db = tmp_path / "l.db"
    if case == "blank":
        sqlite3.connect(db).close()
    else:
        async with Ledger(db):
            pass
        conn = sqlite3.connect(db)
        conn.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', 0)")
        conn.commit()
        conn.close()
    with pytest.raises(LedgerError) as info:
        await Ledger(db, read_only=True).open()
    message = info.value.message
    if case == "newer":
        assert "9999_from_the_future" in message and "newer magsag-mcp" in message
    else:
        assert "holds no ledger yet" in message
        assert "it cannot be written here" in message and "copy it to a folder you can write" in message


async def test_the_service_reads_and_refuses_a_call_before_paying(audited: Path, unwritable, fake_scripts):
    from magsag_mcp.service import Service

    async with await Service.open(catalog=CATALOG, db=audited, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        assert (await svc.summarize())["totals"]["calls"] == 2
        assert (await svc.query_runs_page())["runs"]
        assert (await svc.search_page("overloaded"))["hits"]
        budget = await svc.check_budget(agent="ana", run_id="r1")
        assert budget["limits"]
        with pytest.raises(LedgerError, match=READ_ONLY):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
    conn = sqlite3.connect(f"file:{audited}?mode=ro", uri=True)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)  # nothing recorded, nothing sent
    conn.close()


async def test_the_mcp_tools_read_a_read_only_ledger(audited: Path, unwritable, fake_scripts):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    read: dict[str, dict] = {}
    async with Client(build_server(catalog=CATALOG, db=audited, env={"MAGSAG_PROVIDER": "fake"})) as client:
        for tool, args in READ_TOOL_CALLS:
            result = await client.call_tool(tool, args)
            assert not result.is_error, (tool, result.content[0].text)
            read[tool] = result.structured_content
        refused = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    assert refused.is_error
    error = refused.structured_content["error"]
    assert error["type"] == "ledger_error" and READ_ONLY in error["message"] and FIX in error["message"]
    # what each read says is the audited ledger's, as the Ledger's own reads give it (test_reads_work_and_write_nothing)
    totals = read["summarize_usage"]["totals"]
    assert (totals["calls"], totals["known_cost_usd"]) == (2, "0.25"), totals
    assert [r["run_id"] for r in read["query_runs"]["runs"]] == ["r1"]
    assert [h["event"] for h in read["search_usage"]["hits"]] == ["overloaded upstream"]
    agent_day = next(lim for lim in read["check_budget"]["limits"] if lim["limit"] == "agent_day")
    # the call is today's, unless a UTC midnight came between its record and the read (then the day is a new one)
    same_day = _utc_day(recorded_at[audited]) == _utc_day(time.time())
    assert agent_day["spent_usd"] == ("0.25" if same_day else "0"), agent_day


def test_the_cli_summarizes_and_reports_budgets_of_a_read_only_ledger(tmp_path: Path, unwritable, capsys):
    import anyio  # the CLI runs its own event loop: this test is synchronous

    from magsag_mcp.cli import main

    (tmp_path / "audit").mkdir()
    audited = tmp_path / "audit" / "ledger.db"
    anyio.run(_ledger_with_an_expired_reservation, audited)

    before = _files(audited.parent)
    assert main(["flow", "summarize", "--db", str(audited)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] == 2
    assert main(["budget", "--db", str(audited), "--catalog", str(CATALOG), "--agent", "ana", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["limits"]
    assert main(["data", "query", "--db", str(audited)]) == 0
    assert _files(audited.parent) == before


#: run by a child interpreter: everything is imported while it may still read every file (as root,
#: site-packages may sit in a folder only root can enter), then it drops to an unprivileged user
_AS_A_USER = """
import json, os, sys
import anyio
from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, queries
db = sys.argv[1]
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
answer = {}

async def go():
    async with Ledger(db) as ledger:
        answer["read_only"] = ledger.read_only
        answer["calls"] = (await ledger.summarize())["totals"]["calls"]
        try:
            await ledger.log_event(None, None, "e", {})
        except LedgerError as exc:
            answer["refused"] = exc.message

anyio.run(go)
print(json.dumps(answer))
"""


@pytest.mark.skipif(os.name != "posix", reason="file modes and setuid are POSIX")
@pytest.mark.parametrize("file_mode", [0o444, 0o666])  # 0666: the open for writing is tried, and fails
def test_real_file_modes_met_by_a_user_they_stop(file_mode: int):
    """A file in a 0555 folder, for a user the modes stop: as root, a child that drops to nobody."""
    import shutil
    import subprocess
    import sys
    import tempfile

    import anyio

    # a folder nobody can reach: pytest's own is its owner's alone
    root = Path(tempfile.mkdtemp(prefix="magsag-ro-"))
    folder = root / "shared"
    try:
        os.chmod(root, 0o755)
        folder.mkdir()
        db = folder / "ledger.db"
        anyio.run(_ledger_with_an_expired_reservation, db)
        db.chmod(file_mode)
        folder.chmod(0o555)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(
            [sys.executable, "-c", _AS_A_USER, str(db)], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["read_only"] is True and answer["calls"] == 2
        assert READ_ONLY in answer["refused"] and FIX in answer["refused"]
        assert sorted(p.name for p in folder.iterdir()) == ["ledger.db"]  # no -wal or -shm left behind
    finally:
        if folder.exists():
            folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_doctor_says_calls_would_be_refused_by_a_read_only_ledger(tmp_path: Path, unwritable, capsys):
    import anyio

    from magsag_mcp.cli import main

    db = tmp_path / "ledger.db"
    anyio.run(_ledger_with_an_expired_reservation, db)
    assert main(["doctor", "--db", str(db), "--catalog", str(CATALOG)]) == 1
    out = capsys.readouterr().out
    assert f"problem: the ledger at {db} {READ_ONLY}" in out and FIX in out


#: records three calls and dies without closing the ledger (SIGKILL): its -wal file holds them, not the file
_DIES_MID_WORK = """
import os, signal, sys, time
import anyio
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

async def go():
    async with Ledger(sys.argv[1]) as ledger:
        now = time.time()
        for i in range(3):
            run = RunRecord(f"r{i}", "ana", "skill.analysis", now)
            await ledger.record_call(run, [AttemptRecord(f"r{i}", now, "openai", "gpt-4o", None, "ana", "ok", 0, 1)])
        os.kill(os.getpid(), signal.SIGKILL)

anyio.run(go)
"""

#: opens the ledger as an unprivileged user and prints what it read, or the error
_OPEN_AS_A_USER = """
import json, os, sys
import anyio
from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.copies import copy_note
db = sys.argv[1]
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)

async def go():
    try:
        async with Ledger(db) as ledger:
            answer = {"calls": (await ledger.summarize())["totals"]["calls"]}
            if copy_note(ledger) is not None:  # read from a copy: what it says, and what a write is told
                answer["note"] = copy_note(ledger)
                try:
                    await ledger.log_event(None, None, "e", {})
                except LedgerError as exc:
                    answer["refused"] = exc.message
            return answer
    except LedgerError as exc:
        return {"error": exc.message}

print(json.dumps(anyio.run(go)))
"""


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="drops to an unprivileged user: POSIX, as root")
def test_a_write_ahead_log_left_in_a_read_only_folder_is_read_from_a_copy_and_named_in_the_fix():
    """A writer that stopped without closing the ledger (killed, a crash) left its -wal file, which holds its
    latest records, and a copy kept it with the file but not the -shm (a backup tool skips it). In a folder
    this user cannot write, SQLite cannot make the -shm that reading the -wal needs: the error said "reading
    needs neither" and to copy the ledger elsewhere, and a copy of the file alone lost every record in the
    -wal (here, all of them: a ledger of no call). The fix named the -wal file, to be copied with it; that copy
    is now made (in TMPDIR) and read, with a note, and a write's refusal still names the -wal file."""
    import shutil
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="magsag-wal-"))
    folder, temp = root / "shared", root / "temp"
    try:
        os.chmod(root, 0o755)
        folder.mkdir()
        temp.mkdir()
        temp.chmod(0o777)
        db = folder / "ledger.db"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "TMPDIR": str(temp)}
        subprocess.run([sys.executable, "-c", _DIES_MID_WORK, str(db)], env=env, check=False)
        assert Path(f"{db}-wal").stat().st_size > 0
        Path(f"{db}-shm").unlink()
        for name in ("ledger.db", "ledger.db-wal"):
            (folder / name).chmod(0o644)
        folder.chmod(0o555)
        done = subprocess.run(
            [sys.executable, "-c", _OPEN_AS_A_USER, str(db)], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        # (before: refused, {"error": "... is read-only, or its folder is ... copy the ledger with its -wal file ..."})
        answer = json.loads(done.stdout)
        assert answer["calls"] == 3, answer
        assert "so a copy of it and its -wal file was read" in answer["note"] and f"{db}-wal" in answer["note"]
        error = answer["refused"]
        assert READ_ONLY in error and "reading needs neither" not in error
        assert f"copy the ledger with its -wal file ({db}-wal, which holds its latest records)" in error
        assert sorted(p.name for p in folder.iterdir()) == ["ledger.db", "ledger.db-wal"] and not list(temp.iterdir())
        folder.chmod(0o755)  # the fix a write is told: the two files copied together read whole
        copy = root / "copy"
        copy.mkdir()
        for name in ("ledger.db", "ledger.db-wal"):
            shutil.copy(folder / name, copy / name)
        copy.chmod(0o777)
        done = subprocess.run(
            [sys.executable, "-c", _OPEN_AS_A_USER, str(copy / "ledger.db")], capture_output=True, text=True, env=env
        )
        assert json.loads(done.stdout) == {"calls": 3}, done.stderr
    finally:
        if folder.exists():
            folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


async def test_a_read_of_a_read_only_ledger_says_the_expired_reservations_it_cannot_count(audited: Path):
    """A server of another user (the ledger's owner) was killed with a call at the vendor; its reservation expired.
    A writable ledger's read records it first, as the abandoned attempt it stood for, and counts it. Read only, it
    stays a reservation: the summary counted nothing of it, cost complete, and said nothing, so a report or a gate
    read from it passed a call that may be billed. Each read now says so, with what the call holds."""
    async with Ledger(audited, read_only=True) as ledger:
        summary = await ledger.summarize()
        assert summary["totals"]["calls"] == 2  # (counted as the abandoned attempt it cannot be written as)
        notes = await ledger.filter_notes(None, agent=True, run=True, names=True)
        [note] = [n for n in notes if "expired" in n]
        assert note.startswith("1 call of a process that ended with its request in flight")
        assert "reading only" in note and "a summary counts it as the abandoned attempt it would be recorded as" in note
        assert "in all it counts (largest_run and largest_call too" in note
        assert "lists no run of it alone, and a search does not find it" in note
        assert "up to $0.0006" in note and "reserved_by.expired" in note
        # a run's read says it too (the read filters to a run, the dead call is in the ledger all the same)
        from magsag_mcp.ledger.filters import UsageFilters

        run_notes = await ledger.filter_notes(UsageFilters.build({"run_id": "r1"}), agent=True, run=True, names=True)
        assert note in run_notes
    # written, the same read records it and says nothing
    async with Ledger(audited) as ledger:
        assert (await ledger.summarize())["totals"]["calls"] == 2
        assert not [n for n in await ledger.filter_notes(None, agent=True, run=True, names=True) if "expired" in n]


def test_the_cli_summary_of_a_read_only_ledger_says_on_stderr_what_it_leaves_out(tmp_path: Path, unwritable, capsys):
    import anyio

    from magsag_mcp.cli import main

    (tmp_path / "audit").mkdir()
    audited = tmp_path / "audit" / "ledger.db"
    anyio.run(_ledger_with_an_expired_reservation, audited)
    assert main(["flow", "summarize", "--db", str(audited)]) == 0
    err = capsys.readouterr().err
    assert "1 call of a process that ended with its request in flight" in err, err


#: opens a ledger not there yet as an unprivileged user, and prints the error
_FIRST_OPEN_AS_A_USER = """
import os, sys
import anyio
from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)

async def go():
    try:
        async with Ledger(sys.argv[1]):
            print("opened")
    except LedgerError as exc:
        print(exc.message)

anyio.run(go)
"""


@pytest.mark.skipif(os.name != "posix", reason="file modes and setuid are POSIX")
@pytest.mark.parametrize("under", ["", "sub/"])  # in the folder it cannot write, or a folder to be made there
def test_a_ledger_not_there_yet_in_a_folder_this_user_cannot_write_says_to_give_another_path(under: str):
    # A first call's ledger, MAGSAG_DB naming a folder this user cannot write in, was told to "copy the ledger to a
    # folder you can write and pass the copy with --db": there was no ledger to copy
    import shutil
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="magsag-ro-"))
    folder = root / "shared"
    try:
        os.chmod(root, 0o755)
        folder.mkdir()
        folder.chmod(0o555)
        db = folder / f"{under}ledger.db"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_OPEN_AS_A_USER, str(db)], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        said = done.stdout.strip()
        made = f"cannot open the ledger at {db}: it cannot be made: this user cannot write in {folder} "
        assert said.startswith(made), said
        assert said.endswith(
            "where the ledger and its -wal and -shm files go; give db= (or MAGSAG_DB) a file's path in a folder this "
            "user can write to, or make the folder writable"
        ), said
        assert "copy the ledger" not in said
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
