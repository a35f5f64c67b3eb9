"""Did you mean ...? The nearest valid name for a misspelt key, worked out only when an error is raised.

Nothing here runs on a valid call: difflib compares every pair of names, which is cheap once per
error and too dear once per call.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: where a caller finds each skill's payload fields and input schema, on every surface
SKILL_FIELDS_LISTED = "list_skills, `magsag catalog skills --json` and skills.list() show each skill's input_schema"


def nearest(name: object, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name`` (a misspelling of it), or None when none is close."""
    if not isinstance(name, str):
        return None
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1, cutoff=cutoff)
    return close[0] if close else None


def named(unknown: Iterable[object], known: Iterable[str]) -> str:
    """``'max_token' (did you mean 'max_tokens'?), 'zzz'``: each unknown key with its nearest valid one."""
    candidates = list(known)
    out = []
    for key in sorted(unknown, key=str):
        close = nearest(key, candidates)
        out.append(f"{key!r} (did you mean {close!r}?)" if close else repr(key))
    return ", ".join(out)
