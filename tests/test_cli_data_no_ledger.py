"""Where MAGSAG_DB or --db names no ledger (a typo, a blank value, an empty file, a relative path): the reading
commands, doctor and explain say so, naming the file they looked for, and make no ledger there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_a_mistyped_db_is_refused_not_read_as_an_empty_ledger(ledger_db, tmp_path, capsys):
    # Before, `--db` naming no file created an empty ledger there, and every read reported nothing
    # spent: `magsag budget` a whole budget left, `flow summarize` no calls, for a typo.
    typo = tmp_path / "cli.bd"
    for argv in (
        ["flow", "summarize"],
        ["data", "query"],
        ["data", "search", "x"],
        ["data", "prune", "--older-than", "90d"],
        ["budget", "--agent", "a"],
    ):
        assert main([*argv, "--db", str(typo)]) == 2, argv
        err = capsys.readouterr().err
        assert f"no ledger at --db {typo}: nothing has been recorded there" in err, argv
        assert not typo.exists()
    # the ledger that exists is read as before
    assert main(["flow", "summarize", "--db", str(ledger_db)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] > 0


@pytest.mark.parametrize("command", [["data", "query"], ["flow", "summarize"], ["invoke", "skill.analysis"]])
def test_a_blank_magsag_db_is_refused_not_made_a_file_named_by_spaces(tmp_path, monkeypatch, capsys, command):
    # MAGSAG_DB=" " (a placeholder in an env file) opened a ledger in the working directory in a file whose
    # name is a space, where nobody would look for it, and every read reported nothing spent
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAGSAG_DB", "  ")
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main([*command, *(["--payload", '{"data": "x"}'] if command[0] == "invoke" else [])]) == 2
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "config_error" and "MAGSAG_DB" in err["message"] and "blank" in err["message"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["data", "query"], ["doctor"], ["invoke", "skill.analysis"]])
@pytest.mark.parametrize("around", [" {}", "{} ", "{}\t"], ids=["before", "after", "tab"])
def test_a_magsag_db_with_spaces_around_it_is_refused_not_another_file(tmp_path, monkeypatch, capsys, command, around):
    # an env file's trailing space (Docker's --env-file and systemd keep it): MAGSAG_DB="/srv/ledger.db " recorded every
    # call to "ledger.db " beside the ledger meant, and " /srv/ledger.db" to a folder named by a space in the working
    # directory; `--db /srv/ledger.db`, a reading command or a report then read another file, and doctor passed
    monkeypatch.chdir(tmp_path)
    meant = tmp_path / "ledger.db"
    monkeypatch.setenv("MAGSAG_DB", around.format(meant))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main([*command, *(["--payload", '{"data": "x"}'] if command[0] == "invoke" else [])]) == 2
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "config_error" and "has spaces around it" in err["message"]
    assert f"set MAGSAG_DB={meant} without them" in err["message"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["flow", "summarize"], ["data", "query", "--format", "json"], ["budget"]])
def test_a_magsag_db_with_no_ledger_yet_says_so_beside_its_zeros(tmp_path, monkeypatch, capsys, ledger_db, command):
    # A CI job's MAGSAG_DB mistyped (or set for another server than the one whose calls were meant) read as a
    # ledger with nothing spent: zeros, which `flow gate` passes, and no word that nothing was there to read.
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "ledgr.db"))
    assert main(command) == 0
    err = capsys.readouterr().err
    assert f"no ledger at {tmp_path / 'ledgr.db'} (MAGSAG_DB) yet" in err and "check that it is this one" in err
    monkeypatch.setenv("MAGSAG_DB", str(ledger_db))  # a ledger that holds calls: no note
    assert main(command) == 0
    assert "no ledger" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["flow", "summarize"],
        ["data", "query"],
        ["data", "query", "--format", "csv"],
        ["data", "search", "x"],
        ["data", "prune", "--older-than", "90d"],
        ["budget", "--agent", "a"],
    ],
)
@pytest.mark.parametrize("there", ["nothing", "an empty file"])
def test_a_reading_command_makes_no_ledger_where_magsag_db_has_none(tmp_path, monkeypatch, capsys, command, there):
    # The first reading command run with a mistyped MAGSAG_DB made a ledger (and its folder) there: its note said
    # "no ledger yet", and every run after it read that empty ledger with no note at all, zeros that `flow gate`
    # passed. An empty file an install made for the first call was turned into a ledger likewise.
    db = tmp_path / "typo" / "ledgr.db"
    if there == "an empty file":
        db.parent.mkdir()
        db.touch()
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for _ in range(2):  # the second run finds nothing made by the first: it says so again
        assert main(command) == 0
        assert f"no ledger at {db} (MAGSAG_DB) yet" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if there == "an empty file":
        assert db.stat().st_size == 0


def _blank_sqlite(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # a database with a header and no table
    conn.close()


READERS = [
    ["data", "query"],
    ["data", "search", "timeout"],
    ["flow", "summarize"],
    ["data", "prune", "--older-than", "90d"],
    ["budget", "--agent", "alice"],
]


@pytest.mark.parametrize("make", [Path.touch, _blank_sqlite], ids=["empty-file", "blank-sqlite"])
@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_a_reading_command_never_makes_a_ledger_of_a_file_that_holds_none(ledger_db, tmp_path, capsys, command, make):
    # Before, `--db` naming an empty file (`touch`ed, or truncated by a `> led.db` redirect) was made a ledger:
    # the command changed it (a 106 kB database, WAL) and reported nothing spent, a whole budget left.
    target = tmp_path / "not-a-ledger.db"
    make(target)
    before = target.read_bytes()
    assert main([*command, "--db", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"no ledger at {target}" in err and "check the path" in err
    assert target.read_bytes() == before
    assert not any(Path(f"{target}{side}").exists() for side in ("-wal", "-shm", "-journal"))


def test_doctor_makes_no_ledger_where_there_is_none(ledger_db, tmp_path, capsys):
    # Before, `magsag doctor --db typo.db` created typo.db (a ledger), so that a mistyped path looked fine.
    typo = tmp_path / "typo.db"
    assert main(["doctor", "--db", str(typo)]) == 0
    assert "(none there yet: the first call makes it)" in capsys.readouterr().out
    assert not typo.exists() and not Path(f"{typo}-wal").exists()
    assert main(["doctor", "--db", str(typo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["db_exists"] is False
    assert main(["doctor", "--json"]) == 0  # the ledger MAGSAG_DB names, which holds runs
    assert json.loads(capsys.readouterr().out)["db_exists"] is True
    (tmp_path / "empty.db").touch()
    assert main(["doctor", "--db", str(tmp_path / "empty.db")]) == 2
    assert (tmp_path / "empty.db").read_bytes() == b""


def test_explain_makes_no_ledger_where_there_is_none(ledger_db, tmp_path, capsys):
    # Before, `magsag explain ... --db typo.db` created typo.db: a later `magsag budget --db typo.db` then read
    # it as a ledger with nothing spent, instead of saying there is none. A plan reads no spend.
    typo = tmp_path / "typo.db"
    assert main(["explain", "skill.analysis", "--payload", '{"data": "x"}', "--db", str(typo)]) == 0
    assert json.loads(capsys.readouterr().out)["targets"]
    assert not typo.exists()
    assert main(["budget", "--db", str(typo)]) == 2
    assert f"no ledger at --db {typo}" in capsys.readouterr().err


@pytest.mark.parametrize("make", [Path.touch, _blank_sqlite], ids=["empty-file", "blank-sqlite"])
def test_doctor_and_explain_take_an_empty_file_at_magsag_db_for_no_ledger_yet(tmp_path, monkeypatch, capsys, make):
    # An install that makes MAGSAG_DB's file ahead of the first call, for its owner and mode (systemd-tmpfiles'
    # "f", `install -m 600 /dev/null`), left an empty file. `magsag doctor` then failed as a whole with "no ledger
    # at ...: check the path" (its report of keys and catalog lost), and `magsag explain` too, which reads no
    # spend; `data query` at the same MAGSAG_DB makes it a ledger. Now both say there is none yet, and leave it.
    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "ledger.db"
    make(empty)
    before = empty.read_bytes()
    monkeypatch.setenv("MAGSAG_DB", str(empty))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main(["doctor"]) == 0
    assert "(an empty file, no ledger yet: the first call makes it one)" in capsys.readouterr().out
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["db_exists"] is False and report["db_empty"] is True
    assert main(["explain", "skill.analysis", "--payload", '{"data": "x"}']) == 0
    assert json.loads(capsys.readouterr().out)["targets"]
    assert main(["explain", "skill.analysis", "--payload", '{"data": "x"}', "--db", str(empty)]) == 0
    assert json.loads(capsys.readouterr().out)["targets"]
    assert empty.read_bytes() == before
    assert not any(Path(f"{empty}{side}").exists() for side in ("-wal", "-shm", "-journal"))
    assert main(["doctor", "--db", str(empty)]) == 2  # a --db typed by hand is refused, as reading commands do
    assert "no ledger at" in capsys.readouterr().err


def test_a_relative_magsag_db_with_no_ledger_names_the_file_it_looked_for(tmp_path, monkeypatch, capsys, ledger_db):
    """A cron job runs in the home folder: `MAGSAG_DB=ledger.db magsag flow summarize` there said "no ledger at
    ledger.db (MAGSAG_DB) yet", the path the operator had written, not the file looked for, nor that the relative
    path is why the server's ledger (in the folder it was started in) was not read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("MAGSAG_DB", "ledger.db")
    assert main(["flow", "summarize"]) == 0
    err = capsys.readouterr().err
    assert f"no ledger at {home / 'ledger.db'} (MAGSAG_DB=ledger.db, relative to the folder this runs in) yet" in err
    assert "give MAGSAG_DB as an absolute path" in err


