"""Where `python -m benchmarks` writes: a smoke run never replaces the published results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.run import RESULTS, output_path, publishes, render, upstream_line


def test_a_full_run_writes_the_published_results():
    assert output_path(None, quick=False) == RESULTS / "latest.json"


def test_a_quick_run_leaves_the_published_results_alone():
    # latest.json is committed beside the chart and the table in BENCHMARKS.md that it backs; a smoke
    # run's numbers in it would contradict both.
    assert output_path(None, quick=True) != RESULTS / "latest.json"
    assert output_path(None, quick=True).parent == RESULTS


def test_an_explicit_out_wins(tmp_path: Path):
    assert output_path(str(tmp_path / "x.json"), quick=True) == tmp_path / "x.json"


def _result(upstream_us: float, mismatches: dict[str, float] | None = None) -> dict:
    row = lambda cpu: {"p50_us": 1.0, "p99_us": 2.0, "calls_per_s": 3.0, "cpu_us_per_call": cpu}  # noqa: E731
    return {
        "machine": {"date": "d", "cpus": 2, "cpu": "c", "python": "3", "repeats": 3, "loadavg_at_end": 0.5},
        "scenarios": {"floor@1": row(400.0), "floor@200": row(300.0), "floor_fallback@1": row(500.0)},
        "met": {},
        "targets": {"memory_after_calls_mb": 60},
        "startup": {"magsag_initialize_ms": 1},
        "ledger": {"rows": 1, "summarize_ms": 1, "filtered_query_ms": 1, "insert": {"calls_per_s": 1, "writers": 2}},
        "upstream_cpu_us_per_request": upstream_us,
        "requests_per_call_mismatches": mismatches or {},
    }


def test_the_upstream_is_said_not_to_dominate_only_when_it_does_not():
    # Before: "so the upstream never dominates" was printed whatever the two numbers were.
    assert "never dominates" in upstream_line(_result(80.0))
    # floor_fallback@1 sends two requests a call: 250 us per request, the cheapest client's
    line = upstream_line(_result(200.0))
    assert "never dominates" not in line and "not negligible" in line
    assert "floor_fallback@1: 250 us" in line


def test_a_scenario_that_sent_another_number_of_requests_is_flagged():
    report = render(_result(80.0, {"fallback@1": 3.0}))
    assert "Warning: fallback@1 sent 3.0 requests per call to the upstream, not 2" in report
    assert "Warning" not in render(_result(80.0))


def test_an_upstream_latency_is_named_in_the_report():
    result = _result(80.0)
    assert render(result).splitlines()[0].endswith("load average 0.50 at the end.")
    result["machine"]["upstream_latency_ms"] = 20.0
    assert render(result).splitlines()[0].endswith("at the end; the upstream answered after 20 ms.")


def test_only_a_run_writing_the_published_json_rewrites_the_table(tmp_path: Path):
    # Before: a full run with --out elsewhere still replaced the table in BENCHMARKS.md, which then
    # disagreed with latest.json and with the chart shown above it.
    assert publishes(output_path(None, quick=False))
    assert not publishes(output_path(str(tmp_path / "x.json"), quick=False))


def _fake_server(tmp_path: Path, body: str) -> str:
    script = tmp_path / "server.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_a_server_that_fails_to_start_shows_its_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Before: its stderr went to /dev/null, and the run stopped on a bare `assert '"result"' in line`.
    monkeypatch.setattr(sys, "executable", _fake_server(tmp_path, 'echo "catalog: boom" >&2\nexit 3\n'))
    with pytest.raises(
        RuntimeError, match=r"exited \(code 3\) without answering to initialize; its stderr:\ncatalog: boom"
    ):
        run.startup_ms(1)


def test_a_server_that_never_answers_does_not_hang_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Before: readline() waited forever.
    monkeypatch.setattr(sys, "executable", _fake_server(tmp_path, "exec sleep 60\n"))
    monkeypatch.setattr(run, "STARTUP_TIMEOUT_S", 0.2)
    with pytest.raises(RuntimeError, match="did not answer within 0.2 s"):
        run.startup_ms(1)


def test_missing_litellm_rows_are_said_to_be_missing():
    # Before: without litellm installed the comparison rows were left out of the table silently.
    result = _result(80.0)
    assert "litellm" not in render(result)
    result["machine"]["litellm_rows"] = "not run: litellm is not installed (pip install -e '.[bench]')"
    assert "| litellm_* | | LiteLLM rows not run: litellm is not installed" in render(result)


def test_a_server_that_exits_before_reading_its_input_is_reported_not_a_broken_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The server may be gone before initialize is written to it: the write raised BrokenPipeError (about
    # one run in ten under load) instead of the report of what the server said.
    monkeypatch.setattr(sys, "executable", _fake_server(tmp_path, 'echo "catalog: boom" >&2\nexit 3\n'))
    real = run.subprocess.Popen

    def exited_first(*args, **kwargs):
        p = real(*args, **kwargs)
        p.wait(60)
        return p

    monkeypatch.setattr(run.subprocess, "Popen", exited_first)
    with pytest.raises(
        RuntimeError, match=r"exited \(code 3\) without answering to initialize; its stderr:\ncatalog: boom"
    ):
        run.startup_ms(1)
