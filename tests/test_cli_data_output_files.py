"""`--output` (mostly `magsag flow summarize`'s): where a summary may be written, and how: never over a ledger or
into the catalog, whole or not at all, in place where it cannot be renamed over, with the fix where it cannot be."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger


def test_a_background_summarize_writes_its_output_while_sigterm_is_watched(ledger_db, tmp_path, monkeypatch, capsys):
    """A script's background job (SIGINT ignored) keeps SIGTERM's default except while a command watches for it: the
    summary's file was made beside --output after the ledger closed, outside that watch, so a SIGTERM then killed it
    on the spot with its `.summary.json.*.tmp` left there. It is written inside the watch now, as an export's is."""
    import signal

    from magsag_mcp.cli import output

    seen: list[object] = []
    real = output.replacing

    @contextlib.contextmanager
    def replacing(path: str, **how: object):
        seen.append(signal.getsignal(signal.SIGTERM))
        with real(path, **how) as fh:  # (like=: the ledger whose mode a new file takes)
            yield fh

    monkeypatch.setattr(output, "replacing", replacing)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.getsignal(signal.SIGTERM)
    try:
        assert main(["flow", "summarize", "--output", str(tmp_path / "summary.json")]) == 0
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
    assert len(seen) == 1 and seen[0] not in (signal.SIG_DFL, None)  # SIGTERM handled, not left to kill the write
    assert json.loads((tmp_path / "summary.json").read_text())["totals"]["calls"] > 0
    assert capsys.readouterr().err.endswith(f"wrote {tmp_path / 'summary.json'}\n")
    assert sorted(p.name for p in tmp_path.iterdir() if "summary" in p.name) == ["summary.json"]


@pytest.mark.parametrize("name", ["cli.db", "cli.db-wal", "cli.db-shm", "other.db"])
def test_summarize_output_never_overwrites_a_ledger(ledger_db, tmp_path, capsys, name):
    # Before, `flow summarize --output cli.db` read the ledger, then replaced it with the summary (months of
    # recorded spend gone) and said "wrote cli.db"; so for its -wal file, or another ledger.

    async def make_other() -> None:
        async with Ledger(tmp_path / "other.db"):
            pass

    anyio.run(make_other)
    target = tmp_path / name
    before = target.read_bytes() if target.exists() else None
    assert main(["flow", "summarize", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert "writing it would destroy" in err and "give another file" in err
    assert (target.read_bytes() if target.exists() else None) == before
    assert main(["data", "query", "--format", "json"]) == 0  # the ledger is whole
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} >= {"r-priced", "r-unpriced"}


def test_summarize_output_never_writes_a_price_file_under_another_name(ledger_db, tmp_path, capsys):
    # prices.yml and Prices.yaml are read as the catalog's price file: a summary written there became one
    catalog = tmp_path / "cat"
    (catalog / "skills").mkdir(parents=True)
    for name in ("prices.yml", "Prices.yaml", "PRICES.YML"):
        assert main(["flow", "summarize", "--catalog", str(catalog), "--output", str(catalog / name)]) == 2
        assert "is in the catalog" in capsys.readouterr().err
        assert not (catalog / name).exists()


def test_summarize_output_never_writes_into_the_catalog(ledger_db, tmp_path, capsys):
    catalog = tmp_path / "cat"
    (catalog / "skills").mkdir(parents=True)
    (catalog / "policies").mkdir()
    (catalog / "prices.yaml").write_text('"openai:gpt-4o": {input: 2.5, output: 10}\n')
    for target in (catalog / "prices.yaml", catalog / "policies" / "summary.yaml"):
        assert main(["flow", "summarize", "--catalog", str(catalog), "--output", str(target)]) == 2
        assert "is in the catalog" in capsys.readouterr().err
    assert (catalog / "prices.yaml").read_text().startswith('"openai:gpt-4o"')
    assert not (catalog / "policies" / "summary.yaml").exists()
    # any other file is written, and written again
    out = tmp_path / "summary.json"
    for _ in range(2):
        assert main(["flow", "summarize", "--catalog", str(catalog), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["model_stats"]["gpt-4o"]["attempts"] == 2


def test_summarize_output_dash_is_stdout(ledger_db, tmp_path, capsys, monkeypatch):
    # --payload-file takes "-" for stdin; --output "-" wrote a file named "-" in the working directory.
    monkeypatch.chdir(tmp_path)
    assert main(["flow", "summarize", "--output", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["model_stats"]["gpt-4o"]["attempts"] == 2
    assert not (tmp_path / "-").exists()


def test_summarize_output_that_fails_half_way_leaves_the_last_summary_whole(ledger_db, tmp_path, capsys, monkeypatch):
    # Written in place, a write that failed half-way (a full disk) left half a summary where the last whole
    # one was, the file `flow gate` reads next. Now the new summary replaces the old one only once it is whole.
    import errno
    import sys

    import magsag_mcp.cli as cli

    out = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(out)]) == 0
    last = out.read_text()
    out.chmod(0o640)
    real = cli.write_pieces

    def full_disk(pieces, *, stream=None):
        if stream is None or stream in (sys.stdout, sys.stderr):
            return real(pieces, stream=stream)  # the error's own report
        stream.write(next(iter(pieces)))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "write_pieces", full_disk)
    assert main(["flow", "summarize", "--output", str(out)]) == 2
    assert (
        "cannot write --output " + str(out) + ": No space left on device; free some space, or give --output a file on "
        "another disk"
    ) in capsys.readouterr().err
    assert out.read_text() == last
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".summary")) == []
    # a whole one replaces it, with the file's mode kept, through a link to it
    monkeypatch.setattr(cli, "write_pieces", real)
    link = tmp_path / "latest.json"
    link.symlink_to(out)
    assert main(["flow", "summarize", "--agent", "alice", "--output", str(link)]) == 0
    assert link.is_symlink() and json.loads(out.read_text())["totals"]["calls"] < json.loads(last)["totals"]["calls"]
    assert out.stat().st_mode & 0o777 == 0o640


