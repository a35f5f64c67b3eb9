"""The benchmark harness runs end to end (tiny numbers; no timing is asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_produces_every_scenario(tmp_path: Path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for name in ("floor", "full", "floor_fallback", "fallback", "mcp_memory", "mcp_stdio"):
        for callers in (1, 200):
            row = result["scenarios"][f"{name}@{callers}"]
            assert set(row) == {"p50_us", "p99_us", "calls_per_s", "cpu_us_per_call"}
            assert row["calls_per_s"] > 0 and row["p99_us"] >= row["p50_us"] > 0
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
