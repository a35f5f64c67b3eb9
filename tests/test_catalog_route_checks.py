"""The catalog's checks of routes against the skills' task types (magsag_mcp/catalog_route_checks.py): a slip of the
keys between them is a problem, a word of its own beside one is at most doctor's note."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import validate_catalog

pytestmark = pytest.mark.anyio


async def test_a_route_or_task_type_that_is_a_word_of_its_own_beside_another_is_a_note_not_a_problem(
    catalog_copy: Path, tmp_path: Path
):
    # 'analytics' (0.82 to 'analysis', over the 0.8 cutoff) was a misspelt route, "did you mean 'analysis'?", a
    # problem that stopped the server, though it is a word of its own, two letters off, meant for skills still to
    # come; so was a skill of task_type 'analytics' beside the route for analysis. A slip of the keys ('analyis', one
    # letter dropped) still is a problem (tests/test_catalog_routing.py); these are doctor's notes now.
    from magsag_mcp.service import Service

    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    routing.write_text(text.replace("  - match: analysis\n", "  - match: analytics\n"))
    skills = catalog_copy / "skills"
    (skills / "mine.yaml").write_text("id: skill.mine\ndescription: d\ntask_type: codings\nprompt: {user: '{text}'}\n")
    (skills / "stats.yaml").write_text(
        "id: skill.stats\ndescription: d\ntask_type: extracting\nprompt: {user: '{text}'}\n"
    )
    assert validate_catalog(catalog_copy, env={}) == [
        f"{skills / 'mine.yaml'}: task_type: skill.mine's task_type 'codings' matches no route, so its calls take "
        "the default chain; did you mean 'coding'? (a route in routing matches that)"
    ]
    (skills / "mine.yaml").unlink()  # (a problem stops the server: the rest is no problem, and it opens)
    assert validate_catalog(catalog_copy, env={}) == []
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        notes = [n for n in svc.doctor()["notes"] if "route" in n]
    assert notes == [
        f"{routing}: routes.2.match: route 'analytics' matches no skill's task_type, so it routes nothing; if it was "
        "meant for task_type 'analysis', correct it",
        f"{skills / 'stats.yaml'}: task_type: skill.stats's task_type 'extracting' matches no route, so its calls "
        "take the default chain; if it was meant for route 'extraction', correct it",
    ]
