"""What the cyclic collector walks at 200 callers: ``python -m benchmarks.gc_in_flight``.

Three readings of the full path (``benchmarks.scenarios``' ``full`` scenario), each in this process:

- **In flight**: ``--callers`` calls are started together against the loopback upstream answering after
  ``--hold-ms``; once the upstream has received as many requests as the transport's pool sends to one host at
  once (128: the other callers wait for a connection, as at 200 callers in the benchmark),
  the objects the collector tracks are listed (``gc.get_objects()``) and compared with the list taken
  before the calls started. What is new is what the calls in flight hold, counted by type and by where
  ``tracemalloc`` saw each object made (the innermost frame in ``magsag_mcp``, else the innermost frame).
- **Young collections**: ``--calls`` calls at ``--callers`` concurrency against an upstream answering at
  once, with a ``gc.callbacks`` hook counting, for each collection, the objects in the generations it walks.
- **Cycles**: ``--calls`` calls one after another with the collector off, then one collection that keeps
  what it finds (``gc.DEBUG_SAVEALL``): every object there was freed only by the collector, counted by type
  and where it was made.

tracemalloc slows the calls several times over; the counts do not depend on time, except how many calls
a young collection finds in flight. Prints the three tables; ``--json`` prints one JSON document instead.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import inspect
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

from magsag_mcp.transport import Transport

from .fast_upstream import requests_served, upstream_process
from .scenarios import _service

PACKAGE = "/magsag_mcp/"


def _short(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for marker in (PACKAGE, "/site-packages/", "/lib/python"):
        if marker in name:
            name = name.split(marker, 1)[1]
            if marker == PACKAGE:
                name = "magsag_mcp/" + name
            break
    return f"{name}:{frame.lineno}"


def _where(obj: object) -> str:
    """Where ``obj`` was made: the innermost frame in magsag_mcp, and after ``<`` the innermost frame if it is
    another library's (what our line called that made it); ``?`` if tracemalloc did not see it made."""
    tb = tracemalloc.get_object_traceback(obj)
    if tb is None:
        return "?"
    frames = list(tb)  # innermost last (tracemalloc's default order)
    ours = [f for f in frames if PACKAGE in f.filename]
    if not ours:
        return _short(frames[-1])
    if ours[-1] is frames[-1] or ours[-1] == frames[-1]:
        return _short(ours[-1])
    return f"{_short(ours[-1])} < {_short(frames[-1])}"


def _tally(objects: list[object], per: int, top: int) -> dict[str, object]:
    """Per call: how many, by type, by where made, and by whose line made them."""
    places = [_where(o) for o in objects]
    kinds = collections.Counter(type(o).__qualname__ for o in objects)
    rows = collections.Counter(f"{type(o).__qualname__} @ {p}" for o, p in zip(objects, places, strict=True))
    origins = collections.Counter(
        "a line of magsag_mcp"
        if p.startswith("magsag_mcp/") and " < " not in p
        else "a library called by magsag_mcp"
        if p.startswith("magsag_mcp/")
        else "elsewhere (the event loop, the harness; ? unseen)"
        for p in places
    )
    return {
        "per_call": round(len(objects) / per, 1),
        "by_origin": {k: round(n / per, 1) for k, n in origins.most_common()},
        "by_type": {k: round(n / per, 2) for k, n in kinds.most_common(top)},
        "by_place": {k: round(n / per, 2) for k, n in rows.most_common(top)},
    }


async def _in_flight(
    call: Callable[[], Awaitable[object]], proc: subprocess.Popen[str], callers: int, hold: float, top: int
) -> dict[str, object]:
    """The tracked objects the calls hold while every one of them waits for the upstream's answer."""
    # warm-up: caches, pools and the ledger's writer made before anything is counted
    await asyncio.gather(*(call() for _ in range(callers)))
    gc.collect()
    tracemalloc.start(25)
    before = gc.get_objects()
    seen = {id(o) for o in before}
    served = requests_served(proc)
    started = time.monotonic()
    tasks = [asyncio.ensure_future(call()) for _ in range(callers)]
    # the transport's pool sends at most this many requests to one host at once; the other callers wait for a
    # connection, as they do in the benchmark
    at_upstream = min(callers, inspect.signature(Transport).parameters["limit_per_host"].default)
    while requests_served(proc) < served + at_upstream:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the last request's send finish
    now = gc.get_objects()
    done = [t for t in tasks if t.done()]
    if done or time.monotonic() - started > hold:
        why = f"{len(done)} done, {time.monotonic() - started:.1f} s"
        raise SystemExit(f"a call ended before the count ({why}): give the upstream a longer --hold-ms")
    new = [o for o in now if id(o) not in seen and o is not before and o is not now and o is not seen]
    held = _tally(new, callers, top)
    del now, new
    await asyncio.gather(*tasks)
    del tasks
    after = [o for o in gc.get_objects() if id(o) not in seen]
    held["left_after_calls"] = len(after) - 1  # the comprehension's own frame is not tracked; its list is
    del after, before, seen
    tracemalloc.stop()
    return held


