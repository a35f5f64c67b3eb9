"""A test that runs ``magsag``'s main in-process does not leave its signal handlers to the tests after it (the
autouse fixture ``signal_handlers_restored`` in conftest.py): ``sigterm_as_interrupt`` made SIGTERM and SIGHUP raise
KeyboardInterrupt for the rest of the session, and a later SIGTERM ended the whole run. These run in this order."""

from __future__ import annotations

import signal

from magsag_mcp import signals
from magsag_mcp.cli import main

#: the handlers the session had before the first test here
_BEFORE: dict[int, object] = {}
_HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def test_the_cli_s_main_takes_sigterm_and_sighup_as_ctrl_c(capsys):
    _BEFORE.update({sig: signal.getsignal(sig) for sig in _HANDLED})
    assert main(["--version"]) == 0
    capsys.readouterr()
    assert all(signal.getsignal(sig) is signals._interrupt for sig in _HANDLED)  # (what the next test must not see)


def test_the_test_after_it_has_the_handlers_the_session_had():
    assert _BEFORE, "run with the test before it"
    assert {sig: signal.getsignal(sig) for sig in _HANDLED} == _BEFORE
    assert all(handler is not signals._interrupt for handler in _BEFORE.values())
