"""The guide's "System prompts (separate from user content)": a call's ``model_config.system`` is sent in place of
its skill's own ``prompt.system``, not beside it, as docs/model-choice.md says (it named the key and nothing of what
it does to the skill's instructions: document-analysis's keep the model from reading the document as a request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_helpers import doc
from tests.fakes.openai_server import FakeOpenAI
from tests.test_attempt_cost import open_service

pytestmark = pytest.mark.anyio

SYSTEM = "You are a helpful coding assistant..."


async def test_a_calls_system_is_sent_in_place_of_the_skills_and_the_docs_say_so(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    svc = await open_service(tmp_path, fake_openai.url + "/v1")
    try:
        payload = {"message": "Review my code", "model_config": {"model": "gpt-4o", "system": SYSTEM}}
        await svc.invoke_skill("skill.assistant", payload)
    finally:
        await svc.aclose()
    (sent,) = [r.body for r in fake_openai.requests if r.path.endswith("/chat/completions")]
    systems = [m["content"] for m in sent["messages"] if m["role"] in ("system", "developer")]
    assert systems == [SYSTEM], sent["messages"]
    assert "`system` (sent in place of the skill's `prompt.system`" in " ".join(doc("model-choice.md").split())