async def _young(call: Callable[[], Awaitable[object]], callers: int, calls: int, top: int) -> dict[str, object]:
    """Per generation: collections, objects walked a collection (median and max) and in all, per call; and the
    objects the young collections walked, by type. (Where each was made is not looked up here: with tracemalloc on,
    the calls queued for a connection past the connect timeout.)"""
    walked: dict[int, list[int]] = {0: [], 1: [], 2: []}
    collected = [0]
    kinds: collections.Counter[str] = collections.Counter()

    def hook(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            g = info["generation"]
            young = [o for i in range(min(g, 1) + 1) for o in gc.get_objects(i)]  # a full one walks start-up's too
            walked[g].append(len(young) + sum(len(gc.get_objects(i)) for i in range(2, g + 1)))
            for o in young:
                kinds[type(o).__qualname__] += 1
        else:
            collected[0] += info["collected"]

    per = [calls // callers + (1 if i < calls % callers else 0) for i in range(callers)]

    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    await asyncio.gather(*(worker(n) for n in per))  # warm-up
    gc.collect()
    gc.callbacks.append(hook)
    try:
        await asyncio.gather(*(worker(n) for n in per))
    finally:
        gc.callbacks.remove(hook)
    out: dict[str, object] = {}
    for g, sizes in walked.items():
        if sizes:
            out[f"gen{g}"] = {
                "collections": len(sizes),
                "walked_median": statistics.median(sizes),
                "walked_max": max(sizes),
                "walked_per_call": round(sum(sizes) / calls, 1),
            }
    out["walked_per_call"] = round(sum(sum(s) for s in walked.values()) / calls, 1)
    out["freed"] = collected[0]
    out["young_by_type"] = {k: round(n / calls, 2) for k, n in kinds.most_common(top)}
    return out


async def _cycles(call: Callable[[], Awaitable[object]], calls: int, top: int) -> dict[str, object]:
    """Objects in reference cycles that outlive their call: found by one collection after ``calls`` calls."""
    for _ in range(10):
        await call()
    gc.collect()
    gc.disable()
    tracemalloc.start(25)
    try:
        for _ in range(calls):
            await call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
        gc.set_debug(0)
        found = _tally(garbage, calls, top)
    finally:
        tracemalloc.stop()
        gc.enable()
    return found


async def main_async(a: argparse.Namespace) -> dict[str, object]:
    report: dict[str, object] = {"callers": a.callers}
    with tempfile.TemporaryDirectory(prefix="magsag-gc-") as tmp:
        with upstream_process(latency_ms=a.hold_ms) as (proc, url):
            call, close = await _service(url, Path(tmp) / "held")
            try:
                report["in_flight"] = await _in_flight(call, proc, a.callers, a.hold_ms / 1000, a.top)
            finally:
                await close()
        if not a.calls:
            return report
        with upstream_process() as (_, url):
            call, close = await _service(url, Path(tmp) / "fast")
            try:
                report["young"] = await _young(call, a.callers, a.calls, a.top)
                report["cycles"] = await _cycles(call, a.calls, a.top)
            finally:
                await close()
    return report


def render(report: dict[str, object]) -> str:
    lines = []
    held = report["in_flight"]
    lines.append(f"In flight, {report['callers']} callers: {held['per_call']} tracked objects a call")
    lines.append(f"  (left tracked after the calls ended: {held['left_after_calls']})")
    lines += [f"  {n:8.1f}  made by {k}" for k, n in held["by_origin"].items()]
    lines += [f"  {n:8.2f}  {k}" for k, n in held["by_type"].items()]
    lines.append("  by where made:")
    lines += [f"  {n:8.2f}  {k}" for k, n in held["by_place"].items()]
    if "young" not in report:
        return "\n".join(lines)
    young = report["young"]
    lines.append(f"Collections: {young['walked_per_call']} objects walked a call, {young['freed']} freed")
    for g in range(3):
        if f"gen{g}" in young:
            row = young[f"gen{g}"]
            lines.append(
                f"  gen{g}: {row['collections']} collections, {row['walked_median']} walked at the median,"
                f" {row['walked_max']} at most, {row['walked_per_call']} a call"
            )
    lines.append("  the young collections walked, a call, by type:")
    lines += [f"  {n:8.2f}  {k}" for k, n in young["young_by_type"].items()]
    cycles = report["cycles"]
    lines.append(f"Cycles: {cycles['per_call']} objects a call freed only by the collector")
    lines += [f"  {n:8.2f}  {k}" for k, n in cycles["by_place"].items()]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gc_in_flight", description=__doc__.splitlines()[0])
    p.add_argument("--callers", type=int, default=200)
    p.add_argument("--calls", type=int, default=2000, help="for the collections and the cycles (0: in flight only)")
    p.add_argument("--hold-ms", type=float, default=20000, help="how long the upstream holds each answer")
    p.add_argument("--top", type=int, default=40, help="rows of each table")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    report = asyncio.run(main_async(a))
    print(json.dumps(report, indent=2) if a.json else render(report))


if __name__ == "__main__":
    sys.exit(main())
