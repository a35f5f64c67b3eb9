"""The catalog checks of routes against the skills' task types, which only ``magsag catalog validate`` (and
``magsag doctor``'s notes) run: a route whose ``match`` nearly names a task type but matches none, a skill whose
task_type nearly names a route's, a route written with a skill's id, a route an earlier one takes every task type
of. Each returns problems (or notes), one line each, naming the file and the fix.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from .catalog import Catalog


def misspelt_routes(catalog: Catalog) -> list[str]:
    """Routes that match no skill's task type but nearly name one (``analyis``; see :func:`_misspelt_for`), or name a
    skill's id (``skill.analysis``) where its task type goes: such a route routes nothing, and the skill it was written
    for falls through to the default chain without a word. A route that resembles no task type may be meant
    for skills still to come, and is left alone."""

    task_types = sorted({skill.task_type for skill in catalog.skills.values()})
    problems = []
    for route, _ in catalog.routing.routes:
        if any(route.match == t or fnmatch.fnmatchcase(t, route.match) for t in task_types):
            continue
        named = sorted(s for s in catalog.skills if s == route.match or fnmatch.fnmatchcase(s, route.match))
        if named:  # match: skill.analysis, the skill's id where its task type goes
            types = sorted({catalog.skills[s].task_type for s in named})
            whose = f"{named[0]}'s task_type is" if len(named) == 1 else f"the task_type of {', '.join(named)} is"
            fix = (
                f"{whose} {types[0]!r}: write match: {types[0]}"
                if len(types) == 1
                else (f"the task_types of {', '.join(named)} are {', '.join(map(repr, types))}: match those instead")
            )
            problems.append(
                f"{route_at(catalog, route, '.match')}: route {route.match!r} matches no skill's task_type but names a "
                f"skill's id; routes match a skill's task_type, and {fix}"
            )
            continue
        near = _slip_of(route.match, _misspelt_for(catalog, route.match, task_types))
        if near:
            problems.append(
                f"{route_at(catalog, route, '.match')}: route {route.match!r} matches no skill's task_type; did you "
                f"mean {near!r}? (skills of task_type {near!r} now take {_taken_by(catalog, near)})"
            )
    return problems


def near_routes(catalog: Catalog) -> list[str]:
    """``magsag doctor``'s notes on routes that match no skill's task type and are like one, but not a slip of the
    keys as :func:`misspelt_routes` names a problem (``analisys`` for ``analysis``, two letters off; ``analytics``, a
    word of its own): a note, not a problem, as such a route may be meant for skills still to come, and a problem
    would stop the server. So for a skill's task_type like a route's (see :func:`misspelt_task_types`)."""
    import difflib

    task_types = sorted({skill.task_type for skill in catalog.skills.values()})
    notes = []
    for route, _ in catalog.routing.routes:
        if any(route.match == t or fnmatch.fnmatchcase(t, route.match) for t in task_types) or any(
            s == route.match or fnmatch.fnmatchcase(s, route.match) for s in catalog.skills
        ):
            continue  # a route of a skill's task type, or one naming a skill's id (misspelt_routes' problem)
        alike = _misspelt_for(catalog, route.match, task_types)
        near = difflib.get_close_matches(route.match, alike, n=1, cutoff=0.7)
        if near and not _slip_of(route.match, alike):
            notes.append(
                f"{route_at(catalog, route, '.match')}: route {route.match!r} matches no skill's task_type, so it "
                f"routes nothing; if it was meant for task_type {near[0]!r}, correct it"
            )
    for skill_id, skill, exact in _unrouted_skills(catalog):
        near = difflib.get_close_matches(skill.task_type, exact, n=1, cutoff=_ALIKE)
        if near and not _slip_of(skill.task_type, exact):
            where = catalog.skill_files.get(skill_id, catalog.root / "skills")
            notes.append(
                f"{where}: task_type: {skill_id}'s task_type {skill.task_type!r} matches no route, so its calls take "
                f"the default chain; if it was meant for route {near[0]!r}, correct it"
            )
    return notes


#: how alike (difflib's ratio) a route's match and a task type are to be one misspelt: a slip of the keys less alike
#: is not (``anlyss``), and a name as alike that is no slip (``analytics`` beside ``analysis``) is told in a note
_ALIKE = 0.8


def _slip_of(name: str, names: list[str]) -> str | None:
    """The one of ``names`` (the closest first) that ``name`` is a slip of the keys of (one letter added, dropped or
    changed, or two adjacent ones swapped) and at least :data:`_ALIKE` like, else None. A name two letters off or more
    is most often a word of its own (``analytics`` beside ``analysis``): a problem for it stopped the server over a
    route or task type meant for skills still to come."""
    import difflib

    from .suggest import one_edit

    close = difflib.get_close_matches(name, names, n=max(len(names), 1), cutoff=_ALIKE)
    return next((n for n in close if one_edit(name, n)), None)


def _misspelt_for(catalog: Catalog, match: str, task_types: list[str]) -> list[str]:
    """The task types a route's ``match`` (one matching no task type) may be a misspelling of: not one a route of
    its own names (``analysis``: ``data-analysis`` beside it is another task type), nor one with a word unlike any of
    the match's, or the other way (``redaction`` and ``pii-redaction``, ``data-analysis`` and ``document-analysis``):
    such a route is for task types still to come. A task type only a glob routes (``*``, ``pii-*``) may still be the
    one a misspelt route (``analyis``, ``pii-redacton``) was written for."""
    named = {route.match for route, _ in catalog.routing.routes}
    return [t for t in task_types if t not in named and not _a_word_apart(match, t)]


#: what separates the words of a task type (``pii-redaction``, ``document_analysis``, ``code.review``)
_WORD_BREAK = re.compile(r"[-_./\s]+")
#: how alike two words are (difflib's ratio) to be one misspelt: ``anlysis`` for ``analysis``, not ``data`` for
#: ``document``
_WORD_ALIKE = 0.75


def _a_word_apart(a: str, b: str) -> bool:
    """Whether one of ``a``, ``b`` holds a word like none of the other's: two task types, not one misspelt. Two
    single words are left to the whole name's likeness (``summarize`` may be meant for ``summarization``)."""
    import difflib

    words_a, words_b = [w for w in _WORD_BREAK.split(a) if w], [w for w in _WORD_BREAK.split(b) if w]
    if len(words_a) <= 1 and len(words_b) <= 1:
        return False

    def lone(xs: list[str], ys: list[str]) -> bool:
        return any(all(difflib.SequenceMatcher(None, x, y).ratio() < _WORD_ALIKE for y in ys) for x in xs)

    return lone(words_a, words_b) or lone(words_b, words_a)


