"""The user's home folder written ``~`` in what an MCP client reads: a tool's result or error, a resource.

A policy's refusal names the file and key that decide it (``at /home/alice/magsag/catalog/policies/models.yaml:
policies.0.allowed_models``), for a person to fix it by, and the ledger keeps the words (``query_runs``,
``search_usage`` read them back). Read by a client, the absolute path told the client's model, and over HTTP every
client of a shared server, the operator's user name and where their files are. ``~/magsag/catalog/...`` is as good
to fix it by (a shell expands it). A path outside the home names no user and is left as it is; so are the CLI's and
the Python API's messages, read by the person whose home it is.

Only where a path is meant: words (a message, a warning, a note) and paths. A name a client filters by or passes
back (:data:`IDENTIFIER_KEYS`: a run id, an agent, a model, a cursor), at any depth of a result, is left as it was
recorded: a run id ``/home/alice/jobs/7`` said ``~/jobs/7``, the client's ``query_runs(filters={"run_id": ...})`` with
it found no run. Only a name, and only the ledger's: a mapping under such a key is walked as words, and a logged
event's data (:data:`EVENT_DATA`) is the agent's own, its ``id`` no name of the ledger's. A Windows home is matched
in any letter case (``C:\\Users\\Alice`` is ``c:\\users\\alice`` to Windows, and a path another tool wrote may be
either); elsewhere a path's case is its own (``/home/Alice`` is
another folder).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from functools import lru_cache
from typing import Any

#: the keys whose values are names a client filters by or passes back, left as they are wherever they are in a result
#: (a run's, an attempt's, a filter echoed, a hit's): the ids of runs and skills, agents, models, providers and targets
#: (a local model named by its file), the page cursors, and search_usage's pattern (its cursor holds to the pattern)
IDENTIFIER_KEYS = frozenset(
    {
        "run_id",
        "parent_run_id",
        "budget_run_id",
        "agent",
        "skill",
        "skill_id",
        "id",
        "model",
        "served_model",
        "provider",
        "target",
        "label",
        "next_cursor",
        "cursor",
        "pattern",
    }
)
#: the key of a logged event's data (search_usage's hit): the agent's own, whose keys are no names of the ledger's (its
#: "id" or "model" an agent's word, read as words: its JSON cut to text was, and the same data said whole was not)
EVENT_DATA = "data"
#: Windows' paths are the same in any letter case (NTFS, as Windows names files); POSIX paths are not
_CASE_BLIND = os.name == "nt"


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


@lru_cache(maxsize=8)
def _home_pattern(homes: tuple[str, ...], case_blind: bool) -> re.Pattern[str]:
    # the home itself, and not the start of another name ("/home/al" of "/home/alice") nor the end of one ("/root"
    # of "/srv/root"); a separator, the end or any other character (a quote, ":", a space) may follow it
    spelt = "|".join(map(re.escape, _written(homes)))
    return re.compile(r"(?<![\w.\-/\\])(?:" + spelt + r")(?![\w.\-])", re.IGNORECASE if case_blind else 0)


@lru_cache(maxsize=4)
def _looked_for(homes: tuple[str, ...], case_blind: bool) -> tuple[str, ...]:
    """What a text is looked through for (casefolded where case is blind, as the text then is)."""
    written = _written(homes)
    return tuple(home.casefold() for home in written) if case_blind else written


def _holds(text: str, looked_for: tuple[str, ...], case_blind: bool) -> bool:
    seen = text.casefold() if case_blind else text
    return any(home in seen for home in looked_for)


def holds_home(text: str) -> bool:
    """Whether ``text`` (a result as it is sent, JSON or not) may hold the home folder: a look for it, and for it as
    JSON writes it (a Windows home's backslashes doubled), in any letter case on Windows."""
    homes = _homes()
    return bool(homes) and _holds(text, _looked_for(homes, _CASE_BLIND), _CASE_BLIND)


def home_as_tilde(data: Any, *, kept: Collection[str] = ()) -> Any:
    """``data`` (a string, or JSON-like mappings and lists of them) with the home folder written ``~`` in every string
    but the names under :data:`IDENTIFIER_KEYS`, at any depth; ``kept``: keys of the top mapping whose values are left
    as they are too (invoke_skill's answer, the vendor's words, returned as they were paid for)."""
    homes = _homes()
    if not homes:
        return data
    case_blind = _CASE_BLIND
    pattern, looked_for = _home_pattern(homes, case_blind), _looked_for(homes, case_blind)

    def said(value: Any, names: bool = True) -> Any:
        """``names``: the keys of the ledger's results (not inside a logged event's data, the agent's own words)."""
        if isinstance(value, str):
            return pattern.sub("~", value) if _holds(value, looked_for, case_blind) else value
        if isinstance(value, dict):
            return {
                key: as_recorded(item) if names and key in IDENTIFIER_KEYS else said(item, names and key != EVENT_DATA)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [said(item, names) for item in value]
        return value

    def as_recorded(value: Any) -> Any:
        # a name is a string (or a list of them); anything else under such a key is no name: walked as words
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple):
            return [as_recorded(item) for item in value]
        return said(value)

    if isinstance(data, dict) and kept:
        return {
            key: item if key in kept else as_recorded(item) if key in IDENTIFIER_KEYS else said(item, key != EVENT_DATA)
            for key, item in data.items()
        }
    return said(data)
