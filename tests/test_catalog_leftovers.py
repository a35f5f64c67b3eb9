"""Files editors and the system leave beside a catalog's files (an Emacs lock, macOS's AppleDouble metadata, swap files,
backups) are no catalog files: one rule for every folder (skills, routing, agents, policies), catalog_yaml_file."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.governance import load_policies
from magsag_mcp.service import Service
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

#: the head of the AppleDouble file a Mac writes as ``._NAME`` beside NAME on a share, a FAT drive or in a tar archive:
#: its magic, version, filler, then entries (binary: not UTF-8, NULs)
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00\x02\x00\x00\x00\x09\x00\x00\x00\x32\x0e\xb0"
#: what Emacs writes as ``.#NAME`` where it cannot make the lock a link
EMACS_LOCK = b"ops@host.4242:1765000000"


def _leave_beside(folder: Path, name: str) -> None:
    """What editors and macOS leave beside ``folder/name``, each of it no YAML of the catalog's."""
    (folder / f"._{name}").write_bytes(APPLE_DOUBLE)
    (folder / f".#{name}").write_bytes(EMACS_LOCK)
    for left in (f".{name}.swp", f".{name}.swo", f"{name}~", f"#{name}#", f"{name}.tmp", ".DS_Store"):
        (folder / left).write_bytes(APPLE_DOUBLE)


async def test_editor_and_macos_leftovers_in_every_catalog_folder_are_not_read(catalog_copy: Path, tmp_path: Path):
    # Before, only policies/ passed over Emacs's lock; skills/, routing/ and agents/ read it ("holds the text
    # 'ops@host...', not a mapping"), and every folder read macOS's ._NAME ("malformed YAML": NUL bytes), so a catalog
    # copied from a Mac (a share, a tar archive) stopped every start for files no one wrote.
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 2}\n")
    for folder in ("skills", "routing", "agents", "policies"):
        for written in sorted((catalog_copy / folder).glob("*.yaml")):
            _leave_beside(catalog_copy / folder, written.name)
    assert validate_catalog(catalog_copy, env={}) == []
    catalog = load_catalog(catalog_copy, env={})
    assert "skill.analysis" in catalog.skills
    loaded = load_policies(catalog_copy)
    assert [(p.name, str(limit.amount)) for p in loaded.policies for limit in loaded.limits] == [("cap", "2")]
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    await svc.aclose()


def test_a_mistake_in_a_catalog_file_beside_leftovers_is_still_said(catalog_copy: Path):
    # the rule passes over the leftovers by name only: the files they lie beside are read, their problems said
    skill = catalog_copy / "skills" / "analysis.yaml"
    _leave_beside(skill.parent, skill.name)
    skill.write_text("id: skill.analysis\n")
    problems = validate_catalog(catalog_copy, env={})
    assert any(p.startswith(f"{skill}: ") and "task_type" in p for p in problems), problems
    assert not any(f"/.#{skill.name}" in p or f"/._{skill.name}" in p for p in problems), problems
