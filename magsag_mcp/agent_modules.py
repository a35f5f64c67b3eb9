"""Loading an agent's entrypoint module: the catalog's own file in its ``agents/`` folder, else an
importable module; a module that cannot load is a :class:`~magsag_mcp.errors.ConfigError` naming why.
:class:`Registry` is what an agent is handed as ``registry``: the catalog's agents, and their entrypoints."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bridge import ProcessBound
from .errors import ConfigError, InputError
from .text import NAME_MAX, shown_name

if TYPE_CHECKING:
    from .catalog import AgentSpec
    from .service import Service


class Registry(ProcessBound):
    """The catalog's agents and skills, and loading an agent's entrypoint."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def agent(self, agent_id: str) -> AgentSpec:
        """The catalog's agent ``agent_id`` (``catalog/agents/ID.yaml``); an unknown one is an
        :class:`~magsag_mcp.InputError` naming the agents there."""
        try:
            return self.service.catalog.agents[agent_id]
        except KeyError:
            known = ", ".join(sorted(self.service.catalog.agents)) or "none"
            if not isinstance(agent_id, str) or len(agent_id) > NAME_MAX:  # never quoted whole (text.shown_name)
                shown = shown_name(agent_id) if isinstance(agent_id, str) else f"of type {type(agent_id).__name__}"
                raise InputError(f"unknown agent {shown}; the catalog defines: {known}") from None
            from .suggest import meant_id  # only once a run names an agent that is not there

            close = meant_id(agent_id, self.service.catalog.agents)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise InputError(
                f"unknown agent {agent_id!r}{hint}; the catalog defines: {known}", agent=agent_id
            ) from None

    def skills(self) -> list[str]:
        """The ids of the catalog's skills, sorted (``skills.list()`` has each one's fields)."""
        return sorted(self.service.catalog.skills)

    def entrypoint(self, agent_id: str) -> Callable[..., Any]:
        """The agent's ``run`` function, imported from the module its ``entrypoint`` names (``my_mag:run``)."""
        spec = self.agent(agent_id)
        module_name, _, attr = spec.entrypoint.partition(":")
        module = import_agent_module(module_name, self.service.catalog.root / "agents")
        try:
            fn = getattr(module, attr)
        except AttributeError:
            from .suggest import nearest

            close = nearest(attr, [name for name, value in vars(module).items() if inspect.isfunction(value)])
            hint = f" (did you mean {module_name}:{close}?)" if close else ""
            raise ConfigError(f"agent {agent_id!r}: {module_name} has no function {attr!r}{hint}") from None
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            # called, it would hand back a coroutine that nobody awaits: the agent would never run
            raise ConfigError(
                f"agent {agent_id!r}: {spec.entrypoint} is an async function, and agents are plain functions "
                "(def run(payload, *, registry, skills, runner, obs)) that call skills.invoke(...); from async "
                "code, run one with `await runner.arun(...)`, or await skills.ainvoke(...) without an agent"
            )
        return fn


def import_agent_module(name: str, agents_dir: Path) -> Any:
    """The catalog's own file in its ``agents/`` folder (agents shipped with a catalog), else a module
    imported normally (an installed package's). The catalog's file comes first: an agent in
    ``agents/email.py`` must not run the standard library's ``email``.

    A module that fails while loading (a syntax error, a missing dependency, an error at import
    time) is a :class:`ConfigError` naming the module and the cause: the catalog points at it.
    """
    path = agents_dir / (name.replace(".", os.sep) + ".py")
    if path.is_file():
        return _load_catalog_module(name, agents_dir, path)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.split(".")[0] and exc.name != name:
            raise _load_failure(name, exc) from exc
    except Exception as exc:
        raise _load_failure(name, exc) from exc
    raise ConfigError(
        f"agent entrypoint module {name!r} is neither importable nor at {path}{module_fix(name, agents_dir)}"
    )


def module_fix(name: str, agents_dir: Path) -> str:
    """What follows "entrypoint module 'my_mga' is neither importable nor at ...": the catalog's agent module it
    nearly names, or the ones there are, to write as the entrypoint's module (``MODULE:FUNCTION``)."""
    from .suggest import nearest

    try:
        modules = sorted(p.stem for p in agents_dir.glob("*.py") if p.is_file() and p.stem.isidentifier())
    except OSError:
        modules = []
    close = nearest(name, modules)
    if close is not None:
        return f" (did you mean {close!r}, {agents_dir / (close + '.py')}?)"
    if modules:
        return f"; the catalog's agent modules: {', '.join(modules)} (entrypoint: MODULE:FUNCTION)"
    return f"; put the agent's module in {agents_dir} (entrypoint: MODULE:FUNCTION, e.g. my_agent:run)"


#: held while a catalog's agent module loads: another thread must not take it from sys.modules half-run
_LOADING = threading.RLock()


def _load_catalog_module(name: str, agents_dir: Path, path: Path) -> Any:
    key = _agent_module_key(name, agents_dir)
    with _LOADING:
        if key in sys.modules:
            return sys.modules[key]
        _catalog_package(agents_dir)
        try:
            # imported as a module of its folder's package: `from .helpers import x` finds agents/helpers.py
            return importlib.import_module(key)  # (a module that fails is taken out of sys.modules again)
        except Exception as exc:
            raise _load_failure(name, exc, agents_dir) from exc


def _agent_module_key(name: str, agents_dir: Path) -> str:
    """Where a catalog's agent module is kept in ``sys.modules``: one key per catalog folder, so that
    two catalogs in one process (staging and production, a test's copy) each run their own file."""
    folder = hashlib.sha256(str(agents_dir.resolve()).encode()).hexdigest()[:16]
    return f"magsag_agents.c{folder}.{name}"


def _catalog_package(agents_dir: Path) -> None:
    """The package whose modules are the files of ``agents_dir`` (see :func:`_agent_module_key`), made once,
    under ``magsag_agents``, a package of no files of its own."""
    key = _agent_module_key("", agents_dir).rstrip(".")
    for name, path in (("magsag_agents", []), (key, [str(agents_dir.resolve())])):
        if name not in sys.modules:
            package = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None, is_package=True))
            package.__path__ = path
            sys.modules[name] = package


def _load_failure(name: str, exc: BaseException, agents_dir: Path | None = None) -> ConfigError:
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}, line {exc.lineno}"
        return ConfigError(f"agent module {name!r} has a syntax error at {where}: {exc.msg}; fix the file")
    sibling = _sibling(exc, agents_dir)
    if sibling is not None:
        missing, folder = sibling
        return ConfigError(
            f"agent module {name!r} imports {missing!r}, a module of the catalog's agents folder ({folder}), as "
            f"if it were installed; import it relatively (from .{missing} import ...): a catalog's agents are "
            "modules of one package, their folder"
        )
    if isinstance(exc, ModuleNotFoundError):
        return ConfigError(
            f"agent module {name!r} imports {exc.name!r}, which is not installed; install it in this environment"
        )
    return ConfigError(f"agent module {name!r} failed while loading: {type(exc).__name__}: {exc}")


def _sibling(exc: BaseException, agents_dir: Path | None) -> tuple[str, Path] | None:
    """The module a failed absolute import (``import helpers``) named, and the file or folder of
    ``agents_dir`` it meant; None when it meant none of them."""
    if agents_dir is None or not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = agents_dir / exc.name.split(".")[0]
    where = next((p for p in (top.with_suffix(".py"), top) if p.exists()), None)
    return None if where is None else (exc.name, where)
