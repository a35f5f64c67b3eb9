"""The ledger commands' --since and --until: the forms read (unix seconds, upper-case units), and the windows refused
or noted (empty, ending before they start, in the future, unreadable), named as the options typed."""

from __future__ import annotations

import json
import time

import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import UsageFilters


def test_unix_seconds_on_the_command_line_are_a_time(ledger_db, capsys):
    # The docs say --since takes unix seconds, but a command line can only give text, and "1764460800"
    # was refused as "not a time" (and, through the API, True was taken for one second after 1970).
    from datetime import UTC, datetime

    week_ago = int(time.time()) - 7 * 86400
    iso = datetime.fromtimestamp(week_ago, UTC).isoformat()
    assert main(["flow", "summarize", "--since", iso]) == 0
    by_iso = json.loads(capsys.readouterr().out)["totals"]
    assert main(["flow", "summarize", "--since", str(week_ago)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == by_iso
    assert main(["data", "query", "--since", f"{week_ago}.5", "--format", "json"]) == 0
    capsys.readouterr()
    with pytest.raises(InputError, match="since=True is not a time"):
        UsageFilters.build({"since": True})


@pytest.mark.parametrize(
    "window",
    [
        ["--since", "2025-11-30", "--until", "2025-11-01"],  # the two dates swapped
        ["--since", "2025-11-01", "--until", "2025-11-01"],  # "that day", but until is exclusive
        ["--since", "1d", "--until", "2d"],  # until two days ago, since one day ago
    ],
)
def test_an_empty_time_window_is_refused_not_summarized_as_no_spend(ledger_db, tmp_path, capsys, window):
    """A window that ends before it starts selects nothing: `flow summarize` wrote a summary of $0, and
    `flow gate` passed it whatever the policy's limits. It is bad input, saying how to write the window."""
    summary = tmp_path / "s.json"
    assert main(["flow", "summarize", *window, "--output", str(summary)]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    # the options named as typed (changed on purpose: it said "since=... is not before until=...")
    assert "is not before --until=" in message and "--until is exclusive" in message
    assert "--since 2025-11-01 --until 2025-11-02" in message
    assert not summary.exists()
    assert main(["data", "query", *window]) == 2
    assert "is not before --until=" in capsys.readouterr().err
    with pytest.raises(InputError, match="is not before until"):
        UsageFilters.build({"since": 1762041600, "until": 1762041600.0})
    UsageFilters.build({"since": "2d", "until": "1d"})  # the other way round is a window
    UsageFilters.build({"since": 1762041600, "until": 1762041600.5})


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query", "--since", ""],
        ["data", "query", "--format", "csv", "--until", ""],
        ["flow", "summarize", "--since", ""],
        ["data", "search", "overloaded", "--since", ""],
    ],
)
def test_an_empty_time_bound_is_refused_not_read_as_no_bound(ledger_db, capsys, argv):
    """`--since "$START"` with START unset gave --since an empty value, which was read as no bound at all: a
    report of the last day summarized (or exported) everything ever recorded, without a word. An empty
    value is refused, as an empty --db is, naming the likely cause."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "is empty" in err and "unset shell variable" in err, err


@pytest.mark.parametrize(("since", "until"), [("1h", "2h"), ("2026-03-02", "2026-03-01")])
def test_a_time_range_that_ends_before_it_starts_is_refused(ledger_db, capsys, since, until):
    # `--since 1h --until 2h` (from an hour ago to two hours ago) selected nothing and reported zero spend,
    # as if nothing had been spent
    assert main(["flow", "summarize", "--since", since, "--until", until]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    # named as the options typed, as a time that cannot be read is (it said since= and until=: changed on purpose)
    assert message.startswith(f"invalid filters: --since={since!r} (")
    assert f"is not before --until={until!r} (" in message
    assert "--until is exclusive and must come after --since" in message


def test_a_since_in_the_future_is_noted_on_stderr(ledger_db, capsys):
    assert main(["flow", "summarize", "--since", "2062-11-01"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["totals"]["calls"] == 0
    assert err == (
        "note: since '2062-11-01' (2062-11-01T00:00:00+00:00) is in the future, so nothing recorded can match;"
        " check the date, or give a past one (e.g. 2025-11-01) or a span back from now (24h, 7d)\n"
    )


def test_a_search_since_in_the_future_is_noted_on_stderr_as_a_query_notes_it(ledger_db, capsys):
    # `data search shard --since 2062-11-01` printed [] and nothing else: "no such error" where the year was
    # mistyped, while `data query` and `flow summarize` said the since lay ahead
    assert main(["data", "search", "shard", "--since", "2062-11-01"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == []
    assert err == (
        "note: since '2062-11-01' (2062-11-01T00:00:00+00:00) is in the future, so nothing recorded can match;"
        " check the date, or give a past one (e.g. 2025-11-01) or a span back from now (24h, 7d)\n"
    )
    assert main(["data", "search", "shard", "--since", "7d"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1 and err == ""


@pytest.mark.parametrize(
    ("argv", "flag", "written"),
    [
        (["data", "query", "--since", "yesterday"], "--since", "yesterday"),
        (["data", "query", "--format", "json", "--until", "3M"], "--until", "3M"),
        (["flow", "summarize", "--since", "last week"], "--since", "last week"),
        (["data", "search", "x", "--since", "7x"], "--since", "7x"),
    ],
)
def test_a_time_option_that_cannot_be_read_is_named_as_the_option(ledger_db, capsys, argv, flag, written):
    # `--since 7D` was refused with "since='7D' is not a time", the library's argument, not the option typed
    assert main(argv) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith(f"{flag}={written!r} is not a time: "), message


def test_a_duration_in_upper_case_is_read_by_the_commands(ledger_db, capsys):
    # 7D means 7d: read, not refused (3M, a minute or a month, is refused above)
    assert main(["flow", "summarize", "--since", "7D"]) == 0
    upper = json.loads(capsys.readouterr().out)["totals"]
    assert main(["flow", "summarize", "--since", "7d"]) == 0
    assert upper == json.loads(capsys.readouterr().out)["totals"]
    assert main(["data", "query", "--since", "24H", "--format", "json"]) == 0
    assert main(["data", "search", "alice", "--since", "2W"]) == 0
