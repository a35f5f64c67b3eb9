"""A package whose ``__init__`` is deferred (``startup.package_init_deferred``, as ``magsag-mcp`` defers the provider
registry's) asked for a name by a second thread while the first one's run of its ``__init__`` is under way: the second
waits for the run to end. It was told the package had no such name (the class was switched before the run, so the
second thread read a half-made module): targets' first look at the registry from two threads at once raised
``AttributeError: module 'magsag_mcp.providers' has no attribute 'hosts_other_models'``."""

from __future__ import annotations

import sys
import threading
import types

from magsag_mcp import startup

PACKAGE = "magsag_deferred_probe"

INIT = """
import threading
import magsag_deferred_probe_hooks as hooks

asker = threading.Thread(target=hooks.ask, name="asker")
hooks.threads.append(asker)
asker.start()
# the other thread asks for `late` before it is made (the wait is a hang guard: it is set as that thread asks)
assert hooks.asked.wait(60), "the other thread never waited for the package's __init__"
late = "made"
"""


class _ObservedLock:
    """The lock a deferred package's run holds, saying when the asking thread reaches it (it then waits on it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.asked = threading.Event()

    def __enter__(self) -> None:
        if threading.current_thread().name == "asker":
            self.asked.set()
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_a_name_asked_by_another_thread_while_the_init_runs_waits_for_the_run(tmp_path, monkeypatch):
    (tmp_path / PACKAGE).mkdir()
    (tmp_path / PACKAGE / "__init__.py").write_text(INIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    observed = _ObservedLock()
    monkeypatch.setattr(startup, "_RUNNING_INIT", observed, raising=False)
    hooks = types.ModuleType(f"{PACKAGE}_hooks")
    got: list[object] = []

    def ask() -> None:
        try:
            got.append(sys.modules[PACKAGE].late)
        except AttributeError as exc:
            got.append(exc)

    hooks.__dict__.update(ask=ask, asked=observed.asked, threads=[])
    monkeypatch.setitem(sys.modules, hooks.__name__, hooks)
    startup.package_init_deferred(PACKAGE)
    try:
        assert sys.modules[PACKAGE].late == "made"  # runs the __init__ here, which starts the other thread
        for thread in hooks.threads:
            thread.join(60)  # (a hang guard)
        assert got == ["made"]
    finally:
        sys.modules.pop(PACKAGE, None)


def test_the_inits_own_run_asking_a_name_not_made_yet_is_told_it_lacks_it(tmp_path, monkeypatch):
    # as a module half-run is: no second run of the __init__ from inside the first
    (tmp_path / PACKAGE).mkdir()
    (tmp_path / PACKAGE / "__init__.py").write_text(
        "import sys\ntry:\n    sys.modules[__name__].later\n"
        "except AttributeError as exc:\n    said = str(exc)\nlater = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    startup.package_init_deferred(PACKAGE)
    try:
        package = sys.modules[PACKAGE]
        assert package.later == 1
        assert "has no attribute 'later'" in package.said
        assert type(package) is types.ModuleType
    finally:
        sys.modules.pop(PACKAGE, None)
