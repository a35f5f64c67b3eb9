"""A text or a name found clean is not searched for keys again while the keys known stay the same,
and is searched again once a key it holds is known (or registered while it was being searched)."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import redact, register_secret

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


class _CountedPatterns:
    """The key patterns, counting the texts they are run over."""

    def __init__(self, patterns):
        self.patterns, self.runs = patterns, 0

    def sub(self, *args):
        self.runs += 1
        return self.patterns.sub(*args)

    def __getattr__(self, name):
        return getattr(self.patterns, name)


def _patched(monkeypatch, patterns):
    """``patterns`` in the key patterns' place, where redact() runs them (key_shapes.without_key_shapes) and where
    holds_secret() reads their matches (redaction)."""
    from magsag_mcp import key_shapes, redaction

    monkeypatch.setattr(key_shapes, "_SECRET_PATTERNS", patterns)
    monkeypatch.setattr(redaction, "_SECRET_PATTERNS", patterns)


def test_a_failed_attempts_message_is_searched_for_keys_once_not_at_each_guard(monkeypatch):
    # the message is redacted as the error is made, again as its attempt's record is made, and again as the ledger
    # writes it: a text found to hold nothing is not searched again while the keys known stay the same
    from magsag_mcp import redaction

    counted = _CountedPatterns(redaction._SECRET_PATTERNS)
    _patched(monkeypatch, counted)
    exc = E.ProviderError("openai:gpt-4o: HTTP 500: the token bucket of this organization is empty (#7319)")
    assert redact(exc.message) == exc.message and redact(exc.message) == exc.message
    assert counted.runs == 1


def test_a_calls_own_key_is_cut_in_pieces_once_not_for_each_name_it_checks(monkeypatch):
    # every name of a call (run id, agent, skill) is checked against the call's own key before any is found clean:
    # its pieces are the same for each, and were cut again for each
    from magsag_mcp import redaction

    cut: list[str] = []
    pieces_of = redaction.pieces_of
    monkeypatch.setattr(redaction, "pieces_of", lambda secret: cut.append(secret) or pieces_of(secret))
    key = "cs-Yh4Rb8Nw2Qk6Tz0Mv3Lp7Jx"

    @redaction.call_scoped
    def a_call() -> list[bool]:
        redaction.register_call_secret(key)
        names = [f"run-{n:016x}" for n in range(20)] + [f"agent-{key[10:]}"]
        return [redaction.holds_secret(name) for name in names]

    assert a_call() == [False] * 20 + [True]
    assert cut.count(key) <= 1, cut


def test_a_text_found_clean_is_redacted_again_once_a_key_it_holds_is_known():
    text = "HTTP 401 for credential Zq7Wm2Rv9Lx4Tn8Kp3Hs"
    assert redact(text) == text
    register_secret("Zq7Wm2Rv9Lx4Tn8Kp3Hs")
    assert redact(text) == "HTTP 401 for credential [REDACTED]"


def test_a_text_found_clean_outside_a_call_is_redacted_of_that_calls_own_key():
    from magsag_mcp.redaction import call_scoped, register_call_secret

    text = "HTTP 401 for credential Pf5Gd1Jc6Yb0Vw4Ne9Ua"
    assert redact(text) == text

    @call_scoped
    def in_a_call() -> str:
        register_call_secret("Pf5Gd1Jc6Yb0Vw4Ne9Ua")
        return redact(text)

    assert in_a_call() == "HTTP 401 for credential [REDACTED]"
    assert redact(text) == text  # (outside the call, its key is not the process's)


def test_a_fresh_name_holding_nothing_a_key_would_is_judged_without_redacting_it(monkeypatch):
    # a call's run id is new on every call (a UUID, a job's counter): it was redacted whole to be judged
    from magsag_mcp import redaction
    from magsag_mcp.redaction import holds_secret

    register_secret("sk-test-judged-names-0123456789abcdef")
    redacted: list[str] = []

    def counted(text: str) -> str:
        redacted.append(text)
        return redact(text)

    monkeypatch.setattr(redaction, "redact", counted)
    assert not holds_secret("run-7f3c2a9e-5b1d-4c8e-9a0f-2d6b8e1c4a73")
    assert redacted == []
    # what the patterns need (a word of _TRIGGERS), or a known key's start, is still redacted to be judged
    assert holds_secret("job-sk-test-judged-names-0123") and holds_secret("run Bearer abcdefgh12345678")
    assert not holds_secret("run-for-the-keynote") and not holds_secret("my-\u212aey-run")
    assert len(redacted) == 4


def test_the_check_before_judging_a_name_never_skips_one_the_judgement_refuses():
    import random

    from magsag_mcp import redaction
    from magsag_mcp.redaction import _may_hold_key

    register_secret("Hq4Tz8Wd2Nc6Rb0Xf3Yk7Vm1")
    register_secret("qwPL0x93mz")
    heads = ["sk-", "AIza", "Bearer ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.", "api_key="]
    heads += ["\u212aey:", "pa\u017fsword="]
    bodies = ["abcdefgh12345678", "Hq4Tz8Wd2Nc6Rb0Xf3Yk7Vm1", "Hq4Tz8Wd2Nc6Rb", "qwPL0x93mz", "run-42", "Zq7Wm2Rv9Lx4"]
    rng = random.Random(20261203)
    for _ in range(5000):
        name = rng.choice(["", "run-", "agent "]) + rng.choice(heads + [""]) + rng.choice(bodies)
        # what holds_secret() would say without the check: redact() judges every name
        judged = redact(name) != name and (
            any(redaction._seen_in(name, s) for s in redaction._LONGEST_FIRST)
            or any(map(redaction._key_shaped, redaction._SECRET_PATTERNS.finditer(name)))
        )
        assert not judged or _may_hold_key(name, redaction._LONGEST_FIRST), name


def test_a_key_registered_while_a_text_is_redacted_is_removed_from_it_the_next_time(monkeypatch):
    # another thread's service opening (or a provider reading its key) while this one redacts: the text was searched
    # without the new key, and must not be remembered as holding nothing under the keys that include it
    from magsag_mcp import redaction

    late_key = "Wt5Xr1Qm8Bn3Kd7Lp2Hv6Zc"
    text = f"the token {late_key} was refused"

    class RegisteringMidway(_CountedPatterns):
        def sub(self, *args):
            register_secret(late_key)  # as the other thread would, between the known keys' loop and the end
            return super().sub(*args)

    _patched(monkeypatch, RegisteringMidway(redaction._SECRET_PATTERNS))
    redact(text)
    assert late_key not in redact(text)


def test_a_key_registered_while_a_name_is_judged_refuses_that_name_the_next_time(monkeypatch):
    from magsag_mcp import redaction
    from magsag_mcp.redaction import holds_secret

    late_key = "Jy4Ns9Fq2Tg7Wb0Xe5Rk8Ud"
    name = f"token-{late_key}"

    class RegisteringMidway(_CountedPatterns):
        def sub(self, *args):
            register_secret(late_key)
            return super().sub(*args)

    _patched(monkeypatch, RegisteringMidway(redaction._SECRET_PATTERNS))
    holds_secret(name)
    assert holds_secret(name)
