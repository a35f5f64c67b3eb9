"""magsag_mcp as a library inside a user's program that has its own logging set up: its loggers are named under
``magsag_mcp.``, a successful call (one answered on its retry too) logs nothing at WARNING or above, a failed try is
logged once, at INFO, and no record carries the key a call was sent with."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from magsag_mcp import Magsag, ServerError
from magsag_mcp.loopback import LoopbackUpstream

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
KEY = "sk-proj-Qx7vTz2mRk9Lw3Hn8Jp4Bd6Fy"  # (mixed letters and digits: see the test keys' rule)


@pytest.fixture
def upstream_env():
    plans = {"gpt-4o": [500, 200], "gpt-4o-mini": [500, 500, 500, 500, 500, 500]}
    with LoopbackUpstream(plans=plans).running() as up:
        yield {**up.env(), "OPENAI_API_KEY": KEY, "MAGSAG_RETRY_BASE_DELAY": "0.001"}


def magsags(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name == "magsag_mcp" or r.name.startswith("magsag_mcp.")]


def test_a_failed_try_is_logged_once_at_info_and_a_successful_call_warns_of_nothing(
    tmp_path: Path, upstream_env: dict[str, str], caplog: pytest.LogCaptureFixture
):
    # Before: no record at all of a try that failed: an agent's developer with logging at INFO (or DEBUG) saw nothing
    # of the retries and fallbacks a call went through, only its answer or its error.
    caplog.set_level(logging.DEBUG)
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=upstream_env) as mg:
        answered = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
        ok_call = list(caplog.records)
        with pytest.raises(ServerError):
            mg.skills.invoke(
                "skill.analysis",
                {"data": "x", "model_config": {"model": "gpt-4o-mini", "fallbacks": []}},
                run_id="run-failing",
            )
    assert [a["outcome"] for a in answered["attempts"]] == ["error", "ok"]
    assert [r for r in ok_call if r.levelno >= logging.WARNING] == []
    tries = [r for r in ok_call if "openai:gpt-4o try" in r.getMessage()]
    assert [(r.name, r.levelname) for r in tries] == [("magsag_mcp.cascade", "INFO")]
    assert "try 1 failed (server_error): openai:gpt-4o: HTTP 500" in tries[0].getMessage()
    failing = [r for r in caplog.records if "run run-failing: openai:gpt-4o-mini try" in r.getMessage()]
    assert [r.getMessage().split(" try ")[1][:1] for r in failing] == ["1", "2", "3"]  # each try once, in order
    assert all(r.levelname == "INFO" for r in failing)
    ours = magsags(caplog.records)
    assert ours and all(KEY not in r.getMessage() and KEY[8:20] not in r.getMessage() for r in ours)
    assert all(KEY not in (r.exc_text or "") for r in caplog.records)


def test_importing_the_package_configures_no_logging():
    # A library leaves the handlers and levels to its user: no basicConfig, no handler of its own (in a process of its
    # own, so that no earlier test's import or server start has already run).
    import subprocess
    import sys

    code = (
        "import logging, magsag_mcp, magsag_mcp.api, magsag_mcp.service, magsag_mcp.mcp_server\n"
        "root = logging.getLogger()\n"
        "ours = [logging.getLogger(n) for n in logging.root.manager.loggerDict if n.startswith('magsag_mcp')]\n"
        "print(len(root.handlers), root.level, sum(len(lg.handlers) for lg in ours), len(ours) > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", str(logging.WARNING), "0", "True"]
