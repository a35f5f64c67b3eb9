"""`magsag demo` whose reader leaves (`magsag demo | head`): it ends quietly, with no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.cli import main


def test_demo_into_a_closed_pipe_exits_quietly(tmp_path):
    # `magsag demo | head -3`: the reader left, and the write's BrokenPipeError came out of the MCP client's
    # task group wrapped in an exception group: a 60-line traceback and exit 1
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(tmp_path)}
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", cli, "demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before the demo's first line: a reader that has left
    err = proc.stderr.read().decode()
    proc.stderr.close()  # (left to the collector: a ResourceWarning in whichever test ran then)
    assert proc.wait(120) == 0, err
    assert "Traceback" not in err


class _ReaderLeavesAfter:
    """A stdout whose reader leaves (`magsag demo | head -4`) once a line starting with ``mark`` is written: every
    write from then on raises BrokenPipeError, as a pipe whose reader has closed does."""

    def __init__(self, mark: str) -> None:
        self.mark, self.gone, self.text = mark, False, ""

    def write(self, text: str) -> int:
        if self.gone:
            raise BrokenPipeError(32, "Broken pipe")
        self.text += text
        self.gone = self.mark in self.text
        return len(text)

    def flush(self) -> None:
        if self.gone:
            raise BrokenPipeError(32, "Broken pipe")


def test_demo_whose_reader_leaves_while_the_call_reports_progress_exits_quietly(
    tmp_path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """`magsag demo | head -4`: the reader left while invoke_skill was running, and each progress and log line the
    MCP client's callbacks then printed raised BrokenPipeError, which the client logs with its traceback: five
    tracebacks on stderr after the four lines asked for. The demo ends as quietly as one whose reader left before
    its first line (above)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    out = _ReaderLeavesAfter("answers\n")  # the reader leaves after "== invoke_skill ...", before any progress
    monkeypatch.setattr("sys.stdout", out)
    with caplog.at_level("DEBUG"):
        assert main(["demo"]) == 0
    assert out.gone and "== summarize_usage" not in out.text
    raised = [r.getMessage() for r in caplog.records if r.exc_info]
    assert raised == [], raised  # "progress callback raised", "notification callback ... raised", with tracebacks


def test_demo_run_in_a_folder_holding_a_module_named_as_a_dependency(tmp_path):
    """A package user runs `magsag demo` in a folder of their own, which may hold an mcp.py (an MCP experiment) or a
    yaml.py: the server the demo starts, `python -m magsag_mcp` in that folder, imported it in place of the SDK, and
    the demo ended in an exception group of 'Connection closed'. The server is started with -P: not from there."""
    import os
    import subprocess
    import sys

    (tmp_path / "mcp.py").write_text('raise SystemExit("the user\'s own mcp.py was imported")\n', encoding="utf-8")
    (tmp_path / "yaml.py").write_text('raise SystemExit("the user\'s own yaml.py was imported")\n', encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(tmp_path)}
    # -P: as the `magsag` console script runs, whose sys.path starts at its own folder, not the one it is run in
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-P", "-c", cli, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "answered by : fake:backup-model" in done.stdout
