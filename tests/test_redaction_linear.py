"""redact() does work in proportion to its text, counted in instructions (valgrind), never timed.

A vendor's or a gateway's body is redacted as its error, its record and its log line are made, up to 64 KB of it
(excerpt): a pattern that scans the rest of a run from each of its positions made 64 KB of ``eyJeyJ...`` take 4 s
of the event loop each time (db9c17f). The texts here are the shapes that would make each part of the key patterns
scan again (a JWT's start repeated, a key's or a label's run that a JWT or a glued label might continue, whitespace
a label's value might follow), redacted at one size and at four times it, each in a fresh process under valgrind:
the instructions a character must stay the same (quadratic work would make them four times as many)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "magsag_mcp"
#: a known key, whose pieces are looked for in the text
KEY = "9e1c4a7f2b5d8e0a3c6f9b2d5e8a1c4f"
#: a known key holding "/", "+" and "=", looked for in a text holding escapes with them undone (key_escapes)
BASE64 = "Zx9Qw3Er7Ty/Ui5Op2As+Df4Gh8Jk0Lm="

#: loads redaction.py on its own (it imports the standard library and its siblings key_pieces, key_shapes,
#: key_escapes and lazy_pattern alone), so that the count is of it and Python's start, not of the package's imports;
#: redacts the adversarial text at the size asked (0: nothing). No bytecode is written (-B): a first run that compiled
#: and cached it counted 25 million more
_SCRIPT = r"""
import importlib, sys, types
package = sys.modules["magsag_alone"] = types.ModuleType("magsag_alone")
package.__path__ = [sys.argv[1]]
redaction = importlib.import_module("magsag_alone.redaction")
# the patterns compiled on first use (lazy_pattern) compiled in every run, "none" too, as the import compiled them
# before: the counts compared are of the search alone
escapes = importlib.import_module("magsag_alone.key_escapes")
for pattern in (redaction._SECRET_PATTERNS, escapes._ESCAPE, escapes._ESCAPE_OVER_BREAKS):
    pattern.search("")
