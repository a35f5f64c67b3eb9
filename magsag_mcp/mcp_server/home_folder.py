"""The user's home folder written ``~`` in what an MCP client reads: a tool's result or error, a resource.

A policy's refusal names the file and key that decide it (``at /home/alice/magsag/catalog/policies/models.yaml:
policies.0.allowed_models``), for a person to fix it by, and the ledger keeps the words (``query_runs``,
``search_usage`` read them back). Read by a client, the absolute path told the client's model, and over HTTP every
client of a shared server, the operator's user name and where their files are. ``~/magsag/catalog/...`` is as good
to fix it by (a shell expands it). A path outside the home names no user and is left as it is; so are the CLI's and
the Python API's messages, read by the person whose home it is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from functools import lru_cache
from typing import Any


def _homes() -> tuple[str, ...]:
    """The home folder as paths under it start, or none where it names no user (unset, or ``/``: a container's)."""
    home = os.path.expanduser("~").rstrip("/\\")
    return _spellings(home) if home and home != "~" and os.path.isabs(home) else ()


@lru_cache(maxsize=4)
def _spellings(home: str) -> tuple[str, ...]:
    """``home`` as a path under it may be written: as HOME gives it, as a path names it (``/home//alice/`` is
    ``/home/alice``), and through the links it is reached by. HOME a link (``/home/alice`` to ``/data/users/alice``),
    the working folder is its real path (``os.getcwd()``: a ``./catalog`` in a project under the home), and a policy's
    refusal named the user's real folder. Longest first, for the pattern to take the whole of one."""
    found = {home, os.path.normpath(home), os.path.realpath(home)}
    spelt = {h.rstrip("/\\") for h in found}
    return tuple(sorted((h for h in spelt if h and os.path.isabs(h)), key=len, reverse=True))


def _as_json_writes(home: str) -> str:
    return json.dumps(home, ensure_ascii=False)[1:-1]


@lru_cache(maxsize=4)
def _written(homes: tuple[str, ...]) -> tuple[str, ...]:
    """Each spelling of the home, and each as JSON writes it inside a string: a string may hold JSON (search_usage's
    cut event data, a vendor's error body), where a Windows home's backslashes are doubled. Longest first."""
    return tuple(sorted({*homes, *map(_as_json_writes, homes)}, key=len, reverse=True))


@lru_cache(maxsize=4)
def _home_pattern(homes: tuple[str, ...]) -> re.Pattern[str]:
    # the home itself, and not the start of another name ("/home/al" of "/home/alice") nor the end of one ("/root"
    # of "/srv/root"); a separator, the end or any other character (a quote, ":", a space) may follow it
    spelt = "|".join(map(re.escape, _written(homes)))
    return re.compile(r"(?<![\w.\-/\\])(?:" + spelt + r")(?![\w.\-])")


def holds_home(text: str) -> bool:
    """Whether ``text`` (a result as it is sent, JSON or not) may hold the home folder: a look for it, and for it as
    JSON writes it (a Windows home's backslashes doubled)."""
    homes = _homes()
    return bool(homes) and any(home in text for home in _written(homes))


def home_as_tilde(data: Any, *, kept: Collection[str] = ()) -> Any:
    """``data`` (a string, or JSON-like mappings and lists of them) with the home folder written ``~`` in every string;
    ``kept``: keys of the top mapping whose values are left as they are (invoke_skill's answer, the vendor's words,
    returned as they were paid for)."""
    homes = _homes()
    if not homes:
        return data
    pattern, written = _home_pattern(homes), _written(homes)

    def said(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub("~", value) if any(home in value for home in written) else value
        if isinstance(value, dict):
            return {key: said(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [said(item) for item in value]
        return value

    if isinstance(data, dict) and kept:
        return {key: item if key in kept else said(item) for key, item in data.items()}
    return said(data)
