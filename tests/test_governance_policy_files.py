"""Loading the policy files: each mistake in one is a catalog problem naming its file and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import load_policies
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio


def test_malformed_policy_names_file_and_field(catalog_copy):
    policy(catalog_copy, "policies:\n  - name: x\n    thresholds: {max_cost_per_run: 5}\n    timezone: Mars/Base\n")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    assert "model_governance.yaml:3: policies.0.thresholds.max_cost_per_run: Extra inputs are not permitted" in text
    assert "unknown time zone 'Mars/Base'" in text


def test_a_policys_misspelt_time_zone_is_told_the_zone_it_nearly_names(catalog_copy):
    policy(catalog_copy, "policies:\n  - name: x\n    thresholds: {max_cost_per_day_usd: 5}\n    timezone: Asia/Tokio")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert "unknown time zone 'Asia/Tokio' (did you mean 'Asia/Tokyo'?)" in str(info.value)


@pytest.mark.parametrize(
    ("zone", "meant"),
    [
        ("GMT+3", "Etc/GMT-3"),
        ("UTC+3", "Etc/GMT-3"),
        ("utc-05:00", "Etc/GMT+5"),
        ("GMT+0530", None),
        ("UTC-0", "UTC"),
        # an ISO time's offset alone, copied from a timestamp (quoted: YAML reads a bare +01:00 as a number), was told
        # no fix at all ("unknown time zone '+01:00'; use an IANA name")
        ("'+01:00'", "Etc/GMT-1"),
        ("'-05:00'", "Etc/GMT+5"),
        ("'+05:30'", None),
    ],
)
def test_a_policys_time_zone_written_as_an_offset_is_told_the_iana_name_of_that_offset(catalog_copy, zone, meant):
    # IANA's Etc/GMT zones invert the sign (POSIX's: Etc/GMT+3 is three hours behind UTC). Before, 'GMT+3', meant as
    # three hours ahead, was asked 'did you mean Etc/GMT+3?': taken, the day limit reset six hours off the writer's day
    policy(catalog_copy, f"policies:\n  - name: x\n    thresholds: {{max_cost_per_day_usd: 5}}\n    timezone: {zone}")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    zone = zone.strip("'")
    assert f"policies.0.timezone: unknown time zone {zone!r}" in text
    assert "did you mean 'Etc/GMT" not in text
    if meant is not None:
        assert f"{meant!r}" in text
    if meant is not None and meant != "UTC":
        assert "sign" in text  # says why the name reads the other way
    if meant is None:  # an offset of minutes no Etc zone has: a place's zone is the fix
        assert "Etc/GMT" not in text and "UTC+5:30 has no IANA name of its own: use the zone of the place" in text
        assert "'Asia/Kolkata' (India (IST))" in text, text


_DECEMBER, _JULY = 1796601600.0, 1782864000.0  # 2026-12-07 and 2026-07-01, UTC


@pytest.mark.parametrize(
    ("zone", "now", "said"),
    [
        # Newfoundland keeps -3:30 in winter, -2:30 in summer; Nepal +5:45, Chatham +12:45 (+13:45 in its summer)
        ("-03:30", _DECEMBER, "places on it today: 'America/St_Johns' (Newfoundland (NST/NDT))"),
        ("-03:30", _JULY, "places on it part of the year: 'America/St_Johns'"),
        ("-02:30", _JULY, "places on it today: 'America/St_Johns'"),
        ("+05:45", _JULY, "places on it today: 'Asia/Kathmandu' (Nepal)"),
        ("+13:45", _DECEMBER, "places on it today: 'Pacific/Chatham'"),
        ("UTC+9", _JULY, "'Etc/GMT-9' in IANA's names, whose sign is inverted; or use the zone of the place you mean; "
                         "places on it today: "),
        # no place keeps it: the rule for writing one
        ("+05:15", _JULY, "no place keeps it: write the IANA name (Area/City) of the place whose days you mean"),
        ("+25:00", _JULY, "UTC+25 is no offset: a place's is at most 14 hours from UTC"),
        ("+05:75", _JULY, "UTC+5:75 is no offset"),
    ],
)
def test_an_offset_with_no_etc_zone_is_told_the_places_on_it(zone, now, said):
    # '+05:30' or '-03:30' was told "use the zone of a place on that offset", naming none: the places on it today
    # (from tzdata's zonenow.tab) are named, else those on it part of the year, else the rule
    from magsag_mcp.suggest import _OFFSET_WRITTEN
    from magsag_mcp.zone_offsets import offset_hint

    match = _OFFSET_WRITTEN.fullmatch(zone)
    assert match is not None
    hint = offset_hint(*match.groups(), now=now)
    assert said in hint, hint


def test_an_offsets_places_are_read_from_the_machines_zone_tables_without_tzdata(monkeypatch, tmp_path):
    # Without the tzdata package (a Linux machine reads its zones from /usr/share/zoneinfo), the places on '+05:30'
    # were not looked for there, and the offset was told that no place keeps it; with no table anywhere, it is not
    # told so either (the places are unknown), but the rule for writing a place's zone
    import shutil
    import zoneinfo
    from importlib import resources

    import tzdata

    from magsag_mcp import zone_offsets

    def no_tzdata(package: str) -> object:
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(resources, "files", no_tzdata)
    zones = tmp_path / "zoneinfo"
    zones.mkdir()
    shutil.copy(Path(tzdata.__file__).parent / "zoneinfo" / "zone1970.tab", zones / "zone1970.tab")  # (no zonenow)
    monkeypatch.setattr(zoneinfo, "TZPATH", (str(tmp_path / "absent"), str(zones)))
    hint = zone_offsets.offset_hint("+", "05", "30", now=_JULY)
    assert "places on it today: 'Asia/Kolkata'" in hint, hint
    (zones / "zone1970.tab").unlink()
    hint = zone_offsets.offset_hint("+", "05", "30", now=_JULY)
    assert "no place keeps it" not in hint, hint
    assert "UTC+5:30 has no IANA name of its own: write the IANA name (Area/City) of the place" in hint, hint


@pytest.mark.parametrize("zone", ["localtime", "right/Asia/Tokyo"])
def test_a_policys_day_in_a_zone_no_other_machine_reads_alike_is_a_problem(catalog_copy, zone):
    # 'localtime' was taken where the machine has it: the day limit reset at the server's midnight, not the
    # policy writer's; a 'right/' zone's days end at 23:59:33 UTC-offset time, its leap seconds counted
    policy(catalog_copy, f"policies:\n  - name: x\n    thresholds: {{max_cost_per_day_usd: 5}}\n    timezone: {zone}")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert f"policies.0.timezone: time zone {zone!r} " in str(info.value)


@pytest.mark.parametrize("zone", ["Europe", "America/Argentina"])
def test_a_policys_time_zone_that_names_a_region_not_a_zone_is_a_problem(catalog_copy, zone):
    # a region is a folder of zones: the tzdata package's folder raised IsADirectoryError out of the validator (a
    # traceback, not a problem naming the key and the fix)
    policy(catalog_copy, f"policies:\n  - name: x\n    thresholds: {{max_cost_per_day_usd: 5}}\n    timezone: {zone}")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert f"policies.0.timezone: unknown time zone {zone!r}" in str(info.value)
    assert "use an IANA name such as 'UTC' or 'Europe/Berlin'" in str(info.value)


def test_a_data_class_that_lists_no_model_is_a_problem(catalog_copy):
    # "pii_processing: []" validated ok, and every call of the class then failed with no model allowed
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.write_text(path.read_text().replace('pii_processing: ["local:llama3.1:70b", "fake:*"]', "pii_processing: []"))
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert info.value.problems == [
        f"{path}:40: policies.2.requirements: data class(es) 'pii_processing' list no model, which would refuse every "
        "call of the class; list the models its data may go to"
    ]


def test_a_policy_file_named_with_an_upper_case_suffix_is_read(catalog_copy, tmp_path):
    # model_governance.YAML (as a Windows editor may save it) was skipped: no policy, no limit, not a word
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.rename(path.with_name("Model_Governance.YAML"))
    assert [p.name for p in load_policies(catalog_copy).policies] == [
        "production_models",
        "cost_limits",
        "data_residency",
    ]
    (catalog_copy / "skills" / "coding.yaml").rename(catalog_copy / "skills" / "coding.YML")
    from magsag_mcp.catalog import load_catalog

    assert "skill.coding" in load_catalog(catalog_copy, env={}).skills


def test_a_policy_name_used_twice_is_a_problem_naming_both_files(catalog_copy):
    # Before: `magsag catalog validate` stopped with a bare "policy names must be unique" error instead
    # of listing the problem, and neither it nor loading named a file.
    from magsag_mcp.catalog import validate_catalog

    (catalog_copy / "policies" / "team.yaml").write_text(
        "policies:\n  - name: cost_limits\n    thresholds: {max_cost_per_run_usd: 2}\n"
    )
    problems = validate_catalog(catalog_copy, env={})
    assert len(problems) == 1
    assert "team.yaml:2: policies.0.name: policy name 'cost_limits' is also used in " in problems[0]
    assert "model_governance.yaml" in problems[0]
    with pytest.raises(E.CatalogError, match=r"team\.yaml:2: policies\.0\.name: policy name 'cost_limits'"):
        load_policies(catalog_copy)


@pytest.mark.parametrize("text", ["", "# limits: see the wiki\n"])
def test_an_empty_policy_file_is_a_catalog_problem_not_no_governance(catalog_copy, text):
    # Skills, routing and agents treat an empty file as a problem; an empty (or truncated) policy file
    # loaded as no policies at all: every model allowed, every budget gone, without a word.
    from magsag_mcp.catalog import validate_catalog

    policy(catalog_copy, text)
    problems = validate_catalog(catalog_copy, env={})
    assert len(problems) == 1 and "model_governance.yaml: the file is empty" in problems[0], problems
    with pytest.raises(E.CatalogError, match="the file is empty"):
        load_policies(catalog_copy)


def test_a_setting_that_would_change_no_limit_is_a_problem(catalog_copy):
    # timezone and allow_unpriced apply to their own policy's thresholds. Set on a policy without them
    # (beside the limits, in a policy of their own), they changed nothing: the day limits went on counting
    # UTC days, without a word.
    policy(
        catalog_copy,
        "policies:\n  - name: berlin\n    timezone: Europe/Berlin\n"
        "  - name: runs\n    timezone: Asia/Tokyo\n    thresholds: {max_cost_per_run_usd: 5}\n"
        "  - name: lenient\n    allow_unpriced: true\n"
        "  - name: daily\n    thresholds: {max_cost_per_day_usd: 5}\n",
    )
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    problems = info.value.problems
    assert len(problems) == 3, problems
    said = "policies.0.timezone: timezone 'Europe/Berlin' sets the days and months of this policy's own day and month"
    assert said in problems[0]
    assert "policies.1.timezone: timezone 'Asia/Tokyo'" in problems[1]
    assert (
        "policies.2.allow_unpriced: allow_unpriced applies to this policy's own thresholds, and it has none"
        in problems[2]
    )


def test_a_threshold_written_twice_is_a_problem_not_the_last_one_silently(catalog_copy):
    # YAML keeps the last of two equal keys: the $5 day limit below became $500 without a word.
    policy(
        catalog_copy,
        "policies:\n  - name: daily\n    thresholds:\n      max_cost_per_day_usd: 5\n      max_cost_per_day_usd: 500\n",
    )
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    [problem] = info.value.problems
    assert "model_governance.yaml: malformed YAML (line 5, column 7)" in problem
    assert "'max_cost_per_day_usd' appears twice" in problem


def test_a_model_pattern_with_a_space_inside_is_a_problem_naming_the_pattern_and_the_fix(catalog_copy):
    # 'gemini-1.5 -*' loaded, matched no model (none is named with a space), and refused every Gemini call it was
    # written to allow, as a data class's 'gpt-4o mini' refused every call of the class: both without a word
    policy(
        catalog_copy,
        "policies:\n  - name: models\n    allowed_models: ['gpt-4o', 'gemini-1.5 -*']\n"
        "  - name: residency\n    requirements: {financial_data: ['openai: gpt-4o mini']}\n",
    )
    path = catalog_copy / "policies" / "model_governance.yaml"
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert info.value.problems == [
        f"{path}:3: policies.0.allowed_models.1: 'gemini-1.5 -*' holds a space inside a model's name, which no model's "
        "name has, so it would match no model; write 'gemini-1.5-*'",
        f"{path}:5: policies.1.requirements.financial_data.0: 'openai: gpt-4o mini' holds a space inside a model's "
        "name, which no model's name has, so it would match no model; write 'openai:gpt-4o-mini'",
    ]


def _policies_gone(catalog, how: str) -> str:
    """The catalog's policies/ made ``how``; the text its problem says."""
    import shutil

    folder = catalog / "policies"
    if how == "dangling link":  # a folder shared from a mount that is not there
        shutil.rmtree(folder)
        folder.symlink_to(catalog / "shared-policies-not-mounted")
        return "policies is a link to nothing"
    if how == "file":
        shutil.rmtree(folder)
        folder.write_text("policies: []\n")
        return "policies is a file, not a folder"
    team = folder / "team"  # the policy file moved into a subfolder: only policies/*.yaml are read
    team.mkdir()
    (folder / "model_governance.yaml").rename(team / "model_governance.yaml")
    return "policies/team/model_governance.yaml is not read"


