"""A policy file's problem names the line it is on, ``FILE:LINE: PLACE: MESSAGE``, as a compiler's does: a user editing
a long policy file was told ``policies.7.thresholds.max_cost_per_rn_usd`` and counted the entries by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog import validate_catalog
from magsag_mcp.governance import load_policies, load_policy_file
from magsag_mcp.yaml_lines import YamlLines, placed_on_its_line

#: eight policies of a few lines each, with comments between: the problem's entry is the eighth
FILLER = "".join(
    f"  # team {i}'s limits\n  - name: team_{i}\n    thresholds:\n      max_cost_per_run_usd: {i + 1}\n"
    for i in range(7)
)


def _long_file(tmp_path: Path, last: str) -> tuple[Path, int]:
    """A policy file of eight policies, ``last`` the eighth's lines; and the line its third line (its key) is on."""
    path = tmp_path / "policy.yaml"
    text = "# the team's policies\npolicies:\n" + FILLER + last
    path.write_text(text)
    return path, text.count("\n") - last.count("\n") + 3


def test_an_unknown_key_deep_in_a_long_file_names_its_line(tmp_path: Path):
    path, line = _long_file(tmp_path, "  - name: late\n    thresholds:\n      max_cost_per_rn_usd: 5\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert line == 33 and path.read_text().splitlines()[line - 1] == "      max_cost_per_rn_usd: 5"
    assert problem.startswith(
        f"{path}:33: policies.7.thresholds.max_cost_per_rn_usd: Extra inputs are not permitted (did you mean "
        "'max_cost_per_run_usd'?)"
    ), problem


def test_a_value_of_the_wrong_type_names_its_line(tmp_path: Path):
    path, line = _long_file(tmp_path, "  - name: late\n    allowed_models: [gpt-4o]\n    allow_unpriced: maybe\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    assert info.value.problems == [
        f"{path}:{line}: policies.7.allow_unpriced: Input should be a valid boolean (got 'maybe'); write true or false"
    ]


def test_a_list_item_names_the_line_it_is_written_on(tmp_path: Path):
    path, line = _long_file(tmp_path, "  - name: late\n    allowed_models:\n      - gpt-4o\n      - 4.5\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    item = f"{path}:{line + 1}: policies.7.allowed_models.1"  # (the item's own line, under its key's)
    assert problem.startswith(f"{item}: Input should be a valid string"), problem


def test_an_allowed_model_nearly_naming_a_routed_one_names_its_line(catalog_copy: Path):
    # the catalog's check (no routing target is it, a routed one nearly is): the policy's place, with its line
    path = catalog_copy / "policies" / "model_governance.yaml"
    lines = path.read_text().splitlines()
    at = lines.index("      - gpt-4o-mini") + 1
    path.write_text(path.read_text().replace("      - gpt-4o-mini\n", "      - gtp-4o-mini\n"))
    [problem] = validate_catalog(catalog_copy, env={})
    assert problem.startswith(f"{path}:{at}: policies.0.allowed_models.1: policy 'production_models' allows"), problem


def test_a_policy_name_used_twice_names_both_lines(catalog_copy: Path):
    team = catalog_copy / "policies" / "team.yaml"
    team.write_text("policies:\n  # ours\n  - name: cost_limits\n    thresholds: {max_cost_per_run_usd: 2}\n")
    shipped = catalog_copy / "policies" / "model_governance.yaml"
    first = shipped.read_text().splitlines().index("  - name: cost_limits") + 1
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    [problem] = info.value.problems
    assert problem.startswith(
        f"{team}:3: policies.0.name: policy name 'cost_limits' is also used in {shipped}:{first}: policies.1; "
    ), problem


def test_a_place_whose_file_cannot_be_read_again_is_said_as_it_was(tmp_path: Path):
    gone = tmp_path / "gone.yaml"
    assert placed_on_its_line(f"{gone}: policies.0.allowed_models") == f"{gone}: policies.0.allowed_models"
    assert placed_on_its_line("policies") == "policies"
    changed = tmp_path / "changed.yaml"
    changed.write_text("policies: [unclosed\n")  # (edited since it was read: no longer YAML)
    assert YamlLines(changed).where(["policies", 0]) == str(changed)


def test_a_key_a_policy_takes_by_a_merge_names_the_line_it_is_written_on(tmp_path: Path):
    # `<<: *base`: the key is written once, in the anchored mapping; the merging item's line held no such key
    path = tmp_path / "policy.yaml"
    path.write_text(
        "shared: &base\n"
        "  thresholds:\n"
        "    max_cost_per_rn_usd: 1\n"  # (line 3)
        "policies:\n"
        "  - <<: *base\n"
        "    name: team_a\n"
    )
    lines = YamlLines(path)
    assert lines.line(["policies", 0, "thresholds", "max_cost_per_rn_usd"]) == 3
    assert lines.line(["policies", 0, "name"]) == 6  # (its own key, not the merged mapping's)
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    assert any(p.startswith(f"{path}:3: policies.0.thresholds.max_cost_per_rn_usd: ") for p in info.value.problems)


def test_a_merged_mapping_gives_way_to_the_items_own_key_and_to_an_earlier_merge(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "a: &a {allow_unpriced: true}\n"
        "b: &b {allow_unpriced: false, name: from_b}\n"
        "policies:\n"
        "  - <<: [*a, *b]\n"
        "    name: mine\n"
    )
    lines = YamlLines(path)
    assert lines.line(["policies", 0, "allow_unpriced"]) == 1  # (*a, merged first, wins)
    assert lines.line(["policies", 0, "name"]) == 5
    assert lines.line(["policies", 0, "missing"]) == 4  # (a key nowhere: the item's line)


def test_a_policy_file_copied_whole_is_composed_once_for_its_names_lines(catalog_copy: Path, monkeypatch):
    # each of its names used twice: the lines of both places were found by composing each file again, twice a name
    import yaml

    shipped = catalog_copy / "policies" / "model_governance.yaml"
    (catalog_copy / "policies" / "zz_copy.yaml").write_text(shipped.read_text())
    names = len(load_policy_file(shipped).policies)
    assert names >= 2
    composed: list[object] = []
    real = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: composed.append(a) or real(*a, **k))
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert len(info.value.problems) == names
    assert all(":" in p.split(": policies.")[0].removeprefix(str(catalog_copy)) for p in info.value.problems)
    assert len(composed) == 2  # (the copy and the file it copies, once each)
