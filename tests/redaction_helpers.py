"""What the redaction tests share: an Azure-shaped key (no prefix to match), a search for its pieces in a
text, and what a ledger file stored."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

AZURE_KEY = "9f3c7a1e5b2d48c6a0e4f7b1d3c5a8e2"  # Azure's shape: 32 hex digits, no prefix to match


def pieces(key: str, text: str) -> list[str]:
    """Every run of 8 or more of the key's characters that appears in ``text``."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


#: what a run writes at random that is no part of a key, however it reads: an object's address in a DEBUG log line
#: (``<Task pending ... at 0x7f05749c2c00>``), a run's or a call's id (16 hex digits)
_MADE_AT_RANDOM = re.compile(r"0x[0-9a-f]+|(?<![0-9A-Za-z])[0-9a-f]{16}(?![0-9A-Za-z])")


def sides_left(key: str, cut: int, text: str) -> list[str]:
    """The sides of ``key`` cut at ``cut`` (``key[:cut]``, ``key[cut:]``) that ``text`` holds, what the run wrote at
    random (:data:`_MADE_AT_RANDOM`) left out of it. A side of a few hex digits (an Azure key's first 5) turns up by
    chance in those: one test's log and ledger hold some 350 runs of 5 hex digits, so about one run of it in 3,000
    found the key's first 5 there, a key that was never in the text."""
    text = _MADE_AT_RANDOM.sub(" ", text)
    return [side for side in (key[:cut], key[cut:]) if side in text]


def _stored(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "attempts", "events")])
    finally:
        conn.close()
