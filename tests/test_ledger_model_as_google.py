"""A model filter written as Gemini's resource name with no provider (``--model models/gemini-1.5-pro``) is read as
the model it names, as a call naming it goes to Google (20bbf9c): another provider's calls recorded under the name
as written (a gateway's ``models/...``) are not counted, which a note now says, with the filter that reads them."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

RESOURCE, BARE = "models/gemini-1.5-pro", "gemini-1.5-pro"
NOTE = (
    "note: model 'models/gemini-1.5-pro' is read as 'gemini-1.5-pro', the model Google's resource name names (a call "
    "naming it goes to Google); compat recorded calls under 'models/gemini-1.5-pro' as written, which are not counted: "
    "add --provider compat (an MCP tool's filters.provider) to read those"
)


def fill(db: Path, calls: list[tuple[str, str, str]]) -> None:
    now = time.time()

    async def write() -> None:
        async with Ledger(db) as ledger:
            for run_id, provider, model in calls:
                run = RunRecord(run_id, "ag", "skill.analysis", now)
                run.status = "ok"
                attempt = AttemptRecord(
                    run_id, now, provider, model, "skill.analysis", "ag", "ok", 0, 1,
                    input_tokens=10, output_tokens=1, cost_usd=Decimal("0.01"),
                )  # fmt: skip
                await ledger.record_call(run, [attempt])

    anyio.run(write)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "gemini.db"
    monkeypatch.setenv("MAGSAG_DB", str(path))
    return path


def test_a_resource_name_filter_notes_the_other_providers_calls_it_leaves_out(db, capsys):
    # Before: Google's call counted, the gateway's recorded under the very name written left out, and nothing said
    fill(db, [("r1", "google", BARE), ("r2", "compat", RESOURCE)])
    from magsag_mcp.cli import main

    assert main(["flow", "summarize", "--model", RESOURCE]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["totals"]["calls"] == 1 and list(summary["model_stats"]) == [BARE]
    assert NOTE in out.err.splitlines()  # with the filter that reads those calls
    assert main(["data", "query", "--model", RESOURCE]) == 0
    assert NOTE in capsys.readouterr().err.splitlines()
    # what the note says to add reads them, and says nothing more
    assert main(["flow", "summarize", "--model", RESOURCE, "--provider", "compat"]) == 0
    out = capsys.readouterr()
    assert "note:" not in out.err and '"models/gemini-1.5-pro"' in out.out


def test_with_nothing_else_matched_the_note_is_that_one_not_an_unrecorded_model(db, capsys):
    # a ledger whose only such calls are the gateway's: the read matched nothing, and the note said "no call ... for
    # model 'gemini-1.5-pro'; its models: models/gemini-1.5-pro", a name the caller had written
    fill(db, [("r1", "compat", RESOURCE)])
    from magsag_mcp.cli import main

    assert main(["flow", "summarize", "--model", RESOURCE]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [NOTE], err


def test_no_note_where_only_google_recorded_the_model_or_a_provider_is_given(db, capsys):
    fill(db, [("r1", "google", BARE), ("r2", "compat", BARE)])
    from magsag_mcp.cli import main

    for args in (["--model", RESOURCE], ["--model", RESOURCE, "--provider", "google"], ["--model", BARE]):
        assert main(["flow", "summarize", *args]) == 0
        assert "note:" not in capsys.readouterr().err, args


def test_the_filter_keeps_the_name_as_written_only_where_it_read_it_as_googles():
    assert UsageFilters(model=RESOURCE).model_read_as_google == RESOURCE
    assert UsageFilters(model=RESOURCE).model_copy(update={"since": "1d"}).model_read_as_google == RESOURCE
    for filters in (
        UsageFilters(model=RESOURCE, provider="google"),
        UsageFilters(model=f"google:{RESOURCE}"),
        UsageFilters(model=RESOURCE, provider="compat"),
        UsageFilters(model=BARE),
    ):
        assert filters.model_read_as_google is None, filters
