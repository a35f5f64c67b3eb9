"""A known key a vendor or a gateway echoes re-encoded whole (:mod:`magsag_mcp.key_encodings`): every character
percent-encoded, every character an HTML character reference (decimal or hex), base64 of the key, of ``Bearer <key>``
and of ``user:<key>``. Each stayed whole in the text (key_escapes undoes the escapes of ``/``, ``+`` and ``=`` only);
and text so encoded that holds no known key is kept as it is."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from magsag_mcp import redaction
from magsag_mcp.redaction import holds_secret, redact, register_secret

#: letters and digits alone: no escape key_escapes undoes
KEY = "k3yABCDEFghijklmnop0123456789xyzQRS"
#: a short one (under PREFIX_KEY_MIN: looked for whole)
SHORT = "pw7Qz9xL"


def _pct(text: str, case: str = "X") -> str:
    return "".join(f"%{ord(c):02{case}}" for c in text)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "percent-upper": _pct,
    "percent-lower": lambda k: _pct(k, "x"),
    "percent-every-other": lambda k: "".join(f"%{ord(c):02X}" if i % 2 else c for i, c in enumerate(k)),
    "html-decimal": lambda k: "".join(f"&#{ord(c)};" for c in k),
    "html-hex": lambda k: "".join(f"&#x{ord(c):x};" for c in k),
    "html-hex-upper-padded": lambda k: "".join(f"&#X{ord(c):04X};" for c in k),
    "base64": lambda k: base64.b64encode(k.encode()).decode(),
    "base64-unpadded-url-safe": lambda k: base64.urlsafe_b64encode(k.encode()).decode().rstrip("="),
    "base64-bearer": lambda k: base64.b64encode(f"Bearer {k}".encode()).decode(),
    "base64-basic-user": lambda k: base64.b64encode(f"user:{k}".encode()).decode(),
    "base64-json": lambda k: base64.b64encode(f'{{"api_key": "{k}"}}'.encode()).decode(),
}


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """:func:`register_secret`, none known during the test but those it registers (see test_redaction_encodings)."""
    monkeypatch.setattr(redaction, "_KNOWN_SECRETS", set())
    monkeypatch.setattr(redaction, "_LONGEST_FIRST", ())
    monkeypatch.setattr(redaction, "_UNCHANGED", {})
    monkeypatch.setattr(redaction, "_CLEAN", {})
    yield register_secret


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_a_key_re_encoded_whole_is_removed(known: Callable[[str], None], encoding: str, key: str):
    known(key)
    written = ENCODINGS[encoding](key)
    said = redact(f'{{"error": {{"message": "invalid credential {written} (401)"}}}}')
    assert said == '{"error": {"message": "invalid credential [REDACTED] (401)"}}'
    assert holds_secret(f"run-{written}")  # a name holding it is refused, as one holding the key is


@pytest.mark.parametrize("encoding", ["percent-upper", "html-decimal", "html-hex"])
def test_only_the_keys_characters_are_removed_from_an_encoded_url(known: Callable[[str], None], encoding: str):
    known(KEY)
    written = ENCODINGS[encoding](KEY)
    said = redact(f"GET /v1/models?q=hello%20world&key={written}&page=2 refused")
    assert said == "GET /v1/models?q=hello%20world&key=[REDACTED]&page=2 refused"


def test_the_start_of_a_long_key_encoded_is_removed(known: Callable[[str], None]):
    # a gateway's 401 showing the first 20 characters of the token it refused, each percent-encoded
    known(KEY)
    assert redact(f"token {_pct(KEY[:20])}... refused") == "token [REDACTED]... refused"


def test_text_so_encoded_holding_no_known_key_is_kept(known: Callable[[str], None]):
    known(KEY)
    known(SHORT)
    other = "z" + KEY[1:11] + "0" * 24  # shares 10 characters with KEY: fewer than a piece
    for text in (
        "https://example.com/search?q=caf%C3%A9%20au%20lait&lang=fr%2Dca",
        "<p>Fish &#38; chips &#x26; peas, 5&#160;EUR &#8364;</p>",
        f"an id {base64.b64encode(b'just some ordinary bytes here').decode()} and a hash dGhlIHF1aWNrIGJyb3duIGZveA==",
        f"another key {_pct(other)} and {base64.b64encode(other.encode()).decode()}",
        f"the short key's part only: {_pct(SHORT[:5])} {base64.b64encode(SHORT[:5].encode()).decode()}",
        "a word that is base64 by its letters alone: internationalization, Authorization",
        "%ZZ%4 &#xZZ; &#99999999; broken escapes",
    ):
        assert redact(text) == text, text
        assert not holds_secret(text[:200]), text


def test_a_call_keys_re_encoded_is_removed_in_that_call(known: Callable[[str], None]):
    # a credential the call gave itself (its target's params.api_key), echoed base64 in its Authorization header
    with redaction.call_keys_known((KEY,)):
        written = ENCODINGS["base64-bearer"](KEY)
        assert redact(f"proxy: Authorization: Basic {written}") == "proxy: Authorization: Basic [REDACTED]"
        assert holds_secret(f"agent-{_pct(KEY)}")


def test_only_words_that_may_be_base64_of_a_key_are_decoded(
    known: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
):
    # every error's message, record and log line is redacted: a word in one case, or shorter than any known key's
    # piece encodes to, is never decoded (a 1 KB error's every word was)
    from magsag_mcp import key_encodings

    known(KEY)
    decoded: list[bytes] = []
    real = key_encodings._decoded
    monkeypatch.setattr(key_encodings, "_decoded", lambda word: decoded.append(word) or real(word))
    text = (
        "The model `gpt-4o-mini-2024-07-18` does not exist: invalid_request_error, "
        "request_id=req_8f3a2b1c9d4e5f6a7b8c9d0e1f2a3b4c, trace ABCDEF0123456789ABCDEF, short MixedCase"
    )
    assert redact(text) == text
    assert decoded == []
    assert redact(f"id org-AbCdEfGhIjKlMnOpQr {text}") == f"id org-AbCdEfGhIjKlMnOpQr {text}"
    # (in both cases and as long as a key's base64, it was read from each of its first 4 characters; it holds no
    # key's base64 as written whatever surrounds it, key_base64_cores, and is not decoded)
    assert decoded == []


def test_a_token_the_patterns_remove_whole_is_not_cut_first_by_a_key_its_base64_encodes(known: Callable[[str], None]):
    # a JWT whose payload encodes a known key ({"sub": "1234567890"}): the bearer pattern removes the token whole;
    # its payload removed first, "Bearer [REDACTED].<signature>" was left for the pattern to cut otherwise
    known("1234567890")
    said = redact("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz refused")
    assert said == "[REDACTED] refused"


@pytest.mark.parametrize("inner", ["{key}", "user:{key}", "Bearer {key}"])
@pytest.mark.parametrize("path", ["https://gw.example/v1/auth/", "GET /v1/a/", "GET /keys/", "GET /v1/keys/"])
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_base64_of_a_key_after_a_path_in_its_word_is_removed(
    known: Callable[[str], None], path: str, inner: str, key: str
):
    # '/' is base64's own: the path and the token are one word, which read from its start decoded to other bytes
    # than the key's unless the path's length was a multiple of 4 (a gateway's 404 quoting the URL it was sent)
    known(key)
    written = base64.b64encode(inner.format(key=key).encode()).decode()
    said = redact(f"no route for {path}{written} (404)")
    assert written[-12:] not in said and said.endswith("[REDACTED] (404)"), said


def test_a_text_shorter_than_base64_of_any_key_is_judged_without_splitting_it(
    known: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
):
    # holds_secret judges each call's fresh run id: a text shorter than base64 of the shortest key (or piece) known
    # holds none, and is returned before its words are split; the keys' shortest is found once with their table, not
    # looked up again for each text by hashing the table (perf82: some 4,000 instructions a call)
    from magsag_mcp import key_encodings

    known(KEY)
    known(SHORT)
    assert not holds_secret("run-warm")  # (the keys' table made)
    exact = base64.urlsafe_b64encode(SHORT.encode()).decode().rstrip("=")  # as long as the shortest base64 of a key
    assert holds_secret(exact) and redact(exact) == "[REDACTED]"
    measured: list[object] = []
    split: list[str] = []
    real = key_encodings._shortest_written
    monkeypatch.setattr(key_encodings, "_shortest_written", lambda table: measured.append(table) or real(table))
    monkeypatch.setattr(key_encodings, "_base64_spans", lambda text, *rest: split.append(text) or [])
    for i in range(3):
        assert not holds_secret(f"b-{i}")
    assert (measured, split) == ([], [])
