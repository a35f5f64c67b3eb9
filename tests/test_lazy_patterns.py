"""The redaction's largest patterns, compiled on first use (magsag_mcp/lazy_pattern.py): the server command starts
without compiling them, and the first text that needs one (an error, a log line) is redacted as before.

The start-up checks run in a fresh interpreter: which patterns are compiled is the process's, and the test process's
have been used by earlier tests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

from magsag_mcp.lazy_pattern import compiled_on_first_use

#: an OpenAI-shaped key and a bearer token no pattern but the key shapes finds (neither is registered)
KEY = "sk-Q7xk2Lm9Rv3Tz8Wq5Yb1Hn6J"
TOKEN = "Zq4Rt8Xm2Kv6Pw9N"


def test_a_pattern_compiled_on_first_use_answers_as_the_compiled_one():
    source = r"(?P<word>[a-z]+)-(?P<n>\d+)"
    lazy, compiled = compiled_on_first_use(source, re.IGNORECASE), re.compile(source, re.IGNORECASE)
    assert "search" not in vars(lazy)  # nothing compiled yet
    text = "Ab-12 cd-3 x"
    assert lazy.sub("<>", text) == compiled.sub("<>", text) == "<> <> x"
    assert "search" in vars(lazy)  # compiled once: its methods are the compiled pattern's from then on
    assert [m.groupdict() for m in lazy.finditer(text)] == [m.groupdict() for m in compiled.finditer(text)]
    assert lazy.fullmatch("ab-1") is not None and lazy.match("1") is None
    assert (lazy.pattern, lazy.flags, lazy.groups, dict(lazy.groupindex)) == (
        compiled.pattern, compiled.flags, compiled.groups, dict(compiled.groupindex)
    )


def test_the_server_command_starts_without_compiling_them_and_redacts_its_first_log_line_and_error():
    # serving is replaced by what a first request's failure does: a log line and an error's message, each quoting a
    # key and a bearer token that only the patterns find
    code = textwrap.dedent(
        f"""
        import json, logging, sys, anyio
        from magsag_mcp import key_escapes, key_shapes
        from magsag_mcp.errors import redact
        lazy = {{"secret": key_shapes._SECRET_PATTERNS, "over_breaks": key_escapes._ESCAPE_OVER_BREAKS}}
        seen = {{}}
        def serve(*args, **kwargs):
            seen["compiled_at_start"] = sorted(name for name, p in lazy.items() if "search" in vars(p))
            logging.getLogger("magsag_mcp.mcp").error("the provider said: invalid key %s", {KEY!r})
            seen["error"] = redact("HTTP 401: Authorization: Bearer {TOKEN} refused")
            seen["escaped_over_a_break"] = key_escapes._decoded("a%2\\nF b")[0]
            seen["compiled_after"] = sorted(name for name, p in lazy.items() if "search" in vars(p))
        anyio.run = serve
        from magsag_mcp.mcp_server.__main__ import main
        seen["code"] = main(["--db", ":memory:"])
        print(json.dumps(seen))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["compiled_at_start"] == []
    assert seen["code"] == 0
    assert seen["error"] == "HTTP 401: Authorization: Bearer [REDACTED] refused"
    assert seen["escaped_over_a_break"] == "a/ b"  # the escape read over its line break, as before
    assert seen["compiled_after"] == ["over_breaks", "secret"]
    logged = [line for line in done.stderr.splitlines() if "the provider said" in line]
    assert len(logged) == 1 and logged[0].endswith("the provider said: invalid key [REDACTED]"), done.stderr
    assert KEY not in done.stderr and TOKEN not in done.stdout


def test_a_pattern_compiled_on_first_use_copies_and_pickles_as_one_yet_to_compile():
    # copy and pickle make the object anew without its instance dict, then ask it for __setstate__ and the like:
    # every name it lacked went to the compile, which read the missing source through __getattr__ again, without end
    import copy
    import pickle

    source = r"(?P<word>[a-z]+)-(?P<n>\d+)"
    lazy = compiled_on_first_use(source, re.IGNORECASE)
    for made in (copy.copy(lazy), copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert "search" not in vars(made)  # still to compile, as the one copied was
        assert made.sub("<>", "Ab-12 x") == "<> x" and made.flags == re.compile(source, re.IGNORECASE).flags
    assert "search" not in vars(lazy)


def test_asking_a_pattern_compiled_on_first_use_for_what_no_pattern_has_neither_compiles_it_nor_finds_it():
    # introspection (inspect.unwrap's __wrapped__, a mock's spec, a debugger) asks for names no pattern has: each
    # compiled the pattern it only looked at
    lazy = compiled_on_first_use(r"a+b")
    assert not hasattr(lazy, "__wrapped__") and not hasattr(lazy, "_source_of_nothing")
    assert "search" not in vars(lazy)


def test_threads_that_first_use_them_together_each_redact_whole():
    # each thread's first text compiles the pattern it needs while the others do too (two compiles, either's
    # methods serve): none may find a half-made object and let a key through. Run where nothing compiled them yet
    code = textwrap.dedent(
        f"""
        import json, sys, threading
        sys.setswitchinterval(1e-6)  # (switch threads as often as the interpreter can: no timing is asserted)
        from magsag_mcp import key_escapes, key_shapes
        from magsag_mcp.errors import redact
        assert "search" not in vars(key_shapes._SECRET_PATTERNS)
        texts = ["api_key: {KEY}", "Authorization: Bearer {TOKEN}", "a%2\\nF token={KEY}"]
        start, said = threading.Barrier(12), []
        def first_use(i):
            start.wait()
            said.append(redact(texts[i % 3]))
        threads = [threading.Thread(target=first_use, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps(sorted(set(said))))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "Authorization: Bearer [REDACTED]",
        "a%2\nF token=[REDACTED]",
        "api_key: [REDACTED]",
    ]
