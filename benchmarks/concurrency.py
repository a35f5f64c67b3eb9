"""Where a call's time goes with many callers, per thread: ``python -m benchmarks.concurrency``.

The main table gives a scenario's calls per second and CPU per call for the whole process; this splits them. Each run
(a fresh process, ``--calls`` calls at ``--callers`` concurrency after a warm-up, against the loopback upstream)
reports, a call:

- ``cpu``: the process's CPU (every thread), as the main table's; ``loop``: the event loop's thread alone
  (``time.thread_time``); ``others``: the rest (the ledger's writer thread, aiosqlite's);
- ``gc``: CPU in the cyclic collector (a ``gc.callbacks`` hook timing each collection by ``thread_time``);
- ``wall``: the run's wall time a call (``1 / calls per second``), and what the loop's thread did with it, from the
  kernel's per-thread ``schedstat`` (Linux): ``loop_runq``, runnable but waiting for a CPU (the machine's other
  processes, the upstream, our writer thread); ``select``, the loop waiting for I/O (timed around the selector), and
  of it ``select_batch``, while a group commit was in flight (the loop idle until the ledger answers); the rest of the
  wall not on a CPU, in no queue and not in select, is ``blocked``: chiefly waiting for the GIL another thread holds;
- ``batches``: group commits a call (the full path: a reservation's and a record's trips share them).

Counts of time, not instructions: the machine's load moves them, so runs are interleaved (every scenario at every
caller count before the next repeat) and medians shown. ``select`` includes the time the loop was runnable after its
wait ended, which ``loop_runq`` counts too: ``blocked`` can come out a little below zero.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .fast_upstream import upstream_process

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("floor", "full", "full_sync_normal")
FIELDS = ("cps", "cpu", "loop", "others", "gc", "wall", "loop_runq", "select", "select_batch", "blocked", "batches")


def schedstat(tid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable and waiting for one) of this process's thread ``tid``, from
    ``/proc/self/task/TID/schedstat``; None where the kernel does not keep it (not Linux, or schedstats off)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            on_cpu, waiting = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


class _Collections:
    """The cyclic collector's CPU time, by ``gc.callbacks`` (each collection runs on the thread that triggered it)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.cpu += time.thread_time() - self._started


class _TimedSelect:
    """The loop's selector with its waits timed, and the part of them spent while ``busy()`` (a batch in flight)."""

    def __init__(self, selector: Any, busy: Any) -> None:
        self.waited = self.waited_busy = 0.0
        self._select = selector.select
        self._busy = busy
        selector.select = self.select

    def select(self, timeout: float | None = None) -> Any:
        busy = self._busy()
        t0 = time.perf_counter()
        try:
            return self._select(timeout)
        finally:
            spent = time.perf_counter() - t0
            self.waited += spent
            if busy:
                self.waited_busy += spent


async def one_run(name: str, url: str, calls: int, callers: int, warmup: int) -> dict[str, float]:
    """One scenario's run in this process, measured as the module's docstring says."""
    from .scenarios import _floor, _service

    tmp = Path(tempfile.mkdtemp(prefix="magsag-conc-"))
    if name == "floor":
        call, close = await _floor(url, False)
        ledger = None
    else:
        call, close = await _service(url, tmp, sync="normal" if name == "full_sync_normal" else "full")
        ledger = close.__self__.ledger  # type: ignore[attr-defined]
    for _ in range(warmup):
        await call()
    batches = [0]
    if ledger is not None:
        write_batch = ledger._write_batch

        async def counted(until_idle: bool) -> bool:
            batches[0] += 1
            return await write_batch(until_idle)

        ledger._write_batch = counted
    loop = asyncio.get_running_loop()
    selects = _TimedSelect(loop._selector, lambda: ledger is not None and ledger._batch_in_flight)  # type: ignore[attr-defined]
    collections = _Collections()
    per = [calls // callers + (1 if i < calls % callers else 0) for i in range(callers)]

    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    me = threading.get_native_id()
    gc.callbacks.append(collections)
    sched0, thread0, cpu0, wall0 = schedstat(me), time.thread_time(), time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(worker(n) for n in per if n))
    finally:
        wall = time.perf_counter() - wall0
        cpu, thread = time.process_time() - cpu0, time.thread_time() - thread0
        sched1 = schedstat(me)
        gc.callbacks.remove(collections)
    await close()
    runq = on_cpu = float("nan")
    if sched0 is not None and sched1 is not None:
        on_cpu, runq = sched1[0] - sched0[0], sched1[1] - sched0[1]

    def us(seconds: float) -> float:
        return round(seconds / calls * 1e6, 1)

    return {
        "cps": round(calls / wall, 1),
        "cpu": us(cpu),
        "loop": us(thread),
        "others": us(cpu - thread),
        "gc": us(collections.cpu),
        "wall": us(wall),
        "loop_runq": us(runq),
        "select": us(selects.waited),
        "select_batch": us(selects.waited_busy),
        "blocked": us(wall - on_cpu - runq - selects.waited),
        "batches": round(batches[0] / calls, 4),
    }


def _run(name: str, url: str, calls: int, callers: int, warmup: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "benchmarks.concurrency", "--one", name, "--upstream", url]
    cmd += ["--calls", str(calls), "--callers", str(callers), "--warmup", str(warmup)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{name} at {callers} callers failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each field's median over a scenario's runs."""
    return {f: round(statistics.median(r[f] for r in runs), 4 if f == "batches" else 1) for f in FIELDS}


def render(rows: dict[tuple[str, int], dict[str, float]]) -> str:
    """The table: one row per scenario and caller count, each a field's median, in microseconds a call."""
    lines = ["| scenario | callers | " + " | ".join(FIELDS) + " |", "|---|---:|" + "---:|" * len(FIELDS)]
    for (name, callers), row in rows.items():
        lines.append(f"| {name} | {callers} | " + " | ".join(f"{row[f]:,}" for f in FIELDS) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.concurrency", description=__doc__.splitlines()[0])
    p.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)} (default: floor full)")
    p.add_argument("--callers", type=int, nargs="+", default=[1, 200])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--one", choices=SCENARIOS, help=argparse.SUPPRESS)  # a single run, in this process
    p.add_argument("--upstream", help=argparse.SUPPRESS)
    a = p.parse_args()
    unknown = [n for n in a.scenarios if n not in SCENARIOS]
    if unknown:
        p.error(f"no scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    if a.one:
        print(json.dumps(asyncio.run(one_run(a.one, a.upstream, a.calls, a.callers[0], a.warmup))))
        return
    scenarios = a.scenarios or ["floor", "full"]
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    with upstream_process() as (_, url):
        for _ in range(a.repeats):  # interleaved: every scenario at every caller count before the next repeat
            for callers in a.callers:
                for name in scenarios:
                    runs.setdefault((name, callers), []).append(_run(name, url, a.calls, callers, a.warmup))
    print(render({key: medians(v) for key, v in runs.items()}))


if __name__ == "__main__":
    main()
