"""A call's error said to a person at a terminal: what failed and its fix in a line or two. Before, stderr got the
JSON error whole there too: ~130 lines for a first call with no key set (its trace, every skipped attempt), the fix
scrolled off the screen. A stderr that is a file or a pipe (a script's) still gets the JSON, as docs/cli.md says."""

from __future__ import annotations

import json
import sys

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main, print_error

PAYLOAD = ["--payload", '{"data": "Q3"}']


@pytest.fixture
def no_keys(cli_env, monkeypatch):
    for name in ("GOOGLE_API_KEY", "MAGSAG_LOCAL_LLM_BASE_URL", "MAGSAG_COMPAT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return cli_env


def at_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def test_a_first_call_with_no_key_at_a_terminal_is_told_the_keys_to_set_in_three_lines(no_keys, capsys, monkeypatch):
    at_terminal(monkeypatch)
    assert main(["invoke", "skill.analysis", *PAYLOAD]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == (
        "magsag: error: skill.analysis failed: no API key is set for any of its targets (openai:gpt-4o, "
        "anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro)"
    )
    assert lines[1] == (
        "  fix: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY (`magsag doctor` says which are set), or call "
        "a local server (Ollama, vLLM) with MAGSAG_PROVIDER=local and MAGSAG_MODEL set to a model it serves (`ollama "
        "list` names Ollama's)"
    )  # (MAGSAG_PROVIDER=local alone, as it said, sent the server routing's gpt-4o, ..., which it has none of)
    assert lines[2].startswith("  (the call's record: magsag data query --run-id run-") and "2>error.json" in lines[2]
    run_id = lines[2].split("--run-id ")[1].split(";")[0]
    assert main(["data", "query", "--run-id", run_id, "--format", "json"]) == 0  # the record it points to is there
    assert run_id in capsys.readouterr().out


def test_a_stderr_that_is_no_terminal_still_gets_the_json_error_whole(no_keys, capsys):
    assert main(["invoke", "skill.analysis", *PAYLOAD]) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "all_targets_failed" and len(error["attempts"]) == 3 and error["trace"]["skipped"]


def test_any_other_error_at_a_terminal_is_its_message_under_its_type(no_keys, capsys, monkeypatch):
    at_terminal(monkeypatch)
    assert main(["invoke", "skill.analysys", *PAYLOAD]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(
        "magsag: error (unknown_skill): unknown skill 'skill.analysys' (did you mean 'skill.analysis'?); known skills:"
    )
    assert len(lines) == 2 and "{" not in "".join(lines), lines


def test_a_paid_answer_an_error_carries_is_shown_whole_below_the_summary(capsys, monkeypatch):
    # calling again to see it would pay again
    at_terminal(monkeypatch)
    exc = E.LedgerError("the call succeeded but its record failed: see result", run_id="run-abc")
    exc.result = {"output": {"summary": "paid for"}}
    print_error(exc)
    err = capsys.readouterr().err
    summary, _, rest = err.partition("\n{")
    assert summary.startswith("magsag: error (ledger_error): the call succeeded but its record failed")
    assert json.loads("{" + rest)["error"]["result"] == {"output": {"summary": "paid for"}}


@pytest.mark.usefixtures("restored_secrets")
def test_the_summary_shows_no_key(capsys, monkeypatch):
    from magsag_mcp.errors import register_secret

    secret = "fake-summary-key-0123456789abcdef"
    register_secret(secret)
    at_terminal(monkeypatch)
    print_error(E.ConfigError("bad setting", run_id=secret, hint=secret))
    err = capsys.readouterr().err
    assert secret not in err and "magsag: error (config_error): bad setting" in err


def test_a_vendor_s_control_characters_are_shown_escaped_not_sent_to_the_terminal(capsys, monkeypatch):
    # a vendor's (or a proxy's) error message arrives in the error's message as its body said it; the JSON error
    # escapes it, and the summary printed it as it came: a title set, the screen cleared, a line written over
    said = "bad \x1b]0;pwned\x07 \x1b[2J request\rfix: nothing\u202e\nmagsag: ok"
    at_terminal(monkeypatch)
    print_error(E.ProviderError(f"skill.analysis: openai:gpt-4o: HTTP 400: {said}", provider="openai"))
    err = capsys.readouterr().err
    for control in ("\x1b", "\x07", "\r", "\u202e"):
        assert control not in err
    assert "bad \\x1b]0;pwned\\x07 \\x1b[2J request\\rfix: nothing\\u202e" in err
    assert "\n    magsag: ok" in err  # the message's next line, indented under it


def _all_failed(*skips):
    """An all_targets_failed error's dict, as to_dict() makes it, of targets skipped unsent and none tried."""
    return {
        "type": "all_targets_failed",
        "message": "skill.analysis: every target failed",
        "trace": {"skipped": list(skips)},
        "attempts": [{"outcome": "skipped"} for _ in skips],
    }


def test_the_short_form_reads_the_skip_s_key_variables_not_its_reason_s_words():
    # the variables were found by a regex over the reason ("no API key; set NAME"): a rewording of require_key's
    # message lost the short form, and the ~130-line error came back
    from magsag_mcp.cli.error_summary import summary

    lines = summary(
        _all_failed(
            {"target": "openai:gpt-4o", "reason": "OpenAI wants a key", "key_variables": ["OPENAI_API_KEY"]},
            {
                "target": "google:gemini-1.5-pro",
                "reason": "reworded: put a key in the environment",
                "key_variables": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            },
        )
    )
    assert lines[0] == (
        "magsag: error: skill.analysis failed: no API key is set for any of its targets (openai:gpt-4o, "
        "google:gemini-1.5-pro)"
    )
    assert lines[1].startswith("  fix: set OPENAI_API_KEY or GEMINI_API_KEY (`magsag doctor` says which are set)")
    # a skip of no key_variables (another reason, whatever its words) is said by the message
    words_only = summary(_all_failed({"target": "openai:gpt-4o", "reason": "no API key; set OPENAI_API_KEY"}))
    assert words_only[0] == "magsag: error (all_targets_failed): skill.analysis: every target failed"


def test_a_call_with_no_key_skips_each_target_naming_its_key_variables(no_keys, capsys):
    assert main(["invoke", "skill.analysis", *PAYLOAD]) == 1
    skipped = json.loads(capsys.readouterr().err)["error"]["trace"]["skipped"]
    assert {s["target"]: s["key_variables"] for s in skipped} == {
        "openai:gpt-4o": ["OPENAI_API_KEY"],
        "anthropic:claude-3-5-sonnet-20241022": ["ANTHROPIC_API_KEY"],
        "google:gemini-1.5-pro": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    }


def test_a_blank_key_s_skip_names_no_key_variables_and_is_said_by_its_message(no_keys, capsys, monkeypatch):
    # its message says which variable is blank, which the short form ("no API key is set") would leave out
    monkeypatch.setenv("OPENAI_API_KEY", "   ")
    at_terminal(monkeypatch)
    assert main(["invoke", "skill.analysis", *PAYLOAD]) == 1
    err = capsys.readouterr().err
    assert err.startswith("magsag: error (all_targets_failed):") and "OPENAI_API_KEY is blank" in err


def test_a_line_or_paragraph_separator_in_an_errors_words_is_shown_escaped_not_a_line_of_its_own():
    # a vendor's words with U+2028 (or U+2029) went to stderr as they came: a reader splitting lines as Python or
    # JavaScript does read what followed it as a line of its own (a forged "magsag: error"), as the text log did
    from magsag_mcp.cli.error_summary import summary

    for separator in ("\u2028", "\u2029"):
        lines = summary({"type": "provider_error", "message": f"the vendor said{separator}magsag: error: forged"})
        shown = "\n".join(lines)
        assert separator not in shown, lines
        assert f"the vendor said\\u{ord(separator):04x}magsag: error: forged" in lines[0], lines
        assert [line for line in shown.splitlines() if line.startswith("magsag:")] == [lines[0]], lines
        # a line break of the words still starts an indented line, the message's
        assert summary({"type": "t", "message": "one\ntwo"})[0] == "magsag: error (t): one\n    two"