redaction.register_secret(KEY)
redaction.register_secret(BASE64)
n = int(sys.argv[2])
pieces = [
    "eyJ" * n,  # a JWT's start, again and again, with no dot
    "run-" + "a" * n + "eyJ" + "b" * n + ".eyJ" + "c" * n,  # a JWT's header and payload, no signature
    "sk-" + "eyJ" * n + ".eyJ" + "d" * n,  # a key running into what might be a JWT's rest
    "AIza" + "e" * n + ".eyJ" + "f" * n + ".",
    "Bearer " + "abcdefghBearer " * (n // 8),  # a label glued to each value
    "api_key: " + "password" * (n // 4) + ":",  # a value ending in a label, with no value of its own
    "sk-proj-Ab3dEf6hIj9kLm2nBearer" + " " * n + "!",  # a glued label's separator with no value after it
    "Bearer" + "\t" * n + "!",
    "x-api-key" + " " * n + "=",
    "api_key\\\"" + "%20" * n + "%3A!",  # a label's separator escaped, with no value after it
    "Authorization%3A%20Bearer" + "%20" * n + "!",
    (KEY[:12] + "\\n") * (n // 8),  # a known key's start, cut by a line break, and again
    "bearer" * (n // 6) + "!",  # a scheme glued to what might be a token, with no digit in it, again and again
    "Bearer" + "%20" * n + "!",
    "Bearer:" + " " * n + "!",
    (KEY[:12] + "%0A") * (n // 8),  # cut by a line break a URL or HTML encodes
    KEY[4:20] + "<br>" * n + KEY[20:],
    KEY[4:20] + " " * n + KEY[20:],  # a run of it, and a break longer than a line break
    "Bearer" * (n // 6) + "!",  # the scheme capitalised, again and again: each looked at as a CamelCase name's start
    "Bearer1" * (n // 7) + "!",  # the same with a digit in each, read as a name from each (32 characters at most)
    "Bearer " + "Abcdefgh1" * (n // 9) + "!",  # a name's words after the scheme's space, on and on
    (BASE64[:9] + "&#x2F;" + BASE64[10:14] + "\\u002b") * (n // 24),  # a base64 key's runs, read through escapes
    "Incorrect API key provided: sk-ab" + "*" * n + "wxyz",  # a masked key, its mask on and on
    "api_key: " + "ab..." * (n // 5) + "!",  # a label's value with an ellipsis after each part of it
    "%25" * n + "2F" + "&#" + "0" * n + "47;",  # an escape's start, on and on
]
text = " | ".join(pieces) if n else ""
redaction.redact(text)
"""


#: redacts the text named (``none``: nothing): 60,000 characters of prose and lines, a ``.`` (no escape's start) or a
#: ``%`` (one) after them; or 20,000 ``%2`` (an escape's start that is none), each followed by a space or a line break
_ESCAPES_SCRIPT = r"""
import importlib, sys, types
package = sys.modules["magsag_alone"] = types.ModuleType("magsag_alone")
package.__path__ = [sys.argv[1]]
redaction = importlib.import_module("magsag_alone.redaction")
# the patterns compiled on first use (lazy_pattern) compiled in every run, "none" too, as the import compiled them
# before: the counts compared are of the search alone
escapes = importlib.import_module("magsag_alone.key_escapes")
for pattern in (redaction._SECRET_PATTERNS, escapes._ESCAPE, escapes._ESCAPE_OVER_BREAKS):
    pattern.search("")
redaction.register_secret(BASE64)
prose = ("the quick brown fox jumps over the lazy dog\n" * 1500)[:60000]
texts = {"plain": prose + ".", "one": prose + "%", "spaced": "%2 " * 20000, "broken": "%2\n" * 20000}
if sys.argv[2] != "none":
    redaction.redact(texts[sys.argv[2]])
"""


def _instructions(size: int | str, script: str = _SCRIPT) -> int:
    """The instructions a fresh interpreter executes redacting the text of ``size`` (``script``'s argument)."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        + [sys.executable, "-S", "-B", "-c", script.replace("KEY", repr(KEY)).replace("BASE64", repr(BASE64))]
        + [str(PACKAGE), str(size)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    assert found, done.stderr[-2000:]
    return int(found[1].replace(",", ""))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
def test_redacting_four_times_the_text_takes_four_times_the_instructions_not_sixteen():
    start = _instructions(0)
    once, four_times = _instructions(1500) - start, _instructions(6000) - start
    assert once > 0
    # linear: 4x (each size's own constant parts make it a little less); quadratic in any piece: toward 16x
    assert four_times < 5 * once, (once, four_times)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
def test_a_text_holding_one_escapes_start_is_searched_for_escapes_at_those_starts_alone():
    # the escapes' search tried each of the 17 escapes (and a line break inside each) at every character of the text,
    # each failing at its first: one "%" in 60,000 characters of prose made its redaction some 14 times as long as
    # the same text's without it (counted), where it is now some 3 times
    start = _instructions("none", _ESCAPES_SCRIPT)
    without = _instructions("plain", _ESCAPES_SCRIPT) - start
    with_one = _instructions("one", _ESCAPES_SCRIPT) - start
    assert 0 < without < with_one < 5 * without, (without, with_one)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
def test_an_escapes_start_that_is_none_is_tried_once_for_a_line_break_after_it():
    # "%2" and a line break, again and again: each break was taken and given back, each "%2" tried so three times (for
    # "/", "+" and "="), and the text took some 3.2 times the instructions of the same "%2"s with spaces; some 2.4 now
    start = _instructions("none", _ESCAPES_SCRIPT)
    spaced = _instructions("spaced", _ESCAPES_SCRIPT) - start
    broken = _instructions("broken", _ESCAPES_SCRIPT) - start
    assert 0 < spaced < broken < 2.8 * spaced, (spaced, broken)
