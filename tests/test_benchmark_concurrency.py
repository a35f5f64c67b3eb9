"""``python -m benchmarks.concurrency``: a call's time per thread with many callers (tiny runs; no timing asserted)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmarks import concurrency
from benchmarks.fast_upstream import upstream_process

ROOT = Path(__file__).resolve().parent.parent


def test_schedstat_reads_this_thread_and_says_none_for_a_thread_that_is_not_there():
    mine = concurrency.schedstat(threading.get_native_id())
    if sys.platform.startswith("linux") and os.path.exists(f"/proc/self/task/{threading.get_native_id()}/schedstat"):
        assert mine is not None and mine[0] > 0 and mine[1] >= 0
    assert concurrency.schedstat(2**31 - 1) is None


def test_the_table_shows_each_fields_median_by_scenario_and_callers():
    runs = [dict.fromkeys(concurrency.FIELDS, float(n)) for n in (3, 1, 2)]
    row = concurrency.medians(runs)
    assert row == dict.fromkeys(concurrency.FIELDS, 2.0)
    table = concurrency.render({("full", 200): row, ("floor", 1): row}).splitlines()
    assert table[0] == "| scenario | callers | " + " | ".join(concurrency.FIELDS) + " |"
    assert table[2].startswith("| full | 200 | 2.0 |") and table[3].startswith("| floor | 1 |")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "callers"), [("floor", 4), ("full", 4), ("full", 1)])
def test_a_run_reports_every_field_and_the_full_paths_group_commits(name: str, callers: int):
    with upstream_process() as (_, url):
        row = asyncio.run(concurrency.one_run(name, url, calls=12, callers=callers, warmup=2))
    assert set(row) == set(concurrency.FIELDS)
    assert (
        row["cps"] > 0
        and row["cpu"] > 0
        and row["loop"] > 0
        and row["wall"] > 0
        and row["select"] >= row["select_batch"]
    )
    if name == "floor":
        assert row["batches"] == 0 and row["select_batch"] == 0
    elif callers > 1:
        assert row["batches"] > 0  # four calls in flight: their writes go through the group commit
    else:
        assert row["batches"] == 0  # alone, a call's writes are made inline, not queued


def test_the_command_runs_the_interleaved_table(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.concurrency",
            "floor",
            "--callers",
            "2",
            "--calls",
            "6",
            "--warmup",
            "1",
            "--repeats",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[2].startswith("| floor | 2 | ")


def test_an_unknown_scenario_is_refused_with_the_names_to_choose_from():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.concurrency", "fool"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and "no scenario fool: choose from floor, full, full_sync_normal" in proc.stderr