@pytest.mark.parametrize("how", ["dangling link", "file", "subfolder"])
async def test_a_policies_folder_that_cannot_be_read_fails_closed_naming_the_fix(catalog_copy, tmp_path, how):
    # Each was read as a catalog without governance: every model allowed, every budget gone, and a server started on it
    # said nothing, as an empty policy file's did before it was made a problem.
    from magsag_mcp.catalog import validate_catalog
    from magsag_mcp.service import Service

    said = _policies_gone(catalog_copy, how)
    problems = validate_catalog(catalog_copy, env={})
    assert len(problems) == 1 and said in problems[0], problems
    with pytest.raises(E.CatalogError, match=said):
        load_policies(catalog_copy)
    with pytest.raises(E.CatalogError, match=said):
        await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    assert not (tmp_path / "l.db").exists()


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("thresholds: {}", "thresholds lists no limit, which would set no limit; write the limits"),
        ("requirements: {}", "requirements lists no data class, which would confine no data class; write each"),
    ],
)
def test_a_rule_written_empty_is_a_problem_as_one_written_with_nothing_after_it_is(catalog_copy, written, said):
    # `thresholds:` with its limits commented out (null) was refused as setting no limit, while `thresholds: {}`, the
    # same rule emptied in flow style, loaded as a policy that restricts nothing
    policy(catalog_copy, f"policies:\n  - name: cost_limits\n    {written}\n")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    [problem] = info.value.problems
    assert f"policies.0.{written.partition(':')[0]}: {said}" in problem, problem


