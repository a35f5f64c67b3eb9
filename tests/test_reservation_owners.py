"""A reservation names the process holding it (0024_reservation_owner): one of a process that no longer runs on this
machine (SIGKILLed, crashed) is recorded as the abandoned attempt it stood for at the next sweep, rather than held 15
minutes or more until it expired; one of a process that runs, of a process id since given to another process, or of
another machine's process, as that says. The processes here are real: a server killed mid-call, `sleep` children."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger import reservation_owners as owners
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.shutdown_helpers import PAYLOAD, env_for, until_sent, until_serving

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(owners.this_owner()[0] is None, reason="a process's owner is read from Linux's /proc"),
]

ROOT = Path(__file__).resolve().parent.parent


def _env(fake: FakeOpenAI, db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_"))}
    return {**keep, **env_for(fake), "MAGSAG_DB": str(db), "PYTHONPATH": str(ROOT)}


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _magsag(env: dict[str, str], *argv: str) -> dict:
    """A `magsag` command run as a process of its own (a cron job's, a terminal's), its output as JSON."""
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", cli, *argv], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def _summary(db: Path, env: dict[str, str]) -> dict:
    return _magsag(env, "flow", "summarize", "--db", str(db))


def _held_by_day_limit(db: Path, env: dict[str, str]) -> dict:
    """`magsag budget`'s day limit's ``reserved_by``: what holds it (`budget` reads, and records nothing)."""
    status = _magsag(env, "budget", "--json", "--db", str(db))
    return next(lim for lim in status["limits"] if lim["limit"] == "day")["reserved_by"]


async def test_a_sigkilled_server_s_call_is_recorded_abandoned_by_the_next_read_not_15_minutes_later(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """An HTTP server SIGKILLed (the OOM killer, a process manager's kill) with a call in flight left its reservation
    held until it expired, 15 minutes or more: meanwhile no summary counted the call, `check_budget` showed it in
    flight, and a crash-looping server's calls piled up as holds. Its process is gone, and a reading command on the
    same machine sees so: the call is recorded at once, as the abandoned attempt it stood for, at the bound its
    reservation held (the vendor may bill it: the limits go on counting it). While the server ran, the same read left
    its reservation alone."""
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    env = _env(fake_openai, db)
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url, _ = await until_serving(proc)

        async def call() -> None:
            try:
                async with Client(streamable_http_client(url)) as client:
                    await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": PAYLOAD})
            except Exception as exc:  # (the server it spoke to was killed)
                ended.append(exc)

        ended: list[Exception] = []

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until_sent(fake_openai)
            held = _rows(db, "SELECT owner_host, owner_pid, owner_started, amount_pusd FROM budget_reservations")
            assert [row[:2] for row in held] == [(owners.this_place(), proc.pid)]
            assert held[0][2] == owners.started(proc.pid) and held[0][3] > 0
            # the server runs: its call is in flight, left held by a read
            assert _summary(db, env)["totals"]["calls"] == 0
            assert len(_rows(db, "SELECT id FROM budget_reservations")) == 1
            assert _held_by_day_limit(db, env)["expired"] == 0
            proc.send_signal(signal.SIGKILL)
            assert await anyio.to_thread.run_sync(lambda: proc.wait(60)) == -signal.SIGKILL
            tg.cancel_scope.cancel()
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    # `magsag budget` (which records nothing) says the hold is a dead process's, not one held 15 minutes more
    by = _held_by_day_limit(db, env)
    assert by["calls"] == by["expired"] == 1, by
    summary = _summary(db, env)
    assert summary["totals"]["calls"] == 1 and summary["totals"]["errors"] == 1
    assert _rows(db, "SELECT outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts") == [
        ("error", "abandoned", None, held[0][3])
    ]
    assert _rows(db, "SELECT status FROM runs") == [("error",)]
    assert _rows(db, "SELECT id FROM budget_reservations") == []


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "600"])


async def _held_by(db: Path, owners_of: list[tuple[str | None, int | None, int | None]]) -> None:
    """Reservations not expired for an hour yet, each held by one of ``owners_of``."""
    now = time.time()
    async with Ledger(db) as ledger:
        await ledger.submit(
            lambda c: c.executemany(
                "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
                " attempt_run_id, provider, model, skill, call_id, owner_host, owner_pid, owner_started)"
                " VALUES (?, 'ops', ?, ?, 5000000, 'held', ?, 'openai', 'gpt-4o', 'skill.analysis', ?, ?, ?, ?)",
                [(f"r{i}", now - 1, now + 3600, f"r{i}", f"c{i}", *owner) for i, owner in enumerate(owners_of)],
            )
        )


async def test_a_process_id_given_to_another_process_is_not_taken_for_the_owner(tmp_path: Path):
    """Process ids are reused: a reservation naming an id that a process runs under now, started at another time,
    is of a process gone (recorded); one naming that process's own start is its (held). A reservation of another
    machine (another boot, another container's pid namespace) is held whatever runs here under its id, and one naming
    no process (an older version's) too, until they expire."""
    sleeper = _sleeper()
    try:
        start = owners.started(sleeper.pid)
        assert start is not None and start > 0
        db = tmp_path / "l.db"
        here = owners.this_place()
        dead = subprocess.Popen(["true"])
        dead.wait()  # reaped: no process has its id (until one is given it)
        await _held_by(
            db,
            [
                (here, sleeper.pid, start),  # r0: runs
                (here, sleeper.pid, start - 1),  # r1: its id, another process's now
                ("another-boot/pid:[4026531836]", dead.pid, start),  # r2: another machine's
                (None, None, None),  # r3: an older version's
                (here, dead.pid, start),  # r4: gone
            ],
        )
        async with Ledger(db) as ledger:
            assert await ledger.record_expired_reservations() == 2
        left = _rows(db, "SELECT run_id FROM budget_reservations ORDER BY run_id")
        assert left == [("r0",), ("r2",), ("r3",)]
        assert _rows(db, "SELECT run_id, error_class, cost_bound_pusd FROM attempts ORDER BY run_id") == [
            ("r1", "abandoned", 5000000),
            ("r4", "abandoned", 5000000),
        ]
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_a_zombie_is_gone_and_a_stopped_process_is_not(tmp_path: Path):
    """A process killed but not yet waited for by its parent (a zombie) runs no more code: its reservation is
    recorded. One stopped (SIGSTOP, a suspended job) may go on: its reservation keeps its expiry."""
    stopped, zombie = _sleeper(), _sleeper()
    try:
        stopped_start, zombie_start = owners.started(stopped.pid), owners.started(zombie.pid)
        os.kill(stopped.pid, signal.SIGSTOP)
        os.kill(zombie.pid, signal.SIGKILL)
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            while owners.started(zombie.pid) is not None:
                await anyio.sleep(0.01)
        assert Path(f"/proc/{zombie.pid}").exists()  # not reaped: a zombie, not a process id free again
        db = tmp_path / "l.db"
        here = owners.this_place()
        await _held_by(db, [(here, stopped.pid, stopped_start), (here, zombie.pid, zombie_start)])
        async with Ledger(db) as ledger:
            assert await ledger.record_expired_reservations() == 1
        assert _rows(db, "SELECT run_id FROM budget_reservations") == [("r0",)]
    finally:
        for proc in (stopped, zombie):
            proc.kill()
            proc.wait()


async def test_a_reservation_names_its_process_where_proc_tells_it_and_none_elsewhere(tmp_path: Path, monkeypatch):
    """The process a reservation names is the one that made it (a forked child names itself); where /proc cannot say
    (macOS, Windows, a /proc of another pid namespace) it names none, and neither judges another process gone: the
    expiry stands."""
    from magsag_mcp.governance import Governance
    from tests.governance_helpers import FixedPricer, attempt_ctx, limits

    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        gov = Governance(limits(max_cost_per_run_usd="5"), ledger, FixedPricer("0.1"))
        await gov.admit(attempt_ctx(run_id="mine"))
    assert _rows(db, "SELECT owner_host, owner_pid, owner_started FROM budget_reservations") == [
        (owners.this_place(), os.getpid(), owners.started(os.getpid()))
    ]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: what it would write as its reservations' owner
        os.write(write_end, json.dumps(owners.this_owner()).encode())
        os._exit(0)
    os.waitpid(child, 0)
    said = json.loads(os.read(read_end, 4096))
    os.close(read_end)
    os.close(write_end)
    assert said[1] == child != os.getpid() and said[2] is not None and said[0] == owners.this_place()

    monkeypatch.setattr(owners, "_owner", None)
    monkeypatch.setattr(owners, "_place_read", True)
    monkeypatch.setattr(owners, "_place", None)  # as where /proc has no boot id
    assert owners.this_owner() == owners.NO_OWNER
    dead = subprocess.Popen(["true"])
    dead.wait()
    async with Ledger(db) as ledger:
        assert await ledger.read(lambda c: owners.gone_owners(c, time.time())) == []
        await ledger.submit(lambda c: c.execute("UPDATE budget_reservations SET owner_pid = ?", (dead.pid,)))
        assert await ledger.record_expired_reservations() == 0


async def test_a_look_reads_each_process_s_start_once_and_this_process_s_not_at_all(tmp_path: Path, monkeypatch):
    """A batch's calls in flight are many holds of one process, and the sweep looks at them in the write transaction
    (every other process's writes waiting on it): one read of /proc per hold was hundreds of file reads for one
    process. Each process is read once per look, this process (which runs: it is looking) not at all, and the holds
    are judged as before: a live process's kept, a gone one's (its id now another process's) recorded."""
    sleeper = _sleeper()
    try:
        start = owners.started(sleeper.pid)
        assert start is not None
        here, me = owners.this_place(), owners.this_owner()
        db = tmp_path / "l.db"
        await _held_by(db, [(here, sleeper.pid, start)] * 40 + [me] * 40 + [(here, sleeper.pid, start - 1)] * 3)
        read: list[int] = []
        real_started = owners.started

        def counted(pid: int) -> int | None:
            read.append(pid)
            return real_started(pid)

        monkeypatch.setattr(owners, "started", counted)
        async with Ledger(db) as ledger:
            gone = await ledger.read(lambda c: owners.gone_owners(c, time.time()))
            assert read == [sleeper.pid]
            assert sorted(rid for (rid,) in gone) == list(range(81, 84))  # (ids from 1: the last three rows)
            read.clear()
            assert await ledger.record_expired_reservations() == 3
        assert read == [sleeper.pid, sleeper.pid]  # the read's look before the write, and the write's own
        assert len(_rows(db, "SELECT id FROM budget_reservations")) == 80
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_a_read_kept_from_recording_gone_processes_calls_counts_them_and_says_why(tmp_path: Path):
    """A read that must first record calls of a process seen gone (their reservations not expired yet) and finds the
    write lock kept said "1 call of a process that ended with its request in flight (its reservation expired)"
    whatever their number: it counted only the expired ones, none, and said one. It counts them, and says why."""
    from magsag_mcp.errors import LedgerError
    from tests.test_abandoned_sweep import _LOCK_HOLDER

    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: no process has its id (until one is given it)
    db = tmp_path / "l.db"
    gone_owner = (owners.this_place(), dead.pid, 12345)
    await _held_by(db, [gone_owner] * 3)
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        async with Ledger(db, busy_timeout_ms=200) as ledger:
            with pytest.raises(LedgerError) as info:
                await ledger.summarize()
    finally:
        holder.communicate("")
    assert info.value.message.startswith(
        f"cannot read the ledger at {db} yet: 3 calls of processes that ended with their requests in flight (their "
        "reservations expired, or their processes are gone) must first be recorded as the abandoned attempts they "
        "stood for"
    ), info.value.message
    async with Ledger(db) as ledger:  # the lock gone, the same read records them
        assert (await ledger.summarize())["totals"]["calls"] == 3


async def test_a_read_only_summary_counts_a_killed_process_s_call_at_once_as_check_budget_does(
    tmp_path: Path, monkeypatch, capsys
):
    """A ledger this user can only read, holding a reservation of a process SIGKILLed mid-call (not expired for an
    hour yet): `magsag budget` (check_budget) counted it expired at once, while `flow summarize` left it out, cost
    complete, until its expiry an hour on, and said nothing of it: the two reads of one ledger disagreed, and `flow
    gate` passed what the same ledger read writable fails. Read only, the summary counts it as the abandoned attempt a
    writable read records it as, the note says so, and nothing is written."""
    import shutil

    from magsag_mcp.cli import main
    from magsag_mcp.ledger import opening
    from magsag_mcp.records import AttemptRecord, RunRecord

    victim = _sleeper()
    start = owners.started(victim.pid)
    victim.kill()
    victim.wait()  # reaped: gone, as a server the OOM killer took
    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    async with Ledger(db) as ledger:
        at = time.time() - 60
        paid = AttemptRecord("r9", at, "openai", "gpt-4o", "skill.analysis", "ops", "ok", 0, 1, cost_usd=Decimal(".25"))
        await ledger.record_call(RunRecord("r9", "ops", "skill.analysis", at), [paid])
    await _held_by(db, [(owners.this_place(), victim.pid, start)])
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    writable = tmp_path / "b" / "ledger.db"
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}

    async with Ledger(db, read_only=True) as ledger:
        assert ledger.read_only
        seen = await ledger.summarize()
        seen_runs = await ledger.query_runs_page(None, None)
        note = await ledger.expired_unrecorded_note()
    async with Ledger(writable) as ledger:
        recorded = await ledger.summarize()
    for part in ("totals", "model_stats", "by_agent", "largest_run", "largest_call"):
        assert seen[part] == recorded[part], part
    assert seen["totals"]["cost_complete"] is False and seen["totals"]["calls"] == 2
    assert [run["run_id"] for run in seen_runs["runs"]] == ["r9"]
    assert note is not None and note.startswith(
        "1 call of a process that ended with its request in flight (its reservation expired, or its process is gone)"
        " cannot be recorded"
    ), note
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before  # nothing written

    monkeypatch.setattr(opening, "file_writable", lambda path: False)  # (as for a user who cannot write it)
    catalog = ROOT / "catalog"
    capsys.readouterr()
    # (main runs an event loop of its own: in a thread, as a terminal's `magsag` beside this test's)
    assert await anyio.to_thread.run_sync(main, ["budget", "--json", "--db", str(db), "--catalog", str(catalog)]) == 0
    status = json.loads(capsys.readouterr().out)
    day = next(lim for lim in status["limits"] if lim["limit"] == "day")["reserved_by"]
    assert day["expired"] == 1, day
    assert await anyio.to_thread.run_sync(main, ["flow", "summarize", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["totals"]["cost_complete"] is False and "its process is gone" in err, err
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_a_process_named_in_utf_8_has_its_start_read():
    """A process's name (comm, in /proc/PID/stat) is bytes, UTF-8 where it is named so ("café", a thread renamed):
    read as ASCII, its stat was no text, and the process was taken as one whose start cannot be read, so a reservation
    it left when it ended was never seen gone (and one it made named no owner)."""
    # (a process may rename only itself: it says when it has)
    named = "import pathlib, sys, time; pathlib.Path('/proc/self/comm').write_bytes('café (x) y'.encode()); print(); "
    child = subprocess.Popen(
        [sys.executable, "-c", named + "sys.stdout.flush(); time.sleep(60)"], stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"\n"
        assert "café".encode() in Path(f"/proc/{child.pid}/stat").read_bytes()
        start = owners.started(child.pid)
        assert start is not None and start != owners.UNREADABLE, start
        assert not owners._gone(start, start)
    finally:
        child.kill()
        child.wait()
    assert owners.started(child.pid) is None  # gone, waited for
