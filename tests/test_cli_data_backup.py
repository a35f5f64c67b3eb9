"""`magsag data backup FILE`: a consistent copy of a ledger in use, and the paths it refuses."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat

import pytest

from magsag_mcp.cli import main


def _events(db) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT event FROM events")}
    finally:
        conn.close()


def test_a_backup_of_a_ledger_in_use_holds_its_log_s_commits_and_none_in_progress(ledger_db, tmp_path, capsys):
    """There was no way to back up a running server's ledger but `cp`, which copies the database file without the
    commits its -wal log holds (or torn, mid-checkpoint). The backup holds every commit, none in progress, and is
    one file of its own, readable by its owner only."""
    writer = sqlite3.connect(ledger_db, isolation_level=None)  # a server's connection: its commits stay in the log
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO events (at, event) VALUES (1.5, 'committed-in-the-log')")
    pending = sqlite3.connect(ledger_db, isolation_level=None)  # a call's record being written as the backup runs
    pending.execute("BEGIN IMMEDIATE")
    pending.execute("INSERT INTO events (at, event) VALUES (2.5, 'not-committed-yet')")
    try:
        assert os.path.getsize(f"{ledger_db}-wal") > 0
        backup = tmp_path / "backups" / "ledger-backup.db"
        backup.parent.mkdir()
        assert main(["data", "backup", str(backup)]) == 0
        said = json.loads(capsys.readouterr().out)
    finally:
        pending.rollback()
        pending.close()
        writer.close()
    assert said["backup"] == str(backup) and said["attempts"] == 4 and said["bytes"] == backup.stat().st_size
    assert _events(backup) == {"committed-in-the-log"}
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in backup.parent.iterdir()) == ["ledger-backup.db"]  # no -wal, no temporary left
    assert sqlite3.connect(backup).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # the backup is a ledger magsag reads, and a later backup replaces it
    assert main(["flow", "summarize", "--db", str(backup)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] == 3
    assert main(["data", "backup", str(backup)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("own", ["", "-wal"])
def test_a_backup_refuses_the_ledger_s_own_files_and_a_file_that_is_no_database(ledger_db, tmp_path, capsys, own):
    before = ledger_db.read_bytes()
    assert main(["data", "backup", f"{ledger_db}{own}"]) == 2
    assert "is the ledger's own file" in capsys.readouterr().err
    assert ledger_db.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    assert main(["data", "backup", str(notes)]) == 2
    assert "exists and is no SQLite database" in capsys.readouterr().err
    assert notes.read_text() == "keep me\n"
    assert main(["data", "backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "none.db")]) == 2
    assert "no ledger at --db" in capsys.readouterr().err


def test_a_backup_into_a_folder_that_does_not_exist_says_to_create_it(ledger_db, tmp_path, capsys):
    """The refusal said 'cannot write the backup in DIR: No such file or directory' and no fix: now it says to make
    the folder first or name one that exists; nothing is left behind."""
    target = tmp_path / "backups" / "2026-12" / "ledger.db"
    assert main(["data", "backup", str(target)]) == 2
    said = capsys.readouterr().err
    assert f"cannot write the backup in {target.parent}: that folder does not exist" in said, said
    assert "create it first" in said
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("sigint", ["ignored", "default"])
def test_sigterm_mid_backup_removes_the_copy_beside_file(ledger_db, tmp_path, sigint):
    """SIGTERM mid-backup left `.FILE.*.tmp` behind where the process was started with SIGINT ignored (a script's
    background job, where SIGTERM is not turned into Ctrl-C and kept its default: dying on the spot). The backup is
    held mid-way by an exclusive lock on the ledger (SQLite waits for it), the signal sent once its copy is there,
    then the lock let go: the backup stops, removes its copy and exits 143, either way."""
    import signal
    import subprocess
    import sys
    import time

    lock = sqlite3.connect(ledger_db, isolation_level=None)
    lock.execute("PRAGMA locking_mode = EXCLUSIVE")  # (in WAL mode: no other connection may even read)
    lock.execute("BEGIN IMMEDIATE")
    lock.execute("UPDATE runs SET agent = agent")
    backups = tmp_path / "backups"
    backups.mkdir()
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None
    proc = subprocess.Popen(
        [sys.executable, "-c", "from magsag_mcp.cli import run_main; run_main()", "data", "backup", "b.db"],
        cwd=backups,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        preexec_fn=ignore,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        while not list(backups.glob(".b.db.*.tmp")):  # made before the backup opens the ledger, and waits
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        # (the signal is marked on the process as kill() returns: it wakes from SQLite's wait to its handler first)
        lock.execute("ROLLBACK")
        lock.close()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, (proc.returncode, err)
    assert sorted(p.name for p in backups.iterdir()) == [], err  # no copy left, and no FILE made


def test_a_backup_refuses_a_database_that_is_no_ledger(ledger_db, tmp_path, capsys):
    """A FILE that is a SQLite database was taken as an earlier backup and replaced: another program's database (an
    app's .sqlite) was lost. A backup is a ledger: a database that is no ledger is refused, left as it was."""
    other = tmp_path / "app.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    assert main(["data", "backup", str(other)]) == 2
    err = capsys.readouterr().err
    assert "is a SQLite database but no ledger" in err and "give the backup another path" in err, err
    assert other.read_bytes() == before
    # an earlier backup is still replaced
    backup = tmp_path / "ledger-backup.db"
    assert main(["data", "backup", str(backup)]) == 0
    assert main(["data", "backup", str(backup)]) == 0
    capsys.readouterr()


