"""The commands' start-up with the cyclic collector paused (magsag_mcp/startup.py).

Each check runs in a fresh interpreter: freezing is process-wide, and the test process's collector is
its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_collector_is_off_in_the_block_then_on_with_start_up_frozen():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        before = gc.get_freeze_count()
        with collector_paused():
            inside = gc.isenabled()
            made = [[i] for i in range(1000)]
        print(json.dumps({"inside": inside, "after": gc.isenabled(), "frozen": gc.get_freeze_count() - before}))
        """
    )
    assert seen["inside"] is False
    assert seen["after"] is True
    assert seen["frozen"] >= 1000  # what the block made is out of later collections


def test_an_error_in_the_block_still_turns_the_collector_back_on():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        try:
            with collector_paused():
                raise ValueError("a bad --catalog")
        except ValueError:
            pass
        print(json.dumps({"after": gc.isenabled()}))
        """
    )
    assert seen["after"] is True


def test_a_collector_the_caller_turned_off_stays_off_and_nothing_is_frozen():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        gc.disable()
        with collector_paused():
            pass
        print(json.dumps({"after": gc.isenabled(), "frozen": gc.get_freeze_count()}))
        """
    )
    assert seen == {"after": False, "frozen": 0}


def test_the_server_command_builds_with_the_collector_paused_and_serves_with_it_on():
    # build_server is replaced by one that records the collector's state at build time and what it is
    # when the command goes on to serve (serving itself is replaced: anyio.run returns at once).
    seen = run(
        """
        import gc, json, anyio
        import magsag_mcp.mcp_server.server as server
        states = {}
        real = server.build_server
        def build_server(**kw):
            states["building"] = gc.isenabled()
            return real(**kw)
        server.build_server = build_server
        anyio.run = lambda *a, **k: states.setdefault("serving", gc.isenabled())
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        print(json.dumps({**states, "code": code, "frozen": gc.get_freeze_count() > 0}))
        """
    )
    assert seen == {"building": False, "serving": True, "code": 0, "frozen": True}
