"""`magsag data query --format csv|json`, the guide's compliance export: every row whole, every page read.

A CSV record per attempt, whatever text its cells hold. Python's csv writer quotes a cell holding a character
of its line terminator: with ``"\n"`` it left a bare carriage return unquoted, and a CSV reader (Python's, a
spreadsheet's) takes a bare ``\r`` for the end of a record. A run id or agent name (chosen by the MCP client
or the caller) or a vendor's error text holding one split its row in two: the audit export then held rows no
call made, with whatever text came after it.
"""

from __future__ import annotations

import csv
import io
import json
import time
import types
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.cli.data import csv_pieces
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
FORGED = "r-forged,mallory,skill.x,ok,2025-01-01T00:00:00+00:00,openai,gpt-4o,ok"


def test_a_carriage_return_in_a_cell_stays_in_its_cell(tmp_path: Path, monkeypatch, capsys):
    db = tmp_path / "cr.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()
    run_id, agent, error = f"r-1\r{FORGED}", "ana\rbob", "upstream\rsaid no\r\nretry\n"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            attempt = AttemptRecord(
                run_id, now, "openai", "gpt-4o", "skill.analysis", agent, "error", 0, 1, error_message=error
            )
            await ledger.record_call(RunRecord(run_id, agent, "skill.analysis", now), [attempt])

    anyio.run(fill)
    assert main(["data", "query", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["run_id"], r["agent"], r["error_message"]) for r in rows] == [(run_id, agent, error)]
    assert out.startswith("run_id,") and "server_tool_uses\nr-1" not in out
    header = ",warnings,served_model,data_classes,endpoint,output_image_tokens,inference_geo,server_tool_uses"
    counts = ",cache_write_ttl_unsaid_tokens,cache_write_split_past_tokens"
    assert header + counts + ",paused_id,continues_paused_id\n" in out
    # records end with "\n", as before (warnings, served_model, data_classes: [] for a call of none, the endpoint:
    # empty for an OpenAI attempt, then the parts of a bill: empty, as the answer said none; then 0033's cache writes
    # of a time to live unsaid: 0; and 0036's cache writes a split counted past its total: 0; then 0037's paused turn's
    # ids, last: empty, the turn not paused)
    assert out.endswith(",[],,[],,,,,0,0,,\n") and not out.endswith("\r\n")


def test_rows_without_a_carriage_return_are_written_as_before():
    run = {"run_id": "r", "agent": "a", "skill": "s", "status": "ok", "started_at": "t", "attempts": []}
    text = "".join(csv_pieces([run, {**run, "run_id": 'r "2", with\nnewline'}]))
    lines = text.split("\n")
    assert lines[0].startswith("run_id,agent,skill,run_status,time,") and "\r" not in text
    # (warnings, then served_model, empty, then data_classes, then the endpoint, the parts of a bill and 0033's and
    # 0036's counts, and 0037's paused turn's ids, empty)
    assert lines[1] == "r,a,s,ok,t" + "," * 23 + "[],,[],,,,,,,,"
    assert text.endswith('"r ""2"", with\nnewline",a,s,ok,t' + "," * 23 + "[],,[],,,,,,,,\n")


def _runs_begun_hours_ago(db: Path, now: float, hours_ago: tuple[float, ...]) -> None:
    """A run ``r-{hours}h`` of one call, begun that many hours before ``now``, for each of ``hours_ago``."""

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for hours in hours_ago:
                run = RunRecord(f"r-{hours}h", "ana", "skill.analysis", now - hours * 3600)
                attempt = AttemptRecord(run.run_id, run.started_at, "fake", "echo", run.skill, "ana", "ok", 0, 1)
                await ledger.record_call(run, [attempt])

    anyio.run(fill)


def _set_clock(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], float]) -> None:
    """The time a time window is read at: parse_since reads the clock in times.py, the window check in filters.py."""
    from magsag_mcp.ledger import filters, times

    for module in (filters, times):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(time=clock))


