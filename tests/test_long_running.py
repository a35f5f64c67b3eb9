"""A server that runs for weeks: what it keeps must not grow with the number of calls, or with the models its
clients name. Each test counts (cache entries, objects by type, descriptors, threads, tasks, held reservations)
before and after many calls, and allows no more than a small constant more."""

from __future__ import annotations

import asyncio
import gc
import heapq
import os
import shutil
import sqlite3
import threading
import weakref
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.fast_upstream import serve, upstream_process
from magsag_mcp import pricing
from magsag_mcp.pricing import PRICES_KEPT, Pricer
from magsag_mcp.service import Service

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("openai", "anthropic", "google", "azure")


def _ask_about(pricer: Pricer, names: range) -> None:
    """What a call's admission and its route ask the pricer about a model the call named."""
    for i in names:
        for provider in PROVIDERS:
            model = f"m{i}x-named"
            pricer.worst_case(provider, model, 100, 100)
            pricer.context_window(provider, model)
            pricer.why_unpriced(provider, model)


def _genai_cache_sizes() -> tuple[int, int, int]:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    return len(snapshot._provider_cache), len(snapshot._lookup_cache), len(snapshot._provider_misses)


def test_models_named_by_calls_keep_the_pricers_caches_bounded():
    # Before: a Pricer kept every (provider, model) it was asked about, and genai-prices' snapshot (looked up by
    # find_provider_model) every model name too: 10,000 names a client made up, on four providers, held some 28 MiB
    # for as long as the server ran.
    pricer = Pricer.from_catalog(ROOT / "catalog", {})
    genai_before = _genai_cache_sizes()
    _ask_about(pricer, range(PRICES_KEPT // 2))
    assert pricer.worst_case("openai", "gpt-4o", 100, 100) is not None  # a model the service's own calls use
    _ask_about(pricer, range(PRICES_KEPT // 2, PRICES_KEPT))
    assert len(pricer._cache) == len(pricer._windows) == PRICES_KEPT  # full: 4 providers x names > PRICES_KEPT
    _ask_about(pricer, range(PRICES_KEPT, 2 * PRICES_KEPT))
    assert len(pricer._cache) == len(pricer._windows) == PRICES_KEPT
    assert _genai_cache_sizes() == genai_before
    # a price dropped under the flood is looked up again, the same
    worst = pricer.worst_case("openai", "gpt-4o", 100, 100)
    assert worst == Pricer.from_catalog(ROOT / "catalog", {}).worst_case("openai", "gpt-4o", 100, 100)
    assert pricer.context_window("openai", "gpt-4o") == 128_000


def test_a_dropped_azure_choice_is_chosen_again_the_same(monkeypatch: pytest.MonkeyPatch):
    from magsag_mcp.types import Usage

    monkeypatch.setattr(pricing, "PRICES_KEPT", 4)
    pricer = Pricer.from_catalog(ROOT / "catalog", {})
    usage = Usage(input_tokens=1000, output_tokens=100, answering_model="gpt-4o-2024-08-06")
    first = pricer.price("azure", "prod-chat", usage)
    for i in range(10):  # other deployments' answers push it out
        pricer.price("azure", f"d{i}x-chat", Usage(input_tokens=1, output_tokens=1, answering_model="gpt-4o-mini"))
    assert len(pricer._azure_models) <= 4 and ("prod-chat", "gpt-4o-2024-08-06") not in pricer._azure_models
    assert pricer.price("azure", "prod-chat", usage) == first
    assert pricer.azure_answered("prod-chat") == frozenset({"gpt-4o-2024-08-06"})


# --- many calls of every outcome through the service ------------------------------------------------------------

#: a call of each outcome a server sees, as (skill, model_config or a payload of its own); see _call
KINDS: list[tuple[str, object]] = [
    ("ok", {"provider": "openai", "model": "gpt-4o"}),
    ("500 then fallback", {"provider": "openai", "model": "fail500-primary", "fallbacks": ["openai:gpt-4o"]}),
    ("429 then fallback", {"provider": "openai", "model": "rl429-primary", "fallbacks": ["openai:gpt-4o"]}),
    ("dropped then fallback", {"provider": "openai", "model": "drop-primary", "fallbacks": ["openai:gpt-4o"]}),
    ("every target fails", {"provider": "openai", "model": "fail500-primary"}),
    ("policy refusal", {"provider": "openai", "model": "gpt-4.1-nano"}),
    ("budget refusal", {"provider": "openai", "model": "gpt-4o", "max_tokens": 900_000}),
    ("invalid payload", None),
    ("unknown skill", None),
    ("cancelled", {"provider": "openai", "model": "gpt-4o"}),
]


def _catalog(tmp: Path) -> Path:
    """The shipped catalog with the fast upstream's failing models allowed and limits that every call reserves
    under."""
    cat = tmp / "catalog"
    shutil.copytree(ROOT / "catalog", cat)
    (cat / "policies" / "model_governance.yaml").write_text(
        "policies:\n"
        "  - name: soak_models\n    allowed_models: [gpt-4o, 'fail500*', 'rl429*', 'drop*']\n"
        "  - name: soak_limits\n    thresholds: {max_cost_per_call_usd: 5, max_cost_per_run_usd: 1000000,"
        " max_cost_per_agent_daily_usd: 1000000}\n"
    )
    (cat / "prices.yaml").write_text('"openai:fail500*": {input: 2.5, output: 10}\n"openai:rl429*": {input: 2.5, '
                                     'output: 10}\n"openai:drop*": {input: 2.5, output: 10}\n')  # fmt: skip
    return cat


async def _call(service: Service, kind: str, config: object, n: int) -> None:
    skill, payload = "skill.analysis", {"data": "Quarterly revenue rose 8%.", "model_config": config}
    if kind == "invalid payload":
        payload = {"dta": "a typo"}
    elif kind == "unknown skill":
        skill = "skill.analysiz"
    call = service.invoke_skill(skill, payload, agent="soak", run_id=f"soak-{n}")
    if kind != "cancelled":
        try:
            await call
        except Exception:  # each refusal and failure is this test's own doing; what it leaves is what is counted
            pass
        return
    task = asyncio.ensure_future(call)
    for _ in range(1 + n % 9):  # cancelled at a different step of the call each time, once begun
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass


def _drop_cancelled_timers() -> None:
    """Drop the running event loop's cancelled timers from its heap now, as asyncio's ``BaseEventLoop._run_once`` does
    itself once they are over half of it. Until then each keeps its context (a call's read timeout keeps the call's
    task's context: its deadline's ``(when, Sends)``, the decimal context its first Decimal sum made, with its flags
    and traps), and how many are still there when a count is taken is the machine's load's doing: 9 on an idle
    machine, 35 to 41 on a loaded one, whose contexts were 28 to 34 more SignalDicts and 17 more Sends."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    kept = []
    for handle in loop._scheduled:  # type: ignore[attr-defined]
        if handle.cancelled():
            handle._scheduled = False
        else:
            kept.append(handle)
    heapq.heapify(kept)
    loop._scheduled, loop._timer_cancelled_count = kept, 0  # type: ignore[attr-defined]


def _counts() -> Counter[str]:
    """The live objects by type, but for what the runtime keeps a bounded number of itself: the event loop's cancelled
    timers (a call's read timeout, each with its context: see _drop_cancelled_timers), and the dead weak references a
    SQLite connection keeps to its closed cursors, dropped every 200 cursors."""
    _drop_cancelled_timers()
    gc.collect()
    objects = gc.get_objects()
    cancelled = [o for o in objects if type(o) is asyncio.TimerHandle and o.cancelled()]
    runtimes = {id(o) for o in cancelled} | {id(h._context) for h in cancelled}  # type: ignore[attr-defined]
    return Counter(
        type(o).__qualname__ for o in objects if id(o) not in runtimes and not (type(o) is weakref.ref and o() is None)
    )


@pytest.mark.anyio
async def test_calls_of_every_outcome_leave_nothing_behind(tmp_path: Path, clock_at_noon: float):
    server, url = await serve()
    env = {
        "OPENAI_BASE_URL": f"{url}/v1",
        "OPENAI_API_KEY": "sk-soak7q2w-not-a-real-key",
        "MAGSAG_MAX_RETRIES": "0",
    }
    service = await Service.open(catalog=_catalog(tmp_path), db=tmp_path / "ledger.db", env=env)
    n = 0

    async def rounds(count: int) -> None:
        nonlocal n
        for _ in range(count):
            for kind, config in KINDS:
                await _call(service, kind, config, n)
                n += 1
            await asyncio.gather(*(_call(service, kind, config, n + i) for i, (kind, config) in enumerate(KINDS)))
            n += len(KINDS)

    try:
        await rounds(3)  # every path's first use: its modules, caches and pooled connections
        _counts()  # (the first count leaves a few dozen weak references and methods of its own behind)
        fds, threads, tasks = len(os.listdir("/proc/self/fd")), threading.active_count(), len(asyncio.all_tasks())
        before = _counts()
        await rounds(25)  # 500 calls: an object left behind by any one kind of call is 50 more
        after = _counts()
        grown = {name: after[name] - before[name] for name in after if after[name] - before[name] >= 25}
        assert grown == {}, grown
        assert len(os.listdir("/proc/self/fd")) <= fds + 2  # (one more pooled connection, at most)
        assert threading.active_count() == threads
        assert len(asyncio.all_tasks()) == tasks
        assert not service._calls and service._in_flight == 0
    finally:
        await service.aclose()
        server.close()
        await server.wait_closed()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    try:
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]  # held or not: none kept
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        conn.close()
    assert held == 0
    assert runs == n  # one run per call, whatever its outcome (a cancelled one included)


# --- opened and closed again and again ---------------------------------------------------------------------------


def _held() -> tuple[int, int]:
    """Open descriptors and live threads (a ledger's SQLite thread, a Magsag's loop thread)."""
    return len(os.listdir("/proc/self/fd")), threading.active_count()


def test_a_magsag_opened_and_closed_again_and_again_leaves_nothing_open(tmp_path: Path):
    from magsag_mcp import Magsag

    def once() -> None:
        with Magsag(catalog=ROOT / "catalog", db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})

    once()
    _counts()
    held, before = _held(), _counts()
    for _ in range(20):  # each its own loop thread, ledger connection and SQLite thread: one left is 20
        once()
    after = _counts()
    assert _held() == held
    assert {name: after[name] - before[name] for name in after if after[name] - before[name] >= 20} == {}


@pytest.mark.anyio
async def test_an_mcp_servers_lifespan_begun_and_ended_again_and_again_leaves_nothing_open(tmp_path: Path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    server = build_server(catalog=ROOT / "catalog", db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})

    async def session() -> None:  # the in-memory client runs the server's lifespan (its service) for each session
        async with Client(server) as client:
            ok = {"data": "x", "model_config": {"model": "fake:echo"}}
            assert not (await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": ok})).is_error
            bad = {"skill_id": "skill.analysis", "payload": {"dta": "x"}}
            assert (await client.call_tool("invoke_skill", bad)).is_error

    await session()
    _counts()
    held, tasks, before = _held(), len(asyncio.all_tasks()), _counts()
    for _ in range(20):  # a service, its ledger connection and SQLite thread each time: one left is 20
        await session()
    after = _counts()
    assert _held() == held and len(asyncio.all_tasks()) == tasks
    assert {name: after[name] - before[name] for name in after if after[name] - before[name] >= 20} == {}


def test_a_transport_used_on_loop_after_loop_leaves_no_session_open():
    # Before: a Transport keeps a session per event loop, and a loop that ended (a script's asyncio.run per call) left
    # its session, and the session's pooled connection, open for as long as the transport lived: 100 loops, 100 more
    # descriptors here. The upstream runs in a process of its own: in a thread of this one, its side of each closed
    # connection was closed whenever that thread next ran, after the count or before it as the machine's load fell.
    from magsag_mcp.transport import Transport

    transport = Transport()
    with upstream_process() as (_, url):

        async def call() -> None:
            answer = await transport.post_json(f"{url}/v1/chat/completions", {"model": "gpt-4o"}, headers={})
            assert answer.status == 200

        asyncio.run(call())
        gc.collect()
        held = _held()
        for _ in range(30):
            asyncio.run(call())
        gc.collect()
        assert _held() == held
        assert transport._sessions == {} and transport._closers == {}


def test_a_context_window_dropped_by_another_thread_between_look_and_read_is_looked_up_again():
    # The Pricer's caches are read on the service's loop and by skills.explain on its caller's thread (kept.py), and
    # kept.keep drops the oldest entry as another is added. context_window asked `key in cache`, then read cache[key]:
    # dropped by the other thread between the two, the read raised KeyError out of the call. Here the drop is made at
    # that very point by a cache that drops the key as it is asked for it.
    pricer = Pricer.from_catalog(ROOT / "catalog", {})
    assert pricer.context_window("openai", "gpt-4o") == 128_000

    class DroppedOnTheWay(dict):
        def __contains__(self, key: object) -> bool:
            held = dict.__contains__(self, key)
            self.pop(key, None)  # another thread's keep() dropping it as the oldest
            return held

    pricer._windows = DroppedOnTheWay(pricer._windows)
    assert pricer.context_window("openai", "gpt-4o") == 128_000
