"""Caches keyed by what callers name (a model in a call's ``model_config``), kept to a bounded size.

A long-lived server prices, and looks up, every model a client names; a client naming a new one on every call grew
such a cache for as long as the server ran. :func:`keep` drops the oldest entry once a cache holds ``most``: the names
a server's own calls use come back call after call, and are looked up again (not lost) if a flood of others pushes
them out. A cache read through :func:`look_up` drops the least recently used instead: what it holds cannot be looked up
again (a server's refusal, learned by a call refused, sent again), so the entry its calls read on every call must not
be the first to go once ``most`` others came after it."""

from __future__ import annotations

import threading
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: a cache is read on its service's loop, and by skills.explain on its caller's thread: two threads dropping one
#: oldest entry at once failed (KeyError), and a dict changed during next(iter(...)) raises
_KEEPING = threading.Lock()


def keep(cache: dict[K, V], key: K, value: V, most: int) -> V:
    """``cache[key] = value``, first dropping the oldest entry when ``cache`` holds ``most`` others; ``value``."""
    with _KEEPING:
        if len(cache) >= most and key not in cache:
            del cache[next(iter(cache))]
        cache[key] = value
    return value


def look_up(cache: dict[K, V], key: K) -> V | None:
    """``cache.get(key)``, the entry found made the newest (a dict's pop and set): :func:`keep` drops it last."""
    if key not in cache:  # a miss, what a call's look-up almost always is, takes no lock (one dict read, as .get)
        return None
    with _KEEPING:
        if key not in cache:
            return None
        value = cache[key] = cache.pop(key)
    return value
