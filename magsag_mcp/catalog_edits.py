"""Where a change to the catalog in use goes, as a fix names it: "add its price to catalog/prices.yaml" was right only
for a user running from a clone whose catalog is ./catalog. One whose catalog is elsewhere (MAGSAG_CATALOG, --catalog,
``Magsag(catalog=...)``) edited, or made, a ./catalog no call reads (a partial one, then refused); one whose catalog
is the copy installed with the package (site-packages) was sent to edit files every project of that Python shares and
the next upgrade replaces. These name the file of the catalog in use, and for the installed one, the copy to make.

Built only where a fix is said (a price warning, a refusal, a catalog problem): never on a call's way."""

from __future__ import annotations

from pathlib import Path
from shlex import quote
from typing import Any

#: what a fix says when it does not know the catalog in use (a Pricer made without one, the flow gate, the ledger)
UNKNOWN_PRICES_FILE = "the prices.yaml of your catalog (magsag doctor names the catalog in use)"
#: the same of the policy files (the flow gate's, and a call's error, which names no file of the server's)
UNKNOWN_POLICIES = "the policies/ folder of your catalog (magsag doctor names the catalog in use)"


def installed_catalog() -> Path:
    """Where a wheel puts the catalog it ships: ``_catalog`` inside the package, in site-packages."""
    return Path(__file__).parent / "_catalog"


def is_installed_catalog(root: Path) -> bool:
    """Whether ``root`` is the catalog installed with the package (not a source tree's ``catalog``, edited in
    place)."""
    installed = installed_catalog()
    return (installed / "skills").is_dir() and root.resolve() == installed.resolve()


def copy_command(root: Path) -> str:
    """The command that makes an installed catalog one's own, in the folder magsag runs in."""
    return f"cp -r {quote(str(root))} ./catalog"


def copy_it(root: Path) -> str:
    """How to make an installed catalog one's own: the copy, and where magsag reads it."""
    return (
        f"copy it ({copy_command(root)}) and edit the copy, which magsag reads from ./catalog in the folder it runs "
        "in, or from anywhere as MAGSAG_CATALOG (or --catalog)"
    )


def installed_catalog_note(root: Path) -> str | None:
    """Where a change to the catalog goes, when ``root`` is the copy inside an installed package (a wheel's
    ``_catalog``, in site-packages): edited there, it is shared by every project of that Python and replaced by the
    next upgrade, and the errors that say "add it to prices.yaml" or "raise max_cost_per_call_usd" left a package's
    user to find that out. None for any other catalog, a source tree's ``catalog`` included (edited in place)."""
    if not is_installed_catalog(root):
        return None
    return (
        f"the catalog in use is the one installed with the package ({root}), replaced by the next upgrade: to "
        f"change its routing, policies or prices, {copy_it(root)}: an MCP client starts magsag-mcp in a folder of "
        "its choosing, so give it MAGSAG_CATALOG"
    )


def prices_file_named(root: Path | None) -> str:
    """The catalog's price file as a fix names it ("add its price to ..."): its path (``prices.yml`` where that is
    the one read; ``prices.yaml`` to make where there is none); for the installed catalog, the copy's, with how to
    make it (not the installed file, shared by every project of that Python); for no known catalog,
    :data:`UNKNOWN_PRICES_FILE`."""
    if root is None:
        return UNKNOWN_PRICES_FILE
    if is_installed_catalog(root):
        return (
            f"the prices.yaml of a copy of the catalog installed with the package, not of {root} itself, which the "
            f"next upgrade replaces (make it with {copy_command(root)}: magsag reads ./catalog in the folder it runs "
            "in, or a copy anywhere that MAGSAG_CATALOG or --catalog names)"
        )
    # imported here: the catalog imports this module, and a server's start, which names no price file, need not load
    # the price file's models and rates with it
    from .price_files import price_files

    # absolute: an MCP client's user reads it without knowing the folder the server runs in
    found = price_files(root)
    return str((found[0] if len(found) == 1 else root / "prices.yaml").absolute())


def prices_file_of(pricer: Any) -> str:
    """:func:`prices_file_named` of the catalog ``pricer`` read (a :class:`~magsag_mcp.pricing.Pricer`'s
    ``prices_file``); :data:`UNKNOWN_PRICES_FILE` for a pricer of no catalog, or of another kind (a test's)."""
    return getattr(pricer, "prices_file", None) or UNKNOWN_PRICES_FILE
