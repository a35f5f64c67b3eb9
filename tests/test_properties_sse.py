"""Properties of the server-sent events parser every streaming provider reads through (sse.SSEParser), searched by
hypothesis for counterexamples: however the network cuts a stream into chunks (inside a UTF-8 character, between a CR
and its LF), the events are the same as the whole stream's; and a stream written from events reads back as them,
whatever line breaks the server ends its lines with."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.sse import SSEEvent, SSEParser

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=300)


def _parse(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return [(e.event, e.data) for e in events]


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


#: a stream's bytes as servers (and broken ones) send them: fields, comments, blank lines, every line break, raw JSON
#: error objects, text of any script, and bytes that are no UTF-8
lines = st.one_of(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", "error", ": comment", "data:", "bogus"]), st.text(max_size=12)
    ).map(lambda t: f"{t[0]}: {t[1]}"),  # fmt: skip
    st.just(""),
    st.just('{"error": {"code": 429, "message": "slow down"}}'),
    st.text(max_size=10),
)
streams = st.tuples(
    st.lists(st.tuples(lines, st.sampled_from(["\n", "\r\n", "\r"])), max_size=12),
    st.booleans(),
    st.binary(max_size=4),
).map(lambda t: ("\ufeff" if t[1] else "").encode() + "".join(a + b for a, b in t[0]).encode() + t[2])


@PROPERTY
@given(streams, st.lists(st.integers(0, 400), max_size=8))
def test_any_cut_of_a_stream_into_chunks_reads_the_same_events(stream, cuts):
    assert _parse(_cut(stream, cuts)) == _parse([stream])


@PROPERTY
@given(streams)
def test_a_stream_fed_a_byte_at_a_time_reads_the_same_events(stream):
    assert _parse([stream[i : i + 1] for i in range(len(stream))]) == _parse([stream])


#: an event as a server writes one: a name (or none) and data of any text but line breaks, on one or more lines
events = st.tuples(
    st.none() | st.from_regex(r"\A[a-z_.]{1,12}\Z"),
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20),
        min_size=1,
        max_size=3,
    ),  # fmt: skip
)


@PROPERTY
@given(st.lists(events, max_size=6), st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(0, 300), max_size=6))
def test_events_written_as_a_stream_read_back_as_they_were_written(written, line_break, cuts):
    text = ""
    for name, data_lines in written:
        if name is not None:
            text += f"event: {name}{line_break}"
        text += "".join(f"data: {line}{line_break}" for line in data_lines) + line_break
    expected = [(name, "\n".join(data_lines)) for name, data_lines in written]
    assert _parse(_cut(text.encode(), cuts)) == expected
