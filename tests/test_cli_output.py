"""What `magsag` writes for a person to read, and what it makes of options as a shell script passes them."""

from __future__ import annotations

import io
import sys
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


class _AsciiTerminal(io.TextIOWrapper):
    """stdout whose locale cannot encode most names: LANG=C (ASCII) on a server, a cp1252 console."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="ascii")

    def written(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]


@pytest.fixture
def named_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger with one run whose agent and run id are not ASCII, priced so that budgets show spend."""
    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "names.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("r-日本", "café", "skill.analysis", now)
            ok = AttemptRecord("r-日本", now, "openai", "gpt-4o", "skill.analysis", "café", "ok", 0, 1)
            ok.cost_usd = Decimal("0.0035")
            await ledger.record_call(run, [ok])

    anyio.run(fill)
    return db


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query"],  # the table
        ["budget", "--agent", "café", "--run-id", "r-日本"],
    ],
)
def test_text_output_to_a_terminal_that_cannot_encode_a_name_shows_its_escape(named_ledger, monkeypatch, argv):
    """Under an ASCII (LANG=C) or cp1252 locale, the table and `budget` died with a UnicodeEncodeError
    traceback at the first agent or run id they could not encode, and printed none of the rest."""
    out = _AsciiTerminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(argv) == 0
    text = out.written()
    assert "caf\\xe9" in text and "r-\\u65e5\\u672c" in text
