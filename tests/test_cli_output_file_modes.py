"""The permissions of a file `--output` makes (`data query --format csv|json`, `flow summarize`, `flow daily`): the
ledger's own, as the umask allows. Made at the umask's alone, a ledger only its owner may read (magsag makes it
0600) was handed to every user of the machine as a CSV of its runs, costs and redacted errors (0644 under the usual
umask 022), in whatever folder --output named. A file that is there keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from magsag_mcp.cli import main

WRITES = {
    "csv export": ["data", "query", "--format", "csv", "--output"],
    "json export": ["data", "query", "--format", "json", "--output"],
    "summary": ["flow", "summarize", "--output"],
    "daily": ["flow", "daily", "--output"],
}


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", WRITES.values(), ids=WRITES.keys())
def test_a_new_output_file_is_as_private_as_the_ledger(ledger_db: Path, tmp_path: Path, umask_022, command, capsys):
    assert _mode(ledger_db) == 0o600  # as magsag makes a ledger
    out = tmp_path / "out.file"
    assert main([*command, str(out)]) == 0
    assert out.stat().st_size > 0
    assert _mode(out) == 0o600


def test_a_group_readable_ledger_gives_group_readable_exports_as_the_umask_allows(
    ledger_db: Path, tmp_path: Path, umask_022, capsys
):
    ledger_db.chmod(0o664)  # an operator's choice, for a team: group-writable too, which the umask takes off
    out = tmp_path / "audit.csv"
    assert main([*WRITES["csv export"], str(out)]) == 0
    assert _mode(out) == 0o644


def test_an_output_file_that_is_there_keeps_its_mode(ledger_db: Path, tmp_path: Path, umask_022, capsys):
    out = tmp_path / "summary.json"
    out.write_text("{}\n")
    out.chmod(0o644)  # chmod'ed by its operator, for a dashboard that reads it: kept each time it is replaced
    assert main([*WRITES["summary"], str(out)]) == 0
    assert out.read_text() != "{}\n"
    assert _mode(out) == 0o644


@pytest.mark.parametrize(("ledger_mode", "made"), [(0o400, 0o600), (0o440, 0o640), (0o444, 0o644)])
def test_an_output_file_from_a_read_only_ledger_is_still_its_owners_to_write(
    ledger_db: Path, tmp_path: Path, umask_022, capsys, ledger_mode: int, made: int
):
    # who may read it is the ledger's; its owner may always write it: from an audit copy kept read-only (0400), the
    # export was made 0400, a file its owner could not append to, edit, or have the next export copy into
    ledger_db.chmod(ledger_mode)
    try:
        out = tmp_path / "audit.csv"
        assert main([*WRITES["csv export"], str(out)]) == 0
        assert _mode(out) == made
    finally:
        ledger_db.chmod(0o600)
