"""A command's start-up with the cyclic garbage collector paused: :func:`collector_paused`.

Importing the MCP SDK builds a few thousand pydantic models (two protocol revisions' types and the
server's): tens of thousands of container objects, none of them garbage, which the cyclic collector
walks again and again while they are made. Paused, the SDK's import took 390 ms instead of 450 on the
benchmark's VM (``BENCHMARKS.md``, twelfth round). The commands (``magsag-mcp``) pause it; the library
never does, since an application's collector is its own to tune.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off; then freeze what it made and turn the collector back on.

    What start-up makes (modules, classes, schemas, the server) lives as long as the process, so it is
    frozen (``gc.freeze``: kept out of every later collection, which then walks only what serving made).
    Reference counting still frees what it can at once. The cycles that start-up leaves as garbage stay
    in the frozen generation for good: for ``magsag-mcp``, about 3,000 objects (under 1 MB) that a
    collection before freezing would free in 70 ms, most of what the pause saves. That trade is why the
    block holds start-up only. A collector already off (the caller's choice) is left off, nothing frozen.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
