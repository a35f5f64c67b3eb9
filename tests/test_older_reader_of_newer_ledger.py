"""An older ``magsag`` reading a ledger a newer magsag-mcp migrated (the CI job's pinned CLI beside an upgraded
server): refused, as a writer is, but told what fits a report. The refusal gave every reader the writer's reason and
fix, "what this version records could escape the newer one's budget limits ... or give this process a ledger of its
own with --db / MAGSAG_DB": a report records nothing, and on a ledger of its own it reports on nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, migrations
from magsag_mcp.ledger.migrations import MIGRATIONS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent

#: the command line of a version that predates the ledger's last migration, in a process of its own
OLDER_CLI = """
import sys
from magsag_mcp.ledger import migrations
migrations.MIGRATIONS = migrations.MIGRATIONS[:-1]
from magsag_mcp.cli import run_main
sys.argv = ["magsag", *sys.argv[1:]]
run_main()
"""

READER_FIX = "upgrade magsag-mcp in this environment (pip install -U magsag-mcp) to read it"
WRITER_FIX = "give this process a ledger of its own with "  # (--db / MAGSAG_DB, or from Python db= (or MAGSAG_DB))


@pytest.fixture
def newer(tmp_path: Path) -> Path:
    db = tmp_path / "shared.db"

    async def made_by_the_newer_version() -> None:  # every migration
        async with Ledger(db) as ledger:
            await ledger.log_event("r1", "a", "e", {})

    anyio.run(made_by_the_newer_version)
    return db


@pytest.mark.parametrize("command", [["flow", "summarize"], ["data", "query"], ["budget"]])
def test_an_older_reading_command_says_to_upgrade_to_read_it(newer: Path, command: list[str]):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", OLDER_CLI, *command, "--db", str(newer)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2, done
    message = json.loads(done.stderr)["error"]["message"]
    assert f"the ledger at {newer} was migrated by a newer magsag-mcp" in message and MIGRATIONS[-1][0] in message
    # (before: "... so what this version records could escape the newer one's budget limits; ... or give this
    # process a ledger of its own with --db / MAGSAG_DB")
    assert "records could escape" not in message and WRITER_FIX not in message, message
    assert "its reports could be wrong" in message and READER_FIX in message, message


async def test_an_older_version_reading_only_says_to_upgrade_and_a_writer_as_before(
    newer: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:-1])
    with pytest.raises(LedgerError) as read_only:  # a ledger it cannot write: read only, whatever opens it
        await Ledger(newer, read_only=True).open()
    with pytest.raises(LedgerError) as writer:  # what records calls: the writer's reason and fix, as before
        await Ledger(newer).open()
    assert READER_FIX in read_only.value.message and WRITER_FIX not in read_only.value.message
    assert "records could escape the newer one's budget limits" in writer.value.message
    assert WRITER_FIX in writer.value.message and READER_FIX not in writer.value.message


def test_an_older_prune_says_to_upgrade_or_prune_with_the_newer_one(newer: Path):
    # a prune records no call, and on a ledger of its own would prune nothing: it was told the writer's reason and
    # fix ("what this version records could escape the newer one's budget limits ... or give this process a ledger of
    # its own with --db / MAGSAG_DB")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", OLDER_CLI, "data", "prune", "--older-than", "30d", "--db", str(newer)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2, done
    message = json.loads(done.stderr)["error"]["message"]
    assert f"the ledger at {newer} was migrated by a newer magsag-mcp" in message and MIGRATIONS[-1][0] in message
    assert "records could escape" not in message and WRITER_FIX not in message, message
    assert "what this version deletes from it" in message, message
    assert "upgrade magsag-mcp in this environment (pip install -U magsag-mcp) to prune it" in message, message
    assert "or prune it with the newer magsag that migrated it" in message, message


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ({"reading": True}, READER_FIX),
        ({"create": False}, "upgrade magsag-mcp in this environment (pip install -U magsag-mcp) to prune it"),
        ({}, WRITER_FIX),
    ],
    ids=["reading", "pruning", "recording"],
)
async def test_a_newer_migration_after_the_open_is_refused_at_the_next_write_in_the_openers_words(
    tmp_path: Path, how: dict[str, bool], said: str
):
    # a newer version migrating while this one has the ledger open is seen at its next write (a reading command's too:
    # an expired reservation recorded by a report): that refusal gave every opener the recording writer's words
    db = tmp_path / "shared.db"
    async with Ledger(db):  # made by this version
        pass
    async with Ledger(db, **how) as ledger:
        with closing(sqlite3.connect(db, isolation_level=None)) as newer:  # a newer version's migration, applied
            newer.execute("CREATE TABLE hour_spend (bucket INTEGER PRIMARY KEY, cost_pusd INTEGER NOT NULL)")
            newer.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('0099_hour_spend', 0)")
        with pytest.raises(LedgerError) as info:
            await ledger.log_event("r1", "a", "e", {})
    assert "0099_hour_spend" in info.value.message and said in info.value.message, info.value.message
    for other in {READER_FIX, WRITER_FIX} - {said}:  # (the pruning fix holds neither)
        assert other not in info.value.message, info.value.message