def test_a_machine_without_a_zone_folder_still_knows_the_iana_zones(tmp_path):
    # Windows and slim containers have no /usr/share/zoneinfo: zoneinfo then reads the tzdata package (a dependency
    # for this), where Europe/Berlin was an 'unknown time zone' and the guide's policy could not load
    import subprocess
    import sys

    code = "from magsag_mcp.zones import zone_problem; print(zone_problem('Europe/Berlin'), zone_problem('Mars/Base'))"
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path / "no-zone-folder")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("None unknown time zone 'Mars/Base'"), done.stdout


@pytest.mark.parametrize(
    ("written", "said"),
    [
        # 1e400 is a finite Decimal as written (YAML's float would be inf), 10**40 an int: both loaded as limits no
        # spend reaches, shown back as a 400-digit remaining_usd
        ("1e400", "$1E+400 is more than the ledger counts as one amount ($9,223,372.03, pico-USD in a 64-bit integer)"),
        ("'9223372.036854775808'", "$9,223,372.036854775808 is more than the ledger counts as one amount"),
        ("'1e400'", "$1E+400 is more than the ledger counts as one amount"),
        ("1" + "0" * 40, "is more than the ledger counts as one amount"),
        # of more digits than Python writes an int in (4,300): a bare ValueError out of the load; and one that was
        # written out whole in the refusal (a million characters)
        ("1" + "0" * 5000, "a number of 5,001 digits, more than Python reads (4,300) and more than any setting"),
        ("1e-999999", "$1E-999999 has more decimal places than the ledger counts (12: pico-USD)"),
        ("12345678901234567890123456789012345678901234567890", "$1.235E+49 is more than the ledger counts"),
        ("10000000", "$10,000,000 is more than the ledger counts as one amount"),
        # rounded to a $0 limit in pico-USD, refusing every call
        ("5e-13", "$0.0000000000005 has more decimal places than the ledger counts (12: pico-USD)"),
        ("1.0000000000005", "write at most 12 decimal places (the least limit is 0.000000000001)"),
        # refused before too: said with the file, the key and the fix
        (".nan", "nan is not a finite amount; write the amount as a plain number of USD"),
        (".inf", "inf is not a finite amount"),
        ("-5", "(got -5); write a number above 0"),
        # 0 or below is said so, however many decimal places (it was told of its decimal places)
        ("-5e-13", "write a number above 0"),
    ],
)
@pytest.mark.parametrize("key", ["max_cost_per_month_usd", "max_cost_per_day_usd", "max_cost_per_agent_monthly_usd"])
def test_a_limit_the_ledger_cannot_count_is_refused_naming_the_file_key_and_fix(catalog_copy, key, written, said):
    policy(catalog_copy, f"policies:\n  - name: x\n    thresholds: {{{key}: {written}}}")
    path = catalog_copy / "policies" / "model_governance.yaml"
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    if "digits, more than Python reads" in said:  # (YAML's own: said by its line, before any key is read)
        assert f"{path}: malformed YAML (line 3, column " in text and said in text, text
        return
    assert f"{path}:3: policies.0.thresholds.{key}: " in text and said in text, text
    if "ledger counts as one" in said:
        assert "write a lower amount, or remove the key for no such limit" in text


