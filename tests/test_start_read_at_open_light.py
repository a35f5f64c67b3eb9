"""The settings the service reads as it opens (settings.READ_AT_OPEN) are checked as ``magsag-mcp`` starts, before its
answer to `initialize`, each with the module that reads it: ``MAGSAG_LEDGER_SYNC``'s reader lived beside the ledger's
connections, and checking it imported the ledger package, aiosqlite and sqlite3 (54 modules) into every stdio start
that set it, where the ledger opens at the first call. A bad value is refused in the same words either way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from magsag_mcp.settings import READ_AT_OPEN

SCRIPT = """
import json, sys
from magsag_mcp.startup import package_init_deferred
package_init_deferred("magsag_mcp.providers")  # as the server's start defers it
import magsag_mcp.mcp_server.__main__ as main
from magsag_mcp.mcp_server.server_settings import start_checks
args = main.build_parser().parse_args([])
before = set(sys.modules)
checks = start_checks(args, json.loads(sys.argv[1]))
added = sorted(m for m in set(sys.modules) - before if m.startswith(("magsag_mcp.ledger", "aiosqlite", "sqlite3")))
print(json.dumps({"refused": checks.refused, "added": added}))
"""

#: a value each reader takes, and one it refuses, by variable
VALUES = {
    "MAGSAG_MAX_RETRIES": ("3", "many"),
    "MAGSAG_RETRY_BASE_DELAY": ("1", "soon"),
    "MAGSAG_RETRY_MAX_DELAY": ("30", "-1"),
    "MAGSAG_PAUSE_CONTINUATIONS": ("5", "x"),
    "MAGSAG_CALL_DEADLINE": ("120", "abc"),
    "MAGSAG_CONNECT_TIMEOUT": ("5", "0"),
    "MAGSAG_READ_TIMEOUT": ("60", "forever"),
    "MAGSAG_CALL_BASE_URLS": ("configured", "some"),
    "MAGSAG_LEDGER_SYNC": ("normal", "fast"),
    "MAGSAG_BREAKER_FAILURES": ("5", "lots"),
    "MAGSAG_BREAKER_COOLDOWN": ("30", "-5"),
    "MAGSAG_AZURE_SERVED_TRUST": ("3600", "always"),
}


def checked(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=120,  # (a hang guard, not a timing assertion)
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_every_setting_read_at_open_has_values_here():
    assert {name for name, _ in READ_AT_OPEN} == set(VALUES)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_a_setting_read_at_open_is_checked_without_the_ledger(name: str):
    good, bad = VALUES[name]
    assert checked({name: good}) == {"refused": [], "added": []}
    seen = checked({name: bad})
    assert seen["added"] == [], seen
    assert len(seen["refused"]) == 1 and name in seen["refused"][0], seen


def test_a_bad_ledger_sync_is_refused_with_its_fix_in_the_words_the_ledger_says():
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.ledger.connection import ledger_sync_from_env

    with pytest.raises(ConfigError) as raised:
        ledger_sync_from_env({"MAGSAG_LEDGER_SYNC": "fast"})
    assert checked({"MAGSAG_LEDGER_SYNC": "fast"})["refused"] == [raised.value.message]
    assert "use 'full'" in raised.value.message and "or 'normal'" in raised.value.message
    assert ledger_sync_from_env({"MAGSAG_LEDGER_SYNC": " Normal "}) == "normal"
    assert ledger_sync_from_env({}) == "full"
