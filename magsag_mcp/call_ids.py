"""The ids a call is known by: its run's (given by the caller, else made here) and its own, which its budget
reservations carry."""

from __future__ import annotations

import itertools
import os
import uuid


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


#: this process's 64 random bits, and its count of calls so far (see new_call_id)
_call_prefix = os.urandom(8).hex()
_call_numbers = itertools.count(1)


def _new_call_prefix() -> None:
    """A forked child's own prefix: numbering its calls on from its parent's, it would repeat the parent's ids."""
    global _call_prefix, _call_numbers
    _call_prefix, _call_numbers = os.urandom(8).hex(), itertools.count(1)


if hasattr(os, "register_at_fork"):  # (not on Windows, which does not fork)
    os.register_at_fork(after_in_child=_new_call_prefix)


def new_call_id() -> str:
    """A call's own id, which its budget reservations carry: a call holds one for each attempt not yet recorded, and
    what counts calls in flight (check_budget's reserved_by, the ledger's notes) counts them by it. The process's
    random prefix, then its count of calls: unique among the calls in flight of every process on the ledger, with no
    syscall a call (os.urandom on every call cost some 3,000 instructions of the full path's 1,400,000)."""
    return f"{_call_prefix}-{next(_call_numbers)}"
