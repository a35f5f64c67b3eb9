"""Run every benchmark and report: ``python -m benchmarks`` (``--quick`` for a smoke run).

Each scenario runs in a fresh process, scenarios are interleaved, and every one is repeated; the
table shows medians across repeats. Targets are ratios against the floor measured in the same run.
Writes ``benchmarks/results/latest.json``, ``latest.png`` and the table in ``BENCHMARKS.md``; a
``--quick`` run writes only ``benchmarks/results/quick.json``, leaving the published results alone.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from .fast_upstream import requests_served, upstream_process
from .scenarios import LOOPS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OURS = ["floor", "full", "full_sync_normal", "floor_fallback", "fallback", "mcp_memory", "mcp_stdio"]
LITELLM = ["litellm_acompletion", "litellm_router", "litellm_router_fallback"]
STARTUP_TIMEOUT_S = 120
REQUESTS_PER_CALL = {
    "floor_fallback": 2,
    "fallback": 2,
    "fallback_429": 2,
    "fallback_drop": 2,
    "litellm_router_fallback": 2,
}


def have_litellm() -> bool:
    return (
        subprocess.run(
            [sys.executable, "-c", "import litellm"],
            capture_output=True,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        ).returncode
        == 0
    )


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_scenario(name: str, url: str, calls: int, concurrency: int, warmup: int, loop: str = "asyncio") -> dict:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.scenarios",
            name,
            "--upstream",
            url,
            "--calls",
            str(calls),
            "--concurrency",
            str(concurrency),
            "--warmup",
            str(warmup),
            "--loop",
            loop,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def python_ms(code: str, repeats: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``python -c code`` in a fresh process, start to exit."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def startup_ms(repeats: int, *, litellm: bool = True) -> dict:
    """Process start -> the answer to MCP initialize over stdio; and, where ``litellm`` (the LiteLLM rows run, their
    start-up beside ours), `import litellm` the same way."""
    init = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        }
    )
    # Our modules' bytecode compiled first, as an install compiles it (pip does; a checkout's first start
    # writes it) and as the SDK's and litellm's are in site-packages: a clone run with PYTHONDONTWRITEBYTECODE
    # set would otherwise compile every module of ours from source at every start timed (about 30 ms here).
    compileall.compile_dir(str(ROOT / "magsag_mcp"), quiet=1)
    ours = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp, open(f"{tmp}/stderr", "w+") as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(
                [sys.executable, "-m", "magsag_mcp", "--db", f"{tmp}/l.db"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
            )
            assert p.stdin and p.stdout
            try:
                p.stdin.write(init + "\n")
                p.stdin.flush()
            except BrokenPipeError:
                pass  # it exited before reading: its stdout ends, and what it said is below
            answered = select.select([p.stdout], [], [], STARTUP_TIMEOUT_S)[0]
            line = p.stdout.readline() if answered else ""
            ours.append((time.perf_counter() - t0) * 1000)
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
            if '"result"' not in line:
                if line:
                    why = f"answered {line[:500]!r}"
                elif answered:  # end of its output: it exited
                    why = f"exited (code {p.wait(10)}) without answering"
                else:
                    why = f"did not answer within {STARTUP_TIMEOUT_S} s"
                p.kill()
                p.wait(10)
                err.seek(0)
                raise RuntimeError(
                    f"start-up: the MCP server ({sys.executable} -m magsag_mcp) {why} to initialize; "
                    f"its stderr:\n{err.read()[-2000:]}"
                )
            p.wait(10)
    result = {"magsag_initialize_ms": round(statistics.median(ours), 1)}
    # Same-run baselines: a bare interpreter, and importing the MCP SDK's server alone (which any
    # server built on it pays before it can answer), so the part that is ours can be read off.
    result["python_ms"] = python_ms("pass", repeats)
    result["import_mcp_server_ms"] = python_ms("import mcp.server.mcpserver", repeats)
    if litellm and have_litellm():
        offline = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        result["import_litellm_ms"] = python_ms("import litellm", max(1, repeats // 2), env=offline)
        rss = subprocess.run(
            [
                sys.executable,
                "-c",
                "import resource, litellm; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
            ],
            capture_output=True,
            text=True,
            env=offline,
        )
        result["import_litellm_rss_mb"] = round(int(rss.stdout.strip()) / 1024, 1)
    return result


def output_path(out: str | None, *, quick: bool) -> Path:
    """``--out``, else the published ``latest.json``; a smoke run's numbers go to ``quick.json``, since
    ``latest.json`` is committed as the raw data behind the chart and the table in BENCHMARKS.md."""
    if out:
        return Path(out)
    return RESULTS / ("quick.json" if quick else "latest.json")


def main() -> None:
    # prog: run as `python -m benchmarks`, argparse would name the file (`usage: __main__.py`), no command to type
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run every benchmark against a loopback upstream and report: benchmarks/results/latest.json, "
        "its chart and the table in BENCHMARKS.md (--quick: a smoke run, its numbers in quick.json only).",
    )
    p.add_argument(
        "--quick", action="store_true", help="a smoke run, about a minute on 2 CPUs: results/quick.json, no chart"
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="runs of every scenario, interleaved; the table shows the medians"
    )
    p.add_argument(
        "--no-litellm", action="store_true", help="leave out the LiteLLM comparison rows (and its import's timing)"
    )
    p.add_argument(
        "--calls",
        type=int,
        help=(
            "calls of every scenario with one caller; 4 times as many with 200 callers, 10 times for the memory figure"
            " (default 1000, --quick 100)"
        ),
    )
    p.add_argument("--out", help="default: benchmarks/results/latest.json (--quick: quick.json)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="the upstream delays every answer by this much")
    p.add_argument(
        "--loop",
        choices=LOOPS,
        default="asyncio",
        help="the event loop every scenario runs on, the floors with the rest, so that each ratio compares two "
        "rows of one loop (default: asyncio); the MCP stdio server's own process runs on the server's default",
    )
    a = p.parse_args()
    if a.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        p.error("--loop uvloop: uvloop is not installed here (pip install uvloop)")
    if a.calls is not None and a.calls < 1:
        p.error(f"--calls {a.calls}: give how many calls each scenario makes with one caller, 1 or more")
    seq_calls, warm = (100, 10) if a.quick else (1000, 50)
    seq_calls = a.calls or seq_calls
    conc_calls = 4 * seq_calls
    repeats = 1 if a.quick else a.repeats
    litellm_rows = (
        "not run (--no-litellm)"
        if a.no_litellm
        else "not run (--quick)"
        if a.quick
        else "not run: litellm is not installed (pip install -e '.[bench]')"
        if not have_litellm()
        else "run"
    )
    if litellm_rows != "run":
        print(f"LiteLLM comparison rows: {litellm_rows}", flush=True)
    scenarios = OURS + (LITELLM if litellm_rows == "run" else [])

    runs: dict[str, list[dict]] = {}
    upstream_cpu, upstream_requests = 0.0, 0
    # requests the upstream answered per call, counted by the upstream, where it is not the label's
    mismatches: dict[str, float] = {}
    with upstream_process(a.latency_ms) as (upstream, url):
        for rep in range(repeats):
            for name in scenarios:  # interleaved: every scenario once per repeat
                for conc, calls in ((1, seq_calls), (200, conc_calls)):
                    if name == "mcp_stdio" and conc == 200:
                        calls = seq_calls * 2
                    before, served = proc_cpu(upstream.pid), requests_served(upstream)
                    r = run_scenario(name, url, calls, conc, warm, a.loop)
                    upstream_cpu += proc_cpu(upstream.pid) - before
                    served = requests_served(upstream) - served
                    upstream_requests += served
                    r["upstream_requests_per_call"] = round(served / (r["calls"] + r.get("warmup", warm)), 3)
                    if r["upstream_requests_per_call"] != REQUESTS_PER_CALL.get(name, 1):
                        mismatches[f"{name}@{conc}"] = r["upstream_requests_per_call"]
                    runs.setdefault(f"{name}@{conc}", []).append(r)
                    print(
                        f"[{rep + 1}/{repeats}] {name:<24} c={conc:<3} p50 {r['p50_us']:>8.0f} us  "
                        f"{r['calls_per_s']:>8.0f}/s  cpu {r['cpu_us_per_call']:>7.0f} us/call",
                        flush=True,
                    )
        memory = run_scenario("full", url, 10 * seq_calls, 1, 0, a.loop)["maxrss_mb"]

    def med(key: str, field: str) -> float:
        return statistics.median(r[field] for r in runs[key])

    table = {
        k: {**{f: med(k, f) for f in ("p50_us", "p99_us", "calls_per_s", "cpu_us_per_call")}, "loop": a.loop}
        for k in runs
    }
    ledger = json.loads(
        subprocess.run(
            [sys.executable, "-m", "benchmarks.ledger_bench", "--rows", "20000" if a.quick else "1000000"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    start = startup_ms(3 if a.quick else 7, litellm=litellm_rows == "run")
    up_cpu_us = upstream_cpu / max(1, upstream_requests) * 1e6
    targets = {
        "full_cpu_over_floor_us": round(table["full@1"]["cpu_us_per_call"] - table["floor@1"]["cpu_us_per_call"], 1),
        "fallback_cpu_over_floor_us": round(
            table["fallback@1"]["cpu_us_per_call"] - table["floor_fallback@1"]["cpu_us_per_call"], 1
        ),
        "full_200_throughput_vs_floor": round(table["full@200"]["calls_per_s"] / table["floor@200"]["calls_per_s"], 3),
        "startup_initialize_ms": start["magsag_initialize_ms"],
        "memory_after_calls_mb": memory,
        "ledger_summarize_ms": ledger["summarize_ms"],
        "ledger_filtered_query_ms": ledger["filtered_query_ms"],
    }
    goals = {
        "full_cpu_over_floor_us": ("<=", 150),
        "fallback_cpu_over_floor_us": ("<=", 250),
        "full_200_throughput_vs_floor": (">=", 0.7),
        "startup_initialize_ms": ("<", 400),
        "memory_after_calls_mb": ("<", 80),
        "ledger_summarize_ms": ("<", 300),
        "ledger_filtered_query_ms": ("<", 20),
    }
    for key in ("full_sync_normal", "litellm_router", "litellm_acompletion"):
        if f"{key}@1" in table:
            targets[f"{key}_cpu_over_floor_us"] = round(
                table[f"{key}@1"]["cpu_us_per_call"] - table["floor@1"]["cpu_us_per_call"], 1
            )
            targets[f"{key}_200_throughput_vs_floor"] = round(
                table[f"{key}@200"]["calls_per_s"] / table["floor@200"]["calls_per_s"], 3
            )
    # The same overheads in units of the floor's own CPU per call: comparable across machines, where
    # the absolute targets were set on one machine (a slower VM makes every microsecond figure larger).
    floor1 = table["floor@1"]["cpu_us_per_call"]
    for key in ("full", "full_sync_normal", "litellm_router", "litellm_acompletion"):
        if f"{key}@1" in table:
            targets[f"{key}_overhead_in_floor_calls"] = round(
                (table[f"{key}@1"]["cpu_us_per_call"] - floor1) / floor1, 2
            )
    if "litellm_router_fallback@1" in table:
        targets["litellm_router_fallback_cpu_over_floor_us"] = round(
            table["litellm_router_fallback@1"]["cpu_us_per_call"] - table["floor_fallback@1"]["cpu_us_per_call"], 1
        )
    met = {
        k: (op, goal, (targets[k] <= goal if op == "<=" else targets[k] >= goal if op == ">=" else targets[k] < goal))
        for k, (op, goal) in goals.items()
    }
    machine = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "loadavg_at_end": os.getloadavg()[0],
        "quick": a.quick,
        "repeats": repeats,
        "calls": seq_calls,
        "upstream_latency_ms": a.latency_ms,
        "litellm_rows": litellm_rows,
        "loop": a.loop,
    }
    result = {
        "machine": machine,
        "scenarios": table,
        "raw": runs,
        "ledger": ledger,
        "startup": start,
        "targets": targets,
        "met": met,
        "upstream_cpu_us_per_request": round(up_cpu_us, 1),
        "requests_per_call_mismatches": mismatches,
        "runner_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out = output_path(a.out, quick=a.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    report = render(result)
    print(report)
    if not a.quick:
        _chart(result, out.with_suffix(".png"))
        if publishes(out):
            _update_markdown(report)
        else:
            print(f"BENCHMARKS.md left alone: its table goes with {RESULTS / 'latest.json'} and its chart")


def publishes(out: Path) -> bool:
    """Whether a full run writing ``out`` replaces the published results, and so the table in BENCHMARKS.md
    (which shows ``latest.png`` beside it): only when ``out`` is ``latest.json`` itself."""
    return out.resolve() == (RESULTS / "latest.json").resolve()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Run {m['date']} on {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"{m['repeats']} repeat(s), every scenario on the {m.get('loop', 'asyncio')} event loop, "
        f"load average {m['loadavg_at_end']:.2f} at the end"
        + (f"; the upstream answered after {m['upstream_latency_ms']:g} ms." if m.get("upstream_latency_ms") else "."),
        "",
        "| scenario | callers | p50 (us) | p99 (us) | calls/s | CPU/call (us) | loop |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, r in result["scenarios"].items():
        name, conc = key.split("@")
        lines.append(
            f"| {name} | {conc} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['calls_per_s']:.0f} | "
            # (a run's rows all ran on one loop; a result written before the option ran on asyncio)
            f"{r['cpu_us_per_call']:.0f} | {r.get('loop', m.get('loop', 'asyncio'))} |"
        )
    if m.get("litellm_rows", "run") != "run":
        lines.append(f"| litellm_* | | LiteLLM rows {m['litellm_rows']} | | | | |")
    lines += ["", "| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for key, (op, goal, ok) in result["met"].items():
        lines.append(f"| {key} | {result['targets'][key]} | {op} {goal} | {'yes' if ok else 'no'} |")
    for key, value in result["targets"].items():
        if key not in result["met"]:
            lines.append(f"| {key} (for comparison) | {value} | | |")
    s = result["startup"]
    lines += [
        "",
        f"Start-up to MCP `initialize` over stdio: {s['magsag_initialize_ms']} ms"
        + (
            f" (same run: `python -c pass` {s['python_ms']} ms, `import mcp.server.mcpserver` alone "
            f"{s['import_mcp_server_ms']} ms)"
            if "import_mcp_server_ms" in s
            else ""
        )
        + (
            f"; `python -c 'import litellm'`: {s['import_litellm_ms']} ms, {s['import_litellm_rss_mb']} MB RSS."
            if "import_litellm_ms" in s
            else "."
        ),
        f"Peak RSS after the memory run of the full path: {result['targets']['memory_after_calls_mb']} MB.",
        f"Ledger ({result['ledger']['rows']:,} attempts): summarize {result['ledger']['summarize_ms']} ms, "
        f"filtered query (limit 50) {result['ledger']['filtered_query_ms']} ms; "
        f"{result['ledger']['insert']['calls_per_s']:,.0f} recorded calls/s with "
        f"{result['ledger']['insert']['writers']} concurrent writers.",
        upstream_line(result),
    ]
    for key, got in result.get("requests_per_call_mismatches", {}).items():
        lines.append(
            f"Warning: {key} sent {got} requests per call to the upstream, not "
            f"{REQUESTS_PER_CALL.get(key.split('@')[0], 1)}: its row does not measure what its name says."
        )
    return "\n".join(lines)


def upstream_line(result: dict) -> str:
    """The upstream's CPU per request beside the cheapest client's, and whether it stays out of the way:
    at most half of the cheapest client's CPU per request, so that it never limits a scenario."""
    up = result["upstream_cpu_us_per_request"]
    cheapest, key = min(
        (row["cpu_us_per_call"] / REQUESTS_PER_CALL.get(k.split("@")[0], 1), k)
        for k, row in result["scenarios"].items()
    )
    head = f"Upstream CPU per request: {up} us, {up / cheapest:.0%} of the cheapest client's ({key}: {cheapest:.0f} us)"
    if up <= cheapest / 2:
        return head + ", so the upstream never dominates."
    return head + ": the upstream is not negligible here, and may limit calls/s and latency at 200 callers."


