"""An error said to a person at a terminal: what failed and its fix in a line or two, where the JSON error (which
scripts parse from a stderr that is a file or a pipe, unchanged) ran to ~130 lines for a call with no key set, its
trace and every skipped attempt before the fix, which scrolled off the screen."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..text import escaped_controls

#: the line breaks other than "\n" of Python's splitlines and a JavaScript reader that escaped_controls leaves
_SEPARATORS = re.compile("[\u2028\u2029]")

#: how to get what the summary leaves out, said after it
_WHOLE = "the whole error as JSON: run it again with stderr not a terminal (2>error.json)"


def stderr_is_terminal() -> bool:
    """Whether stderr is a person's terminal (not a file, a pipe or a test's capture, which get the JSON)."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed stream
        return False


def summary(error: Mapping[str, Any]) -> list[str]:
    """The lines a terminal is shown for ``error`` (an error's redacted ``to_dict()``): what failed with its fix, then
    where the rest is (the call's record in the ledger, the JSON). Each line is of the error's own redacted words."""
    said = _SUMMARIES.get(str(error.get("type")), _said)(error)
    where = [_WHOLE]
    run_id = error.get("run_id")
    if isinstance(run_id, str) and run_id:
        where.insert(0, f"the call's record: magsag data query --run-id {run_id}")
    # the error's words may be a vendor's, as its body said them: a control character is shown, not acted on by the
    # terminal (the JSON escapes it), and a line break's next line indented, read as the message's, not a line of ours;
    # a line or paragraph separator, which a reader splitting lines as Python or JavaScript does breaks at, is written
    # escaped (\u2028), as the text log writes it: what followed it read as a line of its own
    said = [_SEPARATORS.sub(_escaped_separator, escaped_controls(line)).replace("\n", "\n    ") for line in said]
    return [*said, f"  ({'; '.join(where)})"]


def _escaped_separator(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _said(error: Mapping[str, Any]) -> list[str]:
    """The error's message, which names its fix (errors.py's rule), under its type."""
    return [f"magsag: error ({error.get('type')}): {error.get('message')}"]


def _all_targets_failed(error: Mapping[str, Any]) -> list[str]:
    """A call whose every target was skipped for want of a key (a first call, no key set): the keys to set, or a local
    server; any other all-failed call is said by its message, which names each target's reason."""
    trace = error.get("trace")
    trace = trace if isinstance(trace, Mapping) else {}
    skipped = [s for s in trace.get("skipped") or () if isinstance(s, Mapping)]
    attempts = [a for a in error.get("attempts") or () if isinstance(a, Mapping)]
    tried = [a for a in attempts if a.get("outcome") != "skipped"]
    # each skip's key_variables (a target skipped for want of a key: the variables any one of which would hold it),
    # read as the field it is, not found in the reason's words, which may be reworded; the first of each is named
    keys = [s.get("key_variables") for s in skipped]
    if not skipped or tried or not all(isinstance(k, list) and k and isinstance(k[0], str) for k in keys):
        return _said(error)
    names = list(dict.fromkeys(k[0] for k in keys if isinstance(k, list)))
    what = str(error.get("message", "")).split(":", 1)[0] or "the call"
    asked = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return [
        f"magsag: error: {what} failed: no API key is set for any of its targets "
        f"({', '.join(str(s.get('target')) for s in skipped)})",
        # (MAGSAG_PROVIDER=local alone sends the server routing's models by their names, gpt-4o, which it lacks)
        f"  fix: set {asked} (`magsag doctor` says which are set), or call a local server (Ollama, vLLM) with "
        "MAGSAG_PROVIDER=local and MAGSAG_MODEL set to a model it serves (`ollama list` names Ollama's)",
    ]


#: error type -> its summary, where the message alone says less than the error's fields
_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {"all_targets_failed": _all_targets_failed}