def _add_event(db, at: float, event: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO events (at, event) VALUES (?, ?)", (at, event))
        conn.commit()
    finally:
        conn.close()


def test_a_backup_swapped_with_the_ledger_is_refused_and_the_ledger_left_as_it_was(ledger_db, tmp_path, capsys):
    """`magsag data backup --db OLD-BACKUP LIVE-LEDGER` (the two swapped, or MAGSAG_DB naming a backup) replaced the
    live ledger with the older copy, losing every call since. A FILE holding records newer than any of the ledger
    being backed up is refused, left byte for byte as it was, with what was seen and the fix."""
    old_backup = tmp_path / "ledger-old.db"
    assert main(["data", "backup", str(old_backup)]) == 0
    capsys.readouterr()
    newest = sqlite3.connect(old_backup).execute("SELECT MAX(started_at) FROM attempts").fetchone()[0]
    _add_event(ledger_db, newest + 3600, "a-later-record")  # recorded in the live ledger after that backup
    before = ledger_db.read_bytes()
    assert main(["data", "backup", "--db", str(old_backup), str(ledger_db)]) == 2
    err = capsys.readouterr().err
    assert f"{ledger_db} holds records up to " in err, err
    assert f"after the newest in the ledger you are backing up ({old_backup}, its newest from " in err, err
    assert "is cli.db your live ledger and --db (or MAGSAG_DB) a backup?" in err, err
    assert "remove it first or give the backup another path" in err, err
    assert ledger_db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []  # no copy left beside it
    # the other way round, as meant: the earlier backup (older records) is replaced by the newer ledger
    assert main(["data", "backup", str(old_backup)]) == 0
    capsys.readouterr()
    assert "a-later-record" in _events(old_backup)


def test_an_empty_ledger_backed_up_over_a_backup_with_records_is_refused_and_over_an_empty_one_not(
    ledger_db, tmp_path, capsys
):
    """An empty ledger (set up, no call yet) holds no record: a backup holding calls is newer than it, refused (that
    would lose them all); an empty backup is replaced by it, and an empty ledger's backup by a ledger with calls."""
    empty = tmp_path / "empty.db"
    assert main(["data", "backup", str(empty), "--db", str(ledger_db)]) == 0
    conn = sqlite3.connect(empty)
    for table in ("attempts", "runs", "events"):
        conn.execute(f"DELETE FROM {table}")
    conn.commit()
    conn.close()
    with_calls = tmp_path / "with-calls.db"
    assert main(["data", "backup", str(with_calls)]) == 0
    capsys.readouterr()
    before = with_calls.read_bytes()
    assert main(["data", "backup", "--db", str(empty), str(with_calls)]) == 2
    err = capsys.readouterr().err
    assert f"({empty}, which holds no records)" in err, err
    assert with_calls.read_bytes() == before
    empty_backup = tmp_path / "empty-backup.db"
    assert main(["data", "backup", "--db", str(empty), str(empty_backup)]) == 0
    assert main(["data", "backup", "--db", str(empty), str(empty_backup)]) == 0  # empty over empty: replaced
    assert main(["data", "backup", str(empty_backup)]) == 0  # the ledger with calls over the empty backup
    capsys.readouterr()
    assert sqlite3.connect(empty_backup).execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 4


def test_a_signal_just_after_the_copy_is_made_leaves_no_copy_behind(ledger_db, tmp_path, monkeypatch):
    """A SIGTERM or Ctrl-C turned into an exception in the instant after the copy beside FILE was made and before its
    name was held (mkstemp's return) left `.FILE.*.tmp` behind: the race the subprocess test above met under load
    one run in many. Landed there by hand: the file just made, the interrupt raised as os.open returns (before its
    fd is held, or locked)."""
    from magsag_mcp.ledger import backup as backup_module

    real_open = os.open

    def interrupted(path, flags: int, *mode: int) -> int:
        fd = real_open(path, flags, *mode)
        if flags & os.O_CREAT:  # (the copy's making; not the ledger's nor a dead copy's opening)
            os.close(fd)
            raise KeyboardInterrupt
        return fd

    backups = tmp_path / "backups"
    backups.mkdir()
    monkeypatch.setattr(backup_module.os, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backup_module.backup(ledger_db, backups / "b.db")
    monkeypatch.undo()
    assert sorted(p.name for p in backups.iterdir()) == []


def _held_backup(ledger_db, folder, name: str):
    """A `data backup NAME` run in ``folder``, held mid-way by an exclusive lock on the ledger (SQLite waits for it)
    once its copy is there: (the process, the lock's connection; roll it back to let the backup go on)."""
    import subprocess
    import sys
    import time

    lock = sqlite3.connect(ledger_db, isolation_level=None)
    lock.execute("PRAGMA locking_mode = EXCLUSIVE")  # (in WAL mode: no other connection may even read)
    lock.execute("BEGIN IMMEDIATE")
    lock.execute("UPDATE runs SET agent = agent")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from magsag_mcp.cli import run_main; run_main()", "data", "backup", name],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    while not list(folder.glob(f".{name}.*.tmp")):  # made before the backup opens the ledger, and waits
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    return proc, lock


def test_a_copy_a_killed_backup_left_is_removed_by_the_next_backup_into_its_folder(ledger_db, tmp_path, capsys):
    """SIGKILL (the OOM killer, a power cut) mid-backup runs no finally: its copy, `.FILE.<hex>.tmp`, as large as the
    ledger, stayed beside FILE for good, a nightly job's each night it was killed. The next backup into the folder
    (of any FILE: a nightly job names each day's) removes it: the killed process's lock on it went with it."""
    backups = tmp_path / "backups"
    backups.mkdir()
    proc, lock = _held_backup(ledger_db, backups, "monday.db")
    try:
        proc.kill()
        proc.wait()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    [left] = [p.name for p in backups.iterdir()]
    assert left.startswith(".monday.db.") and left.endswith(".tmp")
    assert main(["data", "backup", str(backups / "tuesday.db")]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["removed_dead_copies"] == [left]
    assert sorted(p.name for p in backups.iterdir()) == ["tuesday.db"]


def test_the_copy_of_a_backup_at_work_beside_another_is_kept(ledger_db, tmp_path, capsys):
    """A second backup into the same folder while the first is at work (two cron jobs, a script's beside a user's)
    must not take the first's copy for a dead one: it holds its lock, and its copy is kept, and made whole."""
    other = tmp_path / "other.db"  # (a ledger the lock on ledger_db does not hold up)
    src = sqlite3.connect(ledger_db)
    dst = sqlite3.connect(other)
    src.backup(dst)
    src.close()
    dst.close()
    backups = tmp_path / "backups"
    backups.mkdir()
    proc, lock = _held_backup(ledger_db, backups, "first.db")
    try:
        assert main(["data", "backup", str(backups / "second.db"), "--db", str(other)]) == 0
        assert "removed_dead_copies" not in json.loads(capsys.readouterr().out)
        assert len(list(backups.glob(".first.db.*.tmp"))) == 1  # (still there, still being made)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in backups.iterdir()) == ["first.db", "second.db"]


#: a backup of a version before the flock on its copy (before 15efbb21), at work in a folder: its copy open in SQLite,
#: argv[2] "write" (copying the ledger into it: SQLite's write lock) or "check" (reading it back for quick_check: a
#: read lock), held until a line on stdin
_OLDER_BACKUP_AT_WORK = """
import secrets, sqlite3, sys
from pathlib import Path

folder, phase = Path(sys.argv[1]), sys.argv[2]
copy = folder / f".monday.db.{secrets.token_hex(16)}.tmp"
dst = sqlite3.connect(copy, isolation_level=None)
dst.execute("PRAGMA journal_mode = DELETE")
dst.execute("CREATE TABLE runs (run_id TEXT)")
dst.execute("BEGIN IMMEDIATE" if phase == "write" else "BEGIN")
dst.execute("INSERT INTO runs VALUES ('r')" if phase == "write" else "SELECT COUNT(*) FROM runs").fetchall()
print(copy.name, flush=True)
sys.stdin.readline()
dst.execute("COMMIT")
dst.close()
"""


@pytest.mark.parametrize("phase", ["write", "check"])
def test_the_copy_an_older_version_s_backup_is_making_is_not_taken_for_a_dead_one(ledger_db, tmp_path, capsys, phase):
    """During an upgrade, a backup of the version before the copy's flock (a cron job of a venv not yet upgraded) holds
    no flock on its copy: a backup of this version into the same folder took it for a killed backup's and removed it
    mid-copy, and the older backup lost its night's copy (its rename found no file). SQLite's own locks on the copy,
    held while it is written and read back for its check, tell it is at work: it is kept."""
    import subprocess
    import sys

    backups = tmp_path / "backups"
    backups.mkdir()
    older = subprocess.Popen(
        [sys.executable, "-c", _OLDER_BACKUP_AT_WORK, str(backups), phase],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert older.stdout is not None
        copy = older.stdout.readline().strip()
        assert main(["data", "backup", str(backups / "tuesday.db")]) == 0
        assert "removed_dead_copies" not in json.loads(capsys.readouterr().out)
        assert (backups / copy).exists()
        out, _ = older.communicate("\n", timeout=60)
        assert older.returncode == 0
    finally:
        older.kill()
        older.wait()
    # once that backup is gone (killed, its copy left), the next backup removes the copy as any dead one
    assert main(["data", "backup", str(backups / "wednesday.db")]) == 0
    assert json.loads(capsys.readouterr().out)["removed_dead_copies"] == [copy]


def test_a_backup_to_a_folder_is_refused_naming_a_file_in_it(ledger_db, tmp_path, capsys):
    """``data backup DIR/`` said only "DIR is not a regular file: give the backup a file's path": it names the file
    to give instead, one in that folder, and writes nothing there (a backup under a name the user never gave would
    be one a script does not find)."""
    folder = tmp_path / "backups"
    folder.mkdir()
    assert main(["data", "backup", f"{folder}/"]) == 2
    said = capsys.readouterr().err
    suggested = folder / f"{ledger_db.stem}-backup.db"
    assert "is a folder" in said and str(suggested) in said, said
    assert list(folder.iterdir()) == []
    assert main(["data", "backup", str(suggested)]) == 0  # the path it names is one a backup takes
    assert suggested.is_file()


def test_a_backup_through_a_file_says_a_part_of_its_path_is_a_file(ledger_db, tmp_path, capsys):
    """It was 'Not a directory; give FILE in a folder this user may write to': permissions were never the cause."""
    (tmp_path / "backups").write_text("a file, not a folder\n")
    target = tmp_path / "backups" / "ledger.db"
    assert main(["data", "backup", str(target)]) == 2
    said = json.loads(capsys.readouterr().err)["error"]["message"]
    assert said.startswith(f"cannot write the backup in {target.parent}: ")
    assert said.endswith(f"a part of that path, {target.parent}, is a file, not a folder: give FILE a path in a folder")
    assert (tmp_path / "backups").read_text() == "a file, not a folder\n"


@pytest.mark.parametrize(
    ("refused", "fix"),
    [
        # no user may write on a read-only mount, root neither: "a folder this user may write to" sent them to chmod
        (errno.EROFS, "its file system is mounted read-only: give FILE a path on one mounted read-write"),
        (errno.ENOSPC, "free some space there, or give FILE a path on another disk"),
        # (root here: os.access says yes, and the OS refused it all the same)
        (
            errno.EACCES,
            "the system refused a new file there though its permissions allow one (a folder made "
            "immutable, an ACL or a security policy such as SELinux): give FILE in another folder",
        ),
        (errno.EIO, "check that folder and its disk, or give FILE in another folder"),
    ],
)
def test_a_backup_folder_that_refuses_a_file_is_told_the_fix_for_why(
    ledger_db, tmp_path, capsys, monkeypatch, refused, fix
):
    from magsag_mcp.ledger import backup as backup_module

    def refuse(path):
        raise OSError(refused, os.strerror(refused))

    monkeypatch.setattr(backup_module, "_claim", refuse)
    target = tmp_path / "backups" / "ledger.db"
    target.parent.mkdir()
    assert main(["data", "backup", str(target)]) == 2
    said = json.loads(capsys.readouterr().err)["error"]["message"]
    assert said == f"cannot write the backup in {target.parent}: {os.strerror(refused)}; {fix}"
    assert list(target.parent.iterdir()) == []


def _refused_message(capsys) -> str:
    return json.loads(capsys.readouterr().err)["error"]["message"]


def test_a_backup_whose_name_with_its_copy_s_suffix_is_too_long_is_made(ledger_db, tmp_path, capsys):
    """FILE of a 240-byte name was "File name too long; give FILE in a folder this user may write to": its copy's name,
    FILE's with 38 bytes more (and SQLite's -journal beside it), was the one too long; FILE's own name was fine."""
    for length in (220, 245, 255):
        target = tmp_path / ("b" * (length - 3) + ".db")
        assert main(["data", "backup", str(target)]) == 0
        assert json.loads(capsys.readouterr().out)["backup"] == str(target)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("b", ".b"))) == [target.name]
        target.unlink()


def test_a_backup_named_too_long_says_which_name_to_shorten(ledger_db, tmp_path, capsys):
    # it named --db, --catalog and --output (or a folder to write to), not FILE
    target = tmp_path / ("c" * 300 + ".db")
    assert main(["data", "backup", str(target)]) == 2
    said = _refused_message(capsys)
    assert said.endswith(
        "FILE's name is 303 bytes, and a file system takes names of 255 at most: give FILE a shorter name (a value "
        "pasted where a path goes?)"
    ), said
    folder = tmp_path / ("d" * 300)
    assert main(["data", "backup", str(folder / "x.db")]) == 2
    said = _refused_message(capsys)
    assert (
        "the folder name dddddddddddddddddddddddddddddddddddddddd...dddddddddddddddddddddddddddddd is 300 bytes" in said
    )
    assert said.endswith("give FILE a path of shorter names (a value pasted where a path goes?)"), said
    assert len(said) < 400  # (the path pasted is cut to its ends)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("ccc", ".ccc"))]  # (nor its copy)


def test_a_backup_through_a_symbolic_link_loop_names_the_link(ledger_db, tmp_path, capsys):
    # a RuntimeError traceback ("Symlink loop from ..."), from Path.resolve()
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    assert main(["data", "backup", str(loop / "x.db")]) == 2
    said = _refused_message(capsys)
    assert said == (
        f"cannot write the backup in {loop}: {os.strerror(errno.ELOOP)}; a symbolic link in that path ({loop} -> "
        "loop) leads back to itself, so the path leads nowhere: mend or remove the link, or give FILE a path without it"
    )


def test_a_backup_through_a_file_names_the_file(ledger_db, tmp_path, capsys):
    (tmp_path / "backups").write_text("a file\n")
    assert main(["data", "backup", str(tmp_path / "backups" / "daily" / "ledger.db")]) == 2
    assert _refused_message(capsys).endswith(
        f"a part of that path, {tmp_path / 'backups'}, is a file, not a folder: give FILE a path in a folder"
    )


def test_a_backup_under_a_folder_this_user_may_not_enter_names_it(ledger_db, tmp_path, capsys, monkeypatch):
    """EACCES on a folder on the way (no x) was "give FILE in a folder this user may write to", of the folder FILE is
    in, which this user may well write to: the folder it may not enter is named. (Patched: root enters any.)"""
    from magsag_mcp.ledger import backup_paths

    closed = tmp_path / "team"
    target = closed / "backups" / "ledger.db"
    target.parent.mkdir(parents=True)
    real_access = os.access

    def access(path, mode):
        if mode == os.X_OK and os.fspath(path) == os.fspath(closed):
            return False
        return real_access(path, mode)

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(backup_paths.os, "access", access)
    monkeypatch.setattr(backup_module(), "_claim", refuse)
    assert main(["data", "backup", str(target)]) == 2
    assert _refused_message(capsys).endswith(
        f"this user may not enter {closed} (no search permission, x), which the path goes through: give FILE a path "
        "elsewhere, or have that permission granted"
    )
    monkeypatch.setattr(backup_paths.os, "access", lambda path, mode: mode == os.X_OK)  # the folder, not writable
    assert main(["data", "backup", str(target)]) == 2
    assert _refused_message(capsys).endswith(
        f"this user may not write in {target.parent}: give FILE in a folder this user may write to"
    )


def test_a_backup_into_a_folder_that_takes_no_files_does_not_say_it_is_missing(
    ledger_db, tmp_path, capsys, monkeypatch
):
    # /proc/x.db: "that folder does not exist; create it first", of a folder that is there
    def refuse(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))

    monkeypatch.setattr(backup_module(), "_claim", refuse)
    assert main(["data", "backup", str(tmp_path / "x.db")]) == 2
    assert _refused_message(capsys) == (
        f"cannot write the backup in {tmp_path}: that folder takes no new files (a system folder such as /proc): "
        "give FILE in another folder"
    )


def test_an_existing_file_that_cannot_be_read_is_left_and_said_so(ledger_db, tmp_path, capsys, monkeypatch):
    # another user's 0600 file at FILE: a PermissionError traceback
    target = tmp_path / "theirs.db"
    target.write_bytes(b"SQLite format 3\x00")
    real_open = open

    def open_(path, *args, **kwargs):
        if os.fspath(path) == os.fspath(target):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(backup_module(), "open", open_, raising=False)
    assert main(["data", "backup", str(target)]) == 2
    assert _refused_message(capsys) == (
        f"{target} exists and cannot be read ({os.strerror(errno.EACCES)}), so whether it is an earlier backup is not "
        "known: it was left as it is; give the backup another path, or remove that file first"
    )
    assert target.read_bytes() == b"SQLite format 3\x00"


def backup_module():
    from magsag_mcp.ledger import backup

    return backup


def test_a_second_backup_into_a_file_of_a_name_too_long_for_its_wal_is_made(ledger_db, tmp_path, capsys):
    """FILE of a 252- to 255-byte name was backed up once, and the next backup into it (a daily job's) refused as
    "FILE's name is 254 bytes, and with the '-journal' SQLite writes beside it it passes the 255": reading the earlier
    backup, the look for its -wal (a name past 255 bytes, so none) raised "File name too long"."""
    for length in (252, 255):
        target = tmp_path / ("w" * (length - 3) + ".db")
        for _ in range(2):
            assert main(["data", "backup", str(target)]) == 0, capsys.readouterr().err
            assert json.loads(capsys.readouterr().out)["backup"] == str(target)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("w", ".w"))) == [target.name]
        target.unlink()


