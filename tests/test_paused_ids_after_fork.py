"""A process forked from one holding paused calls (os.fork, multiprocessing's fork start method) is another process:
its paused_ids carry a mark of its own, drawn again in the child (paused_calls.py's at-fork hook), so an id its parent
gave is told, in the child, as another process's, and the child's ids are told apart from its parent's; and the child
holds none of its parent's paused calls (continuing one there would send the parent's turn a second time: paid twice,
the turn forked, neither process knowing of the other's)."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from magsag_mcp import paused_calls
from magsag_mcp.paused_calls import HeldPaused, new_paused_id, unheld_said

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")


def _in_a_forked_child(look: Any) -> Any:
    """``look()`` run in a child forked from this process, its JSON answer read back (the child leaves by os._exit:
    no atexit hook, no pytest teardown of its copy)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "w") as out:
                out.write(json.dumps(look()))
            code = 0
        except BaseException as exc:  # (said to the parent through stderr; the child never returns into pytest)
            sys.stderr.write(f"child failed: {exc!r}\n")
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as got:
        said = got.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    return json.loads(said)


def test_a_forked_child_marks_its_paused_ids_as_its_own_and_tells_its_parents_as_another_process():
    parents = new_paused_id()
    held = HeldPaused()
    held.hold(parents, SimpleNamespace(paused_taken=None), 10)  # type: ignore[arg-type]  # (its result unread)

    def look() -> dict[str, Any]:
        return {
            "mark": paused_calls.PROCESS_MARK,
            "id": new_paused_id(),
            "parents_said": unheld_said(parents),
            "parents_held": held.get(parents) is not None,
        }

    child = _in_a_forked_child(look)
    mark = paused_calls.PROCESS_MARK
    assert child["mark"] != mark and not child["id"].startswith(f"paused_{mark}")
    assert child["id"].startswith(f"paused_{child['mark']}") and len(child["id"]) == len(parents)
    assert "given by another process" in child["parents_said"] and "let it go" not in child["parents_said"]
    assert child["parents_held"] is False
    # the parent: its own mark and its paused call kept, the child's id another process's
    assert parents.startswith(f"paused_{mark}") and held.get(parents) is not None
    assert "given by another process" in unheld_said(child["id"])


@pytest.mark.anyio
async def test_a_result_left_paused_by_another_process_is_refused_in_hand_too_nothing_sent(
    catalog, tmp_path, serve, monkeypatch
):
    # A forked child holds none of its parent's paused calls by id, but its copy of the parent's InvokeResult (a
    # variable the fork copied) was continued there all the same: the parent's turn sent a second time, paid twice.
    # The at-fork hook draws the child's mark again; here the mark is drawn again as it does, in this process.
    from magsag_mcp import errors as E
    from magsag_mcp.service import Service
    from tests.providers.fakes import FakeAnthropic

    key = "sk-f0rk-c0py-p4u5"
    fake = FakeAnthropic(key).queue({"searched": "weather in Oslo", "finish": "pause_turn", "text": "Searching. "})
    env = {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": await serve(fake)}
    config = {"provider": "anthropic", "model": "claude-opus-4-6", "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": config}, context={"pause_continuations": 0}
        )
        assert paused.paused_call is not None
        drawn_again = "f0f0f0" if paused_calls.PROCESS_MARK != "f0f0f0" else "0f0f0f"
        monkeypatch.setattr(paused_calls, "PROCESS_MARK", drawn_again)
        with pytest.raises(E.InputError) as refused:
            await svc.continue_paused(paused)
    said = refused.value.message
    assert "another process" in said and "call the skill again" in said, said
    assert len(fake.requests) == 1 and paused.paused_taken is None
