"""What a user who installs the wheel gets, run as they run it: from a folder of their own, not the clone.

Every other test imports the package from the checkout, with the clone as the working folder, where ``./catalog`` is
the repository's and the source tree's own ``catalog`` stands in for the bundled one. Here the wheel hatchling builds is
unpacked into a folder of its own (what ``pip install`` puts in site-packages, ``PYTHONPATH`` standing in for the
install) and its entry points are run in subprocesses whose working folder and home are empty temporary folders: the
catalog must be the one inside the package, the ledger must go to the user data folder the README names, nothing may
be written into the package, and ``magsag doctor`` must say where a change to the installed catalog goes (edited in
site-packages, it is shared by every project and replaced by the next upgrade). Nothing here installs anything or
reaches the network: the demo and the call use the offline ``fake`` provider.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    builder = pytest.importorskip("hatchling.builders.wheel")
    out = tmp_path_factory.mktemp("wheel")
    return Path(next(iter(builder.WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"]))))


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked, as an installer lays it out in site-packages."""
    folder = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(folder)
    return folder


def _entry_points(site: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(next(site.glob("*.dist-info")) / "entry_points.txt", encoding="utf-8")
    return dict(parser["console_scripts"])


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


class User:
    """A user's shell: an empty home and working folder, none of the machine's magsag or vendor settings, and the
    unpacked wheel as what is installed."""

    def __init__(self, site: Path, tmp: Path) -> None:
        self.site = site
        self.home = tmp / "home"
        self.cwd = tmp / "project"
        self.home.mkdir()
        self.cwd.mkdir()
        kept = ("PATH", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL")
        self.env = {k: v for k, v in os.environ.items() if k in kept}
        # (bytecode: an installer compiles it at install time; here nothing compiled it, and Python's own writing of
        # __pycache__ is not what the check of an untouched package looks for)
        self.env.update(HOME=str(self.home), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", PYTHONUTF8="1")
        self.scripts = _entry_points(site)

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``script`` (``magsag``, ``magsag-mcp``) as its console script runs it: the entry point the wheel names."""
        module, function = self.scripts[script].split(":")
        code = f"import sys; from {module} import {function} as main; sys.argv = [{script!r}, *sys.argv[1:]]; main()"
        return subprocess.run(
            [sys.executable, "-c", code, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )


@pytest.fixture
def user(site: Path, tmp_path: Path) -> User:
    return User(site, tmp_path)


def test_the_wheels_entry_points_are_the_projects_scripts(site: Path):
    assert _entry_points(site) == PYPROJECT["scripts"]


def test_the_package_the_user_runs_is_the_unpacked_wheel(user: User):
    done = subprocess.run(
        [sys.executable, "-c", "import magsag_mcp; print(magsag_mcp.__file__)"],
        cwd=user.cwd,
        env=user.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(user.site)


def test_a_price_warning_of_the_installed_catalog_says_to_copy_it_not_to_edit_site_packages(user: User):
    """"Add it to catalog/prices.yaml" sent a package user, with no ./catalog, to make one holding only a price file
    (refused as no whole catalog); its file is the installed copy's, which the next upgrade replaces."""
    code = (
        "from magsag_mcp.catalog import find_catalog; from magsag_mcp.pricing import Pricer; "
        "from magsag_mcp.types import Usage; "
        "print(Pricer.from_catalog(find_catalog()).price('compat', 'm7q-unpriced', Usage(10, 10)).warning)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=user.cwd, env=user.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    bundled = user.site / "magsag_mcp" / "_catalog"
    assert (
        f"Add it to the prices.yaml of a copy of the catalog installed with the package, not of {bundled} itself, "
        f"which the next upgrade replaces (make it with cp -r {bundled} ./catalog: "
    ) in done.stdout, done.stdout


@pytest.mark.slow
def test_a_package_user_gets_the_bundled_catalog_a_home_ledger_and_an_untouched_package(user: User):
    before = _snapshot(user.site)
    bundled = user.site / "magsag_mcp" / "_catalog"
    ledger = user.home / ".local" / "share" / "magsag-mcp" / "ledger.db"

    version = user.run("magsag-mcp", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, PYPROJECT["version"])

    validate = user.run("magsag", "catalog", "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert validate.stdout.strip() == f"{bundled}: ok"

    doctor = user.run("magsag", "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["catalog"] == str(bundled)
    assert report["db"] == str(ledger) and not report["db_exists"]
    # where a change to it goes: a copy, read from ./catalog or MAGSAG_CATALOG, not the file in site-packages
    (note,) = [n for n in report["notes"] if "installed with the package" in n]
    assert f"cp -r {bundled} ./catalog" in note and "MAGSAG_CATALOG" in note

    demo = user.run("magsag", "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "answered by : fake:backup-model" in demo.stdout

    call = user.run(
        "magsag", "invoke", "skill.summarization", "--payload", json.dumps({"text": "Q3 revenue rose 8% to $4.2M."}),
        "--context", json.dumps({"preferred_model": "fake:quick-model"}),
    )  # fmt: skip
    assert call.returncode == 0, call.stdout + call.stderr
    assert json.loads(call.stdout)["model"] == "quick-model"
    assert ledger.is_file()

    summary = user.run("magsag", "flow", "summarize", "--output", "summary.json")
    assert summary.returncode == 0, summary.stderr
    stats = json.loads((user.cwd / "summary.json").read_text(encoding="utf-8"))["model_stats"]
    assert stats["quick-model"]["calls"] == 1
    policy = bundled / "policies" / "model_governance.yaml"
    gate = user.run("magsag", "flow", "gate", "summary.json", "--policy", str(policy))
    assert gate.returncode == 0, gate.stdout + gate.stderr

    # the user's folders hold what they asked for, and the package is as installed, file for file
    assert sorted(p.name for p in user.cwd.iterdir()) == ["summary.json"]
    assert _snapshot(user.site) == before


def test_a_users_own_catalog_in_the_working_folder_takes_over(user: User):
    shutil.copytree(user.site / "magsag_mcp" / "_catalog", user.cwd / "catalog")
    doctor = user.run("magsag", "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["catalog"] == str(user.cwd / "catalog")
    assert not [n for n in report["notes"] if "installed with the package" in n]


def test_the_wheels_metadata_describes_the_package(wheel: Path):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        metadata = Parser().parsestr(whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    # a library with type hints says so, or its users' type checkers read it as untyped
    assert "magsag_mcp/py.typed" in names and "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert metadata["Summary"] == PYPROJECT["description"]
    assert metadata["Requires-Python"] == PYPROJECT["requires-python"]
    assert metadata["License-Expression"] == PYPROJECT["license"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text(encoding="utf-8").strip()
    classifiers = metadata.get_all("Classifier", [])
    assert sorted(classifiers) == sorted(PYPROJECT["classifiers"])
    # the oldest Python it lists is the one requires-python admits first (>=3.11.3: 3.11)
    oldest = ".".join(PYPROJECT["requires-python"].removeprefix(">=").split(".")[:2])
    listed = [c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    assert min(listed, key=lambda v: tuple(map(int, v.split(".")))) == oldest
    assert metadata["Keywords"] and metadata["Author"] == PYPROJECT["authors"][0]["name"]
