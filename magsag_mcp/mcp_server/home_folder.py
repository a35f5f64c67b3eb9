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


def _home() -> str | None:
    """The home folder as paths under it start, or None where it names no user (unset, or ``/``: a container's)."""
    home = os.path.expanduser("~").rstrip("/\\")
    return home if home and home != "~" and os.path.isabs(home) else None


@lru_cache(maxsize=4)
def _home_pattern(home: str) -> re.Pattern[str]:
    # the home itself, and not the start of another name ("/home/al" of "/home/alice") nor the end of one ("/root"
    # of "/srv/root"); a separator, the end or any other character (a quote, ":", a space) may follow it
    return re.compile(r"(?<![\w.\-/\\])" + re.escape(home) + r"(?![\w.\-])")


def holds_home(text: str) -> bool:
    """Whether ``text`` (a result as it is sent, JSON or not) may hold the home folder: a look for it, and for it as
    JSON writes it (a Windows home's backslashes doubled)."""
    home = _home()
    return home is not None and (home in text or json.dumps(home, ensure_ascii=False)[1:-1] in text)


def home_as_tilde(data: Any, *, kept: Collection[str] = ()) -> Any:
    """``data`` (a string, or JSON-like mappings and lists of them) with the home folder written ``~`` in every string;
    ``kept``: keys of the top mapping whose values are left as they are (invoke_skill's answer, the vendor's words,
    returned as they were paid for)."""
    home = _home()
    if home is None:
        return data
    pattern = _home_pattern(home)

    def said(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub("~", value) if home in value else value
        if isinstance(value, dict):
            return {key: said(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [said(item) for item in value]
        return value

    if isinstance(data, dict) and kept:
        return {key: item if key in kept else said(item) for key, item in data.items()}
    return said(data)
