"""A local server found without the Responses API is remembered across processes, in a file beside the ledger: a
short-lived process per call (each ``magsag invoke``) sends the call straight to chat completions, with no failed
request, for a day after the last sighting; the file is validated on read (a corrupt one is ignored), holds no base
URL (a gateway's token in its path), and a server upgraded since is dropped from it. The server is the loopback fake
of OpenAI's API, answering /v1/responses as Ollama without it does."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.local_api_memory import FILE_NAME, REMEMBERED_S, ChatOnlyFile, server_key
from magsag_mcp.transport import Transport
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask
from tests.test_provider_local import CHAT, RESPONSES, target
from tests.test_provider_local import local_server as local_server  # (the fixture)

pytestmark = pytest.mark.anyio


def _process(transport: Transport, folder: Path, now: list[float] | None = None) -> LocalProvider:
    """A new process's local provider, with the ledger's folder ``folder`` (and the file's wall clock ``now``)."""
    provider = LocalProvider({}, transport)
    provider.remember_in(folder)
    if now is not None:
        assert provider.memory is not None
        provider.memory.clock = lambda: now[0]
    return provider


async def test_a_new_process_sends_no_request_to_a_responses_api_found_missing(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path
):
    local_server.without_responses_api("ollama")
    first = await _process(transport, tmp_path).complete(ask(), target(local_server))
    second = await _process(transport, tmp_path).complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]
    assert "new processes, such as each `magsag invoke`, for 24 hours" in first.warnings[0]
    assert second.warnings == [f"local server at {local_server.url}/v1 has no Responses API; used chat completions"]
    # the server is named by a hash: no URL (nor a token in one) on disk
    written = json.loads((tmp_path / FILE_NAME).read_text())
    assert list(written["servers"]) == [server_key(local_server.url + "/v1")]
    assert local_server.url not in (tmp_path / FILE_NAME).read_text()


async def test_after_a_day_the_responses_api_is_asked_again(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path
):
    now = [1_800_000_000.0]
    local_server.without_responses_api("ollama")
    await _process(transport, tmp_path, now).complete(ask(), target(local_server))
    now[0] += REMEMBERED_S - 1
    await _process(transport, tmp_path, now).complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]
    now[0] += 2  # a day since the last sighting: asked again (one 404 while it is still missing)
    await _process(transport, tmp_path, now).complete(ask(), target(local_server))
    assert local_server.paths()[3:] == [RESPONSES, CHAT]
    now[0] -= 10 * REMEMBERED_S  # a clock set back: a sighting in the future is not believed
    await _process(transport, tmp_path, now).complete(ask(), target(local_server))
    assert local_server.paths()[5:] == [RESPONSES, CHAT]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": "1", "servers": {}}',
        '{"version": 1, "servers": []}',
        '{"version": 1, "servers": {"KEY": "yesterday"}}',
        '{"version": 1, "servers": {"KEY": NaN}}',
        '{"version": 1, "servers": {"KEY": true}}',
        '{"version": 1, "servers": {"../etc": 1}}',
        " " * 70_000 + "{}",
    ],
)
async def test_a_file_that_is_not_its_shape_is_ignored_and_written_again(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path, text: str
):
    (tmp_path / FILE_NAME).write_text(text.replace("KEY", server_key(local_server.url + "/v1")))
    local_server.without_responses_api("ollama")
    await _process(transport, tmp_path).complete(ask(), target(local_server))
    await _process(transport, tmp_path).complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]  # ignored, then written anew and read


async def test_a_server_upgraded_since_is_dropped_from_the_file(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path
):
    clock = [1000.0]
    local_server.without_responses_api("ollama")
    provider = _process(transport, tmp_path)
    provider.clock = lambda: clock[0]
    await provider.complete(ask(), target(local_server))
    local_server.responses_answer = None  # upgraded
    clock[0] += 3600  # this process asks the Responses API again after its own 10 minutes
    await provider.complete(ask(), target(local_server))
    assert json.loads((tmp_path / FILE_NAME).read_text())["servers"] == {}
    await _process(transport, tmp_path).complete(ask(), target(local_server))
    assert local_server.paths() == [RESPONSES, CHAT, RESPONSES, RESPONSES]


async def test_a_folder_that_cannot_be_written_costs_only_the_saving(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path
):
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # (a folder under a file cannot be made, by root too)
    local_server.without_responses_api("ollama")
    first = await _process(transport, blocked / "ledger-folder").complete(ask(), target(local_server))
    await _process(transport, blocked / "ledger-folder").complete(ask(), target(local_server))
    assert first.text and local_server.paths() == [RESPONSES, CHAT, RESPONSES, CHAT]
    assert not ChatOnlyFile(blocked / FILE_NAME).lacks_responses(local_server.url + "/v1")


