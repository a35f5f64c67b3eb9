"""A command run from a folder that was deleted since the shell entered it (a project removed and cloned again at the
same path, a temporary folder cleaned up): ``os.getcwd()`` raises there, and every command, ``magsag-mcp`` too, ended
in a ``FileNotFoundError`` traceback from looking for ``./catalog``, and every ledger open from making its path
absolute, even an absolute one. A package user runs magsag from any folder, so meets this where a clone's user, always
in the clone, did not. Now what needs the folder says it is gone and the fix; what does not (an absolute MAGSAG_DB and
MAGSAG_CATALOG) works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from magsag_mcp.catalog import find_catalog
from magsag_mcp.cli import main
from magsag_mcp.errors import ConfigError
from magsag_mcp.ledger.connection import where_ledger_is
from tests.conftest import CATALOG

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder, deleted once entered (monkeypatch enters the test's own folder again afterwards)."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    folder.rmdir()
    return folder


def test_the_catalog_here_and_a_relative_ledger_say_the_folder_is_gone(gone: Path):
    with pytest.raises(ConfigError, match=r"no longer exists .* so \./catalog names nothing; .*MAGSAG_CATALOG"):
        find_catalog(env={})
    with pytest.raises(ConfigError, match=r"so the ledger rel\.db names nothing; .*absolute path"):
        where_ledger_is(Path("rel.db"))
    # what names no file in it is read as without the folder
    assert find_catalog(env={"MAGSAG_CATALOG": str(CATALOG)}) == CATALOG
    assert where_ledger_is(gone.parent / "ledger.db") == gone.parent / "ledger.db"


def test_commands_in_a_deleted_folder_work_with_absolute_paths_and_say_why_without(
    gone: Path, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    payload = ["--payload", '{"text": "x"}', "--context", '{"preferred_model": "fake:quick-model"}']
    assert main(["invoke", "skill.summarization", *payload]) == 0  # MAGSAG_DB and MAGSAG_CATALOG: absolute
    assert json.loads(capsys.readouterr().out)["model"] == "quick-model"
    assert main(["flow", "summarize"]) == 0
    assert json.loads(capsys.readouterr().out)["model_stats"]["quick-model"]["calls"] == 1

    monkeypatch.delenv("MAGSAG_CATALOG")
    for command in (["catalog", "validate"], ["doctor"], ["invoke", "skill.summarization", *payload]):
        assert main(command) == 2, command
        error = json.loads(capsys.readouterr().err)["error"]
        assert error["type"] == "config_error" and "no longer exists" in error["message"], command
    assert main(["flow", "summarize", "--db", "rel.db"]) == 2
    assert "so the ledger rel.db names nothing" in capsys.readouterr().err
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main(["flow", "summarize", "--output", "summary.json"]) == 2
    assert "so summary.json names nothing; " in json.loads(capsys.readouterr().err)["error"]["message"]


def test_the_server_started_in_a_deleted_folder_stops_saying_why(gone: Path, tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "magsag_mcp"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "magsag-mcp: the folder this runs in no longer exists" in done.stderr
