"""What the redaction tests share: an Azure-shaped key (no prefix to match), a search for its pieces in a
text, and what a ledger file stored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

AZURE_KEY = "9f3c7a1e5b2d48c6a0e4f7b1d3c5a8e2"  # Azure's shape: 32 hex digits, no prefix to match


def pieces(key: str, text: str) -> list[str]:
    """Every run of 8 or more of the key's characters that appears in ``text``."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


def _stored(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "attempts", "events")])
    finally:
        conn.close()
