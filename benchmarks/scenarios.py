"""One benchmark scenario in this process: ``python -m benchmarks.scenarios NAME --upstream URL ...``.

Prints one JSON line: latency percentiles (us), calls per second, CPU per call (us, this process and
any server subprocess it started) and peak RSS (MB). Every scenario sends the same request shape to
the same upstream, so the differences between them are the cost of what sits on top of the call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.client import Client

ROOT = Path(__file__).resolve().parent.parent
# The event loops a scenario can run on (``--loop``). A scenario is compared only with its floor run on the
# same loop: a faster loop makes the floor cheaper too, and our overhead is the difference between the two.
LOOPS = ("asyncio", "uvloop")
PAYLOAD = {"data": "Quarterly revenue rose 8% to $4.2M while costs fell 3%."}


def skill_messages(skill: str = "analysis") -> list[dict[str, str]]:
    """The messages the full path sends for ``PAYLOAD``: the shipped skill's system prompt and its user
    template filled in, read from the catalog so that the floor and LiteLLM send the same body as we do."""
    import yaml

    prompt = yaml.safe_load((ROOT / "catalog" / "skills" / f"{skill}.yaml").read_text())["prompt"]
    user = {"role": "user", "content": prompt["user"].format_map(PAYLOAD)}
    return [{"role": "system", "content": prompt["system"]}, user] if prompt.get("system") else [user]


MESSAGES = skill_messages()

Call = Callable[[], Awaitable[object]]
# The first target of each fallback scenario: the upstream answers 500, 429 with Retry-After: 0, or drops
# the connection (benchmarks/fast_upstream.py).
FAILING = {"fallback": "fail500-primary", "fallback_429": "rl429-primary", "fallback_drop": "drop-primary"}
MAX_TOKENS = {"max_completion_tokens": 1500}  # the skill's max_tokens, under the name our OpenAI body uses


def bench_catalog(tmp: Path) -> Path:
    """The shipped catalog with limits that apply to every call, so each one takes a budget reservation."""
    cat = tmp / "catalog"
    shutil.copytree(ROOT / "catalog", cat)
    (cat / "policies" / "model_governance.yaml").write_text(
        "policies:\n"
        "  - name: bench_models\n    allowed_models: [gpt-4o, gpt-4o-mini, 'fail500*', 'rl429*', 'drop*']\n"
        "  - name: bench_limits\n    thresholds: {max_cost_per_call_usd: 5, max_cost_per_run_usd: 1000000,"
        " max_cost_per_agent_daily_usd: 1000000}\n"
    )
    (cat / "prices.yaml").write_text("".join(f'"openai:{m}*": {{input: 2.5, output: 10}}\n' for m in FAILING.values()))
    return cat


def env_for(upstream: str, db: Path) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{upstream}/v1",
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "MAGSAG_DB": str(db),
        "MAGSAG_MAX_RETRIES": "0",
        # the fallback rows measure a failing first target tried on every call, against the same two requests by
        # hand: the circuit breaker would leave it alone after three calls (one request a call), so it is off, as
        # LiteLLM's Router runs without cooldowns here
        "MAGSAG_BREAKER_FAILURES": "0",
        "PATH": os.environ.get("PATH", ""),
    }


async def _floor(upstream: str, fallback: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    # the pool and cookie handling of magsag's own sessions (magsag_mcp/transport.py), so that the floor does
    # no more and no less per call: 128 connections to one host, no cookie jar to update from each answer
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256, limit_per_host=128), cookie_jar=aiohttp.DummyCookieJar()
    )
    url = f"{upstream}/v1/chat/completions"
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

    async def post(model: str) -> object:
        body = json.dumps({"model": model, "messages": MESSAGES, **MAX_TOKENS})
        async with session.post(url, data=body, headers=headers) as resp:
            data = json.loads(await resp.read())
            if resp.status >= 400 and not fallback:
                raise RuntimeError(data)
            return data

    async def call() -> object:
        if fallback:
            await post("fail500-primary")
        return await post("gpt-4o")

    return call, session.close


async def _service(
    upstream: str, tmp: Path, failing: str | None = None, sync: str = "full"
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """The full path; with ``failing`` (a model the upstream fails: see ``FAILING``) as the first target
    and ``gpt-4o`` as its fallback."""
    from magsag_mcp.service import Service

    env = {**env_for(upstream, tmp / "l.db"), "MAGSAG_LEDGER_SYNC": sync}
    svc = await Service.open(catalog=bench_catalog(tmp), db=tmp / "ledger.db", env=env)
    payload = dict(PAYLOAD)
    if failing:
        payload["model_config"] = {"provider": "openai", "model": failing, "fallbacks": ["openai:gpt-4o"]}
    counter = iter(range(10**9))

    async def call() -> object:
        return await svc.invoke_skill("skill.analysis", payload, agent="bench", run_id=f"b-{next(counter)}")

    return call, svc.aclose


async def _mcp_invoke_skill(client: Client) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """Opens an MCP client (in memory or over stdio) and returns the scenario's call, invoke_skill through
    it, and what closes it. The call is the same for every MCP transport, so they differ only in theirs."""
    await client.__aenter__()

    async def call() -> object:
        result = await client.call_tool(
            "invoke_skill", {"skill_id": "skill.analysis", "payload": PAYLOAD, "agent": "bench"}
        )
        if result.is_error:
            raise RuntimeError(result.content[0].text)
        return result

    async def close() -> None:
        await client.__aexit__(None, None, None)

    return call, close


async def _mcp_memory(upstream: str, tmp: Path) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    server = build_server(catalog=bench_catalog(tmp), db=tmp / "ledger.db", env=env_for(upstream, tmp / "l.db"))
    return await _mcp_invoke_skill(Client(server))


async def _mcp_stdio(upstream: str, tmp: Path) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {**env_for(upstream, tmp / "l.db"), "MAGSAG_CATALOG": str(bench_catalog(tmp))}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "magsag_mcp", "--db", str(tmp / "ledger.db")], env=env
    )
    return await _mcp_invoke_skill(Client(stdio_client(params, errlog=open(os.devnull, "w"))))


async def _litellm(upstream: str, kind: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    base = f"{upstream}/v1"
    if kind == "acompletion":

        async def call() -> object:
            return await litellm.acompletion(
                model="openai/gpt-4o", messages=MESSAGES, api_base=base, api_key="sk-bench", **MAX_TOKENS
            )

        return call, _close_litellm
    model_list = [
        {"model_name": "primary", "litellm_params": {"model": "openai/gpt-4o", "api_base": base, "api_key": "sk-b"}},
        {
            "model_name": "broken",
            "litellm_params": {"model": "openai/fail500-primary", "api_base": base, "api_key": "sk-b"},
        },
    ]
    # No cooldowns: by default the Router benches a deployment after failures and sends later calls straight
    # to the fallback, so its fallback row measured fewer than two requests a call; ours tries the first
    # target on every call, and each row must do what its name says.
    router = litellm.Router(
        model_list=model_list, fallbacks=[{"broken": ["primary"]}], num_retries=0, disable_cooldowns=True
    )
    name = "broken" if kind == "router_fallback" else "primary"

    async def call() -> object:
        return await router.acompletion(model=name, messages=MESSAGES, **MAX_TOKENS)

    return call, _close_litellm


async def _close_litellm() -> None:
    """What LiteLLM's calls left open on this loop, closed and let go of: the aiohttp sessions it caches across
    calls, and its process-wide logging worker (a task on the loop, and its queue and semaphore bound to it). Left,
    they kept the loop alive after it closed: an in-process test's loop was never freed (tests/test_benchmark_requests
    .py). LiteLLM offers no call that lets go of the worker's loop; it rebinds a worker whose loop changed, and one
    with none bound starts afresh."""
    import litellm
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    from litellm.responses.streaming_iterator import drain_logging_tasks

    # LiteLLM's proxy shuts down in this order: the tasks that hand a call's success log to the worker, then the
    # worker's queue, then the worker (the last call's log is handed over after the call has returned)
    await drain_logging_tasks()
    await GLOBAL_LOGGING_WORKER.flush()
    await GLOBAL_LOGGING_WORKER.stop(discard_pending=True)
    _forget_loop(GLOBAL_LOGGING_WORKER)
    await litellm.close_litellm_async_clients()
    litellm.in_memory_llm_clients_cache.flush_cache()


#: the logging worker's private fields that hold the loop it ran on (LiteLLM 1.110's LoggingWorker), set to None so
#: that it starts afresh on the next loop
_WORKER_LOOP_FIELDS = ("_queue", "_sem", "_bound_loop")


def _forget_loop(worker: object) -> None:
    """``worker``'s :data:`_WORKER_LOOP_FIELDS` set to None; a LiteLLM that renamed one is refused by name, where
    setting it anyway made a new attribute beside the renamed one, which held the loop on unseen."""
    missing = [name for name in _WORKER_LOOP_FIELDS if not hasattr(worker, name)]
    if missing:
        raise RuntimeError(
            f"LiteLLM's {type(worker).__qualname__} has no {', '.join(missing)}: this LiteLLM renamed what holds its "
            "event loop; update benchmarks/scenarios.py's _WORKER_LOOP_FIELDS to the fields it has now"
        )
    for name in _WORKER_LOOP_FIELDS:
        setattr(worker, name, None)


def _children_cpu() -> float:
    """CPU seconds of our live child processes (a stdio server), read from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        kids = []
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            kids += (task / "children").read_text().split()
        for pid in kids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        pass
    return total