def test_summarize_output_to_a_device_is_written_in_place(ledger_db, capsys):
    # /dev/stdout cannot be renamed over: it is written as it is
    assert main(["flow", "summarize", "--output", "/dev/null"]) == 0
    assert capsys.readouterr().err.endswith("wrote /dev/null\n")


@pytest.mark.parametrize("where", ["rename", "folder"])
def test_summarize_output_that_cannot_be_renamed_over_is_written_in_place(
    ledger_db, tmp_path, capsys, monkeypatch, where
):
    # A file that can be written but not renamed over: one bind-mounted into a container on its own (`docker run -v
    # ./summary.json:/out/summary.json`: the rename fails with EBUSY), or one in a folder this user may not make a
    # file in (a group-writable file in a shared folder). Written in place before the atomic replace came, each then
    # failed with "cannot write --output": the summary is written in place there, as before.
    import errno
    import os
    import tempfile

    out = tmp_path / "summary.json"
    out.write_text("{}\n")
    if where == "rename":
        real = os.replace

        def busy(src, dst, *a, **k):
            if Path(dst) == out:
                raise OSError(errno.EBUSY, "Device or resource busy")
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", busy)
    else:
        real_mkstemp = tempfile.mkstemp

        def refused(*a, dir=None, **k):
            if dir is not None and Path(dir) == tmp_path:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_mkstemp(*a, dir=dir, **k)

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert main(["flow", "summarize", "--output", str(out)]) == 0
    assert capsys.readouterr().err.endswith(f"wrote {out}\n")
    assert "totals" in json.loads(out.read_text())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".summary")) == []


def test_summarize_output_into_a_missing_folder_says_to_make_it(ledger_db, tmp_path, capsys):
    # Before: "cannot write --output reports/summary.json: No such file or directory", naming no fix.
    out = tmp_path / "reports" / "summary.json"
    assert main(["flow", "summarize", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write --output {out}: No such file or directory; make its folder first (mkdir -p " in err
    assert str(tmp_path / "reports") in err and not out.exists()
    (tmp_path / "reports").mkdir()
    assert main(["flow", "summarize", "--output", str(out)]) == 0 and out.exists()


@pytest.mark.parametrize("argv", [["flow", "summarize"], ["data", "query", "--format", "csv"]])
def test_an_output_that_is_a_link_into_a_missing_folder_says_where_it_points(ledger_db, tmp_path, capsys, argv):
    # Before: "cannot write --output latest.json: No such file or directory", with no fix: latest.json was there
    # (a link, kept by a CI job, into a folder since removed), and its folder too
    link = tmp_path / "latest.json"
    link.symlink_to(tmp_path / "gone" / "summary.json")
    assert main([*argv, "--output", str(link)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write --output {link}: No such file or directory; it is a link to {tmp_path / 'gone'}" in err
    assert f"make its folder first (mkdir -p {tmp_path / 'gone'})" in err
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_an_output_under_a_file_says_which_file_is_no_folder(ledger_db, tmp_path, capsys):
    # Before: "cannot write --output reports.json/summary.json: Not a directory", naming neither the file nor a fix
    (tmp_path / "reports.json").write_text("{}")
    for argv in (["flow", "summarize"], ["data", "query", "--format", "csv"]):
        out = tmp_path / "reports.json" / "sub" / "summary.json"
        assert main([*argv, "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert (
            f"cannot write --output {out}: Not a directory; {tmp_path / 'reports.json'} is a file, not a folder: "
            in err
        )
        assert (tmp_path / "reports.json").read_text() == "{}"


@pytest.mark.parametrize(
    "argv", [["flow", "summarize"], ["data", "query", "--format", "json"], ["data", "query", "--format", "csv"]]
)
def test_output_naming_a_folder_says_to_give_a_file(ledger_db, tmp_path, capsys, argv):
    # Before: "cannot write --output reports: Is a directory", naming no fix
    folder = tmp_path / "reports"
    folder.mkdir()
    assert main([*argv, "--output", str(folder)]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert f"cannot write --output {folder}: Is a directory; it is a folder: give --output a file's path" in said.err
    assert list(folder.iterdir()) == []
