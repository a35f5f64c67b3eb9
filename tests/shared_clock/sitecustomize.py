"""Imported by a test's worker process as it starts, where :func:`tests.test_spend_under_concurrency.child_env` put
this folder on its path: the test had moved ``time.time`` (a plugin putting each test just before a midnight), and
the worker reads the test's clock, as every process on a machine reads one clock. (A worker reading the machine's
clock took a reservation made hours ahead of its own clock for one expired, or a day for another.)"""

import os
import time

_offset = float(os.environ.get("MAGSAG_TESTS_CLOCK_OFFSET") or 0)
if _offset:
    _machine_time = time.time
    time.time = lambda: _machine_time() + _offset
