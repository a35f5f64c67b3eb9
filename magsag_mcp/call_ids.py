"""The ids a call is known by: its run's (given by the caller, else made here) and its own, which its budget
reservations carry."""

from __future__ import annotations

import os
import uuid


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


def new_call_id() -> str:
    """A call's own id, which its budget reservations carry: a call holds one for each attempt not yet recorded, and
    what counts calls in flight (check_budget's reserved_by, the ledger's notes) counts them by it. 64 random bits:
    unique among the calls in flight of every process on the ledger, a forked child's too. (About 1,400 instructions
    and a getrandom syscall; a random prefix per process and a count of calls took 2,350 instructions, for the
    syscall's ~0.4 us, and needed a fork hook.)"""
    return os.urandom(8).hex()
