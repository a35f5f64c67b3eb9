"""`--loop`: every benchmark scenario runs on the event loop asked for, says which it ran on, and each path is
compared only with its floor on that same loop (a path on uvloop over a floor on asyncio would count the loop's
own saving as ours)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import fast_upstream, scenarios
from benchmarks.instructions import render as render_counts
from benchmarks.instructions import row_key
from benchmarks.run import render as render_table

ROOT = Path(__file__).resolve().parent.parent


def _scenario(url: str, loop: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.scenarios", "floor", "--upstream", url, "--calls", "3", "--warmup", "1"]
        + ["--loop", loop],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_scenario_runs_on_the_loop_asked_for_and_says_the_one_it_ran_on(loop: str):
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    with fast_upstream.upstream_process() as (_, url):
        done = _scenario(url, loop)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # read from the running loop's own type, not echoed from the option
    assert result["loop"] == loop
    assert result["calls"] == 3


def test_the_running_loop_is_read_from_the_loop_itself():
    uvloop = pytest.importorskip("uvloop")
    import asyncio

    async def which() -> str:
        return scenarios.running_loop()

    assert asyncio.run(which()) == "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(which()) == "uvloop"


def test_uvloop_asked_for_where_it_is_not_installed_is_said_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # (an import of it then raises ImportError)
    with pytest.raises(SystemExit, match=r"--loop uvloop: uvloop is not installed here \(pip install uvloop\)"):
        scenarios.loop_factory("uvloop")
    assert scenarios.loop_factory("asyncio") is None  # asyncio's own, as asyncio.run makes


def test_instruction_rows_keep_their_old_names_on_asyncio_alone_and_name_the_loop_otherwise():
    assert row_key("full", "asyncio", ["asyncio"]) == "full"
    assert row_key("full", "uvloop", ["uvloop"]) == "full@uvloop"
    assert row_key("full", "asyncio", ["asyncio", "uvloop"]) == "full@asyncio"


def test_each_count_is_over_its_floor_on_the_same_loop():
    rows = {
        "floor@asyncio": {"loop": "asyncio", "instructions": 500_000, "sql_instructions": 0},
        "floor@uvloop": {"loop": "uvloop", "instructions": 400_000, "sql_instructions": 0},
        "full@asyncio": {"loop": "asyncio", "instructions": 1_500_000, "sql_instructions": 300_000},
        "full@uvloop": {"loop": "uvloop", "instructions": 1_300_000, "sql_instructions": 300_000},
    }
    table = render_counts(rows)
    assert "| full | 1,500,000 | 300,000 | 1,000,000 | 2.00 |  | asyncio |" in table
    # over the uvloop floor (900,000), not the asyncio one (800,000)
    assert "| full | 1,300,000 | 300,000 | 900,000 | 2.25 |  | uvloop |" in table
    assert "| floor | 400,000 | 0 |  |  |  | uvloop |" in table


def test_a_path_whose_loop_has_no_floor_is_compared_with_none():
    rows = {
        "floor@asyncio": {"loop": "asyncio", "instructions": 500_000, "sql_instructions": 0},
        "full@uvloop": {"loop": "uvloop", "instructions": 1_300_000, "sql_instructions": 300_000},
    }
    assert "| full | 1,300,000 | 300,000 |  |  |  | uvloop |" in render_counts(rows)


def _result(loop: str | None) -> dict:
    row = {"p50_us": 1.0, "p99_us": 2.0, "calls_per_s": 3.0, "cpu_us_per_call": 4.0}
    machine = {"date": "d", "cpus": 2, "cpu": "c", "python": "3", "repeats": 3, "loadavg_at_end": 0.5}
    if loop is not None:
        machine["loop"] = loop
        row["loop"] = loop
    return {
        "machine": machine,
        "scenarios": {"floor@1": row},
        "met": {},
        "targets": {"memory_after_calls_mb": 60},
        "startup": {"magsag_initialize_ms": 1},
        "ledger": {"rows": 1, "summarize_ms": 1, "filtered_query_ms": 1, "insert": {"calls_per_s": 1, "writers": 2}},
        "upstream_cpu_us_per_request": 1.0,
        "requests_per_call_mismatches": {},
    }


@pytest.mark.parametrize(("loop", "said"), [("uvloop", "uvloop"), ("asyncio", "asyncio"), (None, "asyncio")])
def test_the_table_says_the_loop_of_every_row(loop: str | None, said: str):
    # (a result written before the option, None here, ran on asyncio)
    report = render_table(_result(loop))
    assert f"every scenario on the {said} event loop" in report.splitlines()[0]
    assert "| scenario | callers | p50 (us) | p99 (us) | calls/s | CPU/call (us) | loop |" in report
    assert f"| floor | 1 | 1 | 2 | 3 | 4 | {said} |" in report
