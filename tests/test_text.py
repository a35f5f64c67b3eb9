"""magsag_mcp.text: the quick walk every call takes finds every unpaired surrogate the naming walk finds."""

from __future__ import annotations

import random
from collections import OrderedDict
from types import MappingProxyType

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.text import check_text, surrogate_at

HALF = "\ud83d"


def _tree(rnd: random.Random, depth: int = 0):
    kind = rnd.randrange(7 if depth < 4 else 3)
    if kind == 0:
        return rnd.choice(["plain", "café", "😀", "", "a" + HALF, HALF + "b", "\udc00", "日本"])
    if kind == 1:
        return rnd.choice([1, 2.5, None, True])
    if kind == 2:
        return rnd.choice(["x", "ü"])
    if kind == 3:
        return [_tree(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 4:
        return tuple(_tree(rnd, depth + 1) for _ in range(rnd.randrange(3)))
    keys = ["k", "clé", "k" + HALF, "n"]
    items = {rnd.choice(keys): _tree(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return items if kind == 5 else rnd.choice([OrderedDict(items), MappingProxyType(items)])


def test_check_text_refuses_exactly_what_surrogate_at_finds():
    rnd = random.Random(7)
    refused = 0
    for _ in range(3000):
        value = {"data": _tree(rnd)}
        found = surrogate_at(value, "payload")
        if found is None:
            check_text(value, "payload")
        else:
            refused += 1
            with pytest.raises(InputError, match=r"^payload.* is not valid Unicode text"):
                check_text(value, "payload")
    assert 300 < refused < 2700  # both sides were exercised


def test_names_and_none():
    check_text(None, "agent")
    check_text("bench", "agent")
    check_text("café 😀", "agent")
    with pytest.raises(InputError, match=r"agent is not valid Unicode text.*U\+D83D at character 1"):
        check_text("a" + HALF, "agent")
