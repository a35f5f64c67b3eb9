"""Instructions per call, counted by valgrind: ``python -m benchmarks.instructions``.

CPU time on this project's shared 2-core VM moves by a third between repeats of the same code (see
``BENCHMARKS.md``, "Noise"), so a change worth 50 us a call cannot be seen in the main table. An
instruction count does not move with the machine's load: callgrind counts what the process executed,
not how long it took. Each scenario runs twice under ``valgrind --tool=callgrind`` in a fresh
process, once with a few calls and once with more; the difference, divided by the difference in
calls, is the count per call, with start-up and warm-up cancelling out. Two figures come out per
scenario: all user-space instructions, and the part spent executing SQL statements (inclusive
count under the ``sqlite3`` module's statement execution).

What it cannot see: the kernel (an ``fsync`` costs no instructions here but real CPU time), and
cache misses (the same count runs slower when the caches are cold). It measures the code, so use it
to compare two versions of the code; use the main benchmark for what a call costs.

Needs ``valgrind`` and ``callgrind_annotate`` on PATH. About twenty minutes for the default set
(two pairs of runs per scenario, of 200 and 1,200 calls, two runs at a time).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .fast_upstream import upstream_process
from .scenarios import LOOPS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT = ["floor", "full", "floor_fallback", "fallback"]
FLOORS = {"full": "floor", "full_sync_normal": "floor", "fallback": "floor_fallback"}
# The sqlite3 module runs every statement (execute, executemany, BEGIN and COMMIT alike) through
# this one function, so its inclusive count is the SQL's share without double counting.
SQL_ENTRY = "Modules/_sqlite/cursor.c:_pysqlite_query_execute"
_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?:\s+\[[^\]]*\])?\s*$")


def inclusive_counts(annotated: str) -> dict[str, int]:
    """Function name -> inclusive instruction count, from ``callgrind_annotate --inclusive=yes``."""
    counts: dict[str, int] = {}
    for line in annotated.splitlines():
        m = _LINE.match(line)
        if m:
            # Python's own build path prefixes its source files; keep the part from ``Modules/`` on.
            name = re.sub(r"^.*?/Python-[\d.]+/", "", m.group(2))
            counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def per_call(small: dict[str, int], large: dict[str, int], extra_calls: int) -> dict[str, float]:
    """The two runs' difference per extra call: all instructions, and the SQL statements' part."""
    total = (large["PROGRAM TOTALS"] - small["PROGRAM TOTALS"]) / extra_calls
    sql = (large.get(SQL_ENTRY, 0) - small.get(SQL_ENTRY, 0)) / extra_calls
    return {"instructions": round(total), "sql_instructions": round(sql)}


def _count(name: str, url: str, calls: int, concurrency: int, work: Path, loop: str = "asyncio") -> dict[str, int]:
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{name}.{loop}.{calls}.callgrind"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m"]
    cmd += ["benchmarks.scenarios", name, "--upstream", url, "--calls", str(calls)]
    cmd += ["--concurrency", str(concurrency), "--warmup", "30", "--loop", loop]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed under valgrind:\n{done.stderr[-2000:]}")
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return inclusive_counts(annotated)


def row_key(name: str, loop: str, loops: list[str]) -> str:
    """A row's key: the scenario's name, as it always was where every row ran on asyncio; ``name@loop`` where the
    run counted on another loop or on more than one, so that no row is read as another loop's."""
    return name if loops == ["asyncio"] else f"{name}@{loop}"