async def test_each_magsag_invoke_of_a_service_reads_the_file_beside_its_ledger(
    local_server: FakeOpenAI, tmp_path: Path
):
    from magsag_mcp.service import Service

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    local_server.without_responses_api("ollama")
    config = {"provider": "local", "model": "llama3.1:70b", "base_url": local_server.url}
    for _ in range(2):  # two services, as two processes open them
        async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env={}) as svc:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert local_server.paths() == [RESPONSES, CHAT, CHAT]
    assert (tmp_path / FILE_NAME).is_file()


def test_the_file_is_its_owners_alone_and_a_newer_versions_is_left_as_it_is(tmp_path: Path):
    import os
    import stat

    old = os.umask(0o022)  # (the usual umask, which left the file readable by every user: 0644)
    try:
        memory = ChatOnlyFile(tmp_path / "ledger" / FILE_NAME, clock=lambda: 1000.0)
        memory.remember("http://gpu-box:11434/v1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ledger" / FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ledger").stat().st_mode) == 0o700
    assert ChatOnlyFile(tmp_path / "ledger" / FILE_NAME, clock=lambda: 1001.0).lacks_responses(
        "http://gpu-box:11434/v1"
    )
    # a newer version's file (a shape this one does not know) is read as none and not overwritten: its processes would
    # otherwise lose what they remembered at each of this version's saves
    newer = tmp_path / "newer.json"
    text = json.dumps({"version": 2, "servers": {"gpu-box": {"seen": 999.0, "apis": ["chat"]}}})
    newer.write_text(text)
    memory = ChatOnlyFile(newer, clock=lambda: 1000.0)
    assert not memory.lacks_responses("http://gpu-box:11434/v1")
    memory.remember("http://gpu-box:11434/v1")
    assert newer.read_text() == text
    assert memory.lacks_responses("http://gpu-box:11434/v1")  # (remembered in this process all the same)


def test_two_writers_at_once_never_share_a_temporary_file_and_the_last_wins_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Two writers (two threads of one process, each with its file: two services) save at once: the second's whole
    # save runs between the first's write and its rename. A temporary name made of the process id alone was the
    # same for both: the second unlinked the first's, and the first's rename then found none (its save lost) or
    # took the second's half-written file.
    import os
    import threading

    from magsag_mcp.providers import local_api_memory

    path = tmp_path / FILE_NAME
    first = ChatOnlyFile(path, clock=lambda: 1000.0)
    second = ChatOnlyFile(path, clock=lambda: 1000.0)
    second._lock = threading.Lock()  # (another process's: the lock of a path is one process's)
    real_replace = os.replace
    nested: list[str] = []

    def replace_after_the_other(src, dst):
        if not nested:
            nested.append(str(src))
            second.remember("http://second:8000/v1")  # (its whole save, in the middle of the first's)
        real_replace(src, dst)

    monkeypatch.setattr(local_api_memory.os, "replace", replace_after_the_other)
    first.remember("http://first:11434/v1")
    written = json.loads(path.read_text())
    # the last renamed wins whole: the first's, renamed after the second's
    assert list(written["servers"]) == [server_key("http://first:11434/v1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]  # no temporary file left


def test_threads_saving_at_once_keep_every_sighting_and_never_tear_the_file(tmp_path: Path):
    import threading

    path = tmp_path / FILE_NAME

    def at_once(*jobs) -> None:
        start = threading.Barrier(len(jobs))

        def run(job) -> None:
            start.wait()
            job()

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # one process's file saved from six threads at once: every sighting kept (one read-then-write at a time)
    shared = ChatOnlyFile(path, clock=lambda: 1000.0)
    at_once(*(lambda n=n: [shared.remember(f"http://box-{n}-{i}:11434/v1") for i in range(15)] for n in range(6)))
    again = ChatOnlyFile(path, clock=lambda: 1001.0)
    assert all(again.lacks_responses(f"http://box-{n}-{i}:11434/v1") for n in range(6) for i in range(15))
    # writers sharing no lock (as processes) and readers at once: each read sees a whole file, never a torn one
    torn: list[str] = []

    def read() -> None:
        for _ in range(300):
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError:
                torn.append(text)

    others = [ChatOnlyFile(path, clock=lambda: 1000.0) for _ in range(4)]
    for other in others:
        other._lock = threading.Lock()  # (each another process's: a process's objects of one path share its lock)
    at_once(
        *(
            lambda m=m, n=n: [m.remember(f"http://other-{n}-{i}:8000/v1") for i in range(30)]
            for n, m in enumerate(others)
        ),
        read,
        read,
    )
    assert torn == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]  # no temporary file left
    assert len(json.loads(path.read_text())["servers"]) >= 30  # (the last writer's whole file)


def test_two_services_of_one_process_on_one_folder_keep_both_sightings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Two services opened on one ledger folder in one process (two Magsag(), an MCP server and a script's Service)
    # each have their own ChatOnlyFile of local-servers.json. Each had its own lock: the second's whole save ran
    # between the first's read and its write, and the first's write, made of what it had read, lost the second's
    # sighting. The lock is the path's (however it is spelt: here through a symbolic link) in the process.
    import linecache
    import os
    import sys
    import threading

    from magsag_mcp.providers import local_api_memory

    (tmp_path / "ledger").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "ledger")
    first = ChatOnlyFile(tmp_path / "ledger" / FILE_NAME, clock=lambda: 1000.0)
    second = ChatOnlyFile(tmp_path / "link" / FILE_NAME, clock=lambda: 1000.0)
    real_replace = os.replace
    saving: list[threading.Thread] = []

    def waits_for_the_lock(thread: threading.Thread) -> bool:
        """Whether ``thread`` stands at ChatOnlyFile.remember's wait for the lock, which it leaves only once it
        holds the lock (or after LOCK_WAIT_S, whereupon it saves nothing and the test fails)."""
        frame = sys._current_frames().get(thread.ident or 0)
        while frame is not None and frame.f_code is not ChatOnlyFile.remember.__code__:
            frame = frame.f_back
        return frame is not None and linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip() == (
            "if not self._lock.acquire(timeout=LOCK_WAIT_S):"
        )

    def replace_while_the_other_saves(src, dst):
        if not saving:  # the first's save, between its read and its rename: the second saves from another thread
            saving.append(threading.Thread(target=second.remember, args=("http://second:8000/v1",)))
            saving[0].start()
            while saving[0].is_alive() and not waits_for_the_lock(saving[0]):
                time.sleep(0.001)  # (until it has saved, or waits for the first's save to end: no time limit)
        real_replace(src, dst)

    monkeypatch.setattr(local_api_memory.os, "replace", replace_while_the_other_saves)
    first.remember("http://first:11434/v1")
    saving[0].join()
    servers = json.loads((tmp_path / "ledger" / FILE_NAME).read_text())["servers"]
    assert sorted(servers) == sorted([server_key("http://first:11434/v1"), server_key("http://second:8000/v1")])


async def test_the_file_is_read_and_written_off_the_event_loop(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import threading

    loop_thread = threading.get_ident()
    threads: list[tuple[str, bool]] = []
    for name in ("lacks_responses", "remember", "forget"):
        real = getattr(ChatOnlyFile, name)

        def on_thread(self, base_url, _real=real, _name=name):
            threads.append((_name, threading.get_ident() == loop_thread))
            return _real(self, base_url)

        monkeypatch.setattr(ChatOnlyFile, name, on_thread)
    clock = [1000.0]
    local_server.without_responses_api("ollama")
    provider = _process(transport, tmp_path)
    provider.clock = lambda: clock[0]
    await provider.complete(ask(), target(local_server))
    local_server.responses_answer = None  # upgraded
    clock[0] += 3600
    await provider.complete(ask(), target(local_server))
    assert [name for name, _ in threads] == ["lacks_responses", "remember", "forget"]
    assert not any(on_loop for _, on_loop in threads), threads


def test_a_save_stopped_before_its_rename_leaves_no_temporary_file_for_good(tmp_path: Path):
    # A process killed mid-save (after mkstemp, before the rename) leaves its temporary file: a random name, which no
    # later save reuses and unlinks, so each such file stayed beside the ledger for good. A later save removes the
    # stale ones (the old pid-named one too), not one that may be another writer's in flight.
    import os

    from magsag_mcp.providers.local_api_memory import STALE_TEMPORARY_S

    path = tmp_path / FILE_NAME
    stale = [tmp_path / f".{FILE_NAME}.k3x9_q2a.tmp", tmp_path / f".{FILE_NAME}.4242.tmp"]
    in_flight = tmp_path / f".{FILE_NAME}.zz81mmq0.tmp"
    unrelated = tmp_path / ".other.json.abcd1234.tmp"
    long_ago = time.time() - STALE_TEMPORARY_S - 60
    for left in [*stale, in_flight, unrelated]:
        left.write_text('{"version": 1, "serv')
    for left in [*stale, unrelated]:
        os.utime(left, (long_ago, long_ago))
    ChatOnlyFile(path, clock=lambda: 1000.0).remember("http://gpu-box:11434/v1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([FILE_NAME, in_flight.name, unrelated.name])
    assert ChatOnlyFile(path, clock=lambda: 1001.0).lacks_responses("http://gpu-box:11434/v1")


def test_a_save_failing_otherwise_than_on_the_disk_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from magsag_mcp.providers import local_api_memory

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(local_api_memory.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ChatOnlyFile(tmp_path / FILE_NAME, clock=lambda: 1000.0).remember("http://gpu-box:11434/v1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step", ["read", "save"])
async def test_a_call_cancelled_while_the_disk_hangs_returns_and_the_thread_ends_the_save_whole(
    local_server: FakeOpenAI, transport: Transport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
):
    # The file is read and saved on a worker thread; a hung disk (a network home folder) held the thread, and a
    # call cancelled meanwhile (its deadline, a client's cancel, Ctrl-C) waited for the disk: anyio shields a worker
    # thread's wait from its caller's cancel unless told to abandon it. The call returns at its cancel now; the
    # thread finishes alone, its save whole.
    import os
    import threading

    import anyio

    from magsag_mcp.providers import local_api_memory

    hung, release, finished = threading.Event(), threading.Event(), threading.Event()

    def on_a_hung_disk(real):
        def step_(*args, **kwargs):
            hung.set()
            release.wait()
            try:
                return real(*args, **kwargs)
            finally:
                finished.set()

        return step_

    if step == "read":
        monkeypatch.setattr(local_api_memory, "open", on_a_hung_disk(open), raising=False)
    else:
        monkeypatch.setattr(local_api_memory.os, "replace", on_a_hung_disk(os.replace))
    local_server.without_responses_api("ollama")
    provider = _process(transport, tmp_path)
    returned_while_hung: list[bool] = []

    async def cancel_once_hung(scope: anyio.CancelScope) -> None:
        await anyio.to_thread.run_sync(hung.wait)
        scope.cancel()
        for _ in range(100):  # (the loop's turns a call that returns at its cancel needs, and more: no clock)
            await anyio.sleep(0)
        release.set()

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(cancel_once_hung, scope)
            await provider.complete(ask(), target(local_server))
        returned_while_hung.append(not release.is_set())
    assert scope.cancelled_caught and returned_while_hung == [True]
    await anyio.to_thread.run_sync(finished.wait)  # the thread, left alone, ends its step
    monkeypatch.undo()
    if step == "save":  # whole, with the sighting the cancelled call made
        written = json.loads((tmp_path / FILE_NAME).read_text())
        assert list(written["servers"]) == [server_key(local_server.url + "/v1")]
        assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]
    # the provider is none the worse: its next call is answered
    again = await provider.complete(ask(), target(local_server))
    assert again.text


def test_a_read_or_save_behind_one_hung_on_the_disk_goes_without_the_file_after_a_bounded_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A call cancelled while the disk hung leaves its worker thread holding the file's lock until the disk answers
    # (abandon_on_cancel). Every later read and save of the file in the process waited for that lock unbounded: each
    # call stood at its first local request, and each one cancelled left one more worker thread waiting, until
    # anyio's pool of them was spent. They wait LOCK_WAIT_S now, then go without the file, as on a disk that
    # cannot be read or written: the file is a saving, never a condition of the call.
    from magsag_mcp.providers import local_api_memory

    class HeldByAHungSave:
        """The file's lock, held by a save whose disk does not answer: never acquired."""

        waits: list[float] = []

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            assert timeout >= 0, "waited for the lock without a bound"
            self.waits.append(timeout)
            return False

        def __enter__(self) -> None:
            raise AssertionError("waited for the lock without a bound")

        def __exit__(self, *exc: object) -> None:
            pass

    path = tmp_path / FILE_NAME
    ChatOnlyFile(path, clock=lambda: 1000.0).remember("http://gpu-box:11434/v1")
    written = path.read_text()
    memory = ChatOnlyFile(path, clock=lambda: 1000.0)
    memory._lock = HeldByAHungSave()  # type: ignore[assignment]
    assert memory.lacks_responses("http://gpu-box:11434/v1") is False  # (not read: asked, as without the file)
    memory.remember("http://other:8000/v1")
    memory.forget("http://gpu-box:11434/v1")
    assert path.read_text() == written  # nothing saved over the hung one's
    assert HeldByAHungSave.waits == [local_api_memory.LOCK_WAIT_S] * 3