def _taken_by(catalog: Catalog, task_type: str) -> str:
    """Where ``task_type``'s calls go, as a misspelt route's problem says it: the default chain, or a glob's route."""
    rule = catalog.routing.chain_for(task_type)[1]
    return f"route {rule.removeprefix('route:')!r}" if rule.startswith("route:") else "the default chain"


def misspelt_task_types(catalog: Catalog) -> list[str]:
    """Skills whose task_type no route matches but is a slip of a route's (``analysys`` beside a route for
    ``analysis``, see :func:`_slip_of`): the skill takes the default chain without a word, not the models its route
    names. A task type that resembles no route's is routed by the default chain on purpose, and is left alone (so is
    a skill's tier); one like a route's but a word of its own (``analytics``) is :func:`near_routes`' note."""
    problems = []
    for skill_id, skill, exact in _unrouted_skills(catalog):
        near = _slip_of(skill.task_type, exact)
        if near:
            where = catalog.skill_files.get(skill_id, catalog.root / "skills")
            problems.append(
                f"{where}: task_type: {skill_id}'s task_type {skill.task_type!r} matches no route, so its calls take "
                f"the default chain; did you mean {near!r}? (a route in routing matches that)"
            )
    return problems


def _unrouted_skills(catalog: Catalog) -> list[tuple[str, Any, list[str]]]:
    """The skills that no route and no tier of their own take (their calls take the default chain), each with the
    routes' matches that name a skill's task_type exactly: what a misspelt task_type may have been meant for."""
    # a route that matches no skill's task_type is misspelt_routes' to name (the route's typo, not the skill's)
    types = {skill.task_type for skill in catalog.skills.values()}
    exact = sorted({r.match for r, _ in catalog.routing.routes if r.match in types})
    return [
        (skill_id, skill, exact)
        for skill_id, skill in sorted(catalog.skills.items())
        if skill.tier is None and catalog.routing.chain_for(skill.task_type)[1] == "default"
    ]


def route_at(catalog: Catalog, route: Any, key: str = "") -> str:
    """``FILE: routes.N`` (and ``key`` under it) where ``route`` is written; the routing folder for a route made in
    code."""
    where = route._where
    return f"{where}{key}" if where else str(catalog.root / "routing")


def shadowed_routes(catalog: Catalog) -> list[str]:
    """Routes that a route before them (a higher priority, or the same one earlier in file order) takes every
    task type of: the same ``match``, or a glob matching the one task type a plain ``match`` names. Such a
    route routes nothing, whatever the skills: a route appended to the shipped routing to send ``coding``
    elsewhere (priority 0, under the shipped one's 10) left coding where it was, and validated ok.
    (Whether one glob covers another is not told here.)"""
    routes = [route for route, _ in catalog.routing.routes]  # in the order chain_for tries them
    problems = []
    for i, route in enumerate(routes):
        glob = any(c in route.match for c in "*?[")
        for earlier in routes[:i]:
            same = earlier.match == route.match
            if same or (not glob and fnmatch.fnmatchcase(route.match, earlier.match)):
                fix = "keep one of the two" if same else f"give it a priority above {earlier.priority}"
                problems.append(
                    f"{route_at(catalog, route)}: route {route.match!r} (priority {route.priority}) is never used: "
                    f"route {earlier.match!r} (priority {earlier.priority}) comes first for every task type it "
                    f"matches (the highest priority wins, ties go to file order); {fix}"
                )
                break
    return problems
