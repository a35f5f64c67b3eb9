"""The names a call is recorded under (skill_id, agent, run_id, an event's, a task id): capped in length and
refused with invisible or control characters or surrounding whitespace, at every boundary, before anything is
recorded or sent, and never echoed whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magsag_mcp import Delegation, InputError, Magsag
from magsag_mcp.errors import MagsagError
from magsag_mcp.service import Service
from magsag_mcp.text import NAME_MAX, check_name

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
HUGE = "s" * 1_000_000


def runs(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT run_id, agent, skill FROM runs").fetchall()


@pytest.mark.anyio
async def test_a_megabyte_skill_id_agent_or_run_id_is_refused_unquoted_and_unrecorded(tmp_path: Path):
    # Before: a 1 MB skill_id came back in an UnknownSkillError of 1 MB and was recorded as a failed run of that
    # skill; a 1 MB agent or run_id was recorded (and shown by every report and export) as it was.
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env=ENV) as svc:
        for kwargs in ({"skill_id": HUGE}, {"agent": HUGE}, {"run_id": HUGE}):
            args = {"skill_id": "skill.analysis", **kwargs}
            with pytest.raises(InputError) as info:
                await svc.invoke_skill(args.pop("skill_id"), {"data": "x"}, **args)
            where = next(iter(kwargs))
            assert len(info.value.message) < 400 and "s" * 250 not in info.value.message
            assert f"{where} is 1,000,000 characters long" in info.value.message
            assert f"at most {NAME_MAX}" in info.value.message and info.value.details["max_length"] == NAME_MAX
        with pytest.raises(InputError) as info:
            svc.explain(HUGE, {"data": "x"})
        assert len(info.value.message) < 600 and "1,000,000 characters" in info.value.message
        ok = await svc.invoke_skill("skill.analysis", {"data": "x"}, agent="a" * NAME_MAX, run_id="r" * NAME_MAX)
        assert ok.run_id == "r" * NAME_MAX  # at the cap: taken
    assert runs(db) == [("r" * NAME_MAX, "a" * NAME_MAX, "skill.analysis")]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "agent",
    ["my-mag ", " my-mag", "my-mag\n", "my\tmag", "my-mag\u200b", "\u202eevil", "my\x1b[2Jmag", "my-mag\u00a0"],
)
async def test_an_agent_that_would_look_like_another_is_refused_before_it_gets_a_limit_of_its_own(
    tmp_path: Path, agent: str
):
    # Before: "my-mag " (a trailing space from a config file) was an agent of its own, with a daily limit of its own,
    # shown in every table as "my-mag"; a zero-width space or a bidi override did the same invisibly.
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env=ENV) as svc:
        with pytest.raises(InputError, match="^agent .*(whitespace|control or invisible character)"):
            await svc.invoke_skill("skill.analysis", {"data": "x"}, agent=agent)
        with pytest.raises(InputError):
            svc.explain("skill.analysis", {"data": "x"}, agent=agent)
        # looked up, not recorded: a name an older ledger holds may still be asked about
        status = await svc.check_budget(agent=agent)
        assert status["agent"] == agent
    assert runs(db) == []


@pytest.mark.anyio
async def test_names_of_any_script_with_inner_spaces_are_taken(tmp_path: Path):
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as svc:
        result = await svc.invoke_skill(
            "skill.analysis", {"data": "x"}, agent="équipe données 日本", run_id="nightly job 2026-12-02"
        )
    assert result.run_id == "nightly job 2026-12-02"


@pytest.mark.anyio
async def test_a_joiner_that_shapes_a_script_or_an_emoji_is_part_of_a_name(tmp_path: Path):
    # Before: the zero-width joiner and non-joiner were refused as invisible wherever they stood, so a Persian agent
    # name, which needs the non-joiner to be spelt right, a Devanagari conjunct, and an emoji of several people or a
    # profession (joined by the joiner) were refused as "control or invisible" characters.
    names = ["دستیار\u200cمالی", "क्\u200dष", "👩\u200d💻 coder", "team 👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈 pride"]
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as svc:
        for name in names:
            result = await svc.invoke_skill("skill.analysis", {"data": "x"}, agent=name, run_id=f"run {name}")
            assert result.run_id == f"run {name}"
    # between two Latin letters, or beside a space or the name's end, a joiner joins nothing: it only hides
    for name in ["my\u200dmag", "my\u200cmag", "日本\u200d", "\u200c日本", "日本 \u200d語"]:
        with pytest.raises(InputError, match="control or invisible character U\\+200[CD]"):
            check_name(name, "agent")


def test_a_name_of_only_whitespace_is_said_to_name_nothing():
    with pytest.raises(InputError, match=r"^run_id ' ' is only whitespace, which names nothing; leave it out"):
        check_name(" ", "run_id")


@pytest.mark.anyio
@pytest.mark.parametrize("names", [{"agent": "  "}, {"run_id": " "}, {"agent": "\t"}])
async def test_check_budget_refuses_a_name_of_only_whitespace_as_a_usage_filter_does(tmp_path: Path, names: dict):
    # Looked up, a name of only whitespace (a blank field of a client's form) was taken: check_budget showed the whole
    # agent-day or run limit left, "spent $0", with no note (the note's own filter refused the name, silently), where
    # summarize_usage's filter and `magsag budget --agent '  '` refuse it. No name is only whitespace, in any ledger.
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as svc:
        with pytest.raises(InputError, match=r"^(agent|run_id) '[^']+' is only whitespace, which names nothing"):
            await svc.check_budget(**names)
        # a name an older ledger may hold, a trailing space and all, is still looked up
        assert (await svc.check_budget(agent="my-mag "))["agent"] == "my-mag "


def test_check_budget_still_refuses_an_unbounded_name():
    check_name("x " * 10, "agent", recorded=False)  # a trailing space: an older ledger's name, looked up
    with pytest.raises(InputError, match="is 1,000,000 characters long"):
        check_name(HUGE, "agent", recorded=False)


def test_the_python_api_refuses_them_where_they_are_given(tmp_path: Path, fake_scripts: None):
    db = tmp_path / "l.db"
    with pytest.raises(InputError, match="agent is 201 characters long"):
        Magsag(catalog=CATALOG, db=db, env=ENV, agent="a" * 201)
    with Magsag(catalog=CATALOG, db=db, env=ENV, agent="tester") as mg:
        with pytest.raises(InputError, match="run_id is 1,000,000 characters long"):
            mg.skills.invoke("skill.analysis", {"data": "x"}, run_id=HUGE)
        with pytest.raises(InputError, match="^the event's name is 1,000,000 characters long") as info:
            mg.obs.log(HUGE, {"model": "gpt-4o"})
        assert len(info.value.message) < 400
        with pytest.raises(InputError, match="^the event's name .*control or invisible"):
            mg.obs.log("model_success\r\nforged", {})
        with pytest.raises(InputError) as info:
            mg.runner.run_agent(HUGE, {"data": "x"})
        assert len(info.value.message) < 400 and "of 1,000,000 characters" in info.value.message
        # the SAG's run id is the task id and 17 characters more: a task id that would make it too long is refused
        with pytest.raises(InputError, match=f"Delegation.task_id is 184 characters long, and at most {NAME_MAX - 17}"):
            mg.runner.invoke_sag(Delegation(task_id="t" * 184, sag_id="data-analysis-sag", input={"data": "x"}))
        mg.runner.invoke_sag(Delegation(task_id="t" * 183, sag_id="data-analysis-sag", input={"data": "x"}))
        # a task id that is no text: None made the SAG's run id "None-...", and 42 "42-..."
        for bad, said in ((None, "None"), (42, "int")):
            with pytest.raises(InputError, match=f"^Delegation.task_id is {said}, not text: .*task_id='analyze-1'"):
                mg.runner.invoke_sag(Delegation(task_id=bad, sag_id="data-analysis-sag", input={"data": "x"}))
    assert max(len(run_id) for run_id, *_ in runs(db)) == NAME_MAX
    assert not [run_id for run_id, *_ in runs(db) if run_id.startswith(("None-", "42-"))]


@pytest.mark.anyio
async def test_the_mcp_tools_refuse_them_with_the_limit_and_record_nothing(client, tmp_path: Path):
    for args in (
        {"skill_id": HUGE, "payload": {"data": "x"}},
        {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": HUGE},
        {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "claude-desktop\n"},
    ):
        result = await client.call_tool("invoke_skill", args)
        assert result.is_error
        text = result.content[0].text
        assert len(text) < 600 and "s" * 250 not in text
        error = result.structured_content["error"]
        # a skill id too long: the tool's schema says the cap (its maxLength) and refuses it; the rest the service
        if args["skill_id"] == HUGE:
            assert error["type"] == "invalid_arguments" and f"at most {NAME_MAX} characters" in text
        else:
            assert error["type"] == "input_error"
    result = await client.call_tool("explain_route", {"skill_id": HUGE, "payload": {"data": "x"}})
    assert result.is_error and len(result.content[0].text) < 600
    assert runs(tmp_path / "ledger.db") == []


def test_the_tools_schemas_say_the_cap_the_service_holds_to():
    from magsag_mcp.mcp_server import models
    from magsag_mcp.mcp_server.tool_schemas import stored

    assert models.NAME_MAX == NAME_MAX
    schema = stored()["invoke_skill"]["parameters"]["properties"]
    assert schema["skill_id"]["maxLength"] == NAME_MAX


def test_a_catalog_skill_or_agent_id_over_the_cap_is_a_catalog_problem(catalog_copy: Path):
    from magsag_mcp.catalog import validate_catalog

    long_id = "skill." + "x" * NAME_MAX
    skill = (catalog_copy / "skills" / "analysis.yaml").read_text().replace("id: skill.analysis", f"id: {long_id}")
    (catalog_copy / "skills" / "long.yaml").write_text(skill)
    problems = validate_catalog(catalog_copy)
    assert any("long.yaml" in p and f"at most {NAME_MAX} characters" in p for p in problems), problems


def test_errors_stay_pickle_safe():
    import pickle

    try:
        check_name(HUGE, "run_id")
    except MagsagError as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert again.message == exc.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "context", "said"),
    [
        (
            {"model_config": {"model": "fake:" + HUGE}},
            None,
            "model of 1,000,005 characters: a model's name is at most 512",
        ),
        ({"model_config": {"model": "fake:x", "fallbacks": [HUGE]}}, None, "model of 1,000,000 characters"),
        ({}, {"preferred_model": HUGE}, "context.preferred_model: model of 1,000,000 characters"),
        ({"model_config": {"provider": HUGE}}, None, "unknown provider of 1,000,000 characters; use one of"),
        ({}, {"tier": HUGE}, "unknown cost tier of 1,000,000 characters; the catalog defines"),
        ({}, {"data_class": HUGE}, "data class of 1,000,000 characters is named in no policy's requirements"),
    ],
)
async def test_a_megabyte_model_provider_tier_or_data_class_is_refused_unquoted(
    tmp_path: Path, payload: dict, context: dict | None, said: str
):
    # Before: a 1 MB model name was sent to the vendor and recorded whole in the attempt (and every report's
    # breakdown by model); a 1 MB provider, tier or data class came back whole in the error (and the server's log).
    db = tmp_path / "l.db"
    async with Service.open(catalog=CATALOG, db=db, env=ENV) as svc:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", **payload}, context=context, run_id="r-big")
        with pytest.raises(MagsagError) as explained:
            svc.explain("skill.analysis", {"data": "x", **payload}, context=context)
    for err in (info.value, explained.value):
        assert said in err.message and len(err.message) < 600, err.message[:300]
        assert "s" * 250 not in repr(err.to_dict())
    with sqlite3.connect(db) as conn:
        assert (conn.execute("SELECT MAX(LENGTH(model)) FROM attempts").fetchone()[0] or 0) < 600


@pytest.mark.parametrize(
    "name",
    [
        "ana\U000e0061\U000e0064\U000e006d",  # tag characters: 'adm' spelt invisibly after 'ana'
        "ana\u061c",  # the Arabic letter mark, a bidirectional control like U+200E
        "ana\u180ebob",  # the Mongolian vowel separator, which shapes Mongolian letters only
        "ana\ufff9x\ufffbbob",  # interlinear annotation characters
        "ana\u3164",  # the Hangul filler, a letter that shows as nothing
        "\u115fana",  # the Hangul choseong filler
        "ana\u2800bob",  # the braille blank
        "ana\u034f",  # the combining grapheme joiner
        "ana\ufe0f",  # a variation selector after a Latin letter changes nothing it shows
        "my\u00a0mag",  # a no-break space, shown as the space of 'my mag'
        "my\u2003mag",  # an em space
    ],
)
def test_a_name_hiding_a_format_or_blank_character_is_refused(name: str):
    # Before: only the characters of a fixed list (zero-width spaces and joiners, the bidi overrides and marks, the
    # BOM) counted as invisible. Other format characters (tag characters, the Arabic letter mark, ...), letters that
    # show as nothing (the Hangul fillers) and spaces other than U+0020 were taken, so 'ana' and 'ana' + invisible
    # tags were two agents with a daily limit each, shown as the same in every report.
    with pytest.raises(InputError, match="control or invisible character U\\+") as info:
        check_name(name, "agent")
    assert ("(U+0020: another space shows as it does" in info.value.message) == (name in ("my\u00a0mag", "my\u2003mag"))


def test_emoji_and_scripts_that_use_selectors_and_tags_are_still_names():
    # a variation selector after the emoji or ideograph it selects, a keycap, a subdivision flag's tag sequence, and
    # the Mongolian vowel separator between Mongolian letters
    england = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    for name in ["team ❤\ufe0f", "1\ufe0f\u20e3 first", "葛\U000e0100西", f"{england} fans", "ᠬᠠᠭᠠ\u180eᠠ"]:
        check_name(name, "agent")


@pytest.mark.parametrize(
    "name",
    [
        "ana\u2065",  # in the U+2060-206F block the fixed list refused before the Unicode-category check
        "ana\ufff0",  # reserved default-ignorable code points: unassigned, yet shown as nothing by every renderer
        "ana\U000e0002",
        "ana\U000e0fffbob",
        "ana\u180b",  # a Mongolian free variation selector after a Latin letter, as U+FE0F after one
    ],
)
def test_a_reserved_invisible_code_point_or_a_stray_mongolian_selector_is_refused(name: str):
    # The category check takes unassigned code points (an emoji newer than Python's tables), but Unicode reserves
    # U+2065, U+FFF0-FFF8 and the unassigned rest of U+E0000-E0FFF as default-ignorable: never an emoji, shown as
    # nothing. 'ana' + U+2065 was refused by the fixed list before that check and taken after it, another agent with
    # a daily limit of its own shown as 'ana'.
    with pytest.raises(InputError, match="control or invisible character U\\+"):
        check_name(name, "agent")


def test_a_mongolian_free_variation_selector_after_a_mongolian_letter_is_still_a_name():
    check_name("ᠨᠠ\u180bᠨ", "agent")
    check_name("\U0001faea team", "agent")  # an emoji newer than some Pythons' Unicode tables
