"""`magsag data search`: what a pattern matches, how far back --since reaches, a scan that runs too long, and the
note (with its --cursor) when --limit cuts the hits."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord


def test_search_finds_error_text(ledger_db, capsys):
    assert main(["data", "search", "shard [0-9]", "--limit", "5"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and all("shard 7" in json.dumps(h) for h in hits)


def test_search_since_bounds_how_far_back(ledger_db, capsys):
    assert main(["data", "search", "echo"]) == 0  # the 120-day-old run matches without a bound
    assert any(h.get("model") == "echo" for h in json.loads(capsys.readouterr().out))
    assert main(["data", "search", "echo", "--since", "7d"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["data", "search", "shard", "--since", "1h"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_search_matches_in_any_case_unless_the_pattern_asks_for_case(ledger_db, capsys):
    # as its --help and docs/cli.md say: "shard" is in the error text, in lower case
    for pattern, hits in (("SHARD", 1), ("(?-i)SHARD", 0), ("(?-i)shard", 1)):
        assert main(["data", "search", pattern]) == 0
        assert len(json.loads(capsys.readouterr().out)) == hits, pattern


def test_a_search_that_scans_too_long_stops_with_the_fix(tmp_path, monkeypatch):
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger import search

    async def go() -> None:
        async with Ledger(tmp_path / "big.db") as ledger:
            now = time.time()
            attempts = [AttemptRecord("big", now - i, "openai", "gpt-4o", "s", "a", "ok", 0, 1) for i in range(3000)]
            await ledger.record_call(RunRecord("big", "a", "s", now - 3000), attempts)
            monkeypatch.setattr(search, "SEARCH_SECONDS", 0.0)  # any scan of some length is too long
            with pytest.raises(InputError, match=r"still scanning after 0s.*--since 7d"):
                await ledger.search("never-matches-anything")
            monkeypatch.setattr(search, "SEARCH_SECONDS", 10.0)
            assert await ledger.search("never-matches-anything") == []  # the reader is usable again

    anyio.run(go)


def test_a_search_cut_at_its_limit_says_so_as_the_mcp_tool_does(ledger_db, capsys):
    """search_usage answers has_more; `magsag data search` printed the first --limit hits and said nothing of
    the rest. stdout stays the hits; a note on stderr says more matched and how to see them."""
    assert main(["data", "search", "alice|bob", "--limit", "1"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1
    assert "1 hit shown (newest first) and more match" in err and "--limit" in err
    assert main(["data", "search", "shard 7", "--limit", "50"]) == 0  # all of them
    assert capsys.readouterr().err == ""


def test_a_search_cut_at_its_limit_names_the_cursor_of_the_rest(ledger_db, capsys):
    """The note said to narrow --since to see the rest, but --since keeps the newest hits and drops older
    ones: past --limit, the older hits could not be shown. Now it names a --cursor that pages on."""
    assert main(["data", "search", "alice|bob"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert len(every) > 1
    seen, cursor = [], []
    while True:
        assert main(["data", "search", "alice|bob", "--limit", "1", *cursor]) == 0
        out, err = capsys.readouterr()
        seen += json.loads(out)
        if not err:
            break
        assert "--since" not in err
        cursor = ["--cursor", err.split("--cursor ")[1].split(";")[0]]
    assert seen == every
    assert main(["data", "search", "alice|bob", "--cursor", "garbage"]) == 2
    # the note's --cursor named, not the MCP tool's next_cursor (which the command line never shows)
    assert "give the --cursor its note on stderr named" in capsys.readouterr().err
