"""Loading an agent's entrypoint module: the catalog's own file in its ``agents/`` folder, else an
importable module; a module that cannot load is a :class:`~magsag_mcp.errors.ConfigError` naming why."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

from .errors import ConfigError


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
    raise ConfigError(f"agent entrypoint module {name!r} is neither importable nor at {path}")


#: held while a catalog's agent module loads: another thread must not take it from sys.modules half-run
_LOADING = threading.RLock()


def _load_catalog_module(name: str, agents_dir: Path, path: Path) -> Any:
    key = _agent_module_key(name, agents_dir)
    with _LOADING:
        if key in sys.modules:
            return sys.modules[key]
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            del sys.modules[key]  # half-loaded: the next run must load it afresh, not reuse it
            raise _load_failure(name, exc) from exc
        return module


def _agent_module_key(name: str, agents_dir: Path) -> str:
    """Where a catalog's agent module is kept in ``sys.modules``: one key per catalog folder, so that
    two catalogs in one process (staging and production, a test's copy) each run their own file."""
    folder = hashlib.sha256(str(agents_dir.resolve()).encode()).hexdigest()[:16]
    return f"magsag_agents.c{folder}.{name}"


def _load_failure(name: str, exc: BaseException) -> ConfigError:
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}, line {exc.lineno}"
        return ConfigError(f"agent module {name!r} has a syntax error at {where}: {exc.msg}; fix the file")
    if isinstance(exc, ModuleNotFoundError):
        return ConfigError(
            f"agent module {name!r} imports {exc.name!r}, which is not installed; install it in this environment"
        )
    return ConfigError(f"agent module {name!r} failed while loading: {type(exc).__name__}: {exc}")