def _chart(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')")
        return
    keys = [k for k in result["scenarios"] if k.endswith("@1")]
    ckeys = [k for k in result["scenarios"] if k.endswith("@200")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (
        # CPU per call spans two orders of magnitude (the floor to LiteLLM's fallback): a log axis keeps
        # the floor and the full path, a few hundred microseconds apart, readable beside LiteLLM
        (axes[0], keys, "cpu_us_per_call", "#4c72b0", "CPU per call (us), sequential, log scale", True),
        (axes[1], ckeys, "calls_per_s", "#55a868", "calls per second, 200 concurrent callers", False),
    )
    for ax, names, field, color, label, log in panels:
        values = [result["scenarios"][k][field] for k in names]
        bars = ax.barh([k.split("@")[0] for k in names], values, color=color)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        ax.set_xlabel(label)
        if log:
            ax.set_xscale("log")
        ax.margins(x=0.15)
        ax.invert_yaxis()
    m = result["machine"]
    fig.suptitle(
        f"magsag-mcp benchmarks, {m['date'][:16].replace('T', ' ')} UTC: {m['cpus']} CPUs ({m['cpu']}), "
        f"Python {m['python']}, median of {m['repeats']} repeats"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _update_markdown(report: str) -> None:
    md = ROOT / "BENCHMARKS.md"
    text = md.read_text() if md.exists() else "<!-- results -->\n<!-- /results -->\n"
    start, end = "<!-- results -->", "<!-- /results -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        md.write_text(f"{head}{start}\n{report}\n{end}{tail}")


if __name__ == "__main__":
    main()
