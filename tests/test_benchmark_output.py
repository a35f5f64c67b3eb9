"""Where `python -m benchmarks` writes: a smoke run never replaces the published results."""

from __future__ import annotations

from pathlib import Path

from benchmarks.run import RESULTS, output_path


def test_a_full_run_writes_the_published_results():
    assert output_path(None, quick=False) == RESULTS / "latest.json"


def test_a_quick_run_leaves_the_published_results_alone():
    # latest.json is committed beside the chart and the table in BENCHMARKS.md that it backs; a smoke
    # run's numbers in it would contradict both.
    assert output_path(None, quick=True) != RESULTS / "latest.json"
    assert output_path(None, quick=True).parent == RESULTS


def test_an_explicit_out_wins(tmp_path: Path):
    assert output_path(str(tmp_path / "x.json"), quick=True) == tmp_path / "x.json"
