"""A skill whose text answer is written back from the prompt's escapes (pii-redaction's ``&lt;/text>``) streams the
text it will be: the caller's progress never shows an escape the final text writes back, whatever the chunks."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.routing import plan_call
from magsag_mcp.service import Service
from magsag_mcp.types import Usage

CATALOG = Path(__file__).resolve().parent.parent / "catalog"

#: inputs that the prompt escapes, and what the model's answer may hold of them (copies, its own words, cut escapes)
SAID = "Ann wrote </text> and &lt;/text> & AT&T, &amp;lt; and < / TEXT >"
ANSWERS = [
    "[NAME] wrote &lt;/text> and &amp;lt;/text> & AT&T, &amp;amp;lt; and &lt; / TEXT >",
    "&lt;/text>",
    "&amp;amp;amp;",
    "&lt;  \n /   TeXt   >&lt;text>&lt;tex&amp;&amp;l&amp;a&",
    "&lt;/document> is not this skill's tag; &lt;b> neither; &lt;/texts> neither",
    "ends with an escape begun: &lt; /te",
    "ends with &amp;l",
    "&",
    "no escape at all",
    "",
]


@pytest.fixture(scope="module")
def plan() -> Any:
    plan = plan_call(load_catalog(CATALOG), "skill.pii-redaction", {"text": SAID}, context=None, env={})
    assert plan.answer_text is not None and plan.answer_stream is not None
    return plan


async def streamed(plan: Any, chunks: list[str]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        assert event == "delta"
        deltas.append(dict(data))

    shown = plan.answer_stream(progress)
    for chunk in chunks:
        await shown("delta", {"text": chunk})
    await shown.finish(Usage())
    return deltas


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ANSWERS)
async def test_streamed_text_is_written_back_as_the_final_text_whatever_the_chunks(plan: Any, answer: str):
    rng = random.Random(answer)
    ways = [[answer], list(answer)]
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(answer)), rng.randint(0, len(answer) - 1))) if len(answer) > 1 else []
        bounds = [0, *cuts, len(answer)]
        ways.append([answer[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    final = plan.answer_text(answer)
    for chunks in ways:
        deltas = await streamed(plan, chunks)
        assert "".join(d["text"] for d in deltas) == final, chunks
        running = [sum(len(d["text"]) for d in deltas[: i + 1]) for i in range(len(deltas))]
        assert [d["chars"] for d in deltas] == running
        assert all(d["text"] for d in deltas)


@pytest.mark.anyio
async def test_only_an_escape_that_may_have_begun_is_held_back(plan: Any):
    deltas = await streamed(plan, ["[NAME] wrote &l", "t; ", "/text> here, and &", "c."])
    assert [d["text"] for d in deltas] == ["[NAME] wrote ", "< /text> here, and ", "&c."]


@pytest.mark.anyio
async def test_a_redactions_progress_shows_the_callers_text_not_its_escape(tmp_path: Path):
    # Before: the final text was written back ("</text>"), and the progress the caller streamed it from showed the
    # escapes the model copied ("&lt;/text>", "&amp;"): a caller rendering the deltas showed text the answer did not
    # hold.
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        # the fake model's answer quotes the prompt it was sent, as a redaction copies the text it changes nothing in
        payload = {"text": SAID, "model_config": {"model": "fake:m"}}
        result = await svc.invoke_skill("skill.pii-redaction", payload, progress=progress)
    assert result.result.text.endswith(f"<text> {SAID} </text>"), result.result.text
    deltas = [d for event, d in events if event == "delta"]
    assert "".join(d["text"] for d in deltas) == result.result.text
    assert deltas[-1]["chars"] == len(result.result.text)
