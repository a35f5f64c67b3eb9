"""The benchmark harness runs end to end (tiny numbers; no timing is asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import run

ROOT = Path(__file__).resolve().parent.parent


#: what a hang of the benchmark meets, never a quick run's length: a run here (15 processes, a few thousand calls)
#: took 3 minutes at a load average of 10 on 2 CPUs, and ran past the 300 s this guard was at a load of 12 to 14
HANG_GUARD_S = 1800


@pytest.mark.slow
def test_quick_benchmark_produces_every_scenario(tmp_path: Path):
    # --calls 50: every scenario's rows, a quarter of the quick run's calls with 200 callers (one call each)
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--calls", "50", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["scenarios"]) == {f"{name}@{callers}" for name in run.OURS for callers in (1, 200)}
    for name in run.OURS:
        for callers in (1, 200):
            row = result["scenarios"][f"{name}@{callers}"]
            assert set(row) == {"p50_us", "p99_us", "calls_per_s", "cpu_us_per_call", "loop"}
            assert row["loop"] == "asyncio" == result["machine"]["loop"]  # the default, as before the option
            assert row["calls_per_s"] > 0 and row["p99_us"] >= row["p50_us"] > 0
            [raw] = result["raw"][f"{name}@{callers}"]
            assert raw["calls"] == (50 if callers == 1 else 100 if name == "mcp_stdio" else 200), raw
    assert result["machine"]["calls"] == 50
    # the LiteLLM rows are not run in a quick one, and neither is the timing of its import beside our start-up
    assert result["machine"]["litellm_rows"] == "not run (--quick)"
    assert set(result["startup"]) == {"magsag_initialize_ms", "python_ms", "import_mcp_server_ms"}
    assert set(result["targets"]) >= {
        "full_cpu_over_floor_us",
        "fallback_cpu_over_floor_us",
        "full_200_throughput_vs_floor",
        "startup_initialize_ms",
        "memory_after_calls_mb",
        "ledger_summarize_ms",
        "ledger_filtered_query_ms",
    }
    assert result["upstream_cpu_us_per_request"] > 0
    assert "| scenario | callers |" in proc.stdout


@pytest.mark.parametrize(
    "module",
    [
        "benchmarks",
        "benchmarks.instructions",
        "benchmarks.scenarios",
        "benchmarks.ledger_scale",
        "benchmarks.concurrency",
    ],
)
def test_the_benchmark_commands_help_names_the_command_that_runs_them(module: str):
    """`python -m benchmarks --help`, as README.md and BENCHMARKS.md have it run, printed `usage: __main__.py`
    (`scenarios.py`, ...): a file that, run so from the clone, fails on its relative imports. The usage is the
    command BENCHMARKS.md gives, and `python -m benchmarks` says what its options do."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m {module} "), proc.stdout
    if module == "benchmarks":
        assert "runs of every scenario" in proc.stdout and "LiteLLM comparison rows" in proc.stdout, proc.stdout
