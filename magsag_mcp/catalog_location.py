"""Where the catalog in use is: ``--catalog``, ``MAGSAG_CATALOG``, ``./catalog`` or the copy shipped in the package.

Apart from :mod:`.catalog` (which re-exports :func:`find_catalog`) so that a command can refuse a catalog that is not
there before it serves, without importing the catalog's readers and models: the MCP server's start asks only where the
catalog is, and reads it at the first call (some 38 million instructions, 1.8% of a start, the forty-eighth round in
``benchmarks/ROUNDS.md``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from shlex import quote

from .errors import ConfigError
from .option_names import catalog_option
from .working_folder import working_folder

__all__ = ["find_catalog"]


def find_catalog(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, *, partial_ok: bool = False
) -> Path:
    """``--catalog`` > ``MAGSAG_CATALOG`` > ``./catalog`` > the copy shipped in the package. ``partial_ok``: a
    ``./catalog`` without skills/ is the one, for ``catalog validate`` and ``doctor`` to list what it lacks (a problem,
    exit 1, beside the rest of doctor's report), where every other command refuses it."""
    env = os.environ if env is None else env
    chosen = explicit or env.get("MAGSAG_CATALOG")
    bundled = _bundled()
    if chosen and not str(chosen).strip():
        # (it was "remove the spaces around it:  is the catalog directory": the folder meant was '', read as '.')
        origin = catalog_option() if explicit else "MAGSAG_CATALOG"
        raise ConfigError(
            f"{origin}={str(chosen)!r} is blank; set it to a catalog directory, or unset it for ./catalog or the "
            "bundled catalog"
        )
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            origin = catalog_option() if explicit else "MAGSAG_CATALOG"
            fix = "give a catalog directory"
            if str(chosen) != str(chosen).strip() and Path(str(chosen).strip()).expanduser().is_dir():
                # an env file's trailing space: the folder meant is there, and the copy command offered made another
                fix = f"remove the spaces around it: {str(chosen).strip()} is the catalog directory"
            elif bundled is not None and not path.exists():  # (a new workspace's catalog/, as the MCP examples name)
                # (a relative one's copy named where it is read: run in another folder, `cp -r ... catalog` made
                # one there, which the server, run in its own, never reads)
                made = path if path.is_absolute() else _working_folder(chosen) / path
                fix += f", or make this one from the bundled catalog (cp -r {quote(str(bundled))} {quote(str(made))})"
            if not path.is_absolute():
                # a client's "MAGSAG_CATALOG": "./catalog" is read in the folder the client started the server in (/
                # on macOS), not the one its configuration or the user's project is in
                here = _working_folder(chosen)
                fix += (
                    f"; a relative path is read in the folder magsag runs in, {here}: started by an MCP client, "
                    "magsag-mcp runs in a folder the client chooses, not its configuration's, so give it the "
                    "catalog's absolute path"
                )
            raise ConfigError(f"{origin} points at {str(path)!r}, which is not a directory; {fix}")
        return path
    local = working_folder(
        "./catalog", fix=f", or set MAGSAG_CATALOG (or {catalog_option()}) to a catalog's absolute path"
    )
    local /= "catalog"
    if (local / "skills").is_dir():
        return local
    # A ./catalog of magsag's parts without skills/ (the guide's catalog/policies/model_governance.yaml, written in a
    # new project): passed over for the bundled catalog, its policy and prices would govern no call, without a word
    parts = [f"{p}/" if p in _CATALOG_DIRS else p for p in _CATALOG_PARTS if (local / p).exists()]
    if parts and bundled is not None and local.resolve() != bundled.resolve():
        if partial_ok:
            return local
        raise ConfigError(
            f"{local} holds {', '.join(parts)} but no skills/ folder, so it is no whole catalog, and the bundled "
            f"one ({bundled}) would govern the calls in its place, without these; copy the bundled catalog into it, "
            f"keeping your files (cp -rn '{bundled}/.' '{local}/'), or point MAGSAG_CATALOG (or "
            f"{catalog_option()}) at a whole catalog"
        )
    if bundled is not None:
        return bundled
    given = "--catalog DIR" if catalog_option() == "--catalog" else "catalog='DIR'"
    raise ConfigError(f"no catalog found: pass {given} or set MAGSAG_CATALOG")


def _working_folder(chosen: str | os.PathLike[str]) -> Path:
    """The folder a relative catalog path is read in (a :class:`ConfigError` saying so where it was deleted)."""
    return working_folder(repr(str(chosen)), fix=", or give the catalog's absolute path")


def _bundled() -> Path | None:
    """The catalog shipped with the package (in a wheel, ``_catalog``; in a source tree, ``catalog`` beside it)."""
    here = Path(__file__).parent
    return next((c for c in (here / "_catalog", here.parent / "catalog") if (c / "skills").is_dir()), None)


#: what in a folder named ./catalog makes it magsag's (a shop's product catalog holds none of these)
_CATALOG_DIRS = ("policies", "routing", "agents")
_CATALOG_PARTS = (*_CATALOG_DIRS, "prices.yaml", "prices.yml")
