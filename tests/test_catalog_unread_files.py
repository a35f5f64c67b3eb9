"""A catalog file that cannot be read is said, as a policy file's is, never passed over: a skill (routing, agent) file
that is a link to nothing (kept elsewhere, its folder not mounted) was skipped unsaid, and the user's skill was gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError
from magsag_mcp.governance import load_policies


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


def _unblocking(fifo: Path) -> None:
    """Open ``fifo`` for writing and close it: a reader waiting on it (the load, had it opened it) reads its end."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # (no reader waiting: nothing to wake)
        pass


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("folder", ["skills", "routing", "agents", "policies"])
def test_a_named_pipe_named_as_a_catalog_file_is_passed_over_not_read(catalog: Path, folder: str):
    # reading a pipe waits for a writer: the catalog's load hung where it was read as a file (a link to nothing is
    # read, to be said; a pipe is no file to read, as a folder is not)
    import threading

    fifo = catalog / folder / "pipe.yaml"
    os.mkfifo(fifo)
    loaded: list[object] = []
    load = load_policies if folder == "policies" else load_catalog  # (policies are read apart from the catalog)
    loading = threading.Thread(target=lambda: loaded.append(load(catalog, env={})), daemon=True)
    loading.start()
    loading.join(timeout=60)  # (a hang guard: the load reads no pipe and is done at once)
    hung = loading.is_alive()
    _unblocking(fifo)
    loading.join(timeout=60)
    assert not hung, f"the catalog's load waited on {fifo}"
    [read] = loaded
    assert read is not None


@pytest.mark.parametrize("folder", ["skills", "routing", "agents"])
def test_a_catalog_folder_linking_to_nothing_is_a_load_error_naming_it(catalog: Path, tmp_path: Path, folder: str):
    # its files were passed over unsaid: the agents gone, routing said to have no default chain, skills to be no catalog
    import shutil

    shutil.rmtree(catalog / folder)
    (catalog / folder).symlink_to(tmp_path / "unmounted" / folder)
    problems = validate_catalog(catalog, env={})
    said = (
        f"{catalog / folder}: {folder}/ is a link to nothing ({tmp_path / 'unmounted' / folder}), so none of its "
        "files is read; mount or restore the folder it points to, or remove the link"
    )
    assert said in problems, problems
    assert not any("no routing file defines a 'default' chain" in p or "no skills/ folder" in p for p in problems)
