"""query_runs and its pages: filters, offsets and cursors (a window given as a duration read once), the attempts
listed per run, and the CSV export of what it returns."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.cli.data import CSV_FIELDS, runs_to_csv
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


async def test_query_runs_filters_and_csv_round_trip(tmp_path: Path):
    svc = await Service.open(db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"})
    for i in range(6):
        mc = {"model": "fake:fail-server_error" if i == 5 else f"fake:m{i % 2}"}
        try:
            await svc.invoke_skill(
                "skill.analysis",
                {"data": f'd{i}, with "quotes"\nand a newline', "model_config": mc},
                agent="csv-agent" if i % 2 else "other",
                run_id=f"run-{i}",
            )
        except Exception:
            pass
    runs = await svc.query_runs(UsageFilters(agent="csv-agent"))
    assert [r["run_id"] for r in runs] == ["run-5", "run-3", "run-1"]  # newest first
    assert runs[0]["status"] == "error" and runs[0]["attempts"][0]["error_class"] == "server_error"
    only_m1 = await svc.query_runs(UsageFilters(model="m1"))
    assert {r["run_id"] for r in only_m1} == {"run-1", "run-3"}
    page = await svc.query_runs(UsageFilters(limit=2, offset=1))
    assert [r["run_id"] for r in page] == ["run-4", "run-3"]
    all_runs = await svc.query_runs(UsageFilters())
    await svc.aclose()

    text = runs_to_csv(all_runs)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_FIELDS)
    flat = [(r["run_id"], a) for r in all_runs for a in r["attempts"]]
    assert len(rows) == len(flat)
    for row, (run_id, attempt) in zip(rows, flat, strict=True):
        assert row["run_id"] == run_id
        for key in ("model", "outcome", "input_tokens", "output_tokens", "cost_usd", "error_message"):
            value = attempt[key]
            assert row[key] == ("" if value is None else str(value))
    # a session's run spans skills (its own skill is null): each row names its attempt's skill
    svc = await Service.open(db=tmp_path / "s.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"})
    for skill, payload in (("skill.analysis", {"data": "x"}), ("skill.summarization", {"text": "y"})):
        await svc.invoke_skill(skill, {**payload, "model_config": {"model": "fake:m0"}}, agent="s", run_id="sess")
    [session] = await svc.query_runs(UsageFilters(run_id="sess"))
    await svc.aclose()
    assert session["skill"] is None
    rows = list(csv.DictReader(io.StringIO(runs_to_csv([session]))))
    assert [(r["skill"], r["agent"]) for r in rows] == [("skill.analysis", "s"), ("skill.summarization", "s")]
    # a run that failed before any attempt gets one row, which says why
    lone = {"run_id": "r-x", "agent": None, "skill": "s", "status": "error", "attempts": []}
    lone["error"] = {"type": "invalid_payload", "message": "s: payload is missing field 'data'"}
    [row] = list(csv.DictReader(io.StringIO(runs_to_csv([lone]))))
    assert (row["run_status"], row["error_class"], row["error_message"], row["model"]) == (
        "error",
        "invalid_payload",
        "s: payload is missing field 'data'",
        "",
    )


@pytest.mark.parametrize("most", [-1, -5, 1.5, True, "2"])
async def test_attempts_per_run_that_is_no_count_is_refused_not_read_as_sqlites_limit(tmp_path: Path, most):
    # Service.query_runs_page(filters, attempts_per_run) from Python: -1 listed no attempt and said 4 were omitted
    # of a run of 3, -5 listed 2 and said 8, 1.5 was "ledger error: datatype mismatch", True listed one
    now = time.time()
    run = RunRecord("r", "ag", "s", now, ended_at=now, status="ok")
    attempts = [
        AttemptRecord("r", now + i, "openai", "gpt-4o", "s", "ag", "ok", 5, 1, cost_usd=Decimal(0)) for i in range(3)
    ]
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(run, attempts)
        refused = rf"^attempts_per_run must be a whole number .* got {re.escape(repr(most))}$"
        with pytest.raises(InputError, match=refused):
            await ledger.query_runs_page({}, most)
        counted = {n: (await ledger.query_runs_page({}, n))["runs"][0] for n in (0, 2, 3, None)}
    assert {n: (len(r["attempts"]), r.get("attempts_omitted")) for n, r in counted.items()} == {
        0: (0, 3), 2: (2, 1), 3: (3, 0), None: (3, None)
    }


async def test_pages_of_a_window_given_as_a_duration_keep_the_start_the_first_page_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # query_runs(since="5h") page by page, or `data query --since 5h --cursor C`: each page read "5h" again, from
    # its own now, so a page read half an hour after the first began half an hour later, and the runs (search hits)
    # that had aged past that start meanwhile were on no page, though the first page's window held them. The
    # cursor now carries the start the first page read; an export of every page reads its window once already.
    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        for i in range(5):
            t = now - 3600 * i - 60  # the oldest 4 h 1 min ago: inside "5h" at first, outside it 60 minutes later
            run = RunRecord(f"r{i}", "ag", "s", t, ended_at=t, status="ok")
            attempt = AttemptRecord(f"r{i}", t, "openai", "gpt-4o", "s", "ag", "ok", 5, 1, cost_usd=Decimal(0))
            await ledger.record_call(run, [attempt])
        first = await ledger.query_runs_page({"since": "5h", "limit": 2})
        hits = await ledger.search_page("gpt", 2, "5h")
        monkeypatch.setattr(time, "time", lambda: now + 3600)  # the next pages, an hour later
        runs, found = [first], [hits]
        while runs[-1]["has_more"]:
            runs.append(await ledger.query_runs_page({"since": "5h", "limit": 2, "cursor": runs[-1]["next_cursor"]}))
        while found[-1]["has_more"]:
            found.append(await ledger.search_page("gpt", 2, "5h", found[-1]["next_cursor"]))
        assert [r["run_id"] for page in runs for r in page["runs"]] == ["r0", "r1", "r2", "r3", "r4"]
        assert [h["run_id"] for page in found for h in page["hits"]] == ["r0", "r1", "r2", "r3", "r4"]
        # a window other than the cursor's is the one read: the cursor names a place, the filter the window
        other = await ledger.query_runs_page({"since": "4h", "limit": 2, "cursor": first["next_cursor"]})
        assert [r["run_id"] for r in other["runs"]] == ["r2"]
        # and from a first page read now, "5h" is five hours back from now
        assert [r["run_id"] for r in (await ledger.query_runs_page({"since": "5h", "limit": 10}))["runs"]] == [
            "r0", "r1", "r2", "r3"
        ]  # fmt: skip


@pytest.mark.parametrize("seconds", [1e300, "1", None, [1]])
async def test_a_crafted_cursor_carrying_a_start_no_page_read_is_refused_as_any_other(tmp_path: Path, seconds):
    import base64

    cursor = base64.urlsafe_b64encode(json.dumps([1.0, "r", "24h", seconds]).encode()).decode().rstrip("=")
    hit = base64.urlsafe_b64encode(json.dumps([1.0, 0, 1, "24h", seconds]).encode()).decode().rstrip("=")
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError, match="is not one query_runs gave: pass the previous page's next_cursor"):
            await ledger.query_runs_page({"since": "24h", "cursor": cursor})
        with pytest.raises(InputError, match="is not a next_cursor of a search's pages"):
            await ledger.search_page("x", 5, "24h", hit)
