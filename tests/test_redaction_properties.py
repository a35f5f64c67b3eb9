"""What redact() and holds_secret() promise, checked over many generated texts and against their own remembered
answers (redaction's _UNCHANGED and _CLEAN), and with keys registered by threads at once."""

from __future__ import annotations

import threading

from magsag_mcp import redaction
from magsag_mcp.redaction import register_secret


def test_two_threads_registering_keys_at_once_leave_neither_key_in_a_message(monkeypatch):
    # two services opening in two threads, each reading its key: the one that sorted the keys first and assigned them
    # last left the other's key out of the keys redact() removes, for good (a later registration of it returned at once)
    first, second = "Rg7Hk2Wq9Zt4Lm8Nv3Cx6Bd", "Py5Fs1Jw8Qe3Tu7Xa2Kn9Mh"
    main = threading.get_ident()
    other_thread_arrived = threading.Event()
    real_lock = getattr(redaction, "_REGISTERING", None) or threading.Lock()
    other: list[threading.Thread] = []

    class ArrivalTelling:
        """The registration lock, telling when the other thread reaches it."""

        def __enter__(self) -> None:
            if threading.get_ident() != main:
                other_thread_arrived.set()
            real_lock.acquire()

        def __exit__(self, *exc: object) -> None:
            real_lock.release()

    def registering_second() -> None:
        register_secret(second)
        other_thread_arrived.set()  # (registered, or blocked at the lock: either way as far as it can go)

    def sorting_then_yielding(*args: object, **kwargs: object) -> list[object]:
        ordered = sorted(*args, **kwargs)  # type: ignore[call-overload]
        if threading.get_ident() == main and not other:
            # this thread sorted the keys with its own: the other thread registers its key now
            other.append(threading.Thread(target=registering_second))
            other[0].start()
            other_thread_arrived.wait()
        return ordered

    monkeypatch.setattr(redaction, "_REGISTERING", ArrivalTelling(), raising=False)
    monkeypatch.setattr(redaction, "sorted", sorting_then_yielding, raising=False)  # (the builtin, for this module)
    register_secret(first)
    other[0].join()
    monkeypatch.undo()
    said = redaction.redact(f"401: keys {first} and {second} were refused")
    assert said == "401: keys [REDACTED] and [REDACTED] were refused"
    assert redaction.holds_secret(f"agent-{second}")