def test_a_relative_db_with_no_ledger_names_the_file_it_looked_for(tmp_path, monkeypatch, capsys, ledger_db):
    """As a relative MAGSAG_DB's note does: `magsag flow summarize --db ledger.db` in another folder than the one the
    server was started in said "no ledger at --db ledger.db", the path as typed, not the file looked for, nor that
    the relative path is why the server's ledger was not found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    for argv in (["flow", "summarize"], ["budget"], ["data", "prune", "--older-than", "90d"]):
        assert main([*argv, "--db", "ledger.db"]) == 2, argv
        err = capsys.readouterr().err
        assert f"no ledger at --db ledger.db ({home / 'ledger.db'}, relative to the folder this runs in)" in err, argv
        assert "give --db as an absolute path" in err
        assert not (home / "ledger.db").exists()


def test_doctor_says_when_no_call_can_make_the_ledger(ledger_db, tmp_path, capsys):
    # Before, `MAGSAG_DB=/srv/app.conf/ledger.db` (a folder on the path that is a file) passed `magsag doctor` with
    # "(none there yet: the first call makes it)", exit 0, and every call then failed before it was sent with
    # ledger_error "Not a directory": the check run to find it said all was well.
    (tmp_path / "app.conf").write_text("x")
    bad = tmp_path / "app.conf" / "sub" / "ledger.db"
    assert main(["doctor", "--db", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"ledger  : {bad} (none there, and no call can make it: see the problem)" in out
    [problem] = [line for line in out.splitlines() if line.startswith("problem:") and "ledger" in line]
    assert f"{tmp_path / 'app.conf'} is a file, not a folder" in problem
    assert "give --db (or MAGSAG_DB) a file's path in a folder this user can write to" in problem
    assert main(["doctor", "--db", str(bad), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["db_makeable"] is False
    assert not (tmp_path / "app.conf").is_dir()
    # a folder still to be made is made by the first call, as before
    assert main(["doctor", "--db", str(tmp_path / "new" / "ledger.db")]) == 0
    assert "(none there yet: the first call makes it)" in capsys.readouterr().out
    assert not (tmp_path / "new").exists()


def test_doctor_says_an_in_memory_ledger_is_none_a_call_can_use(ledger_db, monkeypatch, capsys):
    # MAGSAG_DB=:memory: (sqlite3's name for a throwaway database) passed doctor with "(none there yet: the first
    # call makes it)", while every call refuses it as the ledger
    monkeypatch.setenv("MAGSAG_DB", ":memory:")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "(none there, and no call can make it: see the problem)" in out
    assert "problem: ':memory:' names a SQLite database in memory, and the ledger is a file" in out


@pytest.mark.parametrize("given", ["MAGSAG_DB", "--db"])
def test_a_reading_command_says_a_ledger_whose_folder_is_a_file_can_never_be_made(
    ledger_db, tmp_path, monkeypatch, capsys, given
):
    # notes.txt/l.db: MAGSAG_DB's was told "no ledger at ... yet" with zeros (exit 0), --db's "check the path", while
    # a call (and doctor) said the ledger cannot be made there and the fix; each read says that now, exit 2
    notes = tmp_path / "notes.txt"
    notes.write_text("kept\n")
    db = notes / "l.db"
    at = [] if given == "MAGSAG_DB" else ["--db", str(db)]
    if given == "MAGSAG_DB":
        monkeypatch.setenv("MAGSAG_DB", str(db))
    for argv in (
        ["data", "query"],
        ["flow", "summarize"],
        ["flow", "daily"],
        ["data", "prune", "--older-than", "90d"],
        ["cache", "clear"],
        ["budget"],
    ):
        assert main([*argv, *at]) == 2, argv
        captured = capsys.readouterr()
        message = json.loads(captured.err)["error"]["message"]
        assert message.startswith(
            f"cannot open the ledger at {db}: it cannot be made: {notes} is a file, not a folder; give --db / "
            f"MAGSAG_DB a file's path in a folder (such as {tmp_path / 'ledger.db'}), or move {notes} aside"
        ), (argv, captured)
        assert "no ledger" not in captured.out + captured.err, argv
    assert notes.read_text() == "kept\n"


def test_doctor_refuses_an_empty_file_at_its_db_beside_a_catalog_it_cannot_load(tmp_path, monkeypatch, capsys):
    # A catalog that cannot be loaded makes the report without a service, where the ledger is opened apart
    # (doctor._ledger_refusal): an empty file at a --db typed by hand is refused there too, as every reading command
    # refuses it, not listed as a ledger that cannot be opened beside the catalog's problem
    catalog = tmp_path / "catalog"
    catalog.mkdir()  # (no skills/ in it: a problem of the report, which goes on)
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    assert main(["doctor", "--db", str(tmp_path / "typo.db")]) == 1  # the catalog's problem, reported
    assert "(none there yet: the first call makes it)" in capsys.readouterr().out
    (tmp_path / "empty.db").touch()
    assert main(["doctor", "--db", str(tmp_path / "empty.db")]) == 2
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["message"].startswith(f"no ledger at {tmp_path / 'empty.db'}: it is an empty file"), err
    assert (tmp_path / "empty.db").read_bytes() == b""
