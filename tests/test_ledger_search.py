"""``search_usage`` / ``magsag data search``: what a pattern finds in the ledger."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

#: what a proxy in front of a vendor answers a 502 with; openai_chat keeps a body that is no JSON as it is
PROXY_502 = "HTTP 502: <html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>"


async def test_a_pattern_spanning_an_error_body_of_several_lines_finds_it(tmp_path: Path):
    """The guide's idiom names the model, then the error: 'claude.*error'. Before, '.' stopped at a line
    break, so 'gpt-4o.*Bad Gateway' found no attempt whose error body (an HTML page from a proxy) put the
    words on a later line than the model: the search said there were none. Now '.' crosses lines."""
    now = time.time()
    run = RunRecord("r", "ag", "s", now, ended_at=now, status="error")
    failed = AttemptRecord(
        "r", now, "openai", "gpt-4o", "s", "ag", "error", 0, 1, error_class="server_error",
        error_message=PROXY_502, cost_usd=Decimal(0),
    )  # fmt: skip
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(run, [failed])
        await ledger.log_event("r", "ag", "note", {"text": "first line\nsecond: Bad Gateway"})
        hits = await ledger.search("gpt-4o.*Bad Gateway", 10)
        assert [(h["kind"], h["model"]) for h in hits] == [("attempt", "gpt-4o")]
        assert await ledger.search("^openai gpt-4o error", 10) != []  # ^ is still the start of the text
        assert await ledger.search("claude.*Bad Gateway", 10) == []  # and the model still has to match


async def test_a_run_id_finds_the_runs_errors_and_the_events_it_logged(tmp_path: Path):
    """Every hit names its run, and a run id is what a failure report, a log line or `magsag run` hands a user;
    but the id was not in the text searched: `magsag data search mag-abc123` found nothing, and the events a run
    logged (obs.log; query_runs lists no events) could not be found by it at all. Now the run id is searched too,
    after the other fields, so that '^' still starts at the provider ('^openai gpt-4o error')."""
    now = time.time()
    run = RunRecord("mag-abc123", "ag", "s", now, ended_at=now, status="error")
    failed = AttemptRecord(
        "mag-abc123", now, "openai", "gpt-4o", "s", "ag", "error", 0, 1, error_class="server_error",
        error_message="HTTP 500", cost_usd=Decimal(0),
    )  # fmt: skip
    lone = RunRecord("sag-xyz789", "ag", "s", now, ended_at=now, status="error")  # failed before any attempt
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(run, [failed])
        await ledger.record_call(lone, [], error=InputError("payload: 'text' is required"))
        await ledger.log_event("mag-abc123", "ag", "model_used", {"model": "gpt-4o"})
        await ledger.log_event("other-run", "ag", "model_used", {"model": "gpt-4o"})
        hits = await ledger.search("mag-abc123", 10)
        assert sorted((h["kind"], h["run_id"]) for h in hits) == [("attempt", "mag-abc123"), ("event", "mag-abc123")]
        assert [(h["kind"], h["run_id"]) for h in await ledger.search("sag-xyz", 10)] == [("run", "sag-xyz789")]
        assert await ledger.search("^openai gpt-4o error", 10) != []  # '^' is still the provider's start


@pytest.mark.parametrize(
    ("pattern", "fix"),
    [
        # a glob: the '*' repeats nothing; a search finds text anywhere
        ("*error*", "a search finds text anywhere, with no * around it: search 'error'"),
        ("*rate*limit*", "a search finds text anywhere, with no * around it: search 'rate.*limit'"),
        # a name or message pasted as it reads, a parenthesis, a bracket or a '+' in it
        ("gpt-4o (", r"to find the text as written: search 'gpt-4o \('"),
        ("+1 (555", r"to find the text as written: search '\+1 \(555'"),
        ("[beta", r"to find the text as written: search '\[beta'"),
        ("C:\\", r"to find the text as written: search 'C:\\'"),
    ],
)
async def test_an_invalid_pattern_is_told_the_pattern_it_most_likely_meant(tmp_path: Path, pattern: str, fix: str):
    # RE2's reason alone ("no argument for repetition operator: *") and "RE2 syntax (no backreferences)" named
    # no fix: the user was left to learn what a glob or an unescaped parenthesis does to a regular expression
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError) as info:
            await ledger.search(pattern, 5)
        said = info.value.message
        assert said.startswith(f"invalid regular expression {pattern!r}: ") and fix in said, said
        assert "a character of \\.^$|?*+()[]{} meant as itself takes a \\ before it" in said, said
        meant = fix.split("search ", 1)[1].strip("'")
        assert await ledger.search(meant, 5) == []  # what it is told to search is a pattern RE2 takes


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?<=a)b", "x(?=y)", "[z-a]"])
async def test_a_pattern_of_what_re2_lacks_is_told_so_not_given_a_literal_it_did_not_mean(
    tmp_path: Path, pattern: str
):
    # a backreference or a lookaround is a regular expression as meant, in a syntax RE2 does not have: escaping
    # it would find its text, which nobody looks for
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError) as info:
            await ledger.search(pattern, 5)
        said = info.value.message
        assert "no backreferences (\\1) or lookarounds ((?=...), (?<=...))" in said and "search '" not in said, said


async def test_an_events_data_is_searched_as_its_values_are_written_not_as_their_json_escapes(tmp_path: Path):
    # An event's data is stored as JSON, and was matched as stored: a quote in a value is \" there, a line break
    # the two characters \n, a backslash two backslashes. `data search 'said "hi"'` found nothing of an event whose
    # message said it, a Windows path was found only written with its backslashes doubled, and '.' crossed no line
    # break in a logged message (as it does in an error body). The hit still shows the data as logged.
    logged = {"message": 'he said "hi"\nthen left', "path": "C:\\temp\\new", "tab": "a\tb"}
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "ag", "note", logged)
        for pattern in ('said "hi"', 'hi".then', r"C:\\temp\\new", "a\tb", '"message": "he said'):
            hits = await ledger.search(pattern, 5)
            assert [(h["kind"], h["data"]) for h in hits] == [("event", logged)], pattern
        assert await ledger.search(r'said \\"hi', 5) == []  # the escapes are no part of what was logged


#: an event as a version before 363c1ae stored NaN and the infinities: as json.dumps writes them, bare words
OLDER_EVENT = '{"score": NaN, "limits": [Infinity, -Infinity, 1.5]}'


def _ledger_with_an_older_event(db: Path) -> dict:
    """A ledger at ``db`` holding an event as :data:`OLDER_EVENT` stored it, and the hit a search finds of it."""
    from magsag_mcp.ledger.events import INSERT_EVENT

    async def fill() -> dict:
        async with Ledger(db) as ledger:
            row = ("r", "ag", time.time(), "scored", OLDER_EVENT)
            await ledger.submit(lambda conn: conn.execute(INSERT_EVENT, row))
            [hit] = await ledger.search("scored", 5)
            return hit

    return anyio.run(fill)


def test_an_older_versions_event_of_nan_or_infinity_is_found_as_json(tmp_path: Path, monkeypatch, capsys):
    # Such rows stay in a ledger kept since. A search read them back as floats: `magsag data search` printed NaN
    # (jq refused the whole output) and search_usage's schema made them null. They are found as an event logged now
    # stores them, the strings "NaN", "Infinity" and "-Infinity".
    from magsag_mcp.cli import main

    db = tmp_path / "l.db"
    hit = _ledger_with_an_older_event(db)
    assert hit["data"] == {"score": "NaN", "limits": ["Infinity", "-Infinity", 1.5]}
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert main(["data", "search", "scored"]) == 0
    [printed] = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert printed["data"] == hit["data"]


async def test_pages_of_hits_at_one_time_hold_each_once_newest_recorded_first(tmp_path: Path):
    # three attempts begun in the same instant: a page of one hit at a time reads all three, once each, in the
    # order a page of them all lists them (the last recorded first), and the page holding the last says no more
    at = 1762041600.0  # 2025-11-02T00:00:00Z
    async with Ledger(tmp_path / "l.db") as ledger:
        run = RunRecord("r-same-time", "ana", "skill.analysis", at, status="ok")
        attempts = [
            AttemptRecord(
                run.run_id, at, "openai", model, "skill.analysis", "ana", "ok", 0, 1,
                input_tokens=10, output_tokens=5, cost_usd=Decimal("0.001"),
            )  # fmt: skip
            for model in ("gpt-4o", "gpt-4o-mini", "o1-preview")
        ]
        await ledger.record_call(run, attempts)
        whole = await ledger.search_page("openai", limit=3)
        assert [h["model"] for h in whole["hits"]] == ["o1-preview", "gpt-4o-mini", "gpt-4o"]
        assert whole["has_more"] is False and whole["next_cursor"] is None
        paged, cursor = [], None
        for _ in range(3):
            page = await ledger.search_page("openai", limit=1, cursor=cursor)
            paged += [h["model"] for h in page["hits"]]
            cursor = page["next_cursor"]
        assert paged == ["o1-preview", "gpt-4o-mini", "gpt-4o"]
        assert cursor is None and page["has_more"] is False


async def test_a_page_of_event_hits_holds_the_newest_events(tmp_path: Path, monkeypatch):
    # events logged an hour apart, all matching: pages of one hit each hold the newest first (the page is cut in the
    # query: read oldest first, the first page held an older event and the newest was never listed)
    from types import SimpleNamespace

    from magsag_mcp.ledger import events

    times = iter([1762041600.0, 1762045200.0, 1762048800.0])
    monkeypatch.setattr(events, "time", SimpleNamespace(time=lambda: next(times)))
    async with Ledger(tmp_path / "l.db") as ledger:
        for step in ("first", "second", "third"):
            await ledger.log_event("r-events", "ana", f"step.{step}", {"n": 1})
        said, cursor = [], None
        for _ in range(3):
            page = await ledger.search_page("step", limit=1, cursor=cursor)
            said += [h["event"] for h in page["hits"]]
            cursor = page["next_cursor"]
        assert said == ["step.third", "step.second", "step.first"] and page["has_more"] is False


@pytest.mark.parametrize("limit", [0, 10_001])
async def test_a_search_limit_past_its_bounds_is_refused(tmp_path: Path, limit: int):
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError, match=f"limit must be between 1 and 10000, got {limit}"):
            await ledger.search_page("openai", limit=limit)
        assert (await ledger.search_page("openai", limit=10_000))["hits"] == []


@pytest.mark.parametrize("half", ["\\ud800", "\\udbff", "\\udc00", "\\udfff"])
def test_half_a_surrogate_pair_in_an_events_json_is_kept_escaped_to_its_last_code(half: str):
    # an older ledger's ensure_ascii JSON: a lone half is no text the pattern can take, at either end of the range
    from magsag_mcp.ledger.search import json_as_written

    assert json_as_written('{"note": "a' + half + 'b"}') == '{"note": "a' + half + 'b"}'
    assert json_as_written('{"note": "\\u00e9"}') == '{"note": "\u00e9"}'


async def test_an_attempts_warnings_are_searched_after_its_other_fields(tmp_path: Path):
    """An attempt's warnings hold what an audit looks for beside its error (an Azure deployment's answer from another
    model than its name's, a setting left out, a cost unknown), but were not in the text searched: `data search
    'answered as'` found nothing, and the gate's note sent an auditor to a CSV export. They come last, as their JSON
    with each string as written, so '^' still starts at the provider; an attempt without them matches as before."""
    now = time.time()
    run = RunRecord("r", "ag", "s", now, ended_at=now, status="ok")
    warned = AttemptRecord(
        "r", now, "azure", "gpt-4o-mini", "s", "ag", "success", 20, 5, cost_usd=Decimal("0.0001"),
        warnings=['azure:gpt-4o-mini answered as gpt-4o-2024-08-06; priced as "gpt-4o-2024-08-06"'],
    )  # fmt: skip
    plain = AttemptRecord("r", now, "openai", "gpt-4o", "s", "ag", "success", 20, 5, cost_usd=Decimal("0.0001"))
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(run, [warned, plain])
        hits = await ledger.search("azure:.* answered as", 10)
        assert [(h["kind"], h["model"]) for h in hits] == [("attempt", "gpt-4o-mini")]
        assert hits[0]["warnings"] == warned.warnings
        assert await ledger.search('priced as "gpt-4o', 10) != []  # (a quote in a warning is itself, not \")
        assert [h["model"] for h in await ledger.search("^azure gpt-4o-mini success", 10)] == ["gpt-4o-mini"]
        assert [h["model"] for h in await ledger.search("ag r$", 10)] == ["gpt-4o"]  # (no warnings: ends as before)
