"""`--help` of `magsag` and `magsag-mcp` into a pipe whose reader has gone, or onto a full disk, as the version and a
command's output end there: quietly with 0 (the reader left), or one line on stderr and exit 1 (a full disk)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.signals import CLI, ROOT

#: argv of each command line, after the interpreter
MAGSAG = ["-c", CLI]
MAGSAG_MCP = ["-m", "magsag_mcp"]

#: stdout as a person's shell has it (a block-buffered pipe or file) and as a service's unit file often sets it
BUFFERINGS = [{}, {"PYTHONUNBUFFERED": "1"}]


def _run(argv: list[str], stdout: int, buffering: dict[str, str]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGSAG_") and k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(ROOT), **buffering},
        check=False,
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pipes as POSIX has them")
@pytest.mark.parametrize("buffering", BUFFERINGS)
@pytest.mark.parametrize(
    "argv",
    [[*MAGSAG, "--help"], [*MAGSAG, "data", "query", "--help"], [*MAGSAG_MCP, "--help"], [*MAGSAG_MCP, "--version"]],
)
def test_help_into_a_pipe_whose_reader_left_ends_quietly(argv, buffering):
    """`magsag --help | head -1` (or a reader gone before a word): "Exception ignored ... BrokenPipeError" and exit
    120 from the interpreter's last flush, where a command's output ends quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written
    try:
        said = _run(argv, write_end, buffering)
    finally:
        os.close(write_end)
    assert said == (0, "")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("buffering", BUFFERINGS)
@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        ([*MAGSAG, "--help"], "magsag"),
        ([*MAGSAG, "flow", "gate", "--help"], "magsag"),
        ([*MAGSAG_MCP, "--help"], "magsag-mcp"),
    ],
)
def test_help_to_a_full_disk_says_so_in_one_line(argv, prog, buffering):
    """`magsag --help > help.txt` on a full disk: exit 120 and "Exception ignored ... OSError" (stdout buffered), or
    exit 0 with nothing written and nothing said (unbuffered: argparse drops a write's OSError)."""
    with open("/dev/full", "wb") as full:
        code, err = _run(argv, full.fileno(), buffering)
    assert code == 1
    assert err == f"{prog}: cannot write the output: No space left on device; free some space, or write it elsewhere\n"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_stdout_sent_nowhere_leaves_no_descriptor_open(tmp_path):
    """Where stdout's reader has gone (or it is full), what is still buffered is sent to the null device: the
    device was opened for that and left open beside stdout, one descriptor more each time (a program calling the
    command line's main() again and again)."""
    count = "len(os.listdir('/proc/self/fd'))"
    code = (
        f"import os, sys; from magsag_mcp.cli.stdout_errors import reader_left; n = {count}; reader_left(); "
        f"print({count} - n, file=sys.stderr)"
    )
    with open(tmp_path / "out.txt", "wb") as out:
        done = subprocess.run(
            [sys.executable, "-c", code],
            stdout=out,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, b"0\n")