def test_a_backup_path_past_the_system_s_length_is_told_the_path_not_its_name(ledger_db, tmp_path, capsys):
    # every name in it fits: the path of thousands of bytes is the one too long, not FILE's name of 250 bytes (it was
    # told to shorten that name, "with the '-journal' SQLite writes beside it")
    target = tmp_path.joinpath(*["f" * 200] * 25, "n" * 250)
    assert main(["data", "backup", str(target)]) == 2
    assert _refused_message(capsys).endswith(
        f"the path is {len(os.fsencode(str(target)))} bytes, longer than the system takes: give FILE a shorter path "
        "(a folder nearer the root)"
    )


def test_every_key_a_backup_prints_is_documented(ledger_db, tmp_path, capsys):
    # it printed backup, ledger and schema_migrations, which docs/cli.md did not list: a key a script reads (or a
    # person wonders at) is said with what it means
    from pathlib import Path

    assert main(["data", "backup", str(tmp_path / "copy.db")]) == 0
    said = json.loads(capsys.readouterr().out)
    row = next(
        line for line in (Path(__file__).parents[1] / "docs" / "cli.md").read_text().splitlines()
        if line.startswith("| `magsag data backup FILE`")
    )
    assert {"backup", "ledger", "schema_migrations", "attempts", "bytes"} <= set(said)
    assert [key for key in said if f"`{key}`" not in row] == []
