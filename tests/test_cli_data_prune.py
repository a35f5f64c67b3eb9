"""`magsag data prune`: what it deletes, the windows it refuses, and a vacuum that failed."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from magsag_mcp.cli import main


def test_summarize_to_a_file_then_prune(ledger_db, tmp_path, capsys):
    out = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(out)]) == 0
    summary = json.loads(out.read_text())
    # the guide's calls and errors: r-priced's one call, answered on its retry (an overloaded try, then the answer)
    gpt4o = summary["model_stats"]["gpt-4o"]
    assert (gpt4o["calls"], gpt4o["errors"], gpt4o["attempts"], gpt4o["attempt_errors"]) == (1, 0, 2, 1)
    assert summary["totals"]["unpriced_calls"] == 1
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    pruned = json.loads(capsys.readouterr().out)
    assert pruned["deleted"]["runs"] == 1 and pruned["deleted"]["attempts"] == 1
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced"}


@pytest.mark.parametrize("window", ["3m", "90m", "30s"])
def test_prune_refuses_a_window_in_minutes_or_seconds(ledger_db, capsys, window):
    # Before, `data prune --older-than 3m` (three months, the user meant) deleted every call but the last three
    # minutes' at once. No retention is counted in minutes or seconds: refused, with the unit to use.
    assert main(["data", "prune", "--older-than", window]) == 2
    err = capsys.readouterr().err
    assert "no retention is counted in" in err and "90d" in err
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}
    assert main(["data", "prune", "--older-than", "48h"]) == 0  # hours are a retention


def test_a_prune_whose_vacuum_fails_says_the_file_was_not_shrunk(ledger_db, capsys, monkeypatch):
    """A prune run to free disk space whose vacuum failed (a full disk, another process holding the ledger)
    printed only "vacuum": 0 and exited 0: nothing said the file had kept its size, nor why, nor what to do."""
    from magsag_mcp.ledger import prune

    def no_room(conn):
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = 13
        raise exc

    monkeypatch.setattr(prune, "_vacuum", no_room)
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["deleted"] == {"attempts": 1, "runs": 1, "events": 0, "answers": 0, "vacuum": 0}
    assert "the ledger file was not shrunk" in err and "after freeing some space" in err, err
    monkeypatch.undo()
    monkeypatch.setenv("MAGSAG_DB", str(ledger_db))
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    assert capsys.readouterr().err == ""  # a vacuum that ran says nothing more


@pytest.mark.parametrize("given", [["--older-than", "-5d"], ["--older-than=-5d"]])
def test_prune_given_a_negative_duration_says_to_give_it_positive(ledger_db, capsys, given):
    # `--older-than -5d` was argparse's "expected one argument" (the value, begun with '-', read as an option), and
    # `--older-than=-5d` "'-5d' is not a duration": neither said what to give. Nothing is deleted.
    try:
        code = main(["data", "prune", *given])
    except SystemExit as stopped:  # argparse's refusal
        code = stopped.code
    assert code == 2
    err = capsys.readouterr().err
    assert "--older-than 5d" in err and "positive" in err
    assert "Traceback" not in err
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}


@pytest.mark.parametrize("window", ["0d", "0h", "0w", " 0d", "0", "0.0"])
def test_prune_given_no_time_at_all_echoes_the_value_given(ledger_db, capsys, window):
    # `--older-than 0d` was "--older-than must be a positive duration such as 90d", with no word of the 0d given (the
    # check saw seconds), said after the ledger was opened. Nothing is deleted. A bare 0 was told "0 has no unit: give
    # 0d for 0 days", a value refused in its turn.
    assert main(["data", "prune", "--older-than", window]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith(f"--older-than {window} is no time at all: "), message
    assert "positive" in message and "e.g. 90d" in message
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}


def test_prune_as_a_command_of_its_own_names_data_prune(capsys):
    # `magsag prune` (the brief's, a user's guess) was "invalid choice: 'prune'" and the list of commands
    with pytest.raises(SystemExit) as stopped:
        main(["prune", "--older-than", "90d"])
    assert stopped.value.code == 2
    assert "magsag data prune" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("window", "said"),
    [("1y", "1y is about 365d"), ("2 years", "2 years is about 730d"), ("6mo", "6mo is about 180d")],
)
def test_prune_given_years_or_months_says_the_days_meant(ledger_db, capsys, window, said):
    # "'1y' is not a duration: use e.g. 90d" gave no word of what a year is in the units it takes. Nothing is deleted.
    assert main(["data", "prune", "--older-than", window]) == 2
    assert said in capsys.readouterr().err
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}


@pytest.mark.parametrize(
    ("written", "meant"),
    [("7days", "7d"), ("7 days", "7d"), ("2 weeks", "2w"), ("24hours", "24h"), ("30min", "30m"), ("45secs", "45s")],
)
def test_a_duration_whose_unit_is_written_out_is_told_the_letter(ledger_db, capsys, written, meant):
    # `--since "7 days"` and `--older-than 90days`, as people write them, were told only the forms a time takes
    # ("give a duration back from now (30m, 24h, 7d, 2w: ...)"), to be matched against what was written. The
    # refusal says the duration as it is written; nothing is deleted or read.
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger.times import parse_since

    with pytest.raises(InputError) as raised:
        parse_since(written)
    assert f"since={written!r} is not a time: {written} is written {meant}; give a duration" in raised.value.message
    assert main(["data", "prune", "--older-than", written]) == 2
    assert f"{written} is written {meant}; use e.g. 90d" in capsys.readouterr().err
    assert main(["flow", "summarize", "--since", written]) == 2
    assert f"{written} is written {meant};" in capsys.readouterr().err
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}


@pytest.mark.parametrize(
    ("written", "meant"),
    [("-7 days", "7d"), ("7 days ago", "7d"), ("7d ago", "7d"), ("- 2 HRS", "2h"), ("1 wk ago", "1w")],
)
def test_a_duration_given_a_minus_or_an_ago_is_told_the_form_it_takes(ledger_db, capsys, written, meant):
    # `--since "7 days ago"` (as git takes it) or `--since=-7days` was told no more than the forms a time takes, the
    # unit's letter not said once a minus or an "ago" came with it; `--older-than=-7d` alone was told its minus. The
    # form meant is said with both left out; nothing is deleted.
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger.times import parse_since

    said = f"{written} is written {meant} (a duration takes no sign or 'ago'); "
    with pytest.raises(InputError) as raised:
        parse_since(written)
    assert f"since={written!r} is not a time: {said}give a duration" in raised.value.message, raised.value.message
    assert main(["data", "prune", f"--older-than={written}"]) == 2
    assert f"{said}use e.g. 90d" in capsys.readouterr().err
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}


def test_a_since_in_months_says_the_days_meant():
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger.times import parse_since

    with pytest.raises(InputError, match="there is no unit of months: 6mo is about 180d; give a duration"):
        parse_since("6mo")
    with pytest.raises(InputError, match=r"m is minutes \(there is no month"):  # 1M: as before
        parse_since("1M")


def test_a_summary_of_a_pruned_window_says_the_prune_deleted_its_records(ledger_db, capsys):
    """After `data prune --older-than 90d`, a summary of a month before the cutoff read $0, cost_complete true, with
    no word that its calls had been deleted: an operator's month report, or `flow gate`, took it for nothing spent.
    Now the prune leaves its mark, and a read whose window begins before it says what was deleted, and when."""
    old_month = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 121 * 86400))
    assert main(["flow", "summarize", "--since", old_month]) == 0
    before = capsys.readouterr()
    assert json.loads(before.out)["totals"]["calls"] == 3 and "data prune" not in before.err  # never pruned
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    capsys.readouterr()
    for read in (["flow", "summarize", "--since", old_month], ["flow", "summarize"], ["data", "query"]):
        assert main(read) == 0
        err = capsys.readouterr().err
        assert "`magsag data prune` (at " in err and ") deleted the records before " in err, (read, err)
        assert "count only what was recorded since" in err
    assert main(["flow", "summarize", "--since", "30d"]) == 0  # a window the prune took nothing from
    assert "data prune" not in capsys.readouterr().err
    # a longer retention given after it deletes nothing more, and leaves the first prune's mark as it stands
    mark = "SELECT at, event FROM events ORDER BY at LIMIT 1"
    first = sqlite3.connect(ledger_db).execute(mark).fetchone()
    assert first[1] == "ledger_pruned" and time.time() - 120 * 86400 < first[0] < time.time() - 90 * 86400
    assert main(["data", "prune", "--older-than", "365d"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"]["events"] == 0  # the mark is not counted as a record
    assert sqlite3.connect(ledger_db).execute(mark).fetchone() == first


def test_the_latest_prune_mark_is_found_behind_any_number_of_earlier_events(ledger_db, capsys):
    """The latest prune's mark was looked for among the ledger's oldest 256 events: behind more events written with an
    earlier time (a clock set back, a ledger's events copied in) it was not found, and a summary of the pruned window
    said nothing of the records deleted. It is read by itself now, wherever it stands."""
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    capsys.readouterr()
    early = time.time() - 400 * 86400
    with sqlite3.connect(ledger_db) as conn:
        conn.executemany(
            "INSERT INTO events (run_id, agent, at, event, data) VALUES (?, NULL, ?, 'clock_set_back', '{}')",
            [(None if i % 2 else f"r-{i}", early + i) for i in range(600)],
        )
    assert main(["flow", "summarize"]) == 0
    err = capsys.readouterr().err
    assert "`magsag data prune` (at " in err and ") deleted the records before " in err, err


def test_a_prune_told_not_to_vacuum_leaves_the_file_its_size_and_says_how_to_shrink_it(ledger_db, capsys):
    """A prune's vacuum rewrites the whole file holding the ledger's write lock, which every call's record waits
    for (1.7 s for a 300,000-attempt ledger pruned to 37 MB; past the 30 s lock timeout on one of gigabytes, a
    running server's calls fail): --no-vacuum deletes in the short steps alone, and the freed pages are reused."""
    import anyio

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    async def old_calls() -> None:
        async with Ledger(ledger_db) as ledger:
            at = time.time() - 200 * 86400
            for i in range(200):
                run = RunRecord(f"r-old-{i}", "alice", "s", at + i)
                failed = {"error_class": "server_error", "error_message": "upstream said: overloaded " * 40}
                await ledger.record_call(
                    run, [AttemptRecord(run.run_id, at + i, "fake", "echo", "s", "alice", "error", 0, 1, **failed)]
                )

    anyio.run(old_calls)

    def free_pages() -> int:
        conn = sqlite3.connect(ledger_db)
        try:
            return int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        finally:
            conn.close()

    assert main(["data", "prune", "--older-than", "90d", "--no-vacuum"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["deleted"]["attempts"] == 201
    assert "not vacuumed (--no-vacuum)" in err and "run the prune again without --no-vacuum" in err
    assert free_pages() > 0  # deleted, not given back: new records reuse them
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    assert free_pages() == 0 and "not vacuumed" not in capsys.readouterr().err


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_ctrl_c_once_the_prune_is_done_leaves_its_report_whole_and_its_exit_status_0(
    ledger_db, capsys, monkeypatch, when
):
    """Ctrl-C landing as the prune finished, as its report was printed, made it exit 130 (interrupted) with the report
    printed or cut short: a script read a prune that had deleted the records, committed, as one that stopped. Once
    the records are deleted it is too late to stop: the report is printed whole and the prune exits 0."""
    import signal

    from magsag_mcp import signals
    from magsag_mcp.cli import prunes

    printed = prunes.print_json

    def print_json(report, **kwargs):
        if when == "before":
            signal.raise_signal(signal.SIGINT)
        printed(report, **kwargs)
        if when == "after":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(prunes, "print_json", print_json)
    monkeypatch.setattr(signals, "received", None)
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["deleted"] == {"attempts": 1, "runs": 1, "events": 0, "answers": 0}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler put back as it was
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["vacuum", "log", "close"])
def test_a_ctrl_c_in_the_vacuum_or_the_close_after_the_records_are_deleted_reports_them_and_exits_0(
    ledger_db, capsys, monkeypatch, where
):
    """Ctrl-C in the prune's vacuum, or in the ledger's close after it, once every step had deleted its records
    (committed): the prune exited 130 with no report, where a Ctrl-C a moment later (as the report was printed)
    exited 0 with it, and a script read a prune that had deleted the records as one that had not. It reports what
    it deleted and exits 0; a vacuum stopped says the file was not shrunk (``"vacuum": 0``) and why."""
    import signal

    from magsag_mcp import signals
    from magsag_mcp.ledger import prune, store

    if where == "vacuum":

        def stopped_vacuum(conn):
            signal.raise_signal(signal.SIGINT)  # (from the ledger's reader thread: Python runs it in the main one)
            # stopped as SQLite's interrupt stops a VACUUM under way: a tiny ledger's own may end before the interrupt
            # comes, and a vacuum that ended is reported as one (see the test after the next)
            raise sqlite3.OperationalError("interrupted")

        monkeypatch.setattr(prune, "_vacuum", stopped_vacuum)
    elif where == "log":  # the write-ahead log truncated after the vacuum ended
        truncated = prune.truncate_log

        def stopped_truncation(conn):
            signal.raise_signal(signal.SIGINT)
            truncated(conn)

        monkeypatch.setattr(prune, "truncate_log", stopped_truncation)
    else:
        closed = store.Ledger.close

        async def stopped_close(self):
            signal.raise_signal(signal.SIGINT)
            await closed(self)

        monkeypatch.setattr(store.Ledger, "close", stopped_close)
    monkeypatch.setattr(signals, "received", None)
    capsys.readouterr()
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    out, err = capsys.readouterr()
    deleted = json.loads(out)["deleted"]
    assert {k: deleted[k] for k in ("attempts", "runs", "events", "answers")} == {
        "attempts": 1,
        "runs": 1,
        "events": 0,
        "answers": 0,
    }
    if where == "vacuum":
        assert deleted["vacuum"] == 0 and "the vacuum was stopped (Ctrl-C) before it ended" in err, err
    else:
        assert "vacuum" not in deleted and "not shrunk" not in err, err
    assert "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # deleted indeed: a prune run again finds nothing more to delete
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"]["attempts"] == 0


def test_a_ctrl_c_in_the_prune_s_steps_stops_it_with_no_report(ledger_db, capsys, monkeypatch):
    """Stopped before its last step had committed, the prune was stopped part way: exit 130, no report; the step
    under way when the Ctrl-C came commits all the same (its write was begun), the next one is never made."""
    import signal

    import anyio

    from magsag_mcp import signals
    from magsag_mcp.ledger import Ledger, prune
    from magsag_mcp.records import AttemptRecord, RunRecord

    async def older() -> None:  # a second old day: two steps of one day each
        at = time.time() - 150 * 86400
        async with Ledger(ledger_db) as ledger:
            attempt = AttemptRecord("r-older", at, "fake", "echo", "skill.analysis", "alice", "ok", 0, 1)
            await ledger.record_call(RunRecord("r-older", "alice", "skill.analysis", at), [attempt])

    anyio.run(older)
    monkeypatch.setattr(prune, "STEP_ATTEMPTS", 0)  # (a step to the midnight after the oldest attempt)
    stepped = prune._step

    def stopped_step(*args):
        if stopped_step.first:
            stopped_step.first = False
            signal.raise_signal(signal.SIGINT)
        return stepped(*args)

    stopped_step.first = True
    monkeypatch.setattr(prune, "_step", stopped_step)
    monkeypatch.setattr(signals, "received", None)
    capsys.readouterr()
    assert main(["data", "prune", "--older-than", "90d"]) == 130
    assert capsys.readouterr().out == ""
    conn = sqlite3.connect(ledger_db)
    try:
        assert conn.execute("SELECT run_id FROM runs WHERE run_id IN ('r-older', 'r-old')").fetchall() == [("r-old",)]
    finally:
        conn.close()


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_as_the_last_step_commits_reports_what_it_deleted_and_exits_0(ledger_db, capsys, monkeypatch, signum):
    """A Ctrl-C or SIGTERM that lands while the prune's last step is under way: the step commits all the same (its
    write was begun), so its records are deleted; the prune reports them, counted as committed, and exits 0."""
    import signal

    from magsag_mcp import signals
    from magsag_mcp.ledger import prune

    stepped = prune._step

    def stopped_step(*args):
        signal.raise_signal(getattr(signal, signum))  # (from the writer's thread: run in the main one)
        return stepped(*args)

    monkeypatch.setattr(prune, "_step", stopped_step)
    monkeypatch.setattr(signals, "received", None)
    capsys.readouterr()
    assert main(["data", "prune", "--older-than", "90d", "--no-vacuum"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["deleted"] == {"attempts": 1, "runs": 1, "events": 0, "answers": 0}
    assert "Traceback" not in err


def test_a_ctrl_c_once_the_vacuum_has_ended_does_not_say_it_was_stopped(ledger_db, capsys, monkeypatch):
    """A Ctrl-C that lands once the vacuum's statement has ended (the file shrunk) but before the prune saw it end:
    the report said ``"vacuum": 0`` and "the vacuum was stopped before it ended, so the ledger file was not shrunk",
    which was not true."""
    import signal

    from magsag_mcp import signals
    from magsag_mcp.ledger import prune

    vacuumed = prune._vacuum
    ended = threading.Event()

    def vacuum_then_stop(conn, *args):
        vacuumed(conn, *args)
        signal.raise_signal(signal.SIGINT)  # the cancellation reaches the prune before the vacuum's end does
        ended.wait(1)  # (at most 1 s: the main thread's cancellation of the read sets nothing here)

    monkeypatch.setattr(prune, "_vacuum", vacuum_then_stop)
    monkeypatch.setattr(signals, "received", None)
    capsys.readouterr()
    assert main(["data", "prune", "--older-than", "90d"]) == 0
    out, err = capsys.readouterr()
    assert "vacuum" not in json.loads(out)["deleted"]
    assert "not shrunk" not in err, err


@pytest.mark.parametrize(
    ("window", "said"),
    [
        # "'90' is not a duration: use e.g. 90d, 12h, 2w", of no option, and no word that only the unit was missing
        ("90", "--older-than 90 has no unit: give hours, days or weeks, e.g. 90d for 90 days"),
        ("soon", "--older-than: 'soon' is not a duration: use e.g. 90d, 12h, 2w"),
    ],
)
def test_prune_given_no_duration_names_its_option(ledger_db, capsys, window, said):
    assert main(["data", "prune", "--older-than", window]) == 2
    assert json.loads(capsys.readouterr().err)["error"]["message"] == said
    assert main(["data", "query", "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == {"r-priced", "r-unpriced", "r-old"}
