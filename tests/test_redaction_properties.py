"""What redact() and holds_secret() promise, checked over many generated texts and against their own remembered
answers (redaction's _UNCHANGED and _CLEAN), and with keys registered by threads at once."""

from __future__ import annotations

import threading

import pytest

from magsag_mcp import redaction
from magsag_mcp.redaction import register_secret

pytestmark = pytest.mark.usefixtures("restored_secrets")


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


#: credentials as the key patterns find them, each written with a label (or prefix) that a vendor or a gateway might
#: send in any case
_SHAPED = (
    "https://acct.blob.core.windows.net/c?sv=2024&sig=Zx8Qw3Er5Ty7Ui9Op1As",
    "Authorization: Basic QWxhZGRpbjpvcGVuc2VzYW1l",
    "authorization: token ghp0Ab1Cd2Ef3Gh4Ij5Kl6",
    "api-key: 0f9e8d7c6b5a4f3e2d1c0b9a",
    "x-goog-api-key=Lk8Jh7Gf6Ds5Aq4Wz3Xc",
    "access_token=Mn2Bv4Cx6Zl8Kj0Hg1Fd",
    "client_secret: Qa9Ws8Ed7Rf6Tg5Yh4Uj",
    "passwd=Ik3Ol9Pm2Nu8By7Vt6",
    "Bearer Ui7Yt6Re5Wq4Ps3Od2",
)


def test_every_credential_the_key_patterns_match_is_removed_whatever_letters_spell_its_label():
    # re's (?i:...) takes the dotless i and the dotted capital I for an "i" (and the Kelvin sign for a "k", the long s
    # for an "s"); casefolded, "?s\u0131g=" held no "sig", the texts holding no trigger were not searched, and the
    # credential stayed in the message (and a name holding it was let through)
    import random

    from magsag_mcp.redaction import _SECRET_PATTERNS, holds_secret, redact

    alike = {"i": "Ii\u0130\u0131", "k": "Kk\u212a", "s": "Ss\u017f"}
    rng = random.Random(20261203)
    tried = 0
    for shaped in _SHAPED:
        label, value = shaped.rsplit(maxsplit=1) if " " in shaped else shaped.rsplit("=", 1)
        for _ in range(300):
            spelt = "".join(rng.choice(alike.get(c.lower(), c.lower() + c.upper())) for c in label)
            text = f"HTTP 401 for {spelt}{' ' if ' ' in shaped else '='}{value} ({rng.randrange(10**6)})"
            if _SECRET_PATTERNS.search(text) is None:
                continue  # (a letter made what no pattern takes: the check is of what they take)
            tried += 1
            assert value not in redact(text), text
            assert holds_secret(text), text
    assert tried > 2000  # (most spellings are taken)


def test_what_redact_and_holds_secret_remember_never_keeps_a_key_a_fresh_judgement_finds():
    # texts redacted and names judged over and over, keys of every length registered between them, a call's own key
    # in some, halves of surrogate pairs, texts past the length remembered: each answer the same as one of the
    # functions with nothing remembered, and no known key (nor a long one's start) in what redact() returns
    import random
    import string

    from magsag_mcp.redaction import call_scoped, holds_secret, redact, register_call_secret

    rng = random.Random(7)
    keys = [
        "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))
        for n in (6, 9, 11, 12, 15, 16, 17, 24, 40)
        for _ in range(3)
    ]
    filler = string.ascii_letters + string.digits + " -_:=?&\"'.\n\\%\u0131\u0130\u017f\u212a\ud83d\udc00\u00e9"
    words = ["sk-", "AIza", "Bearer ", "api_key=", "token", "?sig=", "eyJ", "key ", "run-", "x" * 4100]

    def text() -> str:
        parts = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.random()
            if kind < 0.35:
                parts.append("".join(rng.choice(filler) for _ in range(rng.randint(0, 12))))
            elif kind < 0.55:
                parts.append(rng.choice(words))
            else:
                key = rng.choice(keys)
                parts.append(key if rng.random() < 0.5 else key[: rng.randint(1, len(key))])
        return "".join(parts)

    def fresh(fn, value):
        kept = dict(redaction._UNCHANGED), dict(redaction._CLEAN)
        redaction._UNCHANGED.clear()
        redaction._CLEAN.clear()
        try:
            return fn(value)
        finally:
            redaction._UNCHANGED.update(kept[0])
            redaction._CLEAN.update(kept[1])

    def seen(out: str) -> list[str]:
        return [k for k in redaction._LONGEST_FIRST if redaction._seen_in(out, k)]

    texts = [text() for _ in range(400)]
    for _round in range(4):  # (each text again: remembered by then, or found again)
        for value in texts:
            if rng.random() < 0.02:
                register_secret(rng.choice(keys))
            said, judged = redact(value), holds_secret(value)
            assert said == fresh(redact, value) and judged == fresh(holds_secret, value), value
            assert seen(said) == [], value
            said.encode("utf-8")
            if rng.random() < 0.1:
                own = rng.choice(keys)

                @call_scoped
                def in_a_call(own: str = own, value: str = value) -> tuple[str, bool]:
                    register_call_secret(own)
                    return redact(value), holds_secret(value)

                said, judged = in_a_call()
                assert not redaction._seen_in(said, own), (own, value)
                assert judged or not redaction._seen_in(value, own), (own, value)


def test_a_shaped_key_is_removed_whatever_is_glued_before_or_after_it():
    # keys of the three shapes that need no label (sk-, AIza, a JWT), glued to one another, to names and to the escapes
    # and labels a vendor's body, a URL or a log line's %r puts before them: none may stay in the text. A JWT's pattern
    # begins at its run's first "eyJ" and redacts the run's text before it (e01ed38): that text, redacted as a string
    # of its own, lost the escape an sk- key is one by ("\\nsk-...", "%3Dsk-...") and the key stayed
    import random
    import string

    from magsag_mcp.redaction import redact

    rng = random.Random(28)
    alphabet = string.ascii_letters + string.digits + "_-"

    def run(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def key() -> str:
        kind = rng.randrange(3)
        if kind == 0:
            return "sk-proj-" + run(40)
        if kind == 1:
            return "AIza" + run(35)
        return f"eyJ{run(rng.randint(8, 30))}.eyJ{run(rng.randint(8, 30))}.{run(rng.randint(8, 40))}"

    before = ["", " ", "run-", "agent_", "x", "9", "-", "%3D", "\\n", "\\t", "\\x1b", "\\u001b", '"', "=", ".", "/"]
    before += ["é", "?token=", "&sig=", '"api_key": "', "Authorization: Bearer ", "password=", "eyJ", "eyJeyJ"]
    after_no_letter = [b for b in before if b not in ("", "x", "eyJ", "eyJeyJ")]
    for _ in range(20_000):
        keys, parts = [], []
        for _ in range(rng.randint(1, 4)):
            keys.append(key())
            # (an sk- after a letter is a word's end, "risk-assessment", unless the letter ends an escape)
            parts += (rng.choice(before if not keys[-1].startswith("sk-") else after_no_letter), keys[-1])
        text = "".join(parts) + rng.choice(before)
        said = redact(text)
        for each in keys:
            assert each.split(".")[0][-12:] not in said, (text, said)  # (its last characters before any dot)
