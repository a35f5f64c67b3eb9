"""Reading the user documentation, README.md and the reference pages under docs/, the way tests check what it says.

README.md is the front page (install, a short tour, where the rest is); the reference text is in docs/*.md, one
page per topic. A table row whose text is a page long carries a one-line summary and a link, ``([more](#anchor))``,
to a subsection of its page holding the whole text: ``with_details`` puts that text back beside the cell, so a test
of what a row says reads all of it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS_DIR = ROOT / "docs"


def doc(name: str) -> str:
    """The text of ``docs/NAME``."""
    return (DOCS_DIR / name).read_text(encoding="utf-8")


#: README.md and every page of docs/, joined: what "the documentation says X" is checked against
ALL_DOCS = "\n\n".join([README, *(p.read_text(encoding="utf-8") for p in sorted(DOCS_DIR.glob("*.md")))])


def table_rows(text: str) -> list[list[str]]:
    """The cells of a Markdown table's body rows (header and rule skipped); ``\\|`` stays in its cell."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return [c for c in cells[1:] if not set(c[0]) <= {"-", " "}]


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation but ``-`` and ``_`` dropped, spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, anchor, offset) of each heading outside code blocks."""
    found, fenced, offset = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6}) (.*)", line)):
            found.append((len(m.group(1)), slug(m.group(2)), offset))
        offset += len(line)
    return found


def subsection(text: str, anchor: str) -> str:
    """The text under the heading whose anchor is ``anchor``, up to the next heading of its level or above."""
    marks = headings(text)
    for i, (level, name, start) in enumerate(marks):
        if name == anchor:
            end = next((s for lv, _, s in marks[i + 1 :] if lv <= level), len(text))
            return text[start:end]
    raise KeyError(f"no heading with the anchor #{anchor}")


def with_details(text: str, cell: str) -> str:
    """A table cell with the subsections of ``text`` its in-page links name, as one text (line breaks as spaces:
    a subsection's paragraphs are wrapped where a cell's text ran on)."""
    found = [subsection(text, a) for a in re.findall(r"\]\(#([^)\s]+)\)", cell)]
    return " ".join(" ".join([cell, *found]).split())
