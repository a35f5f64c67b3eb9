"""What the distributions hold: the sdist every file its documents link to, the wheel the catalog the package reads.

The sdist left out BENCHMARKS.md, which the README links to ("the numbers behind them") and `python -m benchmarks`
writes its table into: an unpacked sdist's README pointed at a file that was not there.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: a Markdown link's target: ](target) or ](target "title")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")


def _relative_links(text: str) -> list[str]:
    """The targets of ``text``'s links that name a file of the project, not a page elsewhere or a heading."""
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#|/", t)]


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    sdist = pytest.importorskip("hatchling.builders.sdist")
    out = tmp_path_factory.mktemp("sdist")
    built = next(iter(sdist.SdistBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])))
    with tarfile.open(built) as tar:
        # without the top folder (magsag_mcp-0.1.0/)
        return {str(PurePosixPath(*PurePosixPath(n).parts[1:])) for n in tar.getnames() if "/" in n}


def test_the_sdist_holds_every_file_its_documents_link_to(sdist_names: set[str]):
    documents = sorted(n for n in sdist_names if n.endswith(".md"))
    assert "README.md" in documents and "BENCHMARKS.md" in documents
    missing = []
    for doc in documents:
        folder = PurePosixPath(doc).parent
        for target in _relative_links((ROOT / doc).read_text(encoding="utf-8")):
            # (normalised: benchmarks/ROUNDS.md links ../BENCHMARKS.md)
            path = posixpath.normpath(str(folder / target.split("#")[0])).removeprefix("./")
            if path not in sdist_names and not any(n.startswith(path + "/") for n in sdist_names):
                missing.append(f"{doc} -> {target}")
    assert missing == []


def test_the_sdist_holds_what_a_build_and_the_tests_need(sdist_names: set[str]):
    for name in ("pyproject.toml", "README.md", "catalog/prices.yaml", "magsag_mcp/mcp_server/tool_schemas.json"):
        assert name in sdist_names
    assert any(n.startswith("tests/") for n in sdist_names)


def test_the_wheel_holds_the_catalog_and_the_tool_schemas(tmp_path: Path):
    wheel = pytest.importorskip("hatchling.builders.wheel")
    built = next(iter(wheel.WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    names = set(zipfile.ZipFile(built).namelist())
    shipped = {n.removeprefix("magsag_mcp/_catalog/") for n in names if n.startswith("magsag_mcp/_catalog/")}
    in_repo = {str(p.relative_to(ROOT / "catalog")) for p in (ROOT / "catalog").rglob("*") if p.is_file()}
    assert shipped == {p for p in in_repo if "__pycache__" not in p}
    assert "magsag_mcp/mcp_server/tool_schemas.json" in names


def test_both_distributions_carry_the_license_the_metadata_names(sdist_names: set[str], tmp_path: Path):
    """pyproject says MIT, and MIT asks that its text go with every copy: a wheel or sdist without it did not."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert declared == "MIT" and text.startswith("MIT License\n")
    assert "LICENSE" in sdist_names
    wheel = pytest.importorskip("hatchling.builders.wheel")
    built = next(iter(wheel.WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    with zipfile.ZipFile(built) as whl:
        shipped = [n for n in whl.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert len(shipped) == 1 and whl.read(shipped[0]).decode("utf-8") == text
        metadata = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        assert "License-Expression: MIT" in whl.read(metadata).decode("utf-8").splitlines()


def test_every_link_to_a_heading_names_one_its_page_has():
    """README.md's reference text moved into docs/*.md, a page per topic: a link into a section (``#anchor``, or
    ``page.md#anchor``) that names no heading of its page sends the reader to the top of it, or nowhere."""
    from tests.docs_helpers import headings

    documents = [p for p in ROOT.rglob("*.md") if not {".venv", "node_modules", ".git"} & set(p.parts)]
    broken = []
    for doc in documents:
        text = doc.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:|/", target) or "#" not in target:
                continue
            page, anchor = target.split("#", 1)
            linked = (doc.parent / page).resolve() if page else doc
            if not linked.is_file() or anchor not in {name for _, name, _ in headings(linked.read_text("utf-8"))}:
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []
