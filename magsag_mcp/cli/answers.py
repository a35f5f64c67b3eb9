"""``magsag cache clear``: empty the answer cache (see :mod:`~..answer_cache`), kept in the ledger."""

from __future__ import annotations

import argparse

from . import CommandGroups, print_json


def _clear(args: argparse.Namespace) -> int:
    from ..answer_cache import AnswerCache
    from .ledger_reading import with_ledger

    deleted = with_ledger(args, lambda ledger: AnswerCache(ledger).clear(expired_only=args.expired), writes=True)
    print_json({"deleted": deleted, "expired_only": args.expired})
    return 0


def register(groups: CommandGroups) -> None:
    cache = groups.group("cache", help="the answer cache: answers kept to answer the same request again, free")
    p = groups.add(
        cache,
        "clear",
        reads=("db",),
        help="delete the answers the answer cache keeps in the ledger",
        description="Delete every answer the answer cache keeps in the ledger (the calls after it are sent and paid "
        "for again), or with --expired only those past their ttl. The ledger's records of calls are left as they "
        "are, cache hits among them. See docs/money-records-budgets.md (the answer cache).",
    )
    p.add_argument("--expired", action="store_true", help="delete only the answers past their ttl")
    p.set_defaults(func=_clear)
