"""A key given as a call's names (its model, run_id, agent, parent_run_id or skill_id) is refused before it
is sent or recorded, a request id cut inside a key leaves no piece of it, doctor prints no override's key, and a
name holding sk as a word is a name, not a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import register_secret
from magsag_mcp.providers.openai_chat import openai_error
from magsag_mcp.service import Service
from magsag_mcp.transport import HttpResponse
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.redaction_helpers import AZURE_KEY, _stored, pieces

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


ANTHROPIC_KEY = "sk-ant-api03-Qw3rTy7uIoP9aSdF2gHjK4lZxC6vBnM8"


@pytest.mark.parametrize("model", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
@pytest.mark.parametrize("where", ["model_config", "fallback", "MAGSAG_MODEL"])
async def test_a_key_given_as_a_model_name_is_refused_before_it_is_sent_or_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, model: str, where: str
):
    # A key pasted where the model goes (MAGSAG_MODEL and ANTHROPIC_API_KEY swapped in a client's config, a
    # model_config filled from the wrong variable): it went to OpenAI as the model's name (Anthropic's key to
    # another vendor), and its attempt's model column kept it, shown by query_runs and every export.
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
    }
    payload: dict = {"data": "x"}
    if where == "MAGSAG_MODEL":
        env |= {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": model}
    elif where == "fallback":
        payload["model_config"] = {"model": "openai:gpt-4o", "fallbacks": [{"provider": "openai", "model": model}]}
    else:
        payload["model_config"] = {"provider": "openai", "model": model}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(E.ConfigError if where == "MAGSAG_MODEL" else E.PayloadError) as info:
            await svc.invoke_skill("skill.analysis", payload, agent="reporting")
    finally:
        await svc.aclose()
    assert "looks like an API key" in info.value.message and model not in json.dumps(info.value.to_dict())
    assert fake_openai.requests == []  # nothing was sent, to any vendor
    assert model not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("key", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
@pytest.mark.parametrize("where", ["run_id", "agent", "parent_run_id", "skill_id"])
async def test_a_key_given_as_a_calls_name_is_refused_before_anything_is_recorded(
    tmp_path: Path, key: str, where: str
):
    # Names are stored as given and shown by every reading of the ledger: a key pasted as the run id or the
    # agent's name (an environment variable read under the wrong name) stayed there, and came back in results.
    env = {"MAGSAG_PROVIDER": "fake", "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "AZURE_OPENAI_API_KEY": AZURE_KEY}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    names = {"skill_id": "skill.analysis", where: key}
    try:
        with pytest.raises(E.InputError) as info:
            await svc.invoke_skill(names.pop("skill_id"), {"data": "x"}, **names)
        with pytest.raises(E.InputError):
            await svc.log_event("run-1", "reporting", key, {"model": "gpt-4o"})  # an event's name, too
        ok = await svc.invoke_skill("skill.analysis", {"data": "x"}, agent="risk-assessment", run_id="task-sk-1")
    finally:
        await svc.aclose()
    assert f"{where} '[REDACTED]' holds what looks like an API key" in info.value.message
    assert ok.run_id == "task-sk-1"  # names that merely hold "sk-" or a word like it are names
    assert key not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("cut", [192, 196])
def test_a_request_id_or_param_cut_inside_a_key_leaves_no_piece_of_it(cut: int):
    # A gateway that builds its request id (or an error's param) from the request it got, the key in it: the id
    # was cut to 200 characters and then redacted, and what the cut left of the key was no longer the whole key
    # redact() looks for. It went to the error's message and details, the ledger and the MCP result.
    register_secret(AZURE_KEY)
    from magsag_mcp.providers.http_errors import request_id

    rid = "r" * cut + AZURE_KEY
    assert pieces(AZURE_KEY, request_id({"x-request-id": rid}) or "") == []
    body = json.dumps({"error": {"message": "bad", "type": "invalid_request_error", "param": rid}}).encode()
    exc = openai_error(HttpResponse(400, {"x-request-id": rid}, body), provider="azure", model="gpt-4o")
    assert pieces(AZURE_KEY, json.dumps(exc.to_dict())) == [] and exc.details["request_id"].startswith("r" * cut)


@pytest.mark.parametrize("key", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
def test_doctor_does_not_print_a_key_set_as_an_override(tmp_path: Path, key: str, capsys, monkeypatch):
    # MAGSAG_MODEL and a key variable swapped in a client's config: doctor, run to find what is wrong (and pasted
    # into a ticket or a CI log), printed "override: MAGSAG_MODEL=<the key>" beside the problem that hid it.
    from magsag_mcp.cli import main

    env = {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": key, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    for name, value in {**env, "AZURE_OPENAI_API_KEY": AZURE_KEY}.items():
        monkeypatch.setenv(name, value)
    main(["doctor", "--json", "--db", str(tmp_path / "l.db")])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["overrides"] == {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": "[REDACTED]"}
    assert any("looks like an API key" in p for p in report["problems"])
    main(["doctor", "--db", str(tmp_path / "l.db")])
    text, err2 = capsys.readouterr()
    assert "override: MAGSAG_MODEL=[REDACTED]" in text and key not in out + err + text + err2


def test_a_name_found_clean_is_asked_again_once_a_secret_it_holds_is_known():
    # check_name remembers names found clean (a skill id, an agent: asked every call); a key registered after,
    # which such a name holds, must not pass on that memory
    from magsag_mcp.redaction import holds_secret, register_secret

    name = "team-Qz8vNw3kRt5yLp2m"
    assert not holds_secret(name) and not holds_secret(name)
    register_secret("Qz8vNw3kRt5yLp2m")
    assert holds_secret(name)


# names that hold "sk-" as a word (Slovak, the language code; scikit-learn; Semantic Kernel) followed by more words:
# the redaction's pattern ("sk-" and 8 characters) took each for a key, and the name was refused outright
WORD_NAMES = [
    "slovak-nlp/mistral-sk-7b-instruct-v1",
    "gerulata/slovakbert-sk-ner-finetuned",
    "your-org/opus-mt-sk-en-finetuned-legal",
    "ft:gpt-4o-mini-2024-07-18:my-org:sk-classifier-v2:8Kq3xYzA",
    "sk-planner-agent",
    "sk-learn-random-forest-classifier",
]
#: keys of every vendor whose keys start "sk-", as they are shaped (made up)
SHAPED_KEYS = [
    ANTHROPIC_KEY,
    "sk-" + "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e",  # DeepSeek's: 32 hex digits
    "sk-or-v1-" + "9c2e3f9a1c7e5b2d4f6a8c0e1b3d5f7a" * 2,  # OpenRouter's
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Qa7Ws-Ed0RfT3BlbkFJ",
    "sk-" + "Qa7WsEd0RfTg5YhUj8IkOl3PzXcVbNmAsDfGhJkLqWeRtY",  # OpenAI's older keys, Moonshot's: 48 letters/digits
    "sk-Hj7Kl8Zx9Cv0Bn1Mq2Wr3e",  # a LiteLLM proxy's virtual key: 22 URL-safe characters
    "sk-Tq4Wm7Rz2Kx9Nb5Vc8Hd",  # the shortest any such vendor issues: 20 characters after "sk-"
]


@pytest.mark.parametrize("name", WORD_NAMES)
def test_a_name_holding_sk_as_a_word_is_a_name_not_a_key(name: str):
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    target = parse_target({"provider": "local", "model": name})
    assert target.model == name
    check_name(name, "agent")  # raises if refused


@pytest.mark.parametrize("key", SHAPED_KEYS)
@pytest.mark.parametrize("around", ["{}", "team-{}", "{}:latest"])
def test_a_key_shaped_name_is_still_refused(key: str, around: str):
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    name = around.format(key)
    with pytest.raises(E.InputError, match="looks like an API key"):
        check_name(name, "agent")
    with pytest.raises(E.ConfigError, match="looks like an API key"):
        parse_target({"provider": "local", "model": name})


def test_a_name_holding_sk_with_a_random_piece_of_eight_characters_is_refused():
    # eight characters mixing letters with digits between dashes are where a key's random part begins: the words
    # around it do not make it a name
    from magsag_mcp.redaction import holds_secret

    assert holds_secret("sk-3f9a1c7e-planner-agent")
    assert holds_secret("sk-planner-agent-v2-3f9a1c7e")
    assert not holds_secret("sk-planner-agent-v2-3f9a1c7")


def test_a_key_of_six_characters_is_removed_the_shortest_remembered():
    # six characters is where a credential is told from text that happens to match it (a local server's short
    # password, a call's own): the operator's for good, a call's for that call
    import contextvars

    from magsag_mcp.redaction import redact, register_call_secret, register_secret

    register_secret("Hq4zX7")
    assert redact("login with Hq4zX7 failed") == "login with [REDACTED] failed"

    def in_a_call() -> str:
        register_call_secret("Wp2nJ9")
        return redact("login with Wp2nJ9 failed")

    assert contextvars.copy_context().run(in_a_call) == "login with [REDACTED] failed"


@pytest.mark.parametrize("placeholder", ["Ollama", "LM-Studio", " DUMMY "])
def test_a_placeholder_key_in_any_case_a_call_gives_is_no_secret(placeholder: str):
    # a local server's published placeholder, as a call's own api_key: the server's name stays in its messages
    import contextvars

    from magsag_mcp.redaction import redact, register_call_secret

    def in_a_call() -> str:
        register_call_secret(placeholder)
        return redact(f"{placeholder.strip()} server answered 404")

    assert contextvars.copy_context().run(in_a_call) == f"{placeholder.strip()} server answered 404"


def test_a_key_of_sixteen_characters_is_long_enough_to_look_for_in_answers_and_by_its_pieces():
    # PREFIX_KEY_MIN, where a key is no word: an answer echoing it loses it, and a name holding a piece of it is
    # refused as one holding it whole is
    from magsag_mcp.answer_keys import answer_without_known_keys
    from magsag_mcp.redaction import PREFIX_KEY_MIN, holds_secret, register_secret

    key = "Vb6nMx2cLk9jHg4f"
    assert len(key) == PREFIX_KEY_MIN
    register_secret(key)
    assert answer_without_known_keys({"text": f"echo {key} done"}) == {"text": "echo [REDACTED] done"}
    assert holds_secret("team-" + key[:12]) and holds_secret("team-" + key[4:])


def test_a_gateway_key_cut_short_at_the_start_of_a_text_loses_its_first_character_too():
    # found by a piece past its readable start and stretched back over the key's characters to the text's first
    from magsag_mcp.redaction import redact, register_secret

    key = "acme-gateway-prod-Xy7Kq2Wm9Rt4Zb"
    register_secret(key)
    assert redact(key[:-2] + " refused") == "[REDACTED] refused"


def test_a_key_four_characters_past_its_readable_start_is_found_by_its_one_piece():
    # its one piece (the last 12 characters) is looked for, not only the whole key: a server echoing it behind
    # another prefix (a key of the same gateway) still loses it
    from magsag_mcp.redaction import redact, register_secret

    register_secret("acme-gateway-prod-Hv3P")
    assert redact("sent my-gateway-prod-Hv3P") == "sent my[REDACTED]"