def test_a_paged_export_reads_every_page_over_the_window_it_began_with(tmp_path: Path, monkeypatch, capsys):
    """`data query --since 7d --format csv` (no --limit) reads its runs a page at a time, newest first. The
    window's start was worked out again for each page, from the time then: the last pages, which hold the
    oldest runs, began later, and an export that took minutes left out the runs of its window's first
    minutes, which no other page held. (Here each page takes an hour.)"""
    from magsag_mcp.cli import data

    db = tmp_path / "paged.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    _runs_begun_hours_ago(db, now, (1, 2, 3, 4))
    hours_later = [0]
    _set_clock(monkeypatch, lambda: now + 3600 * hours_later[0])
    page = Ledger.query_runs_page

    async def an_hour_a_page(self: Ledger, *args: object, **kwargs: object) -> dict:
        try:
            return await page(self, *args, **kwargs)
        finally:
            hours_later[0] += 1

    monkeypatch.setattr(Ledger, "query_runs_page", an_hour_a_page)
    monkeypatch.setattr(data, "EXPORT_PAGE", 1)
    assert main(["data", "query", "--format", "csv", "--since", "5h"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run_id"] for r in rows] == ["r-1h", "r-2h", "r-3h", "r-4h"]


def test_a_run_of_many_attempts_is_exported_a_piece_at_a_time_as_it_is_written_whole(
    tmp_path: Path, monkeypatch, capsys
):
    """Every call of a long-lived Magsag is one run, of hundreds of thousands of attempts: an export read each
    run whole with its page of runs, and one of 300,000 attempts took 820 MB (a million, more than the machine
    had). Such a run's attempts are now read after it, a few thousand at a time, and written the same."""
    from magsag_mcp.cli import exports

    db = tmp_path / "session.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for run_id, calls in (("r-short", 1), ("r-session", 7), ("r-none", 0), ("r-two", 2)):
                run = RunRecord(run_id, "ana", "skill.analysis", now)
                attempts = [
                    # started in another order than recorded: the export lists them by time, as a run does
                    AttemptRecord(run_id, now + (i * 7) % 5 + i / 10, "fake", f"m{i}", run.skill, "ana", "ok", 0, 1)
                    for i in range(calls)
                ]
                await ledger.record_call(run, attempts)

    anyio.run(fill)
    whole = {}
    for fmt in ("csv", "json"):
        assert main(["data", "query", "--format", fmt, "--limit", "10000"]) == 0
        whole[fmt] = capsys.readouterr().out
    read: list[int] = []
    by_id = Ledger.attempts_by_id

    async def counted(self: Ledger, ids: list[int]) -> list[dict]:
        read.append(len(ids))
        return await by_id(self, ids)

    monkeypatch.setattr(Ledger, "attempts_by_id", counted)
    monkeypatch.setattr(exports, "INLINE_ATTEMPTS", 2)
    monkeypatch.setattr(exports, "ATTEMPTS_READ", 3)
    for fmt in ("csv", "json"):
        read.clear()
        assert main(["data", "query", "--format", fmt]) == 0
        assert capsys.readouterr().out == whole[fmt]
        assert read == [3, 3, 1]  # r-session's 7, three at a time; the others came with their page
    runs = json.loads(whole["json"])
    session = next(r for r in runs if r["run_id"] == "r-session")
    assert [a["model"] for a in session["attempts"]] == [f"m{i}" for i in (0, 5, 3, 1, 6, 4, 2)]


def test_a_page_of_an_export_reads_a_run_of_many_attempts_a_piece_at_a_time_too(tmp_path: Path, monkeypatch, capsys):
    """`data query --format json|csv --limit N` (a page of an export, as the note on more runs says to page on with
    --cursor) read each run of its page whole with it, as the export without --limit no longer does: a page
    holding a long-lived Magsag's run of hundreds of thousands of attempts took the memory the export was made
    not to. A page is now written as the export writes its pages, with the same text, and the same note."""
    from magsag_mcp.cli import exports

    db = tmp_path / "session.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for i, (run_id, calls) in enumerate((("r-old", 1), ("r-session", 7), ("r-new", 1))):
                run = RunRecord(run_id, "ana", "skill.analysis", now + i)
                attempts = [
                    AttemptRecord(run_id, now + i + k / 10, "fake", f"m{k}", run.skill, "ana", "ok", 0, 1)
                    for k in range(calls)
                ]
                await ledger.record_call(run, attempts)

    anyio.run(fill)
    whole = {}
    for fmt in ("csv", "json"):
        assert main(["data", "query", "--format", fmt, "--limit", "2"]) == 0
        whole[fmt] = capsys.readouterr()
    read: list[int] = []
    by_id = Ledger.attempts_by_id

    async def counted(self: Ledger, ids: list[int]) -> list[dict]:
        read.append(len(ids))
        return await by_id(self, ids)

    monkeypatch.setattr(Ledger, "attempts_by_id", counted)
    monkeypatch.setattr(exports, "INLINE_ATTEMPTS", 2)
    monkeypatch.setattr(exports, "ATTEMPTS_READ", 3)
    for fmt in ("csv", "json"):
        read.clear()
        assert main(["data", "query", "--format", fmt, "--limit", "2"]) == 0
        out, err = capsys.readouterr()
        assert (out, err) == whole[fmt]
        assert read == [3, 3, 1]  # r-session's 7, three at a time
        assert "2 runs shown (newest first) and more match; the next ones: --cursor " in err
    runs = json.loads(whole["json"].out)
    assert [r["run_id"] for r in runs] == ["r-new", "r-session"] and len(runs[1]["attempts"]) == 7


def test_an_export_whose_first_page_cannot_be_read_writes_nothing(tmp_path: Path, monkeypatch, capsys):
    db = tmp_path / "l.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))

    async def fill() -> None:
        async with Ledger(db) as ledger:
            await ledger.log_event(None, None, "opened", {})

    anyio.run(fill)
    assert main(["data", "query", "--format", "csv", "--cursor", "not-a-cursor"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--cursor 'not-a-cursor' is not one `magsag data query` gave" in err


def _a_long_lived_run_and_todays_runs(db: Path, now: float) -> None:
    """A run begun three days ago (a long-lived ``Magsag``'s, a reused ``--run-id``) with one call then and
    one a minute ago, and three runs begun within the last hour."""

    async def fill() -> None:
        async with Ledger(db) as ledger:
            begun = now - 3 * 86400
            for at in (begun, now - 60):
                run = RunRecord("r-session", "svc", "skill.analysis", begun, ended_at=at + 1, status="ok")
                attempt = AttemptRecord("r-session", at, "openai", "gpt-4o", run.skill, "svc", "ok", 0, 1)
                await ledger.record_call(run, [attempt])
            for i in range(3):
                run = RunRecord(f"r-today-{i}", "svc", "skill.analysis", now - 3000 + i, status="ok")
                attempt = AttemptRecord(run.run_id, now - 3000 + i, "openai", "gpt-4o", run.skill, "svc", "ok", 0, 1)
                await ledger.record_call(run, [attempt])

    anyio.run(fill)


def test_a_time_window_selects_a_run_begun_before_it_that_made_calls_within_it(tmp_path: Path, monkeypatch, capsys):
    # `data query --since 24h` selected runs by when they began: a long-lived run's calls of the last day were
    # in `flow summarize --since 24h` (its attempts) and in no export of that day, nor in the table
    db = tmp_path / "window.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    _a_long_lived_run_and_todays_runs(db, time.time())
    everything = ["r-today-2", "r-today-1", "r-today-0", "r-session"]
    assert main(["data", "query", "--since", "24h", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(dict.fromkeys(r["run_id"] for r in rows)) == everything
    assert main(["data", "query", "--since", "24h", "--format", "json", "--agent", "svc"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == everything
    assert main(["data", "query", "--since", "24h"]) == 0
    assert "r-session" in capsys.readouterr().out
    # a window that ends before its call of a minute ago, and after the one of three days ago: not selected
    assert main(["data", "query", "--since", "2d", "--until", "1h", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_pages_of_a_time_window_go_on_to_the_runs_begun_before_it(tmp_path: Path, monkeypatch, capsys):
    # newest first: the runs begun within the window, then those begun before it that called within it, each
    # once, whether the pages are read by --cursor or by --offset
    db = tmp_path / "pages.db"
    _a_long_lived_run_and_todays_runs(db, time.time())

    async def pages(**how: object) -> list[list[str]]:
        out: list[list[str]] = []
        async with Ledger(db) as ledger:
            cursor, offset = None, 0
            while True:
                filters = {"since": "24h", "limit": 2, "cursor": cursor, "offset": offset}
                page = await ledger.query_runs_page({k: v for k, v in filters.items() if v is not None})
                out.append([r["run_id"] for r in page["runs"]])
                if not page["has_more"]:
                    return out
                if how.get("by") == "cursor":
                    cursor = page["next_cursor"]
                else:
                    offset += 2

    expected = [["r-today-2", "r-today-1"], ["r-today-0", "r-session"]]
    assert anyio.run(lambda: pages(by="cursor")) == expected
    assert anyio.run(lambda: pages(by="offset")) == expected

    async def past_the_window_runs() -> list[str]:
        async with Ledger(db) as ledger:
            page = await ledger.query_runs_page({"since": "24h", "offset": 3})
            return [r["run_id"] for r in page["runs"]]

    assert anyio.run(past_the_window_runs) == ["r-session"]


def test_an_export_is_read_from_python_as_the_cli_reads_it(tmp_path: Path):
    """The export's reading (pages by cursor, a window resolved once, a run of many attempts read a piece at a
    time) is the ledger's, not the CLI's: a Python caller reads the same runs, with every attempt, as
    ``query_runs_page`` lists them on one page."""
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger import UsageFilters
    from magsag_mcp.ledger.exports import LongRun, RunsExport

    db = tmp_path / "python.db"
    now = time.time()

    async def go() -> None:
        async with Ledger(db) as ledger:
            for i, calls in enumerate((1, 5, 0, 2, 4)):
                run = RunRecord(f"r-{i}", "ana", "skill.analysis", now - i)
                attempts = [
                    AttemptRecord(run.run_id, now - i + k / 10, "fake", f"m{k}", run.skill, "ana", "ok", 0, 1)
                    for k in range(calls)
                ]
                await ledger.record_call(run, attempts)
            whole = (await ledger.query_runs_page(UsageFilters(limit=100)))["runs"]

            export = RunsExport(UsageFilters(limit=2, since="1h"))
            pages: list[list[dict | LongRun]] = [page async for page in export.pages(ledger, inline=3, piece=2)]
            assert [len(page) for page in pages] == [2, 2, 1]
            read, pieces = [], []
            for page in pages:
                for run in page:
                    if isinstance(run, LongRun):
                        got = [piece async for piece in run.attempt_pieces()]
                        pieces.append([len(piece) for piece in got])
                        run = {**run.run, "attempts": [a for piece in got for a in piece]}
                    read.append(run)
            assert read == whole
            assert pieces == [[2, 2, 1], [2, 2]]  # r-1's five attempts and r-4's four, two at a time
            assert not export.has_more and export.next_cursor is None

            first = RunsExport(UsageFilters(limit=2), all_pages=False)
            assert [[r["run_id"] for r in page] async for page in first.pages(ledger)] == [["r-0", "r-1"]]
            assert first.has_more and first.next_cursor is not None

    anyio.run(go)
    with pytest.raises(InputError, match="since"):  # refused as it is made, before any ledger is opened
        RunsExport(UsageFilters(since="yesterday-ish"))


def test_a_long_runs_attempts_pruned_while_it_is_exported_leave_its_one_row_in_the_csv(tmp_path: Path):
    """A run of many attempts is written a piece at a time; a prune between the reading of its attempt ids and of
    the attempts leaves each piece empty, and each empty piece was written as a row of the run with no attempt: the
    CSV held the run three times, rows no attempt made, where a run pruned whole is its one row."""
    from magsag_mcp.cli.exports import _in_pieces
    from magsag_mcp.ledger import UsageFilters
    from magsag_mcp.ledger.exports import LongRun

    db = tmp_path / "pruned.db"
    now = time.time()

    class PrunedOnceTheIdsAreRead:
        """The ledger, and a prune of the run's attempts made as another process would, right after its ids are
        read (the one moment it changes the export)."""

        def __init__(self, ledger: Ledger) -> None:
            self.ledger = ledger

        async def run_attempt_ids(self, run_id: str, bound: int) -> list[int]:
            ids = await self.ledger.run_attempt_ids(run_id, bound)
            await self.ledger.submit(lambda conn: conn.execute("DELETE FROM attempts WHERE run_id = ?", (run_id,)))
            return ids

        async def attempts_by_id(self, ids: list[int]) -> list[dict]:
            return await self.ledger.attempts_by_id(ids)

    async def go() -> str:
        async with Ledger(db) as ledger:
            run = RunRecord("r-long", "ana", "skill.analysis", now)
            attempts = [
                AttemptRecord(run.run_id, now + k / 10, "fake", "m", run.skill, "ana", "error", 0, k + 1)
                for k in range(5)
            ]
            await ledger.record_call(run, attempts)
            page = await ledger.query_runs_page(UsageFilters(limit=10), inline=3)
            [listed] = page["runs"]
            assert listed.pop("attempts_omitted", None) is not None
            long = LongRun(listed, PrunedOnceTheIdsAreRead(ledger), page["attempt_bound"], piece=2)
            out = io.StringIO()
            await _in_pieces(long, False, out, first=True)
            return out.getvalue()

    rows = list(csv.DictReader(io.StringIO("".join(csv_pieces([])) + anyio.run(go))))
    assert [(r["run_id"], r["provider"], r["outcome"]) for r in rows] == [("r-long", "", "")]


def test_the_cursor_a_page_cut_at_limit_names_keeps_the_window_a_duration_gave_it(tmp_path: Path, monkeypatch, capsys):
    """`data query --since 5h --limit 2` names the --cursor of the next page; the same command with it, run an hour
    later, read "5h" from then: the window began an hour later, and its oldest run, inside the first page's window,
    was on neither page. The cursor now carries the start the first page read (the table's and the export's)."""
    import re

    db = tmp_path / "window.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    _runs_begun_hours_ago(db, now, (1, 2, 3, 4.5))
    for form in (["--format", "csv"], ["--format", "table"]):
        _set_clock(monkeypatch, lambda: now)
        assert main(["data", "query", "--since", "5h", "--limit", "2", *form]) == 0
        first = capsys.readouterr()
        cursor = re.search(r"--cursor (\S+)", first.err).group(1)
        _set_clock(monkeypatch, lambda: now + 3600)  # an hour later
        assert main(["data", "query", "--since", "5h", "--limit", "2", "--cursor", cursor, *form]) == 0
        second = capsys.readouterr().out
        shown = re.findall(r"r-[\d.]+h", first.out + second)
        assert shown == ["r-1h", "r-2h", "r-3h", "r-4.5h"], (form, first.out, second)
