"""A name written with an accent on one of its letters (``skill.analysïs``, ``gpt-4ö``, ``écönömy``): a keyboard's dead
key or a language's spelling puts it there, and difflib counted the letter as another one, so a short name, or one
with a few such letters, was told no name it nearly is. Each is told the name it means, as a misspelling is."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import PayloadError
from magsag_mcp.governance.data_classes import unknown_call_data_class
from magsag_mcp.governance.model_patterns import nearest_model, nearly_allowed
from magsag_mcp.mcp_server.arguments import skill_id_meant
from magsag_mcp.mcp_server.models import SKILL_ID_PATTERN
from magsag_mcp.routing import plan_call
from magsag_mcp.suggest import meant_id, nearest, unaccented

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def test_unaccented_drops_the_accents_and_keeps_every_other_letter():
    assert unaccented("skill.analysïs") == "skill.analysis"
    assert unaccented("skill.analysi\u0308s") == "skill.analysis"  # (written decomposed: i and a combining diaeresis)
    assert unaccented("économie") == "economie"
    assert unaccented("日本") == "日本"  # a letter of no accent is kept as it is
    assert unaccented("gpt-4o") == "gpt-4o"


def test_a_skill_id_with_an_accent_gets_the_skill_meant_before_the_pattern_refuses_it():
    # the MCP tools' skill_id pattern refused 'skill.analysïs' with the pattern and an example, whichever skill meant
    assert skill_id_meant("skill.analysïs", SKILL_ID_PATTERN) == "did you mean 'skill.analysis'?"
    assert skill_id_meant("Skill.Pïi-Rédaction", SKILL_ID_PATTERN) == "did you mean 'skill.pii-redaction'?"
    skills = load_catalog(CATALOG).skills
    assert meant_id("skill.cödïng", skills) == "skill.coding"


def test_a_model_with_an_accent_is_told_the_model_it_nearly_is():
    # 'gpt-4ö' is 83% gpt-4o by difflib's ratio, below the 85% a misspelt model must reach: it was told nothing
    allowed = ["gpt-4o", "gpt-4o-mini"]
    assert nearest_model("gpt-4ö", allowed) == "gpt-4o"
    assert nearly_allowed(allowed, "GPT-4Ö") == " (did you mean 'gpt-4o'?)"


def test_a_tier_with_accents_names_the_tier_meant():
    catalog = load_catalog(CATALOG)
    with pytest.raises(PayloadError, match=r"'écönömy' \(did you mean 'economy'\?\)"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"tier": "écönömy"}, env={})


def test_a_data_class_with_an_accent_names_the_class_meant():
    said = unknown_call_data_class("hř", {"hr": [], "public": []})
    assert "so it would restrict nothing (did you mean 'hr'?)" in said, said
    assert nearest("ëu", ["eu", "us"]) == "eu"