def measure(
    names: list[str],
    url: str,
    small: int,
    large: int,
    concurrency: int,
    repeats: int,
    keep: Path | None = None,
    loops: list[str] | None = None,
) -> dict[str, dict]:
    """Per scenario (and per event loop, ``loops``: asyncio alone by default), the median per-call count over
    ``repeats`` pairs, and each pair's own figure.

    Pairs can disagree when the runs differ by few calls: one-off work (a full garbage collection,
    say) lands in one run of a pair and not the other, and is divided by the calls between them. With
    200 calls between them the full path's pairs differed by up to 30%; with 1,000, by 0.01%. The
    pairs are shown so that a disagreement is seen, not averaged away.

    The code is compiled to bytecode first: a module changed since its last import is compiled by the
    first run that imports it (parsing and compiling cost about 200 million instructions for the
    package), and that run alone, not its pair, would pay for it."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "magsag_mcp"), str(ROOT / "benchmarks")],
        check=True,
        env={"PATH": os.environ.get("PATH", "")},
    )
    with tempfile.TemporaryDirectory(prefix="magsag-instr-") as tmp, ThreadPoolExecutor(2) as pool:
        work = keep or Path(tmp)
        loops = loops or ["asyncio"]
        # interleaved: each repeat counts every scenario on every loop before the next repeat begins
        jobs = {
            (n, lp, r, c): pool.submit(_count, n, url, c, concurrency, work / f"r{r}", lp)
            for r in range(repeats)
            for n in names
            for lp in loops
            for c in (small, large)
        }
        rows = {}
        for n in names:
            for lp in loops:
                pairs = [
                    per_call(jobs[n, lp, r, small].result(), jobs[n, lp, r, large].result(), large - small)
                    for r in range(repeats)
                ]
                rows[row_key(n, lp, loops)] = {
                    "loop": lp,
                    "instructions": round(statistics.median(p["instructions"] for p in pairs)),
                    "sql_instructions": round(statistics.median(p["sql_instructions"] for p in pairs)),
                    "pairs": [p["instructions"] for p in pairs],
                }
        return rows


def render(rows: dict[str, dict]) -> str:
    """The table; each path over its own floor counted on the same event loop (a row's ``loop``, asyncio where a
    row names none): a path on uvloop over a floor on asyncio would count the loop's saving as ours."""
    lines = [
        "| scenario | instructions/call | SQL part | over its floor | in floor-calls | each pair | loop |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for key, row in rows.items():
        name, _, suffix = key.partition("@")
        loop = row.get("loop", "asyncio")
        floor = rows.get(FLOORS.get(name, "") + (f"@{suffix}" if suffix else ""))
        if floor is not None and floor.get("loop", "asyncio") != loop:
            floor = None
        over = f"{row['instructions'] - floor['instructions']:,}" if floor else ""
        ratio = f"{(row['instructions'] - floor['instructions']) / floor['instructions']:.2f}" if floor else ""
        pairs = ", ".join(f"{n:,}" for n in row.get("pairs", []))
        lines.append(
            f"| {name} | {row['instructions']:,} | {row['sql_instructions']:,} | {over} | {ratio} | {pairs} | {loop} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    p.add_argument("scenarios", nargs="*", default=DEFAULT, help=f"default: {' '.join(DEFAULT)}")
    p.add_argument("--calls", type=int, nargs=2, default=(200, 1200), metavar=("SMALL", "LARGE"))
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="pairs of runs per scenario; the median is shown")
    p.add_argument(
        "--loop",
        nargs="+",
        choices=LOOPS,
        default=["asyncio"],
        help="the event loop(s) every scenario runs on, each counted against its floor on the same loop "
        "(default: asyncio); two, e.g. --loop asyncio uvloop, are counted interleaved",
    )
    p.add_argument("--out", default=str(RESULTS / "instructions.json"))
    p.add_argument("--keep", type=Path, help="keep callgrind's files here, for callgrind_annotate")
    a = p.parse_args()
    missing = [tool for tool in ("valgrind", "callgrind_annotate") if not shutil.which(tool)]
    if missing:
        sys.exit(f"needs {' and '.join(missing)} on PATH (Debian: apt-get install valgrind)")
    loops = list(dict.fromkeys(a.loop))  # (each once, in the order given)
    if "uvloop" in loops and importlib.util.find_spec("uvloop") is None:
        sys.exit("--loop uvloop: uvloop is not installed here (pip install uvloop)")
    small, large = a.calls
    if not 0 < small < large:
        sys.exit("--calls SMALL LARGE: need 0 < SMALL < LARGE, e.g. --calls 200 1200")
    with upstream_process() as (_, url):
        rows = measure(a.scenarios, url, small, large, a.concurrency, a.repeats, a.keep, loops)
    print(render(rows))
    Path(a.out).write_text(
        json.dumps({"concurrency": a.concurrency, "calls": [small, large], "loops": loops, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
