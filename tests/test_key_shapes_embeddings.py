"""An embeddings answer past 64 KB (OpenAI's ``encoding_format: "base64"``: each vector its float32s in base64, some
8 KB of it for 1,536 dimensions) is innocent base64 whose random letters hold the key patterns' trigger words now and
then ("key", "sig"): read past the first 64 KB in windows around them, it is kept byte for byte, and a key inside the
list or after it is removed. Work is counted in characters handed to the pattern, never timed: it stays a small part
of the text's length, and grows as the text does."""

from __future__ import annotations

import base64
import json
import random
import struct
import sys
from collections.abc import Callable
from typing import Any

import pytest

from magsag_mcp.key_shapes import _SHAPES_READ, _SHAPES_READ_MOST, _ShapeStarts, without_key_shapes
from magsag_mcp.ledger.events import event_row
from magsag_mcp.redaction import redact
from tests.test_key_shapes_bounded import _CountedPattern, counted

#: (test_key_shapes_bounded's fixture: the characters the pattern is handed, counted)
counted = counted

_KEY = "sk-proj-Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9"
_DIMENSIONS = 1536


def _vectors(size: int, seed: int) -> list[str]:
    """Base64 vectors, ``size`` characters of them or a little more, as an embedding model's: unit-length float32s
    (each some 0.025 across), little-endian as OpenAI's are."""
    rng = random.Random(seed)
    vectors: list[str] = []
    while sum(map(len, vectors)) < size:
        values = [rng.gauss(0.0, _DIMENSIONS**-0.5) for _ in range(_DIMENSIONS)]
        vectors.append(base64.b64encode(struct.pack(f"<{_DIMENSIONS}f", *values)).decode("ascii"))
    return vectors


def _answer(vectors: list[str], **extra: object) -> str:
    """OpenAI's embeddings answer holding ``vectors``, as its API writes it."""
    data = [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)]
    usage = {"prompt_tokens": 8 * len(vectors), "total_tokens": 8 * len(vectors)}
    return json.dumps({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage, **extra})


@pytest.mark.parametrize("seed", range(4))
def test_a_300_kb_embeddings_answer_is_kept_byte_for_byte(counted: _CountedPattern, seed: int):
    body = _answer(_vectors(300_000, seed))
    assert len(body) > 300_000
    assert redact(body) == body
    # (the patterns read its first 64 KB and a window around each trigger word its letters hold: a small part of it)
    assert counted.read <= _SHAPES_READ + len(body) // 8, counted.read
    # and stored as an event's data (JSON in JSON: its quotes escaped), it is the same list
    counted.read = 0
    stored = event_row(None, None, "obs.log", {"answer": body})[4]
    assert json.loads(json.loads(stored)["answer"]) == json.loads(body)


def test_a_plain_list_of_base64_vectors_is_kept_byte_for_byte():
    # (a list of the vectors alone, as a client hands them on, compact and indented)
    vectors = _vectors(300_000, 7)
    for text in (json.dumps(vectors), json.dumps(vectors, separators=(",", ":")), json.dumps(vectors, indent=2)):
        assert redact(text) == text


@pytest.mark.parametrize("at", [2, 20, 36])
def test_a_key_inside_the_list_is_removed_and_the_list_kept(at: int):
    # a gateway's debug field in one of the list's items, at 16 KB, 160 KB and 290 KB into the list; a key as an item
    vectors = _vectors(300_000, 11)
    for item in (_KEY, f"Authorization: Bearer {_KEY}", f'{{"api_key": "{_KEY}"}}'):
        listed = [*vectors[:at], item, *vectors[at:]]
        body = json.dumps(listed)
        said = redact(body)
        assert _KEY[8:] not in said and _KEY[10:22] not in said
        assert said == body.replace(_KEY, "[REDACTED]", 1)


def test_a_key_after_the_list_is_removed_and_the_list_kept():
    vectors = _vectors(300_000, 13)
    for extra in ({"debug": f"Authorization: Bearer {_KEY}"}, {"note": f"the key {_KEY} was used"}):
        body = _answer(vectors, **extra)
        said = redact(body)
        assert _KEY[8:] not in said
        assert said[: len(body) - 200] == body[: len(body) - 200]
        assert json.loads(said)["data"] == json.loads(body)["data"]


def test_the_work_grows_as_the_list_does(counted: _CountedPattern):
    # (counted, never timed: a list twice as long is read some twice as much past the first 64 KB, not four times)
    read = []
    for size in (300_000, 600_000, 1_200_000):
        counted.read = 0
        body = _answer(_vectors(size, 17))
        assert redact(body) == body
        read.append(counted.read - _SHAPES_READ)
    assert read[2] <= _SHAPES_READ_MOST - _SHAPES_READ, read
    assert read[1] <= 3 * max(read[0], 4_096) and read[2] <= 3 * max(read[1], 4_096), read


