"""A catalog file that cannot be read is said, as a policy file's is, never passed over: a skill (routing, agent) file
that is a link to nothing (kept elsewhere, its folder not mounted) was skipped unsaid, and the user's skill was gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError


def test_a_skill_file_linking_to_nothing_is_a_load_error_naming_it_and_the_fix(catalog: Path, tmp_path: Path):
    link = catalog / "skills" / "mine.yaml"
    link.symlink_to(tmp_path / "unmounted" / "mine.yaml")
    with pytest.raises(CatalogError) as raised:
        load_catalog(catalog, env={})
    [problem] = raised.value.problems
    assert problem == (
        f"{link}: cannot read: it is a link to {tmp_path / 'unmounted' / 'mine.yaml'}, which does not exist; restore "
        "the file it points to, point the link at the file, or remove the link"
    )
    assert validate_catalog(catalog, env={}) == [problem]  # `magsag catalog validate` and doctor say it alike


def test_a_routing_file_linking_to_nothing_is_said_as_a_skills_is(catalog: Path):
    link = catalog / "routing" / "team.yml"
    link.symlink_to("gone.yml")
    with pytest.raises(CatalogError, match=r"team\.yml: cannot read: it is a link to gone\.yml, which does not exist"):
        load_catalog(catalog, env={})


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="a file mode root reads past")
def test_a_skill_file_magsag_may_not_read_is_told_to_be_made_readable(catalog: Path):
    unreadable = catalog / "skills" / "mine.yaml"
    unreadable.write_text("id: skill.mine\n")
    unreadable.chmod(0)
    try:
        with pytest.raises(CatalogError) as raised:
            load_catalog(catalog, env={})
    finally:
        unreadable.chmod(0o644)
    assert raised.value.problems == [
        f"{unreadable}: cannot read: Permission denied; make it readable by the user magsag runs as "
        f"(chmod a+r {unreadable}), or remove it"
    ]


def test_a_folder_named_as_a_skill_file_is_no_file_to_read(catalog: Path):
    (catalog / "skills" / "old.yaml").mkdir()
    assert load_catalog(catalog, env={}).skills  # loads, passing the folder over
