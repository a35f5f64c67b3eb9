"""Where hypothesis keeps what it stores between examples (tests/conftest.py puts it in a folder of the run's own)."""

from __future__ import annotations

from hypothesis.configuration import storage_directory

from tests.conftest import ROOT


def test_hypothesis_stores_nothing_in_the_repository():
    # hypothesis writes a cache of the constants it finds in the code under test and of the Unicode tables under its
    # home folder, a database=None property or not; by default that is .hypothesis in the working directory, the
    # repository's checkout when the suite runs from there, where it was left after every run
    home = storage_directory(intent_to_write=False).home_directory.resolve()
    assert home != ROOT and ROOT not in home.parents, f"hypothesis stores under {home}, inside {ROOT}"