def test_a_batch_of_2048_vectors_is_kept_whole_past_what_the_patterns_may_read(counted: _CountedPattern):
    # 2,048 inputs embedded at once (OpenAI's most a request), each 1,536 float32s: 17 MB of base64 whose "key" and
    # "sig" (letters inside its words, some 1 in 16,000 characters) were each taken for a shape's start and read around:
    # past 12 MB the windows had spent the 262,144 characters the patterns may read, and the rest of the answer was
    # masked, its vectors lost. (Random bytes, as a float32's are past its exponent; the seed's base64 holds no "AIza":
    # "AIza" and 20 characters of a Google key's alphabet is a key's shape wherever it stands)
    rng = random.Random(6)
    vectors = [base64.b64encode(rng.randbytes(4 * _DIMENSIONS)).decode("ascii") for _ in range(2048)]
    body = _answer(vectors, debug=f"Authorization: Bearer {_KEY}")
    assert "AIza" not in body
    said = redact(body)
    assert said == body.replace(_KEY, "[REDACTED]")
    assert counted.read <= _SHAPES_READ_MOST, counted.read


@pytest.mark.parametrize(
    "shape",
    ["&signature=", "?sig=", "&SIG=", "api_key: ", "API_KEY=", '"x-api-key": "', "?key=", "\\u0026key\\u003d"],
)
def test_a_label_glued_to_base64_past_64_kb_is_still_read(shape: str):
    # "key" and "sig" with a word's characters after them open no window; a label's (a separator after it, or
    # "signature") does, glued to the base64 before it or not
    vectors = _vectors(200_000, 19)
    value = _KEY[8:]
    text = vectors[0] * 10 + vectors[1][:500] + shape + value + "&next=1 " + vectors[2]
    said = redact(text)
    assert value[:12] not in said
    assert said.startswith(vectors[0] * 10) and said.endswith("&next=1 " + vectors[2])


def _steps(fn: Callable[[], str]) -> tuple[str, int]:
    """``fn()``'s value, and how many calls (Python's functions and C's) it made: the work counted, never timed."""
    made = 0

    def watch(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal made
        made += event in ("call", "c_call")

    sys.setprofile(watch)
    try:
        value = fn()
    finally:
        sys.setprofile(None)
    return value, made


@pytest.mark.parametrize("inside", ["keys", "sig0", "monkeys, "])
def test_the_words_inside_words_are_passed_over_in_one_search(inside: str):
    # a text past 64 KB dense with a "key" or "sig" inside a word (100,000 of them): each was passed over by a look-up
    # and a call of Python's of its own, 3 s of the event loop for 16 MB of "sigs", four times what the windows around
    # them had cost; passed over in C, the calls made do not grow with them
    words = "the server could not read the request body " * 1_600
    dense = inside * 100_000
    text = words + dense + f" the key {_KEY} was refused"
    without_key_shapes(text)  # (the patterns compiled on their first use, not counted)
    said, made = _steps(lambda: without_key_shapes(text))
    assert said == words + dense + " the key [REDACTED] was refused"
    assert made < 2_000, made


def test_a_words_place_is_found_as_a_look_up_of_it_from_place_to_place_finds_it():
    # (one search in C, and a look-up of each place in turn, reading past the span's end as far as a word goes on:
    # the same place for every span of texts made of the words, their endings and what goes on after them)
    goes_on = set("abcdefghijklmnopqrstuvwxyz0123456789+/_-")

    def one_by_one(lowered: str, word: str, at: int, end: int) -> int:
        found = lowered.find(word, at, end)
        while found != -1:
            after = found + len(word)
            if lowered[after : after + 1] not in goes_on or (word == "sig" and lowered.startswith("nature", after)):
                return found
            found = lowered.find(word, found + 1, end)
        return -1

    rng = random.Random(86)
    bits = ("key", "sig", "nature", "natur", "k", "s", "a", "0", "-", "_", "+", "/", " ", "=", '"', "\\", "%", "\u00e9")
    for _ in range(3_000):
        lowered = "".join(rng.choice(bits) for _ in range(rng.randrange(1, 16)))
        starts = _ShapeStarts(lowered)
        at = rng.randrange(len(lowered) + 1)
        end = rng.randrange(at, len(lowered) + 4)
        for word in ("key", "sig"):
            assert starts._find(word, at, end) == one_by_one(lowered, word, at, end), (lowered, word, at, end)