def test_the_largest_and_least_limits_the_ledger_counts_load(catalog_copy):
    # (10.000000000000000: its zeros past 12 places round nothing away; it was refused as rounded)
    policy(catalog_copy, "policies:\n  - name: x\n    thresholds: {max_cost_per_month_usd: '9223372.036854775807', "
                         "max_cost_per_day_usd: 0.000000000001, "
                         "max_cost_per_call_usd: '10.000000000000000'}")  # fmt: skip
    [loaded] = load_policies(catalog_copy).policies
    assert loaded.thresholds is not None
    assert str(loaded.thresholds.max_cost_per_month_usd) == "9223372.036854775807"
    assert loaded.thresholds.max_cost_per_call_usd == 10


@pytest.mark.parametrize("lock", ["link", "file"])
async def test_a_policy_file_open_in_emacs_with_a_change_unsaved_leaves_the_saved_policies_in_force(
    catalog_copy, tmp_path, lock
):
    # Emacs keeps ``.#NAME`` beside a file whose buffer holds an unsaved change: a link to ``user@host.pid:boot`` (a
    # file of that text where links cannot be made). Read as a policy file, every start failed while the operator
    # edited the policy ("policies/.#model_governance.yaml: cannot read: No such file or directory"). The saved file is
    # in force.
    from magsag_mcp.catalog import validate_catalog
    from magsag_mcp.service import Service

    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 2}\n")
    held = catalog_copy / "policies" / ".#model_governance.yaml"
    if lock == "link":
        held.symlink_to("ops@host.4242:1765000000")
    else:
        held.write_text("ops@host.4242:1765000000")
    assert validate_catalog(catalog_copy, env={}) == []
    policies = load_policies(catalog_copy)
    assert [(p.name, str(limit.amount)) for p in policies.policies for limit in policies.limits] == [("cap", "2")]
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    await svc.aclose()
    # the file it locks is read all the same: a problem of its own still stops every start
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: -2}\n")
    with pytest.raises(E.CatalogError, match=r"model_governance.yaml:3: policies.0.thresholds.max_cost_per_run_usd"):
        load_policies(catalog_copy)