async def run(name: str, upstream: str, calls: int, concurrency: int, warmup: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="magsag-bench-"))
    factories = {
        "floor": lambda: _floor(upstream, False),
        "floor_fallback": lambda: _floor(upstream, True),
        "full": lambda: _service(upstream, tmp),
        "full_sync_normal": lambda: _service(upstream, tmp, sync="normal"),
        "fallback": lambda: _service(upstream, tmp, FAILING["fallback"]),
        # the upstream's other error modes, as the first target (not in the default run)
        "fallback_429": lambda: _service(upstream, tmp, FAILING["fallback_429"]),
        "fallback_drop": lambda: _service(upstream, tmp, FAILING["fallback_drop"]),
        "mcp_memory": lambda: _mcp_memory(upstream, tmp),
        "mcp_stdio": lambda: _mcp_stdio(upstream, tmp),
        "litellm_acompletion": lambda: _litellm(upstream, "acompletion"),
        "litellm_router": lambda: _litellm(upstream, "router"),
        "litellm_router_fallback": lambda: _litellm(upstream, "router_fallback"),
    }
    call, close = await factories[name]()
    for _ in range(warmup):
        await call()
    latencies: list[float] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    per = [calls // concurrency + (1 if i < calls % concurrency else 0) for i in range(concurrency)]
    cpu0, kids0, wall0 = time.process_time(), _children_cpu(), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in per if n))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0 + _children_cpu() - kids0
    await close()
    shutil.rmtree(tmp, ignore_errors=True)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6  # noqa: E731
    return {
        "scenario": name,
        "loop": running_loop(),
        "calls": len(latencies),
        "concurrency": concurrency,
        "warmup": warmup,
        "p50_us": round(pct(0.50), 1),
        "p99_us": round(pct(0.99), 1),
        "calls_per_s": round(len(latencies) / wall, 1),
        "cpu_us_per_call": round(cpu / len(latencies) * 1e6, 1),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scenarios")
    p.add_argument("scenario")
    p.add_argument("--upstream", required=True)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--loop", choices=LOOPS, default="asyncio", help="the event loop the scenario runs on")
    a = p.parse_args()
    with asyncio.Runner(loop_factory=loop_factory(a.loop)) as runner:
        result = runner.run(run(a.scenario, a.upstream, a.calls, a.concurrency, a.warmup))
    print(json.dumps(result), flush=True)


def running_loop() -> str:
    """The event loop this scenario ran on, read from the loop itself (not from the option asked for)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the scenario's event loop: None for asyncio's default (as ``asyncio.run``), uvloop's
    ``new_event_loop`` for uvloop, with a clear exit where it is not installed."""
    if loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        sys.exit("--loop uvloop: uvloop is not installed here (pip install uvloop)")
    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
